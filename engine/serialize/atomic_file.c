/* Atomic file replacement (see atomic_file.h). */
#include "engine/serialize/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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

/* This host's name as it appears in temporary names (no dots or slashes,
 * so the name parses back). */
static void host_tag(char *out, size_t cap)
{
    if (gethostname(out, cap) != 0) out[0] = '\0';
    out[cap - 1] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '.' || *p == '/') *p = '_';
    if (!out[0]) snprintf(out, cap, "host");
}

int atomic_temp_name(const char *path, char *out, size_t cap)
{
    static atomic_uint counter;
    char host[64];
    host_tag(host, sizeof host);
    int n = snprintf(out, cap, "%s.tmp.%s.%ld.%u", path, host, (long)getpid(), atomic_fetch_add(&counter, 1u));
    ENGINE_CHECK_INT(n > 0 && (size_t)n < cap, "%s: path too long for a temporary name", path);
    return 0;
}

/* Whether name is "<anything>.tmp.<host>.<pid>.<n>" of a process of this
 * host that is gone. */
static bool stale_temp(const char *name, const char *host)
{
    const char *tag = NULL;
    for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp.")) tag = p + 5;
    if (!tag) return false;
    size_t hl = strlen(host);
    if (strncmp(tag, host, hl) != 0 || tag[hl] != '.') return false;
    char *end;
    long pid = strtol(tag + hl + 1, &end, 10);
    if (end == tag + hl + 1 || *end != '.' || pid <= 0) return false;
    const char *counter = end + 1;
    strtoul(counter, &end, 10);
    if (end == counter || *end != '\0') return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int atomic_clean_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    char host[64];
    host_tag(host, sizeof host);
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (stale_temp(e->d_name, host) && unlinkat(dirfd(d), e->d_name, 0) == 0) removed++;
    closedir(d);
    return removed;
}

/* A temporary name from atomic_temp_name, opened exclusively. Unlike
 * mkstemp (mode 0600) the file gets 0666 less the umask, so the renamed
 * result has the permissions any other newly written file would have. */
AtomicFile *atomic_file_open(const char *path)
{
    AtomicFile *f = calloc(1, sizeof *f);
    size_t len = strlen(path) + 128;
    char *tmp = malloc(len);
    ENGINE_ASSERT(f && tmp);
    int fd = -1;
    errno = 0;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        if (atomic_temp_name(path, tmp, len)) break;
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
