/* Error handling for the engine.
 *
 * Two kinds, never mixed:
 *  - user errors (bad shapes, bad files, bad arguments): recorded with
 *    engine_error() and reported by returning NULL (tensor functions) or -1
 *    (int functions). Tensor ops given a NULL input return NULL without a new
 *    message, so a whole forward pass can be checked once at the end and the
 *    message still names the first op that failed.
 *  - broken internal invariants: ENGINE_ASSERT aborts with file:line.
 */
#ifndef ENGINE_ERROR_H
#define ENGINE_ERROR_H

#include <stdbool.h>

#if defined(__GNUC__)
#define ENGINE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ENGINE_PRINTF(a, b)
#endif

/* Records a user error. The first error wins until engine_clear_error(), so
 * the root cause is what gets reported. Always returns NULL for convenience. */
void *engine_error(const char *fmt, ...) ENGINE_PRINTF(1, 2);
/* Puts context in front of the recorded error: "<context>: <message>"
 * (just the context when none is recorded), so a caller can say where a
 * failure from below happened without losing its cause. */
void engine_error_context(const char *fmt, ...) ENGINE_PRINTF(1, 2);
/* The recorded message, or "" when there is none. */
const char *engine_last_error(void);
bool engine_has_error(void);
void engine_clear_error(void);

#ifdef __cplusplus /* CUDA sources (.cu) are C++ and include engine headers */
#define ENGINE_NORETURN [[noreturn]]
#else
#define ENGINE_NORETURN _Noreturn
#endif

ENGINE_NORETURN void engine_panic(const char *file, int line, const char *what);

#define ENGINE_ASSERT(cond)                                  \
    do {                                                     \
        if (!(cond)) engine_panic(__FILE__, __LINE__, #cond); \
    } while (0)

/* Marks a branch that cannot be reached unless an invariant is broken. */
#define ENGINE_UNREACHABLE(what) engine_panic(__FILE__, __LINE__, what)

/* Returns NULL (with the message recorded) from the calling function when
 * cond is false. */
#define ENGINE_CHECK(cond, ...)               \
    do {                                      \
        if (!(cond)) {                        \
            engine_error(__VA_ARGS__);        \
            return NULL;                      \
        }                                     \
    } while (0)

/* Same, for functions that return an int status. */
#define ENGINE_CHECK_INT(cond, ...)           \
    do {                                      \
        if (!(cond)) {                        \
            engine_error(__VA_ARGS__);        \
            return -1;                        \
        }                                     \
    } while (0)

#endif
