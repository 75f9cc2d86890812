/* Metrics selectable by name in config.json ("metrics": ["accuracy",
 * "top_k_acc"]), like pytorch-template's model/metric.py. A metric returns
 * the number of correct samples in the batch, so trackers can average over
 * samples (the reference averages per batch, which weights a short last
 * batch as much as a full one). It returns that count as a 0-dim tensor on
 * the model's device, computed with ops: the trainer reads the counts of
 * several steps back at once, so a GPU step never waits for the host. */
#ifndef MODEL_METRIC_H
#define MODEL_METRIC_H

#include "engine/tensor.h"

/* Correct predictions in the batch as a 0-dim f32 tensor on output's
 * device, or NULL with an error. output [B, C], target i64 [B]. A row of
 * output holding a NaN or a +Inf never counts as correct (see metric.c). */
typedef Tensor *(*MetricFn)(Tensor *output, Tensor *target);

MetricFn metric_lookup(const char *name, const char *config_label);

Tensor *accuracy(Tensor *output, Tensor *target);
/* Target among the 3 highest scores (the reference's default k). */
Tensor *top_k_acc(Tensor *output, Tensor *target);

#endif
