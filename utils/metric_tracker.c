/* MetricTracker and LogDict (see metric_tracker.h). */
#include "utils/metric_tracker.h"

#include <stdio.h>
#include <string.h>

#include "engine/error.h"

void tracker_init(MetricTracker *t, int n_keys, const char *const *keys)
{
    ENGINE_ASSERT(n_keys <= TRACKER_MAX_KEYS);
    t->n = n_keys;
    for (int i = 0; i < n_keys; i++) t->keys[i] = keys[i];
    tracker_reset(t);
}

void tracker_reset(MetricTracker *t)
{
    for (int i = 0; i < t->n; i++) {
        t->total[i] = 0;
        t->count[i] = 0;
    }
}

static int key_index(const MetricTracker *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->keys[i], key) == 0) return i;
    ENGINE_UNREACHABLE("tracker: unknown key");
}

void tracker_update(MetricTracker *t, const char *key, double value, int64_t n)
{
    int i = key_index(t, key);
    t->total[i] += value * (double)n;
    t->count[i] += n;
}

double tracker_avg(const MetricTracker *t, const char *key)
{
    int i = key_index(t, key);
    return t->count[i] ? t->total[i] / (double)t->count[i] : 0.0;
}

void log_dict_set(LogDict *d, const char *key, double value)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0) {
            d->values[i] = value;
            return;
        }
    ENGINE_ASSERT(d->n < (int)(sizeof d->values / sizeof d->values[0]));
    snprintf(d->keys[d->n], sizeof d->keys[d->n], "%s", key);
    d->values[d->n++] = value;
}

bool log_dict_get(const LogDict *d, const char *key, double *value)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->keys[i], key) == 0) {
            *value = d->values[i];
            return true;
        }
    return false;
}

void log_dict_add_tracker(LogDict *d, const MetricTracker *t, const char *prefix)
{
    for (int i = 0; i < t->n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s%s", prefix, t->keys[i]);
        log_dict_set(d, key, tracker_avg(t, t->keys[i]));
    }
}
