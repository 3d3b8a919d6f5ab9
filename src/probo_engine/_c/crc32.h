/* CRC-32 (the zlib/IEEE polynomial, reflected 0xEDB88320), equal to
 * zlib.crc32 but computed here: slice-by-8 tables everywhere, and on x86-64
 * with PCLMULQDQ (checked at run time) carry-less multiplication folding of
 * 64 bytes per step, after Gopal et al., "Fast CRC computation for generic
 * polynomials using PCLMULQDQ instruction" (Intel, 2009).  The state passed
 * around inside is the inverted CRC, as inside zlib.
 *
 * Only _book.pyx includes this (the tables are static: one copy per module
 * that includes it); other modules call _book's crc32_update.  Call
 * probo_crc32(0, NULL, 0) once at import to build the tables under the
 * import lock rather than on a first use from two GIL-free threads.
 */
#ifndef PROBO_CRC32_H
#define PROBO_CRC32_H

#include <stddef.h>

#include "lebytes.h"

static unsigned int probo_crc_tab[8][256];
static int probo_crc_ready = 0;

static void probo_crc_init(void) {
    unsigned int c;
    int n, k;
    for (n = 0; n < 256; n++) {
        c = (unsigned int)n;
        for (k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        probo_crc_tab[0][n] = c;
    }
    for (n = 0; n < 256; n++) {
        c = probo_crc_tab[0][n];
        for (k = 1; k < 8; k++) {
            c = probo_crc_tab[0][c & 0xff] ^ (c >> 8);
            probo_crc_tab[k][n] = c;
        }
    }
    probo_crc_ready = 1;
}

/* Slice-by-8: eight table lookups per 8 bytes. */
static unsigned int probo_crc_sw(unsigned int c, const unsigned char *p,
                                 size_t n) {
    unsigned int lo, hi;
    while (n && ((size_t)p & 7)) {
        c = probo_crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        lo = probo_ld32(p) ^ c;
        hi = probo_ld32(p + 4);
        c = probo_crc_tab[7][lo & 0xff] ^ probo_crc_tab[6][(lo >> 8) & 0xff] ^
            probo_crc_tab[5][(lo >> 16) & 0xff] ^ probo_crc_tab[4][lo >> 24] ^
            probo_crc_tab[3][hi & 0xff] ^ probo_crc_tab[2][(hi >> 8) & 0xff] ^
            probo_crc_tab[1][(hi >> 16) & 0xff] ^ probo_crc_tab[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = probo_crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PROBO_HAVE_CLMUL 1

/* One folding step: a (128 bits of remainder) times the two constants of k,
   plus the next 128 bits of data d. */
__attribute__((target("pclmul,sse4.1"))) static inline __m128i
probo_fold(__m128i a, __m128i k, __m128i d) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00),
                                       _mm_clmulepi64_si128(a, k, 0x11)),
                         d);
}

/* n >= 64 and a multiple of 16; c is the inverted running CRC. */
__attribute__((target("pclmul,sse4.1"))) static unsigned int
probo_crc_clmul(unsigned int c, const unsigned char *p, size_t n) {
    /* x^(4*128+32), x^(4*128-32); x^(128+32), x^(128-32); x^64; mod P,
       bit-reflected; then P and floor(x^64 / P) for the Barrett step */
    const __m128i k12 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
    const __m128i k34 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124LL);
    const __m128i pmu = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);
    const __m128i lo32 = _mm_set_epi32(0, -1, 0, -1);
    __m128i x0, x1, x2, x3, t;
    x0 = _mm_loadu_si128((const __m128i *)p);
    x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)c));
    p += 64;
    n -= 64;
    while (n >= 64) {
        x0 = probo_fold(x0, k12, _mm_loadu_si128((const __m128i *)p));
        x1 = probo_fold(x1, k12, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = probo_fold(x2, k12, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = probo_fold(x3, k12, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    /* four lanes into one, then the remaining 16-byte blocks */
    x0 = probo_fold(x0, k34, x1);
    x0 = probo_fold(x0, k34, x2);
    x0 = probo_fold(x0, k34, x3);
    while (n >= 16) {
        x0 = probo_fold(x0, k34, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    /* 128 -> 64 bits, 64 -> 32 bits, then Barrett reduction */
    t = _mm_clmulepi64_si128(x0, k34, 0x10);
    x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), t);
    t = _mm_srli_si128(x0, 4);
    x0 = _mm_clmulepi64_si128(_mm_and_si128(x0, lo32), k5, 0x00);
    x0 = _mm_xor_si128(x0, t);
    t = _mm_and_si128(x0, lo32);
    t = _mm_clmulepi64_si128(t, pmu, 0x10);
    t = _mm_and_si128(t, lo32);
    t = _mm_clmulepi64_si128(t, pmu, 0x00);
    x0 = _mm_xor_si128(x0, t);
    return (unsigned int)_mm_extract_epi32(x0, 1);
}

static int probo_clmul_ok = -1;
#else
#define PROBO_HAVE_CLMUL 0
#endif

/* zlib.crc32(data[:n], crc) */
static inline unsigned int probo_crc32(unsigned int crc, const unsigned char *p,
                                       size_t n) {
    unsigned int c = ~crc;
    if (!probo_crc_ready) probo_crc_init();
#if PROBO_HAVE_CLMUL
    size_t m;
    if (probo_clmul_ok < 0)
        probo_clmul_ok = __builtin_cpu_supports("pclmul") &&
                         __builtin_cpu_supports("sse4.1");
    if (probo_clmul_ok && n >= 64) {
        m = n & ~(size_t)15;
        c = probo_crc_clmul(c, p, m);
        p += m;
        n -= m;
    }
#endif
    return ~probo_crc_sw(c, p, n);
}

/* For tests: 1 when the folding path is in use. */
static inline int probo_crc_simd(void) {
#if PROBO_HAVE_CLMUL
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#else
    return 0;
#endif
}

#endif /* PROBO_CRC32_H */
