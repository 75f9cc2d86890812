/* Small file-system helpers: whole-file reads, atomic writes, mkdir -p. */
#ifndef UTILS_FS_H
#define UTILS_FS_H

#include <stdbool.h>
#include <stddef.h>

/* The whole file as a NUL-terminated string (caller frees); NULL with an
 * error naming the path. */
char *fs_read_text(const char *path);
/* Writes to a temporary file beside path, fsyncs, renames: path is either
 * the old file or the complete new one, never a torn mix. 0 or -1. */
int fs_write_atomic(const char *path, const void *data, size_t n);
/* mkdir -p; 0 or -1 with an error naming the path. */
int fs_mkdirs(const char *path);
bool fs_exists(const char *path);

#endif
