/* One trial of a search: its parameter values, its folder
 * (<search folder>/trial_NNN, the trial's trainer.save_dir), its state, and
 * the metric per epoch read back from the metrics.csv files of its runs
 * (a resumed trial has one run folder per start; later runs win for the
 * epochs they repeat). */
#ifndef TUNE_TRIAL_H
#define TUNE_TRIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tuner/space.h"

typedef enum {
    TRIAL_PENDING,     /* proposed, not started */
    TRIAL_RUNNING,
    TRIAL_DONE,        /* ./train ended by itself (all epochs, or its own early_stop) */
    TRIAL_STOPPED,     /* stopped early by the scheduler */
    TRIAL_ERROR,       /* ./train failed: its error line is kept */
    TRIAL_INTERRUPTED, /* the search was interrupted while it ran: resumes from its checkpoint */
} TrialState;

#define TRIAL_ERROR_MAX 300

typedef struct {
    int id;
    double x[TUNE_MAX_PARAMS];
    TrialState state;
    char dir[4096];
    int64_t handle;         /* the executor's, while running */
    bool stop_sent;         /* the scheduler asked it to stop */
    bool interrupt_sent;
    double *curve;          /* metric per epoch, curve[e - 1]; NaN where not logged */
    int64_t n_epochs, cap;  /* epochs with a row in metrics.csv */
    int64_t fed;            /* epochs handed to the scheduler */
    double elapsed;         /* seconds run, over all starts */
    double started;         /* when the current start began (monotonic seconds) */
    int starts;
    char error[TRIAL_ERROR_MAX];
} Trial;

const char *trial_state_name(TrialState s);
/* -1 for an unknown name. */
int trial_state_parse(const char *name);

/* Reads the metric column of every <dir>/log/<name>/<run>/metrics.csv into
 * t->curve. 0; 1 when a metrics.csv has no column `metric` (columns listed
 * in the error); -1 with an error for an unreadable file. */
int trial_read_metrics(Trial *t, const char *name, const char *metric);
/* The best value of the curve (min or max) and its epoch (0 when none). */
double trial_best(const Trial *t, bool maximize, int64_t *epoch);
double trial_last(const Trial *t);

/* The checkpoint a restart resumes from: the furthest of
 * <dir>/models/<name>/<run>/checkpoint-epochN[-batchK].ckpt. false when none. */
bool trial_latest_checkpoint(const Trial *t, const char *name, char *path, size_t size);
/* The newest run folder's model_best.ckpt (a resumed run that did not
 * improve writes none: then an earlier run's), else the latest checkpoint.
 * false when none. */
bool trial_best_checkpoint(const Trial *t, const char *name, char *path, size_t size);
/* The last line of <dir>/train.log that starts with "error:", else its last line. */
void trial_read_error(Trial *t);
/* Removes the trial's folder (a fresh start of a trial with no checkpoint). */
int trial_remove_dir(const Trial *t);

void trial_free(Trial *t);

#endif
