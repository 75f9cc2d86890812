/* In-memory datasets on 2 MiB pages. A shuffled batch reads its samples
 * from all over the set; on 4 KiB pages almost every sample then costs a
 * TLB miss and a page walk: a batch of 128 MNIST images took 157 us to
 * fill on 4 KiB pages and 84 us on 2 MiB ones (2-core Zen 5 VM), half the
 * loader's CPU time. Transparent huge pages are often granted only where
 * madvise asks for them. Both calls are hints: where the kernel refuses,
 * the memory stays on small pages and works the same. Only the whole 2 MiB
 * pages inside the range are affected. */
#ifndef DATA_LOADER_HUGE_PAGES_H
#define DATA_LOADER_HUGE_PAGES_H

#include <stddef.h>

/* Before the range is first written: its page faults then map huge pages
 * (MADV_HUGEPAGE). */
void huge_pages_before_fill(void *p, size_t bytes);

/* After: also moves the pages already filled onto huge ones now
 * (MADV_COLLAPSE, Linux 6.1; older kernels leave it to khugepaged, if at
 * all). 44 MiB of MNIST on small pages took 68 ms to move. */
void huge_pages_after_fill(void *p, size_t bytes);

#endif
