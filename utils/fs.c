/* File-system helpers (see fs.h). */
#include "utils/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/error.h"

/* What a file that is not a regular one is, for messages. */
static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

char *fs_read_text(const char *path)
{
    /* O_NONBLOCK: a FIFO without a writer must not block the open; a
     * regular file ignores the flag */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return engine_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        if (!S_ISREG(st.st_mode) && e == 0)
            return engine_error("%s: read error: Is %s, not a regular file", path, file_kind(st.st_mode));
        return engine_error("%s: cannot stat: %s", path, strerror(e));
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return engine_error("%s: cannot open: %s", path, strerror(errno));
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) free(buf);
        buf = nb;
    }
    bool failed = ferror(f);
    int read_errno = errno; /* fclose may change it */
    fclose(f);
    if (!buf) return engine_error("%s: out of memory", path);
    if (failed) {
        free(buf);
        return engine_error("%s: read error: %s", path, strerror(read_errno));
    }
    buf[n] = '\0';
    return buf;
}

int fs_mkdirs(const char *path)
{
    char buf[4096];
    ENGINE_CHECK_INT(strlen(path) < sizeof buf, "%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                engine_error("%s: cannot create directory %s: %s", path, buf, strerror(errno));
                return -1;
            }
            *p = saved;
            if (saved == '\0') break;
        }
    }
    return 0;
}

bool fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}
