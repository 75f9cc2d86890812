/* PNG or JPEG by signature (see image_reader.h). */
#include "data_loader/image_reader.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "data_loader/jpeg_reader.h"
#include "data_loader/png_reader.h"
#include "engine/serialize/regular_file.h"

bool image_extension_supported(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

uint8_t *image_read_chw(const char *path, int channels, ImageSize *size, int *file_channels)
{
    /* the first bytes decide (a FIFO or a folder is refused here without waiting); the readers check the rest */
    int64_t n;
    int fd = open_regular_file(path, &n);
    if (fd < 0) return NULL;
    unsigned char head[2] = {0};
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    if (got == 2 && head[0] == 0xFF && head[1] == 0xD8) return jpeg_read_chw(path, channels, size, file_channels);
    return png_read_chw(path, channels, size, file_channels);
}
