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
#include "engine/serialize/regular_file.h"

char *fs_read_text(const char *path)
{
    int64_t size;
    int fd = open_regular_file(path, &size); /* a FIFO or a device must not block or never end */
    if (fd < 0) return NULL;
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
