/* A search in progress: the effective config and search file (copied into
 * the search folder <trainer.save_dir>/tune/<name>/<search_id>/), the trials
 * so far, the early-stopping scheduler and the executor that runs them. */
#ifndef TUNE_TUNE_H
#define TUNE_TUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "tuner/executor.h"
#include "tuner/scheduler.h"
#include "tuner/search.h"
#include "tuner/spec.h"
#include "tuner/trial.h"
#include "utils/config.h"

typedef struct {
    TuneSpec spec;
    Config *config;          /* the base config of every trial */
    Config *search;
    char name[256];          /* the config's name */
    char folder[4096];       /* the search folder */
    char config_path[4200];  /* <folder>/config.json: what the trials' -c reads */
    char train[4096];        /* the ./train the trials run */
    char train_shown[4096];  /* how command lines name it: ./train where that is the same program */
    Trial **trials;          /* trials[0..n_created) */
    int n_created;
    TuneScheduler sched;
    Executor *exec;
    bool tty;                /* stdout is a terminal: the table is redrawn in place */
    int table_lines;         /* lines of the table drawn last (tty) */
    double t0;               /* start of this session (monotonic seconds) */
    double elapsed_before;   /* wall seconds of the sessions before a resume */
    bool fatal;              /* an error every trial would hit (the metric is not logged) */
    char fatal_error[600];
} Tune;

double tune_now(void);

/* The search loop: starts trials up to max_concurrent, reads their
 * metrics, stops the ones the scheduler gives up, records the ended ones,
 * and on SIGINT/SIGTERM passes the signal to the running trials, waits for
 * their checkpoints and returns. Returns 0 (search complete), 1
 * (interrupted: resume with ./tune -r), -1 with an error. */
int tune_run(Tune *t);
/* Installs the SIGINT/SIGTERM handlers of ./tune. 0 or -1. */
int tune_install_signals(void);
int tune_signal_received(void);

/* state.json in the search folder: every trial's values, state, epochs,
 * time and error. Written atomically after every change. */
int tune_state_save(const Tune *t);
/* Reads it back into t->trials (resume); running trials become
 * interrupted ones. 0 or -1 with an error naming the file. */
int tune_state_load(Tune *t);

/* The command line that reproduces trial tr alone (shell-quoted). */
void tune_trial_command(const Tune *t, const Trial *tr, char *buf, size_t size);
/* Objective of a trial (best metric over its epochs), NaN when none. */
double tune_trial_metric(const Tune *t, const Trial *tr, int64_t *epoch);
/* The best trial with a metric, or NULL. */
const Trial *tune_best_trial(const Tune *t);

/* trials.csv. 0 or -1. */
int tune_write_csv(const Tune *t);
/* The table: every trial's values, epochs, metric and state. */
void tune_print_table(Tune *t, bool final);
/* best_config.json (the base config with the best trial's values: ./train -c
 * takes it as is) and the summary lines. 0 or -1. */
int tune_write_best(const Tune *t);
/* results.png: the metric against each parameter, and every trial's curve
 * (stopped trials grey). 0 or -1. */
int tune_draw_results(const Tune *t, const char *path);

#endif
