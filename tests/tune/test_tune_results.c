/* ./tune's records of a search: state.json read back (values exact to the
 * bit, a trial that was running becomes interrupted, a damaged file is an
 * error naming it), the command line that reproduces a trial (shell-quoted
 * lists and strings), trials.csv and best_config.json (the base config with
 * the best trial's values, which the config's own checks accept). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "tests/support/temp_dir.h"
#include "tests/tune/tune_fixture.h"
#include "tuner/tune.h"
#include "utils/config_schema.h"

static char dir[4000];

static void make_tune(Tune *t)
{
    memset(t, 0, sizeof *t);
    t->t0 = tune_now();
    t->config = config_parse(fixture_config, "config.json");
    assert_non_null(t->config);
    t->search = config_parse("{\"space\": {\"optimizer.args.lr\": {\"loguniform\": [1e-5, 1]},"
                             " \"arch.args.hidden\": {\"grid\": [[64], [512, 256]]},"
                             " \"optimizer.type\": {\"choice\": [\"Adam\", \"it's\"]}},"
                             " \"num_samples\": 2, \"metric\": \"max val_accuracy\"}",
                             "search.json");
    assert_non_null(t->search);
    assert_int_equal(tune_spec_parse(&t->spec, t->search, t->config, 1), 0);
    snprintf(t->folder, sizeof t->folder, "%s", dir);
    snprintf(t->config_path, sizeof t->config_path, "%s/config.json", dir);
    snprintf(t->name, sizeof t->name, "Mnist_LeNet");
    snprintf(t->train, sizeof t->train, "./train");
    snprintf(t->train_shown, sizeof t->train_shown, "./train");
    t->trials = calloc((size_t)t->spec.n_trials, sizeof *t->trials);
    assert_non_null(t->trials);
}

static void free_tune(Tune *t)
{
    for (int k = 0; k < t->n_created; k++) {
        trial_free(t->trials[k]);
        free(t->trials[k]);
    }
    free(t->trials);
    tune_spec_free(&t->spec);
    config_free(t->config);
    config_free(t->search);
}

static Trial *add_trial(Tune *t, double lr, int hidden, int type, TrialState st, const double *curve, int n)
{
    Trial *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    tr->id = t->n_created;
    tr->x[0] = lr, tr->x[1] = hidden, tr->x[2] = type;
    tr->state = st;
    tr->starts = 1;
    snprintf(tr->dir, sizeof tr->dir, "%s/trial_%03d", dir, tr->id);
    tr->curve = calloc(8, sizeof *tr->curve);
    assert_non_null(tr->curve);
    tr->cap = 8;
    for (int e = 0; e < n; e++) tr->curve[e] = curve[e];
    tr->n_epochs = n;
    t->trials[t->n_created++] = tr;
    return tr;
}

static int setup(void **state)
{
    (void)state;
    temp_dir_make(dir, sizeof dir, "tune_results");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    temp_dir_remove(dir);
    return 0;
}

static void test_state_round_trip(void **state)
{
    (void)state;
    Tune t;
    make_tune(&t);
    const double c0[] = {0.5, 0.7}, c1[] = {0.6, 0.9, 0.95};
    double odd_lr = 0.1 + 0.2; /* 0.30000000000000004: needs all 17 digits */
    add_trial(&t, 3.0517578125e-05, 1, 0, TRIAL_STOPPED, c0, 2);
    Trial *b = add_trial(&t, odd_lr, 0, 1, TRIAL_RUNNING, c1, 3);
    b->started = tune_now();
    snprintf(t.trials[0]->error, sizeof t.trials[0]->error, "a \"quoted\", error");
    assert_int_equal(tune_state_save(&t), 0);

    Tune r;
    make_tune(&r);
    assert_int_equal(tune_state_load(&r), 0);
    assert_int_equal(r.n_created, 2);
    assert_true(r.trials[0]->x[0] == 3.0517578125e-05 && r.trials[1]->x[0] == odd_lr);
    assert_true(r.trials[0]->x[1] == 1 && r.trials[1]->x[2] == 1);
    assert_int_equal(r.trials[0]->state, TRIAL_STOPPED);
    assert_int_equal(r.trials[1]->state, TRIAL_INTERRUPTED); /* running when ./tune ended */
    assert_string_equal(r.trials[0]->error, "a \"quoted\", error");
    free_tune(&r);

    /* a damaged state file: an error naming it */
    char path[4200];
    snprintf(path, sizeof path, "%s/state.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"version\": 1, \"trials\": [{\"id\": 0, \"x\": [\"0.5\", \"7\", \"0\"], \"state\": \"done\"}]}", f);
    assert_int_equal(fclose(f), 0);
    make_tune(&r);
    expect_failure(tune_state_load(&r) != 0, "state.json: trials.0.x.1", "not a value of arch.args.hidden");
    free_tune(&r);
    unlink(path);
    free_tune(&t);
}

static void test_command_csv_and_best(void **state)
{
    (void)state;
    Tune t;
    make_tune(&t);
    const double c0[] = {0.5, 0.7}, c1[] = {0.6, 0.9, 0.95}, c2[] = {0.2, NAN};
    add_trial(&t, 0.001, 1, 1, TRIAL_DONE, c0, 2);
    add_trial(&t, 0.25, 0, 0, TRIAL_DONE, c1, 3);
    add_trial(&t, 0.5, 0, 0, TRIAL_STOPPED, c2, 2);
    char cmd[8192];
    tune_trial_command(&t, t.trials[0], cmd, sizeof cmd);
    char want[8192];
    snprintf(want, sizeof want,
             "./train -c %s/config.json --set trainer.save_dir=%s/trial_000 --set optimizer.args.lr=0.001 "
             "--set 'arch.args.hidden=[512,256]' --set 'optimizer.type=it'\\''s'",
             dir, dir);
    assert_string_equal(cmd, want);

    /* max val_accuracy: trial 1 (0.95 at epoch 3) */
    const Trial *best = tune_best_trial(&t);
    assert_non_null(best);
    assert_int_equal(best->id, 1);
    int64_t epoch;
    assert_true(tune_trial_metric(&t, t.trials[2], &epoch) == 0.2);
    assert_int_equal(epoch, 1);

    assert_int_equal(tune_write_csv(&t), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/trials.csv", dir);
    size_t len;
    char *csv = read_whole_file(path, &len);
    assert_non_null(csv);
    printf("%s", csv);
    assert_non_null(strstr(csv, "trial,state,optimizer.args.lr,arch.args.hidden,optimizer.type,epochs,val_accuracy,"
                                "best_epoch,last_val_accuracy,seconds,starts,error,command\n"));
    assert_non_null(strstr(csv, "\n0,done,0.001,\"[512,256]\",it's,2,0.7,2,0.7,"));
    assert_non_null(strstr(csv, "\n1,done,0.25,[64],Adam,3,0.95,3,0.95,"));
    assert_non_null(strstr(csv, "\n2,stopped,0.5,[64],Adam,2,0.2,1,,"));
    free(csv);
    unlink(path);

    assert_int_equal(tune_write_best(&t), 0);
    snprintf(path, sizeof path, "%s/best_config.json", dir);
    Config *b = config_load(path);
    assert_non_null(b);
    assert_int_equal(config_check_schema(b), 0);
    double lr;
    const char *type;
    assert_int_equal(config_number(b, "optimizer.args.lr", &lr), 0);
    assert_true(lr == 0.25);
    assert_int_equal(config_string(b, "optimizer.type", &type), 0);
    assert_string_equal(type, "Adam");
    const cJSON *hidden = config_find(b, "arch.args.hidden");
    assert_true(cJSON_IsArray(hidden) && cJSON_GetArraySize(hidden) == 1);
    const char *save_dir;
    assert_int_equal(config_string(b, "trainer.save_dir", &save_dir), 0);
    assert_string_equal(save_dir, "saved/"); /* the user's, not a trial's */
    config_free(b);
    unlink(path);
    free_tune(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_command_csv_and_best),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
