/* torch.optim in one include: optimizers and their algorithms, LR
 * schedulers, and gradient clipping. */
#ifndef ENGINE_OPTIM_OPTIM_H
#define ENGINE_OPTIM_OPTIM_H

#include "engine/optim/algorithms.h"
#include "engine/optim/clip_grad.h"
#include "engine/optim/lr_scheduler.h"
#include "engine/optim/optimizer.h"

#endif
