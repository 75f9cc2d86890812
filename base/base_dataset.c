/* The Dataset's shared parts (see base_dataset.h): the default collate and
 * the per-sample random streams. */
#include "base/base_dataset.h"

#include <stdlib.h>

#include "engine/philox.h"

int dataset_collate(const Dataset *ds, const int64_t *idx, int n, const SampleContext *ctx, Batch *out)
{
    if (ds->collate) return ds->collate(ds, idx, n, ctx, out);
    ENGINE_ASSERT(ds->get != NULL);
    int64_t per = shape_numel(ds->sample_shape);
    for (int i = 0; i < n; i++) {
        Sample s = {.input = out->input + (int64_t)i * per, .target = 0};
        if (ds->get(ds, idx[i], ctx, &s)) return -1;
        out->target[i] = s.target;
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
