/* Interleaved rows -> channel planes (see image_convert.h). */
#include "data_loader/image_convert.h"

#include <stdbool.h>
#include <stddef.h>

void image_rows_to_chw(uint8_t *const *rows, int h, int w, int fc, int tc, uint8_t *out)
{
    size_t plane = (size_t)h * (size_t)w;
    bool color = fc >= 3, alpha = fc == 2 || fc == 4;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = rows[y] + (size_t)x * (size_t)fc;
            size_t i = (size_t)y * (size_t)w + (size_t)x;
            uint8_t a = alpha ? p[fc - 1] : 255;
            if (tc <= 2) {
                out[i] = color ? (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16) : p[0];
            } else {
                for (int k = 0; k < 3; k++) out[(size_t)k * plane + i] = color ? p[k] : p[0];
            }
            if (tc == 2 || tc == 4) out[(size_t)(tc - 1) * plane + i] = a;
        }
}
