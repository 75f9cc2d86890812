/* What a search shows (see tune.h): the table, trials.csv, the reproducing
 * command lines, the best trial and best_config.json. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/serialize/atomic_file.h"
#include "tuner/tune.h"

double tune_trial_metric(const Tune *t, const Trial *tr, int64_t *epoch)
{
    return trial_best(tr, t->spec.maximize, epoch);
}

const Trial *tune_best_trial(const Tune *t)
{
    const Trial *best = NULL;
    double best_v = NAN;
    for (int k = 0; k < t->n_created; k++) {
        int64_t e;
        double v = tune_trial_metric(t, t->trials[k], &e);
        if (isnan(v)) continue;
        if (!best || (t->spec.maximize ? v > best_v : v < best_v)) best = t->trials[k], best_v = v;
    }
    return best;
}

/* Appends s to buf, single-quoted for a POSIX shell when it needs quoting. */
static void append_quoted(char *buf, size_t size, const char *s)
{
    size_t pos = strlen(buf);
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/=:+@%", *p)) plain = false;
    if (plain) {
        snprintf(buf + pos, size > pos ? size - pos : 0, "%s", s);
        return;
    }
    if (pos + 1 < size) buf[pos++] = '\'';
    for (const char *p = s; *p && pos + 5 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + pos, "'\\''", 4);
            pos += 4;
        } else {
            buf[pos++] = *p;
        }
    }
    if (pos + 1 < size) buf[pos++] = '\'';
    buf[pos < size ? pos : size - 1] = '\0';
}

void tune_trial_command(const Tune *t, const Trial *tr, char *buf, size_t size)
{
    buf[0] = '\0';
    append_quoted(buf, size, t->train_shown);
    strncat(buf, " -c ", size - strlen(buf) - 1);
    append_quoted(buf, size, t->config_path);
    char arg[4400];
    snprintf(arg, sizeof arg, "trainer.save_dir=%s", tr->dir);
    strncat(buf, " --set ", size - strlen(buf) - 1);
    append_quoted(buf, size, arg);
    for (int i = 0; i < t->spec.space.n; i++) {
        const Param *p = &t->spec.space.params[i];
        int len = snprintf(arg, sizeof arg, "%s=", p->key);
        if (param_value_text(p, tr->x[i], arg + len, sizeof arg - (size_t)len)) {
            engine_clear_error();
            continue;
        }
        strncat(buf, " --set ", size - strlen(buf) - 1);
        append_quoted(buf, size, arg);
    }
}

/* A CSV field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\n\r")) {
        fputc('"', f);
        for (const char *p = s; *p; p++) {
            if (*p == '"') fputc('"', f);
            fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

int tune_write_csv(const Tune *t)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ENGINE_CHECK_INT(f != NULL, "out of memory");
    fprintf(f, "trial,state,");
    for (int i = 0; i < t->spec.space.n; i++) csv_field(f, t->spec.space.params[i].key, false);
    fprintf(f, "epochs,%s,best_epoch,last_%s,seconds,starts,error,command\n", t->spec.metric, t->spec.metric);
    for (int k = 0; k < t->n_created; k++) {
        const Trial *tr = t->trials[k];
        fprintf(f, "%d,%s,", tr->id, trial_state_name(tr->state));
        for (int i = 0; i < t->spec.space.n; i++) {
            char v[4096];
            if (param_value_text(&t->spec.space.params[i], tr->x[i], v, sizeof v)) {
                engine_clear_error();
                snprintf(v, sizeof v, "?");
            }
            csv_field(f, v, false);
        }
        int64_t epoch;
        double m = tune_trial_metric(t, tr, &epoch), last = trial_last(tr);
        double secs = tr->elapsed + (tr->state == TRIAL_RUNNING ? tune_now() - tr->started : 0);
        fprintf(f, "%lld,", (long long)tr->n_epochs);
        if (!isnan(m)) fprintf(f, "%.9g", m);
        fprintf(f, ",%lld,", (long long)epoch);
        if (!isnan(last)) fprintf(f, "%.9g", last);
        fprintf(f, ",%.1f,%d,", secs, tr->starts);
        csv_field(f, tr->error, false);
        char cmd[8192];
        tune_trial_command(t, tr, cmd, sizeof cmd);
        csv_field(f, cmd, true);
    }
    if (fclose(f) != 0) {
        free(text);
        engine_error("out of memory");
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/trials.csv", t->folder);
    int rc = atomic_write_file(path, text, len);
    free(text);
    return rc;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

void tune_print_table(Tune *t, bool final)
{
    if (!final && !t->tty) return;
    const TuneSpec *s = &t->spec;
    int widths[TUNE_MAX_PARAMS];
    for (int i = 0; i < s->space.n; i++) {
        widths[i] = (int)strlen(s->space.params[i].short_name);
        if (widths[i] < 8) widths[i] = 8;
        for (int k = 0; k < t->n_created; k++) {
            char v[64];
            param_value_display(&s->space.params[i], t->trials[k]->x[i], v, sizeof v);
            int w = (int)strlen(v);
            if (w > widths[i]) widths[i] = w > 24 ? 24 : w;
        }
    }
    /* a live table of many trials shows the running ones and the 10 best, so it fits a terminal */
    double cutoff = NAN;
    bool compact = !final && t->n_created > 25;
    if (compact) {
        double *m = malloc((size_t)t->n_created * sizeof *m);
        int n = 0;
        for (int k = 0; m && k < t->n_created; k++) {
            int64_t e;
            double v = tune_trial_metric(t, t->trials[k], &e);
            if (!isnan(v)) m[n++] = s->maximize ? -v : v;
        }
        if (m && n > 0) {
            qsort(m, (size_t)n, sizeof *m, compare_double);
            cutoff = m[n < 10 ? n - 1 : 9];
        }
        free(m);
    }
    if (t->tty && t->table_lines > 0) printf("\033[%dA\033[J", t->table_lines);
    int lines = 0;
    int done = 0, stopped = 0, errors = 0, running = 0;
    for (int k = 0; k < t->n_created; k++) {
        TrialState st = t->trials[k]->state;
        done += st == TRIAL_DONE, stopped += st == TRIAL_STOPPED, errors += st == TRIAL_ERROR, running += st == TRIAL_RUNNING;
    }
    printf("search %s: %d of %lld trials, %d running, %d done, %d stopped early, %d failed, %.0f s\n", t->folder,
           t->n_created, (long long)s->n_trials, running, done, stopped, errors,
           t->elapsed_before + tune_now() - t->t0);
    lines++;
    if (compact) {
        printf("(running trials and the 10 best; trials.csv has them all)\n");
        lines++;
    }
    printf("%5s", "trial");
    for (int i = 0; i < s->space.n; i++) printf("  %*.*s", widths[i], widths[i], s->space.params[i].short_name);
    printf("  %6s  %12s  %5s  %-11s\n", "epochs", s->metric, "best@", "state");
    lines++;
    const Trial *best = tune_best_trial(t);
    for (int k = 0; k < t->n_created; k++) {
        const Trial *tr = t->trials[k];
        if (compact) {
            int64_t e;
            double v = tune_trial_metric(t, tr, &e);
            bool top = !isnan(v) && !isnan(cutoff) && (s->maximize ? -v : v) <= cutoff;
            if (tr->state != TRIAL_RUNNING && !top) continue;
        }
        printf("%5d", tr->id);
        for (int i = 0; i < s->space.n; i++) {
            char v[64];
            param_value_display(&s->space.params[i], tr->x[i], v, sizeof v);
            printf("  %*.*s", widths[i], widths[i], v);
        }
        int64_t epoch;
        double m = tune_trial_metric(t, tr, &epoch);
        char mv[32] = "-";
        if (!isnan(m)) snprintf(mv, sizeof mv, "%.5g", m);
        printf("  %6lld  %12s  %5lld  %-11s%s", (long long)tr->n_epochs, mv, (long long)epoch,
               trial_state_name(tr->state), tr == best ? " *best" : "");
        if (tr->state == TRIAL_ERROR && final) printf("  %.100s", tr->error);
        printf("\n");
        lines++;
    }
    t->table_lines = lines;
    fflush(stdout);
}

int tune_write_best(const Tune *t)
{
    const Trial *best = tune_best_trial(t);
    if (!best) {
        printf("no trial logged %s: no best configuration\n", t->spec.metric);
        return 0;
    }
    char *json = config_to_string(t->config);
    ENGINE_CHECK_INT(json != NULL, "out of memory");
    Config *c = config_parse(json, t->config_path);
    free(json);
    if (!c) return -1;
    for (int i = 0; i < t->spec.space.n; i++) {
        const Param *p = &t->spec.space.params[i];
        char v[4096];
        if (param_value_text(p, best->x[i], v, sizeof v) || config_set(c, p->key, v)) {
            config_free(c);
            return -1;
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/best_config.json", t->folder);
    int rc = config_save(c, path);
    config_free(c);
    if (rc) return -1;
    int64_t epoch;
    double m = tune_trial_metric(t, best, &epoch);
    char values[1200] = "", ckpt[4600], cmd[8192];
    size_t pos = 0;
    for (int i = 0; i < t->spec.space.n && pos < sizeof values; i++) {
        char v[64];
        param_value_display(&t->spec.space.params[i], best->x[i], v, sizeof v);
        pos += (size_t)snprintf(values + pos, sizeof values - pos, "%s%s=%s", i ? " " : "", t->spec.space.params[i].key, v);
    }
    printf("best trial: %d (%s %.6g at epoch %lld, %s): %s\n", best->id, t->spec.metric, m, (long long)epoch,
           trial_state_name(best->state), values);
    printf("best config: %s (./train -c %s trains it)\n", path, path);
    if (trial_best_checkpoint(best, t->name, ckpt, sizeof ckpt)) printf("best checkpoint: %s\n", ckpt);
    tune_trial_command(t, best, cmd, sizeof cmd);
    printf("reproduce the trial: %s\n", cmd);
    return 0;
}
