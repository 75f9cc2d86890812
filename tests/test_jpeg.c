/* The JPEG reader (data_loader/jpeg_reader.h) against PIL, which
 * torchvision's ImageFolder decodes with: grey and colour images, baseline
 * and progressive, 4:4:4 and 4:2:0 chroma, odd sizes, read as RGB and as
 * grey, must come out byte for byte as PIL's Image.open(f).convert(mode)
 * (tests/ref/jpeg_ref.py writes them with PIL). Damaged, truncated, CMYK
 * and non-JPEG files are one error naming the file; image_read_chw tells
 * PNG from JPEG by signature. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_loader/image_reader.h"
#include "data_loader/jpeg_reader.h"
#include "tests/support/check.h"
#include "tests/support/torch_script.h"

static char dir[] = "/tmp/test_jpeg_XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

typedef struct {
    const char *name, *mode;
    int h, w, quality, subsampling;
    bool progressive;
} Kind;

static const Kind kinds[] = {
    {"rgb444", "RGB", 17, 23, 90, 0, false},  {"rgb420", "RGB", 33, 31, 75, 2, false},
    {"rgb_prog", "RGB", 24, 40, 85, 2, true}, {"grey", "L", 19, 29, 80, 0, false},
    {"grey_prog", "L", 16, 16, 95, 0, true},  {"tiny", "RGB", 1, 3, 50, 2, false},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

/* Writes every kind with PIL and checks our reading against PIL's convert(read_mode). */
static void check_against_pil(const char *read_mode, int channels)
{
    char json[4096], path[600];
    int pos = snprintf(json, sizeof json, "{\"read_mode\": \"%s\", \"cmyk\": \"%s/cmyk.jpg\", \"files\": [", read_mode, dir);
    for (int i = 0; i < N_KINDS; i++) {
        const Kind *k = &kinds[i];
        pos += snprintf(json + pos, sizeof json - (size_t)pos,
                        "%s{\"path\": \"%s/%s.jpg\", \"mode\": \"%s\", \"h\": %d, \"w\": %d, \"quality\": %d, "
                        "\"subsampling\": %d, \"progressive\": %s, \"seed\": %d}",
                        i ? ", " : "", dir, k->name, k->mode, k->h, k->w, k->quality, k->subsampling,
                        k->progressive ? "true" : "false", i);
    }
    snprintf(json + pos, sizeof json - (size_t)pos, "]}");
    Safetensors *res;
    int rc = torch_script_run("jpeg_ref.py", "jpeg", 0, NULL, NULL, json, &res);
    if (rc == 1) {
        print_message("SKIP: PIL not available (python3-pil)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    for (int i = 0; i < N_KINDS; i++) {
        const Kind *k = &kinds[i];
        char name[16];
        snprintf(path, sizeof path, "%s/%s.jpg", dir, k->name);
        snprintf(name, sizeof name, "f%d", i);
        ImageSize size;
        int file_c;
        uint8_t *img = image_read_chw(path, channels, &size, &file_c);
        if (!img) fail_msg("%s: %s", path, engine_last_error());
        assert_int_equal(file_c, strcmp(k->mode, "L") == 0 ? 1 : 3);
        assert_int_equal(size.c, channels);
        assert_int_equal(size.h, k->h);
        assert_int_equal(size.w, k->w);
        Tensor *ref = safetensors_get(res, name);
        assert_non_null(ref);
        assert_int_equal(tensor_numel(ref), (int64_t)channels * k->h * k->w);
        if (memcmp(img, tensor_u8(ref), (size_t)tensor_numel(ref)) != 0)
            fail_msg("%s: differs from PIL's convert(\"%s\")", k->name, read_mode);
        free(img);
    }
    print_message("  %d JPEG kinds read as PIL's convert(\"%s\") reads them\n", N_KINDS, read_mode);
    safetensors_free(res);
}

static void test_jpeg_as_rgb(void **state)
{
    (void)state;
    check_against_pil("RGB", 3);
}

static void test_jpeg_as_grey(void **state)
{
    (void)state;
    check_against_pil("L", 1);
}

/* The first n bytes of src into dst. */
static void truncated_copy(const char *src, const char *dst, long n)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_true(in && out);
    for (long i = 0; i < n; i++) {
        int c = fgetc(in);
        if (c == EOF) break;
        fputc(c, out);
    }
    fclose(in);
    fclose(out);
}

static void test_jpeg_errors(void **state)
{
    (void)state;
    char path[600], src[600];
    ImageSize size;
    snprintf(src, sizeof src, "%s/rgb420.jpg", dir); /* written by the tests above */
    if (access(src, F_OK) != 0) {
        print_message("SKIP: no JPEG was written (no PIL)\n");
        skip();
    }
    snprintf(path, sizeof path, "%s/cut.jpg", dir);
    truncated_copy(src, path, 300);
    expect_error(image_read_chw(path, 3, &size, NULL), "cut.jpg: damaged JPEG", NULL);
    snprintf(path, sizeof path, "%s/header_only.jpg", dir);
    truncated_copy(src, path, 3);
    expect_error(jpeg_read_chw(path, 3, &size, NULL), "header_only.jpg: damaged JPEG", NULL);
    snprintf(path, sizeof path, "%s/cmyk.jpg", dir);
    expect_error(image_read_chw(path, 3, &size, NULL), "cmyk.jpg: CMYK JPEG images are not supported", NULL);
    snprintf(path, sizeof path, "%s/text.jpg", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not an image", f);
    fclose(f);
    expect_error(jpeg_read_chw(path, 3, &size, NULL), "text.jpg: not a JPEG file", NULL);
    expect_error(image_read_chw(path, 3, &size, NULL), "text.jpg: not a PNG file", NULL);
    snprintf(path, sizeof path, "%s/missing.jpg", dir);
    expect_error(image_read_chw(path, 3, &size, NULL), "missing.jpg: cannot open", NULL);
    assert_true(image_extension_supported("a/B.JPG") && image_extension_supported("x.jpeg") &&
                image_extension_supported("y.png") && !image_extension_supported("z.bmp"));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_as_rgb),
        cmocka_unit_test(test_jpeg_as_grey),
        cmocka_unit_test(test_jpeg_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
