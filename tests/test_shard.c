/* The data loader's shards for distributed runs (data_loader_shard), as
 * PyTorch's DistributedSampler takes them: every rank draws the same order;
 * with padding every rank takes the same number of samples (the order
 * wrapped around) and global batch b (batch b of every rank) holds exactly
 * the samples of batch b of one process at batch size B x ranks; without
 * padding (validation, test) every sample is taken once, by one rank. */
#include <stdlib.h>
#include <string.h>

#include "base/base_data_loader.h"
#include "tests/support/check.h"

enum { B = 4 };

/* Sample i: input [1] = i, target i % 5. */
static int index_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *s)
{
    (void)ds, (void)ctx;
    sample_f32(s, 0)[0] = (float)i;
    *sample_i64(s, 1) = i % 5;
    return 0;
}

static DataLoader *loader(int64_t n, int64_t batch, bool drop_last)
{
    Dataset *ds = calloc(1, sizeof *ds);
    assert_non_null(ds);
    ds->name = "index";
    ds->length = n;
    ds->sample_shape = SHAPE(1);
    ds->get = index_get;
    DataLoaderOptions o = {.batch_size = batch, .shuffle = true, .num_workers = 1, .seed = 11, .drop_last = drop_last};
    DataLoader *dl = base_data_loader_new(ds, o);
    assert_non_null(dl);
    return dl;
}

/* The sample indices of every batch of an epoch, batch after batch (-1 ends a batch). */
static int64_t *epoch_batches(DataLoader *dl, int64_t *count)
{
    int64_t cap = 4096, n = 0;
    int64_t *out = malloc(sizeof(int64_t) * (size_t)cap);
    assert_non_null(out);
    data_loader_begin_epoch(dl);
    Tensor *x, *y;
    for (;;) {
        scope_begin();
        if (!data_loader_next(dl, &x, &y)) {
            scope_end();
            break;
        }
        for (int64_t i = 0; i < x->shape.d[0]; i++) out[n++] = (int64_t)tensor_f32(x)[i];
        out[n++] = -1;
        assert_true(n < cap - 64);
        scope_end();
    }
    *count = n;
    return out;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Global batches of `ranks` ranks at batch B against one process at B x ranks, over two epochs. */
static void check_padded(int64_t n, int ranks, bool drop_last)
{
    DataLoader *single = loader(n, B * ranks, drop_last), *rank[3];
    for (int r = 0; r < ranks; r++) {
        rank[r] = loader(n, B, drop_last);
        assert_int_equal(data_loader_shard(rank[r], r, ranks, true), 0);
    }
    for (int epoch = 0; epoch < 2; epoch++) {
        int64_t n_single, n_rank[3], *s = epoch_batches(single, &n_single), *rb[3];
        for (int r = 0; r < ranks; r++) rb[r] = epoch_batches(rank[r], &n_rank[r]);
        for (int r = 1; r < ranks; r++)
            assert_int_equal(data_loader_num_batches(rank[r]), data_loader_num_batches(rank[0]));
        int64_t pos[3] = {0}, ps = 0, batches = 0;
        while (ps < n_single || pos[0] < n_rank[0]) {
            /* the union of batch b over ranks, against the single process's batch b */
            int64_t got[64], want[64], ng = 0, nw = 0;
            for (int r = 0; r < ranks; r++) {
                assert_true(pos[r] < n_rank[r]);
                while (rb[r][pos[r]] != -1) got[ng++] = rb[r][pos[r]++];
                pos[r]++;
            }
            if (ps < n_single) {
                while (s[ps] != -1) want[nw++] = s[ps++];
                ps++;
            }
            /* the padding repeats the order's first samples; the single process has no padding */
            int64_t padded = ng - nw;
            assert_true(padded >= 0 && padded < ranks);
            qsort(got, (size_t)ng, sizeof(int64_t), cmp);
            qsort(want, (size_t)nw, sizeof(int64_t), cmp);
            if (padded == 0) assert_memory_equal(got, want, sizeof(int64_t) * (size_t)nw);
            batches++;
        }
        assert_int_equal(batches, data_loader_num_batches(rank[0]));
        free(s);
        for (int r = 0; r < ranks; r++) free(rb[r]);
    }
    data_loader_free(single);
    for (int r = 0; r < ranks; r++) data_loader_free(rank[r]);
}

static void test_padded_shards_make_the_single_process_batches(void **state)
{
    (void)state;
    check_padded(96, 2, false); /* divides evenly */
    check_padded(103, 2, false);
    check_padded(103, 3, false); /* padded by wrapping */
    check_padded(103, 3, true);  /* drop_last: the tail is dropped instead */
}

static void test_unpadded_shards_take_every_sample_once(void **state)
{
    (void)state;
    for (int ranks = 1; ranks <= 3; ranks++) {
        int64_t n = 31;
        int seen[31] = {0};
        for (int r = 0; r < ranks; r++) {
            DataLoader *dl = loader(n, 5, false);
            assert_int_equal(data_loader_shard(dl, r, ranks, false), 0);
            int64_t count, *b = epoch_batches(dl, &count);
            for (int64_t i = 0; i < count; i++)
                if (b[i] >= 0) seen[b[i]]++;
            free(b);
            data_loader_free(dl);
        }
        for (int i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    }
}

static void test_bad_shards(void **state)
{
    (void)state;
    DataLoader *dl = loader(2, 1, false);
    expect_failure(data_loader_shard(dl, 2, 3, false) != 0, "cannot be shared among 3 ranks", NULL);
    expect_failure(data_loader_shard(dl, 3, 3, false) != 0, "rank 3 of 3", NULL);
    data_loader_free(dl);
    dl = loader(5, 4, true);
    expect_failure(data_loader_shard(dl, 0, 2, true) != 0, "drop_last leaves no batch", NULL);
    data_loader_free(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_padded_shards_make_the_single_process_batches),
        cmocka_unit_test(test_unpadded_shards_take_every_sample_once),
        cmocka_unit_test(test_bad_shards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
