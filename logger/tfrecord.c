/* TFRecord reading and writing (see tfrecord.h). */
#include "logger/tfrecord.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "logger/crc32c.h"

static void put_le(uint8_t *p, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int nbytes)
{
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int tfrecord_write(FILE *f, const char *label, const void *data, size_t n)
{
    uint8_t header[12], footer[4];
    put_le(header, n, 8);
    put_le(header + 8, crc32c_mask(crc32c(header, 8)), 4);
    put_le(footer, crc32c_mask(crc32c(data, n)), 4);
    if (fwrite(header, 1, sizeof header, f) != sizeof header || fwrite(data, 1, n, f) != n ||
        fwrite(footer, 1, sizeof footer, f) != sizeof footer) {
        engine_error("%s: write failed: %s", label, strerror(errno));
        return -1;
    }
    return 0;
}

int tfrecord_open(TFRecordReader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->f = fopen(path, "rb");
    ENGINE_CHECK_INT(r->f != NULL, "%s: cannot open: %s", path, strerror(errno));
    return 0;
}

int tfrecord_next(TFRecordReader *r)
{
    uint8_t header[12], footer[4];
    r->offset = ftell(r->f);
    size_t got = fread(header, 1, sizeof header, r->f);
    if (got == 0 && feof(r->f)) return 0;
    ENGINE_CHECK_INT(got == sizeof header, "%s: offset %ld: truncated record header", r->path, r->offset);
    uint64_t n = get_le(header, 8);
    ENGINE_CHECK_INT(crc32c_mask(crc32c(header, 8)) == (uint32_t)get_le(header + 8, 4),
                     "%s: offset %ld: the length's CRC does not match", r->path, r->offset);
    ENGINE_CHECK_INT(n < ((uint64_t)1 << 31), "%s: offset %ld: record length %llu is implausible", r->path,
                     r->offset, (unsigned long long)n);
    if (n > r->cap) {
        uint8_t *nd = realloc(r->data, (size_t)n);
        ENGINE_ASSERT(nd != NULL);
        r->data = nd;
        r->cap = (size_t)n;
    }
    r->len = (size_t)n;
    ENGINE_CHECK_INT(fread(r->data, 1, r->len, r->f) == r->len && fread(footer, 1, 4, r->f) == 4,
                     "%s: offset %ld: truncated record (%llu data bytes expected)", r->path, r->offset,
                     (unsigned long long)n);
    ENGINE_CHECK_INT(crc32c_mask(crc32c(r->data, r->len)) == (uint32_t)get_le(footer, 4),
                     "%s: offset %ld: the data's CRC does not match", r->path, r->offset);
    return 1;
}

void tfrecord_close(TFRecordReader *r)
{
    if (r->f) fclose(r->f);
    free(r->data);
    memset(r, 0, sizeof *r);
}
