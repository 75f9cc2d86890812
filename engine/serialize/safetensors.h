/* safetensors files: an 8-byte little-endian header length, a JSON header
 * (dtype, shape, data_offsets per tensor, plus a "__metadata__" string map),
 * then the raw little-endian data. Reading validates everything and names
 * the file and the problem; writing is atomic (temporary file, fsync,
 * rename), so a crash never leaves a torn file. */
#ifndef ENGINE_SAFETENSORS_H
#define ENGINE_SAFETENSORS_H

#include "engine/tensor.h"

typedef struct {
    int n_tensors;
    char **names;
    Tensor **tensors; /* persistent, on the CPU, owned by this struct */
    int n_meta;
    char **meta_keys;
    char **meta_values;
} Safetensors;

/* Writes tensors (any device, any strides) and metadata (may be 0 entries).
 * Returns 0, or -1 with an error naming path. What a reader would refuse (a
 * header over the 100 MiB readers accept, duplicate names or metadata keys,
 * sizes a JSON number does not carry exactly) fails before any file is made. */
int safetensors_save(const char *path, int n, const char *const *names, Tensor *const *tensors, int n_meta,
                     const char *const *meta_keys, const char *const *meta_values);

/* Reads and validates a whole file; NULL with an error naming path. Only
 * regular files are read: a folder, a device or a FIFO (not waited on) is
 * refused. */
Safetensors *safetensors_load(const char *path);
/* Parses an in-memory file image (what safetensors_load reads); label names
 * it in errors. */
Safetensors *safetensors_parse(const unsigned char *bytes, size_t size, const char *label);
/* The tensor called name, or NULL (no error recorded). */
Tensor *safetensors_get(const Safetensors *st, const char *name);
/* The metadata value for key, or NULL. */
const char *safetensors_meta(const Safetensors *st, const char *key);
void safetensors_free(Safetensors *st);

#endif
