// CRC-32 by folding: the message, read as a polynomial over GF(2), is
// reduced 512 bits at a time by multiplying the running remainder with
// x^n mod P for the right n and adding the next block. Four 128-bit lanes
// keep the multiplier busy; the last 16 bytes of remainder and the tail
// under 16 bytes go through a byte table, which also handles short input.
//
// Everything is in the reflected bit order zlib uses (least significant
// bit first), which is why each constant below is x^n mod P bit-reversed
// and shifted left by one: a carry-less product of two reflected values
// comes out one bit short.

#include "cchecksum.h"

#include <immintrin.h>
#include <pthread.h>

static uint32_t byte_table[256];
static pthread_once_t byte_table_once = PTHREAD_ONCE_INIT;

static void make_byte_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        byte_table[n] = c;
    }
}

/// The CRC register after `len` more bytes, with no inversion in or out.
static uint32_t register_over_bytes(uint32_t reg, const uint8_t *p, size_t len) {
    while (len--) reg = byte_table[(reg ^ *p++) & 0xff] ^ (reg >> 8);
    return reg;
}

int cr_crc32_folding_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
}

int cr_crc32_wide_folding_available(void) {
    __builtin_cpu_init();
    return cr_crc32_folding_available() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("vpclmulqdq");
}

/// -1 until the first long checksum asks the CPU.
static int use_wide = -1;

void cr_crc32_use_wide_folding(int enabled) {
    __atomic_store_n(&use_wide, enabled && cr_crc32_wide_folding_available(), __ATOMIC_RELAXED);
}

/// Moves `lane` forward by the distance `constants` encode and adds `next`.
__attribute__((target("pclmul,sse2")))
static inline __m128i fold(__m128i lane, __m128i constants, __m128i next) {
    __m128i low = _mm_clmulepi64_si128(lane, constants, 0x00);
    __m128i high = _mm_clmulepi64_si128(lane, constants, 0x11);
    return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

/// `fold` in each of the four 128-bit lanes of a 512-bit register.
__attribute__((target("avx512f,avx512vl,vpclmulqdq")))
static inline __m512i fold512(__m512i lane, __m512i constants, __m512i next) {
    __m512i low = _mm512_clmulepi64_epi128(lane, constants, 0x00);
    __m512i high = _mm512_clmulepi64_epi128(lane, constants, 0x11);
    return _mm512_ternarylogic_epi64(low, high, next, 0x96); // low ^ high ^ next
}

/// Four 512-bit lanes, each four of the 128-bit lanes below side by side:
/// 256 bytes a step on CPUs with 512-bit carry-less multiplication
/// (VPCLMULQDQ), about three times the 128-bit step's rate. Folds `*len`
/// bytes from `*p` down to the four 128-bit lanes the narrow loop keeps,
/// leaving fewer than 256 bytes for it; `reg` joins the first bytes.
__attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse2")))
static void fold_wide(const uint8_t **p, size_t *len, uint32_t reg, __m128i lanes[4]) {
    // x^(2048+32) and x^(2048-32) mod P: a 2048-bit step, in each lane.
    const __m512i by2048 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x1322d1430LL, 0x11542778aLL));
    // The 512-bit step of the narrow loop, to fold the lanes into one.
    const __m512i by512 = _mm512_broadcast_i32x4(_mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL));
    const uint8_t *q = *p;
    size_t left = *len;
    __m512i z0 = _mm512_loadu_si512((const void *)q);
    __m512i z1 = _mm512_loadu_si512((const void *)(q + 64));
    __m512i z2 = _mm512_loadu_si512((const void *)(q + 128));
    __m512i z3 = _mm512_loadu_si512((const void *)(q + 192));
    z0 = _mm512_xor_si512(z0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)reg)));
    q += 256;
    left -= 256;
    while (left >= 256) {
        z0 = fold512(z0, by2048, _mm512_loadu_si512((const void *)q));
        z1 = fold512(z1, by2048, _mm512_loadu_si512((const void *)(q + 64)));
        z2 = fold512(z2, by2048, _mm512_loadu_si512((const void *)(q + 128)));
        z3 = fold512(z3, by2048, _mm512_loadu_si512((const void *)(q + 192)));
        q += 256;
        left -= 256;
    }
    z1 = fold512(z0, by512, z1);
    z2 = fold512(z1, by512, z2);
    z3 = fold512(z2, by512, z3);
    lanes[0] = _mm512_extracti32x4_epi32(z3, 0);
    lanes[1] = _mm512_extracti32x4_epi32(z3, 1);
    lanes[2] = _mm512_extracti32x4_epi32(z3, 2);
    lanes[3] = _mm512_extracti32x4_epi32(z3, 3);
    *p = q;
    *len = left;
}

__attribute__((target("pclmul,sse2")))
uint32_t cr_crc32_folding(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t reg = ~crc;
    pthread_once(&byte_table_once, make_byte_table);
    if (len < 64) return ~register_over_bytes(reg, p, len);

    // Low half: x^(512+32) mod P, high half: x^(512-32) mod P (a 512-bit step).
    const __m128i by512 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
    // Low half: x^(128+32) mod P, high half: x^(128-32) mod P (a 128-bit step).
    const __m128i by128 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);

    int wide = __atomic_load_n(&use_wide, __ATOMIC_RELAXED);
    if (wide < 0) {
        wide = cr_crc32_wide_folding_available();
        __atomic_store_n(&use_wide, wide, __ATOMIC_RELAXED);
    }
    __m128i x0, x1, x2, x3;
    if (wide && len >= 512) {
        __m128i lanes[4];
        fold_wide(&p, &len, reg, lanes);
        x0 = lanes[0];
        x1 = lanes[1];
        x2 = lanes[2];
        x3 = lanes[3];
    } else {
        x0 = _mm_loadu_si128((const __m128i *)p);
        x1 = _mm_loadu_si128((const __m128i *)(p + 16));
        x2 = _mm_loadu_si128((const __m128i *)(p + 32));
        x3 = _mm_loadu_si128((const __m128i *)(p + 48));
        // The running register joins the message as its first 32 bits.
        x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)reg));
        p += 64;
        len -= 64;
    }

    while (len >= 64) {
        x0 = fold(x0, by512, _mm_loadu_si128((const __m128i *)p));
        x1 = fold(x1, by512, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold(x2, by512, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold(x3, by512, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        len -= 64;
    }
    x0 = fold(x0, by128, x1);
    x0 = fold(x0, by128, x2);
    x0 = fold(x0, by128, x3);
    while (len >= 16) {
        x0 = fold(x0, by128, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        len -= 16;
    }

    // The 128-bit remainder is congruent to everything folded so far, so
    // its CRC from a zero register is the register over all of it.
    uint8_t remainder[16];
    _mm_storeu_si128((__m128i *)remainder, x0);
    reg = register_over_bytes(0, remainder, 16);
    reg = register_over_bytes(reg, p, len);
    return ~reg;
}
