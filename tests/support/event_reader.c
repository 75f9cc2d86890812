/* Event-file reader for the tests (see event_reader.h). */
#include "tests/support/event_reader.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "logger/protobuf.h"
#include "logger/tfrecord.h"

/* A field must have the wire type its schema gives it. */
#define EXPECT_WIRE(f, w, what)                                                                         \
    do {                                                                                                \
        if ((f)->wire != (w)) {                                                                         \
            engine_error("%s: field %d has wire type %d, expected %d", what, (f)->field, (f)->wire, (w)); \
            return -1;                                                                                  \
        }                                                                                               \
    } while (0)

static void copy_string(char *dst, size_t size, const PbField *f)
{
    size_t n = f->len < size - 1 ? f->len : size - 1;
    memcpy(dst, f->data, n);
    dst[n] = '\0';
}

static int packed_doubles(const PbField *f, double **out, int *n, const char *what)
{
    EXPECT_WIRE(f, PB_BYTES, what);
    if (f->len % 8) {
        engine_error("%s: packed doubles of %zu bytes", what, f->len);
        return -1;
    }
    *n = (int)pb_packed_count(f);
    free(*out);
    *out = malloc(sizeof(double) * (size_t)(*n + 1));
    ENGINE_ASSERT(*out != NULL);
    for (int i = 0; i < *n; i++) (*out)[i] = pb_packed_double(f, i);
    return 0;
}

static int decode_histo(const PbField *outer, DecodedEvent *e)
{
    PbReader r = pb_reader(outer->data, outer->len);
    PbField f;
    int n_limits = 0, n_counts = 0;
    double *dst[] = {NULL, &e->min, &e->max, &e->num, &e->sum, &e->sum_squares};
    while (pb_next(&r, &f)) {
        if (f.field >= 1 && f.field <= 5) {
            EXPECT_WIRE(&f, PB_FIXED64, "HistogramProto");
            *dst[f.field] = pb_as_double(&f);
        } else if (f.field == 6) {
            if (packed_doubles(&f, &e->limits, &n_limits, "HistogramProto.bucket_limit")) return -1;
        } else if (f.field == 7) {
            if (packed_doubles(&f, &e->counts, &n_counts, "HistogramProto.bucket")) return -1;
        }
    }
    if (r.error || n_limits != n_counts) {
        engine_error("HistogramProto: malformed (%d limits, %d buckets)", n_limits, n_counts);
        return -1;
    }
    e->n_buckets = n_limits;
    e->kind = EVENT_KIND_HISTO;
    return 0;
}

static int decode_image(const PbField *outer, DecodedEvent *e)
{
    PbReader r = pb_reader(outer->data, outer->len);
    PbField f;
    while (pb_next(&r, &f)) {
        if (f.field >= 1 && f.field <= 3) {
            EXPECT_WIRE(&f, PB_VARINT, "Summary.Image");
            int64_t v = (int64_t)f.varint;
            if (f.field == 1) e->height = v;
            else if (f.field == 2) e->width = v;
            else e->colorspace = v;
        } else if (f.field == 4) {
            EXPECT_WIRE(&f, PB_BYTES, "Summary.Image.encoded_image_string");
            free(e->png);
            e->png = malloc(f.len + 1);
            ENGINE_ASSERT(e->png != NULL);
            memcpy(e->png, f.data, f.len);
            e->png_len = f.len;
        }
    }
    if (r.error) {
        engine_error("Summary.Image: malformed");
        return -1;
    }
    e->kind = EVENT_KIND_IMAGE;
    return 0;
}

static int decode_value(const PbField *outer, DecodedEvent *e)
{
    PbReader r = pb_reader(outer->data, outer->len);
    PbField f;
    while (pb_next(&r, &f)) {
        if (f.field == 1) {
            EXPECT_WIRE(&f, PB_BYTES, "Summary.Value.tag");
            copy_string(e->tag, sizeof e->tag, &f);
        } else if (f.field == 2) {
            EXPECT_WIRE(&f, PB_FIXED32, "Summary.Value.simple_value");
            e->scalar = pb_as_float(&f);
            e->kind = EVENT_KIND_SCALAR;
        } else if (f.field == 4) {
            EXPECT_WIRE(&f, PB_BYTES, "Summary.Value.image");
            if (decode_image(&f, e)) return -1;
        } else if (f.field == 5) {
            EXPECT_WIRE(&f, PB_BYTES, "Summary.Value.histo");
            if (decode_histo(&f, e)) return -1;
        }
    }
    if (r.error) {
        engine_error("Summary.Value: malformed");
        return -1;
    }
    return 0;
}

static int decode_event(const uint8_t *data, size_t len, DecodedEvent *e)
{
    memset(e, 0, sizeof *e);
    e->kind = EVENT_KIND_OTHER;
    PbReader r = pb_reader(data, len);
    PbField f;
    int n_values = 0;
    while (pb_next(&r, &f)) {
        if (f.field == 1) {
            EXPECT_WIRE(&f, PB_FIXED64, "Event.wall_time");
            e->wall_time = pb_as_double(&f);
        } else if (f.field == 2) {
            EXPECT_WIRE(&f, PB_VARINT, "Event.step");
            e->step = (int64_t)f.varint;
        } else if (f.field == 3) {
            EXPECT_WIRE(&f, PB_BYTES, "Event.file_version");
            copy_string(e->file_version, sizeof e->file_version, &f);
            e->kind = EVENT_KIND_VERSION;
        } else if (f.field == 5) {
            EXPECT_WIRE(&f, PB_BYTES, "Event.summary");
            PbReader s = pb_reader(f.data, f.len);
            PbField v;
            while (pb_next(&s, &v)) {
                if (v.field != 1) continue;
                EXPECT_WIRE(&v, PB_BYTES, "Summary.value");
                if (++n_values > 1) {
                    engine_error("Summary: more than one value (the writer puts one per event)");
                    return -1;
                }
                if (decode_value(&v, e)) return -1;
            }
            if (s.error) {
                engine_error("Summary: malformed");
                return -1;
            }
        }
    }
    if (r.error) {
        engine_error("Event: malformed");
        return -1;
    }
    return 0;
}

void free_events(DecodedEvent *events, int n)
{
    for (int i = 0; events && i < n; i++) {
        free(events[i].png);
        free(events[i].limits);
        free(events[i].counts);
    }
    free(events);
}

int read_event_file(const char *path, DecodedEvent **events)
{
    *events = NULL;
    TFRecordReader r;
    if (tfrecord_open(&r, path)) return -1;
    int n = 0, cap = 0, rc;
    DecodedEvent *list = NULL;
    while ((rc = tfrecord_next(&r)) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            DecodedEvent *nl = realloc(list, sizeof(DecodedEvent) * (size_t)cap);
            ENGINE_ASSERT(nl != NULL);
            list = nl;
        }
        if (decode_event(r.data, r.len, &list[n])) {
            free_events(list, n + 1);
            tfrecord_close(&r);
            return -1;
        }
        n++;
    }
    tfrecord_close(&r);
    if (rc < 0) {
        free_events(list, n);
        return -1;
    }
    *events = list;
    return n;
}

int find_event_file(const char *dir, char *path, size_t size)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int found = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        if (strncmp(ent->d_name, "events.out.tfevents.", 20) == 0) {
            found++;
            snprintf(path, size, "%s/%s", dir, ent->d_name);
        }
    closedir(d);
    return found == 1 ? 0 : -1;
}
