/* Files that appear whole or not at all: written to a temporary file beside
 * the target, flushed to disk, then renamed over it. A crash or an error
 * leaves the old file (or none), never a torn mix. Used by checkpoints,
 * configs and every other file the project writes in place. */
#ifndef ENGINE_SERIALIZE_ATOMIC_FILE_H
#define ENGINE_SERIALIZE_ATOMIC_FILE_H

#include <stddef.h>

typedef struct AtomicFile AtomicFile;

/* NULL with an error naming path when the temporary file cannot be made. */
AtomicFile *atomic_file_open(const char *path);
/* 0, or -1 with an error (the file is then only good for abort). */
int atomic_file_write(AtomicFile *f, const void *data, size_t n);
/* fsync, close, rename into place; frees f. 0, or -1 with an error (the
 * temporary file is removed and the old file left as it was). */
int atomic_file_commit(AtomicFile *f);
/* Closes and removes the temporary file; frees f. NULL is a no-op. */
void atomic_file_abort(AtomicFile *f);

/* The whole dance for one buffer. */
int atomic_write_file(const char *path, const void *data, size_t n);

/* A temporary name beside path, unique to this process and call:
 * "<path>.tmp.<host>.<pid>.<n>". The host and pid let a later run tell
 * the leftovers of a dead process (kill -9, power loss) from the files of
 * one still writing. 0, or -1 with an error when it does not fit in cap. */
int atomic_temp_name(const char *path, char *out, size_t cap);
/* Removes the temporary files in dir left by processes of this host that
 * no longer run. Returns how many were removed; never fails (a folder that
 * cannot be read is skipped). */
int atomic_clean_stale(const char *dir);

#endif
