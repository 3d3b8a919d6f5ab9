/* Limits of the core, bit scans and prefetch hints.
 *
 * Included by _book.pyx (and by the modules that cimport _bitset.pxd).
 * Everything here is a macro or a static inline function: each extension
 * module gets its own copy and nothing is exported.
 */
#ifndef PROBO_BITS_H
#define PROBO_BITS_H

#define PROBO_MAX_QTY 1000000000LL          /* largest order quantity, shares */
#define PROBO_MAX_PAYOUT 1000000            /* largest payout, minor units */
#define PROBO_MAX_LEVELS 100000             /* most price levels per side */
#define PROBO_MAX_TOTAL_CASH 4611686018427387904LL /* 2**62 minor units */
#define PROBO_MAX_USERS 2147483647LL        /* user ids fit an event's int32 */

/* Index of the lowest / highest set bit of a non-zero word. */
static inline int probo_ctz(unsigned long long x) { return __builtin_ctzll(x); }
static inline int probo_clz(unsigned long long x) { return __builtin_clzll(x); }

/* Prefetch hints: read, and write (for links stored into far slots). */
#define probo_prefetch(p) __builtin_prefetch((const void *)(p), 0, 3)
#define probo_prefetchw(p) __builtin_prefetch((const void *)(p), 1, 3)

/* qsort comparator: by the first uint64 of a pair (order id, user id). */
static inline int probo_cmp_u64(const void *a, const void *b) {
    unsigned long long x = *(const unsigned long long *)a;
    unsigned long long y = *(const unsigned long long *)b;
    return (x > y) - (x < y);
}

#endif /* PROBO_BITS_H */
