/* Reading a whole data file safely: regular files only (a FIFO is refused
 * without waiting for a writer, a directory or /dev/zero without reading
 * forever), and no more than a stated size. */
#ifndef DATA_LOADER_READ_FILE_H
#define DATA_LOADER_READ_FILE_H

#include <stdint.h>

/* The file's bytes (malloc'd, at least one byte allocated) and *size; NULL
 * with an error naming the file: missing, not a regular file, larger than
 * max_bytes, unreadable. */
uint8_t *read_regular_file(const char *path, int64_t max_bytes, int64_t *size);

#endif
