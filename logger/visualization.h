/* TensorboardWriter, as in pytorch-template's logger/visualization.py: the
 * trainer's handle on TensorBoard. set_step(step, mode) sets the step of
 * what follows and logs steps_per_sec; add_scalar and add_image suffix
 * their tags with the mode ("loss/train", "loss/valid"), add_histogram does
 * not. Disabled ("tensorboard": false in the config's trainer section),
 * every call does nothing and no file is made.
 *
 * The events go to events.out.tfevents.<unix time>.<hostname> in the run's
 * log folder; `tensorboard --logdir saved/log` shows them. */
#ifndef LOGGER_VISUALIZATION_H
#define LOGGER_VISUALIZATION_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/tensor.h"
#include "logger/event_file.h"
#include "logger/logger.h"

typedef struct {
    bool enabled;
    EventFileWriter file;
    int64_t step;
    char mode[16];
    double timer; /* when the previous set_step happened (monotonic seconds) */
} TensorboardWriter;

/* enabled false or an empty log_dir: a writer that does nothing. 0, or -1
 * with an error when the event file cannot be made. */
int tensorboard_writer_init(TensorboardWriter *w, const char *log_dir, bool enabled);
/* mode "train" or "valid". Step 0 restarts the steps_per_sec timer; any
 * other step logs steps_per_sec/<mode> since the previous call. */
int writer_set_step(TensorboardWriter *w, int64_t step, const char *mode);
/* The same for a step that happened at `when` (writer_clock() then), for
 * steps logged after the fact: steps_per_sec comes from the steps' times. */
int writer_set_step_at(TensorboardWriter *w, int64_t step, const char *mode, double when);
/* Monotonic seconds. */
double writer_clock(void);
int writer_add_scalar(TensorboardWriter *w, const char *tag, double value);
/* An f32 image [C, H, W] (C 1 or 3) with values in [0, 1], or a batch
 * [N, C, H, W], which is laid out as make_grid(nrow=8, padding=2,
 * normalize=true) does (image_grid.h). */
int writer_add_image(TensorboardWriter *w, const char *tag, Tensor *image);
/* bins: HISTOGRAM_AUTO (numpy's 'auto', what the reference passes) or a
 * fixed count (histogram.h). */
int writer_add_histogram(TensorboardWriter *w, const char *tag, Tensor *values, int bins);
/* Writes what is buffered to the file (the trainer calls it every epoch). */
int writer_flush(TensorboardWriter *w);
void writer_close(TensorboardWriter *w);

#endif
