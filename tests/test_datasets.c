/* The datasets of data_loader/ on small files the test writes: the PNG
 * reader on every PNG kind (bit depths, grey, grey + alpha, RGB, RGBA,
 * palettes with and without transparency, interlaced) and its conversions,
 * against PIL's as torchvision's ImageFolder loads them; ImageFolder's
 * classes and sample order (torchvision's), sizes and their errors;
 * CIFAR-10's binary files; Fashion-MNIST's class names (Debian's files when
 * installed, a torchvision-layout copy otherwise); and the data errors,
 * each naming the file or key: damaged PNGs, empty class folders, FIFOs
 * (refused without blocking), bad CIFAR records; and the class names a
 * checkpoint keeps, read back and range-checked. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/checkpoint.h"
#include "data_loader/data_loaders.h"
#include "data_loader/datasets.h"
#include "data_loader/png_reader.h"
#include "logger/png_writer.h"
#include "tests/support/check.h"
#include "tests/support/temp_dir.h"
#include "tests/support/torch_script.h"

static char dir[256];

static int setup(void **state)
{
    temp_dir_make(dir, sizeof dir, "datasets");
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* dir/rel into buf. */
static const char *in_dir(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", dir, rel);
    return buf;
}

static void make_dirs(const char *rel)
{
    char path[512], *p;
    in_dir(path, sizeof path, rel);
    for (p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* ---------------- writing PNGs of every kind ---------------- */

typedef struct {
    const char *name;
    int color_type, depth;
    bool interlace, trns;
} PngKind;

static const PngKind kinds[] = {
    {"grey1", PNG_COLOR_TYPE_GRAY, 1, false, false},    {"grey2", PNG_COLOR_TYPE_GRAY, 2, false, false},
    {"grey4", PNG_COLOR_TYPE_GRAY, 4, true, false},     {"grey8", PNG_COLOR_TYPE_GRAY, 8, false, false},
    {"grey16", PNG_COLOR_TYPE_GRAY, 16, false, false},  {"greyalpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, false, false},
    {"greyalpha16", PNG_COLOR_TYPE_GRAY_ALPHA, 16, true, false}, {"rgb8", PNG_COLOR_TYPE_RGB, 8, true, false},
    {"rgb16", PNG_COLOR_TYPE_RGB, 16, false, false},    {"rgba8", PNG_COLOR_TYPE_RGBA, 8, false, false},
    {"rgba16", PNG_COLOR_TYPE_RGBA, 16, false, false},  {"palette4", PNG_COLOR_TYPE_PALETTE, 4, false, false},
    {"palette8", PNG_COLOR_TYPE_PALETTE, 8, true, false}, {"palette8trns", PNG_COLOR_TYPE_PALETTE, 8, false, true},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0], PW = 7, PH = 5 };

static int kind_channels(const PngKind *k)
{
    switch (k->color_type) {
    case PNG_COLOR_TYPE_GRAY: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    case PNG_COLOR_TYPE_RGBA: return 4;
    default: return 1; /* palette indices */
    }
}

static png_color palette_color(int i)
{
    png_color c = {(png_byte)(i * 37 + 11), (png_byte)(255 - i * 13), (png_byte)(i * 91)};
    return c;
}

/* The sample (x, y, channel ch) of a kind, within its bit depth. */
static unsigned sample(const PngKind *k, int x, int y, int ch)
{
    unsigned max = k->color_type == PNG_COLOR_TYPE_PALETTE ? (1u << k->depth) - 1 : (1u << k->depth) - 1;
    if (k->color_type == PNG_COLOR_TYPE_PALETTE && k->depth == 8) max = 15; /* 16 colours */
    return (unsigned)(x * 7 + y * 13 + ch * 29 + (x * y) % 5) * 2654435761u % (max + 1);
}

static void write_png_kind(const char *path, const PngKind *k)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_true(png && info);
    png_init_io(png, f);
    png_set_IHDR(png, info, PW, PH, k->depth, k->color_type, k->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (k->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        for (int i = 0; i < 16; i++) pal[i] = palette_color(i);
        png_set_PLTE(png, info, pal, 16);
        if (k->trns) {
            png_byte alpha[6] = {0, 40, 80, 120, 160, 200}; /* entries 6..15 stay opaque */
            png_set_tRNS(png, info, alpha, 6, NULL);
        }
    }
    png_write_info(png, info);
    int ch = kind_channels(k);
    size_t rowbytes = ((size_t)PW * (size_t)ch * (size_t)k->depth + 7) / 8;
    png_bytep rows[PH];
    for (int y = 0; y < PH; y++) {
        rows[y] = calloc(rowbytes, 1);
        for (int x = 0; x < PW; x++)
            for (int c = 0; c < ch; c++) {
                unsigned v = sample(k, x, y, c);
                size_t bit = ((size_t)x * (size_t)ch + (size_t)c) * (size_t)k->depth;
                if (k->depth == 16) {
                    rows[y][bit / 8] = (png_byte)(v >> 8);
                    rows[y][bit / 8 + 1] = (png_byte)v;
                } else if (k->depth == 8) {
                    rows[y][bit / 8] = (png_byte)v;
                } else {
                    rows[y][bit / 8] |= (png_byte)(v << (8 - k->depth - bit % 8));
                }
            }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    for (int y = 0; y < PH; y++) free(rows[y]);
    assert_int_equal(fclose(f), 0);
}

/* What the reader must give for a kind, in the file's own channels (after palette expansion). */
static int expected_native(const PngKind *k, int x, int y, uint8_t *px)
{
    if (k->color_type == PNG_COLOR_TYPE_PALETTE) {
        unsigned i = sample(k, x, y, 0);
        png_color c = palette_color((int)i);
        px[0] = c.red;
        px[1] = c.green;
        px[2] = c.blue;
        if (!k->trns) return 3;
        static const uint8_t alpha[6] = {0, 40, 80, 120, 160, 200};
        px[3] = i < 6 ? alpha[i] : 255;
        return 4;
    }
    int ch = kind_channels(k);
    for (int c = 0; c < ch; c++) {
        unsigned v = sample(k, x, y, c);
        /* libpng's expansion of low depths (v * 255 / max), the high byte of 16-bit samples */
        px[c] = (uint8_t)(k->depth == 16 ? v >> 8 : k->depth == 8 ? v : v * 255 / ((1u << k->depth) - 1));
    }
    return ch;
}

static void test_png_kinds(void **state)
{
    char path[512];
    for (int i = 0; i < N_KINDS; i++) {
        const PngKind *k = &kinds[i];
        char rel[64];
        snprintf(rel, sizeof rel, "%s.png", k->name);
        write_png_kind(in_dir(path, sizeof path, rel), k);
        for (int want_c = 0; want_c <= 4; want_c++) {
            ImageSize size;
            int file_c;
            uint8_t *img = png_read_chw(path, want_c, &size, &file_c);
            if (!img) fail_engine(k->name);
            uint8_t px[4];
            int native = expected_native(k, 0, 0, px);
            assert_int_equal(file_c, native);
            assert_int_equal(size.c, want_c ? want_c : native);
            assert_int_equal(size.h, PH);
            assert_int_equal(size.w, PW);
            for (int y = 0; y < PH; y++)
                for (int x = 0; x < PW; x++) {
                    expected_native(k, x, y, px);
                    bool color = native >= 3, alpha = native == 2 || native == 4;
                    uint8_t grey = color ? (uint8_t)((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 0x8000u) >> 16)
                                         : px[0];
                    uint8_t a = alpha ? px[native - 1] : 255, want[4];
                    int tc = size.c;
                    if (tc <= 2) want[0] = grey;
                    else
                        for (int c = 0; c < 3; c++) want[c] = color ? px[c] : px[0];
                    if (tc == 2 || tc == 4) want[tc - 1] = a;
                    for (int c = 0; c < tc; c++) {
                        uint8_t got = img[((size_t)c * PH + (size_t)y) * PW + (size_t)x];
                        if (got != want[c])
                            fail_msg("%s read as %d channels: (%d, %d) channel %d is %d, expected %d", k->name, tc, x,
                                     y, c, got, want[c]);
                    }
                }
            free(img);
        }
    }
}

/* The RGB images torchvision's default loader makes (PIL: convert("RGB")),
 * except 16-bit grey, which PIL clips into 8 bits where this reader keeps
 * the high byte. */
static void test_png_against_pil(void **state)
{
    char json[8192], path[512];
    int pos = snprintf(json, sizeof json, "{\"mode\": \"RGB\", \"files\": [");
    int used[N_KINDS], n = 0;
    for (int i = 0; i < N_KINDS; i++) {
        if (kinds[i].color_type == PNG_COLOR_TYPE_GRAY && kinds[i].depth == 16) continue;
        char rel[64];
        snprintf(rel, sizeof rel, "%s.png", kinds[i].name);
        write_png_kind(in_dir(path, sizeof path, rel), &kinds[i]);
        pos += snprintf(json + pos, sizeof json - (size_t)pos, "%s\"%s\"", n ? ", " : "", path);
        used[n++] = i;
    }
    snprintf(json + pos, sizeof json - (size_t)pos, "]}");
    Safetensors *res;
    int rc = torch_script_run("png_ref.py", "png", 0, NULL, NULL, json, &res);
    if (rc == 1) {
        print_message("SKIP: PIL not available (python3-pil)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    for (int j = 0; j < n; j++) {
        char rel[64], name[16];
        snprintf(rel, sizeof rel, "%s.png", kinds[used[j]].name);
        snprintf(name, sizeof name, "f%d", j);
        ImageSize size;
        uint8_t *img = png_read_chw(in_dir(path, sizeof path, rel), 3, &size, NULL);
        assert_non_null(img);
        Tensor *ref = safetensors_get(res, name);
        assert_non_null(ref);
        assert_int_equal(tensor_numel(ref), 3 * PH * PW);
        if (memcmp(img, tensor_u8(ref), 3 * PH * PW) != 0) fail_msg("%s: differs from PIL's convert(\"RGB\")", rel);
        free(img);
    }
    print_message("  %d PNG kinds read as PIL's convert(\"RGB\") reads them\n", n);
    safetensors_free(res);
}

static void test_png_errors(void **state)
{
    char path[512], fifo[512];
    write_png_kind(in_dir(path, sizeof path, "good.png"), &kinds[7]);
    size_t len;
    char *good = read_whole_file(path, &len);
    assert_non_null(good);
    ImageSize size;
    /* truncated in the image data, and in the header */
    write_bytes(in_dir(path, sizeof path, "cut.png"), good, len - 30);
    expect_error(png_read_chw(path, 0, &size, NULL), "cut.png: damaged PNG", NULL);
    write_bytes(in_dir(path, sizeof path, "cut_header.png"), good, 20);
    expect_error(png_read_chw(path, 0, &size, NULL), "cut_header.png: damaged PNG", NULL);
    /* a flipped byte in the header's CRC-checked IHDR */
    good[20] ^= 0x40;
    write_bytes(in_dir(path, sizeof path, "crc.png"), good, len);
    expect_error(png_read_chw(path, 0, &size, NULL), "crc.png: damaged PNG", NULL);
    write_bytes(in_dir(path, sizeof path, "text.png"), "hello", 5);
    expect_error(png_read_chw(path, 0, &size, NULL), "text.png: not a PNG file", NULL);
    write_bytes(in_dir(path, sizeof path, "empty.png"), "", 0);
    expect_error(png_read_chw(path, 0, &size, NULL), "empty.png: not a PNG file", NULL);
    expect_error(png_read_chw(in_dir(path, sizeof path, "missing.png"), 0, &size, NULL), "missing.png: cannot open",
                 "No such file");
    assert_int_equal(mkfifo(in_dir(fifo, sizeof fifo, "fifo.png"), 0600), 0);
    expect_error(png_read_chw(fifo, 0, &size, NULL), "fifo.png: cannot read", "FIFO");
    expect_error(png_read_chw(dir, 0, &size, NULL), "cannot read: Is a directory", NULL);
    free(good);
}

/* ---------------- ImageFolder ---------------- */

/* A w x h RGB image whose every pixel is `value` (c = 0), value + 1, value + 2. */
static void write_rgb(const char *rel, int w, int h, int value)
{
    char path[512];
    uint8_t *px = malloc((size_t)w * (size_t)h * 3);
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++) px[i * 3 + c] = (uint8_t)(value + c);
    assert_int_equal(png_write_file(in_dir(path, sizeof path, rel), px, w, h, 3), 0);
    free(px);
}

static void write_grey(const char *rel, int w, int h, int value)
{
    char path[512];
    uint8_t *px = malloc((size_t)w * (size_t)h);
    memset(px, value, (size_t)w * (size_t)h);
    assert_int_equal(png_write_file(in_dir(path, sizeof path, rel), px, w, h, 1), 0);
    free(px);
}

/* A loader from JSON args for the given type; NULL with the error. */
static DataLoader *loader_from(const char *type, const char *args_json, bool training)
{
    char text[8192];
    snprintf(text, sizeof text, "{\"seed\": 5, \"data_loader\": {\"type\": \"%s\", \"args\": %s}}", type, args_json);
    Config *cfg = config_parse(text, "config.json");
    assert_non_null(cfg);
    DataLoader *dl = data_loader_from_config(cfg, training);
    config_free(cfg);
    return dl;
}

/* Every sample of a loader, in order: the first value of each input and the targets. */
static int collect(DataLoader *dl, float *first, int64_t *targets, int max)
{
    int n = 0;
    data_loader_begin_epoch(dl);
    scope_begin();
    Tensor *x, *y;
    while (data_loader_next(dl, &x, &y)) {
        int64_t per = tensor_numel(x) / x->shape.d[0];
        for (int64_t i = 0; i < x->shape.d[0]; i++) {
            assert_true(n < max);
            first[n] = tensor_f32(x)[i * per];
            targets[n++] = tensor_i64(y)[i];
        }
    }
    scope_end();
    return n;
}

static void test_image_folder(void **state)
{
    /* torchvision's order: classes sorted; in each, folders by sorted path, files by name */
    make_dirs("folder/cat/sub");
    make_dirs("folder/ant");
    make_dirs("folder/bee/x-y");
    make_dirs("folder/bee/x/z");
    write_rgb("folder/cat/b.png", 6, 4, 30);
    write_rgb("folder/cat/A.png", 6, 4, 31);
    write_rgb("folder/cat/sub/a.png", 6, 4, 32);
    write_rgb("folder/ant/only.PNG", 6, 4, 10);
    write_rgb("folder/bee/x-y/1.png", 6, 4, 20);
    write_rgb("folder/bee/x/z/2.png", 6, 4, 21);
    write_rgb("folder/bee/x/3.png", 6, 4, 22);
    char path[512];
    write_bytes(in_dir(path, sizeof path, "folder/cat/notes.txt"), "not an image", 12);
    char args[1024];
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/folder\", \"batch_size\": 3, \"shuffle\": false, \"num_workers\": 0}", dir);
    DataLoader *dl = loader_from("ImageFolderDataLoader", args, true);
    REQUIRE_OK(dl);
    const Dataset *ds = data_loader_dataset(dl);
    assert_int_equal(ds->n_classes, 3);
    assert_string_equal(ds->class_names[0], "ant");
    assert_string_equal(ds->class_names[1], "bee");
    assert_string_equal(ds->class_names[2], "cat");
    assert_int_equal(ds->sample_shape.ndim, 3);
    assert_int_equal(ds->sample_shape.d[0], 3);
    float first[16];
    int64_t targets[16];
    int n = collect(dl, first, targets, 16);
    assert_int_equal(n, 7);
    /* ant/only; bee/x/3, then bee/x-y/1 before bee/x/z/2 ('-' sorts before '/'); cat/A, cat/b, cat/sub/a */
    static const int want_values[] = {10, 22, 20, 21, 31, 30, 32};
    static const int64_t want_targets[] = {0, 1, 1, 1, 2, 2, 2};
    for (int i = 0; i < n; i++) {
        if (first[i] != want_values[i] / 255.0f || targets[i] != want_targets[i])
            fail_msg("sample %d: value %g class %lld, expected %d class %lld", i, first[i] * 255, (long long)targets[i],
                     want_values[i], (long long)want_targets[i]);
    }
    data_loader_free(dl);
}

static void test_image_folder_channels_and_sizes(void **state)
{
    make_dirs("mixed/a");
    make_dirs("mixed/b");
    write_grey("mixed/a/1.png", 5, 5, 100);
    write_rgb("mixed/a/2.png", 8, 6, 50);
    write_rgb("mixed/b/3.png", 5, 5, 60);
    char args[2048];
    /* channels: the first image's (grey) by default; the second image's size differs */
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/mixed\", \"batch_size\": 2, \"num_workers\": 0}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "mixed/a/2.png (1x6x8)",
                 "mixed/a/1.png (1x5x5) becomes 1x5x5");
    /* with a Resize and CenterCrop they all fit, converted to RGB */
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/mixed\", \"batch_size\": 2, \"num_workers\": 0, \"channels\": 3, \"transforms\": "
             "{\"train\": [{\"type\": \"Resize\", \"args\": {\"size\": 5}}, {\"type\": \"CenterCrop\", \"args\": "
             "{\"size\": 5}}, {\"type\": \"ToTensor\"}], \"valid\": [{\"type\": \"Resize\", \"args\": {\"size\": [5, "
             "5]}}, {\"type\": \"ToTensor\"}]}}",
             dir);
    DataLoader *dl = loader_from("ImageFolderDataLoader", args, true);
    REQUIRE_OK(dl);
    const Dataset *ds = data_loader_dataset(dl);
    assert_int_equal(ds->sample_shape.d[0], 3);
    assert_int_equal(ds->sample_shape.d[1], 5);
    assert_int_equal(ds->sample_shape.d[2], 5);
    assert_true(ds->eval_differs);
    float first[8];
    int64_t targets[8];
    assert_int_equal(collect(dl, first, targets, 8), 3);
    data_loader_free(dl);
    /* channels out of range */
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/mixed\", \"batch_size\": 2, \"channels\": 5}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "data_loader.args.channels: channels must be 1",
                 NULL);
    /* the pipelines disagree on the size */
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/mixed\", \"batch_size\": 2, \"transforms\": {\"train\": [{\"type\": \"Resize\", "
             "\"args\": {\"size\": [5, 5]}}, {\"type\": \"ToTensor\"}], \"valid\": [{\"type\": \"Resize\", \"args\": "
             "{\"size\": [6, 6]}}, {\"type\": \"ToTensor\"}]}}",
             dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "mixed/a/1.png", "validation/test ones");
    /* transforms without a valid pipeline */
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/mixed\", \"batch_size\": 2, \"transforms\": {\"train\": [{\"type\": \"ToTensor\"}]}}",
             dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "data_loader.args.transforms: needs both", NULL);
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/mixed\", \"batch_size\": 2, \"transforms\": {\"train\": [{\"type\": \"ToTensor\"}], "
             "\"valid\": [{\"type\": \"ToTensor\"}], \"test\": []}}",
             dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "data_loader.args.transforms.test: unknown key",
                 "valid");
    /* ./test's folder: test_dir */
    make_dirs("mixed_test/a");
    make_dirs("mixed_test/b");
    write_rgb("mixed_test/a/9.png", 7, 7, 1);
    write_rgb("mixed_test/b/9.png", 7, 7, 2);
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/mixed\", \"test_dir\": \"%s/mixed_test\", \"batch_size\": 2, \"channels\": 3, "
             "\"transforms\": {\"train\": [{\"type\": \"Resize\", \"args\": {\"size\": [5, 5]}}, {\"type\": "
             "\"ToTensor\"}], \"valid\": [{\"type\": \"Resize\", \"args\": {\"size\": [5, 5]}}, {\"type\": "
             "\"ToTensor\"}]}}",
             dir, dir);
    dl = loader_from("ImageFolderDataLoader", args, false);
    REQUIRE_OK(dl);
    assert_int_equal(data_loader_num_samples(dl), 2);
    data_loader_free(dl);
}

static void test_image_folder_errors(void **state)
{
    char args[1024], path[512];
    make_dirs("empty_class/full");
    make_dirs("empty_class/none");
    write_grey("empty_class/full/1.png", 4, 4, 9);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/empty_class\", \"batch_size\": 2}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "empty_class/none: class folder 'none' holds no images",
                 NULL);
    make_dirs("no_classes");
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/no_classes\", \"batch_size\": 2}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "no_classes: no class folders", NULL);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/nowhere\", \"batch_size\": 2}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "nowhere: not a folder", NULL);
    make_dirs("jpeg/a");
    write_bytes(in_dir(path, sizeof path, "jpeg/a/photo.JPG"), "\xff\xd8\xff", 3);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/jpeg\", \"batch_size\": 2}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "jpeg/a/photo.JPG: damaged JPEG", NULL);
    make_dirs("bmp/a");
    write_bytes(in_dir(path, sizeof path, "bmp/a/photo.bmp"), "BM", 2);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/bmp\", \"batch_size\": 2}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "bmp/a/photo.bmp: .bmp images are not supported",
                 NULL);
    make_dirs("broken/a");
    write_grey("broken/a/1.png", 4, 4, 9);
    write_bytes(in_dir(path, sizeof path, "broken/a/2.png"), "\x89PNG\r\n\x1a\n\0\0", 10);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/broken\", \"batch_size\": 2}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "broken/a/2.png: damaged PNG", NULL);
    make_dirs("fifo/a");
    assert_int_equal(mkfifo(in_dir(path, sizeof path, "fifo/a/1.png"), 0600), 0);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/fifo\", \"batch_size\": 2}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "fifo/a/1.png: cannot read", "FIFO");
    /* a crop larger than the images names the key and the file */
    make_dirs("small/a");
    write_grey("small/a/1.png", 4, 4, 9);
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/small\", \"batch_size\": 2, \"transforms\": {\"train\": [{\"type\": \"RandomCrop\", "
             "\"args\": {\"size\": 8}}, {\"type\": \"ToTensor\"}], \"valid\": [{\"type\": \"ToTensor\"}]}}",
             dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true),
                 "data_loader.args.transforms.train.0 (RandomCrop): the crop (8x8) is larger than the image (4x4)",
                 "small/a/1.png (1x4x4)");
    /* a mean of the wrong length names the key */
    snprintf(args, sizeof args,
             "{\"data_dir\": \"%s/small\", \"batch_size\": 2, \"transforms\": {\"train\": [{\"type\": \"ToTensor\"}], "
             "\"valid\": [{\"type\": \"ToTensor\"}, {\"type\": \"Normalize\", \"args\": {\"mean\": [0.5, 0.5, 0.5], "
             "\"std\": [0.2, 0.2, 0.2]}}]}}",
             dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true),
                 "data_loader.args.transforms.valid.1 (Normalize): mean and std have 3 values, the image has 1 channel",
                 NULL);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/small\", \"batch_size\": 2, \"chanels\": 3}", dir);
    expect_error(loader_from("ImageFolderDataLoader", args, true), "data_loader.args.chanels: unknown key",
                 "did you mean 'channels'");
}

/* ---------------- CIFAR-10 ---------------- */

enum { RECORD = 3073 };

static void write_cifar_batch(const char *rel, int n, int first_label, int seed)
{
    char path[512];
    uint8_t *data = malloc((size_t)n * RECORD);
    for (int i = 0; i < n; i++) {
        data[i * RECORD] = (uint8_t)((first_label + i) % 10);
        for (int k = 1; k < RECORD; k++) data[i * RECORD + k] = (uint8_t)(seed + i * 3 + k);
    }
    write_bytes(in_dir(path, sizeof path, rel), data, (size_t)n * RECORD);
    free(data);
}

static const char cifar_meta[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

static void test_cifar10(void **state)
{
    make_dirs("cifar/cifar-10-batches-bin");
    for (int f = 1; f <= 5; f++) {
        char rel[64];
        snprintf(rel, sizeof rel, "cifar/cifar-10-batches-bin/data_batch_%d.bin", f);
        write_cifar_batch(rel, 2, f, f * 10);
    }
    write_cifar_batch("cifar/cifar-10-batches-bin/test_batch.bin", 3, 7, 99);
    char path[512], args[1024];
    write_bytes(in_dir(path, sizeof path, "cifar/cifar-10-batches-bin/batches.meta.txt"), cifar_meta,
                sizeof cifar_meta - 1);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/cifar\", \"batch_size\": 4, \"shuffle\": false, \"num_workers\": 1}",
             dir);
    DataLoader *dl = loader_from("Cifar10DataLoader", args, true);
    REQUIRE_OK(dl);
    const Dataset *ds = data_loader_dataset(dl);
    assert_int_equal(ds->length, 10);
    assert_int_equal(ds->n_classes, 10);
    assert_string_equal(ds->class_names[1], "automobile");
    assert_string_equal(ds->class_names[9], "truck");
    assert_true(shape_equal(ds->sample_shape, SHAPE(3, 32, 32)));
    float first[16];
    int64_t targets[16];
    assert_int_equal(collect(dl, first, targets, 16), 10);
    /* record 0 of data_batch_3: label 3, first pixel 30 + 1, normalised with the red channel's constants */
    assert_int_equal(targets[4], 3);
    float want = ((float)31 / 255.0f - 0.4914f) / 0.2470f;
    assert_true(first[4] == want);
    data_loader_free(dl);
    dl = loader_from("Cifar10DataLoader", args, false);
    REQUIRE_OK(dl);
    assert_int_equal(data_loader_num_samples(dl), 3);
    data_loader_free(dl);
    /* damaged files */
    write_bytes(in_dir(path, sizeof path, "cifar/cifar-10-batches-bin/data_batch_2.bin"), "abc", 3);
    expect_error(loader_from("Cifar10DataLoader", args, true), "data_batch_2.bin: not a CIFAR-10 batch file",
                 "3073-byte records");
    write_cifar_batch("cifar/cifar-10-batches-bin/data_batch_2.bin", 2, 1, 5);
    uint8_t bad[RECORD] = {12};
    write_bytes(in_dir(path, sizeof path, "cifar/cifar-10-batches-bin/test_batch.bin"), bad, RECORD);
    expect_error(loader_from("Cifar10DataLoader", args, false), "test_batch.bin: record 0 has label 12", NULL);
    write_bytes(in_dir(path, sizeof path, "cifar/cifar-10-batches-bin/batches.meta.txt"), "cat\ndog\n", 8);
    expect_error(loader_from("Cifar10DataLoader", args, true), "batches.meta.txt: expected the 10 class names", NULL);
    unlink(path);
    expect_error(loader_from("Cifar10DataLoader", args, true), "batches.meta.txt: cannot open", NULL);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/no_cifar\", \"batch_size\": 4}", dir);
    expect_error(loader_from("Cifar10DataLoader", args, true), "CIFAR-10 not found", "cifar-10-binary.tar.gz");
}

/* ---------------- Fashion-MNIST ---------------- */

static void write_idx_gz(const char *path, int ndim, const uint32_t *dims, const uint8_t *data, size_t n)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    uint8_t head[4] = {0, 0, 8, (uint8_t)ndim};
    gzwrite(f, head, 4);
    for (int i = 0; i < ndim; i++) {
        uint8_t b[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        gzwrite(f, b, 4);
    }
    gzwrite(f, data, (unsigned)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static void test_fashion_mnist(void **state)
{
    /* torchvision's layout, made here: data_dir/FashionMNIST/raw */
    make_dirs("fashion/FashionMNIST/raw");
    enum { N = 6 };
    uint8_t images[N * 28 * 28], labels[N] = {0, 9, 3, 3, 8, 1};
    for (int i = 0; i < N * 28 * 28; i++) images[i] = (uint8_t)(i * 7);
    char path[512], args[1024];
    uint32_t idims[3] = {N, 28, 28}, ldims[1] = {N};
    write_idx_gz(in_dir(path, sizeof path, "fashion/FashionMNIST/raw/t10k-images-idx3-ubyte.gz"), 3, idims, images,
                 sizeof images);
    write_idx_gz(in_dir(path, sizeof path, "fashion/FashionMNIST/raw/t10k-labels-idx1-ubyte.gz"), 1, ldims, labels,
                 sizeof labels);
    snprintf(args, sizeof args, "{\"data_dir\": \"%s/fashion\", \"batch_size\": 4}", dir);
    DataLoader *dl = loader_from("FashionMnistDataLoader", args, false);
    REQUIRE_OK(dl);
    const Dataset *ds = data_loader_dataset(dl);
    assert_int_equal(ds->length, N);
    assert_string_equal(ds->class_names[0], "T-shirt/top");
    assert_string_equal(ds->class_names[9], "Ankle boot");
    float first[8];
    int64_t targets[8];
    assert_int_equal(collect(dl, first, targets, 8), N);
    assert_int_equal(targets[1], 9);
    assert_true(first[0] == (0.0f / 255.0f - 0.2860f) / 0.3530f);
    data_loader_free(dl);
    /* the training files are missing there */
    expect_error(loader_from("FashionMnistDataLoader", args, true), "Fashion-MNIST not found",
                 "apt-get install dataset-fashion-mnist");
    /* Debian's files, the default data_dir, when installed */
    if (access(FASHION_MNIST_DEBIAN_DIR "/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
        print_message("SKIP: Debian's dataset-fashion-mnist is not installed: its files not checked\n");
        skip();
    }
    dl = loader_from("FashionMnistDataLoader", "{\"batch_size\": 1000}", false);
    REQUIRE_OK(dl);
    assert_int_equal(data_loader_num_samples(dl), 10000);
    data_loader_free(dl);
}

/* ---------------- class names in checkpoints ---------------- */

/* Saves a checkpoint of a small model with the given names and metadata overrides. */
static void save_with_names(const char *path, const char *const *names, int n)
{
    Config *cfg = config_parse("{\"name\": \"t\"}", "config.json");
    Module *m = nn_linear(2, 3, true);
    assert_true(cfg && m);
    Generator g;
    generator_seed(&g, 1);
    CheckpointContent c = {.model = m, .epoch = 1, .config = cfg, .rng_default = &g, .class_names = names, .n_classes = n};
    if (checkpoint_save(path, &c)) fail_engine("checkpoint_save");
    module_free(m);
    config_free(cfg);
}

/* A copy of the checkpoint at src with metadata key set to value (a JSON string's text). */
static void with_meta(const char *src, const char *dst, const char *key, const char *value)
{
    Safetensors *st = safetensors_load(src);
    assert_non_null(st);
    const char *keys[32], *values[32];
    int n = 0;
    for (int i = 0; i < st->n_meta; i++) {
        keys[n] = st->meta_keys[i];
        values[n++] = strcmp(st->meta_keys[i], key) == 0 ? value : st->meta_values[i];
    }
    assert_int_equal(safetensors_save(dst, st->n_tensors, (const char *const *)st->names, st->tensors, n, keys, values),
                     0);
    safetensors_free(st);
}

static void test_checkpoint_class_names(void **state)
{
    char path[512], bad[512];
    static const char *const names[] = {"T-shirt/top", "a \"quoted\", name", "\u00e9t\u00e9"};
    save_with_names(in_dir(path, sizeof path, "named.ckpt"), names, 3);
    Checkpoint *ck = checkpoint_load(path);
    REQUIRE_OK(ck);
    assert_int_equal(ck->n_classes, 3);
    for (int i = 0; i < 3; i++) assert_string_equal(ck->class_names[i], names[i]);
    assert_int_equal(ck->loader.epochs, 1); /* no loader position: the epochs trained */
    checkpoint_free(ck);
    save_with_names(in_dir(path, sizeof path, "unnamed.ckpt"), NULL, 0);
    ck = checkpoint_load(path);
    REQUIRE_OK(ck);
    assert_null(ck->class_names);
    assert_int_equal(ck->n_classes, 0);
    checkpoint_free(ck);
    static const char *const damaged[] = {"[]", "[\"a\", 3]", "{\"a\": 1}", "[\"\"]", "not json", "[\"a\",]"};
    for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
        with_meta(in_dir(path, sizeof path, "named.ckpt"), in_dir(bad, sizeof bad, "bad.ckpt"), "class_names",
                  damaged[i]);
        expect_error(checkpoint_load(bad), "bad.ckpt: checkpoint metadata is damaged: 'class_names'", NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_kinds),
        cmocka_unit_test(test_png_against_pil),
        cmocka_unit_test(test_png_errors),
        cmocka_unit_test(test_image_folder),
        cmocka_unit_test(test_image_folder_channels_and_sizes),
        cmocka_unit_test(test_image_folder_errors),
        cmocka_unit_test(test_cifar10),
        cmocka_unit_test(test_fashion_mnist),
        cmocka_unit_test(test_checkpoint_class_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
