/* Reading TensorBoard event files back in the tests: every record's two
 * CRCs are checked (tfrecord.h) and each Event is decoded into the fields
 * the writer sets. Independent of the writer's encoding code: it walks the
 * wire format field by field. */
#ifndef TESTS_EVENT_READER_H
#define TESTS_EVENT_READER_H

#include <stddef.h>
#include <stdint.h>

typedef enum { EVENT_KIND_VERSION, EVENT_KIND_SCALAR, EVENT_KIND_IMAGE, EVENT_KIND_HISTO, EVENT_KIND_OTHER } EventKind;

typedef struct {
    EventKind kind;
    double wall_time;
    int64_t step;
    char file_version[64];
    char tag[128];
    float scalar;
    int64_t height, width, colorspace; /* images */
    uint8_t *png;
    size_t png_len;
    double min, max, num, sum, sum_squares; /* histograms */
    int n_buckets;
    double *limits, *counts;
} DecodedEvent;

/* Decodes every event of path into *events (malloc'd). Returns the count,
 * or -1 with the engine error set (bad CRC, truncated file, malformed
 * message, a field of the wrong wire type). */
int read_event_file(const char *path, DecodedEvent **events);
void free_events(DecodedEvent *events, int n);
/* The path of the only events.out.tfevents.* file in dir: 0, or -1 when
 * there is none or more than one. */
int find_event_file(const char *dir, char *path, size_t size);

#endif
