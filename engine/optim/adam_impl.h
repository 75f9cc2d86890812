/* What Adam and AdamW share (internal to engine/optim): the hyperparameter
 * table, the state, and the update, which differ only in how weight decay
 * is applied. */
#ifndef ENGINE_OPTIM_ADAM_IMPL_H
#define ENGINE_OPTIM_ADAM_IMPL_H

#include "engine/optim/algorithms.h"
#include "engine/optim/optimizer_impl.h"

enum { ADAM_BETA1, ADAM_BETA2, ADAM_EPS, ADAM_WEIGHT_DECAY, ADAM_AMSGRAD, ADAM_MAXIMIZE, ADAM_N_HPARAMS };
enum { ADAM_EXP_AVG, ADAM_EXP_AVG_SQ, ADAM_MAX_EXP_AVG_SQ, ADAM_N_STATE };

extern const HParamInfo adam_hparams[ADAM_N_HPARAMS];
extern const char *const adam_state_names[ADAM_N_STATE];

bool adam_state_required(const ParamGroup *g, int k);
/* One Adam step; decoupled selects AdamW's weight decay. */
int adam_update(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad, bool decoupled);
/* The options as a hyperparameter array in table order. */
void adam_options_to_hparams(const AdamOptions *o, double *hp);

#endif
