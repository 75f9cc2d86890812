/* See huge_pages.h. */
#include "data_loader/huge_pages.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>

/* Linux's value (asm-generic/mman-common.h, Linux 6.1); glibc 2.36's
 * sys/mman.h does not name it yet. */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

static void advise(void *p, size_t bytes, bool collapse)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = (uintptr_t)p, lo = (start + huge - 1) & ~(huge - 1), hi = (start + bytes) & ~(huge - 1);
    if (!p || hi <= lo) return;
    if (madvise((void *)lo, hi - lo, MADV_HUGEPAGE) == 0 && collapse)
        (void)madvise((void *)lo, hi - lo, MADV_COLLAPSE);
#else
    (void)p, (void)bytes, (void)collapse;
#endif
}

void huge_pages_before_fill(void *p, size_t bytes) { advise(p, bytes, false); }

void huge_pages_after_fill(void *p, size_t bytes) { advise(p, bytes, true); }
