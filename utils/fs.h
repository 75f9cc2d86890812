/* Small file-system helpers: whole-file reads, mkdir -p. (Atomic writes:
 * engine/serialize/atomic_file.h.) */
#ifndef UTILS_FS_H
#define UTILS_FS_H

#include <stdbool.h>
#include <stddef.h>

/* The whole file as a NUL-terminated string (caller frees); NULL with an
 * error naming the path. */
char *fs_read_text(const char *path);
/* mkdir -p; 0 or -1 with an error naming the path. */
int fs_mkdirs(const char *path);
bool fs_exists(const char *path);

#endif
