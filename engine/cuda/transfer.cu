/* Pinned host memory and overlapped host-to-device copies (see
 * engine/cuda/transfer.h and engine/transfer.h).
 *
 * Copies run on a copy stream of their own, created on first use with
 * cudaStreamNonBlocking so that it never serialises against the compute
 * stream. Two events per transfer slot order it: `ready`, recorded on the
 * compute stream when the copy is queued, makes the copy wait for earlier
 * compute work that may still read the destination; `copied`, recorded on
 * the copy stream after it, is what the compute stream waits for before
 * using the destination and what the host waits for before refilling the
 * source. The destination's device memory must outlive the copy: callers
 * keep it in a persistent tensor and call transfer_wait before freeing it,
 * which is why the caching allocator's one-stream reuse rule still holds. */
#include <mutex>

extern "C" {
#include "engine/cuda/runtime.h"
#include "engine/cuda/transfer.h"
}
#include "engine/cuda/check.h"

namespace {

struct TransferEvents {
    cudaEvent_t ready, copied;
    bool in_flight; /* copied has been recorded and not yet waited for on the host */
};

std::mutex copy_stream_lock;
cudaStream_t copy_stream_handle = nullptr;

cudaStream_t copy_stream()
{
    std::lock_guard<std::mutex> guard(copy_stream_lock);
    if (!copy_stream_handle) CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_handle, cudaStreamNonBlocking));
    return copy_stream_handle;
}

} // namespace

extern "C" void *cuda_host_alloc(size_t nbytes)
{
    void *p = nullptr;
    if (cudaHostAlloc(&p, nbytes ? nbytes : 1, cudaHostAllocDefault) != cudaSuccess) {
        (void)cudaGetLastError(); /* not a sticky error: the caller falls back to pageable memory */
        return nullptr;
    }
    return p;
}

extern "C" void cuda_host_free(void *p)
{
    if (p) CUDA_CHECK(cudaFreeHost(p));
}

extern "C" void *cuda_transfer_new(void)
{
    TransferEvents *t = new TransferEvents;
    CUDA_CHECK(cudaEventCreateWithFlags(&t->ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&t->copied, cudaEventDisableTiming));
    t->in_flight = false;
    return t;
}

extern "C" void cuda_transfer_wait(void *tr)
{
    TransferEvents *t = (TransferEvents *)tr;
    /* an event never recorded counts as complete, so waiting is always safe */
    CUDA_CHECK(cudaEventSynchronize(t->copied));
    t->in_flight = false;
}

extern "C" void cuda_transfer_free(void *tr)
{
    if (!tr) return;
    TransferEvents *t = (TransferEvents *)tr;
    cuda_transfer_wait(t);
    CUDA_CHECK(cudaEventDestroy(t->ready));
    CUDA_CHECK(cudaEventDestroy(t->copied));
    delete t;
}

extern "C" void cuda_transfer_start(void *tr, void *dst, const void *src, size_t nbytes)
{
    TransferEvents *t = (TransferEvents *)tr;
    if (t->in_flight) cuda_transfer_wait(t);
    cudaStream_t compute = (cudaStream_t)cuda_stream();
    cudaStream_t copy = copy_stream();
    CUDA_CHECK(cudaEventRecord(t->ready, compute));
    CUDA_CHECK(cudaStreamWaitEvent(copy, t->ready, 0));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, copy));
    CUDA_CHECK(cudaEventRecord(t->copied, copy));
    t->in_flight = true;
}

extern "C" void cuda_transfer_use(void *tr)
{
    TransferEvents *t = (TransferEvents *)tr;
    CUDA_CHECK(cudaStreamWaitEvent((cudaStream_t)cuda_stream(), t->copied, 0));
}
