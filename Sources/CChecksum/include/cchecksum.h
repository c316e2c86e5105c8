#ifndef CCHECKSUM_H
#define CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has carry-less multiplication (PCLMULQDQ), which
/// cr_crc32_folding needs; 0 otherwise.
int cr_crc32_folding_available(void);

/// 1 when cr_crc32_folding also takes the 512-bit path (AVX-512 with
/// VPCLMULQDQ) for long input; 0 otherwise.
int cr_crc32_wide_folding_available(void);

/// Whether cr_crc32_folding may take the 512-bit path where the CPU has
/// it (the default): tests check each path against zlib on one machine.
void cr_crc32_use_wide_folding(int enabled);

/// CRC-32 with the zlib/gzip polynomial, continuing `crc` over `len` bytes
/// at `data` exactly as zlib's crc32_z(crc, data, len) would, but folding
/// 64 bytes per step with carry-less multiplication. Call only when
/// cr_crc32_folding_available() returned 1.
uint32_t cr_crc32_folding(uint32_t crc, const void *data, size_t len);

/// A CRC-32 function: continues `crc` over `len` bytes at `data`.
typedef uint32_t (*cr_crc32_function)(uint32_t crc, const void *data, size_t len);

/// `function(crc, data, len)` into *result, with `data` a file mapping:
/// 0, or -EFAULT when reading it raised SIGBUS (the file was truncated
/// under the mapping, or a page of it could not be read in), or -errno
/// when the SIGBUS handler could not be installed. SIGBUS outside the
/// range, or in another thread, goes to the handler installed before.
int cr_crc32_guarded(cr_crc32_function function, uint32_t crc, const void *data, size_t len, uint32_t *result);

#endif
