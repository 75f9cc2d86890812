/* Event files (see event_file.h). Each event is encoded into a buffer and
 * appended as one TFRecord; the stdio buffer is flushed by event_file_flush
 * (the trainer does it every epoch) and on close. */
#include "logger/event_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/error.h"
#include "logger/png_writer.h"
#include "logger/protobuf.h"
#include "logger/tfrecord.h"

double event_wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Writes the Event holding summary (NULL: the file_version event). */
static int write_event(EventFileWriter *w, int64_t step, double wall_time, const PbBuf *summary)
{
    PbBuf event;
    pb_init(&event);
    pb_double_field(&event, EVENT_WALL_TIME, wall_time);
    if (summary) {
        pb_varint_field(&event, EVENT_STEP, (uint64_t)step);
        pb_message_field(&event, EVENT_SUMMARY, summary);
    } else {
        pb_string_field(&event, EVENT_FILE_VERSION, EVENT_FILE_VERSION_STRING);
    }
    int rc = tfrecord_write(w->f, w->path, event.data, event.len);
    pb_free(&event);
    return rc;
}

/* Wraps one Summary.Value (tag plus the kind's field) into a Summary,
 * writes it as an event and frees value. */
static int write_value(EventFileWriter *w, int64_t step, double wall_time, PbBuf *value)
{
    if (!w->f) {
        pb_free(value);
        ENGINE_CHECK_INT(false, "tensorboard: the event file is not open");
    }
    PbBuf summary;
    pb_init(&summary);
    pb_message_field(&summary, SUMMARY_VALUE, value);
    int rc = write_event(w, step, wall_time, &summary);
    pb_free(&summary);
    pb_free(value);
    return rc;
}

static void start_value(PbBuf *value, const char *tag)
{
    pb_init(value);
    pb_string_field(value, VALUE_TAG, tag);
}

int event_file_open(EventFileWriter *w, const char *log_dir)
{
    memset(w, 0, sizeof *w);
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    long now = (long)time(NULL);
    /* a second writer in the same second gets a numbered name, never the same file */
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        if (attempt == 0) snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%ld.%s", log_dir, now, host);
        else snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%ld.%s.%d", log_dir, now, host, attempt);
        fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    ENGINE_CHECK_INT(fd >= 0, "%s: cannot create the TensorBoard event file: %s", w->path, strerror(errno));
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        close(fd);
        ENGINE_CHECK_INT(false, "%s: cannot open: %s", w->path, strerror(errno));
    }
    if (write_event(w, 0, event_wall_time(), NULL) || event_file_flush(w)) {
        event_file_close(w);
        return -1;
    }
    return 0;
}

int event_file_add_scalar(EventFileWriter *w, const char *tag, double value, int64_t step, double wall_time)
{
    PbBuf v;
    start_value(&v, tag);
    pb_float_field(&v, VALUE_SIMPLE_VALUE, (float)value);
    return write_value(w, step, wall_time, &v);
}

int event_file_add_image(EventFileWriter *w, const char *tag, const uint8_t *rgb, int height, int width,
                         int64_t step, double wall_time)
{
    uint8_t *png;
    size_t png_len;
    if (png_encode(rgb, width, height, 3, &png, &png_len)) return -1;
    PbBuf image, v;
    pb_init(&image);
    pb_varint_field(&image, IMAGE_HEIGHT, (uint64_t)height);
    pb_varint_field(&image, IMAGE_WIDTH, (uint64_t)width);
    pb_varint_field(&image, IMAGE_COLORSPACE, 3);
    pb_bytes_field(&image, IMAGE_ENCODED, png, png_len);
    free(png);
    start_value(&v, tag);
    pb_message_field(&v, VALUE_IMAGE, &image);
    pb_free(&image);
    return write_value(w, step, wall_time, &v);
}

int event_file_add_histogram(EventFileWriter *w, const char *tag, const Histogram *h, int64_t step,
                             double wall_time)
{
    PbBuf histo, v;
    pb_init(&histo);
    pb_double_field(&histo, HISTO_MIN, h->min);
    pb_double_field(&histo, HISTO_MAX, h->max);
    pb_double_field(&histo, HISTO_NUM, h->num);
    pb_double_field(&histo, HISTO_SUM, h->sum);
    pb_double_field(&histo, HISTO_SUM_SQUARES, h->sum_squares);
    pb_packed_doubles_field(&histo, HISTO_BUCKET_LIMIT, h->limits, (size_t)h->n);
    pb_packed_doubles_field(&histo, HISTO_BUCKET, h->counts, (size_t)h->n);
    start_value(&v, tag);
    pb_message_field(&v, VALUE_HISTO, &histo);
    pb_free(&histo);
    return write_value(w, step, wall_time, &v);
}

int event_file_flush(EventFileWriter *w)
{
    if (!w->f) return 0;
    ENGINE_CHECK_INT(fflush(w->f) == 0, "%s: write failed: %s", w->path, strerror(errno));
    return 0;
}

void event_file_close(EventFileWriter *w)
{
    if (w->f) fclose(w->f);
    w->f = NULL;
}
