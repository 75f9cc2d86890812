/* Helpers shared by the fuzz harnesses in this folder: the fuzz input as a
 * file (for readers that take a path), and the small training run the
 * checkpoint harness restores checkpoints into (make_seeds.c writes the
 * seed checkpoints from the same run with the real writer). */
#ifndef TESTS_FUZZ_FUZZ_SUPPORT_H
#define TESTS_FUZZ_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_data_loader.h"
#include "engine/engine.h"
#include "utils/config.h"

/* Once per process: one thread for OpenMP and OpenBLAS (fast, and the same
 * execution every time). */
void fuzz_init(void);

/* Writes data to an in-memory file of this process (memfd, or a temporary
 * file where memfd is missing) and returns its path, valid until the next
 * call; the same file is reused, so nothing piles up. fuzz_input_file2 is
 * a second, independent one. Aborts when the file cannot be written. */
const char *fuzz_input_file(const uint8_t *data, size_t size);
const char *fuzz_input_file2(const uint8_t *data, size_t size);

/* A scratch file for what a harness writes itself (tmpfs where there is
 * one, so the atomic writer's fsync costs nothing):
 * "<dir>/ctorch-fuzz.<pid>.<name>". The first call removes what processes
 * that no longer run left there (a crash, or libFuzzer's fork mode, ends a
 * process without its cleanup). */
const char *fuzz_scratch_path(const char *name);

/* The optimizer and scheduler types the configs know (scheduler: NULL for none). */
extern const char *const fuzz_optimizer_types[];
extern const int fuzz_n_optimizer_types;
extern const char *const fuzz_scheduler_types[];
extern const int fuzz_n_scheduler_types;
/* The known type named "type" in a state JSON (optimizer or scheduler), or NULL. */
const char *fuzz_state_type(const char *state_json, const char *const *known, int n_known);

/* A training run in miniature: the MLP of model/model.h with one hidden
 * unit and two classes (its first layer, 784 weights, frozen so that the
 * optimizer state stays small), an optimizer and scheduler of the given
 * types built from a config as ./train builds them, and a shuffling loader
 * over 7 fake samples in batches of 3. */
typedef struct {
    Config *config;
    Module *model;
    Tensor **params; /* the trainable ones, in the optimizer's order */
    int n_params;
    Optimizer *optimizer;
    LRScheduler *scheduler; /* NULL when scheduler_type was NULL */
    DataLoader *loader;
} FuzzRun;

/* 0, or -1 with the engine error set (a broken setup: the caller aborts). */
int fuzz_run_init(FuzzRun *r, const char *optimizer_type, const char *scheduler_type);
/* One training step as the Trainer takes it (batch, forward, nll_loss,
 * backward, optimizer step, scheduler step; a new epoch when the loader's
 * is over). 0, or -1 with the engine error set. */
int fuzz_run_step(FuzzRun *r);
void fuzz_run_free(FuzzRun *r);

#endif
