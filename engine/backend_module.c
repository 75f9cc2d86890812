/* Finding and loading backend modules (see backend_module.h). Like a
 * plug-in loader: look in a few well-defined folders, dlopen the first file
 * that exists, check the entry point, and report dlerror()'s text when
 * anything fails, since that names the missing library. */
#define _GNU_SOURCE /* dladdr */
#include "engine/backend_module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The folder of path (without the trailing slash) in out; false when none. */
static bool folder_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= size) return false;
    memcpy(out, path, (size_t)(slash - path));
    out[slash - path] = '\0';
    return true;
}

/* The folder of the object that holds this code: libengine.so in shared
 * builds, the executable in static ones. */
static bool engine_folder(char *out, size_t size)
{
    Dl_info info;
    if (!dladdr((void *)&backend_module_load, &info) || !info.dli_fname) return false;
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real)) return false;
    return folder_of(real, out, size);
}

static bool exe_folder(char *out, size_t size)
{
    char real[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", real, sizeof real - 1);
    if (n <= 0) return false;
    real[n] = '\0';
    return folder_of(real, out, size);
}

/* Appends dir/file to the candidates unless it is there already. */
static void add_candidate(char (*cand)[PATH_MAX], int *n, int max, const char *dir, const char *file)
{
    if (*n >= max || !dir[0]) return;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return;
    for (int i = 0; i < *n; i++)
        if (strcmp(cand[i], path) == 0) return;
    memcpy(cand[(*n)++], path, sizeof path);
}

enum { MAX_CANDIDATES = 16 };

/* The paths file may be at, in the order they are tried; returns how many. */
static int candidates(const char *file, char cand[][PATH_MAX])
{
    int n = 0;
    const char *env = getenv("ENGINE_BACKEND_PATH");
    if (env) {
        char dirs[4096];
        snprintf(dirs, sizeof dirs, "%s", env);
        char *save = NULL;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
            add_candidate(cand, &n, MAX_CANDIDATES, d, file);
    }
    char dir[PATH_MAX];
    if (engine_folder(dir, sizeof dir)) add_candidate(cand, &n, MAX_CANDIDATES, dir, file);
    if (exe_folder(dir, sizeof dir)) add_candidate(cand, &n, MAX_CANDIDATES, dir, file);
    return n;
}

bool backend_module_locate(const char *file, char *path, size_t size)
{
    char cand[MAX_CANDIDATES][PATH_MAX];
    int n = candidates(file, cand);
    for (int i = 0; i < n; i++)
        if (access(cand[i], F_OK) == 0) {
            snprintf(path, size, "%s", cand[i]);
            return true;
        }
    return false;
}

const Backend *backend_module_load(const char *file, char *why, size_t why_size)
{
    char cand[MAX_CANDIDATES][PATH_MAX];
    int n = candidates(file, cand);
    for (int i = 0; i < n; i++) {
        if (access(cand[i], F_OK) != 0) continue;
        /* RTLD_NOW: a missing CUDA library or symbol fails here, with its
         * name, rather than at the first kernel call */
        void *h = dlopen(cand[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *err = dlerror();
            snprintf(why, why_size, "%s", err ? err : cand[i]);
            return NULL;
        }
        dlerror();
        void *sym = dlsym(h, ENGINE_BACKEND_ENTRY);
        BackendRegisterFn reg;
        memcpy(&reg, &sym, sizeof reg); /* object to function pointer, as POSIX allows */
        if (!sym) {
            const char *err = dlerror();
            snprintf(why, why_size, "%s: no %s: %s", cand[i], ENGINE_BACKEND_ENTRY, err ? err : "NULL");
            dlclose(h);
            return NULL;
        }
        const Backend *b = reg(ENGINE_BACKEND_ABI);
        if (!b) {
            snprintf(why, why_size, "%s: built for another version of the backend interface (this engine has %d)",
                     cand[i], ENGINE_BACKEND_ABI);
            dlclose(h);
            return NULL;
        }
        return b;
    }
    /* the folders tried, so that a user sees where to put the module */
    int len = snprintf(why, why_size, "%s not found (looked in", file);
    for (int i = 0; i < n && len >= 0 && (size_t)len < why_size; i++) {
        char d[PATH_MAX];
        if (!folder_of(cand[i], d, sizeof d)) continue;
        len += snprintf(why + len, why_size - (size_t)len, "%s %s", i ? "," : "", d);
    }
    if (len >= 0 && (size_t)len < why_size) snprintf(why + len, why_size - (size_t)len, "; or set ENGINE_BACKEND_PATH)");
    return NULL;
}
