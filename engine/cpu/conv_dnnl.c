/* CPU convolutions through oneDNN (see conv_dnnl.h).
 *
 * Our tensors are NCHW and OIHW; oneDNN's fast kernels want blocked layouts
 * (nChw16c and the like), so each call reorders the operands into the
 * layouts the primitive picked ("any"), runs it, and reorders the result
 * back. The reorders are passes over memory; the convolutions they feed are
 * hundreds of times more arithmetic at ResNet's sizes.
 *
 * Creating a primitive costs milliseconds (oneDNN generates its code), so
 * primitives are kept per shape in a small cache. Execution is thread-safe:
 * every call brings its own buffers and scratchpad (scratchpad mode "user"),
 * so the shards of a batch split may run the same primitive at once. */
#include "engine/cpu/conv_dnnl.h"

#ifdef ENGINE_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/allocator.h"
#include "engine/cpu/dnnl_util.h"

typedef enum { KIND_FORWARD, KIND_BACKWARD_DATA, KIND_BACKWARD_WEIGHTS } Kind;

/* Everything a primitive depends on; all int64_t, so no padding bytes
 * (the cache compares keys with memcmp). */
typedef struct {
    int64_t kind;
    int64_t n, c, h, w, o, oh, ow, kh, kw;
    int64_t sh, sw, ph, pw, pr_h, pr_w, dh, dw, groups;
    int64_t bias;
    int64_t bf16; /* the two inputs are bf16 (the output, and a bias, f32) */
} Key;

/* An operand of the primitive: its layout in our tensor (user) and in the
 * primitive (internal), and the reorder between them when they differ. */
typedef struct {
    dnnl_memory_desc_t user, internal;
    dnnl_primitive_t reorder; /* user -> internal for inputs, internal -> user for the output; NULL if equal */
} Operand;

enum { OP_A, OP_B, OP_OUT, N_OPS }; /* the two inputs and the output of each kind (see args_of) */

typedef struct Entry {
    Key key;
    dnnl_primitive_t prim;
    Operand op[N_OPS];
    dnnl_memory_desc_t bias; /* [O], plain */
    size_t scratch_bytes;
    int users; /* calls running it: it is not dropped from the cache until they end */
    struct Entry *next;
} Entry;

enum { CACHE_MAX = 64 };

static struct {
    pthread_mutex_t lock;
    Entry *entries;
    int count;
} dnnl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void destroy_entry(Entry *e)
{
    if (e->prim) dnnl_primitive_destroy(e->prim);
    for (int i = 0; i < N_OPS; i++)
        if (e->op[i].reorder) dnnl_primitive_destroy(e->op[i].reorder);
    free(e);
}

/* The reorder from one layout to the other, or NULL when they are equal or
 * it cannot be made (*ok false then). */
static dnnl_primitive_t make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, bool *ok)
{
    if (dnnl_memory_desc_equal(from, to)) return NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_engine_t engine = cpu_dnnl_engine();
    if (dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL) != dnnl_success ||
        dnnl_primitive_create(&prim, pd) != dnnl_success)
        *ok = false;
    if (pd) dnnl_primitive_desc_destroy(pd);
    return prim;
}

/* The operand whose user layout is md and internal layout the primitive's
 * answer to query; out: the reorder runs internal -> user. */
static bool set_operand(Operand *op, const dnnl_memory_desc_t *md, dnnl_primitive_desc_t pd, dnnl_query_t query, bool out)
{
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, query, 0);
    if (!chosen) return false;
    op->user = *md;
    op->internal = *chosen;
    bool ok = true;
    op->reorder = out ? make_reorder(&op->internal, &op->user, &ok) : make_reorder(&op->user, &op->internal, &ok);
    return ok;
}

/* A new entry for key, or NULL when oneDNN has no primitive for it. */
static Entry *create_entry(const Key *k)
{
    dnnl_memory_desc_t x_md, y_md, w_md, b_md;
    dnnl_dims_t x_dims = {k->n, k->c, k->h, k->w}, y_dims = {k->n, k->o, k->oh, k->ow};
    dnnl_dims_t w_dims = {k->groups, k->o / k->groups, k->c / k->groups, k->kh, k->kw}, b_dims = {k->o};
    dnnl_dims_t strides = {k->sh, k->sw}, dilates = {k->dh - 1, k->dw - 1}, pad_l = {k->ph, k->pw},
                pad_r = {k->pr_h, k->pr_w};
    bool grouped = k->groups > 1;
    if (!grouped) memmove(w_dims, w_dims + 1, 4 * sizeof w_dims[0]);
    /* bf16: each kind's inputs bf16, its output f32; the forward hint of the
     * backward kinds is the forward of the same layer (bf16 in, f32 out) */
    dnnl_data_type_t in = k->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t x_dt = k->kind == KIND_BACKWARD_DATA ? dnnl_f32 : in;
    dnnl_data_type_t y_dt = k->kind == KIND_FORWARD ? dnnl_f32 : in;
    dnnl_data_type_t w_dt = k->kind == KIND_BACKWARD_WEIGHTS ? dnnl_f32 : in;
    /* the primitive picks its layouts: "any" */
    dnnl_memory_desc_t x_any, y_any, w_any, x_fwd, y_fwd, w_fwd;
    if (dnnl_memory_desc_init_by_tag(&x_md, 4, x_dims, x_dt, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&y_md, 4, y_dims, y_dt, dnnl_nchw) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&w_md, grouped ? 5 : 4, w_dims, w_dt, grouped ? dnnl_goihw : dnnl_oihw) !=
            dnnl_success ||
        dnnl_memory_desc_init_by_tag(&b_md, 1, b_dims, dnnl_f32, dnnl_x) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&x_any, 4, x_dims, x_dt, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&y_any, 4, y_dims, y_dt, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&w_any, grouped ? 5 : 4, w_dims, w_dt, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&x_fwd, 4, x_dims, in, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&y_fwd, 4, y_dims, dnnl_f32, dnnl_format_tag_any) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&w_fwd, grouped ? 5 : 4, w_dims, in, dnnl_format_tag_any) != dnnl_success)
        return NULL;

    Entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->key = *k;
    e->bias = b_md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_convolution_desc_t fwd_desc, desc;
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
    bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success &&
              dnnl_dilated_convolution_forward_desc_init(&fwd_desc, dnnl_forward_training, dnnl_convolution_direct,
                                                         &x_fwd, &w_fwd, k->bias ? &b_md : NULL, &y_fwd, strides,
                                                         dilates, pad_l, pad_r) == dnnl_success &&
              dnnl_primitive_desc_create(&fwd_pd, &fwd_desc, attr, cpu_dnnl_engine(), NULL) == dnnl_success;
    if (ok && k->kind == KIND_FORWARD) {
        pd = fwd_pd;
        fwd_pd = NULL;
        ok = set_operand(&e->op[OP_A], &x_md, pd, dnnl_query_src_md, false) &&
             set_operand(&e->op[OP_B], &w_md, pd, dnnl_query_weights_md, false) &&
             set_operand(&e->op[OP_OUT], &y_md, pd, dnnl_query_dst_md, true);
    } else if (ok && k->kind == KIND_BACKWARD_DATA) {
        ok = dnnl_dilated_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &x_any, &w_any, &y_any,
                                                              strides, dilates, pad_l, pad_r) == dnnl_success &&
             dnnl_primitive_desc_create(&pd, &desc, attr, cpu_dnnl_engine(), fwd_pd) == dnnl_success &&
             set_operand(&e->op[OP_A], &y_md, pd, dnnl_query_diff_dst_md, false) &&
             set_operand(&e->op[OP_B], &w_md, pd, dnnl_query_weights_md, false) &&
             set_operand(&e->op[OP_OUT], &x_md, pd, dnnl_query_diff_src_md, true);
    } else if (ok) {
        ok = dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &x_any, &w_any, NULL,
                                                                 &y_any, strides, dilates, pad_l, pad_r) ==
                 dnnl_success &&
             dnnl_primitive_desc_create(&pd, &desc, attr, cpu_dnnl_engine(), fwd_pd) == dnnl_success &&
             set_operand(&e->op[OP_A], &x_md, pd, dnnl_query_src_md, false) &&
             set_operand(&e->op[OP_B], &y_md, pd, dnnl_query_diff_dst_md, false) &&
             set_operand(&e->op[OP_OUT], &w_md, pd, dnnl_query_diff_weights_md, true);
    }
    if (ok) {
        const dnnl_memory_desc_t *scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        e->scratch_bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
        ok = dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    }
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        destroy_entry(e);
        return NULL;
    }
    return e;
}

/* Drops the least recently used entry that no call is running, if any. */
static void drop_one(void)
{
    Entry **victim = NULL;
    for (Entry **at = &dnnl.entries; *at; at = &(*at)->next)
        if ((*at)->users == 0) victim = at;
    if (!victim) return;
    Entry *e = *victim;
    *victim = e->next;
    destroy_entry(e);
    dnnl.count--;
}

/* The cached entry for key, made on first use, with one more user (give it
 * back with release); NULL when oneDNN cannot run it (the caller's own
 * kernel runs then). When the cache holds more than CACHE_MAX entries, the
 * least recently used idle one goes. */
static Entry *entry_for(const Key *k)
{
    pthread_mutex_lock(&dnnl.lock);
    Entry *found = NULL, **prev = &dnnl.entries;
    if (cpu_dnnl_engine()) {
        for (Entry *e = dnnl.entries; e; prev = &e->next, e = e->next)
            if (memcmp(&e->key, k, sizeof *k) == 0) {
                *prev = e->next; /* to the front */
                found = e;
                break;
            }
        if (!found && (found = create_entry(k))) dnnl.count++;
        if (found) {
            found->users++;
            found->next = dnnl.entries;
            dnnl.entries = found;
            if (dnnl.count > CACHE_MAX) drop_one();
        }
    }
    pthread_mutex_unlock(&dnnl.lock);
    return found;
}

static void release(Entry *e)
{
    pthread_mutex_lock(&dnnl.lock);
    e->users--;
    pthread_mutex_unlock(&dnnl.lock);
}

/* Runs entry e (taken with entry_for) on user buffers a, b (inputs), bias
 * (forward, or NULL) and out, then releases it. */
static bool run(Entry *e, const void *a, const void *b, const float *bias, void *out)
{
    static const int args[3][N_OPS] = {
        [KIND_FORWARD] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
        [KIND_BACKWARD_DATA] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
        [KIND_BACKWARD_WEIGHTS] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS},
    };
    dnnl_engine_t engine = cpu_dnnl_engine();
    void *user_ptr[N_OPS] = {(void *)a, (void *)b, out};
    dnnl_memory_t user[N_OPS] = {0}, internal[N_OPS] = {0}, scratch = NULL;
    void *buffers[N_OPS] = {0};
    dnnl_stream_t stream = NULL;
    bool ok = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success;
    for (int i = 0; ok && i < N_OPS; i++) {
        Operand *op = &e->op[i];
        ok = dnnl_memory_create(&user[i], &op->user, engine, user_ptr[i]) == dnnl_success;
        if (ok && op->reorder) {
            ok = (buffers[i] = cpu_caching_alloc(dnnl_memory_desc_get_size(&op->internal))) &&
                 dnnl_memory_create(&internal[i], &op->internal, engine, buffers[i]) == dnnl_success;
            if (ok && i != OP_OUT) {
                dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, user[i]}, {DNNL_ARG_TO, internal[i]}};
                ok = dnnl_primitive_execute(op->reorder, stream, 2, r) == dnnl_success;
            }
        }
    }
    dnnl_exec_arg_t exec[N_OPS + 2];
    int nargs = 0;
    for (int i = 0; ok && i < N_OPS; i++)
        exec[nargs++] = (dnnl_exec_arg_t){args[e->key.kind][i], internal[i] ? internal[i] : user[i]};
    dnnl_memory_t bias_mem = NULL;
    if (ok && bias) {
        ok = dnnl_memory_create(&bias_mem, &e->bias, engine, (void *)bias) == dnnl_success;
        if (ok) exec[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bias_mem};
    }
    void *scratch_buffer = NULL;
    if (ok && e->scratch_bytes) {
        ok = cpu_dnnl_scratchpad(e->scratch_bytes, &scratch, &scratch_buffer);
        if (ok) exec[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratch};
    }
    ok = ok && dnnl_primitive_execute(e->prim, stream, nargs, exec) == dnnl_success;
    if (ok && e->op[OP_OUT].reorder) {
        dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, internal[OP_OUT]}, {DNNL_ARG_TO, user[OP_OUT]}};
        ok = dnnl_primitive_execute(e->op[OP_OUT].reorder, stream, 2, r) == dnnl_success;
    }
    if (stream) ok = dnnl_stream_wait(stream) == dnnl_success && ok;
    for (int i = 0; i < N_OPS; i++) {
        if (user[i]) dnnl_memory_destroy(user[i]);
        if (internal[i]) dnnl_memory_destroy(internal[i]);
    }
    cpu_dnnl_scratchpad_free(scratch, scratch_buffer);
    if (bias_mem) dnnl_memory_destroy(bias_mem);
    for (int i = 0; i < N_OPS; i++) cpu_caching_free(buffers[i]);
    if (stream) dnnl_stream_destroy(stream);
    release(e);
    return ok;
}

/* The key of a convolution x [N,C,H,W] -> y [N,O,OH,OW] with weight w.
 * The right padding is what makes the sizes come out exactly: negative
 * where the last input rows reach no output (a 1x1 kernel at stride 2 on
 * an even size), as oneDNN takes it. */
static bool make_key(Key *k, Kind kind, const Tensor *x, const Tensor *y, const Tensor *w, bool bias, ConvParams p,
                     bool bf16)
{
    *k = (Key){
        .kind = kind, .n = x->shape.d[0], .c = x->shape.d[1], .h = x->shape.d[2], .w = x->shape.d[3],
        .o = y->shape.d[1], .oh = y->shape.d[2], .ow = y->shape.d[3], .kh = w->shape.d[2], .kw = w->shape.d[3],
        .sh = p.stride[0], .sw = p.stride[1], .ph = p.padding[0], .pw = p.padding[1],
        .dh = p.dilation[0], .dw = p.dilation[1], .groups = p.groups, .bias = bias, .bf16 = bf16,
    };
    k->pr_h = (k->oh - 1) * k->sh + (k->kh - 1) * k->dh + 1 - k->h - k->ph;
    k->pr_w = (k->ow - 1) * k->sw + (k->kw - 1) * k->dw + 1 - k->w - k->pw;
    return k->pr_h > -k->sh && k->pr_w > -k->sw;
}

bool dnnl_conv_available(void)
{
    return cpu_dnnl_engine() != NULL;
}

bool dnnl_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p)
{
    Key k;
    Entry *e = make_key(&k, KIND_FORWARD, x, y, w, bias != NULL, p, x->dtype == DT_BF16) ? entry_for(&k) : NULL;
    return e && run(e, tensor_data(x), tensor_data(w), bias ? tensor_f32(bias) : NULL, tensor_data(y));
}

bool dnnl_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, ConvParams p)
{
    Key k;
    Entry *e = make_key(&k, KIND_BACKWARD_DATA, x, y, w, false, p, y->dtype == DT_BF16) ? entry_for(&k) : NULL;
    return e && run(e, tensor_data(y), tensor_data(w), NULL, tensor_data(x));
}

bool dnnl_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p)
{
    Key k;
    Entry *e = make_key(&k, KIND_BACKWARD_WEIGHTS, x, gy, gw, false, p, x->dtype == DT_BF16) ? entry_for(&k) : NULL;
    return e && run(e, tensor_data(x), tensor_data(gy), NULL, tensor_data(gw));
}

#else

bool dnnl_conv_available(void) { return false; }
bool dnnl_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p)
{
    (void)y, (void)x, (void)w, (void)bias, (void)p;
    return false;
}
bool dnnl_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, ConvParams p)
{
    (void)x, (void)y, (void)w, (void)p;
    return false;
}
bool dnnl_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p)
{
    (void)gw, (void)x, (void)gy, (void)p;
    return false;
}

#endif
