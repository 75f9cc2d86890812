/* CRC-32C (Castagnoli), the checksum of TFRecord files, and the "masked"
 * form TFRecord stores (so that a CRC of data holding CRCs stays strong). */
#ifndef LOGGER_CRC32C_H
#define LOGGER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over n bytes; start with crc = 0. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);
static inline uint32_t crc32c(const void *data, size_t n) { return crc32c_extend(0, data, n); }
/* ((crc >> 15) | (crc << 17)) + 0xa282ead8, as TFRecord writes it. */
uint32_t crc32c_mask(uint32_t crc);

#endif
