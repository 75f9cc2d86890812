/* Temporary folders for tests that write files (event files, PNGs, CSVs). */
#ifndef TESTS_TEMP_DIR_H
#define TESTS_TEMP_DIR_H

#include <stddef.h>

/* Creates a fresh folder under $TMPDIR (or /tmp) into buf; fails the test
 * when it cannot. */
void temp_dir_make(char *buf, size_t size, const char *label);
/* Removes the folder and the files in it (one level: tests make no subfolders). */
void temp_dir_remove(const char *dir);
/* A whole file's bytes (malloc'd, NUL-terminated), or NULL. */
char *read_whole_file(const char *path, size_t *len);

#endif
