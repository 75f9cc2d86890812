/* Bytes the process has allocated right now, for tests that check memory
 * stays flat: glibc's heap plus its mmapped blocks (large allocations bypass
 * the heap). ASan replaces malloc, so mallinfo2 would see nothing there: its
 * own allocator's count is used instead. */
#ifndef TESTS_SUPPORT_HEAP_H
#define TESTS_SUPPORT_HEAP_H

#include <stddef.h>

size_t heap_allocated_bytes(void);

#endif
