/* The backend registry (see backend.h): the table of each device type, the
 * one load attempt per module, device checks, and the numeric modes that
 * must reach a backend loaded after they were set. */
#include "engine/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/backend_module.h"
#include "engine/cpu/backend.h"

const Backend *engine_backends[DEVICE_TYPE_COUNT] = {[DEVICE_CPU] = &cpu_backend};

/* Why each type's backend is missing, written once by its load attempt. */
static char unavailable[DEVICE_TYPE_COUNT][512];

static atomic_bool tf32_mode, deterministic_mode;

/* The module file of each loadable device type (NULL: built in or none). */
static const char *const module_file[DEVICE_TYPE_COUNT] = {[DEVICE_CUDA] = "libengine_cuda.so"};

/* What is wrong with table b for this engine, or NULL when nothing is. */
static const char *table_problem(const Backend *b)
{
    if (b->abi != ENGINE_BACKEND_ABI) return "built for another version of the backend interface";
    if (b->device_type < 0 || b->device_type >= DEVICE_TYPE_COUNT) return "bad device type";
    if (!b->device_count || !b->alloc || !b->free || !b->copy || !b->fill || !b->memcpy_to_host ||
        !b->memcpy_from_host)
        return "a required service (device_count, alloc, free, copy, fill, memcpy) is missing";
    return NULL;
}

static void install(const Backend *b)
{
    if (b->set_tf32) b->set_tf32(atomic_load(&tf32_mode));
    if (b->set_deterministic) b->set_deterministic(atomic_load(&deterministic_mode));
    engine_backends[b->device_type] = b;
}

int backend_register(const Backend *b)
{
    const char *problem = table_problem(b);
    ENGINE_CHECK_INT(problem == NULL, "backend %s: %s", b->name, problem);
    install(b);
    return 0;
}

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;

#ifdef ENGINE_HAVE_CUDA
/* Whether this machine has an NVIDIA driver: its control device (Linux,
 * containers given GPUs), its /proc entry, or WSL's GPU device. Without one
 * the CUDA module and CUDA's libraries (some 200 MiB of a process's
 * memory) are not loaded at all: pytorch-template's default config asks
 * for a GPU, and a CPU machine should pay nothing for that.
 * ENGINE_BACKEND_PATH (an explicit module) skips the check. */
static bool nvidia_driver_present(void)
{
    static const char *const signs[] = {"/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/dxg"};
    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
        if (access(signs[i], F_OK) == 0) return true;
    return false;
}
#endif

/* Loads the CUDA module; on failure keeps the reason (and records no
 * engine error: a missing GPU is not an op's failure). A table a program
 * registered itself before the first GPU request (a test's stand-in) is
 * kept. */
static void load_cuda(void)
{
    if (engine_backends[DEVICE_CUDA]) return;
#ifdef ENGINE_HAVE_CUDA
    char path[4096];
    if (!getenv("ENGINE_BACKEND_PATH") && !nvidia_driver_present() &&
        backend_module_locate(module_file[DEVICE_CUDA], path, sizeof path)) {
        snprintf(unavailable[DEVICE_CUDA], sizeof unavailable[DEVICE_CUDA],
                 "no NVIDIA driver on this machine (no /dev/nvidiactl, /proc/driver/nvidia or /dev/dxg), so %s "
                 "was not loaded",
                 path);
        return;
    }
    const Backend *b = backend_module_load(module_file[DEVICE_CUDA], unavailable[DEVICE_CUDA],
                                           sizeof unavailable[DEVICE_CUDA]);
    if (!b) return;
    const char *problem = b->device_type != DEVICE_CUDA ? "not a CUDA backend" : table_problem(b);
    if (problem) {
        snprintf(unavailable[DEVICE_CUDA], sizeof unavailable[DEVICE_CUDA], "%s: %s", module_file[DEVICE_CUDA],
                 problem);
        return;
    }
    install(b);
#else
    /* configured without the toolkit, or with WITH_CUDA=OFF: no module was built */
    snprintf(unavailable[DEVICE_CUDA], sizeof unavailable[DEVICE_CUDA], "this build has no CUDA support (%s was not built)",
             module_file[DEVICE_CUDA]);
#endif
}

const Backend *backend_get(DeviceType type)
{
    if (type < 0 || type >= DEVICE_TYPE_COUNT) return NULL;
    if (type == DEVICE_CUDA) pthread_once(&cuda_once, load_cuda);
    return engine_backends[type];
}

const char *backend_unavailable_reason(DeviceType type)
{
    if (type < 0 || type >= DEVICE_TYPE_COUNT) return "unknown device type";
    return backend_get(type) ? "" : unavailable[type];
}

int backend_device_count(DeviceType type)
{
    const Backend *b = backend_get(type);
    return b ? b->device_count() : 0;
}

const Backend *backend_for_device(Device d, const char *op)
{
    const Backend *b = backend_get(d.type);
    if (!b) return engine_error("%s: device %s: %s", op, device_name(d), backend_unavailable_reason(d.type));
    if (d.type == DEVICE_CPU) return b;
    int n = b->device_count();
    ENGINE_CHECK(n > 0, "%s: device %s: no %s device is visible to this process", op, device_name(d), b->name);
    /* one device per process; -d / CUDA_VISIBLE_DEVICES choose which */
    ENGINE_CHECK(d.index == 0, "%s: device %s: only %s:0 is used (%d visible; choose the GPU with -d or "
                 "CUDA_VISIBLE_DEVICES)", op, device_name(d), b->name, n);
    return b;
}

void backend_set_tf32(bool enabled)
{
    atomic_store(&tf32_mode, enabled);
    for (int i = 0; i < DEVICE_TYPE_COUNT; i++)
        if (engine_backends[i] && engine_backends[i]->set_tf32) engine_backends[i]->set_tf32(enabled);
}

void backend_set_deterministic(bool enabled)
{
    atomic_store(&deterministic_mode, enabled);
    for (int i = 0; i < DEVICE_TYPE_COUNT; i++)
        if (engine_backends[i] && engine_backends[i]->set_deterministic) engine_backends[i]->set_deterministic(enabled);
}

bool backend_tf32(void) { return atomic_load(&tf32_mode); }
bool backend_deterministic(void) { return atomic_load(&deterministic_mode); }
