/* Regular-file opening for readers (see regular_file.h). */
#include "engine/serialize/regular_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"

/* What a path that is not a regular file is, for "cannot read" messages. */
static const char *not_regular(mode_t mode)
{
    if (S_ISDIR(mode)) return "Is a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe), not a regular file";
    if (S_ISCHR(mode)) return "a character device, not a regular file";
    if (S_ISBLK(mode)) return "a block device, not a regular file";
    if (S_ISSOCK(mode)) return "a socket, not a regular file";
    return "not a regular file";
}

int open_regular_file(const char *path, int64_t *size)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        engine_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) != 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode)) why = not_regular(st.st_mode);
    if (why) {
        close(fd);
        engine_error("%s: cannot read: %s", path, why);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* reads of a regular file: plain blocking ones */
    *size = (int64_t)st.st_size;
    return fd;
}
