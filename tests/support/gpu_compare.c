/* GPU-versus-CPU checks for the CUDA kernels (see gpu_compare.h). */
#include "tests/support/gpu_compare.h"

#include <stdio.h>

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

enum { MAX_INPUTS = 8 };

void expect_gpu_matches_cpu(DeviceFn fn, void *ctx, Tensor **cpu_inputs, int n, double tol, const char *label)
{
    assert_true(n <= MAX_INPUTS);
    Tensor *gpu_inputs[MAX_INPUTS];
    for (int i = 0; i < n; i++) gpu_inputs[i] = leaf_on(cpu_inputs[i], GPU_DEVICE);
    Tensor *cpu_out = fn(cpu_inputs, ctx), *gpu_out = fn(gpu_inputs, ctx);
    REQUIRE_OK(cpu_out);
    REQUIRE_OK(gpu_out);
    assert_true(tensor_is_cuda(gpu_out));
    char what[160];
    snprintf(what, sizeof what, "%s: forward", label);
    expect_close(gpu_out, cpu_out, tol, what);
    if (!cpu_out->requires_grad) return;

    static Generator gen;
    static bool seeded;
    if (!seeded) {
        generator_seed(&gen, 1234);
        seeded = true;
    }
    Tensor *g_cpu = tensor_randn(cpu_out->shape, &gen, CPU);
    Tensor *g_gpu = leaf_on(g_cpu, GPU_DEVICE);
    REQUIRE_OK(g_cpu);
    assert_int_equal(tensor_backward(cpu_out, g_cpu), 0);
    if (tensor_backward(gpu_out, g_gpu) != 0) fail_engine("GPU backward");
    for (int i = 0; i < n; i++) {
        if (!cpu_inputs[i] || !cpu_inputs[i]->requires_grad) continue;
        REQUIRE_OK(cpu_inputs[i]->grad);
        REQUIRE_OK(gpu_inputs[i]->grad);
        assert_true(tensor_is_cuda(gpu_inputs[i]->grad));
        snprintf(what, sizeof what, "%s: grad of input %d", label, i);
        expect_close(gpu_inputs[i]->grad, cpu_inputs[i]->grad, tol, what);
    }
}
