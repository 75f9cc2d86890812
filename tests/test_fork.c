/* When the CPU kernels fork (engine/cpu/fork.h): a loop that would run on
 * one thread (its work under the grain, one thread allowed, or a shard of
 * the batch split) enters no OpenMP region, since each costs a system call
 * even with a team of one; a loop worth forking does. Whole MnistModel
 * steps are counted too: on one thread no region at all, with the batch
 * split on two threads only the split's own two (forward and backward).
 *
 * Counted by wrapping libgomp's GOMP_parallel, which every parallel
 * construct GCC compiles calls: the wrapper counts, then runs the real one.
 * Another OpenMP runtime (clang's) has other entry points: the test then
 * says so and skips. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <omp.h>
#include <stdlib.h>

#include "model/model.h"
#include "tests/support/check.h"
#include "trainer/batch_split.h"

typedef void (*GompParallelFn)(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

static int regions;

void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags)
{
    static GompParallelFn real;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "GOMP_parallel");
    if (!real) abort();
    __atomic_add_fetch(&regions, 1, __ATOMIC_RELAXED);
    real(fn, data, num_threads, flags);
}

static int take_regions(void) { return __atomic_exchange_n(&regions, 0, __ATOMIC_RELAXED); }

/* Skips (with a line saying why) unless the counter sees a region. */
static void require_counter(void)
{
    take_regions();
    int sum = 0;
#pragma omp parallel num_threads(2) reduction(+ : sum)
    sum += 1;
    if (take_regions() == 0 || sum < 1) {
        print_message("  SKIPPED: parallel regions do not go through libgomp's GOMP_parallel here\n");
        skip();
    }
}

/* The regions t_relu enters on n elements. */
static int regions_of_relu(int64_t n)
{
    Generator g;
    generator_seed(&g, 1);
    Tensor *x = tensor_randn(SHAPE(n), &g, CPU);
    REQUIRE_OK(x);
    take_regions();
    REQUIRE_OK(t_relu(x));
    return take_regions();
}

static void test_elementwise_forks_only_when_worth_it(void **state)
{
    (void)state;
    require_counter();
    int threads = omp_get_max_threads();
    if (threads < 2) omp_set_num_threads(2);
    scope_begin();
    assert_int_equal(regions_of_relu(100), 0);     /* under the grain */
    assert_int_equal(regions_of_relu(1 << 20), 1); /* worth two threads */
    omp_set_num_threads(1);
    assert_int_equal(regions_of_relu(1 << 20), 0); /* one thread allowed */
    scope_end();
    omp_set_num_threads(threads);
}

static Tensor *nll(void *ctx, Tensor *output) { return f_nll_loss(output, ctx, NULL, -100, REDUCTION_MEAN); }

/* Regions entered by one training step of MnistModel on a batch of 64
 * (forward, loss, backward) with trainer.batch_split `split`. */
static int regions_of_a_step(Module *model, const char *split)
{
    char json[256];
    snprintf(json, sizeof json, "{\"arch\": {\"type\": \"MnistModel\", \"args\": {}}, \"trainer\": {\"batch_split\": %s}}",
             split);
    Config *cfg = config_parse(json, "fork.json");
    assert_non_null(cfg);
    BatchSplit bs;
    assert_int_equal(batch_split_init(&bs, cfg, model, model_from_config, CPU, 64), 0);
    Generator g;
    generator_seed(&g, 5);
    scope_begin();
    TensorBatch b = {0};
    assert_int_equal(tensor_batch_add(&b, "input", tensor_randn(SHAPE(64, 1, 28, 28), &g, CPU)), 0);
    Tensor *y = tensor_randint(0, 10, SHAPE(64), &g, CPU);
    assert_int_equal(tensor_batch_add(&b, "target", y), 0);
    Tensor *out;
    take_regions();
    if (batch_split_step(&bs, &b, false, DT_F32, nll, y, &out)) fail_engine("batch_split_step");
    int n = take_regions();
    scope_end();
    batch_split_free(&bs);
    config_free(cfg);
    return n;
}

static void test_a_training_step_forks_only_for_the_shards(void **state)
{
    (void)state;
    require_counter();
    int threads = omp_get_max_threads();
    manual_seed(3);
    Module *model = mnist_model(10, 0.5);
    REQUIRE_OK(model);
    module_train(model, true);
    omp_set_num_threads(1);
    int one_thread = regions_of_a_step(model, "1");
    print_message("  one thread, batch whole: %d regions\n", one_thread);
    assert_int_equal(one_thread, 0);
    omp_set_num_threads(2);
    int split = regions_of_a_step(model, "2");
    print_message("  two threads, batch in two shards: %d regions\n", split);
    assert_int_equal(split, 2); /* the shards' forward, and their backward */
    omp_set_num_threads(threads);
    module_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise_forks_only_when_worth_it),
        cmocka_unit_test(test_a_training_step_forks_only_for_the_shards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
