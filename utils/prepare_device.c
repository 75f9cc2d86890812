/* Device selection (see prepare_device.h). */
#include "utils/prepare_device.h"

#include "engine/device.h"

Device prepare_device(int64_t n_gpu_use, const Logger *lg)
{
    /* a CPU run never asks: asking loads the CUDA backend module */
    int n_gpu = n_gpu_use > 0 ? device_cuda_count() : 0;
    if (n_gpu_use > 0 && n_gpu == 0) {
        const char *why = device_unavailable_reason(DEVICE_CUDA);
        if (why[0])
            log_warning(lg, "Warning: There's no GPU available on this machine (the CUDA backend could not be "
                            "loaded: %s), training will be performed on CPU.", why);
        else
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

int n_gpu_from_config(const Config *cfg, int64_t *n_gpu)
{
    if (config_int_or(cfg, "n_gpu", 0, n_gpu)) return -1;
    ENGINE_CHECK_INT(*n_gpu >= 0, "%s: n_gpu: expected 0 (CPU) or a number of GPUs, got %lld", cfg->label,
                     (long long)*n_gpu);
    return 0;
}

int configure_device_modes(const Config *cfg)
{
    static const char *const keys[] = {"tf32", "deterministic", NULL};
    bool tf32, deterministic;
    if (config_check_keys(cfg, "cuda", keys, "cuda")) return -1;
    if (config_bool_or(cfg, "cuda.tf32", false, &tf32) ||
        config_bool_or(cfg, "cuda.deterministic", false, &deterministic))
        return -1;
    device_set_tf32(tf32);
    device_set_deterministic(deterministic);
    return 0;
}
