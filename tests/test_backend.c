/* The backend registry (engine/backend.h) without a GPU: the CPU table is
 * complete; a module that cannot be loaded (a broken file, a shared object
 * without the entry point, the real module missing a CUDA library) leaves
 * the CPU working and a one-line reason; and a stand-in accelerator
 * registered by the test, with the CPU's services but few kernels, turns
 * every missing kernel into the error "<kernel> is not implemented on
 * <backend>" instead of a crash. The module cases run in child processes,
 * since a process tries its module once. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/cpu/backend.h"
#include "engine/device.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "engine/scope.h"
#include "tests/support/check.h"

/* Every slot of the CPU's table is filled but the ones it has no use for. */
static void test_cpu_table_is_complete(void **state)
{
    const Backend *cpu = backend_get(DEVICE_CPU);
    assert_ptr_equal(cpu, &cpu_backend);
    assert_string_equal(cpu->name, "cpu");
    assert_int_equal(cpu->abi, ENGINE_BACKEND_ABI);
    /* the slots a CPU leaves empty: nothing queues, nothing is pinned, no statistics, no modes, no batches */
    const void *const none[] = {
        (const void *)&cpu->synchronize,   (const void *)&cpu->stream,        (const void *)&cpu->host_alloc,
        (const void *)&cpu->host_free,     (const void *)&cpu->transfer_new,  (const void *)&cpu->transfer_free,
        (const void *)&cpu->transfer_start, (const void *)&cpu->transfer_use, (const void *)&cpu->transfer_wait,
        (const void *)&cpu->memory_stats,  (const void *)&cpu->reset_peak,    (const void *)&cpu->set_tf32,
        (const void *)&cpu->set_deterministic, (const void *)&cpu->optim_step_multi,
    };
    const char *first = (const char *)&cpu->device_count, *end = (const char *)(cpu + 1);
    int filled = 0, empty = 0;
    for (const char *p = first; p + sizeof(void (*)(void)) <= end; p += sizeof(void (*)(void))) {
        void (*fn)(void);
        memcpy(&fn, p, sizeof fn);
        bool may_be_empty = false;
        for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) may_be_empty |= (const void *)p == none[i];
        if (fn) filled++;
        else empty++;
        if (!fn && !may_be_empty) fail_msg("the CPU table has an empty slot at byte %td", p - (const char *)cpu);
    }
    print_message("  cpu: %d slots filled, %d empty by design\n", filled, empty);
    assert_true(filled > 50);
}

/* In a child: points ENGINE_BACKEND_PATH at a folder holding `module` as
 * libengine_cuda.so (NULL: an empty folder), asks for the GPUs and checks
 * that there are none, that the reason contains `expect`, that a CUDA
 * tensor is an error naming it, and that the CPU still computes. */
static void check_unloadable_module(const char *module, const char *expect)
{
    char dir[] = "/tmp/test_backend_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/libengine_cuda.so", dir);
    if (module && strncmp(module, "text:", 5) == 0) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(module + 5, f);
        assert_int_equal(fclose(f), 0);
    } else if (module) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cp -L '%s' '%s'", module, path);
        assert_int_equal(system(cmd), 0);
    }
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("ENGINE_BACKEND_PATH", dir, 1);
        int n = device_cuda_count();
        const char *why = device_unavailable_reason(DEVICE_CUDA);
        printf("  module %s: %d devices; reason: %s\n", module ? module : "(none in the folder)", n, why);
        if (n != 0 || !strstr(why, expect)) _exit(1);
        Tensor *t = tensor_empty(SHAPE(2), DT_F32, CUDA(0));
        printf("  error: %s\n", engine_last_error());
        if (t || !strstr(engine_last_error(), "cuda:0")) _exit(2);
        engine_clear_error();
        scope_begin();
        Tensor *y = t_add_scalar(tensor_ones(SHAPE(3), DT_F32, CPU), 1.0);
        int ok = y && tensor_item(t_sum(y, NULL, 0, false)) == 6.0;
        scope_end();
        fflush(stdout);
        _exit(ok ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child for module %s: status %d", module ? module : "(none)", status);
}

#ifdef ENGINE_HAVE_CUDA
/* This build's module (beside libengine.so) copied to `out` with its need
 * for libcudnn.so.N renamed to libcudnX.so.N: a machine without cuDNN, as
 * the loader sees it. False when the module is not there. */
static bool module_without_cudnn(const char *out)
{
    Dl_info info;
    if (!dladdr((void *)&backend_get, &info) || !info.dli_fname) return false;
    char path[512];
    snprintf(path, sizeof path, "%s", info.dli_fname);
    char *slash = strrchr(path, '/');
    if (!slash) return false;
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "libengine_cuda.so");
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t cap = (size_t)64 << 20, n;
    char *buf = malloc(cap);
    assert_non_null(buf);
    n = fread(buf, 1, cap, f);
    fclose(f);
    static const char need[] = "libcudnn.so.";
    int renamed = 0;
    for (size_t i = 0; i + sizeof need - 1 <= n; i++)
        if (memcmp(buf + i, need, sizeof need - 1) == 0) {
            buf[i + 7] = 'X';
            renamed++;
        }
    f = fopen(out, "wb");
    assert_non_null(f);
    assert_true(fwrite(buf, 1, n, f) == n);
    assert_int_equal(fclose(f), 0);
    free(buf);
    return renamed > 0;
}
#endif

static void test_unloadable_modules_leave_the_cpu(void **state)
{
#ifdef ENGINE_HAVE_CUDA
    /* not an ELF file: dlopen's own message names the file */
    check_unloadable_module("text:not a shared object", "libengine_cuda.so");
    /* a shared object without the entry point */
    check_unloadable_module("/lib/x86_64-linux-gnu/libm.so.6", ENGINE_BACKEND_ENTRY);
    /* the real module on a machine without cuDNN: the loader's message names the library */
    char patched[] = "/tmp/test_backend_module_XXXXXX";
    int fd = mkstemp(patched);
    assert_true(fd >= 0);
    close(fd);
    if (module_without_cudnn(patched)) check_unloadable_module(patched, "libcudnX.so");
    else print_message("  (no libengine_cuda.so beside libengine.so: the missing-library case is not run)\n");
    unlink(patched);
#else
    check_unloadable_module(NULL, "no CUDA support");
#endif
}

/* ---- a stand-in accelerator with the CPU's memory and a few kernels ---- */

static Backend stand_in;

static void register_stand_in(void)
{
    if (backend_loaded(DEVICE_CUDA) == &stand_in) return;
    /* services from the CPU (host memory serves as the device's), kernels: fill, copy and unary only */
    stand_in = (Backend){
        .abi = ENGINE_BACKEND_ABI,
        .name = "stand-in",
        .device_type = DEVICE_CUDA,
        .device_count = cpu_backend.device_count,
        .alloc = cpu_backend.alloc,
        .free = cpu_backend.free,
        .copy = cpu_backend.copy,
        .fill = cpu_backend.fill,
        .memcpy_to_host = cpu_backend.memcpy_to_host,
        .memcpy_from_host = cpu_backend.memcpy_from_host,
        .unary = cpu_backend.unary,
    };
    /* must come before anything asks for a GPU, which would load the real module */
    assert_int_equal(backend_register(&stand_in), 0);
    assert_ptr_equal(backend_get(DEVICE_CUDA), &stand_in);
}

static void test_bad_tables_are_refused(void **state)
{
    Backend b = cpu_backend;
    b.name = "old";
    b.abi = ENGINE_BACKEND_ABI + 1;
    expect_failure(backend_register(&b) != 0, "old", "another version");
    b = cpu_backend;
    b.name = "no-alloc";
    b.alloc = NULL;
    expect_failure(backend_register(&b) != 0, "no-alloc", "alloc");
    assert_ptr_equal(backend_get(DEVICE_CPU), &cpu_backend);
}

static void test_missing_kernels_are_errors(void **state)
{
    register_stand_in();
    scope_begin();
    Tensor *x = tensor_ones(SHAPE(1, 1, 4, 4), DT_F32, CUDA(0));
    REQUIRE_OK(x);
    assert_int_equal(device_cuda_count(), 1);
    /* what the stand-in has works */
    Tensor *y = t_mul_scalar(x, 3.0);
    REQUIRE_OK(y);
    float v[16];
    assert_int_equal(tensor_copy_to_buffer(y, v), 0);
    assert_true(v[0] == 3.0f && v[15] == 3.0f);
    /* what it lacks is an error naming the kernel and the backend */
    expect_error(f_max_pool2d(x, pool_params(2, 2, 0)), "max_pool2d is not implemented on stand-in", NULL);
    expect_error(t_add(x, x), "binary is not implemented on stand-in", NULL);
    expect_error(t_sum(x, NULL, 0, false), "sum is not implemented on stand-in", NULL);
    expect_error(f_softmax(t_flatten(x, 0, -1), 0), "softmax is not implemented on stand-in", NULL);
    expect_failure(t_add_(x, x, 1.0) != 0, "axpy is not implemented on stand-in", NULL);
    /* device services the stand-in lacks are no-ops or zeros */
    MemoryStats m;
    assert_int_equal(device_memory_stats(CUDA(0), &m), 0);
    assert_true(m.allocated == 0);
    device_synchronize(CUDA(0));
    device_empty_cache(CUDA(0));
    scope_end();
}

#ifdef ENGINE_HAVE_CUDA
/* On a machine without an NVIDIA driver, asking for a GPU maps neither the
 * CUDA module nor any CUDA library (the default config asks for one). */
static void test_no_driver_loads_nothing(void **state)
{
    if (access("/dev/nvidiactl", F_OK) == 0 || access("/proc/driver/nvidia/version", F_OK) == 0 ||
        access("/dev/dxg", F_OK) == 0) {
        print_message("  this machine has an NVIDIA driver: nothing to check\n");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsetenv("ENGINE_BACKEND_PATH");
        int n = device_cuda_count();
        const char *why = device_unavailable_reason(DEVICE_CUDA);
        printf("  %d devices; reason: %s\n", n, why);
        if (n != 0 || !strstr(why, "no NVIDIA driver")) _exit(1);
        FILE *maps = fopen("/proc/self/maps", "r");
        if (!maps) _exit(2);
        char line[1024];
        int mapped = 0;
        while (fgets(line, sizeof line, maps))
            if (strstr(line, "libengine_cuda") || strstr(line, "libcudart") || strstr(line, "libcublas")) {
                printf("  mapped: %s", line);
                mapped = 1;
            }
        fclose(maps);
        fflush(stdout);
        _exit(mapped ? 3 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("child: status %d", status);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_table_is_complete),
        /* before the stand-in: a child inherits the registry as it is */
        cmocka_unit_test(test_unloadable_modules_leave_the_cpu),
#ifdef ENGINE_HAVE_CUDA
        cmocka_unit_test(test_no_driver_loads_nothing),
#endif
        cmocka_unit_test(test_bad_tables_are_refused),
        cmocka_unit_test(test_missing_kernels_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
