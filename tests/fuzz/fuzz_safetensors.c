/* Fuzzes the safetensors reader (engine/serialize/safetensors.h): the input
 * is a whole file, read with safetensors_load from a file and with
 * safetensors_parse from memory. A file that loads is checked for what the
 * reader promises: every tensor and metadata entry can be looked up and
 * read, and writing it back with safetensors_save gives a file that loads
 * to the same names, shapes, dtypes, bytes and metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "tests/fuzz/fuzz_support.h"

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz_safetensors: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

static size_t tensor_bytes(const Tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

static void same_content(const Safetensors *a, const Safetensors *b)
{
    CHECK(a->n_tensors == b->n_tensors && a->n_meta == b->n_meta);
    for (int i = 0; i < a->n_tensors; i++) {
        const Tensor *x = a->tensors[i], *y = safetensors_get(b, a->names[i]);
        CHECK(y != NULL && x->dtype == y->dtype && shape_equal(x->shape, y->shape));
        CHECK(memcmp(tensor_data(x), tensor_data(y), tensor_bytes(x)) == 0);
    }
    for (int i = 0; i < a->n_meta; i++) {
        /* by lookup: a key given twice reads as its first value on both sides */
        const char *v = safetensors_meta(b, a->meta_keys[i]);
        CHECK(v != NULL && strcmp(v, safetensors_meta(a, a->meta_keys[i])) == 0);
    }
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
    Safetensors *st = safetensors_load(fuzz_input_file(data, size));
    CHECK(st != NULL || engine_has_error());
    engine_clear_error();
    Safetensors *mem = safetensors_parse(data, size, "fuzz input");
    CHECK((st == NULL) == (mem == NULL));
    engine_clear_error();
    if (st) {
        same_content(st, mem);
        for (int i = 0; i < st->n_tensors; i++) {
            const Tensor *t = st->tensors[i];
            CHECK(safetensors_get(st, st->names[i]) == t && tensor_device(t).type == DEVICE_CPU);
            unsigned sum = 0; /* every byte is readable */
            const unsigned char *p = tensor_data(t);
            for (size_t k = 0; k < tensor_bytes(t); k++) sum += p[k];
            (void)sum;
        }
        for (int i = 0; i < st->n_meta; i++) CHECK(safetensors_meta(st, st->meta_keys[i]) != NULL);
        const char *path = fuzz_scratch_path("roundtrip.safetensors");
        int rc = safetensors_save(path, st->n_tensors, (const char *const *)st->names, st->tensors, st->n_meta,
                                  (const char *const *)st->meta_keys, (const char *const *)st->meta_values);
        if (rc != 0) {
            /* only a tensor named like the metadata block is refused */
            fprintf(stderr, "fuzz_safetensors: a loaded file does not save: %s\n", engine_last_error());
            abort();
        }
        Safetensors *back = safetensors_load(path);
        if (!back) {
            fprintf(stderr, "fuzz_safetensors: a saved file does not load: %s\n", engine_last_error());
            abort();
        }
        same_content(st, back);
        safetensors_free(back);
        unlink(path);
    }
    safetensors_free(mem);
    safetensors_free(st);
    scope_end();
    engine_clear_error();
    return 0;
}
