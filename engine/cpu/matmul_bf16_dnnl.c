/* bf16 products through oneDNN's matmul primitive (see matmul_bf16_dnnl.h).
 *
 * The operands stay in our tensors' plain row-major or transposed layouts
 * (strided memory descriptors: no reorders). Creating a primitive costs
 * oneDNN a code generation, so primitives are kept per shape and layout, up
 * to CACHE_MAX of them for the life of the process (a model has a handful
 * of products; past that, a product creates its primitive and drops it).
 * Every call brings its own scratchpad (scratchpad mode "user"), so the
 * shards of a batch split may run one primitive at once. */
#include "engine/cpu/matmul_bf16_dnnl.h"

#ifdef ENGINE_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/dnnl_util.h"

/* Everything a primitive depends on; all int64_t, so no padding bytes
 * (the cache compares keys with memcmp). */
typedef struct {
    int64_t m, n, k, a_rs, a_cs, b_rs, b_cs, ldc, accumulate;
} Key;

typedef struct {
    Key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a, b, c;
    size_t scratch_bytes;
} Entry;

enum { CACHE_MAX = 64 };

static struct {
    pthread_mutex_t lock;
    Entry *entries[CACHE_MAX];
    int count;
} mm = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void destroy_entry(Entry *e)
{
    if (!e) return;
    if (e->prim) dnnl_primitive_destroy(e->prim);
    free(e);
}

/* A primitive for key, and the name of the implementation oneDNN picked
 * (into impl, when not NULL); NULL when oneDNN has none. */
static Entry *create_entry(const Key *k, char *impl, size_t impl_size)
{
    Entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->key = *k;
    dnnl_dims_t a_dims = {k->m, k->k}, b_dims = {k->k, k->n}, c_dims = {k->m, k->n};
    dnnl_dims_t a_strides = {k->a_rs, k->a_cs}, b_strides = {k->b_rs, k->b_cs}, c_strides = {k->ldc, 1};
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post_ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dnnl_memory_desc_init_by_strides(&e->a, 2, a_dims, dnnl_bf16, a_strides) == dnnl_success &&
              dnnl_memory_desc_init_by_strides(&e->b, 2, b_dims, dnnl_bf16, b_strides) == dnnl_success &&
              dnnl_memory_desc_init_by_strides(&e->c, 2, c_dims, dnnl_f32, c_strides) == dnnl_success &&
              dnnl_matmul_desc_init(&desc, &e->a, &e->b, NULL, &e->c) == dnnl_success &&
              dnnl_primitive_attr_create(&attr) == dnnl_success &&
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && k->accumulate) /* c += a @ b: the "sum" post-op adds the old c */
        ok = dnnl_post_ops_create(&post_ops) == dnnl_success &&
             dnnl_post_ops_append_sum(post_ops, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, post_ops) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &desc, attr, cpu_dnnl_engine(), NULL) == dnnl_success;
    const char *name = NULL;
    if (ok && impl && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success && name) {
        strncpy(impl, name, impl_size - 1);
        impl[impl_size - 1] = '\0';
    }
    const dnnl_memory_desc_t *scratch = ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) : NULL;
    e->scratch_bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
    ok = ok && dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        destroy_entry(e);
        return NULL;
    }
    return e;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool native; /* the probe's answer */

/* oneDNN runs bf16 on CPUs without the instructions too, by conversion
 * (slower than f32) or by its reference code: only an implementation named
 * for bf16 or AMX counts. */
static void probe(void)
{
    char impl[128] = "";
    Key key = {.m = 64, .n = 64, .k = 64, .a_rs = 64, .a_cs = 1, .b_rs = 64, .b_cs = 1, .ldc = 64};
    Entry *e = cpu_dnnl_engine() ? create_entry(&key, impl, sizeof impl) : NULL;
    native = e && (strstr(impl, "bf16") || strstr(impl, "amx"));
    destroy_entry(e);
}

/* Asked by every linear, mm and conv2d under bf16: the probe runs once. */
bool dnnl_bf16_matmul_native(void)
{
    pthread_once(&probe_once, probe);
    return native;
}

/* The cached entry for key, or a new one; *owned: the caller destroys it
 * after use (the cache is full). */
static Entry *entry_for(const Key *k, bool *owned)
{
    *owned = false;
    pthread_mutex_lock(&mm.lock);
    Entry *found = NULL;
    for (int i = 0; i < mm.count && !found; i++)
        if (memcmp(&mm.entries[i]->key, k, sizeof *k) == 0) found = mm.entries[i];
    if (!found && cpu_dnnl_engine() && (found = create_entry(k, NULL, 0))) {
        if (mm.count < CACHE_MAX) mm.entries[mm.count++] = found;
        else *owned = true;
    }
    pthread_mutex_unlock(&mm.lock);
    return found;
}

bool dnnl_bf16_matmul(float *c, int64_t ldc, const uint16_t *a, int64_t a_rs, int64_t a_cs, const uint16_t *b,
                      int64_t b_rs, int64_t b_cs, int64_t m, int64_t n, int64_t k, bool accumulate)
{
    Key key = {m, n, k, a_rs, a_cs, b_rs, b_cs, ldc, accumulate};
    bool owned;
    Entry *e = entry_for(&key, &owned);
    if (!e) return false;
    dnnl_memory_t mem_a = NULL, mem_b = NULL, mem_c = NULL, mem_s = NULL;
    dnnl_stream_t stream = NULL;
    void *scratch = NULL;
    dnnl_engine_t engine = cpu_dnnl_engine();
    bool ok = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success &&
              dnnl_memory_create(&mem_a, &e->a, engine, (void *)a) == dnnl_success &&
              dnnl_memory_create(&mem_b, &e->b, engine, (void *)b) == dnnl_success &&
              dnnl_memory_create(&mem_c, &e->c, engine, c) == dnnl_success;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mem_a}, {DNNL_ARG_WEIGHTS, mem_b}, {DNNL_ARG_DST, mem_c}};
    int nargs = 3;
    if (ok && e->scratch_bytes) {
        ok = cpu_dnnl_scratchpad(e->scratch_bytes, &mem_s, &scratch);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem_s};
    }
    ok = ok && dnnl_primitive_execute(e->prim, stream, nargs, args) == dnnl_success;
    if (stream) ok = dnnl_stream_wait(stream) == dnnl_success && ok;
    if (mem_a) dnnl_memory_destroy(mem_a);
    if (mem_b) dnnl_memory_destroy(mem_b);
    if (mem_c) dnnl_memory_destroy(mem_c);
    cpu_dnnl_scratchpad_free(mem_s, scratch);
    if (stream) dnnl_stream_destroy(stream);
    if (owned) destroy_entry(e);
    return ok;
}

#else

bool dnnl_bf16_matmul_native(void) { return false; }

bool dnnl_bf16_matmul(float *c, int64_t ldc, const uint16_t *a, int64_t a_rs, int64_t a_cs, const uint16_t *b,
                      int64_t b_rs, int64_t b_cs, int64_t m, int64_t n, int64_t k, bool accumulate)
{
    (void)c, (void)ldc, (void)a, (void)a_rs, (void)a_cs, (void)b, (void)b_rs, (void)b_cs, (void)m, (void)n, (void)k;
    (void)accumulate;
    return false;
}

#endif
