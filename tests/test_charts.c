/* The files the trainer and ./test write besides the event file: image
 * grids (make_grid) and PNGs decoded back with libpng, histograms against
 * numpy.histogram, metrics.csv, curves.png, the confusion matrix and its
 * heat map, and the progress line's text. */
#include <math.h>
#include <stdlib.h>

#include "logger/canvas.h"
#include "logger/confusion.h"
#include "logger/csv_log.h"
#include "logger/curves.h"
#include "logger/histogram.h"
#include "logger/image_grid.h"
#include "logger/plot.h"
#include "logger/png_writer.h"
#include "logger/progress.h"
#include "tests/support/check.h"
#include "tests/support/png_read.h"
#include "tests/support/temp_dir.h"
#include "tests/support/torch_script.h"

/* Asserts the call failed with a message containing piece. */
static void test_make_grid_layout(void **state)
{
    (void)state;
    scope_begin();
    /* three 1-channel 2x2 images holding 0..11 */
    Tensor *x = t_view(tensor_arange(0, 12, 1, DT_F32, CPU), SHAPE(3, 1, 2, 2));
    Tensor *g = make_grid(x, 8, 2, true);
    REQUIRE_OK(g);
    assert_true(shape_equal(g->shape, SHAPE(3, 6, 14))); /* 1 row: 2+2+2; 3 columns: 3*(2+2)+2 */
    const float *v = tensor_f32(g);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 6; y++)
            for (int xx = 0; xx < 14; xx++) {
                int k = (xx - 2) / 4, ix = (xx - 2) % 4, iy = y - 2;
                bool inside = xx >= 2 && iy >= 0 && iy < 2 && ix < 2;
                float want = inside ? (float)(k * 4 + iy * 2 + ix) / 11.0f : 0.0f;
                if (fabsf(v[(c * 6 + y) * 14 + xx] - want) > 1e-6f)
                    fail_msg("grid[%d, %d, %d] = %g, expected %g", c, y, xx, (double)v[(c * 6 + y) * 14 + xx],
                             (double)want);
            }
    /* nrow 2: two rows; without normalize the values stay */
    g = make_grid(x, 2, 1, false);
    REQUIRE_OK(g);
    assert_true(shape_equal(g->shape, SHAPE(3, 7, 7)));
    assert_true(tensor_f32(g)[(0 * 7 + 4) * 7 + 1] == 8.0f); /* image 2 starts at row 1 + 2 + 1 = 4, column 1 */
    /* a single image comes back alone, without padding; RGB channels keep their order */
    Tensor *rgb = t_view(tensor_arange(0, 12, 1, DT_F32, CPU), SHAPE(3, 2, 2));
    g = make_grid(rgb, 8, 2, false);
    REQUIRE_OK(g);
    assert_true(shape_equal(g->shape, SHAPE(3, 2, 2)));
    assert_true(tensor_f32(g)[2 * 4 + 3] == 11.0f);
    /* a constant batch normalises to 0, not to NaN */
    g = make_grid(tensor_full(SHAPE(2, 1, 2, 2), 3.0, DT_F32, CPU), 8, 2, true);
    REQUIRE_OK(g);
    for (int64_t i = 0; i < tensor_numel(g); i++) assert_true(tensor_f32(g)[i] == 0.0f);

    expect_failure(make_grid(tensor_zeros(SHAPE(4, 4), DT_F32, CPU), 8, 2, true) == NULL, "[4, 4]", NULL);
    expect_failure(make_grid(tensor_zeros(SHAPE(2, 2, 4, 4), DT_F32, CPU), 8, 2, true) == NULL, "1 or 3 channels",
                   NULL);
    expect_failure(make_grid(tensor_zeros(SHAPE(2, 1, 4, 4), DT_U8, CPU), 8, 2, true) == NULL, "float32", NULL);
    scope_end();
}

static void test_png_round_trip(void **state)
{
    (void)state;
    scope_begin();
    char dir[512], path[600];
    temp_dir_make(dir, sizeof dir, "png");
    /* a known 3x2 RGB pattern, through libpng both ways */
    const uint8_t pattern[2 * 3 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 128, 128, 128, 0, 0, 0};
    snprintf(path, sizeof path, "%s/pattern.png", dir);
    assert_int_equal(png_write_file(path, pattern, 3, 2, 3), 0);
    int w, h;
    uint8_t *px = png_read_rgb(path, &w, &h);
    assert_non_null(px);
    assert_int_equal(w, 3);
    assert_int_equal(h, 2);
    assert_memory_equal(px, pattern, sizeof pattern);
    free(px);

    /* a grid of two 1-channel 3x4 images saved as the trainer saves input_grid.png */
    Tensor *x = t_view(tensor_arange(0, 24, 1, DT_F32, CPU), SHAPE(2, 1, 3, 4));
    Tensor *grid = make_grid(x, 8, 2, true);
    REQUIRE_OK(grid);
    snprintf(path, sizeof path, "%s/input_grid.png", dir);
    assert_int_equal(save_image(grid, path), 0);
    px = png_read_rgb(path, &w, &h);
    assert_non_null(px);
    assert_int_equal(w, 2 * (4 + 2) + 2);
    assert_int_equal(h, 3 + 4);
    for (int k = 0; k < 2; k++)
        for (int y = 0; y < 3; y++)
            for (int xx = 0; xx < 4; xx++) {
                int gx = 2 + k * 6 + xx, gy = 2 + y;
                uint8_t want = (uint8_t)lrint((k * 12 + y * 4 + xx) / 23.0 * 255.0);
                for (int c = 0; c < 3; c++)
                    if (px[(gy * w + gx) * 3 + c] != want)
                        fail_msg("pixel (%d, %d) channel %d = %d, expected %d", gx, gy, c, px[(gy * w + gx) * 3 + c],
                                 want);
            }
    assert_int_equal(px[(1 * w + 1) * 3], 0); /* padding */
    free(px);
    expect_failure(png_encode(pattern, 0, 2, 3, &px, (size_t[]){0}) != 0, "0x2", NULL);
    temp_dir_remove(dir);
    scope_end();
}

static void test_histogram_against_numpy(void **state)
{
    (void)state;
    scope_begin();
    Generator *g = generator_default();
    generator_seed(g, 7);
    /* normal values, uniform values, a constant, a few values, an outlier, integers on bin edges */
    Tensor *outlier = tensor_randn(SHAPE(400), g, CPU);
    tensor_f32(outlier)[17] = 250.0f;
    Tensor *inputs[] = {
        tensor_randn(SHAPE(1000), g, CPU), tensor_rand(SHAPE(500), g, CPU), tensor_full(SHAPE(9), 0.5, DT_F32, CPU),
        t_view(tensor_randn(SHAPE(7), g, CPU), SHAPE(7)), outlier, tensor_arange(-20, 21, 1, DT_F32, CPU),
        tensor_randn(SHAPE(16000), g, CPU),
    };
    const int bins[] = {HISTOGRAM_AUTO, 10, HISTOGRAM_AUTO, HISTOGRAM_AUTO, HISTOGRAM_AUTO, 8, HISTOGRAM_AUTO};
    int n = (int)(sizeof inputs / sizeof inputs[0]);
    char names[8][8], args[256] = "{\"bins\": [";
    const char *name_ptrs[8];
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "v%d", i);
        name_ptrs[i] = names[i];
        size_t len = strlen(args);
        if (bins[i] == HISTOGRAM_AUTO) snprintf(args + len, sizeof args - len, "%s\"auto\"", i ? ", " : "");
        else snprintf(args + len, sizeof args - len, "%s%d", i ? ", " : "", bins[i]);
    }
    strcat(args, "]}");
    Safetensors *ref;
    int rc = torch_script_run("histogram_ref.py", "histogram", n, name_ptrs, inputs, args, &ref);
    if (rc == 1) {
        scope_end();
        print_message("SKIP: numpy reference not available (python3-numpy)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    for (int i = 0; i < n; i++) {
        int nb;
        double *counts, *edges;
        assert_int_equal(histogram_numpy(tensor_f32(inputs[i]), tensor_numel(inputs[i]), bins[i], &nb, &counts,
                                         &edges, "test"),
                         0);
        char key[32];
        snprintf(key, sizeof key, "c%d.counts", i);
        Tensor *rc_counts = safetensors_get(ref, key);
        snprintf(key, sizeof key, "c%d.edges", i);
        Tensor *rc_edges = safetensors_get(ref, key);
        assert_non_null(rc_counts);
        assert_non_null(rc_edges);
        if (tensor_numel(rc_counts) != nb)
            fail_msg("case %d: %d bins, numpy has %lld", i, nb, (long long)tensor_numel(rc_counts));
        double max_err = 0;
        for (int k = 0; k < nb; k++) {
            if (counts[k] != tensor_f32(rc_counts)[k])
                fail_msg("case %d: bin %d holds %g, numpy %g", i, k, counts[k], (double)tensor_f32(rc_counts)[k]);
        }
        for (int k = 0; k <= nb; k++) {
            double ref_edge = tensor_f32(rc_edges)[k];
            max_err = fmax(max_err, fabs(edges[k] - ref_edge) / fmax(fabs(ref_edge), 1e-6));
        }
        print_message("  case %d: %d bins, counts equal numpy's, edges max rel error %.2e\n", i, nb, max_err);
        assert_true(max_err <= 1e-6);
        free(counts);
        free(edges);
    }
    safetensors_free(ref);
    scope_end();
}

static void test_histogram_summary(void **state)
{
    (void)state;
    const float values[] = {1, 2, 2, 3, 3, 3, 10};
    Histogram h;
    assert_int_equal(histogram_compute(&h, values, 7, 3, "test"), 0);
    assert_true(h.min == 1 && h.max == 10 && h.num == 7 && h.sum == 24 && h.sum_squares == 136);
    /* numpy: edges 1, 4, 7, 10 and counts 6, 0, 1; TensorBoard's form puts an
     * empty bucket ending at 1 in front */
    const double limits[] = {1, 4, 7, 10}, counts[] = {0, 6, 0, 1};
    assert_int_equal(h.n, 4);
    for (int i = 0; i < 4; i++) assert_true(h.limits[i] == limits[i] && h.counts[i] == counts[i]);
    histogram_free(&h);
    const float one[] = {2.5f};
    assert_int_equal(histogram_compute(&h, one, 1, HISTOGRAM_AUTO, "test"), 0);
    assert_int_equal(h.n, 2); /* one bin [2, 3] */
    assert_true(h.limits[0] == 2 && h.limits[1] == 3 && h.counts[1] == 1);
    histogram_free(&h);
    expect_failure(histogram_compute(&h, one, 0, 5, "empty") != 0, "no values", NULL);
}

/* A LogDict like an epoch's log. */
static LogDict epoch_log(int epoch, double loss, double acc, bool with_valid)
{
    LogDict d = {0};
    log_dict_set(&d, "epoch", epoch);
    log_dict_set(&d, "loss", loss);
    log_dict_set(&d, "accuracy", acc);
    if (with_valid) {
        log_dict_set(&d, "val_loss", loss * 1.25);
        log_dict_set(&d, "val_accuracy", acc - 0.0625);
    }
    return d;
}

static void test_metrics_csv(void **state)
{
    (void)state;
    char dir[512], path[600];
    temp_dir_make(dir, sizeof dir, "csv");
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    MetricsLog m;
    assert_int_equal(metrics_log_open(&m, dir), 0);
    LogDict d = epoch_log(1, 0.5, 0.75, true);
    assert_int_equal(metrics_log_append(&m, &d), 0);
    /* flushed at once: a run killed now keeps the row */
    char *text = read_whole_file(path, NULL);
    assert_string_equal(text, "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.5,0.75,0.625,0.6875\n");
    free(text);
    d = epoch_log(2, 0.25, 0.875, false); /* no validation this epoch: empty cells */
    assert_int_equal(metrics_log_append(&m, &d), 0);
    assert_int_equal(m.n_rows, 2);
    assert_true(isnan(metrics_log_value(&m, 1, metrics_log_column(&m, "val_loss"))));
    metrics_log_close(&m);
    text = read_whole_file(path, NULL);
    assert_string_equal(text, "epoch,loss,accuracy,val_loss,val_accuracy\n1,0.5,0.75,0.625,0.6875\n2,0.25,0.875,,\n");
    free(text);
    expect_failure(metrics_log_open(&m, "/nonexistent/folder") != 0, "/nonexistent/folder/metrics.csv", NULL);
    temp_dir_remove(dir);
}

/* How many pixels of img are exactly color. */
static int count_color(const uint8_t *img, int w, int h, Rgb color)
{
    int n = 0;
    for (int i = 0; i < w * h; i++)
        n += img[3 * i] == color.r && img[3 * i + 1] == color.g && img[3 * i + 2] == color.b;
    return n;
}

static void test_curves_png(void **state)
{
    (void)state;
    char dir[512], path[600];
    temp_dir_make(dir, sizeof dir, "curves");
    MetricsLog m;
    assert_int_equal(metrics_log_open(&m, dir), 0);
    for (int e = 1; e <= 6; e++) {
        LogDict d = epoch_log(e, 2.0 / e, 1 - 0.5 / e, true);
        assert_int_equal(metrics_log_append(&m, &d), 0);
    }
    snprintf(path, sizeof path, "%s/curves.png", dir);
    assert_int_equal(draw_curves(&m, path), 0);
    int w, h;
    uint8_t *px = png_read_rgb(path, &w, &h);
    assert_non_null(px);
    /* two panels side by side: loss and accuracy, each with a train and a valid line */
    assert_int_equal(w, 2 * 560);
    assert_int_equal(h, 420);
    for (int panel = 0; panel < 2; panel++) {
        int blue = 0, orange = 0;
        for (int y = 0; y < h; y++) {
            const uint8_t *row = px + ((size_t)y * (size_t)w + (size_t)panel * 560) * 3;
            blue += count_color(row, 560, 1, PLOT_BLUE);
            orange += count_color(row, 560, 1, PLOT_ORANGE);
        }
        print_message("  panel %d: %d train-blue and %d valid-orange pixels\n", panel, blue, orange);
        assert_true(blue > 300 && orange > 300);
    }
    free(px);
    metrics_log_close(&m);
    temp_dir_remove(dir);
}

static void test_confusion_matrix(void **state)
{
    (void)state;
    scope_begin();
    char dir[512], path[600];
    temp_dir_make(dir, sizeof dir, "confusion");
    ConfusionMatrix cm;
    assert_int_equal(confusion_init(&cm, 3), 0);
    /* predictions 0, 2, 2, 1 (row argmax; the tie in row 3 goes to the first) for targets 0, 1, 2, 1 */
    const float scores[] = {5, 1, 0, 0, 1, 3, -1, -2, 4, 0, 2, 2};
    const int64_t targets[] = {0, 1, 2, 1};
    Tensor *out = tensor_from_data(scores, SHAPE(4, 3), DT_F32, CPU);
    Tensor *tgt = tensor_from_data(targets, SHAPE(4), DT_I64, CPU);
    assert_int_equal(confusion_update(&cm, out, tgt), 0);
    const int64_t want[9] = {1, 0, 0, 0, 1, 1, 0, 0, 1};
    assert_memory_equal(cm.counts, want, sizeof want);
    assert_int_equal(confusion_save(&cm, dir), 0);
    snprintf(path, sizeof path, "%s/confusion.csv", dir);
    char *text = read_whole_file(path, NULL);
    assert_string_equal(text, "true/predicted,0,1,2\n0,1,0,0\n1,0,1,1\n2,0,0,1\n");
    free(text);
    snprintf(path, sizeof path, "%s/confusion.png", dir);
    int w, h;
    uint8_t *px = png_read_rgb(path, &w, &h);
    assert_non_null(px);
    assert_true(w > 3 * 60 && h > 3 * 60);
    assert_true(count_color(px, w, h, RGB(8, 48, 107)) > 3 * 40 * 40); /* the darkest cells: the three 1s */
    free(px);
    const int64_t bad_target[] = {0, 1, 3, 1};
    Tensor *bad = tensor_from_data(bad_target, SHAPE(4), DT_I64, CPU);
    expect_failure(confusion_update(&cm, out, bad) != 0, "target 3", NULL);
    expect_failure(confusion_update(&cm, tensor_zeros(SHAPE(4, 5), DT_F32, CPU), tgt) != 0, "[4, 5]", NULL);
    confusion_free(&cm);
    temp_dir_remove(dir);
    scope_end();
}

static void test_progress_text(void **state)
{
    (void)state;
    char buf[256];
    progress_format_duration(5, buf, sizeof buf);
    assert_string_equal(buf, "0:05");
    progress_format_duration(3725, buf, sizeof buf);
    assert_string_equal(buf, "1:02:05");
    Progress p;
    progress_begin(&p, "Test", 100, 0);
    p.start = 0;
    p.count = 50;
    progress_format(&p, 10, "loss 0.5", 80, buf, sizeof buf);
    assert_string_equal(buf, "Test [###############...............] 50/100  5.0 it/s  ETA 0:10  loss 0.5");
    p.count = 100;
    progress_format(&p, 20, NULL, 30, buf, sizeof buf); /* too narrow for the bar */
    assert_string_equal(buf, "Test 100/100  5.0 it/s  in 0:20");

    /* off a terminal: plain lines at 25, 50, 75 and 100 % */
    FILE *f = tmpfile();
    assert_non_null(f);
    progress_begin(&p, "Test", 8, 4);
    p.tty = false;
    p.out = f;
    for (int i = 1; i <= 8; i++) progress_update(&p, i, NULL);
    progress_end(&p);
    rewind(f);
    int lines = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        lines++;
        int count = 0;
        assert_int_equal(sscanf(line, "Test %d/8", &count), 1); /* no bar in a log */
        assert_int_equal(count, 2 * lines);
        assert_null(strchr(line, '\r'));
    }
    assert_int_equal(lines, 4);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_grid_layout),
        cmocka_unit_test(test_png_round_trip),
        cmocka_unit_test(test_histogram_against_numpy),
        cmocka_unit_test(test_histogram_summary),
        cmocka_unit_test(test_metrics_csv),
        cmocka_unit_test(test_curves_png),
        cmocka_unit_test(test_confusion_matrix),
        cmocka_unit_test(test_progress_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
