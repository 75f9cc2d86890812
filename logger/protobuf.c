/* Protocol-buffers wire format (see protobuf.h). Fixed-width fields are
 * little-endian on the wire; they are assembled byte by byte so that the
 * code does not depend on the host's byte order. */
#include "logger/protobuf.h"

#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

void pb_init(PbBuf *b) { memset(b, 0, sizeof *b); }

void pb_free(PbBuf *b)
{
    free(b->data);
    pb_init(b);
}

static void reserve(PbBuf *b, size_t extra)
{
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *nd = realloc(b->data, cap);
    ENGINE_ASSERT(nd != NULL);
    b->data = nd;
    b->cap = cap;
}

static void put_bytes(PbBuf *b, const void *data, size_t n)
{
    if (n == 0) return;
    reserve(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

static void put_varint(PbBuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    put_bytes(b, tmp, n);
}

static void put_fixed(PbBuf *b, uint64_t bits, int nbytes)
{
    uint8_t tmp[8];
    for (int i = 0; i < nbytes; i++) tmp[i] = (uint8_t)(bits >> (8 * i));
    put_bytes(b, tmp, (size_t)nbytes);
}

static void put_key(PbBuf *b, int field, int wire) { put_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

static uint64_t double_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

void pb_varint_field(PbBuf *b, int field, uint64_t value)
{
    put_key(b, field, PB_VARINT);
    put_varint(b, value);
}

void pb_double_field(PbBuf *b, int field, double value)
{
    put_key(b, field, PB_FIXED64);
    put_fixed(b, double_bits(value), 8);
}

void pb_float_field(PbBuf *b, int field, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_key(b, field, PB_FIXED32);
    put_fixed(b, bits, 4);
}

void pb_bytes_field(PbBuf *b, int field, const void *data, size_t n)
{
    put_key(b, field, PB_BYTES);
    put_varint(b, n);
    put_bytes(b, data, n);
}

void pb_string_field(PbBuf *b, int field, const char *s) { pb_bytes_field(b, field, s, strlen(s)); }

void pb_message_field(PbBuf *b, int field, const PbBuf *message)
{
    pb_bytes_field(b, field, message->data, message->len);
}

void pb_packed_doubles_field(PbBuf *b, int field, const double *values, size_t n)
{
    put_key(b, field, PB_BYTES);
    put_varint(b, 8 * (uint64_t)n);
    reserve(b, 8 * n);
    for (size_t i = 0; i < n; i++) put_fixed(b, double_bits(values[i]), 8);
}

/* ---- reading ---- */

static bool get_varint(PbReader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return true;
        }
    }
    r->error = true;
    return false;
}

static bool take(PbReader *r, size_t n, const uint8_t **out)
{
    if ((size_t)(r->end - r->p) < n) {
        r->error = true;
        return false;
    }
    *out = r->p;
    r->p += n;
    return true;
}

bool pb_next(PbReader *r, PbField *f)
{
    if (r->error || r->p >= r->end) return false;
    uint64_t key;
    if (!get_varint(r, &key)) return false;
    memset(f, 0, sizeof *f);
    f->field = (int)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->field == 0) {
        r->error = true;
        return false;
    }
    switch (f->wire) {
    case PB_VARINT: return get_varint(r, &f->varint);
    case PB_FIXED64: f->len = 8; return take(r, 8, &f->data);
    case PB_FIXED32: f->len = 4; return take(r, 4, &f->data);
    case PB_BYTES: {
        uint64_t n;
        if (!get_varint(r, &n)) return false;
        if (n > (uint64_t)(r->end - r->p)) {
            r->error = true;
            return false;
        }
        f->len = (size_t)n;
        return take(r, f->len, &f->data);
    }
    default: r->error = true; return false; /* groups are not used by these messages */
    }
}

static uint64_t get_fixed(const uint8_t *p, int nbytes)
{
    uint64_t bits = 0;
    for (int i = 0; i < nbytes; i++) bits |= (uint64_t)p[i] << (8 * i);
    return bits;
}

double pb_as_double(const PbField *f)
{
    ENGINE_ASSERT(f->wire == PB_FIXED64);
    uint64_t bits = get_fixed(f->data, 8);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

float pb_as_float(const PbField *f)
{
    ENGINE_ASSERT(f->wire == PB_FIXED32);
    uint32_t bits = (uint32_t)get_fixed(f->data, 4);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

size_t pb_packed_count(const PbField *f) { return f->wire == PB_BYTES ? f->len / 8 : 0; }

double pb_packed_double(const PbField *f, size_t i)
{
    ENGINE_ASSERT(f->wire == PB_BYTES && 8 * i + 8 <= f->len);
    uint64_t bits = get_fixed(f->data + 8 * i, 8);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}
