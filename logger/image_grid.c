/* Image grids (see image_grid.h). The batch is copied to the host once and
 * laid out there: grids are made once per epoch, never in the hot loop. */
#include "logger/image_grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "logger/png_writer.h"

/* The tensor's values as a host float array (caller frees). */
static float *host_copy(Tensor *t)
{
    float *buf = malloc(sizeof(float) * (size_t)(tensor_numel(t) > 0 ? tensor_numel(t) : 1));
    ENGINE_ASSERT(buf != NULL);
    if (tensor_copy_to_buffer(t, buf)) {
        free(buf);
        return NULL;
    }
    return buf;
}

Tensor *make_grid(Tensor *images, int nrow, int padding, bool normalize)
{
    if (!images) return NULL;
    int nd = tensor_dim(images);
    ENGINE_CHECK(nd == 3 || nd == 4, "make_grid: expected images [N, C, H, W] or one image [C, H, W], got %s",
                 shape_str(images->shape));
    ENGINE_CHECK(images->dtype == DT_F32, "make_grid: expected float32 images, got %s",
                 dtype_name(images->dtype));
    ENGINE_CHECK(nrow >= 1 && padding >= 0, "make_grid: nrow must be >= 1 and padding >= 0, got %d and %d", nrow,
                 padding);
    int64_t n = nd == 4 ? images->shape.d[0] : 1;
    int64_t c = images->shape.d[nd - 3], h = images->shape.d[nd - 2], w = images->shape.d[nd - 1];
    ENGINE_CHECK(n >= 1 && (c == 1 || c == 3) && h >= 1 && w >= 1,
                 "make_grid: expected 1 or 3 channels and at least one image, got %s", shape_str(images->shape));
    float *src = host_copy(images);
    if (!src) return NULL;
    float lo = 0, scale = 1;
    if (normalize) { /* the whole batch's range to [0, 1], as make_grid(normalize=True) */
        float hi = src[0];
        lo = src[0];
        for (int64_t i = 0; i < n * c * h * w; i++) {
            lo = fminf(lo, src[i]);
            hi = fmaxf(hi, src[i]);
        }
        scale = 1.0f / fmaxf(hi - lo, 1e-5f);
    }
    if (n == 1) padding = 0; /* a single image comes back as it is */
    int64_t cols = n < nrow ? n : nrow, rows = (n + cols - 1) / cols;
    int64_t gh = rows * (h + padding) + padding, gw = cols * (w + padding) + padding;
    Tensor *grid = tensor_zeros(SHAPE(3, gh, gw), DT_F32, CPU);
    if (!grid) {
        free(src);
        return NULL;
    }
    float *dst = tensor_f32(grid);
    for (int64_t k = 0; k < n; k++) {
        int64_t y0 = (k / cols) * (h + padding) + padding, x0 = (k % cols) * (w + padding) + padding;
        for (int64_t ch = 0; ch < 3; ch++) {
            const float *plane = src + (k * c + (c == 1 ? 0 : ch)) * h * w;
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++)
                    dst[(ch * gh + y0 + y) * gw + x0 + x] = (plane[y * w + x] - lo) * scale;
        }
    }
    free(src);
    return grid;
}

int image_to_rgb8(Tensor *image, uint8_t **pixels, int *height, int *width)
{
    ENGINE_CHECK_INT(image != NULL, "image_to_rgb8: no image");
    ENGINE_CHECK_INT(tensor_dim(image) == 3 && (image->shape.d[0] == 1 || image->shape.d[0] == 3) &&
                         image->dtype == DT_F32,
                     "image: expected a float32 image [C, H, W] with 1 or 3 channels, got %s %s",
                     dtype_name(image->dtype), shape_str(image->shape));
    int64_t c = image->shape.d[0], h = image->shape.d[1], w = image->shape.d[2];
    ENGINE_CHECK_INT(h >= 1 && w >= 1 && h * w <= (int64_t)1 << 28, "image: bad size %s", shape_str(image->shape));
    float *src = host_copy(image);
    if (!src) return -1;
    uint8_t *out = malloc((size_t)(h * w * 3));
    ENGINE_ASSERT(out != NULL);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int64_t ch = 0; ch < 3; ch++) {
                float v = src[((c == 1 ? 0 : ch) * h + y) * w + x];
                v = isnan(v) ? 0 : fminf(fmaxf(v, 0), 1);
                out[(y * w + x) * 3 + ch] = (uint8_t)lrintf(v * 255.0f);
            }
    free(src);
    *pixels = out;
    *height = (int)h;
    *width = (int)w;
    return 0;
}

int save_image(Tensor *image, const char *path)
{
    uint8_t *pixels;
    int h, w;
    if (image_to_rgb8(image, &pixels, &h, &w)) return -1;
    int rc = png_write_file(path, pixels, w, h, 3);
    free(pixels);
    return rc;
}
