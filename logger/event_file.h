/* TensorBoard event files: events.out.tfevents.<unix time>.<hostname> in a
 * log folder, a TFRecord file of Event messages (tensorboard's event.proto
 * and summary.proto), the first holding file_version "brain.Event:2", each
 * later one a Summary with one value: a scalar, a PNG image or a histogram. */
#ifndef LOGGER_EVENT_FILE_H
#define LOGGER_EVENT_FILE_H

#include <stdint.h>
#include <stdio.h>

#include "logger/histogram.h"

/* Field numbers of the messages written (and read back by tests). */
enum {
    EVENT_WALL_TIME = 1, /* double */
    EVENT_STEP = 2,      /* int64 */
    EVENT_FILE_VERSION = 3,
    EVENT_SUMMARY = 5,
    SUMMARY_VALUE = 1,
    VALUE_TAG = 1,
    VALUE_SIMPLE_VALUE = 2, /* float */
    VALUE_IMAGE = 4,
    VALUE_HISTO = 5,
    IMAGE_HEIGHT = 1,
    IMAGE_WIDTH = 2,
    IMAGE_COLORSPACE = 3, /* 1 gray, 3 RGB, 4 RGBA */
    IMAGE_ENCODED = 4,    /* PNG bytes */
    HISTO_MIN = 1,
    HISTO_MAX = 2,
    HISTO_NUM = 3,
    HISTO_SUM = 4,
    HISTO_SUM_SQUARES = 5,
    HISTO_BUCKET_LIMIT = 6, /* packed double */
    HISTO_BUCKET = 7        /* packed double */
};

#define EVENT_FILE_VERSION_STRING "brain.Event:2"

typedef struct {
    FILE *f;
    char path[4200];
} EventFileWriter;

/* Creates a new event file in log_dir and writes the file_version event.
 * 0 or -1 with an error. */
int event_file_open(EventFileWriter *w, const char *log_dir);
int event_file_add_scalar(EventFileWriter *w, const char *tag, double value, int64_t step, double wall_time);
/* rgb: height x width x 3 bytes, rows top first. */
int event_file_add_image(EventFileWriter *w, const char *tag, const uint8_t *rgb, int height, int width,
                         int64_t step, double wall_time);
int event_file_add_histogram(EventFileWriter *w, const char *tag, const Histogram *h, int64_t step,
                             double wall_time);
int event_file_flush(EventFileWriter *w);
void event_file_close(EventFileWriter *w);

/* Seconds since the epoch, as Event.wall_time holds them. */
double event_wall_time(void);

#endif
