/* The search loop (see tune.h): proposals, starts, metric polling,
 * scheduler decisions, ends of trials, interruption. */
#include "tuner/tune.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <sys/types.h>
#include <unistd.h>

#include "engine/error.h"
#include "utils/fs.h"

static volatile sig_atomic_t signals_received, last_signal;

static void on_signal(int sig)
{
    last_signal = sig;
    signals_received++;
}

int tune_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask); /* no SA_RESTART: the loop's sleep ends at once */
    ENGINE_CHECK_INT(sigaction(SIGINT, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0,
                     "cannot install signal handlers: %s", strerror(errno));
    return 0;
}

int tune_signal_received(void) { return signals_received ? last_signal : 0; }

double tune_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A line of what happened, for a log that is not a terminal (a terminal sees the table). */
static void event(const Tune *t, const Trial *tr, const char *fmt, ...) ENGINE_PRINTF(3, 4);
static void event(const Tune *t, const Trial *tr, const char *fmt, ...)
{
    if (t->tty) return;
    va_list ap;
    va_start(ap, fmt);
    printf("[%7.1fs] trial %d ", t->elapsed_before + tune_now() - t->t0, tr->id);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

static Observation observation_of(const Tune *t, const Trial *tr)
{
    Observation o;
    memcpy(o.x, tr->x, sizeof o.x);
    int64_t epoch;
    double m = tune_trial_metric(t, tr, &epoch);
    o.loss = t->spec.maximize ? -m : m;
    o.epochs = tr->n_epochs;
    o.state = tr->state == TRIAL_DONE ? OBS_COMPLETE : tr->state == TRIAL_STOPPED ? OBS_PRUNED : OBS_NONE;
    return o;
}

/* The next trial id's values, from what has ended so far. */
static Trial *create_trial(Tune *t)
{
    int id = t->n_created;
    Observation *hist = malloc(((size_t)id + 1) * sizeof *hist);
    Trial *tr = calloc(1, sizeof *tr);
    if (!hist || !tr) {
        free(hist);
        free(tr);
        engine_error("out of memory");
        return NULL;
    }
    for (int k = 0; k < id; k++) hist[k] = observation_of(t, t->trials[k]);
    int rc = search_suggest(&t->spec, id, hist, id, tr->x);
    free(hist);
    if (rc) {
        free(tr);
        return NULL;
    }
    tr->id = id;
    tr->state = TRIAL_PENDING;
    snprintf(tr->dir, sizeof tr->dir, "%s/trial_%03d", t->folder, id);
    t->trials[t->n_created++] = tr;
    return tr;
}

static void describe_values(const Tune *t, const Trial *tr, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->spec.space.n && pos < size; i++) {
        char v[64];
        param_value_display(&t->spec.space.params[i], tr->x[i], v, sizeof v);
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%s=%s", i ? " " : "", t->spec.space.params[i].short_name, v);
    }
}

static int start_trial(Tune *t, Trial *tr)
{
    char ckpt[4600] = "";
    bool resume = tr->state == TRIAL_INTERRUPTED && trial_latest_checkpoint(tr, t->name, ckpt, sizeof ckpt);
    if (!resume && trial_remove_dir(tr)) return -1; /* a fresh start: nothing of an earlier one stays */
    if (fs_mkdirs(tr->dir)) return -1;
    /* argv: train -c config --set trainer.save_dir=DIR --set key=value ... | train -r ckpt */
    enum { MAX_ARGS = 2 * TUNE_MAX_PARAMS + 8 };
    char *argv[MAX_ARGS];
    char sets[TUNE_MAX_PARAMS + 1][4400];
    int n = 0;
    argv[n++] = t->train;
    if (resume) {
        argv[n++] = "-r";
        argv[n++] = ckpt;
    } else {
        argv[n++] = "-c";
        argv[n++] = t->config_path;
        snprintf(sets[0], sizeof sets[0], "trainer.save_dir=%s", tr->dir);
        argv[n++] = "--set";
        argv[n++] = sets[0];
        for (int i = 0; i < t->spec.space.n; i++) {
            const Param *p = &t->spec.space.params[i];
            int len = snprintf(sets[i + 1], sizeof sets[i + 1], "%s=", p->key);
            if (param_value_text(p, tr->x[i], sets[i + 1] + len, sizeof sets[i + 1] - (size_t)len)) return -1;
            argv[n++] = "--set";
            argv[n++] = sets[i + 1];
        }
    }
    argv[n] = NULL;
    char log[4200];
    snprintf(log, sizeof log, "%s/train.log", tr->dir);
    if (t->exec->start(t->exec, argv, log, &tr->handle)) return -1;
    tr->state = TRIAL_RUNNING;
    tr->stop_sent = tr->interrupt_sent = false;
    tr->started = tune_now();
    tr->starts++;
    tr->error[0] = '\0';
    char values[1000];
    describe_values(t, tr, values, sizeof values);
    if (resume) event(t, tr, "resumed from %s", ckpt);
    else event(t, tr, "started: %s", values);
    return 0;
}

/* Hands the epochs not seen yet to the scheduler; a stop decision sends SIGTERM. */
static void feed_scheduler(Tune *t, Trial *tr, bool live)
{
    while (tr->fed < tr->n_epochs) {
        int64_t e = tr->fed + 1;
        double v = tr->curve[e - 1];
        tr->fed = e;
        Decision d = tune_scheduler_on_result(&t->sched, tr->id, e, v);
        if (d != DECIDE_STOP || t->spec.sched.kind == SCHED_FIFO) continue;
        if (e >= t->spec.epochs) continue; /* its last epoch: it ends by itself */
        if (!live) {
            if (tr->state == TRIAL_INTERRUPTED || tr->state == TRIAL_PENDING) tr->state = TRIAL_STOPPED;
            continue;
        }
        if (tr->state == TRIAL_RUNNING && !tr->stop_sent && !tr->interrupt_sent) {
            tr->stop_sent = true;
            t->exec->signal(t->exec, tr->handle, SIGTERM);
            event(t, tr, "stopped by %s after epoch %lld (%s %g)", sched_kind_name(t->spec.sched.kind),
                  (long long)e, t->spec.metric, v);
        }
    }
}

/* Reads the trial's metrics and checks whether it has ended; true when something changed. */
static bool poll_trial(Tune *t, Trial *tr)
{
    int64_t before = tr->n_epochs;
    int rc = trial_read_metrics(tr, t->name, t->spec.metric);
    if (rc == 1 && !t->fatal) {
        t->fatal = true;
        snprintf(t->fatal_error, sizeof t->fatal_error, "%s: metric: %s", t->search->label, engine_last_error());
    }
    engine_clear_error();
    bool changed = tr->n_epochs != before;
    for (int64_t e = before + 1; e <= tr->n_epochs; e++)
        event(t, tr, "epoch %lld: %s %g", (long long)e, t->spec.metric, tr->curve[e - 1]);
    feed_scheduler(t, tr, true);
    int status;
    int ended = t->exec->poll(t->exec, tr->handle, &status);
    if (ended == 0) return changed;
    if (ended < 0) {
        snprintf(tr->error, sizeof tr->error, "%s", engine_last_error());
        engine_clear_error();
        tr->state = TRIAL_ERROR;
        return true;
    }
    tr->elapsed += tune_now() - tr->started;
    trial_read_metrics(tr, t->name, t->spec.metric);
    engine_clear_error();
    feed_scheduler(t, tr, false);
    if (status == 0) tr->state = TRIAL_DONE;
    else if (tr->stop_sent && (status == 143 || status == 130)) tr->state = TRIAL_STOPPED;
    else if (tr->interrupt_sent && (status == 130 || status == 143)) tr->state = TRIAL_INTERRUPTED;
    else {
        tr->state = TRIAL_ERROR;
        trial_read_error(tr);
        if (status == 130 || status == 143)
            snprintf(tr->error, sizeof tr->error, "stopped by %s from outside the search", status == 130 ? "SIGINT" : "SIGTERM");
    }
    int64_t epoch;
    double m = tune_trial_metric(t, tr, &epoch);
    if (tr->state == TRIAL_ERROR) event(t, tr, "failed (exit %d): %s", status, tr->error);
    else event(t, tr, "%s after %lld epochs: best %s %g (epoch %lld), %.1f s", trial_state_name(tr->state),
               (long long)tr->n_epochs, t->spec.metric, m, (long long)epoch, tr->elapsed);
    return true;
}

/* The next trial to start: an interrupted or pending one, else a new one; NULL when none is left. */
static Trial *next_trial(Tune *t)
{
    for (int k = 0; k < t->n_created; k++)
        if (t->trials[k]->state == TRIAL_INTERRUPTED || t->trials[k]->state == TRIAL_PENDING) return t->trials[k];
    if (t->n_created < t->spec.n_trials) return create_trial(t);
    return NULL;
}

static int save_progress(Tune *t)
{
    int rc = tune_state_save(t);
    if (rc == 0) rc = tune_write_csv(t);
    tune_print_table(t, false);
    return rc;
}

/* On an error of the search itself: the running trials save their position
 * (SIGINT) and end before ./tune does, so none is left behind running. */
static void stop_all(Tune *t)
{
    for (int k = 0; k < t->n_created; k++) {
        Trial *tr = t->trials[k];
        if (tr->state != TRIAL_RUNNING) continue;
        tr->interrupt_sent = true;
        t->exec->signal(t->exec, tr->handle, SIGINT);
    }
    double give_up = tune_now() + 120;
    for (;;) {
        int running = 0;
        for (int k = 0; k < t->n_created; k++) {
            Trial *tr = t->trials[k];
            if (tr->state != TRIAL_RUNNING) continue;
            int status;
            int ended = t->exec->poll(t->exec, tr->handle, &status);
            if (ended != 0) {
                tr->state = TRIAL_INTERRUPTED;
                tr->elapsed += tune_now() - tr->started;
            } else if (tune_now() > give_up) {
                t->exec->signal(t->exec, tr->handle, SIGKILL);
                running++;
            } else {
                running++;
            }
        }
        if (!running) break;
        sleep_seconds(0.1);
    }
    engine_clear_error();
}

static int run_loop(Tune *t);

/* A trial that ran when an earlier ./tune was killed outright (SIGKILL, a
 * closed terminal) runs on in its own process group: before it restarts,
 * that process (the same ./train program, still alive) is asked to save its
 * position and end, so that no trial has two processes. */
static void stop_orphans(Tune *t)
{
    for (int k = 0; k < t->n_created; k++) {
        Trial *tr = t->trials[k];
        if (tr->state != TRIAL_INTERRUPTED || tr->handle <= 1) continue;
        pid_t pid = (pid_t)tr->handle;
        tr->handle = 0;
        char link[64], exe[4096], train[4096];
        snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(link, exe, sizeof exe - 1);
        if (n <= 0 || !realpath(t->train, train)) continue;
        exe[n] = '\0';
        if (strcmp(exe, train) != 0) continue; /* gone, or the pid is another program's now */
        if (!t->tty) {
            printf("trial %d: its ./train (pid %d) still runs from the search before: stopping it\n", tr->id, (int)pid);
            fflush(stdout); /* it may take a while to save and end */
        }
        kill(pid, SIGINT);
        for (int i = 0; i < 1200 && kill(pid, 0) == 0; i++) sleep_seconds(0.1);
        if (kill(pid, 0) == 0) kill(pid, SIGKILL);
    }
}

int tune_run(Tune *t)
{
    int rc = run_loop(t);
    if (rc < 0) {
        char why[1000];
        snprintf(why, sizeof why, "%s", engine_has_error() ? engine_last_error() : "the search failed");
        stop_all(t);
        tune_state_save(t);
        engine_clear_error();
        engine_error("%s", why);
    }
    return rc;
}

static int run_loop(Tune *t)
{
    stop_orphans(t);
    /* what earlier sessions logged, through the scheduler again (trial order) */
    for (int k = 0; k < t->n_created; k++) {
        Trial *tr = t->trials[k];
        trial_read_metrics(tr, t->name, t->spec.metric);
        engine_clear_error();
        feed_scheduler(t, tr, false);
    }
    int forwarded = 0;
    for (;;) {
        bool changed = false;
        int running = 0;
        int sig = tune_signal_received();
        if (sig && forwarded < (int)signals_received && forwarded < 2) {
            forwarded++;
            if (forwarded == 1 && !t->tty) printf("%s: passing it on to the running trials, which save a checkpoint\n",
                                                  sig == SIGINT ? "SIGINT" : "SIGTERM");
            for (int k = 0; k < t->n_created; k++)
                if (t->trials[k]->state == TRIAL_RUNNING) {
                    t->trials[k]->interrupt_sent = true;
                    t->exec->signal(t->exec, t->trials[k]->handle, SIGINT);
                }
        }
        if (t->fatal) {
            for (int k = 0; k < t->n_created; k++) {
                Trial *tr = t->trials[k];
                if (tr->state == TRIAL_RUNNING && !tr->interrupt_sent) {
                    tr->interrupt_sent = true;
                    t->exec->signal(t->exec, tr->handle, SIGINT);
                }
            }
        }
        for (int k = 0; k < t->n_created; k++) {
            Trial *tr = t->trials[k];
            if (tr->state != TRIAL_RUNNING) continue;
            changed |= poll_trial(t, tr);
            running += tr->state == TRIAL_RUNNING;
        }
        while (!sig && !t->fatal && running < t->spec.max_concurrent) {
            Trial *tr = next_trial(t);
            if (!tr) {
                if (engine_has_error()) return -1;
                break;
            }
            if (start_trial(t, tr)) {
                snprintf(tr->error, sizeof tr->error, "%s", engine_last_error());
                engine_clear_error();
                tr->state = TRIAL_ERROR;
                event(t, tr, "could not start: %s", tr->error);
            } else {
                running++;
            }
            changed = true;
        }
        if (changed && save_progress(t)) return -1;
        if (running == 0) {
            bool left = t->n_created < t->spec.n_trials;
            for (int k = 0; k < t->n_created; k++)
                left |= t->trials[k]->state == TRIAL_PENDING || t->trials[k]->state == TRIAL_INTERRUPTED;
            if (t->fatal) {
                engine_error("%s", t->fatal_error);
                save_progress(t);
                return -1;
            }
            if (sig || !left) {
                if (save_progress(t)) return -1;
                return sig && left ? 1 : 0;
            }
        }
        sleep_seconds(0.25);
    }
}
