/* TensorBoard's own reader (EventAccumulator, through tests/ref/tb_reader.py)
 * on an event file written by TensorboardWriter: the scalars, image and
 * histogram it finds, with their tags and steps. Needs a python3 that
 * imports tensorboard; without one the test is a visible skip (Debian has
 * no tensorboard package; `pip install tensorboard` provides it). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "logger/visualization.h"
#include "tests/support/check.h"
#include "tests/support/ref_dir.h"
#include "tests/support/event_reader.h"
#include "tests/support/temp_dir.h"

/* Two training steps and a validation step, as the trainer logs them. */
static void write_small_run(const char *dir)
{
    TensorboardWriter w;
    assert_int_equal(tensorboard_writer_init(&w, dir, true), 0);
    assert_int_equal(writer_set_step(&w, 0, "train"), 0);
    assert_int_equal(writer_add_scalar(&w, "loss", 0.75), 0);
    assert_int_equal(writer_set_step(&w, 1, "train"), 0);
    assert_int_equal(writer_add_scalar(&w, "loss", 0.25), 0);
    assert_int_equal(writer_set_step(&w, (int64_t)1 << 40, "valid"), 0);
    assert_int_equal(writer_add_scalar(&w, "loss", -3.5), 0);
    Tensor *images = t_view(tensor_arange(0, 3 * 4 * 5, 1, DT_F32, CPU), SHAPE(3, 1, 4, 5));
    REQUIRE_OK(images);
    assert_int_equal(writer_add_image(&w, "input", images), 0);
    Tensor *weights = tensor_arange(0, 100, 1, DT_F32, CPU);
    REQUIRE_OK(weights);
    assert_int_equal(writer_add_histogram(&w, "fc1.bias", weights, 5), 0);
    writer_close(&w);
}

/* Runs tests/ref/tb_reader.py on path with the first interpreter that has
 * tensorboard; its JSON output, or NULL when none has it. */
static cJSON *tensorboard_read(const char *path)
{
    const char *candidates[] = {TORCH_PYTHON, "/usr/bin/python3", "python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!candidates[i][0]) continue;
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' '%s/tb_reader.py' '%s' 2>/dev/null", candidates[i], ref_dir(), path);
        FILE *p = popen(cmd, "r");
        if (!p) continue;
        char *out = NULL;
        size_t cap = 0;
        ssize_t got = getdelim(&out, &cap, '\0', p);
        int status = pclose(p);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && got > 0) {
            cJSON *json = cJSON_Parse(out);
            free(out);
            if (!json) fail_msg("tb_reader.py printed no JSON");
            return json;
        }
        free(out);
        if (!WIFEXITED(status) || (WEXITSTATUS(status) != 3 && WEXITSTATUS(status) != 127))
            fail_msg("%s failed (status %d)", cmd, status);
    }
    return NULL;
}

static void test_tensorboard_reads_our_file(void **state)
{
    (void)state;
    scope_begin();
    char dir[512], path[1024];
    temp_dir_make(dir, sizeof dir, "events_tb");
    write_small_run(dir);
    assert_int_equal(find_event_file(dir, path, sizeof path), 0);
    cJSON *json = tensorboard_read(path);
    if (!json) {
        temp_dir_remove(dir);
        scope_end();
        print_message("SKIP: TensorBoard's reader is not available (no python3 here imports tensorboard)\n");
        skip();
    }
    char *text = cJSON_PrintUnformatted(json);
    print_message("  EventAccumulator: %s\n", text);
    free(text);
    const cJSON *scalars = cJSON_GetObjectItem(json, "scalars");
    const cJSON *loss = cJSON_GetObjectItem(scalars, "loss/train");
    assert_int_equal(cJSON_GetArraySize(loss), 2);
    assert_true(cJSON_GetArrayItem(cJSON_GetArrayItem(loss, 1), 0)->valuedouble == 1);
    assert_true(cJSON_GetArrayItem(cJSON_GetArrayItem(loss, 1), 1)->valuedouble == 0.25);
    const cJSON *vloss = cJSON_GetArrayItem(cJSON_GetObjectItem(scalars, "loss/valid"), 0);
    assert_true(cJSON_GetArrayItem(vloss, 0)->valuedouble == (double)((int64_t)1 << 40));
    assert_true(cJSON_GetArrayItem(vloss, 1)->valuedouble == -3.5);
    assert_non_null(cJSON_GetObjectItem(scalars, "steps_per_sec/train"));
    const cJSON *image = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "images"), "input/valid"), 0);
    assert_true(cJSON_GetArrayItem(image, 1)->valuedouble == 23 && cJSON_GetArrayItem(image, 2)->valuedouble == 8);
    const cJSON *histo =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "histograms"), "fc1.bias"), 0);
    assert_true(cJSON_GetArrayItem(histo, 1)->valuedouble == 100 && cJSON_GetArrayItem(histo, 2)->valuedouble == 4950);
    assert_true(cJSON_GetArrayItem(histo, 3)->valuedouble == 6);
    const cJSON *version = cJSON_GetObjectItem(json, "file_version");
    assert_true(cJSON_IsNumber(version) && version->valuedouble == 2);
    cJSON_Delete(json);
    temp_dir_remove(dir);
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensorboard_reads_our_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
