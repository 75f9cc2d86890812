/* TensorboardWriter (see visualization.h). */
#include "logger/visualization.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/scope.h"
#include "logger/histogram.h"
#include "logger/image_grid.h"

double writer_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tensorboard_writer_init(TensorboardWriter *w, const char *log_dir, bool enabled)
{
    memset(w, 0, sizeof *w);
    snprintf(w->mode, sizeof w->mode, "train");
    w->timer = writer_clock();
    if (!enabled || !log_dir || !log_dir[0]) return 0;
    if (event_file_open(&w->file, log_dir)) return -1;
    w->enabled = true;
    return 0;
}

/* "tag/mode", the name the reference gives scalars and images. */
static void mode_tag(const TensorboardWriter *w, const char *tag, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", tag, w->mode);
}

int writer_set_step(TensorboardWriter *w, int64_t step, const char *mode)
{
    return writer_set_step_at(w, step, mode, writer_clock());
}

int writer_set_step_at(TensorboardWriter *w, int64_t step, const char *mode, double when)
{
    snprintf(w->mode, sizeof w->mode, "%s", mode);
    w->step = step;
    double duration = when - w->timer;
    w->timer = when;
    if (step == 0 || duration <= 0) return 0;
    return writer_add_scalar(w, "steps_per_sec", 1.0 / duration);
}

int writer_add_scalar(TensorboardWriter *w, const char *tag, double value)
{
    if (!w->enabled) return 0;
    char full[256];
    mode_tag(w, tag, full, sizeof full);
    return event_file_add_scalar(&w->file, full, value, w->step, event_wall_time());
}

int writer_add_image(TensorboardWriter *w, const char *tag, Tensor *image)
{
    if (!w->enabled) return 0;
    ENGINE_CHECK_INT(image != NULL, "add_image: %s: no image", tag);
    scope_begin();
    Tensor *chw = tensor_dim(image) == 4 ? make_grid(image, 8, 2, true) : image;
    uint8_t *rgb = NULL;
    int h = 0, wd = 0, rc = chw ? image_to_rgb8(chw, &rgb, &h, &wd) : -1;
    scope_end();
    if (rc) return -1;
    char full[256];
    mode_tag(w, tag, full, sizeof full);
    rc = event_file_add_image(&w->file, full, rgb, h, wd, w->step, event_wall_time());
    free(rgb);
    return rc;
}

int writer_add_histogram(TensorboardWriter *w, const char *tag, Tensor *values, int bins)
{
    if (!w->enabled) return 0;
    ENGINE_CHECK_INT(values != NULL && values->dtype == DT_F32, "add_histogram: %s: expected a float32 tensor", tag);
    int64_t n = tensor_numel(values);
    ENGINE_CHECK_INT(n > 0, "add_histogram: %s: the tensor is empty", tag);
    float *host = malloc(sizeof(float) * (size_t)n);
    ENGINE_ASSERT(host != NULL);
    Histogram h;
    char label[300];
    snprintf(label, sizeof label, "add_histogram: %s", tag);
    int rc = tensor_copy_to_buffer(values, host);
    if (rc == 0) rc = histogram_compute(&h, host, n, bins, label);
    free(host);
    if (rc) return -1;
    rc = event_file_add_histogram(&w->file, tag, &h, w->step, event_wall_time());
    histogram_free(&h);
    return rc;
}

int writer_flush(TensorboardWriter *w) { return w->enabled ? event_file_flush(&w->file) : 0; }

void writer_close(TensorboardWriter *w)
{
    if (w->enabled) event_file_close(&w->file);
    w->enabled = false;
}
