/* Dynamic loss scaling (see grad_scaler.h): the unscale-and-check pass over
 * the gradients, the skip, and PyTorch's _amp_update_scale_ rule. */
#include "engine/optim/grad_scaler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "engine/autograd.h"
#include "engine/ops.h"

void grad_scaler_init(GradScaler *s, bool enabled)
{
    *s = (GradScaler){.enabled = enabled,
                      .scale = 65536.0,
                      .growth_factor = 2.0,
                      .backoff_factor = 0.5,
                      .growth_interval = 2000};
}

int grad_scaler_configure(GradScaler *s, double init_scale, double growth_factor, double backoff_factor,
                          int growth_interval)
{
    ENGINE_CHECK_INT(isfinite(init_scale) && init_scale > 0, "GradScaler: init_scale must be positive, got %g",
                     init_scale);
    ENGINE_CHECK_INT(growth_factor > 1.0 && isfinite(growth_factor),
                     "GradScaler: The growth factor must be > 1.0, got %g", growth_factor);
    ENGINE_CHECK_INT(backoff_factor > 0 && backoff_factor < 1.0,
                     "GradScaler: The backoff factor must be < 1.0 (and positive), got %g", backoff_factor);
    ENGINE_CHECK_INT(growth_interval > 0, "GradScaler: growth_interval must be positive, got %d", growth_interval);
    s->scale = (float)init_scale;
    s->growth_factor = growth_factor;
    s->backoff_factor = backoff_factor;
    s->growth_interval = growth_interval;
    s->growth_tracker = 0;
    return 0;
}

Tensor *grad_scaler_scale(GradScaler *s, Tensor *loss)
{
    if (!loss || !s->enabled) return loss;
    return t_mul_scalar(loss, s->scale);
}

int grad_scaler_unscale(GradScaler *s, Optimizer *opt)
{
    if (!s->enabled) return 0;
    ENGINE_CHECK_INT(!s->unscaled, "GradScaler: unscale_() has already been called on this optimizer since the last "
                                   "update().");
    double inv = (float)(1.0 / s->scale); /* PyTorch: scale.double().reciprocal().float() */
    bool found = false;
    bool mode = no_grad_begin();
    int rc = 0;
    for (int gi = 0; gi < opt->n_groups && rc == 0; gi++)
        for (int i = 0; i < opt->groups[gi].n_params && rc == 0; i++) {
            Tensor *g = opt->groups[gi].params[i]->grad;
            if (!g) continue;
            /* 0 * x is 0 for every finite x and NaN for Inf/NaN: the sum is 0
             * exactly when all are finite */
            Tensor *z = t_sum(t_mul_scalar(g, 0.0), NULL, 0, false);
            if (!z) {
                rc = -1;
                break;
            }
            if (tensor_item(z) != 0.0) found = true; /* NaN != 0 too */
            if (t_mul_scalar_(g, inv) != 0) rc = -1;
        }
    grad_mode_restore(mode);
    if (rc != 0) return -1;
    s->unscaled = true;
    s->found_inf = found;
    return 0;
}

int grad_scaler_step(GradScaler *s, Optimizer *opt, bool *stepped)
{
    if (stepped) *stepped = false;
    if (!s->enabled) {
        if (stepped) *stepped = true;
        return optimizer_step(opt);
    }
    if (!s->unscaled && grad_scaler_unscale(s, opt) != 0) return -1;
    if (s->found_inf) return 0;
    if (stepped) *stepped = true;
    return optimizer_step(opt);
}

void grad_scaler_update(GradScaler *s)
{
    if (!s->enabled) return;
    if (s->found_inf) {
        s->scale = (float)(s->scale * s->backoff_factor);
        s->growth_tracker = 0;
    } else if (++s->growth_tracker == s->growth_interval) {
        float grown = (float)(s->scale * s->growth_factor);
        if (isfinite(grown)) s->scale = grown;
        s->growth_tracker = 0;
    }
    s->unscaled = s->found_inf = false;
}

char *grad_scaler_state_json(const GradScaler *s)
{
    char *buf = malloc(256);
    if (!buf) return NULL;
    snprintf(buf, 256,
             "{\"scale\": %.17g, \"growth_factor\": %.17g, \"backoff_factor\": %.17g, \"growth_interval\": %d, "
             "\"_growth_tracker\": %d}",
             s->scale, s->growth_factor, s->backoff_factor, s->growth_interval, s->growth_tracker);
    return buf;
}

int grad_scaler_load_json(GradScaler *s, const char *json)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    ENGINE_CHECK_INT(cJSON_IsObject(root), "GradScaler state: not a JSON object");
    const char *keys[5] = {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"};
    double v[5];
    for (int i = 0; i < 5; i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        if (!cJSON_IsNumber(item)) {
            cJSON_Delete(root);
            engine_error("GradScaler state: '%s' missing or not a number", keys[i]);
            return -1;
        }
        v[i] = item->valuedouble;
    }
    cJSON_Delete(root);
    GradScaler t = *s;
    if (grad_scaler_configure(&t, v[0], v[1], v[2], (int)v[3]) != 0) return -1;
    ENGINE_CHECK_INT(v[4] >= 0 && v[4] < v[3] && v[4] == floor(v[4]),
                     "GradScaler state: '_growth_tracker' %g out of range [0, %d)", v[4], (int)v[3]);
    t.growth_tracker = (int)v[4];
    t.unscaled = t.found_inf = false;
    *s = t;
    return 0;
}
