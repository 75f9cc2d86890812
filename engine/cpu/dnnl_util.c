/* The shared oneDNN engine and scratchpads (see dnnl_util.h). */
#include "engine/cpu/dnnl_util.h"

#ifdef ENGINE_HAVE_DNNL

#include <pthread.h>

#include "engine/cpu/allocator.h"

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine; /* NULL: oneDNN could not start */

static void make_engine(void)
{
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

dnnl_engine_t cpu_dnnl_engine(void)
{
    pthread_once(&engine_once, make_engine);
    return engine;
}

bool cpu_dnnl_scratchpad(size_t bytes, dnnl_memory_t *mem, void **buffer)
{
    *mem = NULL;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {(dnnl_dim_t)bytes};
    if (!cpu_dnnl_engine() || dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_x) != dnnl_success ||
        !(*buffer = cpu_caching_alloc(bytes)))
        return false;
    if (dnnl_memory_create(mem, &md, engine, *buffer) != dnnl_success) {
        cpu_caching_free(*buffer);
        *mem = NULL;
        return false;
    }
    return true;
}

void cpu_dnnl_scratchpad_free(dnnl_memory_t mem, void *buffer)
{
    if (mem) dnnl_memory_destroy(mem);
    cpu_caching_free(buffer);
}

#else
typedef int dnnl_util_unused; /* an empty translation unit is not ISO C */
#endif
