/* Growable strings and Python-style float formatting for module reprs. */
#include "engine/nn/strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_printf(StrBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ENGINE_ASSERT(need >= 0);
    if (b->len + (size_t)need + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + (size_t)need + 1) cap *= 2;
        b->s = realloc(b->s, cap);
        ENGINE_ASSERT(b->s != NULL);
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

const char *strbuf_str(const StrBuf *b) { return b->s ? b->s : ""; }

void strbuf_free(StrBuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

char *format_py_float(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
        return buf;
    }
    /* the shortest digit string that reads back as v, as Python's repr */
    char sci[40];
    int digits = 1;
    for (; digits <= 17; digits++) {
        snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
        if (strtod(sci, NULL) == v) break;
    }
    char *e = strchr(sci, 'e');
    int exponent = atoi(e + 1);
    *e = '\0';
    /* mantissa digits without sign and point */
    char mant[24];
    int nm = 0;
    for (const char *p = sci; *p; p++)
        if (*p >= '0' && *p <= '9') mant[nm++] = *p;
    mant[nm] = '\0';
    while (nm > 1 && mant[nm - 1] == '0') mant[--nm] = '\0';
    StrBuf out = {0};
    if (v < 0) strbuf_printf(&out, "-");
    if (exponent < -4 || exponent >= 16) {
        /* d.ddde-XX with at least two exponent digits */
        strbuf_printf(&out, "%c%s%se%c%02d", mant[0], nm > 1 ? "." : "", mant + 1, exponent < 0 ? '-' : '+',
                      abs(exponent));
    } else if (exponent < 0) {
        strbuf_printf(&out, "0.");
        for (int i = 0; i < -exponent - 1; i++) strbuf_printf(&out, "0");
        strbuf_printf(&out, "%s", mant);
    } else if (nm <= exponent + 1) {
        strbuf_printf(&out, "%s", mant);
        for (int i = nm; i < exponent + 1; i++) strbuf_printf(&out, "0");
        strbuf_printf(&out, ".0");
    } else {
        strbuf_printf(&out, "%.*s.%s", exponent + 1, mant, mant + exponent + 1);
    }
    snprintf(buf, size, "%s", strbuf_str(&out));
    strbuf_free(&out);
    return buf;
}
