/* Metrics selectable by name in config.json ("metrics": ["accuracy",
 * "top_k_acc"]), like pytorch-template's model/metric.py. A metric returns
 * the number of correct samples in the batch, so trackers can average over
 * samples (the reference averages per batch, which weights a short last
 * batch as much as a full one). */
#ifndef MODEL_METRIC_H
#define MODEL_METRIC_H

#include "engine/tensor.h"

/* Correct predictions in the batch, or -1 with an error. output [B, C], target i64 [B]. */
typedef double (*MetricFn)(Tensor *output, Tensor *target);

MetricFn metric_lookup(const char *name, const char *config_label);

double accuracy(Tensor *output, Tensor *target);
/* Target among the 3 highest scores (the reference's default k). */
double top_k_acc(Tensor *output, Tensor *target);

#endif
