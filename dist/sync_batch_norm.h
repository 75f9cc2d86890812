/* SyncBatchNorm (distributed.sync_batchnorm): every BatchNorm normalises
 * with the global batch's statistics, through the differentiable
 * all-reduce defined here (engine/nn's BatchNorm does the arithmetic). */
#ifndef DIST_SYNC_BATCH_NORM_H
#define DIST_SYNC_BATCH_NORM_H

#include <stdbool.h>

/* Turns it on (in a distributed run) or off. */
void dist_sync_batch_norm(bool on);

#endif
