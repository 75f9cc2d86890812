/* Parsing and checking of the search file (see spec.h). */
#include "tuner/spec.h"

#include <stdio.h>
#include <string.h>

#include "engine/error.h"
#include "utils/config_schema.h"

static const char *const search_names[] = {"grid", "random", "tpe", NULL};
static const char *const sched_names[] = {"FIFO", "ASHA", "median", NULL};

const char *search_kind_name(SearchKind k) { return search_names[k]; }
const char *sched_kind_name(SchedKind k) { return sched_names[k]; }

bool spec_param_enumerated(const TuneSpec *t, int i)
{
    const Param *p = &t->space.params[i];
    return p->kind == DIST_GRID || (t->search == SEARCH_GRID && p->kind == DIST_CHOICE);
}

int parse_metric(const char *text, const char *where, char *key, size_t key_size, bool *maximize)
{
    char mode[8];
    int used = 0;
    if (sscanf(text, "%7s %n", mode, &used) == 1 && (strcmp(mode, "min") == 0 || strcmp(mode, "max") == 0) &&
        text[used] && !strchr(text + used, ' ') && strlen(text + used) < key_size) {
        *maximize = strcmp(mode, "max") == 0;
        snprintf(key, key_size, "%s", text + used);
        return 0;
    }
    engine_error("%s: expected \"min KEY\" or \"max KEY\" (a column of the trials' metrics.csv, as \"min val_loss\"), "
                 "got \"%s\"", where, text);
    return -1;
}

static int lookup(const char *const *names, const char *name, const char *label, const char *key)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0) return i;
    char known[200] = "";
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", names[i]);
    }
    engine_error("%s: %s: unknown \"%s\" (known: %s)", label, key, name, known);
    return -1;
}

static int parse_scheduler(TuneSpec *t, const Config *s)
{
    SchedOptions *o = &t->sched;
    o->kind = SCHED_FIFO;
    o->grace_period = 1;
    o->reduction_factor = 3;
    o->max_t = t->epochs;
    o->min_samples = 3;
    if (!config_has(s, "scheduler")) return 0;
    static const char *const keys[] = {"type", "args", NULL};
    const char *type;
    if (config_check_keys(s, "scheduler", keys, "scheduler") || config_string(s, "scheduler.type", &type)) return -1;
    int k = lookup(sched_names, type, s->label, "scheduler.type");
    if (k < 0) return -1;
    o->kind = (SchedKind)k;
    if (o->kind == SCHED_ASHA) {
        static const char *const args[] = {"grace_period", "reduction_factor", "max_t", NULL};
        if (config_check_keys(s, "scheduler.args", args, "ASHA") ||
            config_int_or(s, "scheduler.args.grace_period", 1, &o->grace_period) ||
            config_number_or(s, "scheduler.args.reduction_factor", 3, &o->reduction_factor) ||
            config_int_or(s, "scheduler.args.max_t", t->epochs, &o->max_t))
            return -1;
        ENGINE_CHECK_INT(o->reduction_factor > 1 && o->reduction_factor <= 1000,
                         "%s: scheduler.args.reduction_factor: expected a number above 1, got %g", s->label,
                         o->reduction_factor);
        ENGINE_CHECK_INT(o->max_t >= 1 && o->max_t <= t->epochs,
                         "%s: scheduler.args.max_t: expected 1 to trainer.epochs (%lld), got %lld", s->label,
                         (long long)t->epochs, (long long)o->max_t);
    } else if (o->kind == SCHED_MEDIAN) {
        static const char *const args[] = {"grace_period", "min_samples_required", NULL};
        if (config_check_keys(s, "scheduler.args", args, "median") ||
            config_int_or(s, "scheduler.args.grace_period", 1, &o->grace_period) ||
            config_int_or(s, "scheduler.args.min_samples_required", 3, &o->min_samples))
            return -1;
        ENGINE_CHECK_INT(o->min_samples >= 1 && o->min_samples <= 10000,
                         "%s: scheduler.args.min_samples_required: expected 1 or more, got %lld", s->label,
                         (long long)o->min_samples);
    } else {
        ENGINE_CHECK_INT(!config_has(s, "scheduler.args") || cJSON_GetArraySize(config_find(s, "scheduler.args")) == 0,
                         "%s: scheduler.args: FIFO takes no arguments", s->label);
    }
    ENGINE_CHECK_INT(o->grace_period >= 1 && o->grace_period <= t->epochs,
                     "%s: scheduler.args.grace_period: expected 1 to trainer.epochs (%lld), got %lld", s->label,
                     (long long)t->epochs, (long long)o->grace_period);
    return 0;
}

static int parse_tpe(TuneSpec *t, const Config *s)
{
    TpeOptions *o = &t->tpe;
    static const char *const keys[] = {"n_startup_trials", "n_ei_candidates", "gamma", NULL};
    if (config_check_keys(s, "tpe", keys, "tpe") || config_int_or(s, "tpe.n_startup_trials", 10, &o->n_startup_trials) ||
        config_int_or(s, "tpe.n_ei_candidates", 24, &o->n_ei_candidates) || config_number_or(s, "tpe.gamma", 0.1, &o->gamma))
        return -1;
    ENGINE_CHECK_INT(o->n_startup_trials >= 1 && o->n_startup_trials <= 100000,
                     "%s: tpe.n_startup_trials: expected 1 or more, got %lld", s->label, (long long)o->n_startup_trials);
    ENGINE_CHECK_INT(o->n_ei_candidates >= 1 && o->n_ei_candidates <= 10000,
                     "%s: tpe.n_ei_candidates: expected 1 to 10000, got %lld", s->label, (long long)o->n_ei_candidates);
    ENGINE_CHECK_INT(o->gamma > 0 && o->gamma < 1, "%s: tpe.gamma: expected a fraction in (0, 1), got %g", s->label,
                     o->gamma);
    ENGINE_CHECK_INT(t->search == SEARCH_TPE || !config_has(s, "tpe"), "%s: tpe: only read by \"search\": \"tpe\"",
                     s->label);
    return 0;
}

int tune_spec_parse(TuneSpec *t, const Config *s, const Config *config, int64_t default_concurrent)
{
    memset(t, 0, sizeof *t);
    static const char *const keys[] = {"space", "search", "num_samples", "max_concurrent", "metric",
                                       "scheduler", "seed", "tpe", NULL};
    ENGINE_CHECK_INT(cJSON_IsObject(s->root), "%s: expected an object", s->label);
    const cJSON *item;
    cJSON_ArrayForEach(item, s->root)
    {
        bool ok = false;
        for (int i = 0; keys[i]; i++) ok = ok || strcmp(keys[i], item->string) == 0;
        if (!ok) {
            const char *near = config_nearest_key(item->string, keys);
            engine_error("%s: %s: unknown key for a search file (%s%s%saccepted: space, search, num_samples, "
                         "max_concurrent, metric, scheduler, seed, tpe)", s->label, item->string,
                         near ? "did you mean '" : "", near ? near : "", near ? "'? " : "");
            return -1;
        }
    }
    if (config_int(config, "trainer.epochs", &t->epochs)) return -1;
    ENGINE_CHECK_INT(t->epochs >= 1, "%s: trainer.epochs: a search needs 1 or more, got %lld", config->label,
                     (long long)t->epochs);
    const char *search;
    if (config_string_or(s, "search", "random", &search)) return -1;
    int k = lookup(search_names, search, s->label, "search");
    if (k < 0) return -1;
    t->search = (SearchKind)k;
    if (parse_tpe(t, s) || parse_scheduler(t, s)) return -1;

    const char *metric = NULL;
    if (config_string_or(s, "metric", NULL, &metric)) return -1;
    if (metric) {
        if (parse_metric(metric, s->label, t->metric, sizeof t->metric, &t->maximize)) {
            char why[400];
            snprintf(why, sizeof why, "%s", engine_last_error());
            engine_clear_error();
            engine_error("%s: metric: %s", s->label, why + strlen(s->label) + 2);
            return -1;
        }
    } else {
        const char *monitor;
        if (config_string_or(config, "trainer.monitor", "off", &monitor)) return -1;
        ENGINE_CHECK_INT(strcmp(monitor, "off") != 0,
                         "%s: metric: missing, and %s's trainer.monitor is off: give one, as \"min val_loss\"",
                         s->label, config->label);
        char where[300];
        snprintf(where, sizeof where, "%s: trainer.monitor", config->label);
        if (parse_metric(monitor, where, t->metric, sizeof t->metric, &t->maximize)) return -1;
    }

    int64_t seed;
    if (config_int_or(s, "seed", 0, &seed) || config_int_or(s, "max_concurrent", default_concurrent, &t->max_concurrent))
        return -1;
    ENGINE_CHECK_INT(seed >= 0, "%s: seed: expected 0 or more, got %lld", s->label, (long long)seed);
    t->seed = (uint64_t)seed;
    ENGINE_CHECK_INT(t->max_concurrent >= 1 && t->max_concurrent <= 256,
                     "%s: max_concurrent: expected 1 to 256, got %lld", s->label, (long long)t->max_concurrent);

    if (space_parse(&t->space, s, config)) return -1;
    t->grid_points = 1;
    for (int i = 0; i < t->space.n; i++)
        if (spec_param_enumerated(t, i)) {
            t->grid_points *= t->space.params[i].n_values;
            if (t->grid_points > 10000) {
                engine_error("%s: space: the grid has more than 10000 points", s->label);
                tune_spec_free(t);
                return -1;
            }
        }
    if (config_int_or(s, "num_samples", t->search == SEARCH_GRID ? 1 : 10, &t->num_samples)) goto fail;
    if (t->num_samples < 1 || t->num_samples > 10000 || t->num_samples * t->grid_points > 10000) {
        engine_error("%s: num_samples: expected 1 or more, with at most 10000 trials in all (%lld grid points), got %lld",
                     s->label, (long long)t->grid_points, (long long)t->num_samples);
        goto fail;
    }
    t->n_trials = t->num_samples * t->grid_points;
    return 0;
fail:
    tune_spec_free(t);
    return -1;
}

void tune_spec_free(TuneSpec *t) { space_free(&t->space); }
