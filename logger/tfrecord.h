/* TFRecord files, the framing of TensorBoard event files: each record is
 * a little-endian uint64 length, the masked CRC-32C of those 8 bytes, the
 * data, and the masked CRC-32C of the data. */
#ifndef LOGGER_TFRECORD_H
#define LOGGER_TFRECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Appends one record to f. 0, or -1 with an error naming label. */
int tfrecord_write(FILE *f, const char *label, const void *data, size_t n);

/* Reads a file record by record, checking both CRCs of each. */
typedef struct {
    FILE *f;
    char path[4096];
    long offset;   /* of the record just read */
    uint8_t *data; /* its bytes (valid until the next call) */
    size_t len, cap;
} TFRecordReader;

int tfrecord_open(TFRecordReader *r, const char *path);
/* 1 with the next record in r->data/len, 0 at the end of the file, -1 with
 * an error naming the path and offset (truncated record, CRC mismatch). */
int tfrecord_next(TFRecordReader *r);
void tfrecord_close(TFRecordReader *r);

#endif
