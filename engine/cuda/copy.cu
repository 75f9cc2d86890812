/* CUDA allocation, copies with broadcasting and dtype conversion (bf16 and
 * f16 included: the mixed-precision casts), fill, and host <-> device
 * transfers (the twins of engine/cpu/copy.c).
 *
 * Host transfers go through two cached pinned buffers of
 * STAGING_CHUNK_BYTES each, used alternately: only pinned memory can be
 * copied asynchronously, and alternating lets the host fill (or drain) one
 * chunk while the DMA engine moves the other. A host-to-device copy returns
 * as soon as the caller's memory has been read into pinned memory, so the
 * caller may free it while the GPU is still busy; a device-to-host copy
 * returns once the data is in the caller's memory. If pinned memory cannot
 * be had, transfers fall back to synchronous copies from pageable memory. */
#include <algorithm>
#include <mutex>
#include <string.h>

extern "C" {
#include "engine/cuda/allocator.h"
#include "engine/cuda/copy.h"
}
#include "engine/cuda/launch.cuh"

namespace {

/* ---- dtype conversion, exactly as engine/cpu/copy.c: through double ---- */

/* bf16 and f16 elements as their bits; engine/dtype.h converts them, with
 * the CPU's rounding, so both devices give the same bits. */
struct Bf16 {
    uint16_t bits;
};
struct Half {
    uint16_t bits;
};

template <typename D> __host__ __device__ __forceinline__ D from_double(double v);
template <> __host__ __device__ __forceinline__ float from_double<float>(double v) { return (float)v; }
template <> __host__ __device__ __forceinline__ int64_t from_double<int64_t>(double v) { return (int64_t)v; }
/* wraps modulo 256, as torch does */
template <> __host__ __device__ __forceinline__ uint8_t from_double<uint8_t>(double v) { return (uint8_t)(int64_t)v; }
template <> __host__ __device__ __forceinline__ Bf16 from_double<Bf16>(double v) { return Bf16{f32_to_bf16((float)v)}; }
template <> __host__ __device__ __forceinline__ Half from_double<Half>(double v) { return Half{f32_to_f16((float)v)}; }

template <typename S> __device__ __forceinline__ double to_double(S v) { return (double)v; }
template <> __device__ __forceinline__ double to_double<Bf16>(Bf16 v) { return bf16_to_f32(v.bits); }
template <> __device__ __forceinline__ double to_double<Half>(Half v) { return f16_to_f32(v.bits); }

template <typename D, typename S> struct Convert {
    __device__ __forceinline__ static D apply(S v) { return from_double<D>(to_double(v)); }
};
template <typename T> struct Convert<T, T> {
    __device__ __forceinline__ static T apply(T v) { return v; }
};
/* the autocast casts, without the detour through double (the same bits) */
template <> struct Convert<Bf16, float> {
    __device__ __forceinline__ static Bf16 apply(float v) { return Bf16{f32_to_bf16(v)}; }
};
template <> struct Convert<float, Bf16> {
    __device__ __forceinline__ static float apply(Bf16 v) { return bf16_to_f32(v.bits); }
};
template <> struct Convert<Half, float> {
    __device__ __forceinline__ static Half apply(float v) { return Half{f32_to_f16(v)}; }
};
template <> struct Convert<float, Half> {
    __device__ __forceinline__ static float apply(Half v) { return f16_to_f32(v.bits); }
};

/* Calls f with a value of the C type of dt (its value is irrelevant). */
template <typename F> void with_dtype(DType dt, F f)
{
    switch (dt) {
    case DT_F32: f(float{}); return;
    case DT_I64: f(int64_t{}); return;
    case DT_U8: f(uint8_t{}); return;
    case DT_BF16: f(Bf16{}); return;
    case DT_F16: f(Half{}); return;
    default: ENGINE_UNREACHABLE("bad dtype");
    }
}

template <typename D, typename S> struct CopyOp {
    D *dst;
    const S *src;
    __device__ __forceinline__ void operator()(const int64_t *off) const { dst[off[0]] = Convert<D, S>::apply(src[off[1]]); }
};

template <typename T> struct FillOp {
    T *dst;
    T value;
    __device__ __forceinline__ void operator()(const int64_t *off) const { dst[off[0]] = value; }
};

/* ---- pinned staging ---- */

constexpr size_t STAGING_CHUNK_BYTES = (size_t)4 << 20;

struct Staging {
    std::mutex lock;
    bool tried = false, ok = false;
    char *buf[2] = {nullptr, nullptr};
    cudaEvent_t done[2]; /* recorded after the last transfer that used buf[i] */
    bool used[2] = {false, false};
    int turn = 0; /* the buffer the next host-to-device chunk uses */
};

Staging &staging()
{
    static Staging *s = new Staging; /* lives for the process, like the pinned memory */
    return *s;
}

/* Allocates the pinned buffers on first use; false when pinned memory is
 * not available. Caller holds the lock. */
bool staging_ready(Staging &s)
{
    if (s.tried) return s.ok;
    s.tried = true;
    void *p = nullptr;
    if (cudaHostAlloc(&p, 2 * STAGING_CHUNK_BYTES, cudaHostAllocDefault) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    s.buf[0] = (char *)p;
    s.buf[1] = (char *)p + STAGING_CHUNK_BYTES;
    for (int i = 0; i < 2; i++) CUDA_CHECK(cudaEventCreateWithFlags(&s.done[i], cudaEventDisableTiming));
    s.ok = true;
    return true;
}

size_t chunk_len(size_t nbytes, size_t chunk) { return std::min(STAGING_CHUNK_BYTES, nbytes - chunk * STAGING_CHUNK_BYTES); }

/* Queues the device-to-host copy of chunk into buffer b. */
void queue_chunk_to_host(Staging &s, int b, const char *src, size_t nbytes, size_t chunk, cudaStream_t st)
{
    CUDA_CHECK(cudaMemcpyAsync(s.buf[b], src + chunk * STAGING_CHUNK_BYTES, chunk_len(nbytes, chunk),
                               cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaEventRecord(s.done[b], st));
    s.used[b] = true;
}

/* Whether the coalesced loop over (dst, src) is one contiguous run in both. */
bool both_contiguous(const Tensor *dst, const Tensor *src)
{
    const int64_t *strides[2] = {dst->strides, src->strides};
    StridedLoop L;
    strided_loop_init(&L, dst->shape, 2, strides);
    return strided_loop_contiguous<2>(L);
}

/* Whether every byte of the object representation of v is the same (a memset can write it). */
template <typename T> bool uniform_bytes(T v, unsigned char *byte)
{
    unsigned char b[sizeof(T)];
    memcpy(b, &v, sizeof b);
    for (size_t i = 1; i < sizeof b; i++)
        if (b[i] != b[0]) return false;
    *byte = b[0];
    return true;
}

} // namespace

extern "C" void *cuda_alloc(size_t nbytes) { return cuda_caching_alloc(nbytes); }

extern "C" void cuda_free(void *p) { cuda_caching_free(p); }

extern "C" void cuda_copy(Tensor *dst, const Tensor *src)
{
    ENGINE_ASSERT(shape_equal(dst->shape, src->shape));
    int64_t n = tensor_numel(dst);
    if (n == 0) return;
    if (dst->dtype == src->dtype && both_contiguous(dst, src)) {
        CUDA_CHECK(cudaMemcpyAsync(tensor_data(dst), tensor_data(src), (size_t)n * dtype_size(dst->dtype),
                                   cudaMemcpyDeviceToDevice, cuda_current_stream()));
        return;
    }
    const int64_t *strides[2] = {dst->strides, src->strides};
    with_dtype(dst->dtype, [&](auto d) {
        using D = decltype(d);
        with_dtype(src->dtype, [&](auto s) {
            using S = decltype(s);
            launch_elementwise<2>(dst->shape, strides, CopyOp<D, S>{(D *)tensor_data(dst), (const S *)tensor_data(src)});
        });
    });
}

extern "C" void cuda_fill(Tensor *t, double value)
{
    int64_t n = tensor_numel(t);
    if (n == 0) return;
    const int64_t *strides[1] = {t->strides};
    StridedLoop L;
    strided_loop_init(&L, t->shape, 1, strides);
    bool contiguous = strided_loop_contiguous<1>(L);
    with_dtype(t->dtype, [&](auto zero) {
        using T = decltype(zero);
        T v = from_double<T>(value);
        unsigned char byte;
        if (contiguous && uniform_bytes(v, &byte)) {
            /* zeros (and any u8 value): a memset runs at full bandwidth */
            CUDA_CHECK(cudaMemsetAsync(tensor_data(t), byte, (size_t)n * sizeof(T), cuda_current_stream()));
            return;
        }
        launch_elementwise<1>(t->shape, strides, FillOp<T>{(T *)tensor_data(t), v});
    });
}

extern "C" void cuda_memcpy_to_host(void *dst, const void *src, size_t nbytes)
{
    if (nbytes == 0) return;
    cudaStream_t st = cuda_current_stream();
    Staging &s = staging();
    std::lock_guard<std::mutex> guard(s.lock);
    if (!staging_ready(s)) {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
        return;
    }
    /* Chunk i lands in buffer i % 2. Queuing a copy into a buffer needs no
     * host wait: an earlier host-to-device copy out of it is ahead on the
     * stream, and the host finished reading it (chunk i - 2) already. */
    size_t chunks = (nbytes + STAGING_CHUNK_BYTES - 1) / STAGING_CHUNK_BYTES;
    queue_chunk_to_host(s, 0, (const char *)src, nbytes, 0, st);
    for (size_t i = 0; i < chunks; i++) {
        int b = (int)(i % 2);
        if (i + 1 < chunks) queue_chunk_to_host(s, 1 - b, (const char *)src, nbytes, i + 1, st);
        CUDA_CHECK(cudaEventSynchronize(s.done[b]));
        memcpy((char *)dst + i * STAGING_CHUNK_BYTES, s.buf[b], chunk_len(nbytes, i));
    }
}

extern "C" void cuda_memcpy_from_host(void *dst, const void *src, size_t nbytes)
{
    if (nbytes == 0) return;
    cudaStream_t st = cuda_current_stream();
    Staging &s = staging();
    std::lock_guard<std::mutex> guard(s.lock);
    if (!staging_ready(s)) {
        /* the caller may free src on return: wait for the copy to finish */
        CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, st));
        CUDA_CHECK(cudaStreamSynchronize(st));
        return;
    }
    size_t chunks = (nbytes + STAGING_CHUNK_BYTES - 1) / STAGING_CHUNK_BYTES;
    for (size_t i = 0; i < chunks; i++) {
        int b = s.turn;
        s.turn = 1 - b;
        /* the buffer's previous transfer must be done before it is overwritten */
        if (s.used[b]) CUDA_CHECK(cudaEventSynchronize(s.done[b]));
        size_t len = chunk_len(nbytes, i);
        memcpy(s.buf[b], (const char *)src + i * STAGING_CHUNK_BYTES, len);
        CUDA_CHECK(cudaMemcpyAsync((char *)dst + i * STAGING_CHUNK_BYTES, s.buf[b], len, cudaMemcpyHostToDevice, st));
        CUDA_CHECK(cudaEventRecord(s.done[b], st));
        s.used[b] = true;
    }
}
