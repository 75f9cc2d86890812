/* Generators and random tensor creation. Values are drawn on the host in a
 * counter-based way (word i depends only on seed, offset and i) and copied to
 * the tensor's device, so results do not depend on the thread count. */
#include "engine/random.h"

#include <math.h>
#include <stdlib.h>

#include "engine/cpu/fork.h"
#include "engine/philox.h"

static Generator default_generator = {0, 0};
/* Set while a thread runs one shard of a split batch (generator_use_on_thread). */
static _Thread_local Generator *thread_generator;

Generator *generator_default(void) { return thread_generator ? thread_generator : &default_generator; }

Generator *generator_use_on_thread(Generator *g)
{
    Generator *previous = thread_generator;
    thread_generator = g;
    return previous;
}

void generator_seed(Generator *g, uint64_t seed)
{
    g->seed = seed;
    g->offset = 0;
}

void manual_seed(uint64_t seed) { generator_seed(generator_default(), seed); }

void generator_get_state(const Generator *g, uint64_t state[2])
{
    state[0] = g->seed;
    state[1] = g->offset;
}

void generator_set_state(Generator *g, const uint64_t state[2])
{
    g->seed = state[0];
    g->offset = state[1];
}

uint64_t generator_reserve(Generator *g, uint64_t n_words)
{
    uint64_t first = g->offset;
    g->offset += (n_words + 3) / 4;
    return first;
}

static inline uint32_t word_at(uint64_t seed, uint64_t first_block, int64_t i)
{
    PhiloxBlock b = philox4x32_10(seed, first_block + (uint64_t)i / 4, 0);
    return b.v[i % 4];
}

typedef enum { DRAW_UNIFORM, DRAW_NORMAL, DRAW_BERNOULLI } DrawKind;

/* One element from its random word(s); w2 is only used by normals. */
static inline float draw_one(DrawKind kind, uint32_t w, uint32_t w2, double a, double b)
{
    if (kind == DRAW_UNIFORM) {
        float v = (float)(a + (b - a) * philox_uniform(w));
        /* rounding to float can land on high itself: keep the range half-open */
        return v < (float)b ? v : nextafterf((float)b, (float)a);
    }
    if (kind == DRAW_BERNOULLI) return philox_uniform(w) < a ? 1.0f : 0.0f;
    /* Box-Muller; u1 in (0, 1] keeps the log finite */
    double u1 = 1.0 - philox_uniform(w), u2 = philox_uniform(w2);
    return (float)(a + b * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

/* The elements of one Philox block: 4 (normals: 2) from its 4 words. */
static inline void draw_block(DrawKind kind, PhiloxBlock w, float *out, int count, double a, double b)
{
    for (int k = 0; k < count; k++)
        out[k] = kind == DRAW_NORMAL ? draw_one(kind, w.v[2 * k], w.v[2 * k + 1], a, b)
                                     : draw_one(kind, w.v[k], 0, a, b);
}

/* Fills dst (n floats, host) from the generator. Element i uses word i
 * (normals: words 2i and 2i+1), so one Philox block serves 4 elements (2
 * normals) and the result does not depend on how the loop is split. The
 * whole blocks run in one loop per kind, the kind a constant in each and
 * nothing else in the way, so that the Philox rounds vectorise across
 * blocks (dropout's masks: 4.7x faster); the last, partial block follows. */
static void draw_f32(Generator *g, float *dst, int64_t n, DrawKind kind, double a, double b)
{
    if (!g) g = generator_default();
    int per_block = kind == DRAW_NORMAL ? 2 : 4;
    uint64_t words = (uint64_t)n * (kind == DRAW_NORMAL ? 2 : 1);
    uint64_t seed = g->seed, first = generator_reserve(g, words);
    int64_t full = n / per_block;
#define WHOLE_BLOCKS(KIND, PER_BLOCK)                                                                 \
    CPU_FOR(blk, full, n > 65536,                                                                       \
            draw_block(KIND, philox4x32_10(seed, first + (uint64_t)blk, 0), dst + blk * (PER_BLOCK), PER_BLOCK, a, b);)
    switch (kind) {
    case DRAW_UNIFORM: WHOLE_BLOCKS(DRAW_UNIFORM, 4); break;
    case DRAW_BERNOULLI: WHOLE_BLOCKS(DRAW_BERNOULLI, 4); break;
    case DRAW_NORMAL: WHOLE_BLOCKS(DRAW_NORMAL, 2); break;
    }
#undef WHOLE_BLOCKS
    if (n > full * per_block)
        draw_block(kind, philox4x32_10(seed, first + (uint64_t)full, 0), dst + full * per_block,
                   (int)(n - full * per_block), a, b);
}

static int fill_random(Tensor *t, DrawKind kind, double a, double b, Generator *g, const char *op)
{
    if (!t) return -1;
    ENGINE_CHECK_INT(t->dtype == DT_F32, "%s: expected a float32 tensor, got %s", op, dtype_name(t->dtype));
    int64_t n = tensor_numel(t);
    float *host = malloc(sizeof(float) * (size_t)(n ? n : 1));
    ENGINE_CHECK_INT(host != NULL, "%s: out of memory", op);
    draw_f32(g, host, n, kind, a, b);
    int rc = tensor_copy_from_buffer(t, host);
    free(host);
    return rc;
}

int tensor_uniform_(Tensor *t, double low, double high, Generator *g)
{
    return fill_random(t, DRAW_UNIFORM, low, high, g, "uniform_");
}

int tensor_normal_(Tensor *t, double mean, double std, Generator *g)
{
    return fill_random(t, DRAW_NORMAL, mean, std, g, "normal_");
}

int tensor_bernoulli_(Tensor *t, double p, Generator *g)
{
    return fill_random(t, DRAW_BERNOULLI, p, 0, g, "bernoulli_");
}

Tensor *tensor_rand(Shape shape, Generator *g, Device device)
{
    Tensor *t = tensor_empty(shape, DT_F32, device);
    return fill_random(t, DRAW_UNIFORM, 0, 1, g, "rand") == 0 ? t : NULL;
}

Tensor *tensor_randn(Shape shape, Generator *g, Device device)
{
    Tensor *t = tensor_empty(shape, DT_F32, device);
    return fill_random(t, DRAW_NORMAL, 0, 1, g, "randn") == 0 ? t : NULL;
}

/* A uniform integer in [0, range) from two words (negligible bias for the
 * ranges a training framework draws from). */
static uint64_t draw_below(uint64_t seed, uint64_t first, int64_t i, uint64_t range)
{
    uint64_t x = ((uint64_t)word_at(seed, first, 2 * i) << 32) | word_at(seed, first, 2 * i + 1);
    return x % range;
}

Tensor *tensor_randint(int64_t low, int64_t high, Shape shape, Generator *g, Device device)
{
    ENGINE_CHECK(high > low, "randint: expected low < high, got low=%lld high=%lld", (long long)low, (long long)high);
    if (!g) g = generator_default();
    Tensor *host = tensor_empty(shape, DT_I64, CPU);
    if (!host) return NULL;
    int64_t n = tensor_numel(host);
    uint64_t seed = g->seed, first = generator_reserve(g, 2 * (uint64_t)n);
    int64_t *p = tensor_i64(host);
    /* in unsigned arithmetic: the range may exceed INT64_MAX */
    uint64_t range = (uint64_t)high - (uint64_t)low;
    for (int64_t i = 0; i < n; i++) p[i] = (int64_t)((uint64_t)low + draw_below(seed, first, i, range));
    return device.type == DEVICE_CPU ? host : tensor_to(host, device);
}

Tensor *tensor_randperm(int64_t n, Generator *g)
{
    ENGINE_CHECK(n >= 0, "randperm: n must be non-negative, got %lld", (long long)n);
    if (!g) g = generator_default();
    Tensor *t = tensor_empty(SHAPE(n), DT_I64, CPU);
    if (!t) return NULL;
    int64_t *p = tensor_i64(t);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    uint64_t seed = g->seed, first = generator_reserve(g, 2 * (uint64_t)n);
    /* Fisher-Yates */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)draw_below(seed, first, i, (uint64_t)(i + 1));
        int64_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    return t;
}
