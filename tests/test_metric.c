/* The template's metrics (model/metric.c), written with ops: accuracy and
 * top_k_acc against a direct count on the host, with ties (broken toward
 * the lower class index, as torch.argmax does), targets out of range
 * (never correct), a partial batch, and shape errors; on a GPU, the same
 * counts as on the CPU ("test_metric gpu", skipped without a device). */
#include <stdlib.h>
#include <string.h>

#include "model/metric.h"
#include "tests/support/check.h"
#include "tests/support/gpu_compare.h"

/* Samples whose target is among the k best scores, counted directly. */
static double host_top_k(const float *s, const int64_t *y, int64_t b, int64_t c, int k)
{
    double correct = 0;
    for (int64_t i = 0; i < b; i++) {
        if (y[i] < 0 || y[i] >= c) continue;
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

static void test_metrics_check_shapes(void **state)
{
    (void)state;
    scope_begin();
    Tensor *scores = tensor_zeros(SHAPE(4, 10), DT_F32, CPU);
    expect_error(accuracy(scores, tensor_zeros(SHAPE(5), DT_I64, CPU)), "[4, 10]", "[5]");
    expect_error(accuracy(scores, tensor_zeros(SHAPE(4), DT_F32, CPU)), "int64", NULL);
    expect_error(top_k_acc(tensor_zeros(SHAPE(4), DT_F32, CPU), tensor_zeros(SHAPE(4), DT_I64, CPU)), "[B, C]", NULL);
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

/* "test_metric" runs the CPU tests; "test_metric gpu" the GPU one (its own
 * ctest entry, skipped without a device). */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_count_like_the_host),
        cmocka_unit_test(test_targets_out_of_range_never_count),
        cmocka_unit_test(test_metrics_check_shapes),
    };
    const struct CMUnitTest gpu_tests[] = {
        cmocka_unit_test(test_gpu_metrics_equal_cpu),
    };
    if (argc > 1 && strcmp(argv[1], "gpu") == 0) return cmocka_run_group_tests(gpu_tests, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
