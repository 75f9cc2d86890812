/* Fuzzes the IDX reader (data_loader/idx.h, the MNIST file format): the
 * input is a whole file, raw or gzip-compressed, read with idx_load_u8.
 * For a raw file the outcome is known exactly (magic 00 00 08 <ndim>,
 * big-endian sizes, then exactly that many bytes), and the harness checks
 * the reader against it; for every file it checks that the expected_ndim
 * argument is honoured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/idx.h"
#include "engine/engine.h"
#include "tests/fuzz/fuzz_support.h"

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "fuzz_idx: %s:%d: check failed: %s (error: %s)\n", __FILE__, __LINE__, #cond, \
                    engine_last_error());                                                           \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

/* What a raw (uncompressed) file must give: true with its shape when valid
 * (the magic, the sizes, exactly their product of data bytes, and a shape
 * whose non-zero sizes multiply within int64, as every tensor's must). */
static bool expected_raw(const uint8_t *data, size_t size, Shape *shape)
{
    if (size < 4 || data[0] != 0 || data[1] != 0 || data[2] != 8 || data[3] == 0 || data[3] > MAX_DIMS) return false;
    int ndim = data[3];
    if (size < 4 + 4 * (size_t)ndim) return false;
    uint64_t nonzero = 1;
    bool empty = false, fits = true;
    shape->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *b = data + 4 + 4 * i;
        uint64_t d = ((uint64_t)b[0] << 24) | ((uint64_t)b[1] << 16) | ((uint64_t)b[2] << 8) | b[3];
        shape->d[i] = (int64_t)d;
        if (d == 0) empty = true;
        else if (nonzero > (uint64_t)INT64_MAX / d) fits = false;
        else nonzero *= d;
    }
    return fits && (empty ? 0 : nonzero) == size - 4 - 4 * (size_t)ndim;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    engine_clear_error();
    scope_begin();
    const char *path = fuzz_input_file(data, size);
    Tensor *t = idx_load_u8(path, 0);
    CHECK(t != NULL || engine_has_error());
    engine_clear_error();
    bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gzip) {
        Shape shape;
        bool valid = expected_raw(data, size, &shape);
        CHECK(valid == (t != NULL));
        if (t) {
            CHECK(t->dtype == DT_U8 && shape_equal(t->shape, shape));
            size_t header = 4 + 4 * (size_t)shape.ndim;
            CHECK(memcmp(tensor_u8(t), data + header, size - header) == 0);
        }
    }
    if (t) {
        CHECK(t->dtype == DT_U8 && t->shape.ndim >= 1 && t->shape.ndim <= MAX_DIMS);
        const uint8_t *p = tensor_u8(t);
        unsigned sum = 0; /* every byte is readable */
        for (int64_t k = 0; k < tensor_numel(t); k++) sum += p[k];
        (void)sum;
        int ndim = t->shape.ndim;
        Tensor *again = idx_load_u8(path, ndim);
        CHECK(again != NULL && shape_equal(again->shape, t->shape));
        CHECK(memcmp(tensor_u8(again), p, (size_t)tensor_numel(t)) == 0);
        tensor_free(again);
        Tensor *other = idx_load_u8(path, ndim % MAX_DIMS + 1);
        CHECK(other == NULL && engine_has_error());
        engine_clear_error();
        tensor_free(t);
    }
    scope_end();
    engine_clear_error();
    return 0;
}
