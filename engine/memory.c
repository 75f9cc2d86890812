/* Memory statistics per device (see memory.h), from the device's backend:
 * the CUDA caching allocator's counters, zeros for the CPU; empty_cache for
 * every allocator that caches. */
#include "engine/memory.h"

#include <string.h>

#include "engine/backend.h"

int device_memory_stats(Device d, MemoryStats *out)
{
    memset(out, 0, sizeof *out);
    if (d.type == DEVICE_CPU) return 0;
    const Backend *b = backend_for_device(d, "memory_stats");
    if (!b) return -1;
    if (b->memory_stats) b->memory_stats(out);
    return 0;
}

/* d's backend when it is loaded and d is a device it serves; loads nothing,
 * since a backend never loaded has no memory to release. */
static const Backend *loaded_device(Device d)
{
    const Backend *b = backend_loaded(d.type);
    if (!b || d.index != 0 || (d.type != DEVICE_CPU && b->device_count() == 0)) return NULL;
    return b;
}

void device_empty_cache(Device d)
{
    const Backend *b = loaded_device(d);
    if (b && b->empty_cache) b->empty_cache();
}

void device_reset_peak(Device d)
{
    const Backend *b = loaded_device(d);
    if (b && b->reset_peak) b->reset_peak();
}
