/* Batches of named fields (base/base_dataset.h): a dataset declares fields
 * of several dtypes and shapes, variable-length ones among them; the
 * padding collate pads each batch to its longest sample with the configured
 * values (one for all or one per field) and adds the lengths; the default
 * collate stacks equal lengths and refuses unequal ones with a message that
 * names the config key. Checked with worker threads, without, and staged
 * (the copies a GPU run makes, here on the CPU). Also: a get() that forgets
 * a length, on_device refusing variable fields, and models taking the batch
 * (module_forward_batch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_data_loader.h"
#include "engine/engine.h"
#include "tests/support/check.h"

enum { N = 50, MAX_LEN = 6, WIDTH = 2, BATCH = 8 };

/* Sample i: "input" f32 [len, 2] with len = 1 + i % 6 (element (j, c) =
 * 100 i + 2 j + c), "tags" int64 [len] (10 i + j), "score" f32 [1] (i / 2:
 * a regression target), "labels" u8 [3] (the bits of i: multi-label) and
 * "target" int64 (i % 3). equal_lengths: every len is 4. */
typedef struct {
    Dataset base;
    bool equal_lengths, forget_length;
} Tagged;

static int64_t length_of(const Tagged *d, int64_t i) { return d->equal_lengths ? 4 : 1 + i % MAX_LEN; }

static int tagged_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *s)
{
    (void)ctx;
    const Tagged *d = (const Tagged *)ds;
    int64_t len = length_of(d, i);
    for (int64_t j = 0; j < len; j++) {
        for (int c = 0; c < WIDTH; c++) sample_f32(s, 0)[j * WIDTH + c] = (float)(100 * i + 2 * j + c);
        sample_i64(s, 1)[j] = 10 * i + j;
    }
    s->length[0] = len;
    if (!(d->forget_length && i == 7)) s->length[1] = len;
    sample_f32(s, 2)[0] = (float)i / 2;
    for (int b = 0; b < 3; b++) sample_u8(s, 3)[b] = (uint8_t)((i >> b) & 1);
    *sample_i64(s, 4) = i % 3;
    return 0;
}

static Dataset *tagged(bool equal_lengths)
{
    Tagged *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->equal_lengths = equal_lengths;
    d->base.name = "tagged";
    d->base.length = N;
    d->base.get = tagged_get;
    d->base.n_fields = 5;
    d->base.fields[0] = (FieldSpec){"input", DT_F32, SHAPE(MAX_LEN, WIDTH), true};
    d->base.fields[1] = (FieldSpec){"tags", DT_I64, SHAPE(MAX_LEN), true};
    d->base.fields[2] = (FieldSpec){"score", DT_F32, SHAPE(1), false};
    d->base.fields[3] = (FieldSpec){"labels", DT_U8, SHAPE(3), false};
    d->base.fields[4] = (FieldSpec){"target", DT_I64, {.ndim = 0}, false};
    return &d->base;
}

static DataLoaderOptions padded(int workers)
{
    DataLoaderOptions o = {.batch_size = BATCH, .shuffle = true, .num_workers = workers, .seed = 5};
    o.collate = (CollateOptions){.pad = true, .padding_value = 9, .n_named = 1, .names = {"tags"}, .values = {-100}};
    return o;
}

/* The field's values as doubles (any dtype), malloc'd. */
static double *values(Tensor *t)
{
    int64_t n = tensor_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(v);
    Tensor *f = tensor_to_dtype(t, DT_F32);
    assert_non_null(f);
    float *tmp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_int_equal(tensor_copy_to_buffer(f, tmp), 0);
    for (int64_t i = 0; i < n; i++) v[i] = tmp[i];
    free(tmp);
    return v;
}

/* Checks one padded batch against the samples it holds; marks them seen. */
static void check_padded_batch(const TensorBatch *b, bool *seen)
{
    const char *expected[] = {"input", "tags", "score", "labels", "target", "input_lengths", "tags_lengths"};
    assert_int_equal(b->n, 7);
    for (int k = 0; k < 7; k++) assert_string_equal(b->names[k], expected[k]);
    Tensor *x = tensor_batch_get(b, "input"), *tags = tensor_batch_get(b, "tags");
    int64_t rows = x->shape.d[0], longest = x->shape.d[1];
    assert_int_equal(x->dtype, DT_F32);
    assert_int_equal(tags->dtype, DT_I64);
    assert_int_equal(tensor_batch_get(b, "labels")->dtype, DT_U8);
    assert_true(shape_equal(x->shape, SHAPE(rows, longest, WIDTH)));
    assert_true(shape_equal(tags->shape, SHAPE(rows, longest)));
    assert_true(shape_equal(tensor_batch_get(b, "score")->shape, SHAPE(rows, 1)));
    assert_true(shape_equal(tensor_batch_get(b, "labels")->shape, SHAPE(rows, 3)));
    assert_true(shape_equal(tensor_batch_get(b, "target")->shape, SHAPE(rows)));
    double *xv = values(x), *tv = values(tags), *score = values(tensor_batch_get(b, "score"));
    double *labels = values(tensor_batch_get(b, "labels")), *target = values(tensor_batch_get(b, "target"));
    double *len_x = values(tensor_batch_get(b, "input_lengths")), *len_t = values(tensor_batch_get(b, "tags_lengths"));
    int64_t max_seen = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t i = (int64_t)(score[r] * 2), len = 1 + i % MAX_LEN;
        assert_true(i >= 0 && i < N && !seen[i]);
        seen[i] = true;
        assert_int_equal((int64_t)len_x[r], len);
        assert_int_equal((int64_t)len_t[r], len);
        assert_int_equal((int64_t)target[r], i % 3);
        for (int bit = 0; bit < 3; bit++) assert_int_equal((int64_t)labels[r * 3 + bit], (i >> bit) & 1);
        for (int64_t j = 0; j < longest; j++) {
            for (int c = 0; c < WIDTH; c++)
                assert_true(xv[(r * longest + j) * WIDTH + c] == (j < len ? (double)(100 * i + 2 * j + c) : 9.0));
            assert_true(tv[r * longest + j] == (j < len ? (double)(10 * i + j) : -100.0));
        }
        if (len > max_seen) max_seen = len;
    }
    assert_int_equal(longest, max_seen); /* padded to the batch's longest, not the dataset's */
    free(xv), free(tv), free(score), free(labels), free(target), free(len_x), free(len_t);
}

static void run_padded_epochs(int workers, bool staged)
{
    DataLoader *dl = base_data_loader_new(tagged(false), padded(workers));
    assert_non_null(dl);
    if (staged) assert_int_equal(data_loader_stage(dl, CPU), 0);
    assert_int_equal(data_loader_num_fields(dl), 7);
    for (int epoch = 0; epoch < 2; epoch++) {
        bool seen[N] = {0};
        data_loader_begin_epoch(dl);
        TensorBatch b;
        int batches = 0;
        for (;;) {
            scope_begin();
            if (!data_loader_next_batch(dl, &b)) {
                scope_end();
                break;
            }
            check_padded_batch(&b, seen);
            batches++;
            scope_end();
        }
        assert_false(data_loader_failed(dl));
        assert_int_equal(batches, (N + BATCH - 1) / BATCH);
        for (int i = 0; i < N; i++) assert_true(seen[i]);
    }
    data_loader_free(dl);
}

static void test_padding_collate(void **state)
{
    (void)state;
    run_padded_epochs(0, false);
    run_padded_epochs(2, false);
    run_padded_epochs(2, true);
}

static void test_default_collate_stacks_equal_lengths(void **state)
{
    (void)state;
    DataLoaderOptions o = padded(1);
    o.collate = (CollateOptions){0};
    DataLoader *dl = base_data_loader_new(tagged(true), o);
    assert_non_null(dl);
    assert_int_equal(data_loader_num_fields(dl), 5); /* no lengths without padding */
    data_loader_begin_epoch(dl);
    TensorBatch b;
    scope_begin();
    assert_true(data_loader_next_batch(dl, &b));
    assert_true(shape_equal(tensor_batch_get(&b, "input")->shape, SHAPE(BATCH, 4, WIDTH)));
    assert_null(tensor_batch_get(&b, "lengths"));
    scope_end();
    data_loader_free(dl);
}

static void test_default_collate_refuses_unequal_lengths(void **state)
{
    (void)state;
    DataLoaderOptions o = padded(2);
    o.collate = (CollateOptions){0};
    DataLoader *dl = base_data_loader_new(tagged(false), o);
    assert_non_null(dl);
    data_loader_begin_epoch(dl);
    TensorBatch b;
    scope_begin();
    expect_failure(!data_loader_next_batch(dl, &b), "a batch of samples of different lengths needs padding",
                   "data_loader.args.collate {\"type\": \"pad\"}");
    scope_end();
    assert_true(data_loader_failed(dl));
    data_loader_free(dl);
}

static void test_bad_fields(void **state)
{
    (void)state;
    /* get() leaves a length unwritten: named with the sample and the field */
    Dataset *ds = tagged(false);
    ((Tagged *)ds)->forget_length = true;
    DataLoaderOptions o = padded(0);
    o.shuffle = false;
    DataLoader *dl = base_data_loader_new(ds, o);
    assert_non_null(dl);
    data_loader_begin_epoch(dl);
    TensorBatch b;
    scope_begin();
    expect_failure(!data_loader_next_batch(dl, &b), "sample 7: field 'tags' has length -1", "expected 1 to 6");
    scope_end();
    data_loader_free(dl);
    /* a padding value that does not fit, or names a fixed field */
    o.collate.values[0] = 0.5;
    expect_error(base_data_loader_new(tagged(false), o), "padding_value 0.5 does not fit field 'tags' (int64)", NULL);
    snprintf(o.collate.names[0], sizeof o.collate.names[0], "score");
    expect_error(base_data_loader_new(tagged(false), o), "padding_value names 'score'", "not a field of variable length");
    /* fields of the same name, or no shape to vary */
    ds = tagged(false);
    ds->fields[2].name = "input";
    expect_error(base_data_loader_new(ds, padded(0)), "two fields are called 'input'", NULL);
    ds = tagged(false);
    ds->fields[4].variable = true;
    expect_error(base_data_loader_new(ds, padded(0)), "variable field 'target' needs a first dimension", NULL);
    /* on_device transforms once: variable lengths are padded per batch */
    o = padded(0);
    o.on_device = true;
    dl = base_data_loader_new(tagged(false), o);
    assert_non_null(dl);
    expect_failure(data_loader_to(dl, CPU) != 0, "on_device: field 'input' of tagged varies in length", NULL);
    data_loader_free(dl);
}

/* A model that takes the batch: the sum of each row's real inputs. */
static Tensor *sum_forward(Module *m, const TensorBatch *b)
{
    (void)m;
    Tensor *x = tensor_batch_require(b, "input", "SumModel");
    Tensor *len = tensor_batch_require(b, "input_lengths", "SumModel");
    if (!x || !len) return NULL;
    Tensor *pos = t_view(tensor_arange(0, (double)x->shape.d[1], 1, DT_I64, CPU), SHAPE(1, -1, 1));
    Tensor *mask = tensor_to_dtype(t_lt(pos, t_view(len, SHAPE(-1, 1, 1))), DT_F32);
    int dims[] = {1, 2};
    return t_sum(t_mul(x, mask), dims, 2, false);
}

static void test_forward_batch(void **state)
{
    (void)state;
    DataLoaderOptions o = padded(0);
    o.shuffle = false;
    DataLoader *dl = base_data_loader_new(tagged(false), o);
    assert_non_null(dl);
    Module *m = module_new("SumModel");
    m->forward_batch = sum_forward;
    data_loader_begin_epoch(dl);
    TensorBatch b;
    scope_begin();
    assert_true(data_loader_next_batch(dl, &b));
    Tensor *out = module_forward_batch(m, &b);
    assert_non_null(out);
    for (int64_t i = 0; i < BATCH; i++) { /* samples 0..7 in order */
        double want = 0;
        for (int64_t j = 0; j < 1 + i % MAX_LEN; j++) want += (double)(200 * i + 4 * j + 1);
        assert_true(fabs(tensor_f32(out)[i] - want) < 1e-3);
    }
    /* a one-tensor model needs "input"; the message lists what the batch has */
    Module *lin = nn_linear(2, 1, true);
    TensorBatch only_tags = {.n = 1, .names = {"tags"}, .tensors = {tensor_batch_get(&b, "tags")}};
    expect_error(module_forward_batch(lin, &only_tags), "needs the batch field 'input'", "has only: tags");
    scope_end();
    module_free(lin);
    module_free(m);
    data_loader_free(dl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_padding_collate),
        cmocka_unit_test(test_default_collate_stacks_equal_lengths),
        cmocka_unit_test(test_default_collate_refuses_unequal_lengths),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_forward_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
