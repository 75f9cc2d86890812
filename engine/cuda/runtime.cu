/* The CUDA runtime state shared by the backend (see runtime.h): the device
 * count, the one stream every kernel and copy runs on, the cuBLAS and cuDNN
 * handles bound to it, and the TF32 / deterministic modes.
 *
 * The backend runs on the process's current device (cuda:0 unless the
 * caller chose another with CUDA_VISIBLE_DEVICES). Handles are created on
 * first use under a lock, so a data-loading thread may touch the runtime
 * too; the flags are plain loads and stores of atomics. */
#include <atomic>
#include <mutex>

extern "C" {
#include "engine/cuda/runtime.h"
}
#include "engine/cuda/check.h"
#include "engine/cuda/launch.cuh"

namespace {

std::once_flag count_once;
int device_count_cached = 0;

std::mutex init_lock;
/* read without the lock on every launch once it exists */
std::atomic<cudaStream_t> stream_handle{nullptr};
/* read without the lock on every cuBLAS / cuDNN call once they exist */
std::atomic<cublasHandle_t> cublas_handle{nullptr};
std::atomic<cudnnHandle_t> cudnn_handle{nullptr};
std::atomic<int> sm_count_cached{0}; /* read on every launch */
std::atomic<int> cc_major_cached{0};

std::atomic<bool> tf32_enabled{false};
std::atomic<bool> deterministic_enabled{false};

/* The stream is an ordinary (blocking) one rather than cudaStreamNonBlocking:
 * it then also orders against any legacy-default-stream work (a plain
 * cudaMemcpy, a library that ignores our stream), at no cost when there is
 * none. Callers hold init_lock. */
cudaStream_t stream_locked(void)
{
    cudaStream_t s = stream_handle.load();
    if (!s) {
        CUDA_CHECK(cudaStreamCreate(&s));
        stream_handle.store(s);
    }
    return s;
}

cublasMath_t cublas_math_mode(bool tf32) { return tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH; }

} // namespace

extern "C" int cuda_device_count(void)
{
    std::call_once(count_once, [] {
        int n = 0;
        /* no driver, no device or a driver too old all mean "no CUDA here":
         * clear the error so no later check mistakes it for its own */
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            (void)cudaGetLastError();
            n = 0;
        }
        device_count_cached = n;
    });
    return device_count_cached;
}

extern "C" void *cuda_stream(void)
{
    cudaStream_t s = stream_handle.load();
    if (s) return s;
    std::lock_guard<std::mutex> guard(init_lock);
    return stream_locked();
}

extern "C" void *cuda_cublas(void)
{
    cublasHandle_t h = cublas_handle.load();
    if (h) return h;
    std::lock_guard<std::mutex> guard(init_lock);
    h = cublas_handle.load();
    if (!h) {
        CUBLAS_CHECK(cublasCreate(&h));
        CUBLAS_CHECK(cublasSetStream(h, stream_locked()));
        CUBLAS_CHECK(cublasSetMathMode(h, cublas_math_mode(tf32_enabled.load())));
        cublas_handle.store(h); /* published only once fully set up */
    }
    return h;
}

extern "C" void *cuda_cudnn(void)
{
    cudnnHandle_t h = cudnn_handle.load();
    if (h) return h;
    std::lock_guard<std::mutex> guard(init_lock);
    h = cudnn_handle.load();
    if (!h) {
        CUDNN_CHECK(cudnnCreate(&h));
        CUDNN_CHECK(cudnnSetStream(h, stream_locked()));
        cudnn_handle.store(h);
    }
    return h;
}

extern "C" void cuda_set_tf32(bool enabled)
{
    std::lock_guard<std::mutex> guard(init_lock);
    tf32_enabled.store(enabled);
    /* a handle made earlier follows the new mode; cuDNN reads the flag per call */
    cublasHandle_t h = cublas_handle.load();
    if (h) CUBLAS_CHECK(cublasSetMathMode(h, cublas_math_mode(enabled)));
}

extern "C" bool cuda_tf32(void) { return tf32_enabled.load(); }

extern "C" void cuda_set_deterministic(bool enabled) { deterministic_enabled.store(enabled); }

extern "C" bool cuda_deterministic(void) { return deterministic_enabled.load(); }

extern "C" void cuda_synchronize(void)
{
    /* nothing to wait for (and no context to create) before the first use */
    cudaStream_t s = stream_handle.load();
    if (s) CUDA_CHECK(cudaStreamSynchronize(s));
}

int cuda_sm_count(void)
{
    int n = sm_count_cached.load();
    if (n > 0) return n;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    if (n < 1) n = 1;
    sm_count_cached.store(n); /* racing first calls store the same value */
    return n;
}

extern "C" int cuda_compute_capability_major(void)
{
    int major = cc_major_cached.load();
    if (major > 0) return major;
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    cc_major_cached.store(major); /* racing first calls store the same value */
    return major;
}
