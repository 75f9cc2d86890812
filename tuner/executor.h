/* Where trials run. A trial is a command line (./train with its options);
 * an executor starts it, reports when it has ended and passes signals on.
 * The local executor forks processes on this machine; the MPI executor
 * (executor_mpi.c) keeps the search loop on rank 0 and turns start, poll
 * and signal into messages to worker ranks that fork ./train themselves;
 * the trials' folders must then be on a file system every rank sees, since
 * the search reads their metrics.csv. */
#ifndef TUNE_EXECUTOR_H
#define TUNE_EXECUTOR_H

#include <stdint.h>

typedef struct Executor Executor;

struct Executor {
    /* Starts argv (argv[0] the program) with stdout and stderr appended to
     * log_path; *handle identifies it. 0, or -1 with an error. */
    int (*start)(Executor *e, char *const argv[], const char *log_path, int64_t *handle);
    /* 0 while it runs; 1 when it has ended, with *status its exit status
     * (128 + N when signal N ended it); -1 with an error. */
    int (*poll)(Executor *e, int64_t handle, int *status);
    /* Sends sig to it (SIGINT, SIGTERM). 0 or -1. */
    int (*signal)(Executor *e, int64_t handle, int sig);
    void (*destroy)(Executor *e);
    void *impl;
};

/* Processes on this machine, each in a process group of its own (a Ctrl-C
 * on the terminal reaches ./tune alone, which passes it on). When
 * omp_threads > 0 and the environment sets no OMP_NUM_THREADS, the trials
 * get OMP_NUM_THREADS=omp_threads, so concurrent trials share the cores. */
Executor *executor_local_new(int omp_threads);

/* Under mpirun (dist/world.h): rank 0's executor, which runs each trial on
 * one of the worker ranks 1..N-1 (executor_mpi_workers() of them, one trial
 * each at a time), and what the worker ranks run instead of the search:
 * trials as the coordinator asks, with the local executor, until it says
 * stop. -1 with an error. */
Executor *executor_mpi_new(void);
int executor_mpi_workers(void);
int executor_mpi_serve(int omp_threads);

#endif
