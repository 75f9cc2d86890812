/* Device memory statistics and the allocator cache, as in torch.cuda's
 * memory_allocated / memory_reserved / max_memory_allocated / empty_cache.
 *
 * CUDA memory comes from a caching allocator: a freed block stays reserved
 * for the next allocation of a similar size instead of going back to the
 * driver, so a training step reuses the previous step's memory. "allocated"
 * counts the blocks tensors hold (sizes rounded up to the allocator's block
 * sizes); "reserved" adds the cached free blocks. Large CPU blocks are
 * cached too (engine/cpu/allocator.h, to spare the page faults of mapping
 * them again every step), but the CPU's statistics here stay all zero, so
 * callers that report only devices with nonzero statistics leave the CPU
 * out; the CPU cache's own counters are cpu_allocator_stats (for tests and
 * diagnostics). The CUDA backend runs on one device, cuda:0 (the process's
 * current device; CUDA_VISIBLE_DEVICES picks which). */
#ifndef ENGINE_MEMORY_H
#define ENGINE_MEMORY_H

#include <stddef.h>

#include "engine/dtype.h"

typedef struct {
    size_t allocated;      /* bytes in blocks held by live storages */
    size_t reserved;       /* allocated + cached free blocks */
    size_t peak_allocated; /* highest allocated since start or device_reset_peak */
} MemoryStats;

/* Fills out for device d; zeros for the CPU. Returns -1 with an error for a
 * CUDA device this build or machine does not have. */
int device_memory_stats(Device d, MemoryStats *out);
/* Returns the cached free blocks of d to the driver, or for the CPU to the
 * OS (live tensors keep theirs). No-op for devices that are not there. */
void device_empty_cache(Device d);
/* Restarts peak_allocated from the current allocated bytes. */
void device_reset_peak(Device d);

#endif
