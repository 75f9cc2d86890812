/* Trials' files: metrics.csv curves, checkpoints, error lines (see trial.h). */
#define _XOPEN_SOURCE 700
#include "tuner/trial.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/error.h"
#include "utils/fs.h"

static const char *const state_names[] = {"pending", "running", "done", "stopped", "error", "interrupted", NULL};

const char *trial_state_name(TrialState s) { return state_names[s]; }

int trial_state_parse(const char *name)
{
    for (int i = 0; state_names[i]; i++)
        if (strcmp(state_names[i], name) == 0) return i;
    return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The run folders under parent, sorted by name (run ids sort by time). */
static int list_runs(const char *parent, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(parent);
    if (!d) return 0;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **grown = realloc(*names, (size_t)cap * sizeof *grown);
            if (!grown) break;
            *names = grown;
        }
        (*names)[*n] = strdup(e->d_name);
        if (!(*names)[*n]) break;
        (*n)++;
    }
    closedir(d);
    if (*n > 1) qsort(*names, (size_t)*n, sizeof **names, cmp_str);
    return 0;
}

static void free_runs(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int ensure_cap(Trial *t, int64_t epochs)
{
    if (epochs <= t->cap) return 0;
    int64_t cap = t->cap ? t->cap : 8;
    while (cap < epochs) cap *= 2;
    double *grown = realloc(t->curve, (size_t)cap * sizeof *grown);
    ENGINE_CHECK_INT(grown != NULL, "out of memory");
    for (int64_t k = t->cap; k < cap; k++) grown[k] = NAN;
    t->curve = grown;
    t->cap = cap;
    return 0;
}

/* One metrics.csv: the header names the columns; "epoch" and metric are read. */
static int read_csv(Trial *t, const char *path, const char *metric)
{
    char *text = fs_read_text(path);
    if (!text) {
        engine_clear_error();
        return 0; /* not written yet */
    }
    int rc = 0;
    /* only whole lines: the row being written may be read half-way */
    char *end_of_last = strrchr(text, '\n');
    if (end_of_last) end_of_last[1] = '\0';
    else text[0] = '\0';
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    if (!line) goto done;
    int epoch_col = -1, metric_col = -1, col = 0;
    char header[2048];
    snprintf(header, sizeof header, "%s", line);
    for (char *p = line, *end; p; p = end ? end + 1 : NULL, col++) {
        end = strchr(p, ',');
        if (end) *end = '\0';
        if (strcmp(p, "epoch") == 0) epoch_col = col;
        if (strcmp(p, metric) == 0) metric_col = col;
    }
    if (metric_col < 0 || epoch_col < 0) {
        engine_error("the metric \"%s\" is not a column of %s (columns: %s)", metric, path, header);
        rc = 1;
        goto done;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        double epoch = NAN, value = NAN;
        int n_fields = 1;
        for (const char *p = line; *p; p++) n_fields += *p == ',';
        if (n_fields < (epoch_col > metric_col ? epoch_col : metric_col) + 1) continue;
        col = 0;
        for (char *p = line, *end; p; p = end ? end + 1 : NULL, col++) {
            end = strchr(p, ',');
            if (end) *end = '\0';
            char *stop;
            double v = *p ? strtod(p, &stop) : NAN;
            if (*p && *stop) v = NAN;
            if (col == epoch_col) epoch = v;
            if (col == metric_col) value = v;
        }
        if (!(epoch >= 1 && epoch <= 1e7) || epoch != floor(epoch)) continue; /* a torn last row */
        int64_t e = (int64_t)epoch;
        if (ensure_cap(t, e)) {
            rc = -1;
            goto done;
        }
        t->curve[e - 1] = value;
        if (e > t->n_epochs) t->n_epochs = e;
    }
done:
    free(text);
    return rc;
}

int trial_read_metrics(Trial *t, const char *name, const char *metric)
{
    char parent[4400];
    snprintf(parent, sizeof parent, "%s/log/%s", t->dir, name);
    char **runs;
    int n;
    list_runs(parent, &runs, &n);
    for (int64_t k = 0; k < t->cap; k++) t->curve[k] = NAN;
    t->n_epochs = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char path[4800];
        snprintf(path, sizeof path, "%s/%s/metrics.csv", parent, runs[i]);
        rc = read_csv(t, path, metric);
    }
    free_runs(runs, n);
    return rc;
}

double trial_best(const Trial *t, bool maximize, int64_t *epoch)
{
    double best = NAN;
    *epoch = 0;
    for (int64_t k = 0; k < t->n_epochs; k++) {
        double v = t->curve[k];
        if (isnan(v)) continue;
        if (isnan(best) || (maximize ? v > best : v < best)) best = v, *epoch = k + 1;
    }
    return best;
}

double trial_last(const Trial *t) { return t->n_epochs > 0 ? t->curve[t->n_epochs - 1] : NAN; }

/* checkpoint-epochN.ckpt: N epochs done; checkpoint-epochN-batchK.ckpt: N - 1 epochs and K batches. */
static bool checkpoint_progress(const char *file, long long *epochs, long long *batches)
{
    long long n, k;
    int used = 0;
    size_t len = strlen(file);
    if (sscanf(file, "checkpoint-epoch%lld-batch%lld.ckpt%n", &n, &k, &used) == 2 && (size_t)used == len) {
        *epochs = n - 1, *batches = k;
        return n >= 1 && k >= 0;
    }
    if (sscanf(file, "checkpoint-epoch%lld.ckpt%n", &n, &used) == 1 && (size_t)used == len) {
        *epochs = n, *batches = 0;
        return n >= 1;
    }
    return false;
}

bool trial_latest_checkpoint(const Trial *t, const char *name, char *path, size_t size)
{
    char parent[4400];
    snprintf(parent, sizeof parent, "%s/models/%s", t->dir, name);
    char **runs;
    int n;
    list_runs(parent, &runs, &n);
    long long best_e = -1, best_b = -1;
    bool found = false;
    for (int i = 0; i < n; i++) {
        char run[4800];
        snprintf(run, sizeof run, "%s/%s", parent, runs[i]);
        DIR *d = opendir(run);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            long long ep, b;
            if (!checkpoint_progress(e->d_name, &ep, &b)) continue;
            if (ep > best_e || (ep == best_e && b >= best_b)) { /* later runs win ties */
                best_e = ep, best_b = b;
                snprintf(path, size, "%s/%s", run, e->d_name);
                found = true;
            }
        }
        closedir(d);
    }
    free_runs(runs, n);
    return found;
}

bool trial_best_checkpoint(const Trial *t, const char *name, char *path, size_t size)
{
    char parent[4400];
    snprintf(parent, sizeof parent, "%s/models/%s", t->dir, name);
    char **runs;
    int n;
    list_runs(parent, &runs, &n);
    bool found = false;
    for (int i = n - 1; i >= 0 && !found; i--) {
        snprintf(path, size, "%s/%s/model_best.ckpt", parent, runs[i]);
        found = fs_exists(path);
    }
    free_runs(runs, n);
    return found || trial_latest_checkpoint(t, name, path, size);
}

void trial_read_error(Trial *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/train.log", t->dir);
    char *text = fs_read_text(path);
    if (!text) {
        snprintf(t->error, sizeof t->error, "%s", engine_last_error());
        engine_clear_error();
        return;
    }
    const char *last = NULL, *last_error = NULL;
    for (char *line = text, *end; line && *line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end) *end = '\0';
        if (!*line) continue;
        last = line;
        if (strncmp(line, "error:", 6) == 0) last_error = line;
    }
    const char *pick = last_error ? last_error : last ? last : "no output";
    snprintf(t->error, sizeof t->error, "%s", pick);
    for (char *p = t->error; *p; p++)
        if (*p == '\r' || *p == '\t') *p = ' ';
    free(text);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int trial_remove_dir(const Trial *t)
{
    if (!fs_exists(t->dir)) return 0;
    ENGINE_CHECK_INT(nftw(t->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, "%s: cannot remove: %s", t->dir,
                     strerror(errno));
    return 0;
}

void trial_free(Trial *t)
{
    free(t->curve);
    t->curve = NULL;
    t->cap = t->n_epochs = 0;
}
