/* GradScaler: dynamic loss scaling for f16 mixed precision, PyTorch's
 * torch.cuda.amp.GradScaler algorithm.
 *
 *   loss = grad_scaler_scale(s, loss);  backward(loss);
 *   grad_scaler_unscale(s, opt);        (optional: before clipping)
 *   grad_scaler_step(s, opt, &stepped); (unscales if not done; skips the
 *                                        step when a gradient has Inf/NaN)
 *   grad_scaler_update(s);
 *
 * update: after a step with Inf/NaN, scale *= backoff_factor and the run of
 * good steps restarts; after growth_interval good steps in a row, scale *=
 * growth_factor (kept only when finite). The scale is an f32 value, as
 * PyTorch's scale tensor is. A disabled scaler passes everything through. */
#ifndef ENGINE_OPTIM_GRAD_SCALER_H
#define ENGINE_OPTIM_GRAD_SCALER_H

#include <stdbool.h>

#include "engine/optim/optimizer.h"
#include "engine/tensor.h"

typedef struct {
    bool enabled;
    double scale; /* init_scale 65536 */
    double growth_factor, backoff_factor;
    int growth_interval, growth_tracker;
    /* this step's: set by unscale, cleared by update */
    bool unscaled, found_inf;
} GradScaler;

/* PyTorch's defaults: init_scale 2^16, growth 2, backoff 0.5, interval 2000. */
void grad_scaler_init(GradScaler *s, bool enabled);
/* -1 with an error for factors or an interval PyTorch rejects. */
int grad_scaler_configure(GradScaler *s, double init_scale, double growth_factor, double backoff_factor,
                          int growth_interval);
/* loss * scale (differentiable); loss itself when disabled. */
Tensor *grad_scaler_scale(GradScaler *s, Tensor *loss);
/* Divides every gradient of opt by the scale and records whether any holds
 * Inf/NaN. Once per step (-1 with an error on a second call). */
int grad_scaler_unscale(GradScaler *s, Optimizer *opt);
/* optimizer_step unless this step's gradients hold Inf/NaN; *stepped (may
 * be NULL) says which. Returns optimizer_step's result, 0 when skipped. */
int grad_scaler_step(GradScaler *s, Optimizer *opt, bool *stepped);
void grad_scaler_update(GradScaler *s);

/* {"scale":..,"growth_factor":..,"backoff_factor":..,"growth_interval":..,
 * "_growth_tracker":..}, PyTorch's state_dict keys (malloc'd; NULL when
 * out of memory). */
char *grad_scaler_state_json(const GradScaler *s);
/* Restores a state written by grad_scaler_state_json; -1 with an error
 * naming the bad key. */
int grad_scaler_load_json(GradScaler *s, const char *json);

#endif
