/* Memory statistics per device (see memory.h): the CUDA caching allocator
 * in CUDA builds, zeros for the CPU; empty_cache for both allocators. */
#include "engine/memory.h"

#include <string.h>

#include "engine/cpu/allocator.h"
#include "engine/error.h"
#ifdef ENGINE_HAVE_CUDA
#include "engine/cuda/allocator.h"
#include "engine/cuda/runtime.h"
#endif

#ifdef ENGINE_HAVE_CUDA
/* The backend runs on one device, the process's current one (cuda:0). */
static bool cuda_device_valid(Device d) { return d.index == 0 && cuda_device_count() > 0; }
#endif

/* Whether d names a CUDA device this process has; records an error when not. */
static bool cuda_device_present(Device d, const char *op)
{
#ifdef ENGINE_HAVE_CUDA
    if (!cuda_device_valid(d)) {
        engine_error("%s: invalid device %s (%d CUDA devices visible; the CUDA backend runs on cuda:0)", op,
                     device_name(d), cuda_device_count());
        return false;
    }
    return true;
#else
    engine_error("%s: device %s: this build has no CUDA support", op, device_name(d));
    return false;
#endif
}

int device_memory_stats(Device d, MemoryStats *out)
{
    memset(out, 0, sizeof *out);
    if (d.type == DEVICE_CPU) return 0;
    if (!cuda_device_present(d, "memory_stats")) return -1;
#ifdef ENGINE_HAVE_CUDA
    cuda_allocator_stats(out);
#endif
    return 0;
}

void device_empty_cache(Device d)
{
    if (d.type == DEVICE_CPU) {
        cpu_allocator_empty_cache();
        return;
    }
#ifdef ENGINE_HAVE_CUDA
    if (d.type == DEVICE_CUDA && cuda_device_valid(d)) cuda_allocator_empty_cache();
#else
    (void)d;
#endif
}

void device_reset_peak(Device d)
{
#ifdef ENGINE_HAVE_CUDA
    if (d.type == DEVICE_CUDA && cuda_device_valid(d)) cuda_allocator_reset_peak();
#else
    (void)d;
#endif
}
