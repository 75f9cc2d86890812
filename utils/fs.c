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

char *fs_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return engine_error("%s: cannot open: %s", path, strerror(errno));
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

int fs_write_atomic(const char *path, const void *data, size_t n)
{
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    ENGINE_ASSERT(tmp != NULL);
    snprintf(tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        engine_error("%s: cannot create a temporary file next to it: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *p = data;
    size_t left = n;
    int rc = 0;
    while (left > 0 && rc == 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            engine_error("%s: write failed: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0) rc = -1, engine_error("%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == 0) rc = -1, engine_error("%s: close failed: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0) rc = -1, engine_error("%s: rename failed: %s", path, strerror(errno));
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
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
