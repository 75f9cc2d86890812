/* Signals a training run handles itself. SIGINT (Ctrl-C) and SIGTERM (what
 * batch schedulers such as SLURM send before preemption) ask the run to stop:
 * the trainer finishes the current step, saves a checkpoint of its exact
 * position and exits non-zero, saying how to resume. A second one exits at
 * once. SIGXFSZ (a file-size limit, ulimit -f) is ignored, so a write past
 * the limit fails with EFBIG and is reported as a write error instead of
 * killing the process silently. */
#ifndef UTILS_INTERRUPT_H
#define UTILS_INTERRUPT_H

/* Installs the handlers; call it before starting any thread. SIGINT and
 * SIGTERM are then blocked in the calling thread and in every thread it
 * starts, and taken by a thread of their own (interrupt.c says why).
 * 0 or -1 with an error. */
int interrupt_install(void);
/* The signal that asked the run to stop (SIGINT or SIGTERM), or 0. */
int interrupt_requested(void);
/* "SIGINT" / "SIGTERM". */
const char *interrupt_name(int sig);
/* The exit status for a run stopped by sig: 128 + sig, as a shell reports. */
int interrupt_exit_status(int sig);

#endif
