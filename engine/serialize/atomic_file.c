/* Atomic file replacement (see atomic_file.h). */
#include "engine/serialize/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"

struct AtomicFile {
    int fd;
    char *path, *tmp;
};

/* "<path>.tmp.<pid>.<n>", opened exclusively. Unlike mkstemp (mode 0600)
 * the file gets 0666 less the umask, so the renamed result has the
 * permissions any other newly written file would have. */
AtomicFile *atomic_file_open(const char *path)
{
    static atomic_uint counter;
    AtomicFile *f = calloc(1, sizeof *f);
    size_t len = strlen(path) + 48;
    char *tmp = malloc(len);
    ENGINE_ASSERT(f && tmp);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, len, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        engine_error("%s: cannot create a temporary file next to it: %s", path, strerror(errno));
        free(tmp);
        free(f);
        return NULL;
    }
    f->fd = fd;
    f->tmp = tmp;
    f->path = strdup(path);
    ENGINE_ASSERT(f->path != NULL);
    return f;
}

int atomic_file_write(AtomicFile *f, const void *data, size_t n)
{
    const char *c = data;
    while (n > 0) {
        ssize_t w = write(f->fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            engine_error("%s: write failed: %s", f->path, strerror(errno));
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void release(AtomicFile *f)
{
    free(f->tmp);
    free(f->path);
    free(f);
}

void atomic_file_abort(AtomicFile *f)
{
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp);
    release(f);
}

int atomic_file_commit(AtomicFile *f)
{
    int rc = 0;
    if (fsync(f->fd) != 0) {
        engine_error("%s: fsync failed: %s", f->path, strerror(errno));
        rc = -1;
    }
    if (close(f->fd) != 0 && rc == 0) {
        engine_error("%s: close failed: %s", f->path, strerror(errno));
        rc = -1;
    }
    f->fd = -1;
    if (rc == 0 && rename(f->tmp, f->path) != 0) {
        engine_error("%s: cannot rename the temporary file into place: %s", f->path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) unlink(f->tmp);
    release(f);
    return rc;
}

int atomic_write_file(const char *path, const void *data, size_t n)
{
    AtomicFile *f = atomic_file_open(path);
    if (!f) return -1;
    if (atomic_file_write(f, data, n) != 0) {
        atomic_file_abort(f);
        return -1;
    }
    return atomic_file_commit(f);
}
