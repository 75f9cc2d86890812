/* safetensors reader (validating) and atomic writer. */
#include "engine/serialize/safetensors.h"
#include "engine/serialize/regular_file.h"

#include "engine/serialize/atomic_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Header larger than this is rejected as malformed (the reference
 * implementation uses the same bound). */
#define MAX_HEADER_BYTES (100u * 1024u * 1024u)

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void safetensors_free(Safetensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) {
        free(st->names[i]);
        if (st->tensors[i]) tensor_free(st->tensors[i]);
    }
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->names);
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_values);
    free(st);
}

Tensor *safetensors_get(const Safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->names[i], name) == 0) return st->tensors[i];
    return NULL;
}

const char *safetensors_meta(const Safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

typedef struct {
    uint64_t begin, end;
    int index;
} Span;

/* By (begin, end): an empty tensor sorts before a non-empty one at the same
 * offset, so both cover the data without a false "overlap". */
static int span_cmp(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end ? 1 : 0;
}

/* A JSON number that is a non-negative integer small enough to be exact in a
 * double (checked before any cast, which would be undefined out of range). */
static bool json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= 0 && j->valuedouble <= 9007199254740992.0)) return false;
    *out = (uint64_t)j->valuedouble;
    return (double)*out == j->valuedouble;
}

static bool read_u64_le(const unsigned char *p, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    *out = v;
    return true;
}

static int parse_metadata(Safetensors *st, const cJSON *meta, const char *label)
{
    ENGINE_CHECK_INT(cJSON_IsObject(meta), "%s: __metadata__ must be a JSON object of strings", label);
    ENGINE_CHECK_INT(st->meta_keys == NULL, "%s: duplicate __metadata__ in the header", label);
    int n = cJSON_GetArraySize(meta);
    st->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    st->meta_values = calloc((size_t)n + 1, sizeof(char *));
    ENGINE_CHECK_INT(st->meta_keys && st->meta_values, "%s: out of memory", label);
    const cJSON *item;
    cJSON_ArrayForEach(item, meta)
    {
        ENGINE_CHECK_INT(cJSON_IsString(item), "%s: __metadata__.%s must be a string", label, item->string);
        st->meta_keys[st->n_meta] = dup_str(item->string);
        st->meta_values[st->n_meta] = dup_str(item->valuestring);
        st->n_meta++;
    }
    return 0;
}

/* Validates one header entry and creates its tensor from data. */
static int parse_entry(Safetensors *st, const cJSON *entry, const unsigned char *data, uint64_t data_size,
                       const char *label, Span *span)
{
    const char *name = entry->string;
    ENGINE_CHECK_INT(safetensors_get(st, name) == NULL, "%s: tensor '%s': duplicate name in the header", label, name);
    ENGINE_CHECK_INT(cJSON_IsObject(entry), "%s: tensor '%s': header entry must be an object", label, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    ENGINE_CHECK_INT(cJSON_IsString(jd), "%s: tensor '%s': missing string 'dtype'", label, name);
    DType dt;
    ENGINE_CHECK_INT(dtype_from_safetensors_name(jd->valuestring, &dt),
                     "%s: tensor '%s': unsupported dtype '%s' (supported: F32, I64, U8, BF16, F16)", label, name, jd->valuestring);
    ENGINE_CHECK_INT(cJSON_IsArray(js), "%s: tensor '%s': missing array 'shape'", label, name);
    Shape shape = {.ndim = cJSON_GetArraySize(js)};
    ENGINE_CHECK_INT(shape.ndim <= MAX_DIMS, "%s: tensor '%s': %d dims, at most %d supported", label, name, shape.ndim,
                     MAX_DIMS);
    int k = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, js)
    {
        uint64_t size;
        ENGINE_CHECK_INT(json_uint(dim, &size), "%s: tensor '%s': shape entries must be non-negative integers", label,
                         name);
        shape.d[k++] = (int64_t)size;
    }
    size_t expected;
    ENGINE_CHECK_INT(shape_nbytes_checked(shape, dtype_size(dt), &expected),
                     "%s: tensor '%s': shape %s is too large (its size overflows 64 bits)", label, name,
                     shape_str(shape));
    ENGINE_CHECK_INT(cJSON_IsArray(jo) && cJSON_GetArraySize(jo) == 2,
                     "%s: tensor '%s': 'data_offsets' must be [begin, end]", label, name);
    const cJSON *jb = cJSON_GetArrayItem(jo, 0), *je = cJSON_GetArrayItem(jo, 1);
    uint64_t begin, end;
    ENGINE_CHECK_INT(json_uint(jb, &begin) && json_uint(je, &end),
                     "%s: tensor '%s': data_offsets must be non-negative integers", label, name);
    ENGINE_CHECK_INT(begin <= end, "%s: tensor '%s': data_offsets [%llu, %llu] are reversed", label, name,
                     (unsigned long long)begin, (unsigned long long)end);
    ENGINE_CHECK_INT(end <= data_size,
                     "%s: tensor '%s': data_offsets [%llu, %llu] run past the %llu bytes of data (truncated file?)",
                     label, name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    ENGINE_CHECK_INT(end - begin == expected,
                     "%s: tensor '%s': %s %s needs %llu bytes but data_offsets give %llu", label, name,
                     jd->valuestring, shape_str(shape), (unsigned long long)expected,
                     (unsigned long long)(end - begin));
    Tensor *t = tensor_from_data(data + begin, shape, dt, CPU);
    if (!t) return -1;
    st->names[st->n_tensors] = dup_str(name);
    st->tensors[st->n_tensors] = tensor_persist(t);
    span->begin = begin;
    span->end = end;
    span->index = st->n_tensors;
    st->n_tensors++;
    return 0;
}

Safetensors *safetensors_parse(const unsigned char *bytes, size_t size, const char *label)
{
    ENGINE_CHECK(size >= 8, "%s: not a safetensors file (%zu bytes, shorter than the 8-byte header length)", label,
                 size);
    uint64_t header_len;
    read_u64_le(bytes, &header_len);
    ENGINE_CHECK(header_len <= MAX_HEADER_BYTES,
                 "%s: not a safetensors file (header length %llu is implausible)", label,
                 (unsigned long long)header_len);
    ENGINE_CHECK(header_len <= size - 8, "%s: header length %llu runs past the end of the %zu-byte file (truncated?)",
                 label, (unsigned long long)header_len, size);
    const char *json_end = NULL;
    cJSON *header = cJSON_ParseWithLengthOpts((const char *)bytes + 8, (size_t)header_len, &json_end, false);
    ENGINE_CHECK(header != NULL, "%s: header is not valid JSON", label);
    /* only whitespace (the padding) may follow the JSON value */
    for (const char *p = json_end; p < (const char *)bytes + 8 + header_len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(header);
            return engine_error("%s: header is not valid JSON (text after the closing brace)", label);
        }
    }
    Safetensors *st = calloc(1, sizeof *st);
    int n_entries = cJSON_GetArraySize(header);
    Span *spans = calloc((size_t)n_entries + 1, sizeof *spans);
    if (!st || !spans) {
        cJSON_Delete(header);
        free(spans);
        free(st);
        return engine_error("%s: out of memory", label);
    }
    st->names = calloc((size_t)n_entries + 1, sizeof(char *));
    st->tensors = calloc((size_t)n_entries + 1, sizeof(Tensor *));
    const unsigned char *data = bytes + 8 + header_len;
    uint64_t data_size = size - 8 - header_len;
    int rc = (st->names && st->tensors) ? 0 : -1;
    if (rc) engine_error("%s: out of memory", label);
    if (rc == 0 && !cJSON_IsObject(header)) rc = -1, engine_error("%s: header must be a JSON object", label);
    const cJSON *entry;
    if (rc == 0) {
        cJSON_ArrayForEach(entry, header)
        {
            if (strcmp(entry->string, "__metadata__") == 0) rc = parse_metadata(st, entry, label);
            else rc = parse_entry(st, entry, data, data_size, label, &spans[st->n_tensors]);
            if (rc) break;
        }
    }
    if (rc == 0) {
        /* the data must be covered exactly: no overlaps, no holes */
        qsort(spans, (size_t)st->n_tensors, sizeof *spans, span_cmp);
        uint64_t pos = 0;
        for (int i = 0; i < st->n_tensors && rc == 0; i++) {
            if (spans[i].begin != pos) {
                rc = -1;
                engine_error("%s: tensor '%s': data_offsets [%llu, %llu] %s", label, st->names[spans[i].index],
                             (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end,
                             spans[i].begin < pos ? "overlap another tensor" : "leave a hole in the data");
            }
            pos = spans[i].end;
        }
        if (rc == 0 && pos != data_size) {
            rc = -1;
            engine_error("%s: %llu bytes of data after the last tensor", label,
                         (unsigned long long)(data_size - pos));
        }
    }
    cJSON_Delete(header);
    free(spans);
    if (rc) {
        safetensors_free(st);
        return NULL;
    }
    return st;
}

/* Reads up to cap bytes of fd into buf; the count, or -1 with errno set. */
static ssize_t read_all(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

Safetensors *safetensors_load(const char *path)
{
    /* O_NONBLOCK: a FIFO without a writer is refused below instead of
     * waiting for one; a directory or a device (/dev/zero would never end)
     * is refused too */
    int64_t file_size;
    int fd = open_regular_file(path, &file_size);
    if (fd < 0) return NULL;
    size_t size = (size_t)file_size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return engine_error("%s: out of memory reading the %zu-byte file", path, size);
    }
    ssize_t got = read_all(fd, buf, size);
    int read_errno = errno;
    close(fd);
    if (got < 0) {
        free(buf);
        return engine_error("%s: read error: %s", path, strerror(read_errno));
    }
    Safetensors *st_file = safetensors_parse(buf, (size_t)got, path); /* a file cut short reads as truncated */
    free(buf);
    return st_file;
}

/* ---- writing ---- */

/* The writer refuses what the reader above (and the reference reader) would
 * refuse, before it creates any file: a checkpoint that saves must load. */

/* Integers JSON numbers carry exactly (readers parse them as doubles). */
#define MAX_JSON_INT 9007199254740992ull

static int check_metadata(const char *path, int n_meta, const char *const *keys, const char *const *values)
{
    ENGINE_CHECK_INT(n_meta >= 0, "%s: negative metadata count %d", path, n_meta);
    for (int i = 0; i < n_meta; i++) {
        ENGINE_CHECK_INT(keys[i] && values[i], "%s: metadata entry %d has no %s", path, i, keys[i] ? "value" : "key");
        for (int j = 0; j < i; j++)
            ENGINE_CHECK_INT(strcmp(keys[i], keys[j]) != 0, "%s: duplicate metadata key '%s'", path, keys[i]);
    }
    return 0;
}

/* Adds tensor t's header entry at *offset (then moved past its data). */

/* An integer as its exact decimal text: cJSON prints numbers with 15
 * significant digits when they read back within a relative epsilon, which
 * drops the last digits of sizes and offsets near 2^53. */
static cJSON *json_integer(uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(text);
}

static int add_entry(cJSON *header, const char *path, const char *name, const Tensor *t, uint64_t *offset)
{
    ENGINE_CHECK_INT(name != NULL, "%s: a tensor has no name", path);
    ENGINE_CHECK_INT(strcmp(name, "__metadata__") != 0, "%s: '__metadata__' is reserved and cannot name a tensor",
                     path);
    ENGINE_CHECK_INT(!cJSON_GetObjectItemCaseSensitive(header, name), "%s: duplicate tensor name '%s'", path, name);
    DType readable;
    ENGINE_CHECK_INT(dtype_from_safetensors_name(dtype_safetensors_name(t->dtype), &readable) && readable == t->dtype,
                     "%s: tensor '%s': dtype %s cannot be stored (supported: F32, I64, U8, BF16, F16)", path, name,
                     dtype_name(t->dtype));
    ENGINE_CHECK_INT(t->shape.ndim <= MAX_DIMS, "%s: tensor '%s': %d dims, at most %d supported", path, name,
                     t->shape.ndim, MAX_DIMS);
    size_t nbytes;
    ENGINE_CHECK_INT(shape_nbytes_checked(t->shape, dtype_size(t->dtype), &nbytes),
                     "%s: tensor '%s': shape %s is too large (its size overflows 64 bits)", path, name,
                     shape_str(t->shape));
    for (int d = 0; d < t->shape.ndim; d++)
        ENGINE_CHECK_INT((uint64_t)t->shape.d[d] <= MAX_JSON_INT,
                         "%s: tensor '%s': size %lld of shape %s is beyond what a JSON header carries exactly", path,
                         name, (long long)t->shape.d[d], shape_str(t->shape));
    ENGINE_CHECK_INT(nbytes <= MAX_JSON_INT - *offset,
                     "%s: tensor '%s': the data would end past byte %llu, beyond what a JSON header carries exactly",
                     path, name, MAX_JSON_INT);
    cJSON *e = cJSON_AddObjectToObject(header, name);
    cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
    cJSON *offs = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
    bool ok = e && shape && offs && cJSON_AddStringToObject(e, "dtype", dtype_safetensors_name(t->dtype));
    for (int d = 0; ok && d < t->shape.ndim; d++)
        ok = cJSON_AddItemToArray(shape, json_integer((uint64_t)t->shape.d[d]));
    ok = ok && cJSON_AddItemToArray(offs, json_integer((uint64_t)*offset)) &&
         cJSON_AddItemToArray(offs, json_integer((uint64_t)(*offset + nbytes)));
    ENGINE_CHECK_INT(ok, "%s: out of memory building the header", path);
    *offset += nbytes;
    return 0;
}

/* The header refused for its size names its largest metadata value, the
 * likely cause (a config embedded in a checkpoint). */
static void *header_too_large(const char *path, size_t bytes, int n_meta, const char *const *keys,
                              const char *const *values)
{
    int largest = -1;
    for (int i = 0; i < n_meta; i++)
        if (largest < 0 || strlen(values[i]) > strlen(values[largest])) largest = i;
    if (largest < 0)
        return engine_error("%s: the safetensors header would be %zu bytes, over the %u-byte limit readers accept",
                            path, bytes, MAX_HEADER_BYTES);
    return engine_error("%s: the safetensors header would be %zu bytes, over the %u-byte limit readers accept (its "
                        "largest metadata value, '%s', is %zu bytes)",
                        path, bytes, MAX_HEADER_BYTES, keys[largest], strlen(values[largest]));
}

/* The header JSON, unpadded, or NULL with an error: everything the reader
 * checks is checked here. */
static char *header_json(const char *path, int n, const char *const *names, Tensor *const *tensors, int n_meta,
                         const char *const *meta_keys, const char *const *meta_values)
{
    ENGINE_CHECK(n >= 0, "%s: negative tensor count %d", path, n);
    if (check_metadata(path, n_meta, meta_keys, meta_values) != 0) return NULL;
    for (int i = 0; i < n; i++)
        if (!tensors[i]) return NULL; /* a failed op upstream: its message stands */
    cJSON *header = cJSON_CreateObject();
    ENGINE_CHECK(header != NULL, "%s: out of memory", path);
    bool ok = true;
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(header, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < n_meta; i++) ok = cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]);
        if (!ok) engine_error("%s: out of memory building the header", path);
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) ok = add_entry(header, path, names[i], tensors[i], &offset) == 0;
    char *json = ok ? cJSON_PrintUnformatted(header) : NULL;
    cJSON_Delete(header);
    if (!ok) return NULL;
    ENGINE_CHECK(json != NULL, "%s: out of memory", path);
    size_t padded = (strlen(json) + 7) & ~(size_t)7;
    if (padded > MAX_HEADER_BYTES) {
        free(json);
        return header_too_large(path, padded, n_meta, meta_keys, meta_values);
    }
    return json;
}

int safetensors_save(const char *path, int n, const char *const *names, Tensor *const *tensors, int n_meta,
                     const char *const *meta_keys, const char *const *meta_values)
{
    char *json = header_json(path, n, names, tensors, n_meta, meta_keys, meta_values);
    if (!json) return -1;
    size_t json_len = strlen(json);
    size_t padded = (json_len + 7) & ~(size_t)7; /* data starts 8-byte aligned */

    AtomicFile *f = atomic_file_open(path);
    if (!f) {
        free(json);
        return -1;
    }
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "        ";
    int rc = atomic_file_write(f, len_le, 8);
    if (rc == 0) rc = atomic_file_write(f, json, json_len);
    if (rc == 0) rc = atomic_file_write(f, spaces, padded - json_len);
    free(json);
    for (int i = 0; i < n && rc == 0; i++) {
        size_t nbytes = (size_t)tensor_numel(tensors[i]) * dtype_size(tensors[i]->dtype);
        void *buf = malloc(nbytes ? nbytes : 1);
        if (!buf) {
            engine_error("%s: out of memory", path);
            rc = -1;
            break;
        }
        rc = tensor_copy_to_buffer(tensors[i], buf);
        if (rc == 0) rc = atomic_file_write(f, buf, nbytes);
        free(buf);
    }
    if (rc != 0) {
        atomic_file_abort(f);
        return -1;
    }
    rc = atomic_file_commit(f);
    return rc;
}
