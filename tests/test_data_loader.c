/* The data loader's ways of handing batches out: assembled by worker
 * threads on the CPU, staged through transfer buffers (what a GPU run does,
 * here with CPU copies), and resident (the whole dataset transformed once
 * and gathered per batch). All three must give the same batches, bit for
 * bit, in the same order, across epochs, in the split-validation loader and
 * after a resume in the middle of an epoch. The GPU versions of the same
 * checks print "SKIP: no CUDA device" without one. Also what the loader
 * tells a dataset (seed, epoch, training or evaluation transforms): random
 * samples are the same whatever num_workers is and after a resume, and
 * differ between epochs; a dataset's error ends the epoch with its message;
 * a batch released early is refilled before the next call;
 * a dataset's own collate; on_device refuses random transforms. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base_data_loader.h"
#include "engine/device.h"
#include "engine/transfer.h"
#include "tests/support/check.h"
#include "tests/support/gpu_compare.h"

enum { N_SAMPLES = 1000, SAMPLE_H = 3, SAMPLE_W = 5, BATCH = 64, EPOCHS = 3 };

/* Sample i: pixels i + j / 100 and target i % 10, so every value tells
 * which sample and which pixel it came from. */
static int synthetic_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *out)
{
    int64_t per = shape_numel(ds->sample_shape);
    float *x = sample_f32(out, 0);
    for (int64_t j = 0; j < per; j++) x[j] = (float)i + (float)j / 100.0f;
    *sample_i64(out, 1) = i % 10;
    return 0;
}

static Dataset *synthetic_dataset(void)
{
    Dataset *ds = calloc(1, sizeof *ds);
    assert_non_null(ds);
    ds->name = "synthetic";
    ds->length = N_SAMPLES;
    ds->sample_shape = SHAPE(1, SAMPLE_H, SAMPLE_W);
    ds->get = synthetic_get;
    return ds;
}

static DataLoaderOptions options(int workers, bool on_device)
{
    return (DataLoaderOptions){.batch_size = BATCH, .shuffle = true, .validation_split = 0.1,
                               .num_workers = workers, .drop_last = false, .seed = 7, .on_device = on_device};
}

typedef enum { PLAIN, STAGED, RESIDENT } Mode;
static const char *const mode_names[] = {"plain", "staged", "resident"};

/* A training loader and its validation loader, handing out on device in mode. */
typedef struct {
    DataLoader *train, *valid;
} Loaders;

static Loaders make_loaders(Mode mode, int workers, Device device)
{
    Loaders l;
    l.train = base_data_loader_new(synthetic_dataset(), options(workers, mode == RESIDENT));
    assert_non_null(l.train);
    l.valid = data_loader_split_validation(l.train);
    assert_non_null(l.valid);
    for (int i = 0; i < 2; i++) {
        DataLoader *dl = i == 0 ? l.train : l.valid;
        int rc = mode == STAGED ? data_loader_stage(dl, device) : mode == RESIDENT ? data_loader_to(dl, device) : 0;
        if (rc) fail_msg("%s loader on %s: %s", mode_names[mode], device_name(device), engine_last_error());
    }
    return l;
}

static void free_loaders(Loaders *l)
{
    data_loader_free(l->valid);
    data_loader_free(l->train);
}

/* All batches of one epoch as host copies, concatenated. */
typedef struct {
    float *x;
    int64_t *y;
    int64_t n, batches;
} Epoch;

static Epoch read_epoch(DataLoader *dl, Device device)
{
    Epoch e = {malloc(sizeof(float) * N_SAMPLES * SAMPLE_H * SAMPLE_W), malloc(sizeof(int64_t) * N_SAMPLES), 0, 0};
    assert_true(e.x && e.y);
    data_loader_begin_epoch(dl);
    for (;;) {
        scope_begin();
        Tensor *x, *y;
        if (!data_loader_next(dl, &x, &y)) {
            scope_end();
            break;
        }
        assert_true(device_equal(tensor_device(x), device) && device_equal(tensor_device(y), device));
        assert_int_equal(x->shape.d[0], y->shape.d[0]);
        assert_int_equal(tensor_copy_to_buffer(x, e.x + e.n * SAMPLE_H * SAMPLE_W), 0);
        assert_int_equal(tensor_copy_to_buffer(y, e.y + e.n), 0);
        e.n += y->shape.d[0];
        e.batches++;
        scope_end();
    }
    return e;
}

static void free_epoch(Epoch *e)
{
    free(e->x);
    free(e->y);
}

static void expect_same_epoch(const Epoch *a, const Epoch *b, const char *what)
{
    if (a->n != b->n || a->batches != b->batches)
        fail_msg("%s: %lld samples in %lld batches vs %lld in %lld", what, (long long)a->n, (long long)a->batches,
                 (long long)b->n, (long long)b->batches);
    if (memcmp(a->x, b->x, sizeof(float) * (size_t)a->n * SAMPLE_H * SAMPLE_W) != 0 ||
        memcmp(a->y, b->y, sizeof(int64_t) * (size_t)a->n) != 0)
        fail_msg("%s: the batches differ", what);
}

/* Every sample of the split once per epoch, each with its own pixels and target. */
static void expect_whole_split(const Epoch *e, int64_t expected)
{
    assert_int_equal(e->n, expected);
    char *seen = calloc(N_SAMPLES, 1);
    assert_non_null(seen);
    for (int64_t r = 0; r < e->n; r++) {
        int64_t i = (int64_t)e->x[r * SAMPLE_H * SAMPLE_W];
        assert_true(i >= 0 && i < N_SAMPLES && !seen[i]);
        seen[i] = 1;
        assert_int_equal(e->y[r], i % 10);
        assert_true(e->x[r * SAMPLE_H * SAMPLE_W + 7] == (float)i + 7.0f / 100.0f);
    }
    free(seen);
}

/* Each mode against the plain loader for EPOCHS epochs of training and validation. */
static void check_modes_agree(Mode mode, int workers, Device device)
{
    Loaders plain = make_loaders(PLAIN, workers, CPU), other = make_loaders(mode, workers, device);
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        Epoch a = read_epoch(plain.train, CPU), b = read_epoch(other.train, device);
        expect_whole_split(&a, N_SAMPLES - N_SAMPLES / 10);
        expect_same_epoch(&a, &b, mode_names[mode]);
        free_epoch(&a);
        free_epoch(&b);
        a = read_epoch(plain.valid, CPU);
        b = read_epoch(other.valid, device);
        expect_whole_split(&a, N_SAMPLES / 10);
        expect_same_epoch(&a, &b, mode_names[mode]);
        free_epoch(&a);
        free_epoch(&b);
    }
    print_message("  %-8s on %s, %d workers: %d epochs identical to the plain loader\n", mode_names[mode],
                  device_name(device), workers, EPOCHS);
    free_loaders(&other);
    free_loaders(&plain);
}

/* The rest of the second epoch, continued in a fresh loader from the
 * position saved after its third batch, equals the uninterrupted loader's. */
static void check_resume(Mode mode, Device device)
{
    Loaders ref = make_loaders(mode, 2, device);
    Epoch first = read_epoch(ref.train, device);
    free_epoch(&first);
    data_loader_begin_epoch(ref.train);
    for (int i = 0; i < 3; i++) {
        scope_begin();
        Tensor *x, *y;
        assert_true(data_loader_next(ref.train, &x, &y));
        scope_end();
    }
    DataLoaderPosition pos;
    data_loader_get_position(ref.train, &pos);
    Loaders resumed = make_loaders(mode, 2, device);
    data_loader_set_position(resumed.train, &pos);
    int64_t batches = 0;
    for (bool more = true; more;) {
        scope_begin();
        Tensor *x, *y, *rx, *ry;
        more = data_loader_next(ref.train, &x, &y);
        assert_true(data_loader_next(resumed.train, &rx, &ry) == more);
        if (more) {
            if (max_rel_error(rx, x) != 0 || max_rel_error(ry, y) != 0)
                fail_msg("%s: resumed batch %lld differs", mode_names[mode], (long long)batches);
            batches++;
        }
        scope_end();
    }
    assert_int_equal(batches, (N_SAMPLES - N_SAMPLES / 10 + BATCH - 1) / BATCH - 3);
    print_message("  %-8s on %s: resumed after 3 batches, the other %lld identical\n", mode_names[mode],
                  device_name(device), (long long)batches);
    free_loaders(&resumed);
    free_loaders(&ref);
}

static void test_staged_loader_matches_plain(void **state)
{
    (void)state;
    check_modes_agree(STAGED, 2, CPU);
    check_modes_agree(STAGED, 0, CPU);
    check_modes_agree(STAGED, 1, CPU);
}

static void test_resident_loader_matches_plain(void **state)
{
    (void)state;
    check_modes_agree(RESIDENT, 2, CPU);
    check_modes_agree(RESIDENT, 0, CPU);
}

static void test_resume_inside_an_epoch(void **state)
{
    (void)state;
    check_resume(STAGED, CPU);
    check_resume(RESIDENT, CPU);
}

static void test_device_chosen_before_the_first_epoch(void **state)
{
    (void)state;
    DataLoader *dl = base_data_loader_new(synthetic_dataset(), options(1, false));
    assert_non_null(dl);
    assert_int_equal(data_loader_stage(dl, CPU), 0);
    expect_failure(data_loader_stage(dl, CPU) != 0, "already staged", "cpu");
    data_loader_begin_epoch(dl);
    expect_failure(data_loader_to(dl, CPU) != 0, "before the first epoch", NULL);
    data_loader_free(dl);
}

/* ---- what the loader tells the dataset ---- */

/* Sample i: i, whether the training transforms were asked for, the epoch,
 * then random draws from the sample's stream; target i % 10. */
static int random_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *out)
{
    SampleRng rng = sample_rng(ctx, i);
    float *x = sample_f32(out, 0);
    x[0] = (float)i;
    x[1] = ctx->training ? 1.0f : 0.0f;
    x[2] = (float)ctx->epoch;
    for (int j = 3; j < SAMPLE_H * SAMPLE_W; j++) x[j] = (float)sample_rng_uniform(&rng);
    *sample_i64(out, 1) = i % 10;
    /* a dataset that fails (its "file" for sample fail_at is damaged) */
    int64_t fail_at = ds->name[0] == 'f' ? 500 : -1;
    if (i == fail_at) {
        engine_error("sample %lld: broken.png: damaged PNG", (long long)i);
        return -1;
    }
    return 0;
}

static Dataset *random_dataset(bool failing)
{
    Dataset *ds = synthetic_dataset();
    ds->name = failing ? "failing" : "random";
    ds->get = random_get;
    ds->random_train = true;
    return ds;
}

static Loaders random_loaders(int workers, bool staged)
{
    Loaders l;
    l.train = base_data_loader_new(random_dataset(false), options(workers, false));
    assert_non_null(l.train);
    l.valid = data_loader_split_validation(l.train);
    if (staged) {
        assert_int_equal(data_loader_stage(l.train, CPU), 0);
        assert_int_equal(data_loader_stage(l.valid, CPU), 0);
    }
    return l;
}

static void test_random_samples_do_not_depend_on_workers(void **state)
{
    (void)state;
    Loaders ref = random_loaders(0, false);
    Loaders others[3] = {random_loaders(1, false), random_loaders(2, false), random_loaders(2, true)};
    float first_epoch_sample[N_SAMPLES] = {0};
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        Epoch a = read_epoch(ref.train, CPU), va = read_epoch(ref.valid, CPU);
        assert_int_equal(data_loader_epoch(ref.train), epoch);
        assert_int_equal(data_loader_epoch(ref.valid), epoch); /* the training loader's epoch */
        for (int64_t r = 0; r < a.n; r++) {
            const float *x = a.x + r * SAMPLE_H * SAMPLE_W;
            assert_true(x[1] == 1.0f && x[2] == (float)epoch);
            int64_t i = (int64_t)x[0];
            if (epoch == 0) first_epoch_sample[i] = x[3];
            else if (x[3] == first_epoch_sample[i]) fail_msg("sample %lld drew the same in epochs 0 and %d", (long long)i, epoch);
        }
        for (int64_t r = 0; r < va.n; r++) /* validation samples: the evaluation transforms */
            assert_true(va.x[r * SAMPLE_H * SAMPLE_W + 1] == 0.0f && va.x[r * SAMPLE_H * SAMPLE_W + 2] == (float)epoch);
        for (int k = 0; k < 3; k++) {
            Epoch b = read_epoch(others[k].train, CPU), vb = read_epoch(others[k].valid, CPU);
            expect_same_epoch(&a, &b, k == 0 ? "1 worker" : k == 1 ? "2 workers" : "2 workers, staged");
            expect_same_epoch(&va, &vb, "validation");
            free_epoch(&b);
            free_epoch(&vb);
        }
        free_epoch(&a);
        free_epoch(&va);
    }
    free_loaders(&ref);
    for (int k = 0; k < 3; k++) free_loaders(&others[k]);
}

/* A resume inside epoch 2 draws epoch 2's samples, as the run it resumes would have. */
static void test_resume_keeps_the_epoch(void **state)
{
    (void)state;
    Loaders ref = random_loaders(2, false), resumed = random_loaders(1, false);
    Epoch e = read_epoch(ref.train, CPU);
    free_epoch(&e);
    data_loader_begin_epoch(ref.train);
    for (int b = 0; b < 3; b++) {
        scope_begin();
        Tensor *x, *y;
        assert_true(data_loader_next(ref.train, &x, &y));
        scope_end();
    }
    DataLoaderPosition pos;
    data_loader_get_position(ref.train, &pos);
    assert_int_equal(pos.epochs, 2);
    data_loader_set_position(resumed.train, &pos);
    assert_int_equal(data_loader_epoch(resumed.train), 1);
    for (bool more = true; more;) {
        scope_begin();
        Tensor *x, *y, *rx, *ry;
        more = data_loader_next(ref.train, &x, &y);
        assert_true(data_loader_next(resumed.train, &rx, &ry) == more);
        if (more && (max_rel_error(rx, x) != 0 || max_rel_error(ry, y) != 0)) fail_msg("a resumed batch differs");
        scope_end();
    }
    /* and the epoch after */
    Epoch a = read_epoch(ref.train, CPU), b = read_epoch(resumed.train, CPU);
    expect_same_epoch(&a, &b, "the epoch after the resume");
    assert_true(a.x[2] == 2.0f);
    free_epoch(&a);
    free_epoch(&b);
    free_loaders(&ref);
    free_loaders(&resumed);
}

static void test_dataset_error_ends_the_epoch(void **state)
{
    (void)state;
    for (int workers = 0; workers <= 2; workers += 2) {
        DataLoaderOptions o = options(workers, false);
        o.shuffle = false;
        o.validation_split = 0;
        DataLoader *dl = base_data_loader_new(random_dataset(true), o);
        assert_non_null(dl);
        for (int epoch = 0; epoch < 2; epoch++) {
            data_loader_begin_epoch(dl);
            assert_false(data_loader_failed(dl));
            int64_t batches = 0;
            for (;;) {
                scope_begin();
                Tensor *x, *y;
                bool more = data_loader_next(dl, &x, &y);
                scope_end();
                if (!more) break;
                batches++;
            }
            assert_int_equal(batches, 500 / BATCH); /* the batches before the one holding sample 500 */
            assert_true(data_loader_failed(dl));
            expect_failure(true, "sample 500: broken.png: damaged PNG", NULL);
        }
        data_loader_free(dl);
    }
}

/* The highest sample index a dataset was asked for, for the test below. */
static _Atomic int64_t highest_asked;

static int recording_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *out)
{
    int64_t seen = atomic_load(&highest_asked);
    while (i > seen && !atomic_compare_exchange_weak(&highest_asked, &seen, i)) {
    }
    return synthetic_get(ds, i, ctx, out);
}

/* Waits up to 10 s for the workers to ask for sample i. */
static bool asked_for(int64_t i)
{
    for (int k = 0; k < 10000 && atomic_load(&highest_asked) < i; k++) nanosleep(&(struct timespec){0, 1000000}, NULL);
    return atomic_load(&highest_asked) >= i;
}

/* data_loader_release_batch gives the batch's slot back at once: with one
 * worker (two slots) and batch 0 out, batch 1 fills the other slot and
 * batch 2 waits for batch 0's, which it gets before the next call. The
 * batches that follow are the right ones. */
static void test_released_batch_is_refilled_before_the_next_call(void **state)
{
    (void)state;
    Dataset *ds = synthetic_dataset();
    ds->get = recording_get;
    atomic_store(&highest_asked, -1);
    DataLoaderOptions o = options(1, false);
    o.shuffle = false;
    o.validation_split = 0;
    DataLoader *dl = base_data_loader_new(ds, o);
    assert_non_null(dl);
    data_loader_begin_epoch(dl);
    scope_begin();
    Tensor *x, *y;
    assert_true(data_loader_next(dl, &x, &y));
    assert_true(asked_for(2 * BATCH - 1)); /* batch 1, in the other slot */
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    assert_int_equal(atomic_load(&highest_asked), 2 * BATCH - 1); /* no free slot for batch 2 yet */
    data_loader_release_batch(dl);
    if (!asked_for(3 * BATCH - 1)) fail_msg("batch 2 was not assembled after batch 0's release");
    scope_end();
    for (int b = 1; b <= 2; b++) {
        scope_begin();
        assert_true(data_loader_next(dl, &x, &y));
        assert_true(tensor_f32(x)[0] == (float)(b * BATCH) && tensor_i64(y)[BATCH - 1] == (b * BATCH + BATCH - 1) % 10);
        scope_end();
    }
    data_loader_free(dl);
}

/* Fills whole batches: target 7, input the sample index. */
static int batch_collate(const Dataset *ds, const int64_t *idx, int n, const SampleContext *ctx, Batch *out)
{
    assert_int_equal(out->n, n);
    for (int r = 0; r < n; r++) {
        for (int j = 0; j < SAMPLE_H * SAMPLE_W; j++) ((float *)out->data[0])[r * SAMPLE_H * SAMPLE_W + j] = (float)idx[r];
        ((int64_t *)out->data[1])[r] = 7;
    }
    return 0;
}

static void test_custom_collate(void **state)
{
    (void)state;
    Dataset *ds = synthetic_dataset();
    ds->get = NULL;
    ds->collate = batch_collate;
    DataLoader *dl = base_data_loader_new(ds, options(2, false));
    assert_non_null(dl);
    Epoch e = read_epoch(dl, CPU);
    assert_int_equal(e.n, N_SAMPLES - N_SAMPLES / 10);
    for (int64_t r = 0; r < e.n; r++) assert_int_equal(e.y[r], 7);
    free_epoch(&e);
    data_loader_free(dl);
    ds = synthetic_dataset();
    ds->get = NULL;
    expect_error(base_data_loader_new(ds, options(0, false)), "neither get nor collate", NULL);
}

static void test_on_device_refuses_random_transforms(void **state)
{
    (void)state;
    DataLoader *dl = base_data_loader_new(random_dataset(false), options(1, true));
    assert_non_null(dl);
    expect_failure(data_loader_to(dl, CPU) != 0, "on_device: the training transforms of random are random", NULL);
    data_loader_free(dl);
}

static void test_transfer_checks_its_tensors(void **state)
{
    (void)state;
    scope_begin();
    Transfer *tr = transfer_new();
    assert_non_null(tr);
    Tensor *src = tensor_empty_pinned(SHAPE(2, 3), DT_F32);
    REQUIRE_OK(src);
    assert_int_equal(tensor_is_pinned(src), device_cuda_count() > 0);
    for (int i = 0; i < 6; i++) tensor_f32(src)[i] = (float)i;
    expect_failure(transfer_start(tr, tensor_empty(SHAPE(3, 2), DT_F32, CPU), src) != 0, "[3, 2]", "[2, 3]");
    expect_failure(transfer_start(tr, tensor_empty(SHAPE(2, 3), DT_I64, CPU), src) != 0, "int64", "float32");
    expect_failure(transfer_start(tr, t_transpose(tensor_empty(SHAPE(3, 2), DT_F32, CPU), 0, 1), src) != 0,
                   "contiguous", NULL);
    Tensor *dst = tensor_zeros(SHAPE(2, 3), DT_F32, CPU);
    assert_int_equal(transfer_start(tr, dst, src), 0);
    transfer_use(tr);
    transfer_wait(tr);
    expect_close(dst, src, 0, "transfer on the CPU");
    transfer_free(tr);
    scope_end();
}

/* ---- the same on a GPU ---- */

static void test_gpu_staged_and_resident_loaders(void **state)
{
    (void)state;
    REQUIRE_GPU();
    Loaders l = make_loaders(PLAIN, 1, CPU);
    assert_int_equal(data_loader_to(l.train, CUDA(0)), 0); /* data_loader_to stages for a GPU */
    free_loaders(&l);
    check_modes_agree(STAGED, 2, CUDA(0));
    check_modes_agree(STAGED, 0, CUDA(0));
    check_modes_agree(RESIDENT, 2, CUDA(0));
    check_resume(STAGED, CUDA(0));
    check_resume(RESIDENT, CUDA(0));
}

/* "test_data_loader" runs the CPU tests; "test_data_loader gpu" the GPU
 * ones (a ctest entry of its own, skipped without a device). */
int main(int argc, char **argv)
{
    const struct CMUnitTest cpu_tests[] = {
        cmocka_unit_test(test_staged_loader_matches_plain),
        cmocka_unit_test(test_resident_loader_matches_plain),
        cmocka_unit_test(test_resume_inside_an_epoch),
        cmocka_unit_test(test_device_chosen_before_the_first_epoch),
        cmocka_unit_test(test_transfer_checks_its_tensors),
        cmocka_unit_test(test_random_samples_do_not_depend_on_workers),
        cmocka_unit_test(test_resume_keeps_the_epoch),
        cmocka_unit_test(test_dataset_error_ends_the_epoch),
        cmocka_unit_test(test_released_batch_is_refilled_before_the_next_call),
        cmocka_unit_test(test_custom_collate),
        cmocka_unit_test(test_on_device_refuses_random_transforms),
    };
    const struct CMUnitTest gpu_tests[] = {
        cmocka_unit_test(test_gpu_staged_and_resident_loaders),
    };
    if (argc > 1 && strcmp(argv[1], "gpu") == 0) return cmocka_run_group_tests(gpu_tests, NULL, NULL);
    return cmocka_run_group_tests(cpu_tests, NULL, NULL);
}
