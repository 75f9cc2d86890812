/* IDX reader (see idx.h). gzip files go through zlib's gzread, which also
 * reads uncompressed files transparently. */
#include "data_loader/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data_loader/huge_pages.h"
#include "engine/serialize/regular_file.h"

/* Reads exactly n bytes; false on a short read. */
static bool read_exact(gzFile f, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got <= 0) return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

/* Opens path for gzread if it is a regular file; its size in *size. NULL
 * with an error otherwise: a FIFO is opened without blocking (no writer
 * needed) and refused like a directory or /dev/zero, which would hang or
 * never end. */
static gzFile open_regular(const char *path, int64_t *size)
{
    int fd = open_regular_file(path, size);
    if (fd < 0) return NULL;
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return engine_error("%s: cannot open: out of memory", path);
    }
    return f;
}

/* Checks the data size the header announces against what the file can hold,
 * before anything is allocated: a damaged header must not ask for terabytes
 * (or sizes whose product, strides included, overflows: a zero size does
 * not make huge others harmless). A raw file must hold the data exactly;
 * deflate expands at most about 1032:1, so a gzip file announcing more is
 * truncated or damaged. */
static int check_announced_size(gzFile f, const char *path, Shape shape, int64_t header_bytes, int64_t file_size)
{
    int64_t numel;
    ENGINE_CHECK_INT(shape_numel_checked(shape, &numel),
                     "%s: damaged IDX header: shape %s is too large (its sizes multiply past 64 bits)", path,
                     shape_str(shape));
    if (gzdirect(f)) {
        ENGINE_CHECK_INT(numel <= file_size - header_bytes,
                         "%s: truncated IDX file: shape %s needs %lld bytes of data, the file has %lld after its header",
                         path, shape_str(shape), (long long)numel, (long long)(file_size - header_bytes));
    } else {
        ENGINE_CHECK_INT(numel / 1032 <= file_size,
                         "%s: truncated or damaged IDX file: shape %s needs %lld bytes of data, more than a %lld-byte "
                         "gzip file can hold",
                         path, shape_str(shape), (long long)numel, (long long)file_size);
    }
    return 0;
}

Tensor *idx_load_u8(const char *path, int expected_ndim)
{
    int64_t file_size = 0;
    gzFile f = open_regular(path, &file_size);
    if (!f) return NULL;
    unsigned char magic[4];
    Tensor *t = NULL;
    if (!read_exact(f, magic, 4)) {
        engine_error("%s: truncated IDX file (no 4-byte magic number)", path);
        goto done;
    }
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > MAX_DIMS) {
        engine_error("%s: not an IDX file of unsigned bytes (magic %02x %02x %02x %02x, expected 00 00 08 <ndim>)",
                     path, magic[0], magic[1], magic[2], magic[3]);
        goto done;
    }
    int ndim = magic[3];
    if (expected_ndim > 0 && ndim != expected_ndim) {
        engine_error("%s: expected an IDX file with %d dims, this one has %d", path, expected_ndim, ndim);
        goto done;
    }
    Shape shape = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) {
        unsigned char b[4];
        if (!read_exact(f, b, 4)) {
            engine_error("%s: truncated IDX header", path);
            goto done;
        }
        shape.d[i] = ((int64_t)b[0] << 24) | ((int64_t)b[1] << 16) | ((int64_t)b[2] << 8) | b[3];
    }
    if (check_announced_size(f, path, shape, 4 + 4 * (int64_t)ndim, file_size)) goto done;
    t = tensor_empty(shape, DT_U8, CPU);
    if (!t) goto done;
    tensor_persist(t);
    huge_pages_before_fill(tensor_data(t), (size_t)shape_numel(shape)); /* a dataset, read in shuffled order */
    if (!read_exact(f, tensor_data(t), (size_t)shape_numel(shape))) {
        engine_error("%s: truncated IDX file: shape %s needs %lld bytes of data", path, shape_str(shape),
                     (long long)shape_numel(shape));
        tensor_free(t);
        t = NULL;
        goto done;
    }
    unsigned char extra;
    if (gzread(f, &extra, 1) > 0) {
        engine_error("%s: trailing data after the %lld bytes the IDX header announces", path,
                     (long long)shape_numel(shape));
        tensor_free(t);
        t = NULL;
    }
done:
    gzclose(f);
    return t;
}
