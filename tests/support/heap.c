/* The process's allocated bytes (see heap.h). */
#include "tests/support/heap.h"

#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
size_t heap_allocated_bytes(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
size_t heap_allocated_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif
