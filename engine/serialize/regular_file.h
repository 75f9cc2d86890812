/* Opening a file that a reader takes whole: only a regular file will do.
 * A FIFO is opened without blocking (no writer is needed to be refused),
 * and a directory or a device (/dev/zero would never end, /dev/tty would
 * wait) is refused with a message naming the path and what it is. Used by
 * every reader of user-supplied files: safetensors and checkpoints, IDX,
 * PNG/CIFAR data, configs. */
#ifndef ENGINE_SERIALIZE_REGULAR_FILE_H
#define ENGINE_SERIALIZE_REGULAR_FILE_H

#include <stdint.h>

/* A descriptor open for (blocking) reads, the file's size in *size; or -1
 * with "<path>: cannot open: <reason>" or "<path>: cannot read: Is a
 * directory" / "a FIFO (named pipe), not a regular file" / ... */
int open_regular_file(const char *path, int64_t *size);

#endif
