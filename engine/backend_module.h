/* Finding and loading a backend module (a shared object that exports
 * ENGINE_BACKEND_ENTRY, see backend.h). Internal to the registry. */
#ifndef ENGINE_BACKEND_MODULE_H
#define ENGINE_BACKEND_MODULE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/backend.h"

/* Loads the module named file (e.g. "libengine_cuda.so") and returns its
 * table, or NULL with one line in why[why_size] saying what failed (the
 * folders tried, or dlopen's / dlsym's own message). The folders tried, in
 * order: each of $ENGINE_BACKEND_PATH (colon-separated), the engine
 * library's own folder, the running executable's folder. The module stays
 * loaded for the life of the process. */
const Backend *backend_module_load(const char *file, char *why, size_t why_size);
/* Where backend_module_load would load file from: true with the path in
 * path[size], false when no folder holds it. Loads nothing. */
bool backend_module_locate(const char *file, char *path, size_t size);

#endif
