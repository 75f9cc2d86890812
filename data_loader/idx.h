/* Reading IDX files (the MNIST format: magic 0x00 0x00 <type> <ndim>, big-endian
 * sizes, then the data), raw or gzip-compressed. */
#ifndef DATA_LOADER_IDX_H
#define DATA_LOADER_IDX_H

#include "engine/tensor.h"

/* Reads an IDX file of unsigned bytes (type 0x08) into a persistent u8
 * tensor of the file's shape. When expected_ndim > 0 the file must have that
 * many dims. path ending in ".gz" is decompressed. NULL with an error naming
 * the file and the problem (missing, not a regular file, truncated, wrong
 * magic, sizes whose product overflows...). A FIFO is refused without
 * waiting for a writer. */
Tensor *idx_load_u8(const char *path, int expected_ndim);

#endif
