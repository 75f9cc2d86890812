/* The loss and the metrics from config.json ("loss": "nll_loss",
 * "metrics": ["accuracy", "top_k_acc"]), read the same way by ./train and
 * ./test, so neither accepts what the other refuses. */
#ifndef UTILS_CRITERION_CONFIG_H
#define UTILS_CRITERION_CONFIG_H

#include "model/loss.h"
#include "model/metric.h"
#include "utils/config.h"

#define CONFIG_MAX_METRICS 8

/* NULL with an error naming "loss". */
LossFn loss_from_config(const Config *cfg);
/* The names and functions of "metrics" (absent: none). -1 with an error
 * naming the entry: not a list, more than CONFIG_MAX_METRICS, an unknown
 * name, or a name listed twice. */
int metrics_from_config(const Config *cfg, int *n, const char **names, MetricFn *fns);

#endif
