/* The config's key table and the check against it (see config_schema.h). */
#include "utils/config_schema.h"

#include <stdio.h>
#include <string.h>

#include "engine/error.h"

typedef struct {
    const char *path;
    /* checked by what reads it: the constructor of an "args" block, the
     * metric lookup of each "metrics" entry */
    bool checked_elsewhere;
} KnownKey;

/* pytorch-template's config.json keys, plus ours (seed, len_epoch, cuda;
 * fine-tuning: arch.pretrained, arch.exclude, arch.freeze,
 * trainer.unfreeze_epoch, optimizer.param_groups).
 * A new key that code reads goes here too, or configs using it are refused. */
static const KnownKey known_keys[] = {
    {"name", false},
    {"n_gpu", false},
    {"seed", false},
    {"arch", false},
    {"arch.type", false},
    {"arch.args", true},
    {"arch.pretrained", false}, /* base/pretrained.c */
    {"arch.exclude", false},
    {"arch.freeze", false}, /* base/finetune.c */
    {"data_loader", false},
    {"data_loader.type", false},
    {"data_loader.args", true},
    {"optimizer", false},
    {"optimizer.type", false},
    {"optimizer.args", true},
    {"optimizer.param_groups", true}, /* each entry's keys: utils/param_groups.c */
    {"loss", false},
    {"metrics", true},
    {"lr_scheduler", false},
    {"lr_scheduler.type", false},
    {"lr_scheduler.args", true},
    {"trainer", false},
    {"trainer.epochs", false},
    {"trainer.save_dir", false},
    {"trainer.save_period", false},
    {"trainer.verbosity", false},
    {"trainer.monitor", false},
    {"trainer.early_stop", false},
    {"trainer.tensorboard", false},
    {"trainer.len_epoch", false},
    {"trainer.unfreeze_epoch", false},
    {"trainer.accumulate_grad_batches", false}, /* trainer/trainer.c */
    {"trainer.batch_split", false},             /* trainer/batch_split.c */
    {"distributed", false},                     /* dist/dist_config.c */
    {"distributed.backend", false},
    {"distributed.bucket_mb", false},
    {"distributed.sync_batchnorm", false},
    {"distributed.find_unused_parameters", false},
    {"distributed.zero", false},
    {"amp", false}, /* trainer/trainer.c: mixed precision */
    {"amp.enabled", false},
    {"amp.dtype", false},
    {"cuda", false},
    {"cuda.tf32", false},
    {"cuda.deterministic", false},
};
enum { N_KNOWN = sizeof known_keys / sizeof known_keys[0], MAX_SIBLINGS = 32 };

static const KnownKey *find_known(const char *path)
{
    for (int i = 0; i < N_KNOWN; i++)
        if (strcmp(known_keys[i].path, path) == 0) return &known_keys[i];
    return NULL;
}

/* The last component of a known path whose parent is parent ("" = top). */
static const char *child_name(const char *path, const char *parent)
{
    size_t n = strlen(parent);
    if (n == 0) return strchr(path, '.') ? NULL : path;
    if (strncmp(path, parent, n) != 0 || path[n] != '.' || strchr(path + n + 1, '.')) return NULL;
    return path + n + 1;
}

/* Levenshtein distance, capped at 99 (names are short). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *config_nearest_key(const char *name, const char *const *known)
{
    const char *best = NULL;
    int best_d = 99;
    for (int i = 0; known[i]; i++) {
        int d = edit_distance(name, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    /* a likely typo: one or two edits, or a third of the name */
    int len = (int)strlen(name);
    return best && (best_d <= 2 || 3 * best_d <= len) ? best : NULL;
}

static int unknown_key(const Config *c, const char *path, const char *key, const char *parent)
{
    const char *siblings[MAX_SIBLINGS + 1];
    int n = 0;
    char list[512] = "";
    size_t pos = 0;
    for (int i = 0; i < N_KNOWN && n < MAX_SIBLINGS; i++) {
        const char *name = child_name(known_keys[i].path, parent);
        if (!name) continue;
        siblings[n++] = name;
        if (pos < sizeof list) pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%s", n > 1 ? ", " : "", name);
    }
    siblings[n] = NULL;
    const char *near = config_nearest_key(key, siblings);
    char hint[128] = "";
    if (near) snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
    engine_error("%s: %s: unknown key (%sknown keys %s%s: %s)", c->label, path, hint, parent[0] ? "of " : "at the top level",
                 parent, list);
    return -1;
}

static int check_object(const Config *c, const cJSON *obj, const char *parent)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        char path[512];
        int n = snprintf(path, sizeof path, "%s%s%s", parent, parent[0] ? "." : "", item->string);
        if (n < 0 || (size_t)n >= sizeof path) return unknown_key(c, item->string, item->string, parent);
        const KnownKey *k = find_known(path);
        if (!k) return unknown_key(c, path, item->string, parent);
        if (k->checked_elsewhere) continue;
        bool has_children = false;
        for (int i = 0; i < N_KNOWN && !has_children; i++) has_children = child_name(known_keys[i].path, path) != NULL;
        if (!has_children) continue; /* a value: its reader checks the type */
        if (!cJSON_IsObject(item)) {
            engine_error("%s: %s: expected an object, got %s", c->label, path, config_describe(item));
            return -1;
        }
        if (check_object(c, item, path)) return -1;
    }
    return 0;
}

int config_check_schema(const Config *c) { return check_object(c, c->root, ""); }
