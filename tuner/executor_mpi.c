/* The MPI executor (see executor.h): under `mpirun -np N ./tune ...` rank 0
 * keeps the search loop and ranks 1..N-1 are workers that run one trial
 * each at a time, with the local executor on their own machine. start,
 * poll and signal become messages over dist/comm.h's point-to-point calls:
 *   START  (to a worker)  handle, the log path and argv, NUL-separated
 *   SIGNAL (to a worker)  handle, signal number
 *   EXIT   (from a worker) handle, exit status
 *   STOP   (to a worker)  the search is over
 * The trials' folders must be on a file system every rank sees (the search
 * reads their metrics.csv and checkpoints). */
#include "tuner/executor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/world.h"
#include "engine/error.h"

enum { TAG_START = 101, TAG_SIGNAL, TAG_EXIT, TAG_STOP };
enum { MAX_MESSAGE = 1 << 20 };

typedef struct {
    int64_t handle;
    int32_t value; /* the signal or the exit status */
} Small;

typedef struct {
    int64_t handle; /* the trial a worker runs, -1 when idle */
} Worker;

typedef struct {
    int64_t handle;
    int worker;
    bool done;
    int status;
} Job;

typedef struct {
    Worker *workers; /* index = rank - 1 */
    int n_workers;
    Job *jobs;
    int n_jobs, cap_jobs;
    int64_t next_handle;
} Coordinator;

static Job *find_job(Coordinator *c, int64_t handle)
{
    for (int i = 0; i < c->n_jobs; i++)
        if (c->jobs[i].handle == handle) return &c->jobs[i];
    return NULL;
}

/* Takes every EXIT message waiting. */
static int drain_exits(Coordinator *c)
{
    for (;;) {
        bool waiting;
        int from, tag;
        int64_t bytes;
        if (dist_probe(-1, TAG_EXIT, &waiting, &from, &tag, &bytes)) return -1;
        if (!waiting) return 0;
        Small m;
        ENGINE_CHECK_INT(bytes == (int64_t)sizeof m, "tune: a message of %lld bytes from rank %d", (long long)bytes,
                         from);
        if (dist_recv(&m, sizeof m, from, TAG_EXIT)) return -1;
        Job *j = find_job(c, m.handle);
        ENGINE_CHECK_INT(j != NULL, "tune: rank %d reports an unknown trial %lld", from, (long long)m.handle);
        j->done = true;
        j->status = m.value;
        c->workers[j->worker].handle = -1;
    }
}

static int coord_start(Executor *e, char *const argv[], const char *log_path, int64_t *handle)
{
    Coordinator *c = e->impl;
    if (drain_exits(c)) return -1;
    int w = 0;
    while (w < c->n_workers && c->workers[w].handle >= 0) w++;
    ENGINE_CHECK_INT(w < c->n_workers, "tune: all %d worker ranks are busy", c->n_workers);
    /* handle, then NUL-separated strings: the log path and argv */
    size_t size = sizeof(int64_t) + strlen(log_path) + 1;
    for (int i = 0; argv[i]; i++) size += strlen(argv[i]) + 1;
    ENGINE_CHECK_INT(size <= MAX_MESSAGE, "tune: a trial's command of %zu bytes is too long", size);
    char *msg = malloc(size);
    ENGINE_ASSERT(msg != NULL);
    int64_t h = c->next_handle++;
    memcpy(msg, &h, sizeof h);
    size_t at = sizeof h;
    at += (size_t)sprintf(msg + at, "%s", log_path) + 1;
    for (int i = 0; argv[i]; i++) at += (size_t)sprintf(msg + at, "%s", argv[i]) + 1;
    int rc = dist_send(msg, (int64_t)at, w + 1, TAG_START);
    free(msg);
    if (rc) return -1;
    if (c->n_jobs == c->cap_jobs) {
        c->cap_jobs = c->cap_jobs ? 2 * c->cap_jobs : 64;
        c->jobs = realloc(c->jobs, sizeof *c->jobs * (size_t)c->cap_jobs);
        ENGINE_ASSERT(c->jobs != NULL);
    }
    c->jobs[c->n_jobs++] = (Job){.handle = h, .worker = w};
    c->workers[w].handle = h;
    *handle = h;
    return 0;
}

static int coord_poll(Executor *e, int64_t handle, int *status)
{
    Coordinator *c = e->impl;
    if (drain_exits(c)) return -1;
    Job *j = find_job(c, handle);
    ENGINE_CHECK_INT(j != NULL, "tune: no trial %lld", (long long)handle);
    if (!j->done) return 0;
    *status = j->status;
    return 1;
}

static int coord_signal(Executor *e, int64_t handle, int sig)
{
    Coordinator *c = e->impl;
    Job *j = find_job(c, handle);
    ENGINE_CHECK_INT(j != NULL, "tune: no trial %lld", (long long)handle);
    if (j->done) return 0;
    Small m = {.handle = handle, .value = sig};
    return dist_send(&m, sizeof m, j->worker + 1, TAG_SIGNAL);
}

static void coord_destroy(Executor *e)
{
    if (!e) return;
    Coordinator *c = e->impl;
    char stop = 0;
    for (int w = 0; w < c->n_workers; w++) dist_send(&stop, 1, w + 1, TAG_STOP);
    free(c->workers);
    free(c->jobs);
    free(c);
    free(e);
}

int executor_mpi_workers(void) { return dist_size() - 1; }

Executor *executor_mpi_new(void)
{
    ENGINE_CHECK(dist_size() > 1 && dist_is_main(), "tune: the MPI executor runs on rank 0 of several");
    Executor *e = calloc(1, sizeof *e);
    Coordinator *c = calloc(1, sizeof *c);
    ENGINE_ASSERT(e && c);
    c->n_workers = dist_size() - 1;
    c->workers = malloc(sizeof *c->workers * (size_t)c->n_workers);
    ENGINE_ASSERT(c->workers != NULL);
    for (int w = 0; w < c->n_workers; w++) c->workers[w].handle = -1;
    e->impl = c;
    e->start = coord_start;
    e->poll = coord_poll;
    e->signal = coord_signal;
    e->destroy = coord_destroy;
    return e;
}

/* ---- the worker ranks ---- */

static void nap(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* The trial's log begins with where it runs. */
static void say_where(const char *log_path)
{
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    FILE *f = fopen(log_path, "a");
    if (!f) return; /* the start that follows reports the log's problem */
    fprintf(f, "tune: this trial runs on rank %d of %d (%s)\n", dist_rank(), dist_size(), host);
    fclose(f);
}

int executor_mpi_serve(int omp_threads)
{
    Executor *local = executor_local_new(omp_threads);
    if (!local) return -1;
    int64_t handle = -1, pid = 0; /* the trial this rank runs */
    char *msg = malloc(MAX_MESSAGE);
    ENGINE_ASSERT(msg != NULL);
    int rc = 0;
    for (bool stop = false; !stop && rc == 0;) {
        bool waiting;
        int from, tag;
        int64_t bytes;
        if (dist_probe(0, -1, &waiting, &from, &tag, &bytes)) {
            rc = -1;
            break;
        }
        if (waiting) {
            if (bytes > MAX_MESSAGE || dist_recv(msg, bytes, 0, tag)) {
                rc = -1;
                break;
            }
            if (tag == TAG_STOP) {
                stop = true;
            } else if (tag == TAG_SIGNAL && handle >= 0) {
                Small m;
                memcpy(&m, msg, sizeof m);
                if (m.handle == handle) local->signal(local, pid, m.value);
            } else if (tag == TAG_START) {
                /* the strings: log path, then argv */
                char *argv[512];
                int argc = 0;
                char *log_path = msg + sizeof(int64_t), *p = log_path + strlen(log_path) + 1;
                while (p < msg + bytes && argc < 511) {
                    argv[argc++] = p;
                    p += strlen(p) + 1;
                }
                argv[argc] = NULL;
                memcpy(&handle, msg, sizeof handle);
                say_where(log_path);
                if (local->start(local, argv, log_path, &pid)) { /* reported as a trial that could not run */
                    fprintf(stderr, "tune: rank %d: %s\n", dist_rank(), engine_last_error());
                    engine_clear_error();
                    Small m = {.handle = handle, .value = 127};
                    rc = dist_send(&m, sizeof m, 0, TAG_EXIT);
                    handle = -1;
                }
            }
            continue;
        }
        int status;
        int r = handle >= 0 ? local->poll(local, pid, &status) : 0;
        if (r < 0) rc = -1;
        if (r == 1) {
            Small m = {.handle = handle, .value = status};
            rc = dist_send(&m, sizeof m, 0, TAG_EXIT);
            handle = -1;
        }
        if (r == 0) nap();
    }
    if (handle >= 0) { /* the coordinator ended while a trial ran: stop it as a signal would */
        local->signal(local, pid, SIGTERM);
        int status;
        while (local->poll(local, pid, &status) == 0) nap();
    }
    free(msg);
    local->destroy(local);
    return rc;
}
