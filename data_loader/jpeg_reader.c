/* JPEG decoding with libjpeg(-turbo) (see jpeg_reader.h). The file is read
 * whole first (regular files only), then decoded from memory. libjpeg's
 * fatal errors call error_exit, which longjmps back here into one error
 * naming the file; its warnings (a corrupt but decodable stream) are
 * errors too, as a damaged PNG's are. */
#include "data_loader/jpeg_reader.h"

#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>

#include <jpeglib.h>

#include "data_loader/image_convert.h"
#include "data_loader/png_reader.h"
#include "data_loader/read_file.h"

/* A JPEG larger than this is not an image a training set holds. */
#define JPEG_MAX_FILE ((int64_t)1 << 30)

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 32];
} ErrorTrap;

static void on_error(j_common_ptr cinfo)
{
    ErrorTrap *t = (ErrorTrap *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(t->message, sizeof t->message, "damaged JPEG: %s", text);
    longjmp(t->jump, 1);
}

/* Warnings (level -1: corrupt data libjpeg decodes anyway) end the decoding too. */
static void on_message(j_common_ptr cinfo, int level)
{
    if (level < 0) on_error(cinfo);
}

uint8_t *jpeg_read_chw(const char *path, int channels, ImageSize *size, int *file_channels)
{
    int64_t n;
    uint8_t *file = read_regular_file(path, JPEG_MAX_FILE, &n);
    if (!file) return NULL;
    if (n < 3 || file[0] != 0xFF || file[1] != 0xD8 || file[2] != 0xFF) {
        free(file);
        return engine_error("%s: not a JPEG file (no JPEG signature)", path);
    }
    struct jpeg_decompress_struct cinfo;
    ErrorTrap trap;
    cinfo.err = jpeg_std_error(&trap.mgr);
    trap.mgr.error_exit = on_error;
    trap.mgr.emit_message = on_message;
    /* (volatile: assigned after setjmp and read after the longjmp) */
    uint8_t *volatile pixels = NULL, *volatile out = NULL;
    uint8_t **volatile rows = NULL;
    if (setjmp(trap.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(rows);
        free(out);
        free(file);
        return engine_error("%s: %s", path, trap.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, file, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(trap.message, sizeof trap.message, "CMYK JPEG images are not supported (convert it to RGB)");
        longjmp(trap.jump, 1);
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    if (cinfo.image_width > PNG_MAX_SIDE || cinfo.image_height > PNG_MAX_SIDE ||
        (int64_t)cinfo.image_width * cinfo.image_height > ((int64_t)1 << 26)) {
        snprintf(trap.message, sizeof trap.message, "damaged JPEG: %ux%u is larger than an image a dataset holds",
                 cinfo.image_width, cinfo.image_height);
        longjmp(trap.jump, 1);
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, fc = cinfo.output_components;
    if (fc != 1 && fc != 3) {
        snprintf(trap.message, sizeof trap.message, "damaged JPEG: %d colour components", fc);
        longjmp(trap.jump, 1);
    }
    size_t rowbytes = (size_t)w * (size_t)fc;
    pixels = malloc(rowbytes * (size_t)h);
    rows = malloc(sizeof(uint8_t *) * (size_t)(h ? h : 1));
    int tc = channels ? channels : fc;
    out = malloc((size_t)tc * (size_t)h * (size_t)w);
    if (!pixels || !rows || !out) {
        snprintf(trap.message, sizeof trap.message, "out of memory for the pixels");
        longjmp(trap.jump, 1);
    }
    for (int y = 0; y < h; y++) rows[y] = pixels + (size_t)y * rowbytes;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = rows[cinfo.output_scanline];
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    image_rows_to_chw(rows, h, w, fc, tc, out);
    free(pixels);
    free(rows);
    free(file);
    *size = (ImageSize){tc, h, w};
    if (file_channels) *file_channels = fc;
    return out;
}
