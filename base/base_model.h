/* BaseModel: every model is an engine Module (engine/nn/module.h); what
 * pytorch-template's BaseModel adds is its printed form, the module tree
 * followed by the number of trainable parameters; here also the number of
 * frozen ones (requires_grad off: arch.freeze, base/finetune.h). */
#ifndef BASE_BASE_MODEL_H
#define BASE_BASE_MODEL_H

#include "engine/nn/nn.h"
#include "logger/logger.h"

/* Logs module_summary(model) at info level, line by line, then
 * "Frozen parameters: N". */
void base_model_log_summary(const Module *model, const Logger *lg);

#endif
