/* state.json of a search folder (see tune.h): what a resumed search needs
 * to know of every trial. Numbers are written so that they read back
 * exactly (cJSON prints 17 significant digits where 15 do not do). */
#include <math.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "tuner/tune.h"
#include "utils/fs.h"

int tune_state_save(const Tune *t)
{
    cJSON *root = cJSON_CreateObject(), *trials = cJSON_CreateArray();
    ENGINE_CHECK_INT(root && trials, "out of memory");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddNumberToObject(root, "elapsed", t->elapsed_before + tune_now() - t->t0);
    cJSON_AddItemToObject(root, "trials", trials);
    bool ok = true;
    for (int k = 0; k < t->n_created && ok; k++) {
        const Trial *tr = t->trials[k];
        cJSON *o = cJSON_CreateObject(), *x = cJSON_CreateArray();
        ok = o && x;
        if (!ok) {
            cJSON_Delete(o);
            cJSON_Delete(x);
            break;
        }
        cJSON_AddItemToArray(trials, o);
        cJSON_AddNumberToObject(o, "id", tr->id);
        for (int i = 0; i < t->spec.space.n; i++) {
            char v[40];
            snprintf(v, sizeof v, "%.17g", tr->x[i]);
            cJSON_AddItemToArray(x, cJSON_CreateString(v));
        }
        cJSON_AddItemToObject(o, "x", x);
        cJSON_AddStringToObject(o, "state", trial_state_name(tr->state));
        cJSON_AddNumberToObject(o, "elapsed", tr->elapsed + (tr->state == TRIAL_RUNNING ? tune_now() - tr->started : 0));
        cJSON_AddNumberToObject(o, "starts", tr->starts);
        if (tr->state == TRIAL_RUNNING) cJSON_AddNumberToObject(o, "pid", (double)tr->handle);
        cJSON_AddStringToObject(o, "error", tr->error);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    ENGINE_CHECK_INT(text != NULL, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/state.json", t->folder);
    int rc = atomic_write_file(path, text, strlen(text));
    cJSON_free(text);
    return rc;
}

int tune_state_load(Tune *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/state.json", t->folder);
    Config *c = config_load(path);
    if (!c) return -1;
    int rc = -1;
    double elapsed;
    if (config_number_or(c, "elapsed", 0, &elapsed)) goto done;
    t->elapsed_before = elapsed >= 0 && isfinite(elapsed) ? elapsed : 0;
    const cJSON *trials = config_find(c, "trials");
    if (!trials || !cJSON_IsArray(trials)) {
        engine_error("%s: trials: expected a list", path);
        goto done;
    }
    int n = cJSON_GetArraySize(trials);
    if (n > t->spec.n_trials) {
        engine_error("%s: %d trials, but the search has %lld", path, n, (long long)t->spec.n_trials);
        goto done;
    }
    for (int k = 0; k < n; k++) {
        char key[64];
        int64_t id, starts;
        const char *state, *error;
        snprintf(key, sizeof key, "trials.%d", k);
        char kid[80], kstate[80], kerr[80], kel[80], kst[80], kx[80];
        snprintf(kid, sizeof kid, "%s.id", key);
        snprintf(kstate, sizeof kstate, "%s.state", key);
        snprintf(kerr, sizeof kerr, "%s.error", key);
        snprintf(kel, sizeof kel, "%s.elapsed", key);
        snprintf(kst, sizeof kst, "%s.starts", key);
        snprintf(kx, sizeof kx, "%s.x", key);
        double el;
        if (config_int(c, kid, &id) || config_string(c, kstate, &state) || config_string_or(c, kerr, "", &error) ||
            config_number_or(c, kel, 0, &el) || config_int_or(c, kst, 0, &starts))
            goto done;
        int st = trial_state_parse(state);
        if (id != k || st < 0) {
            engine_error("%s: %s: expected trial %d with a known state, got id %lld, state \"%s\"", path, key, k,
                         (long long)id, state);
            goto done;
        }
        double x[TUNE_MAX_PARAMS];
        const cJSON *xs = config_find(c, kx), *item;
        int nx = 0;
        bool good = xs && cJSON_IsArray(xs) && cJSON_GetArraySize(xs) <= TUNE_MAX_PARAMS;
        if (good) cJSON_ArrayForEach(item, xs)
        {
            char *end = NULL;
            good = good && cJSON_IsString(item) && *item->valuestring;
            if (good) x[nx++] = strtod(item->valuestring, &end);
            good = good && end && !*end;
        }
        if (!good) {
            engine_error("%s: %s: expected a list of numbers as text (values exact to the bit)", path, kx);
            goto done;
        }
        if (nx != t->spec.space.n) {
            engine_error("%s: %s: %d values for %d parameters", path, kx, nx, t->spec.space.n);
            goto done;
        }
        for (int i = 0; i < nx; i++)
            if (!param_value_valid(&t->spec.space.params[i], x[i])) {
                engine_error("%s: %s.%d: %g is not a value of %s", path, kx, i, x[i], t->spec.space.params[i].key);
                goto done;
            }
        Trial *tr = calloc(1, sizeof *tr);
        if (!tr) {
            engine_error("out of memory");
            goto done;
        }
        tr->id = k;
        memcpy(tr->x, x, sizeof x);
        tr->state = (TrialState)st;
        if (tr->state == TRIAL_RUNNING) { /* ./tune was killed outright: its trial may run on */
            char kpid[80];
            int64_t pid;
            snprintf(kpid, sizeof kpid, "%s.pid", key);
            if (config_int_or(c, kpid, 0, &pid)) goto done;
            tr->handle = pid > 1 && pid < INT32_MAX ? pid : 0;
            tr->state = TRIAL_INTERRUPTED;
        }
        tr->elapsed = el >= 0 && isfinite(el) ? el : 0;
        tr->starts = starts >= 0 && starts < 1000000 ? (int)starts : 0;
        snprintf(tr->error, sizeof tr->error, "%s", error);
        snprintf(tr->dir, sizeof tr->dir, "%s/trial_%03d", t->folder, k);
        t->trials[t->n_created++] = tr;
    }
    rc = 0;
done:
    config_free(c);
    return rc;
}
