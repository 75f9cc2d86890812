/* safetensors: round trips of every dtype and rank (0-dim, empty and
 * non-contiguous tensors included), files we write checked by an independent
 * reader (tests/ref/safetensors_check.py with numpy and torch), files written
 * by Python read by us, one malformed file per rejection rule, and saves that
 * fail without touching the file they were meant to replace. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/support/check.h"
#include "tests/support/ref_dir.h"

static Generator gen;
static char dir[256]; /* a fresh directory for this run's files */

/* ---------------- file helpers ---------------- */

static void path_in_dir(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static void write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* The whole file, malloc'ed; *n its size. */
static unsigned char *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

/* A safetensors image: the given header (its length as 8 little-endian bytes),
 * then data. */
static void write_st(const char *path, const char *header, const void *data, size_t n_data)
{
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + n_data + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (n_data) memcpy(buf + 8 + hl, data, n_data);
    write_file(path, buf, 8 + hl + n_data);
    free(buf);
}

/* Entries of dir whose name contains ".tmp." (a writer's leftovers). */
static int count_temp_files(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static int remove_dir_contents(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    char child[512];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat s;
        if (lstat(child, &s) == 0 && S_ISDIR(s.st_mode)) {
            remove_dir_contents(child);
            rmdir(child);
        } else {
            unlink(child);
        }
    }
    closedir(d);
    return 0;
}

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/test_safetensors_XXXXXX", tmp);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    remove_dir_contents(dir);
    return rmdir(dir);
}

/* ---------------- the tensors of the round trip ---------------- */

#define MAX_CASES 24

typedef struct {
    const char *name;
    Tensor *t;
    void *expected; /* row-major bytes, computed without the engine's copy code */
} Case;

typedef struct {
    Case c[MAX_CASES];
    int n;
} CaseList;

static void add_case(CaseList *l, const char *name, Tensor *t, const void *expected)
{
    REQUIRE_OK(t);
    assert_true(l->n < MAX_CASES);
    size_t nbytes = (size_t)tensor_numel(t) * dtype_size(t->dtype);
    l->c[l->n].name = name;
    l->c[l->n].t = t;
    l->c[l->n].expected = malloc(nbytes ? nbytes : 1);
    if (nbytes) memcpy(l->c[l->n].expected, expected, nbytes);
    l->n++;
}

/* A contiguous tensor: its expected bytes are its own memory. */
static void add_contiguous(CaseList *l, const char *name, Tensor *t)
{
    REQUIRE_OK(t);
    assert_true(tensor_is_contiguous(t) || tensor_numel(t) == 0); /* see below: empty ones need not be */
    add_case(l, name, t, tensor_data(t));
}

static void free_cases(CaseList *l)
{
    for (int i = 0; i < l->n; i++) free(l->c[i].expected);
}

/* f32 values in every rank 0..6, i64 and u8 ones, empty tensors (one right
 * before a non-empty tensor, so both start at the same offset) and three
 * kinds of views: transposed, strided with an offset, and expanded. */
static void build_cases(CaseList *l)
{
    static const float special[] = {-0.0f, 1e-40f, 3.0e38f, -1.5f, 0.1f};
    static const int64_t big[12] = {INT64_MIN + 1, INT64_MAX, -1, 0, (1LL << 53) + 1, -(1LL << 40),
                                    7, 8, 9, 10, 11, 12};
    uint8_t bytes[24];
    for (int i = 0; i < 24; i++) bytes[i] = (uint8_t)(i * 37 % 256);

    add_contiguous(l, "scalar", tensor_scalar(3.5, DT_F32, CPU));
    add_contiguous(l, "empty", tensor_zeros(SHAPE(0), DT_F32, CPU));
    add_contiguous(l, "d1", tensor_from_data(special, SHAPE(5), DT_F32, CPU));
    add_contiguous(l, "empty_3d", tensor_zeros(SHAPE(2, 0, 3), DT_F32, CPU));
    add_contiguous(l, "d2", tensor_randn(SHAPE(2, 3), &gen, CPU));
    add_contiguous(l, "d3", tensor_randn(SHAPE(2, 3, 4), &gen, CPU));
    add_contiguous(l, "d4", tensor_randn(SHAPE(1, 2, 3, 2), &gen, CPU));
    add_contiguous(l, "d5", tensor_randn(SHAPE(2, 1, 2, 3, 2), &gen, CPU));
    add_contiguous(l, "d6", tensor_randn(SHAPE(1, 2, 1, 3, 1, 2), &gen, CPU));
    add_contiguous(l, "i64_scalar", tensor_from_data(&big[5], SCALAR_SHAPE, DT_I64, CPU));
    add_contiguous(l, "i64", tensor_from_data(big, SHAPE(3, 4), DT_I64, CPU));
    add_contiguous(l, "i64_empty", tensor_zeros(SHAPE(0, 5), DT_I64, CPU));
    add_contiguous(l, "u8", tensor_from_data(bytes, SHAPE(2, 3, 4), DT_U8, CPU));
    add_contiguous(l, "u8_scalar", tensor_from_data(&bytes[5], SCALAR_SHAPE, DT_U8, CPU));

    /* views: expected values by index arithmetic on the base's memory */
    Tensor *base = tensor_randn(SHAPE(3, 4), &gen, CPU);
    const float *b = tensor_f32(base);
    float tr[12];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) tr[i * 3 + j] = b[j * 4 + i];
    Tensor *transposed = t_transpose(base, 0, 1);
    assert_false(tensor_is_contiguous(transposed));
    add_case(l, "transposed", transposed, tr);

    Tensor *wide = tensor_randn(SHAPE(2, 6), &gen, CPU);
    const float *w = tensor_f32(wide);
    float sl[6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) sl[i * 3 + j] = w[i * 6 + 1 + 2 * j];
    Tensor *strided = t_slice(wide, 1, 1, 6, 2);
    REQUIRE_OK(strided);
    assert_true(strided->offset == 1 && !tensor_is_contiguous(strided));
    add_case(l, "strided", strided, sl);

    Tensor *row = tensor_randn(SHAPE(1, 3), &gen, CPU);
    float ex[12];
    for (int i = 0; i < 12; i++) ex[i] = tensor_f32(row)[i % 3];
    add_case(l, "expanded", t_expand(row, SHAPE(4, 3)), ex);
}

static const char *meta_keys[] = {"format", "epoch", "config", "unicode"};
static const char *meta_values[] = {"pt", "7", "{\"lr\": 0.1, \"path\": \"a\\\\b\"}\n\ttab", "caf\xc3\xa9 \xe2\x82\xac"};
#define N_META 4

/* Exact text of element i: floats with 9 significant digits round-trip. */
static void format_value(const Case *c, int64_t i, char *out, size_t n)
{
    switch (c->t->dtype) {
    case DT_F32: snprintf(out, n, "%.9e", ((const float *)c->expected)[i]); break;
    case DT_I64: snprintf(out, n, "%lld", (long long)((const int64_t *)c->expected)[i]); break;
    case DT_U8: snprintf(out, n, "%u", ((const uint8_t *)c->expected)[i]); break;
    default: fail();
    }
}

static void write_expectation(const char *path, const CaseList *l)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *tensors = cJSON_AddObjectToObject(root, "tensors");
    char text[64];
    for (int k = 0; k < l->n; k++) {
        const Case *c = &l->c[k];
        cJSON *e = cJSON_AddObjectToObject(tensors, c->name);
        cJSON_AddStringToObject(e, "dtype", dtype_safetensors_name(c->t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < c->t->shape.ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)c->t->shape.d[d]));
        cJSON *values = cJSON_AddArrayToObject(e, "values");
        for (int64_t i = 0; i < tensor_numel(c->t); i++) {
            format_value(c, i, text, sizeof text);
            cJSON_AddItemToArray(values, cJSON_CreateString(text));
        }
    }
    cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
    for (int i = 0; i < N_META; i++) cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]);
    char *json = cJSON_PrintUnformatted(root);
    write_file(path, json, strlen(json));
    free(json);
    cJSON_Delete(root);
}

/* Runs tests/ref/safetensors_check.py; skips the test when no interpreter
 * with numpy and torch is available. */
static void run_checker(const char *args)
{
    if (TORCH_PYTHON[0] == '\0') {
        print_message("SKIP: no python3 with numpy and torch for the independent reader\n");
        skip();
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s/safetensors_check.py' %s", TORCH_PYTHON, ref_dir(), args);
    int status = system(cmd);
    assert_true(status != -1 && WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) {
        print_message("SKIP: numpy or torch not importable by %s\n", TORCH_PYTHON);
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---------------- round trips ---------------- */

static void test_round_trip(void **state)
{
    scope_begin();
    CaseList l = {0};
    build_cases(&l);
    const char *names[MAX_CASES];
    Tensor *ts[MAX_CASES];
    for (int i = 0; i < l.n; i++) names[i] = l.c[i].name, ts[i] = l.c[i].t;
    char path[512];
    path_in_dir(path, sizeof path, "round_trip.safetensors");
    assert_int_equal(safetensors_save(path, l.n, names, ts, N_META, meta_keys, meta_values), 0);
    assert_int_equal(count_temp_files(), 0);

    /* a new file gets the usual permissions (0666 less the umask), as with fopen */
    mode_t mask = umask(0);
    umask(mask);
    struct stat s;
    assert_int_equal(stat(path, &s), 0);
    assert_int_equal(s.st_mode & 0777, 0666 & ~mask);

    Safetensors *st = safetensors_load(path);
    REQUIRE_OK(st);
    assert_int_equal(st->n_tensors, l.n);
    for (int k = 0; k < l.n; k++) {
        const Case *c = &l.c[k];
        Tensor *t = safetensors_get(st, c->name);
        assert_non_null(t);
        assert_int_equal(t->dtype, c->t->dtype);
        assert_true(shape_equal(t->shape, c->t->shape));
        /* (tensor_is_contiguous says false for some empty shapes, such as
         * [2, 0, 3]; PyTorch calls every empty tensor contiguous) */
        assert_true(tensor_is_contiguous(t) || tensor_numel(t) == 0);
        assert_false(t->requires_grad);
        assert_null(t->owner); /* persistent: owned by st */
        assert_memory_equal(tensor_data(t), c->expected, (size_t)tensor_numel(t) * dtype_size(t->dtype));
    }
    assert_int_equal(st->n_meta, N_META);
    for (int i = 0; i < N_META; i++) assert_string_equal(safetensors_meta(st, meta_keys[i]), meta_values[i]);
    assert_null(safetensors_meta(st, "missing"));
    assert_null(safetensors_get(st, "missing"));
    safetensors_free(st);
    print_message("  round trip: %d tensors (f32/i64/u8, 0..6 dims, empty, 3 views) byte-exact\n", l.n);

    /* the same file through the independent reader, numpy and torch */
    char expected[512], args[1200];
    path_in_dir(expected, sizeof expected, "round_trip.expected.json");
    write_expectation(expected, &l);
    free_cases(&l);
    scope_end(); /* before the checker: skip() leaves the test at once */
    snprintf(args, sizeof args, "check '%s' '%s'", path, expected);
    run_checker(args);
}

static void test_no_metadata_and_no_tensors(void **state)
{
    scope_begin();
    char path[512];
    path_in_dir(path, sizeof path, "nothing.safetensors");
    assert_int_equal(safetensors_save(path, 0, NULL, NULL, 0, NULL, NULL), 0);
    Safetensors *st = safetensors_load(path);
    REQUIRE_OK(st);
    assert_int_equal(st->n_tensors, 0);
    assert_int_equal(st->n_meta, 0);
    safetensors_free(st);
    /* and an in-memory image through safetensors_parse names its label */
    static const unsigned char tiny[4] = {1, 2, 3, 4};
    assert_null(safetensors_parse(tiny, sizeof tiny, "in-memory label"));
    assert_non_null(strstr(engine_last_error(), "in-memory label"));
    engine_clear_error();
    scope_end();
}

/* t has this dtype and shape and exactly these row-major bytes. */
static void expect_bytes(const Tensor *t, DType dtype, Shape shape, const void *bytes)
{
    assert_non_null(t);
    assert_int_equal(t->dtype, dtype);
    if (!shape_equal(t->shape, shape)) fail_msg("shape %s, expected %s", shape_str(t->shape), shape_str(shape));
    assert_true(tensor_is_contiguous(t) || tensor_numel(t) == 0);
    assert_memory_equal(tensor_data(t), bytes, (size_t)shape_numel(shape) * dtype_size(dtype));
}

/* Values fixed in write() of tests/ref/safetensors_check.py. */
static void test_reads_python_written_file(void **state)
{
    char path[512], args[600];
    path_in_dir(path, sizeof path, "python.safetensors");
    snprintf(args, sizeof args, "write '%s'", path);
    run_checker(args);
    scope_begin();
    Safetensors *st = safetensors_load(path);
    REQUIRE_OK(st);
    assert_int_equal(st->n_tensors, 5);

    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i * 0.5f - 2.0f;
    expect_bytes(safetensors_get(st, "w"), DT_F32, SHAPE(3, 4), w);
    const int64_t idx[6] = {-3, 0, 7, 1LL << 40, -(1LL << 62), (1LL << 53) + 1};
    expect_bytes(safetensors_get(st, "idx"), DT_I64, SHAPE(6), idx);
    uint8_t img[12];
    for (int i = 0; i < 12; i++) img[i] = (uint8_t)(i * 20 % 256);
    expect_bytes(safetensors_get(st, "img"), DT_U8, SHAPE(2, 2, 3), img);
    Tensor *s = safetensors_get(st, "s");
    assert_non_null(s);
    assert_int_equal(s->shape.ndim, 0);
    assert_true(tensor_item(s) == 3.25);
    Tensor *empty = safetensors_get(st, "empty");
    assert_non_null(empty);
    assert_true(shape_equal(empty->shape, SHAPE(0, 4)));
    assert_string_equal(safetensors_meta(st, "format"), "pt");
    assert_string_equal(safetensors_meta(st, "note"), "written by \"json+struct\"");
    safetensors_free(st);
    scope_end();
}

/* ---------------- malformed files ---------------- */

/* Loads name from dir and expects a rejection whose message names the file
 * and contains each of the given fragments (NULL-terminated). */
static void expect_rejected(const char *name, ...)
{
    char path[512];
    path_in_dir(path, sizeof path, name);
    engine_clear_error();
    Safetensors *st = safetensors_load(path);
    if (st) {
        safetensors_free(st);
        fail_msg("%s was accepted", name);
    }
    const char *msg = engine_last_error();
    print_message("  %s\n", msg);
    assert_non_null(strstr(msg, path));
    va_list ap;
    va_start(ap, name);
    for (const char *frag; (frag = va_arg(ap, const char *)) != NULL;)
        if (!strstr(msg, frag)) fail_msg("message for %s lacks \"%s\"", name, frag);
    va_end(ap);
    engine_clear_error();
}

/* Writes the file with write_st and expects its rejection. */
#define REJECT(name, header, data, n_data, ...)                 \
    do {                                                        \
        char p_[512];                                           \
        path_in_dir(p_, sizeof p_, name);                       \
        write_st(p_, header, data, n_data);                     \
        expect_rejected(name, __VA_ARGS__, (const char *)NULL); \
    } while (0)

static void test_rejects_bad_framing(void **state)
{
    scope_begin();
    char path[512];
    unsigned char buf[64] = {0};

    path_in_dir(path, sizeof path, "empty_file.safetensors");
    write_file(path, buf, 0);
    expect_rejected("empty_file.safetensors", "8-byte", (const char *)NULL);

    path_in_dir(path, sizeof path, "short.safetensors");
    write_file(path, buf, 5);
    expect_rejected("short.safetensors", "5 bytes", (const char *)NULL);

    /* header length 1000 in a 28-byte file */
    buf[0] = 0xe8, buf[1] = 0x03;
    memcpy(buf + 8, "{\"a\": 1}            ", 20);
    path_in_dir(path, sizeof path, "long_header.safetensors");
    write_file(path, buf, 28);
    expect_rejected("long_header.safetensors", "1000", (const char *)NULL);

    /* 2^62: absurd, rejected before any allocation */
    memset(buf, 0, 8);
    buf[7] = 0x40;
    path_in_dir(path, sizeof path, "absurd_header.safetensors");
    write_file(path, buf, 28);
    expect_rejected("absurd_header.safetensors", "4611686018427387904", (const char *)NULL);

    REJECT("bad_json.safetensors", "{\"a\": {\"dtype\": \"F32\",", NULL, 0, "JSON");
    REJECT("json_then_text.safetensors", "{} xyz  ", NULL, 0, "JSON");
    REJECT("array_header.safetensors", "[1, 2, 3]", NULL, 0, "object");
    REJECT("string_header.safetensors", "\"abc\"", NULL, 0, "object");

    /* open failures name the path too */
    path_in_dir(path, sizeof path, "does_not_exist.safetensors");
    expect_rejected("does_not_exist.safetensors", "No such file", (const char *)NULL);
    scope_end();
}

static void test_rejects_bad_entries(void **state)
{
    scope_begin();
    static const unsigned char data[32] = {0};
    REJECT("fp8.safetensors", "{\"w8\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", data,
           2, "'w8'", "F8_E4M3");
    REJECT("xx.safetensors", "{\"wx\": {\"dtype\": \"XX\", \"shape\": [2], \"data_offsets\": [0, 8]}}", data, 8,
           "'wx'", "XX");
    REJECT("no_dtype.safetensors", "{\"nd\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", data, 8, "'nd'", "dtype");
    REJECT("entry_not_object.safetensors", "{\"num\": 5}", NULL, 0, "'num'");
    REJECT("shape_number.safetensors", "{\"sn\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}",
           data, 8, "'sn'", "shape");
    REJECT("shape_negative.safetensors",
           "{\"neg\": {\"dtype\": \"F32\", \"shape\": [-1, 2], \"data_offsets\": [0, 8]}}", data, 8, "'neg'",
           "shape");
    REJECT("shape_fraction.safetensors",
           "{\"frac\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 8]}}", data, 8, "'frac'",
           "shape");
    REJECT("shape_string.safetensors",
           "{\"sstr\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", data, 8, "'sstr'",
           "shape");
    REJECT("shape_huge.safetensors", "{\"huge\": {\"dtype\": \"F32\", \"shape\": [1e30], \"data_offsets\": [0, 8]}}",
           data, 8, "'huge'");
    REJECT("shape_2p62.safetensors",
           "{\"p62\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 0]}}", NULL, 0,
           "'p62'");
    /* 2^32 * 2^32 elements overflow int64 (4 bytes each wrap to 0 in 64 bits):
     * neither this nor the same with an extra 0 dim may pass as empty */
    REJECT("shape_overflow.safetensors",
           "{\"wrap\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 0]}}", NULL,
           0, "'wrap'", "too large");
    REJECT("shape_overflow_empty.safetensors",
           "{\"wrap0\": {\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296, 0], \"data_offsets\": [0, 0]}}",
           NULL, 0, "'wrap0'", "too large");
    REJECT("too_many_dims.safetensors",
           "{\"many\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", data, 1,
           "'many'", "dims");
    REJECT("offsets_reversed.safetensors", "{\"rev\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}",
           data, 8, "'rev'", "reversed");
    REJECT("offsets_missing.safetensors", "{\"nooff\": {\"dtype\": \"F32\", \"shape\": [2]}}", data, 8, "'nooff'",
           "data_offsets");
    REJECT("offsets_fraction.safetensors",
           "{\"offf\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2.5]}}", data, 2, "'offf'",
           "data_offsets");
    REJECT("offsets_huge.safetensors",
           "{\"offh\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [1e300, 1e300]}}", data, 2, "'offh'",
           "data_offsets");
    REJECT("truncated.safetensors", "{\"trunc\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
           data, 12, "'trunc'", "truncated");
    REJECT("overlap.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
           " \"ovl\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
           data, 12, "'ovl'", "overlap");
    REJECT("hole.safetensors",
           "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
           " \"gap\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}",
           data, 20, "'gap'", "hole");
    REJECT("hole_at_start.safetensors", "{\"late\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
           data, 8, "'late'", "hole");
    REJECT("trailing.safetensors", "{\"tr\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", data,
           12, "4 bytes", "after the last tensor");
    REJECT("size_mismatch.safetensors", "{\"sz\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
           data, 8, "'sz'", "12 bytes");
    REJECT("i64_size_mismatch.safetensors",
           "{\"sz64\": {\"dtype\": \"I64\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", data, 16, "'sz64'",
           "32 bytes");
    REJECT("duplicate.safetensors",
           "{\"dup\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
           " \"dup\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
           data, 8, "'dup'", "duplicate");
    REJECT("meta_number.safetensors",
           "{\"__metadata__\": {\"epoch\": 3}, \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
           data, 4, "epoch", "string");
    REJECT("meta_not_object.safetensors", "{\"__metadata__\": \"pt\"}", NULL, 0, "__metadata__");
    /* the first bad tensor is named even after good ones were read */
    REJECT("second_bad.safetensors",
           "{\"good\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
           " \"bad\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [4, 16]}}",
           data, 16, "'bad'", "F64");
    scope_end();
}

/* ---------------- failed saves ---------------- */

static Tensor *filled(Shape s, double v)
{
    Tensor *t = tensor_full(s, v, DT_F32, CPU);
    REQUIRE_OK(t);
    return t;
}

/* The file at path still holds exactly the bytes of before. */
static void expect_file_unchanged(const char *path, const unsigned char *before, size_t n_before)
{
    size_t n;
    unsigned char *now = read_whole(path, &n);
    assert_int_equal(n, n_before);
    assert_memory_equal(now, before, n);
    free(now);
}

static void test_save_into_missing_directory(void **state)
{
    scope_begin();
    char path[512];
    path_in_dir(path, sizeof path, "no/such/dir/model.safetensors");
    Tensor *t = filled(SHAPE(3), 1.0);
    engine_clear_error();
    assert_int_equal(safetensors_save(path, 1, (const char *[]){"t"}, &t, 0, NULL, NULL), -1);
    print_message("  %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), path));
    assert_non_null(strstr(engine_last_error(), "No such file or directory"));
    engine_clear_error();
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_temp_files(), 0);
    scope_end();
}

static void test_failed_save_keeps_old_file(void **state)
{
    scope_begin();
    char path[512];
    path_in_dir(path, sizeof path, "keep.safetensors");
    Tensor *old = filled(SHAPE(2, 2), 7.0);
    assert_int_equal(safetensors_save(path, 1, (const char *[]){"old"}, &old, 1, (const char *[]){"v"},
                                      (const char *[]){"1"}),
                     0);
    size_t n_before;
    unsigned char *before = read_whole(path, &n_before);

    /* 1. a NULL tensor (a failed op upstream): -1, nothing written */
    Tensor *with_null[2] = {filled(SHAPE(4), 1.0), NULL};
    engine_clear_error();
    assert_int_equal(safetensors_save(path, 2, (const char *[]){"a", "b"}, with_null, 0, NULL, NULL), -1);
    expect_file_unchanged(path, before, n_before);

    /* 2. a duplicate name */
    Tensor *dup[2] = {filled(SHAPE(4), 1.0), filled(SHAPE(4), 2.0)};
    assert_int_equal(safetensors_save(path, 2, (const char *[]){"x", "x"}, dup, 0, NULL, NULL), -1);
    assert_non_null(strstr(engine_last_error(), path));
    assert_non_null(strstr(engine_last_error(), "'x'"));
    engine_clear_error();
    expect_file_unchanged(path, before, n_before);

    /* 3. a tensor named like the metadata block */
    assert_int_equal(safetensors_save(path, 1, (const char *[]){"__metadata__"}, dup, 0, NULL, NULL), -1);
    assert_non_null(strstr(engine_last_error(), "reserved"));
    engine_clear_error();
    expect_file_unchanged(path, before, n_before);

    /* 4. a write that fails half-way (file size limit: EFBIG) */
    struct rlimit saved, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 256;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    Tensor *big = filled(SHAPE(1000), 3.0);
    int rc = safetensors_save(path, 1, (const char *[]){"big"}, &big, 0, NULL, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, -1);
    print_message("  %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), path));
    engine_clear_error();
    expect_file_unchanged(path, before, n_before);

    /* 5. the rename fails (the target is a directory) */
    char subdir[512];
    path_in_dir(subdir, sizeof subdir, "a_directory");
    assert_int_equal(mkdir(subdir, 0755), 0);
    assert_int_equal(safetensors_save(subdir, 1, (const char *[]){"old"}, &old, 0, NULL, NULL), -1);
    print_message("  %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), subdir));
    engine_clear_error();
    struct stat s;
    assert_int_equal(stat(subdir, &s), 0);
    assert_true(S_ISDIR(s.st_mode));

    assert_int_equal(count_temp_files(), 0);
    Safetensors *st = safetensors_load(path);
    REQUIRE_OK(st);
    expect_equal(safetensors_get(st, "old"), old, "old file after failed saves");
    safetensors_free(st);
    free(before);

    /* a successful save does replace it */
    Tensor *fresh = filled(SHAPE(3), -1.0);
    assert_int_equal(safetensors_save(path, 1, (const char *[]){"fresh"}, &fresh, 0, NULL, NULL), 0);
    st = safetensors_load(path);
    REQUIRE_OK(st);
    assert_null(safetensors_get(st, "old"));
    expect_equal(safetensors_get(st, "fresh"), fresh, "replaced file");
    safetensors_free(st);
    assert_int_equal(count_temp_files(), 0);
    scope_end();
}

/* ---------------- the writer refuses what the reader refuses ---------------- */

/* Asserts a save to path failed with a message holding piece, creating
 * nothing: no file, no temporary file. */
static void expect_refused_save(int rc, const char *path, const char *piece)
{
    assert_int_equal(rc, -1);
    print_message("  %.300s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), piece));
    engine_clear_error();
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(count_temp_files(), 0);
}

static void test_writer_refuses_what_the_reader_refuses(void **state)
{
    scope_begin();
    char path[512];
    path_in_dir(path, sizeof path, "refused.safetensors");
    Tensor *t = filled(SHAPE(2), 1.0);
    const char *name[] = {"t"};
    engine_clear_error();

    /* a header over the reader's 100 MiB limit (a huge config in the metadata) */
    size_t big = 100u * 1024u * 1024u;
    char *value = malloc(big + 1);
    assert_non_null(value);
    memset(value, 'x', big);
    value[big] = '\0';
    expect_refused_save(safetensors_save(path, 1, name, &t, 2, (const char *[]){"epoch", "config"},
                                         (const char *[]){"1", value}),
                        path, "over the 104857600-byte limit readers accept (its largest metadata value, 'config'");
    free(value);

    /* metadata the header cannot hold as given */
    expect_refused_save(safetensors_save(path, 1, name, &t, 2, (const char *[]){"k", "k"}, (const char *[]){"1", "2"}),
                        path, "duplicate metadata key 'k'");
    expect_refused_save(safetensors_save(path, 1, name, &t, 1, (const char *[]){"k"}, (const char *[]){NULL}), path,
                        "metadata entry 0 has no value");
    expect_refused_save(safetensors_save(path, 1, (const char *[]){NULL}, &t, 0, NULL, NULL), path,
                        "a tensor has no name");

    /* sizes and offsets a JSON number (a double) does not carry exactly:
     * stride-0 views, so no memory stands behind them */
    Tensor *byte = tensor_zeros(SHAPE(1), DT_U8, CPU);
    Tensor *wide = t_expand(byte, SHAPE((1LL << 53) + 1));
    REQUIRE_OK(wide);
    expect_refused_save(safetensors_save(path, 1, name, &wide, 0, NULL, NULL), path,
                        "size 9007199254740993 of shape [9007199254740993] is beyond what a JSON header carries");
    Tensor *half = t_expand(byte, SHAPE(1LL << 52));
    expect_refused_save(safetensors_save(path, 3, (const char *[]){"a", "b", "c"}, (Tensor *[]){half, half, half}, 0,
                                         NULL, NULL),
                        path, "tensor 'c': the data would end past byte 9007199254740992");
    scope_end();
}

/* ---------------- the reader refuses what is not a regular file ---------------- */

/* A FIFO with no writer (opening it would wait for one), a folder and a
 * device that never ends. The alarm only turns a hang into a failure. */
static void test_reader_refuses_non_regular_files(void **state)
{
    (void)state;
    char path[512];
    path_in_dir(path, sizeof path, "fifo.safetensors");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(60);
    Safetensors *st = safetensors_load(path);
    alarm(0);
    expect_error(st, path, "cannot read: a FIFO (named pipe), not a regular file");
    unlink(path);

    path_in_dir(path, sizeof path, "folder.safetensors");
    assert_int_equal(mkdir(path, 0700), 0);
    expect_error(safetensors_load(path), path, "Is a directory");
    rmdir(path);

    alarm(60);
    st = safetensors_load("/dev/zero");
    alarm(0);
    expect_error(st, "/dev/zero: cannot read: a character device, not a regular file", NULL);
    path_in_dir(path, sizeof path, "missing.safetensors");
    expect_error(safetensors_load(path), path, "cannot open: No such file or directory");
}

int main(void)
{
    generator_seed(&gen, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_no_metadata_and_no_tensors),
        cmocka_unit_test(test_reads_python_written_file),
        cmocka_unit_test(test_rejects_bad_framing),
        cmocka_unit_test(test_rejects_bad_entries),
        cmocka_unit_test(test_save_into_missing_directory),
        cmocka_unit_test(test_failed_save_keeps_old_file),
        cmocka_unit_test(test_writer_refuses_what_the_reader_refuses),
        cmocka_unit_test(test_reader_refuses_non_regular_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
