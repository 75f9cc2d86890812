/* The OpenMPI transport of dist/comm.h, built as the module libdist_mpi.so
 * (linked with libmpi; see dist/world.c for how it is found and loaded).
 * Errors come back as return codes (MPI_ERRORS_RETURN) with MPI's own
 * message (ops->error), so a failing collective names itself instead of
 * aborting silently. Counts above INT_MAX go in pieces (MPI counts are int). */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/comm.h"

/* The last failure's message (the module does not link the engine, whose
 * error slot the caller fills from this). */
static char last_error[MPI_MAX_ERROR_STRING + 128];
static const char *error_text(void) { return last_error; }

struct CommRequest {
    MPI_Request r;
};

/* 0, or -1 with an error naming the collective and MPI's message. */
static int checked(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
    snprintf(last_error, sizeof last_error, "MPI %s failed: %s", what, text);
    return -1;
}

/* The piece of a count MPI takes at once. */
static int piece(int64_t left) { return left > INT_MAX ? INT_MAX : (int)left; }

static int allreduce(void *buf, int64_t n, size_t elem, MPI_Datatype type, MPI_Op op, const char *what)
{
    for (int64_t done = 0; done < n;) {
        int k = piece(n - done);
        if (checked(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)done * elem, k, type, op, MPI_COMM_WORLD), what))
            return -1;
        done += k;
    }
    return 0;
}

static int allreduce_sum_f32(float *buf, int64_t n)
{
    return allreduce(buf, n, sizeof(float), MPI_FLOAT, MPI_SUM, "all-reduce (sum, float32)");
}

static int allreduce_sum_f64(double *buf, int64_t n)
{
    return allreduce(buf, n, sizeof(double), MPI_DOUBLE, MPI_SUM, "all-reduce (sum, float64)");
}

static int allreduce_max_i64(int64_t *buf, int64_t n)
{
    return allreduce(buf, n, sizeof(int64_t), MPI_INT64_T, MPI_MAX, "all-reduce (max, int64)");
}

static int iallreduce_sum_f32(float *buf, int64_t n, CommRequest **req)
{
    /* a gradient bucket is far below INT_MAX elements (bucket_mb is checked) */
    if (n > INT_MAX) {
        snprintf(last_error, sizeof last_error, "MPI all-reduce: a bucket of %lld elements is too large", (long long)n);
        return -1;
    }
    CommRequest *q = malloc(sizeof *q);
    if (!q) {
        snprintf(last_error, sizeof last_error, "MPI all-reduce: out of memory");
        return -1;
    }
    if (checked(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q->r),
                "all-reduce (sum, float32, started)")) {
        free(q);
        return -1;
    }
    *req = q;
    return 0;
}

static int test(CommRequest *req, bool *done)
{
    int flag = 0;
    if (checked(MPI_Test(&req->r, &flag, MPI_STATUS_IGNORE), "test of an all-reduce")) return -1;
    *done = flag != 0;
    if (*done) free(req);
    return 0;
}

static int wait(CommRequest *req)
{
    int rc = checked(MPI_Wait(&req->r, MPI_STATUS_IGNORE), "wait for an all-reduce");
    free(req);
    return rc;
}

static int broadcast(void *buf, int64_t bytes, int root)
{
    for (int64_t done = 0; done < bytes;) {
        int k = piece(bytes - done);
        if (checked(MPI_Bcast((char *)buf + done, k, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast")) return -1;
        done += k;
    }
    return 0;
}

static int allgather(const void *send, void *recv, int64_t bytes)
{
    if (bytes > INT_MAX) {
        snprintf(last_error, sizeof last_error, "MPI all-gather: %lld bytes per rank is too large", (long long)bytes);
        return -1;
    }
    return checked(MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD), "all-gather");
}

static int barrier(void) { return checked(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

static int send(const void *buf, int64_t bytes, int dest, int tag)
{
    if (bytes > INT_MAX) {
        snprintf(last_error, sizeof last_error, "MPI send: %lld bytes is too large", (long long)bytes);
        return -1;
    }
    return checked(MPI_Send(buf, (int)bytes, MPI_BYTE, dest, tag, MPI_COMM_WORLD), "send");
}

static int probe(int src, int tag, bool *waiting, int *from, int *tag_out, int64_t *bytes)
{
    int flag = 0, count = 0;
    MPI_Status st;
    if (checked(MPI_Iprobe(src < 0 ? MPI_ANY_SOURCE : src, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &flag, &st),
                "probe"))
        return -1;
    *waiting = flag != 0;
    if (!flag) return 0;
    if (checked(MPI_Get_count(&st, MPI_BYTE, &count), "probe (message size)")) return -1;
    *from = st.MPI_SOURCE;
    *tag_out = st.MPI_TAG;
    *bytes = count;
    return 0;
}

static int recv(void *buf, int64_t bytes, int src, int tag)
{
    return checked(MPI_Recv(buf, (int)bytes, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "receive");
}

static void abort_job(int status) { MPI_Abort(MPI_COMM_WORLD, status); }

static void finalize(void) { MPI_Finalize(); }

static const CommOps mpi_ops = {
    .name = "mpi",
    .error = error_text,
    .allreduce_sum_f32 = allreduce_sum_f32,
    .allreduce_sum_f64 = allreduce_sum_f64,
    .allreduce_max_i64 = allreduce_max_i64,
    .iallreduce_sum_f32 = iallreduce_sum_f32,
    .test = test,
    .wait = wait,
    .broadcast = broadcast,
    .allgather = allgather,
    .barrier = barrier,
    .send = send,
    .probe = probe,
    .recv = recv,
    .abort = abort_job,
    .finalize = finalize,
};

/* The module's entry point (DIST_MODULE_ENTRY). */
const CommOps *dist_module_init(CommWorld *world, char *err, size_t err_size);

const CommOps *dist_module_init(CommWorld *world, char *err, size_t err_size)
{
    int provided = 0;
    /* only the main thread calls MPI (the loader's workers and OpenMP threads never do) */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, err_size, "MPI_Init_thread failed");
        return NULL;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm local;
    if (MPI_Comm_rank(MPI_COMM_WORLD, &world->rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &world->size) != MPI_SUCCESS ||
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world->rank, MPI_INFO_NULL, &local) != MPI_SUCCESS) {
        snprintf(err, err_size, "MPI: cannot read this process's rank");
        MPI_Finalize();
        return NULL;
    }
    MPI_Comm_rank(local, &world->local_rank);
    MPI_Comm_size(local, &world->local_size);
    MPI_Comm_free(&local);
    return &mpi_ops;
}
