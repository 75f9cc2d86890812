/* The loss and metric counts of recent steps, kept on the model's device
 * and read back several steps at a time. Reading a value (loss.item() in
 * the reference) makes the host wait until the GPU has finished the step;
 * doing it once per log_step steps instead of several times per step lets
 * the host queue the next steps while the GPU works. What is logged stays
 * the same: every step's values, in order, with its own TensorBoard step. */
#ifndef TRAINER_STEP_VALUES_H
#define TRAINER_STEP_VALUES_H

#include <stdint.h>

#include "engine/tensor.h"

typedef struct {
    int64_t step;  /* TensorBoard step */
    int64_t batch; /* batch index in the epoch */
    int64_t n;     /* samples in the batch */
    double lr;     /* the learning rate the step used */
    double time;   /* when the step was queued (writer_clock) */
} StepInfo;

typedef struct {
    Tensor *values; /* persistent [capacity, n_values] f32 on the device */
    StepInfo *info;
    float *host;    /* the values read back, [count, n_values] */
    int capacity, n_values, count;
} StepValues;

/* Room for capacity steps of n_values values each; -1 with an error. */
int step_values_init(StepValues *sv, int capacity, int n_values, Device device);
void step_values_free(StepValues *sv);
/* Queues the copy of values[0..n_values) (0-dim tensors on the device) into
 * the next row; never waits for the device. The caller reads the rows back
 * (step_values_read) before the buffer is full. -1 with an error. */
int step_values_push(StepValues *sv, Tensor *const *values, StepInfo info);
static inline bool step_values_full(const StepValues *sv) { return sv->count == sv->capacity; }
/* Copies the queued rows to sv->host (one wait for the device) and empties
 * the queue; returns the number of rows, with their infos in sv->info,
 * or -1 with an error. */
int step_values_read(StepValues *sv);

#endif
