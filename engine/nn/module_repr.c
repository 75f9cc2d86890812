/* PyTorch's module repr (Module.__repr__ with _addindent) and the
 * pytorch-template summary that appends the trainable-parameter count. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine/nn/module.h"
#include "engine/nn/strbuf.h"

/* Appends s with every line after the first indented by two spaces. */
static void append_indented(StrBuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        strbuf_printf(b, "%c", *p);
        if (*p == '\n') strbuf_printf(b, "  ");
    }
}

static void repr_into(const Module *m, StrBuf *b)
{
    char extra[512] = "";
    if (m->extra_repr) m->extra_repr(m, extra, sizeof extra);
    strbuf_printf(b, "%s(", m->type_name);
    if (m->children.n == 0) {
        /* one line of extra_repr stays on the same line, as PyTorch's */
        if (strchr(extra, '\n')) {
            strbuf_printf(b, "\n  ");
            append_indented(b, extra);
            strbuf_printf(b, "\n");
        } else {
            strbuf_printf(b, "%s", extra);
        }
    } else {
        if (extra[0]) {
            strbuf_printf(b, "\n  ");
            append_indented(b, extra);
        }
        for (int i = 0; i < m->children.n; i++) {
            StrBuf child = {0};
            repr_into(m->children.items[i], &child);
            strbuf_printf(b, "\n  (%s): ", m->children.names[i]);
            append_indented(b, strbuf_str(&child));
            strbuf_free(&child);
        }
        strbuf_printf(b, "\n");
    }
    strbuf_printf(b, ")");
}

char *module_repr(const Module *m)
{
    StrBuf b = {0};
    repr_into(m, &b);
    return b.s;
}

void module_summary(const Module *m, FILE *f)
{
    char *r = module_repr(m);
    fprintf(f, "%s\nTrainable parameters: %" PRId64 "\n", r, module_num_parameters(m, true));
    free(r);
}
