/* The protocol-buffers wire format, by hand: enough to write and read the
 * few TensorBoard messages the event writer uses (varints, 64- and 32-bit
 * fixed fields, length-delimited bytes, nested messages, packed doubles). */
#ifndef LOGGER_PROTOBUF_H
#define LOGGER_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_BYTES = 2, PB_FIXED32 = 5 };

/* A growing buffer holding one encoded message. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} PbBuf;

void pb_init(PbBuf *b);
void pb_free(PbBuf *b);
void pb_varint_field(PbBuf *b, int field, uint64_t value);
void pb_double_field(PbBuf *b, int field, double value);
void pb_float_field(PbBuf *b, int field, float value);
void pb_bytes_field(PbBuf *b, int field, const void *data, size_t n);
void pb_string_field(PbBuf *b, int field, const char *s);
void pb_message_field(PbBuf *b, int field, const PbBuf *message);
void pb_packed_doubles_field(PbBuf *b, int field, const double *values, size_t n);

/* Reading: walk a message's fields in order. */
typedef struct {
    const uint8_t *p, *end;
    bool error; /* set when the bytes are not a well-formed message */
} PbReader;

typedef struct {
    int field, wire;
    uint64_t varint;     /* PB_VARINT */
    const uint8_t *data; /* PB_BYTES, PB_FIXED64 (8 bytes), PB_FIXED32 (4 bytes) */
    size_t len;
} PbField;

static inline PbReader pb_reader(const void *data, size_t n)
{
    return (PbReader){(const uint8_t *)data, (const uint8_t *)data + n, false};
}
/* The next field: false at the end of the message or on malformed input
 * (then r->error is set). */
bool pb_next(PbReader *r, PbField *f);
double pb_as_double(const PbField *f);
float pb_as_float(const PbField *f);
/* A packed repeated double field's values: count, and the i-th value. */
size_t pb_packed_count(const PbField *f);
double pb_packed_double(const PbField *f, size_t i);

#endif
