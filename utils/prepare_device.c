/* Device selection (see prepare_device.h). */
#include "utils/prepare_device.h"

#include "engine/device.h"

Device prepare_device(int64_t n_gpu_use, const Logger *lg)
{
    int n_gpu = device_cuda_count();
    if (n_gpu_use > 0 && n_gpu == 0) {
        log_warning(lg, "Warning: There's no GPU available on this machine, training will be performed on CPU.");
        n_gpu_use = 0;
    }
    if (n_gpu_use > n_gpu) {
        log_warning(lg, "Warning: The number of GPU's configured to use is %lld, but only %d are available on this "
                        "machine.",
                    (long long)n_gpu_use, n_gpu);
        n_gpu_use = n_gpu;
    }
    if (n_gpu_use > 1)
        log_warning(lg, "Warning: multi-GPU training is not supported yet; using one GPU.");
    return n_gpu_use > 0 ? CUDA(0) : CPU;
}
