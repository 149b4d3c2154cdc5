/* CRC-32 (the zlib/PNG polynomial), used to seal model files so that a
 * flipped bit anywhere in their tensors or metadata is refused at load. */
#ifndef MGC_CRC32_H
#define MGC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC over n more bytes; start with crc = 0. Same values as
 * zlib's crc32(). */
uint32_t mgc_crc32(uint32_t crc, const void *data, size_t n);

#endif
