/* arch.pretrained and arch.exclude (see pretrained.h). */
#include "base/pretrained.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checkpoint.h"
#include "engine/serialize/safetensors.h"
#include "utils/name_patterns.h"

/* The tensors of a checkpoint that are not the model's. */
#define CHECKPOINT_OPTIMIZER_PREFIX "optimizer."

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* What goes where, decided before anything is copied. */
typedef struct {
    StateDict load;                    /* model name -> the file's tensor */
    const char **loaded, **skipped, **kept; /* names, for the log */
    int n_loaded, n_skipped, n_kept;
} Plan;

static void plan_free(Plan *p)
{
    state_dict_free(&p->load);
    free(p->loaded);
    free(p->skipped);
    free(p->kept);
}

static void log_names(const Logger *lg, const char *what, const char *const *names, int n)
{
    if (n == 0) return;
    char list[1600];
    name_list_join(list, sizeof list, names, n);
    log_info(lg, "  %s (%d): %s", what, n, list);
}

static int make_plan(const Config *cfg, const char *path, const Safetensors *st, const StateDict *own,
                     const NamePatterns *exclude, Plan *p)
{
    bool checkpoint = safetensors_meta(st, "format") && strcmp(safetensors_meta(st, "format"), CHECKPOINT_FORMAT) == 0;
    memset(p, 0, sizeof *p);
    state_dict_init(&p->load);
    p->loaded = calloc((size_t)own->n + 1, sizeof *p->loaded);
    p->kept = calloc((size_t)own->n + 1, sizeof *p->kept);
    p->skipped = calloc((size_t)st->n_tensors + 1, sizeof *p->skipped);
    ENGINE_ASSERT(p->loaded && p->kept && p->skipped);

    /* exclude may name the model's tensors or the file's: a pattern that
     * matches neither is a typo */
    const char **all = calloc((size_t)own->n + (size_t)st->n_tensors + 1, sizeof *all);
    ENGINE_ASSERT(all != NULL);
    int n_all = 0;
    for (int i = 0; i < own->n; i++) all[n_all++] = own->names[i];
    for (int i = 0; i < st->n_tensors; i++)
        if (!state_dict_get(own, st->names[i])) all[n_all++] = st->names[i];
    int rc = name_patterns_check_used(exclude, cfg, all, n_all, "tensor of the model or of arch.pretrained");
    free(all);
    if (rc) return -1;

    for (int i = 0; i < own->n && rc == 0; i++) {
        const char *name = own->names[i];
        Tensor *mine = own->tensors[i], *theirs = safetensors_get(st, name);
        if (checkpoint && strncmp(name, CHECKPOINT_OPTIMIZER_PREFIX, strlen(CHECKPOINT_OPTIMIZER_PREFIX)) == 0)
            theirs = NULL;
        if (name_patterns_first_match(exclude, name) >= 0 || (!theirs && ends_with(name, ".num_batches_tracked"))) {
            /* (a state_dict from before BatchNorm counted its batches lacks the counter, as PyTorch allows) */
            p->kept[p->n_kept++] = name;
            continue;
        }
        if (!theirs) {
            engine_error("%s: arch.pretrained: %s has no tensor '%s' (the model's is %s; add it to arch.exclude to "
                         "keep its initialisation)",
                         cfg->label, path, name, shape_str(mine->shape));
            return -1;
        }
        if (!shape_equal(theirs->shape, mine->shape)) {
            engine_error("%s: arch.pretrained: %s: '%s' has shape %s, the model's has shape %s (add it to "
                         "arch.exclude to keep its initialisation)",
                         cfg->label, path, name, shape_str(theirs->shape), shape_str(mine->shape));
            return -1;
        }
        rc = state_dict_add(&p->load, name, theirs);
        p->loaded[p->n_loaded++] = name;
    }
    for (int i = 0; i < st->n_tensors; i++) {
        const char *name = st->names[i];
        if (checkpoint && strncmp(name, CHECKPOINT_OPTIMIZER_PREFIX, strlen(CHECKPOINT_OPTIMIZER_PREFIX)) == 0)
            continue;
        if (!state_dict_get(own, name)) p->skipped[p->n_skipped++] = name;
    }
    return rc;
}

int pretrained_load_from_config(const Config *cfg, Module *model, const Logger *lg)
{
    const char *path = NULL;
    NamePatterns exclude;
    if (config_string_or(cfg, "arch.pretrained", NULL, &path) || name_patterns_from_config(cfg, "arch.exclude", &exclude))
        return -1;
    if (!path) {
        int n = exclude.n;
        name_patterns_free(&exclude);
        ENGINE_CHECK_INT(n == 0 && !config_has(cfg, "arch.exclude"),
                         "%s: arch.exclude: only means something with arch.pretrained (the weights it leaves out)",
                         cfg->label);
        return 0;
    }
    ENGINE_CHECK_INT(path[0] != '\0', "%s: arch.pretrained: expected the path of a safetensors file, got \"\"",
                     cfg->label);
    int rc = -1;
    Safetensors *st = safetensors_load(path);
    StateDict own;
    state_dict_init(&own);
    Plan plan;
    memset(&plan, 0, sizeof plan);
    if (!st) {
        /* the reader names the file and the problem; say which key gave it */
        char msg[4096];
        snprintf(msg, sizeof msg, "%s", engine_last_error());
        engine_clear_error();
        engine_error("%s: arch.pretrained: %s", cfg->label, msg);
        goto done;
    }
    if (module_state_dict(model, &own) || make_plan(cfg, path, st, &own, &exclude, &plan)) goto done;
    if (module_load_state_dict(model, &plan.load, false)) {
        char msg[4096];
        snprintf(msg, sizeof msg, "%s", engine_last_error());
        engine_clear_error();
        engine_error("%s: arch.pretrained: %s: %s", cfg->label, path, msg);
        goto done;
    }
    log_info(lg, "Loaded pretrained weights from %s", path);
    log_names(lg, "loaded", plan.loaded, plan.n_loaded);
    log_names(lg, "skipped (in the file, not in the model)", plan.skipped, plan.n_skipped);
    log_names(lg, "left at their initialisation", plan.kept, plan.n_kept);
    rc = 0;
done:
    plan_free(&plan);
    state_dict_free(&own);
    safetensors_free(st);
    name_patterns_free(&exclude);
    return rc;
}
