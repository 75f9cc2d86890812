/* The template's metrics (model/metric.c, on t_count_in_top_k): accuracy
 * and top_k_acc against a direct count on the host, with ties (broken
 * toward the lower class index, as torch.argmax does), targets out of range
 * (never correct), rows holding NaN or +Inf (never correct) or -Inf (an
 * ordinary score), a partial batch, and shape errors; all of it twice, with
 * the CPU's count kernel and with the count composed from ops (what a
 * backend without the kernel runs); on a GPU, the same counts as on the CPU
 * ("test_metric gpu", skipped without a device). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "model/metric.h"
#include "tests/support/check.h"
#include "tests/support/gpu_compare.h"
#include "tests/support/oracle.h"

/* Whether row i of scores [b, c] holds a NaN or a +Inf (never correct). */
static bool row_refused(const float *s, int64_t i, int64_t c)
{
    for (int64_t j = 0; j < c; j++)
        if (isnan(s[i * c + j]) || s[i * c + j] == INFINITY) return true;
    return false;
}

/* Samples whose target is among the k best scores, counted directly. */
static double host_top_k(const float *s, const int64_t *y, int64_t b, int64_t c, int k)
{
    double correct = 0;
    for (int64_t i = 0; i < b; i++) {
        if (y[i] < 0 || y[i] >= c || row_refused(s, i, c)) continue;
        int64_t better = 0;
        for (int64_t j = 0; j < c; j++)
            if (s[i * c + j] > s[i * c + y[i]] || (s[i * c + j] == s[i * c + y[i]] && j < y[i])) better++;
        if (better < k) correct++;
    }
    return correct;
}

static void test_metrics_count_like_the_host(void **state)
{
    (void)state;
    Generator g;
    generator_seed(&g, 3);
    const int64_t shapes[][2] = {{128, 10}, {37, 10}, {5, 3}, {64, 100}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        scope_begin();
        int64_t b = shapes[k][0], c = shapes[k][1];
        /* scores from a few levels, so rows have ties */
        Tensor *scores = t_mul_scalar(tensor_to_dtype(tensor_randint(0, 6, SHAPE(b, c), &g, CPU), DT_F32), 0.5);
        Tensor *target = tensor_randint(-1, c + 1, SHAPE(b), &g, CPU); /* some out of range */
        REQUIRE_OK(scores);
        REQUIRE_OK(target);
        double acc = tensor_item(accuracy(scores, target)), top3 = tensor_item(top_k_acc(scores, target));
        double want_acc = host_top_k(tensor_f32(scores), tensor_i64(target), b, c, 1);
        double want_top3 = host_top_k(tensor_f32(scores), tensor_i64(target), b, c, 3);
        print_message("  [%lld, %lld]: accuracy %g (host %g), top_k_acc %g (host %g)\n", (long long)b, (long long)c,
                      acc, want_acc, top3, want_top3);
        assert_true(acc == want_acc);
        assert_true(top3 == want_top3);
        assert_true(want_acc > 0 && want_top3 > want_acc); /* the case tests something */
        scope_end();
    }
}

/* A target outside [0, C) ranks below no class when every score is equal
 * (target -1), and above every class for target C: without the range check
 * the first would count as correct. The reference's argmax/topk never equal
 * such a target. */
static void test_targets_out_of_range_never_count(void **state)
{
    (void)state;
    scope_begin();
    Tensor *scores = tensor_zeros(SHAPE(3, 4), DT_F32, CPU);
    const int64_t targets[] = {-1, 4, 0};
    Tensor *target = tensor_from_data(targets, SHAPE(3), DT_I64, CPU);
    REQUIRE_OK(target);
    assert_true(tensor_item(accuracy(scores, target)) == 1.0);  /* only the last, by the lower-index tie rule */
    assert_true(tensor_item(top_k_acc(scores, target)) == 1.0);
    scope_end();
}

/* One row per case: NaN at the target (nothing compares above a NaN, so it
 * once counted), NaN elsewhere, all NaN, +Inf at the target or elsewhere:
 * never correct. -Inf elsewhere or everywhere: an ordinary lowest score
 * (an all -Inf row picks class 0, as argmax does). */
static void test_nonfinite_rows_never_count(void **state)
{
    (void)state;
    scope_begin();
    const float N = NAN, I = INFINITY;
    const float rows[][4] = {
        {N, 1, 2, 3},  /* target 0: NaN at the target */
        {3, N, 2, 1},  /* target 0: the best finite score, NaN elsewhere */
        {N, N, N, N},  /* target 0 */
        {I, 1, 2, 3},  /* target 0: +Inf at the target */
        {3, I, 2, 1},  /* target 0 */
        {3, -I, 2, 1}, /* target 0: correct */
        {-I, -I, -I, -I}, /* target 0: correct (first of equals) */
        {1, 5, -I, 2}, /* target 1: correct */
        {N, 5, 4, 3},  /* target 1 */
    };
    const int64_t targets[] = {0, 0, 0, 0, 0, 0, 0, 1, 1};
    const int64_t b = sizeof targets / sizeof targets[0];
    Tensor *scores = tensor_from_data(rows, SHAPE(b, 4), DT_F32, CPU);
    Tensor *target = tensor_from_data(targets, SHAPE(b), DT_I64, CPU);
    REQUIRE_OK(scores);
    REQUIRE_OK(target);
    double acc = tensor_item(accuracy(scores, target)), top3 = tensor_item(top_k_acc(scores, target));
    print_message("  accuracy %g, top_k_acc %g of %lld rows (3 without NaN or +Inf are correct)\n", acc, top3,
                  (long long)b);
    assert_true(acc == 3.0);
    assert_true(top3 == 3.0);
    /* the diverged model: an infinite output bias makes log_softmax NaN in every row */
    Tensor *logits = t_add(tensor_zeros(SHAPE(6, 10), DT_F32, CPU), tensor_full(SHAPE(10), INFINITY, DT_F32, CPU));
    Tensor *log_probs = f_log_softmax(logits, 1);
    Tensor *zeros = tensor_zeros(SHAPE(6), DT_I64, CPU);
    REQUIRE_OK(log_probs);
    assert_true(tensor_item(accuracy(log_probs, zeros)) == 0.0);
    assert_true(tensor_item(top_k_acc(log_probs, zeros)) == 0.0);
    scope_end();
}

/* Random scores with NaN, +Inf and -Inf sprinkled in, against the direct
 * count (which skips rows holding NaN or +Inf). */
static void test_nonfinite_scores_count_like_the_host(void **state)
{
    (void)state;
    Generator g;
    generator_seed(&g, 11);
    scope_begin();
    Tensor *scores = t_mul_scalar(tensor_to_dtype(tensor_randint(0, 6, SHAPE(200, 10), &g, CPU), DT_F32), 0.5);
    sprinkle_nonfinite(scores, 20, 20, 60, &g);
    Tensor *target = tensor_randint(0, 10, SHAPE(200), &g, CPU);
    REQUIRE_OK(scores);
    double acc = tensor_item(accuracy(scores, target)), top3 = tensor_item(top_k_acc(scores, target));
    double want_acc = host_top_k(tensor_f32(scores), tensor_i64(target), 200, 10, 1);
    double want_top3 = host_top_k(tensor_f32(scores), tensor_i64(target), 200, 10, 3);
    print_message("  accuracy %g (host %g), top_k_acc %g (host %g)\n", acc, want_acc, top3, want_top3);
    assert_true(acc == want_acc);
    assert_true(top3 == want_top3);
    assert_true(want_acc > 0 && want_top3 > want_acc);
    scope_end();
}

static void test_metrics_check_shapes(void **state)
{
    (void)state;
    scope_begin();
    Tensor *scores = tensor_zeros(SHAPE(4, 10), DT_F32, CPU);
    expect_error(accuracy(scores, tensor_zeros(SHAPE(5), DT_I64, CPU)), "[4, 10]", "[5]");
    expect_error(accuracy(scores, tensor_zeros(SHAPE(4), DT_F32, CPU)), "int64", NULL);
    expect_error(top_k_acc(tensor_zeros(SHAPE(4), DT_F32, CPU), tensor_zeros(SHAPE(4), DT_I64, CPU)), "[B, C]", NULL);
    expect_error(t_count_in_top_k(scores, tensor_zeros(SHAPE(4), DT_I64, CPU), 0), "k = 0", "[4, 10]");
    expect_error(top_k_acc(tensor_zeros(SHAPE(4, 2), DT_F32, CPU), tensor_zeros(SHAPE(4), DT_I64, CPU)),
                 "top-3 accuracy needs at least 3 classes", "[4, 2]");
    scope_end();
}

static void test_gpu_metrics_equal_cpu(void **state)
{
    (void)state;
    REQUIRE_GPU();
    Generator g;
    generator_seed(&g, 5);
    scope_begin();
    Tensor *scores = t_mul_scalar(tensor_to_dtype(tensor_randint(0, 6, SHAPE(128, 10), &g, CPU), DT_F32), 0.5);
    sprinkle_nonfinite(scores, 10, 10, 30, &g); /* rows with NaN or +Inf never count there either */
    Tensor *target = tensor_randint(-1, 11, SHAPE(128), &g, CPU);
    MetricFn fns[] = {accuracy, top_k_acc};
    for (int i = 0; i < 2; i++) {
        Tensor *gpu = fns[i](tensor_to(scores, GPU_DEVICE), tensor_to(target, GPU_DEVICE));
        REQUIRE_OK(gpu);
        assert_true(device_equal(tensor_device(gpu), GPU_DEVICE));
        expect_equal(gpu, fns[i](scores, target), i == 0 ? "accuracy on the GPU" : "top_k_acc on the GPU");
    }
    scope_end();
}

/* The CPU table without its count kernel, for the second round: the op
 * then composes the count from comparisons and sums. */
static Backend composed_cpu;
static const Backend *kernel_cpu;

static int use_composed_count(void **state)
{
    (void)state;
    kernel_cpu = backend_get(DEVICE_CPU);
    composed_cpu = *kernel_cpu;
    composed_cpu.count_in_top_k = NULL;
    return backend_register(&composed_cpu);
}

static int use_count_kernel(void **state)
{
    (void)state;
    return backend_register(kernel_cpu);
}

/* "test_metric" runs the CPU tests; "test_metric gpu" the GPU one (its own
 * ctest entry, skipped without a device). */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_count_like_the_host),
        cmocka_unit_test(test_targets_out_of_range_never_count),
        cmocka_unit_test(test_nonfinite_rows_never_count),
        cmocka_unit_test(test_nonfinite_scores_count_like_the_host),
        cmocka_unit_test(test_metrics_check_shapes),
    };
    const struct CMUnitTest gpu_tests[] = {
        cmocka_unit_test(test_gpu_metrics_equal_cpu),
    };
    if (argc > 1 && strcmp(argv[1], "gpu") == 0) return cmocka_run_group_tests(gpu_tests, NULL, NULL);
    int failed = cmocka_run_group_tests_name("count kernel", tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("count composed from ops", tests, use_composed_count, use_count_kernel);
}
