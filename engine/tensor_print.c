/* PyTorch's tensor repr (see tensor_print.h), following torch/_tensor_str.py
 * of PyTorch 1.13 step by step: a _Formatter chooses one width and one
 * notation for all the elements shown, _vector_str wraps rows at the line
 * width, _tensor_str_with_formatter nests the dims, and _add_suffixes
 * appends device, dtype and autograd information. The elements are first
 * copied to the host in row-major order; floats are formatted as the
 * doubles Python sees (float(x) of a float32). */
#include "engine/tensor_print.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/autograd.h"
#include "engine/nn/strbuf.h"

TensorPrintOptions tensor_print_defaults(void)
{
    return (TensorPrintOptions){.precision = 4, .threshold = 1000, .edgeitems = 3, .linewidth = 80, .sci_mode = -1};
}

typedef struct {
    const TensorPrintOptions *o;
    bool floating;
    bool int_mode, sci_mode;
    int max_width;
    const void *data; /* row-major host copy */
    DType dtype;
    Shape shape;
    int64_t strides[MAX_DIMS]; /* row-major, in elements */
    bool summarize;
} Printer;

static double value_f(const Printer *p, int64_t i) { return (double)((const float *)p->data)[i]; }

static int64_t value_i(const Printer *p, int64_t i)
{
    return p->dtype == DT_I64 ? ((const int64_t *)p->data)[i] : (int64_t)((const uint8_t *)p->data)[i];
}

/* One element as Python formats it before padding: "{:.4f}", "{:.4e}",
 * "{:.0f}" (and "." after a finite whole float), or "{}" of an int. Python
 * writes every NaN as "nan", where C would write "-nan" for a negative one. */
static int format_plain(const Printer *p, int64_t i, char *buf, size_t size)
{
    if (!p->floating) return snprintf(buf, size, "%lld", (long long)value_i(p, i));
    double v = value_f(p, i);
    if (isnan(v)) return snprintf(buf, size, "nan");
    if (p->sci_mode) return snprintf(buf, size, "%.*e", p->o->precision, v);
    if (p->int_mode) return snprintf(buf, size, isinf(v) ? "%.0f" : "%.0f.", v);
    return snprintf(buf, size, "%.*f", p->o->precision, v);
}

/* Calls visit(p, flat index, ctx) for every element shown: all of them, or
 * with summarize only the edgeitems at each end of every long dim (PyTorch's
 * get_summarized_data). */
typedef void (*Visit)(Printer *p, int64_t index, void *ctx);

static void visit_shown(Printer *p, int dim, int64_t base, Visit visit, void *ctx)
{
    if (dim == p->shape.ndim) {
        visit(p, base, ctx);
        return;
    }
    int64_t n = p->shape.d[dim], edge = p->o->edgeitems;
    bool cut = p->summarize && n > 2 * edge;
    for (int64_t i = 0; i < n; i++) {
        if (cut && i == edge) i = n - edge;
        visit_shown(p, dim + 1, base + i * p->strides[dim], visit, ctx);
    }
}

/* What _Formatter.__init__ gathers over the nonzero finite floats. */
typedef struct {
    int64_t count;
    double min_abs, max_abs;
    bool all_whole;
} FloatStats;

static void gather_float(Printer *p, int64_t i, void *ctx)
{
    FloatStats *s = ctx;
    double v = value_f(p, i);
    if (!isfinite(v) || v == 0) return;
    double a = fabs(v);
    if (s->count == 0 || a < s->min_abs) s->min_abs = a;
    if (s->count == 0 || a > s->max_abs) s->max_abs = a;
    if (v != ceil(v)) s->all_whole = false;
    s->count++;
}

static void widen_float(Printer *p, int64_t i, void *ctx)
{
    double v = value_f(p, i);
    if (!isfinite(v) || v == 0) return;
    char buf[512];
    int n = format_plain(p, i, buf, sizeof buf);
    /* whole floats are measured without their point, plus one for it */
    if (n > p->max_width) p->max_width = n;
}

static void widen_int(Printer *p, int64_t i, void *ctx)
{
    char buf[32];
    int n = format_plain(p, i, buf, sizeof buf);
    if (n > p->max_width) p->max_width = n;
}

/* _Formatter.__init__: the notation and the width of every element. */
static void choose_format(Printer *p)
{
    p->int_mode = true;
    p->sci_mode = false;
    p->max_width = 1;
    if (!p->floating) {
        visit_shown(p, 0, 0, widen_int, NULL);
        return;
    }
    FloatStats s = {.all_whole = true};
    visit_shown(p, 0, 0, gather_float, &s);
    if (s.count == 0) return; /* PyTorch returns here, before applying the sci_mode option */
    p->int_mode = s.all_whole;
    bool wide = s.max_abs / s.min_abs > 1000.0 || s.max_abs > 1.0e8;
    p->sci_mode = p->int_mode ? wide : wide || s.min_abs < 1.0e-4;
    visit_shown(p, 0, 0, widen_float, NULL);
    if (p->o->sci_mode >= 0) p->sci_mode = p->o->sci_mode != 0;
}

/* _Formatter.format: the element padded on the left to the common width
 * (never cut when longer, e.g. "nan" beside single digits). */
static void append_element(const Printer *p, int64_t i, StrBuf *b)
{
    char buf[512];
    int n = format_plain(p, i, buf, sizeof buf);
    strbuf_printf(b, "%*s%s", n < p->max_width ? p->max_width - n : 0, "", buf);
}

/* _vector_str: the last dim, wrapped at the line width. */
static void append_vector(const Printer *p, int64_t base, int indent, StrBuf *b)
{
    int64_t n = p->shape.d[p->shape.ndim - 1], stride = p->strides[p->shape.ndim - 1], edge = p->o->edgeitems;
    int element_length = p->max_width + 2;
    /* max(1, floor((linewidth - indent) / element_length)): a deep indent still puts one per line */
    int64_t per_line = p->o->linewidth > indent ? (p->o->linewidth - indent) / element_length : 1;
    if (per_line < 1) per_line = 1;
    bool cut = p->summarize && n > 2 * edge;
    int64_t shown = cut ? 2 * edge + 1 : n; /* the " ..." counts as an element of a line */
    strbuf_printf(b, "[");
    for (int64_t k = 0; k < shown; k++) {
        if (k > 0) {
            if (k % per_line == 0) strbuf_printf(b, ",\n%*s", indent + 1, "");
            else strbuf_printf(b, ", ");
        }
        if (cut && k == edge) {
            strbuf_printf(b, " ...");
            continue;
        }
        int64_t i = cut && k > edge ? n - (shown - k) : k;
        append_element(p, base + i * stride, b);
    }
    strbuf_printf(b, "]");
}

/* _tensor_str_with_formatter: dims nested, sub-tensors separated by a comma,
 * (dims left - 1) blank lines and the indent. */
static void append_dims(const Printer *p, int dim, int64_t base, int indent, StrBuf *b)
{
    int left = p->shape.ndim - dim;
    if (left == 0) {
        append_element(p, base, b);
        return;
    }
    if (left == 1) {
        append_vector(p, base, indent, b);
        return;
    }
    int64_t n = p->shape.d[dim], edge = p->o->edgeitems;
    bool cut = p->summarize && n > 2 * edge;
    strbuf_printf(b, "[");
    bool first = true;
    for (int64_t i = 0; i < n; i++) {
        if (!first) strbuf_printf(b, ",%.*s%*s", left - 1, "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n", indent + 1, "");
        first = false;
        if (cut && i == edge) {
            strbuf_printf(b, "...");
            i = n - edge - 1;
            continue;
        }
        append_dims(p, dim + 1, base + i * p->strides[dim], indent + 1, b);
    }
    strbuf_printf(b, "]");
}

/* Python's str(tuple(shape)): "(2, 0)", "(0,)". */
static void append_shape_tuple(Shape s, StrBuf *b)
{
    strbuf_printf(b, "(");
    for (int i = 0; i < s.ndim; i++) strbuf_printf(b, "%s%lld", i ? ", " : "", (long long)s.d[i]);
    strbuf_printf(b, s.ndim == 1 ? ",)" : ")");
}

/* _add_suffixes: ", suffix" while the line stays within the width, else on
 * a new line at the indent. */
static void append_suffixes(StrBuf *b, char suffixes[][160], int n, int indent, int linewidth)
{
    const char *s = strbuf_str(b);
    const char *nl = strrchr(s, '\n');
    /* PyTorch: len(str) - str.rfind("\n") + 1, rfind giving -1 without a newline */
    int64_t last_line_len = (int64_t)b->len - (nl ? (int64_t)(nl - s) : -1) + 1;
    for (int k = 0; k < n; k++) {
        int64_t len = (int64_t)strlen(suffixes[k]);
        if (last_line_len + len + 2 > linewidth) {
            strbuf_printf(b, ",\n%*s%s", indent, "", suffixes[k]);
            last_line_len = indent + len;
        } else {
            strbuf_printf(b, ", %s", suffixes[k]);
            last_line_len += len + 2;
        }
    }
    strbuf_printf(b, ")");
}

char *tensor_repr(const Tensor *t, const TensorPrintOptions *opts)
{
    ENGINE_CHECK(t != NULL, "tensor_repr: no tensor (NULL)");
    TensorPrintOptions o = opts ? *opts : tensor_print_defaults();
    ENGINE_CHECK(o.precision >= 0 && o.precision <= 100 && o.threshold >= 0 && o.edgeitems >= 1 &&
                     o.edgeitems <= INT32_MAX / 2 && o.linewidth >= 1 && o.linewidth <= 100000 && o.sci_mode >= -1 &&
                     o.sci_mode <= 1,
                 "tensor_repr: print options out of range (precision %d, threshold %lld, edgeitems %d, linewidth %d, "
                 "sci_mode %d)",
                 o.precision, (long long)o.threshold, o.edgeitems, o.linewidth, o.sci_mode);
    Printer p = {.o = &o, .dtype = t->dtype, .shape = t->shape, .floating = t->dtype == DT_F32};
    int64_t numel = tensor_numel(t);
    const int indent = 7; /* strlen("tensor(") */
    StrBuf b = {0};
    char suffixes[4][160];
    int n_suffixes = 0;
    if (tensor_is_cuda(t)) snprintf(suffixes[n_suffixes++], 160, "device='%s'", device_name(tensor_device(t)));
    strbuf_printf(&b, "tensor(");
    if (numel == 0) {
        /* the shape, unless (0,), and the dtype even for int64: nothing shows the type */
        strbuf_printf(&b, "[]");
        if (t->shape.ndim != 1) {
            StrBuf shape = {0};
            append_shape_tuple(t->shape, &shape);
            snprintf(suffixes[n_suffixes++], 160, "size=%s", strbuf_str(&shape));
            strbuf_free(&shape);
        }
        if (t->dtype != DT_F32) snprintf(suffixes[n_suffixes++], 160, "dtype=torch.%s", dtype_name(t->dtype));
    } else {
        size_t bytes = (size_t)numel * dtype_size(t->dtype); /* numel * size fits: the tensor exists */
        void *data = malloc(bytes);
        ENGINE_CHECK(data != NULL, "tensor_repr: out of memory copying %lld elements to the host", (long long)numel);
        if (tensor_copy_to_buffer(t, data) != 0) {
            free(data);
            strbuf_free(&b);
            return NULL;
        }
        if (dtype_is_lowp(t->dtype)) { /* bf16/f16 print from their exact f32 values, as torch's do */
            float *f = malloc((size_t)numel * sizeof(float));
            if (!f) {
                free(data);
                strbuf_free(&b);
                return engine_error("tensor_repr: out of memory copying %lld elements to the host", (long long)numel);
            }
            const uint16_t *h = data;
            for (int64_t i = 0; i < numel; i++) f[i] = t->dtype == DT_BF16 ? bf16_to_f32(h[i]) : f16_to_f32(h[i]);
            free(data);
            data = f;
            p.dtype = DT_F32;
            p.floating = true;
        }
        p.data = data;
        int64_t stride = 1;
        for (int d = t->shape.ndim - 1; d >= 0; d--) {
            p.strides[d] = stride;
            stride *= t->shape.d[d];
        }
        p.summarize = numel > o.threshold;
        choose_format(&p);
        append_dims(&p, 0, 0, indent, &b);
        free(data);
        if (t->dtype != DT_F32 && t->dtype != DT_I64)
            snprintf(suffixes[n_suffixes++], 160, "dtype=torch.%s", dtype_name(t->dtype));
    }
    if (t->grad_fn) snprintf(suffixes[n_suffixes++], 160, "grad_fn=<%s>", t->grad_fn->name);
    else if (t->requires_grad) snprintf(suffixes[n_suffixes++], 160, "requires_grad=True");
    append_suffixes(&b, suffixes, n_suffixes, indent, o.linewidth);
    return b.s; /* the buffer, handed over */
}

int tensor_print(const Tensor *t, FILE *f)
{
    char *s = tensor_repr(t, NULL);
    if (!s) return -1;
    int rc = fprintf(f, "%s\n", s) < 0 ? -1 : 0;
    free(s);
    ENGINE_CHECK_INT(rc == 0, "tensor_print: writing failed");
    return 0;
}
