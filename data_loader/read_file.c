/* Whole-file reads of data files (see read_file.h), opened as data_loader/idx.c
 * opens IDX files: O_NONBLOCK, then fstat must say regular file. */
#include "data_loader/read_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"
#include "engine/serialize/regular_file.h"

uint8_t *read_regular_file(const char *path, int64_t max_bytes, int64_t *size)
{
    int64_t n;
    int fd = open_regular_file(path, &n);
    if (fd < 0) return NULL;
    if (n > max_bytes) {
        close(fd);
        return engine_error("%s: cannot read: %lld bytes, more than the %lld this reader takes", path, (long long)n,
                            (long long)max_bytes);
    }
    uint8_t *buf = malloc((size_t)(n ? n : 1));
    if (!buf) {
        close(fd);
        return engine_error("%s: cannot read: out of memory for %lld bytes", path, (long long)n);
    }
    int64_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, (size_t)(n - got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            const char *err = r < 0 ? strerror(errno) : "the file shrank while it was read";
            free(buf);
            close(fd);
            return engine_error("%s: cannot read: %s", path, err);
        }
        got += r;
    }
    close(fd);
    *size = n;
    return buf;
}
