/* The Dataset's shared parts (see base_dataset.h): the default collate and
 * the per-sample random streams. */
#include "base/base_dataset.h"

#include <stdlib.h>
#include <string.h>

#include "engine/philox.h"

int dataset_check_fields(Dataset *ds)
{
    const char *name = ds->name ? ds->name : "the dataset";
    if (ds->n_fields == 0) {
        ds->fields[0] = (FieldSpec){.name = "input", .dtype = DT_F32, .shape = ds->sample_shape};
        ds->fields[1] = (FieldSpec){.name = "target", .dtype = DT_I64, .shape = {.ndim = 0}};
        ds->n_fields = 2;
    }
    ENGINE_CHECK_INT(ds->n_fields > 0 && ds->n_fields <= DATASET_MAX_FIELDS,
                     "%s: a sample has 1 to %d fields, the dataset declares %d", name, DATASET_MAX_FIELDS,
                     ds->n_fields);
    for (int k = 0; k < ds->n_fields; k++) {
        const FieldSpec *f = &ds->fields[k];
        ENGINE_CHECK_INT(f->name && f->name[0], "%s: field %d has no name", name, k);
        ENGINE_CHECK_INT(dataset_field(ds, f->name) == k, "%s: two fields are called '%s'", name, f->name);
        ENGINE_CHECK_INT(f->dtype >= 0 && f->dtype < DT_COUNT, "%s: field '%s' has no valid dtype", name, f->name);
        /* a batch adds a dimension in front */
        ENGINE_CHECK_INT(f->shape.ndim >= 0 && f->shape.ndim < MAX_DIMS, "%s: field '%s' has %d dimensions", name,
                         f->name, f->shape.ndim);
        ENGINE_CHECK_INT(!f->variable || (f->shape.ndim >= 1 && f->shape.d[0] >= 1),
                         "%s: variable field '%s' needs a first dimension (its longest length), shape %s", name,
                         f->name, shape_str(f->shape));
        size_t bytes;
        if (!shape_check(f->shape, dtype_size(f->dtype), f->name, &bytes)) {
            engine_error_context("%s: field '%s'", name, f->name);
            return -1;
        }
    }
    return 0;
}

int dataset_field(const Dataset *ds, const char *name)
{
    for (int k = 0; k < ds->n_fields; k++)
        if (ds->fields[k].name && strcmp(ds->fields[k].name, name) == 0) return k;
    return -1;
}

int dataset_collate(const Dataset *ds, const int64_t *idx, int n, const SampleContext *ctx, Batch *out)
{
    if (ds->collate) return ds->collate(ds, idx, n, ctx, out);
    ENGINE_ASSERT(ds->get != NULL);
    /* a shuffled batch reads its samples from all over the set: each is a
     * cache miss unless asked for ahead (an MNIST image: 13 lines of 64
     * bytes) */
    enum { PREFETCH_AHEAD = 4 };
    for (int i = 0; ds->prefetch && i < PREFETCH_AHEAD && i < n; i++) ds->prefetch(ds, idx[i]);
    for (int i = 0; i < n; i++) {
        if (ds->prefetch && i + PREFETCH_AHEAD < n) ds->prefetch(ds, idx[i + PREFETCH_AHEAD]);
        Sample s;
        memset(&s, 0, sizeof s);
        for (int k = 0; k < ds->n_fields; k++) {
            int64_t row = shape_numel(ds->fields[k].shape) * (int64_t)dtype_size(ds->fields[k].dtype);
            s.data[k] = (char *)out->data[k] + (int64_t)i * row;
            s.length[k] = -1; /* a get() that forgets a variable field's length is caught */
        }
        if (ds->get(ds, idx[i], ctx, &s)) return -1;
        for (int k = 0; k < ds->n_fields; k++)
            if (ds->fields[k].variable) out->length[k][i] = s.length[k];
    }
    return 0;
}

void dataset_free(Dataset *ds)
{
    if (!ds) return;
    if (ds->destroy) ds->destroy(ds);
    free(ds);
}

/* splitmix64's finaliser: spreads a seed over all 64 bits. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

SampleRng sample_rng(const SampleContext *ctx, int64_t index)
{
    /* its own key, so that these streams never meet the shuffling
     * generator's (keyed by the seed itself) */
    SampleRng r = {.key = mix64(ctx->seed ^ 0x7472616E73666F72ull), .index = (uint64_t)index,
                   .epoch = (uint64_t)ctx->epoch, .used = 4};
    return r;
}

uint32_t sample_rng_u32(SampleRng *r)
{
    if (r->used == 4) {
        /* counter: (sample index, epoch in the high 32 bits and the block in the low ones) */
        PhiloxBlock b = philox4x32_10(r->key, r->index, (r->epoch << 32) | r->block);
        r->block++;
        for (int i = 0; i < 4; i++) r->words[i] = b.v[i];
        r->used = 0;
    }
    return r->words[r->used++];
}

double sample_rng_uniform(SampleRng *r)
{
    uint64_t hi = sample_rng_u32(r) >> 5, lo = sample_rng_u32(r) >> 6; /* 27 + 26 bits */
    return (double)(hi * 67108864.0 + lo) * (1.0 / 9007199254740992.0);
}

double sample_rng_range(SampleRng *r, double low, double high) { return low + (high - low) * sample_rng_uniform(r); }

int64_t sample_rng_int(SampleRng *r, int64_t low, int64_t high)
{
    ENGINE_ASSERT(high >= low && (uint64_t)(high - low) < ((uint64_t)1 << 62));
    uint64_t span = (uint64_t)(high - low) + 1;
    /* rejection of the top partial range: exactly uniform */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span;
    for (;;) {
        uint64_t v = ((uint64_t)sample_rng_u32(r) << 32) | sample_rng_u32(r);
        if (v < limit) return low + (int64_t)(v % span);
    }
}
