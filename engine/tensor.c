/* Tensor and storage lifetime, creation, element access and device moves. */
#include "engine/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/scope.h"

/* ---- storage ---- */

/* "12.0 GiB (12884901888 bytes)", "1280 bytes": sizes a reader takes in at
 * a glance, exact too. */
static const char *format_bytes(size_t n, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(buf, size, "%zu bytes", n);
        return buf;
    }
    double v = (double)n / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s (%zu bytes)", v, units[u], n);
    return buf;
}

/* A storage of nbytes on device, or NULL: with an error recorded when the
 * device cannot be used, with *oom set (and no error) when the allocator
 * had no memory, so callers can say what the memory was for. */
static Storage *storage_alloc(size_t nbytes, Device device, bool *oom)
{
    *oom = false;
    /* loads the device's backend module the first time it is asked for */
    const Backend *b = backend_for_device(device, "empty");
    if (!b) return NULL;
    Storage *s = malloc(sizeof *s);
    ENGINE_CHECK(s != NULL, "out of memory allocating a storage header");
    s->device = device;
    s->pinned = false;
    s->nbytes = nbytes;
    s->refcount = 1;
    s->data = b->alloc(nbytes);
    if (!s->data) {
        free(s);
        *oom = true;
        return NULL;
    }
    return s;
}

Storage *storage_new(size_t nbytes, Device device)
{
    bool oom;
    Storage *s = storage_alloc(nbytes, device, &oom);
    if (oom) {
        char size[64];
        engine_error("out of memory: cannot allocate %s on %s", format_bytes(nbytes, size, sizeof size),
                     device_name(device));
    }
    return s;
}

/* The backend that lends page-locked host memory: the loaded accelerator's.
 * Pinning helps only copies to a device, so none is loaded for it. */
static const Backend *pinning_backend(void)
{
    for (int i = 0; i < DEVICE_TYPE_COUNT; i++) {
        const Backend *b = backend_loaded((DeviceType)i);
        if (b && b->host_alloc && b->host_free) return b;
    }
    return NULL;
}

Storage *storage_new_pinned(size_t nbytes)
{
    const Backend *b = pinning_backend();
    if (!b) return NULL;
    void *data = b->host_alloc(nbytes);
    if (!data) return NULL;
    Storage *s = malloc(sizeof *s);
    if (!s) {
        b->host_free(data);
        return NULL;
    }
    *s = (Storage){.data = data, .nbytes = nbytes, .device = CPU, .pinned = true, .refcount = 1};
    return s;
}

void storage_retain(Storage *s) { __atomic_fetch_add(&s->refcount, 1, __ATOMIC_RELAXED); }

void storage_release(Storage *s)
{
    if (!s) return;
    int before = __atomic_fetch_sub(&s->refcount, 1, __ATOMIC_ACQ_REL);
    ENGINE_ASSERT(before > 0);
    if (before > 1) return;
    if (s->pinned) {
        /* pinned storages exist only once a pinning backend is loaded */
        const Backend *b = pinning_backend();
        ENGINE_ASSERT(b != NULL);
        b->host_free(s->data);
    } else {
        engine_backends[s->device.type]->free(s->data);
    }
    free(s);
}

/* ---- headers ---- */

Tensor *tensor_make_view(Storage *storage, int64_t offset, DType dtype, Shape shape, const int64_t *strides)
{
    ENGINE_ASSERT(shape.ndim >= 0 && shape.ndim <= MAX_DIMS);
    /* views with computed sizes (expand, broadcasts, gathers) can ask for
     * more elements than an int64 holds; their strides would overflow */
    if (!shape_check(shape, dtype_size(dtype), "view", NULL)) return NULL;
    Tensor *t = calloc(1, sizeof *t);
    ENGINE_CHECK(t != NULL, "out of memory allocating a tensor header");
    t->storage = storage;
    storage_retain(storage);
    t->offset = offset;
    t->dtype = dtype;
    t->shape = shape;
    if (strides) memcpy(t->strides, strides, sizeof(int64_t) * (size_t)shape.ndim);
    else shape_contiguous_strides(shape, t->strides);
    scope_adopt_tensor(t);
    return t;
}

void tensor_destroy(Tensor *t);
void tensor_destroy(Tensor *t)
{
    if (t->grad) {
        tensor_destroy(t->grad);
    }
    tensor_hooks_free(t);
    storage_release(t->storage);
    free(t);
}

Tensor *tensor_persist(Tensor *t)
{
    if (!t) return NULL;
    if (t->grad_fn) {
        t->grad_fn = NULL;
        t->requires_grad = false;
    }
    scope_unlink_tensor(t);
    return t;
}

void tensor_free(Tensor *t)
{
    if (!t) return;
    ENGINE_ASSERT(t->owner == NULL && "tensor_free on a tensor owned by a scope");
    tensor_destroy(t);
}

/* ---- creation ---- */

/* Says what memory ran out for, and what may help. */
static void *tensor_oom_error(Shape shape, DType dtype, Device device, size_t nbytes)
{
    char size[64];
    return engine_error("out of memory: cannot allocate %s for a %s tensor of shape %s on %s (a smaller batch size "
                        "or model may help)",
                        format_bytes(nbytes, size, sizeof size), dtype_name(dtype), shape_str(shape),
                        device_name(device));
}

Tensor *tensor_empty(Shape shape, DType dtype, Device device)
{
    size_t nbytes;
    if (!shape_check(shape, dtype_size(dtype), "empty", &nbytes)) return NULL;
    bool oom;
    Storage *s = storage_alloc(nbytes, device, &oom);
    if (oom) return tensor_oom_error(shape, dtype, device, nbytes);
    return tensor_on_storage(s, dtype, shape);
}

Tensor *tensor_on_storage(Storage *s, DType dtype, Shape shape)
{
    if (!s) return NULL;
    /* the storage may have been sized by a caller's own arithmetic */
    size_t nbytes;
    bool fits = shape_check(shape, dtype_size(dtype), "empty", &nbytes);
    if (fits && nbytes > s->nbytes) {
        engine_error("empty: a %s tensor of shape %s needs %zu bytes, its storage has %zu", dtype_name(dtype),
                     shape_str(shape), nbytes, s->nbytes);
        fits = false;
    }
    if (!fits) {
        storage_release(s);
        return NULL;
    }
    Tensor *t = tensor_make_view(s, 0, dtype, shape, NULL);
    storage_release(s); /* the view holds the only reference */
    return t;
}

Tensor *tensor_full(Shape shape, double value, DType dtype, Device device)
{
    Tensor *t = tensor_empty(shape, dtype, device);
    if (t) backend_of(t)->fill(t, value);
    return t;
}

Tensor *tensor_zeros(Shape shape, DType dtype, Device device) { return tensor_full(shape, 0.0, dtype, device); }
Tensor *tensor_ones(Shape shape, DType dtype, Device device) { return tensor_full(shape, 1.0, dtype, device); }
Tensor *tensor_scalar(double value, DType dtype, Device device)
{
    return tensor_full(SCALAR_SHAPE, value, dtype, device);
}
Tensor *tensor_empty_like(const Tensor *t)
{
    if (!t) return NULL;
    return tensor_empty(t->shape, t->dtype, tensor_device(t));
}
Tensor *tensor_zeros_like(const Tensor *t)
{
    if (!t) return NULL;
    return tensor_zeros(t->shape, t->dtype, tensor_device(t));
}

Tensor *tensor_arange(double start, double end, double step, DType dtype, Device device)
{
    ENGINE_CHECK(step != 0, "arange: step must be nonzero");
    ENGINE_CHECK((end - start) / step >= 0 || end == start,
                 "arange: upper bound and larger bound inconsistent with step sign (start %g, end %g, step %g)", start,
                 end, step);
    double count = ceil((end - start) / step);
    /* checked before the cast, which is undefined out of range */
    ENGINE_CHECK(count < 9223372036854775807.0, "arange: (end - start) / step = %g elements overflows 64-bit size",
                 count);
    int64_t n = count > 0 ? (int64_t)count : 0;
    Tensor *host = tensor_empty(SHAPE(n), dtype, CPU);
    if (!host) return NULL;
    for (int64_t i = 0; i < n; i++) {
        double v = start + (double)i * step;
        switch (dtype) {
        case DT_F32: tensor_f32(host)[i] = (float)v; break;
        case DT_I64: tensor_i64(host)[i] = (int64_t)v; break;
        case DT_U8: tensor_u8(host)[i] = (uint8_t)v; break;
        case DT_BF16: ((uint16_t *)tensor_data(host))[i] = f32_to_bf16((float)v); break;
        case DT_F16: ((uint16_t *)tensor_data(host))[i] = f32_to_f16((float)v); break;
        default: ENGINE_UNREACHABLE("bad dtype");
        }
    }
    if (device.type == DEVICE_CPU) return host;
    return tensor_to(host, device);
}

Tensor *tensor_from_data(const void *data, Shape shape, DType dtype, Device device)
{
    Tensor *t = tensor_empty(shape, dtype, device);
    if (!t) return NULL;
    if (tensor_copy_from_buffer(t, data) != 0) return NULL;
    return t;
}

/* ---- properties ---- */

int64_t tensor_size(const Tensor *t, int dim)
{
    int d = shape_wrap_dim(dim, t->shape.ndim, "size");
    if (d < 0) return -1;
    return t->shape.ndim == 0 ? 1 : t->shape.d[d];
}

bool tensor_is_contiguous(const Tensor *t)
{
    if (tensor_numel(t) == 0) return true; /* as in PyTorch: nothing to address */
    int64_t expected = 1;
    for (int i = t->shape.ndim - 1; i >= 0; i--) {
        if (t->shape.d[i] != 1 && t->strides[i] != expected) return false;
        expected *= t->shape.d[i];
    }
    return true;
}

/* ---- values out and in ---- */

/* A contiguous CPU tensor with t's values: t itself when it already is one. */
static const Tensor *host_contiguous(const Tensor *t, Tensor **tmp)
{
    *tmp = NULL;
    bool on_host = tensor_device(t).type == DEVICE_CPU;
    if (on_host && tensor_is_contiguous(t)) return t;
    Tensor *c = tensor_empty(t->shape, t->dtype, CPU);
    if (!c) return NULL;
    tensor_persist(c);
    if (!on_host) {
        Tensor *dc = (Tensor *)t;
        if (!tensor_is_contiguous(t)) {
            dc = tensor_empty(t->shape, t->dtype, tensor_device(t));
            if (!dc) {
                tensor_free(c);
                return NULL;
            }
            tensor_persist(dc);
            backend_of(dc)->copy(dc, t);
        }
        backend_of(dc)->memcpy_to_host(tensor_data(c), tensor_data(dc), (size_t)tensor_numel(t) * dtype_size(t->dtype));
        if (dc != t) tensor_free(dc);
    } else {
        backend_of(c)->copy(c, t);
    }
    *tmp = c;
    return c;
}

int tensor_copy_to_buffer(const Tensor *t, void *dst)
{
    if (!t) return -1;
    Tensor *tmp;
    const Tensor *c = host_contiguous(t, &tmp);
    if (!c) return -1;
    memcpy(dst, tensor_data(c), (size_t)tensor_numel(t) * dtype_size(t->dtype));
    if (tmp) tensor_free(tmp);
    return 0;
}

int tensor_copy_from_buffer(Tensor *t, const void *src)
{
    if (!t) return -1;
    size_t nbytes = (size_t)tensor_numel(t) * dtype_size(t->dtype);
    if (tensor_is_contiguous(t)) {
        backend_of(t)->memcpy_from_host(tensor_data(t), src, nbytes);
        return 0;
    }
    Tensor *c = tensor_empty(t->shape, t->dtype, tensor_device(t));
    if (!c) return -1;
    tensor_persist(c);
    backend_of(c)->memcpy_from_host(tensor_data(c), src, nbytes);
    backend_of(t)->copy(t, c);
    tensor_free(c);
    return 0;
}

double tensor_item(const Tensor *t)
{
    if (!t) return NAN;
    if (tensor_numel(t) != 1) {
        engine_error("item: a Tensor with %lld elements cannot be converted to a scalar", (long long)tensor_numel(t));
        return NAN;
    }
    union {
        float f;
        int64_t i;
        uint8_t u;
        uint16_t h;
    } v;
    if (tensor_copy_to_buffer(t, &v) != 0) return NAN;
    switch (t->dtype) {
    case DT_F32: return v.f;
    case DT_I64: return (double)v.i;
    case DT_U8: return v.u;
    case DT_BF16: return bf16_to_f32(v.h);
    case DT_F16: return f16_to_f32(v.h);
    default: ENGINE_UNREACHABLE("bad dtype");
    }
}

/* ---- in-place ---- */

int tensor_fill_(Tensor *t, double value)
{
    if (!t) return -1;
    backend_of(t)->fill(t, value);
    return 0;
}

/* src viewed with dst's shape (broadcast strides), or NULL with an error. */
static Tensor *expand_for_copy(const Tensor *src, Shape shape, const char *op)
{
    Shape b;
    if (!shape_broadcast(src->shape, shape, &b) || !shape_equal(b, shape))
        return engine_error("%s: source of shape %s cannot be broadcast to %s", op, shape_str(src->shape),
                            shape_str(shape));
    int64_t strides[MAX_DIMS] = {0};
    for (int i = 0; i < shape.ndim; i++) {
        int j = src->shape.ndim - shape.ndim + i;
        strides[i] = (j < 0 || src->shape.d[j] == 1) ? 0 : src->strides[j];
    }
    Tensor *v = tensor_make_view(src->storage, src->offset, src->dtype, shape, strides);
    return tensor_persist(v);
}

int tensor_copy_(Tensor *dst, const Tensor *src)
{
    if (!dst || !src) return -1;
    Tensor *v = expand_for_copy(src, dst->shape, "copy_");
    if (!v) return -1;
    if (device_equal(tensor_device(dst), tensor_device(src))) {
        backend_of(dst)->copy(dst, v);
        tensor_free(v);
        return 0;
    }
    /* across devices: stage through a contiguous host buffer */
    Tensor *tmp;
    const Tensor *h = host_contiguous(v, &tmp);
    tensor_free(v);
    if (!h) return -1;
    Tensor *staged = tensor_persist(tensor_empty(dst->shape, h->dtype, tensor_device(dst)));
    int rc = -1;
    if (staged) {
        backend_of(staged)->memcpy_from_host(tensor_data(staged), tensor_data(h),
                                         (size_t)tensor_numel(h) * dtype_size(h->dtype));
        backend_of(dst)->copy(dst, staged);
        tensor_free(staged);
        rc = 0;
    }
    if (tmp) tensor_free(tmp);
    return rc;
}

/* ---- autograd flags ---- */

Tensor *tensor_set_requires_grad(Tensor *t, bool requires_grad)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->grad_fn == NULL,
                 "requires_grad_: you can only change requires_grad flags of leaf variables (this one has %s)",
                 t->grad_fn->name);
    ENGINE_CHECK(!requires_grad || dtype_is_floating(t->dtype),
                 "requires_grad_: only floating point tensors can require gradients (got %s)", dtype_name(t->dtype));
    t->requires_grad = requires_grad;
    return t;
}

Tensor *tensor_detach(Tensor *t)
{
    if (!t) return NULL;
    return tensor_make_view(t->storage, t->offset, t->dtype, t->shape, t->strides);
}
