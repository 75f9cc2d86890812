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

static const char *not_regular(mode_t mode)
{
    if (S_ISDIR(mode)) return "Is a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe), not a regular file";
    if (S_ISCHR(mode)) return "a character device, not a regular file";
    if (S_ISBLK(mode)) return "a block device, not a regular file";
    if (S_ISSOCK(mode)) return "a socket, not a regular file";
    return "not a regular file";
}

uint8_t *read_regular_file(const char *path, int64_t max_bytes, int64_t *size)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return engine_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) != 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode)) why = not_regular(st.st_mode);
    else if ((int64_t)st.st_size > max_bytes) why = "larger than this reader takes";
    if (why) {
        close(fd);
        if (st.st_size > max_bytes && S_ISREG(st.st_mode))
            return engine_error("%s: cannot read: %lld bytes, more than the %lld this reader takes", path,
                                (long long)st.st_size, (long long)max_bytes);
        return engine_error("%s: cannot read: %s", path, why);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* reads of a regular file: plain blocking ones */
    int64_t n = (int64_t)st.st_size;
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
