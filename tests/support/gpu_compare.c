/* Shared helpers of the GPU tests (see gpu_compare.h). */
#include "tests/support/gpu_compare.h"

#include "engine/device.h"

bool gpu_available(void) { return device_cuda_count() > 0; }

const char *gpu_missing_reason(void)
{
    const char *why = device_unavailable_reason(DEVICE_CUDA);
    return why[0] ? why : "no device visible to the CUDA runtime";
}

void gpu_set_modes(bool tf32, bool deterministic)
{
    device_set_tf32(tf32);
    device_set_deterministic(deterministic);
}

Tensor *leaf_on(Tensor *t, Device device)
{
    if (!t) return NULL;
    bool mode = no_grad_begin();
    Tensor *c = tensor_to(tensor_detach(t), device);
    if (c == t || (c && c->storage == t->storage)) c = t_clone(c); /* a leaf of its own */
    grad_mode_restore(mode);
    REQUIRE_OK(c);
    if (t->requires_grad) REQUIRE_OK(tensor_set_requires_grad(c, true));
    return c;
}
