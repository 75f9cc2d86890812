/* A growable string for building messages and module reprs. */
#ifndef ENGINE_NN_STRBUF_H
#define ENGINE_NN_STRBUF_H

#include <stddef.h>

#include "engine/error.h"

typedef struct {
    char *s; /* always NUL-terminated once anything was appended */
    size_t len, cap;
} StrBuf;

/* Appends printf-formatted text. */
void strbuf_printf(StrBuf *b, const char *fmt, ...) ENGINE_PRINTF(2, 3);
/* The text ("" when empty); stays owned by b. */
const char *strbuf_str(const StrBuf *b);
void strbuf_free(StrBuf *b);

/* Formats v as Python's repr(float) does ("0.1", "1e-05", "1.0", "inf"),
 * which is what PyTorch's reprs print. Returns buf. */
char *format_py_float(double v, char *buf, size_t size);

#endif
