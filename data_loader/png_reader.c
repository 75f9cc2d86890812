/* PNG decoding with libpng (see png_reader.h). The file is read whole
 * first (regular files only, read_file.h), then decoded from memory; libpng
 * reports errors by longjmp, which ends up in one error naming the file. */
#include "data_loader/png_reader.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/image_convert.h"
#include "data_loader/read_file.h"

/* A PNG larger than this is not an image a training set holds. */
#define PNG_MAX_FILE ((int64_t)1 << 30)

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    char message[256];
} PngSource;

static void read_bytes(png_structp png, png_bytep out, png_size_t n)
{
    PngSource *src = png_get_io_ptr(png);
    if (n > src->size - src->pos) png_error(png, "truncated file");
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

static void on_error(png_structp png, png_const_charp msg)
{
    PngSource *src = png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

uint8_t *png_read_chw(const char *path, int channels, ImageSize *size, int *file_channels)
{
    int64_t n;
    uint8_t *file = read_regular_file(path, PNG_MAX_FILE, &n);
    if (!file) return NULL;
    if (n < 8 || png_sig_cmp(file, 0, 8) != 0) {
        free(file);
        return engine_error("%s: not a PNG file (no PNG signature)", path);
    }
    PngSource src = {.data = file, .size = (size_t)n, .pos = 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    ENGINE_ASSERT(png && info);
    /* (volatile: assigned after setjmp and read after the longjmp) */
    uint8_t *volatile pixels = NULL, *volatile out = NULL;
    uint8_t **volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        free(out);
        free(file);
        return engine_error("%s: damaged PNG: %s", path, src.message);
    }
    png_set_read_fn(png, &src, read_bytes);
    png_set_user_limits(png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    png_read_info(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    int fc = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (fc < 1 || fc > 4 || rowbytes != (size_t)w * (size_t)fc) png_error(png, "unexpected pixel layout");
    /* what a header may announce before the data shows it is not there: 2^26 pixels (256 MB as RGBA) */
    if ((int64_t)w * h > ((int64_t)1 << 26)) png_error(png, "more than 2^26 pixels");
    pixels = malloc(rowbytes * (size_t)h);
    rows = malloc(sizeof(uint8_t *) * (size_t)h);
    if (!pixels || !rows) png_error(png, "out of memory for the pixels");
    for (int y = 0; y < h; y++) rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    int tc = channels ? channels : fc;
    out = malloc((size_t)tc * (size_t)h * (size_t)w);
    if (!out) png_error(png, "out of memory for the pixels");
    image_rows_to_chw(rows, h, w, fc, tc, out);
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels);
    free(rows);
    free(file);
    *size = (ImageSize){tc, h, w};
    if (file_channels) *file_channels = fc;
    return out;
}
