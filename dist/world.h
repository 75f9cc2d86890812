/* This process's place in a distributed run, and the collectives the
 * trainer uses (dist/comm.h carries them). Under mpirun (or another MPI
 * launcher, recognised by its environment) dist_init loads the transport
 * module and joins the job; otherwise the run is a single process, nothing
 * is loaded, and every collective below returns at once with the input as
 * its result (a sum over one rank). */
#ifndef DIST_WORLD_H
#define DIST_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "dist/comm.h"

/* 0 (joined, or single process), or -1 with an error (under a launcher but
 * the transport module is missing or fails to start). */
int dist_init(void);
/* Whether this process is one rank of a launched job (even of size 1). */
bool dist_launched(void);
int dist_rank(void);
int dist_size(void);
int dist_local_rank(void);
int dist_local_size(void);
/* Rank 0: the one that writes logs, events, checkpoints. */
static inline bool dist_is_main(void) { return dist_rank() == 0; }
/* The transport, or NULL in a single process. */
const CommOps *dist_ops(void);
/* The GPU transport (NCCL) for CUDA device `device`, loaded and connected
 * on first use (a collective: every rank calls it); NULL with an error
 * naming the rank when the module or NCCL cannot start. */
const DeviceCommOps *dist_device_ops(int device);

int dist_allreduce_sum_f32(float *v, int64_t n);
int dist_allreduce_sum_f64(double *v, int64_t n);
int dist_allreduce_max_i64(int64_t *v, int64_t n);
int dist_broadcast(void *buf, int64_t bytes, int root);
/* recv: size x bytes, rank after rank. */
int dist_allgather(const void *send, void *recv, int64_t bytes);
int dist_barrier(void);
/* Point to point (CommOps' send, probe and recv, with the rank in the error). */
int dist_send(const void *buf, int64_t bytes, int dest, int tag);
int dist_probe(int src, int tag, bool *waiting, int *from, int *tag_out, int64_t *bytes);
int dist_recv(void *buf, int64_t bytes, int src, int tag);
/* Whether any rank says yes (a stop, a failure): the same answer on every rank. */
int dist_any(bool mine, bool *any);
/* Whether a signal asked any rank to stop (utils/interrupt.h), agreed by
 * all: every rank stops at the same step. */
bool dist_interrupt_agreed(void);
/* Ends the whole job (every rank) with status; a single process exits. */
void dist_abort(int status);
/* Leaves the job cleanly (all ranks call it). */
void dist_finalize(void);

#endif
