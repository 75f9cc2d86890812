/* Joining a distributed run (see world.h): the launcher is recognised by
 * the variables it sets, and the transport module (libdist_mpi.so) is
 * looked for where DIST_MODULE says, else next to the program or one
 * folder up (build/tuner/tune). A plain
 * run loads nothing: no MPI library is touched, mapped or needed. */
#include "dist/world.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"
#include "utils/interrupt.h"

#define MODULE_NAME "libdist_mpi.so"

static CommWorld world = {.rank = 0, .size = 1, .local_rank = 0, .local_size = 1};
static const CommOps *ops;
static bool launched;

/* The launcher's variable that shows this process is a rank, or NULL. */
static const char *launcher_variable(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return vars[i];
    return NULL;
}

/* dlopen of module `name`: the path in environment variable env_var, else
 * beside /proc/self/exe, else one folder up (a program in a subfolder of
 * the build: build/tuner/tune). */
static void *open_module(const char *name, const char *env_var, char *tried, size_t size)
{
    const char *env = getenv(env_var);
    char path[PATH_MAX + 64];
    if (env && env[0]) {
        snprintf(tried, size, "%s", env);
        return dlopen(env, RTLD_NOW | RTLD_GLOBAL);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    for (int up = 0; up < 2; up++) {
        snprintf(path, sizeof path, "%s%s/%s", exe, up ? "/.." : "", name);
        if (up == 0) snprintf(tried, size, "%s", path);
        if (access(path, F_OK) != 0) continue;
        snprintf(tried, size, "%s", path);
        /* global: MPI's own plugins, loaded by libmpi, resolve libmpi's symbols */
        return dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    }
    return NULL;
}

int dist_init(void)
{
    const char *var = launcher_variable();
    if (!var) return 0;
    char tried[PATH_MAX + 32] = "";
    void *module = open_module(MODULE_NAME, "DIST_MODULE", tried, sizeof tried);
    if (!module) {
        const char *why = dlerror();
        engine_error("this process runs under an MPI launcher (%s is set), but the MPI module could not be loaded: "
                     "%s (%s); build with OpenMPI installed (libopenmpi-dev), or set DIST_MODULE to the module's path",
                     var, tried, why ? why : "not found");
        return -1;
    }
    CommModuleInit init = NULL;
    *(void **)&init = dlsym(module, DIST_MODULE_ENTRY);
    ENGINE_CHECK_INT(init != NULL, "%s: no %s in the module: %s", tried, DIST_MODULE_ENTRY, dlerror());
    char err[512] = "";
    ops = init(&world, err, sizeof err);
    ENGINE_CHECK_INT(ops != NULL, "%s: %s", tried, err[0] ? err : "the transport failed to start");
    launched = true;
    return 0;
}

static const DeviceCommOps *device_ops;

const DeviceCommOps *dist_device_ops(int device)
{
    if (device_ops) return device_ops;
    ENGINE_CHECK(ops && world.size > 1, "distributed: the GPU transport needs a distributed run (mpirun)");
    char tried[PATH_MAX + 32] = "";
    void *module = open_module("libdist_nccl.so", "DIST_NCCL_MODULE", tried, sizeof tried);
    if (!module) {
        const char *why = dlerror();
        return engine_error("rank %d: distributed training on CUDA needs the NCCL module: %s (%s); CUDA builds make "
                            "it where NCCL is installed",
                            world.rank, tried, why ? why : "not found");
    }
    DeviceCommUniqueId unique_id = NULL;
    DeviceCommInit init = NULL;
    *(void **)&unique_id = dlsym(module, DIST_NCCL_ID_ENTRY);
    *(void **)&init = dlsym(module, DIST_NCCL_INIT_ENTRY);
    ENGINE_CHECK(unique_id && init, "%s: not the NCCL module (no %s / %s)", tried, DIST_NCCL_ID_ENTRY,
                 DIST_NCCL_INIT_ENTRY);
    unsigned char id[DIST_NCCL_ID_BYTES] = {0};
    char err[512] = "";
    int failed = world.rank == 0 && unique_id(id, err, sizeof err) != 0;
    /* every rank learns whether rank 0 could make the id, then gets it */
    bool any;
    if (dist_any(failed, &any)) return NULL;
    ENGINE_CHECK(!any, "rank 0: %s", err[0] ? err : "NCCL could not make the communicator's id");
    if (dist_broadcast(id, sizeof id, 0)) return NULL;
    device_ops = init(id, world.rank, world.size, device, err, sizeof err);
    ENGINE_CHECK(device_ops != NULL, "rank %d: %s", world.rank, err);
    return device_ops;
}

bool dist_launched(void) { return launched; }
int dist_rank(void) { return world.rank; }
int dist_size(void) { return world.size; }
int dist_local_rank(void) { return world.local_rank; }
int dist_local_size(void) { return world.local_size; }
const CommOps *dist_ops(void) { return ops; }

/* rc of a collective: -1 carries the transport's message into the engine's error. */
static int relay(int rc)
{
    if (rc) engine_error("rank %d: %s", world.rank, ops->error());
    return rc;
}

int dist_allreduce_sum_f32(float *v, int64_t n) { return ops && world.size > 1 ? relay(ops->allreduce_sum_f32(v, n)) : 0; }
int dist_allreduce_sum_f64(double *v, int64_t n) { return ops && world.size > 1 ? relay(ops->allreduce_sum_f64(v, n)) : 0; }
int dist_allreduce_max_i64(int64_t *v, int64_t n) { return ops && world.size > 1 ? relay(ops->allreduce_max_i64(v, n)) : 0; }
int dist_broadcast(void *buf, int64_t bytes, int root)
{
    return ops && world.size > 1 ? relay(ops->broadcast(buf, bytes, root)) : 0;
}

int dist_allgather(const void *send, void *recv, int64_t bytes)
{
    if (!ops || world.size == 1) {
        memmove(recv, send, (size_t)bytes);
        return 0;
    }
    return relay(ops->allgather(send, recv, bytes));
}

int dist_barrier(void) { return ops && world.size > 1 ? relay(ops->barrier()) : 0; }

int dist_send(const void *buf, int64_t bytes, int dest, int tag)
{
    ENGINE_CHECK_INT(ops != NULL, "distributed: send outside an MPI job");
    return relay(ops->send(buf, bytes, dest, tag));
}

int dist_probe(int src, int tag, bool *waiting, int *from, int *tag_out, int64_t *bytes)
{
    ENGINE_CHECK_INT(ops != NULL, "distributed: probe outside an MPI job");
    return relay(ops->probe(src, tag, waiting, from, tag_out, bytes));
}

int dist_recv(void *buf, int64_t bytes, int src, int tag)
{
    ENGINE_CHECK_INT(ops != NULL, "distributed: receive outside an MPI job");
    return relay(ops->recv(buf, bytes, src, tag));
}

int dist_any(bool mine, bool *any)
{
    int64_t v = mine;
    if (dist_allreduce_max_i64(&v, 1)) return -1;
    *any = v != 0;
    return 0;
}

bool dist_interrupt_agreed(void)
{
    bool any = interrupt_requested() != 0;
    if (dist_size() > 1 && dist_any(any, &any)) return true; /* a failing transport: stop */
    return any;
}

void dist_abort(int status)
{
    fflush(stdout);
    fflush(stderr);
    if (ops) ops->abort(status);
    exit(status);
}

void dist_finalize(void)
{
    if (device_ops) device_ops->finalize();
    device_ops = NULL;
    if (ops) ops->finalize();
    ops = NULL;
}
