# cython: language_level=3
"""The matching core: books, matching, ledger and events, in C structures.

Public entry points are ``def`` methods of :class:`Core`; everything they call is
C.  The exact rules are in ``docs/semantics.md``; ``tests/reference.py`` is the
slow model the property tests compare this module with.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.unicode cimport PyUnicode_CheckExact
from cpython.number cimport PyNumber_Index
from cpython.pythread cimport PyThread_get_thread_ident
from libc.stdint cimport (
    INT16_MAX, INT16_MIN, INT32_MAX, INT32_MIN, int16_t, int32_t, int64_t, uint64_t,
)
from libc.stdlib cimport calloc, free, malloc, qsort, realloc
from libc.string cimport memcpy, memset

import hashlib

from probo_engine.errors import (
    ArgumentOverflowError,
    ArgumentTypeError,
    ConcurrentUseError,
    InvalidArgumentError,
    InvariantError,
    SnapshotError,
    UnknownUserError,
)
from probo_engine.types import FeeMode, Outcome, SelfTrade, Side, TimeInForce
from probo_engine.types import Fill, FillKind, OrderResult, RejectReason

# Prebuilt enums and defaults for Core._submit and _order_result (no enum
# call per fill).
_FILL_KIND = tuple(FillKind)
_REJECT = {int(v): v for v in RejectReason}
_REJECT_OK = RejectReason.OK
_TIF_GTC = TimeInForce.GTC
_STP_DEFAULT = SelfTrade.CANCEL_MAKER

cdef extern from "_debug.h":
    int PROBO_DEBUG

cdef extern from *:
    """
    #define PROBO_MAX_QTY 1000000000LL
    #define PROBO_MAX_PAYOUT 1000000
    #define PROBO_MAX_LEVELS 100000
    #define PROBO_MAX_TOTAL_CASH 4611686018427387904LL
    #define PROBO_MAX_USERS 2147483647LL   /* user ids fit an event's int32 */
    static inline int probo_ctz(unsigned long long x) { return __builtin_ctzll(x); }
    static inline int probo_clz(unsigned long long x) { return __builtin_clzll(x); }

    /* Fee of q shares at own price e, rate r >= 0 bps, in 128-bit so that
       r * q * e * (U - e) cannot overflow.  up: round up (fees) or down
       (rebates).  mode 0: bps of notional; 1: the prediction-market curve. */
    static inline long long probo_fee(long long r, long long q, long long e,
                                      long long U, int mode, int up) {
        __int128 num, den;
        if (r <= 0 || q <= 0) return 0;
        if (mode == 0) { num = (__int128)r * q * e; den = 10000; }
        else { num = (__int128)r * q * e * (U - e); den = (__int128)U * 10000; }
        return (long long)(up ? (num + den - 1) / den : num / den);
    }

    /* Per-share fee reserve of a buy with own limit L: the fee of one share
       at the worst price it can trade at, rounded up. */
    static inline long long probo_fee_unit(long long r, long long L, long long U,
                                           int mode) {
        __int128 g;
        if (r <= 0) return 0;
        if (mode == 0) return (long long)(((__int128)r * L + 9999) / 10000);
        g = (2 * L <= U) ? (__int128)L * (U - L) : (__int128)(U / 2) * ((U + 1) / 2);
        return (long long)(((__int128)r * g + (__int128)U * 10000 - 1)
                           / ((__int128)U * 10000));
    }

    /* Largest q <= cap with q * e + fee(q) <= budget (binary search). */
    static inline long long probo_affordable(long long cap, long long e,
                                             long long budget, long long r,
                                             long long U, int mode) {
        long long lo = 0, hi, mid;
        if (budget <= 0 || cap <= 0) return 0;
        hi = budget / e;
        if (hi > cap) hi = cap;
        while (lo < hi) {
            mid = lo + (hi - lo + 1) / 2;
            if ((__int128)mid * e + probo_fee(r, mid, e, U, mode, 1) <= budget) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /* Little-endian stores and loads for the snapshot format, whatever the host. */
    static inline void probo_put(unsigned char* p, unsigned long long v, int n) {
        for (int i = 0; i < n; i++) { p[i] = (unsigned char)(v >> (8 * i)); }
    }
    static inline unsigned long long probo_get(const unsigned char* p, int n) {
        unsigned long long v = 0;
        for (int i = 0; i < n; i++) { v |= (unsigned long long)p[i] << (8 * i); }
        return v;
    }

    /* qsort comparators: by the first uint64 of a pair (order id, user id). */
    static int probo_cmp_u64(const void* a, const void* b) {
        unsigned long long x = *(const unsigned long long*)a;
        unsigned long long y = *(const unsigned long long*)b;
        return (x > y) - (x < y);
    }

    /* ---- snapshot helpers ---- */
    /* Little-endian fixed-width loads and stores (memcpy: one move on a
       little-endian host, byte shuffles elsewhere). */
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define PROBO_LE 1
    #else
    #define PROBO_LE 0
    #endif
    static inline void probo_st64(unsigned char* p, unsigned long long v) {
        if (PROBO_LE) memcpy(p, &v, 8); else probo_put(p, v, 8);
    }
    static inline void probo_st32(unsigned char* p, unsigned int v) {
        if (PROBO_LE) memcpy(p, &v, 4); else probo_put(p, v, 4);
    }
    static inline unsigned long long probo_ld64(const unsigned char* p) {
        unsigned long long v;
        if (PROBO_LE) { memcpy(&v, p, 8); return v; }
        return probo_get(p, 8);
    }
    static inline unsigned int probo_ld32(const unsigned char* p) {
        unsigned int v;
        if (PROBO_LE) { memcpy(&v, p, 4); return v; }
        return (unsigned int)probo_get(p, 4);
    }
    /* Prefetch hints: read, and write (for links stored into far slots). */
    #define probo_prefetch(p) __builtin_prefetch((const void*)(p), 0, 3)
    #define probo_prefetchw(p) __builtin_prefetch((const void*)(p), 1, 3)

    /* CRC-32 (the zlib/IEEE polynomial, reflected 0xEDB88320), equal to
       zlib.crc32 but computed here: slice-by-8 tables everywhere, and on
       x86-64 with PCLMULQDQ (checked at run time) carry-less multiplication
       folding of 64 bytes per step, after Gopal et al., "Fast CRC computation
       for generic polynomials using PCLMULQDQ instruction" (Intel, 2009).
       The state passed around is the inverted CRC, as inside zlib. */
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
    static unsigned int probo_crc_sw(unsigned int c, const unsigned char* p,
                                     size_t n) {
        unsigned int lo, hi;
        while (n && ((size_t)p & 7)) {
            c = probo_crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
            n--;
        }
        while (n >= 8) {
            lo = probo_ld32(p) ^ c;
            hi = probo_ld32(p + 4);
            c = probo_crc_tab[7][lo & 0xff] ^ probo_crc_tab[6][(lo >> 8) & 0xff]
                ^ probo_crc_tab[5][(lo >> 16) & 0xff] ^ probo_crc_tab[4][lo >> 24]
                ^ probo_crc_tab[3][hi & 0xff] ^ probo_crc_tab[2][(hi >> 8) & 0xff]
                ^ probo_crc_tab[1][(hi >> 16) & 0xff] ^ probo_crc_tab[0][hi >> 24];
            p += 8;
            n -= 8;
        }
        while (n--) c = probo_crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        return c;
    }
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #include <immintrin.h>
    #define PROBO_HAVE_CLMUL 1
    /* One folding step: a (128 bits of remainder) times the two constants of
       k, plus the next 128 bits of data d. */
    __attribute__((target("pclmul,sse4.1")))
    static inline __m128i probo_fold(__m128i a, __m128i k, __m128i d) {
        return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00),
                                           _mm_clmulepi64_si128(a, k, 0x11)), d);
    }
    /* n >= 64 and a multiple of 16; c is the inverted running CRC. */
    __attribute__((target("pclmul,sse4.1")))
    static unsigned int probo_crc_clmul(unsigned int c, const unsigned char* p,
                                        size_t n) {
        /* x^(4*128+32), x^(4*128-32); x^(128+32), x^(128-32); x^64; mod P,
           bit-reflected; then P and floor(x^64 / P) for the Barrett step */
        const __m128i k12 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
        const __m128i k34 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
        const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124LL);
        const __m128i pmu = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);
        const __m128i lo32 = _mm_set_epi32(0, -1, 0, -1);
        __m128i x0, x1, x2, x3, t;
        x0 = _mm_loadu_si128((const __m128i*)p);
        x1 = _mm_loadu_si128((const __m128i*)(p + 16));
        x2 = _mm_loadu_si128((const __m128i*)(p + 32));
        x3 = _mm_loadu_si128((const __m128i*)(p + 48));
        x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)c));
        p += 64;
        n -= 64;
        while (n >= 64) {
            x0 = probo_fold(x0, k12, _mm_loadu_si128((const __m128i*)p));
            x1 = probo_fold(x1, k12, _mm_loadu_si128((const __m128i*)(p + 16)));
            x2 = probo_fold(x2, k12, _mm_loadu_si128((const __m128i*)(p + 32)));
            x3 = probo_fold(x3, k12, _mm_loadu_si128((const __m128i*)(p + 48)));
            p += 64;
            n -= 64;
        }
        /* four lanes into one, then the remaining 16-byte blocks */
        x0 = probo_fold(x0, k34, x1);
        x0 = probo_fold(x0, k34, x2);
        x0 = probo_fold(x0, k34, x3);
        while (n >= 16) {
            x0 = probo_fold(x0, k34, _mm_loadu_si128((const __m128i*)p));
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
    static unsigned int probo_crc32(unsigned int crc, const unsigned char* p,
                                    size_t n) {
        unsigned int c = ~crc;
        if (!probo_crc_ready) probo_crc_init();
    #if PROBO_HAVE_CLMUL
        size_t m;
        if (probo_clmul_ok < 0)
            probo_clmul_ok = __builtin_cpu_supports("pclmul")
                             && __builtin_cpu_supports("sse4.1");
        if (probo_clmul_ok && n >= 64) {
            m = n & ~(size_t)15;
            c = probo_crc_clmul(c, p, m);
            p += m;
            n -= m;
        }
    #endif
        return ~probo_crc_sw(c, p, n);
    }
    /* Fault in a large block about to be written in full, in one system
       call (Linux >= 5.14: MADV_POPULATE_WRITE) instead of one page fault per
       4 KiB page, which costs about a microsecond each in a virtual machine.
       A hint: any failure (older kernel, other systems) changes nothing. */
    #if defined(__linux__)
    #include <sys/mman.h>
    #ifndef MADV_POPULATE_WRITE
    #define MADV_POPULATE_WRITE 23
    #endif
    /* Ask for transparent huge pages (2 MiB) on a block of 4 MiB or more, as
       numpy does for its arrays: a 2 MiB fault replaces 512 small ones (in
       this VM 0.12 ms/MB against 0.53 ms/MB) and the random walks over the
       order arena and the maps miss the TLB far less.  A hint, like the
       above; PROBO_MADVISE_HUGEPAGE=0 in the environment turns it off. */
    static int probo_thp = 1;
    static void probo_hugepage(void* p, size_t n) {
        size_t h = (size_t)1 << 21;
        size_t a = ((size_t)p + h - 1) & ~(h - 1);
        size_t e = ((size_t)p + n) & ~(h - 1);
        if (probo_thp && n >= 2 * h && e > a) (void)madvise((void*)a, e - a, MADV_HUGEPAGE);
    }
    static void probo_populate(void* p, size_t n) {
        size_t a = ((size_t)p + 4095) & ~(size_t)4095;
        size_t e = ((size_t)p + n) & ~(size_t)4095;
        probo_hugepage(p, n);
        if (n >= ((size_t)1 << 20) && e > a) (void)madvise((void*)a, e - a, MADV_POPULATE_WRITE);
    }
    #else
    static int probo_thp = 0;
    static void probo_hugepage(void* p, size_t n) { (void)p; (void)n; }
    static void probo_populate(void* p, size_t n) { (void)p; (void)n; }
    #endif
    /* For tests: 1 when the folding path is in use. */
    static int probo_crc_simd(void) {
    #if PROBO_HAVE_CLMUL
        return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    #else
        return 0;
    #endif
    }
    """
    int64_t MAX_QTY "PROBO_MAX_QTY"
    int64_t MAX_PAYOUT "PROBO_MAX_PAYOUT"
    int64_t MAX_LEVELS "PROBO_MAX_LEVELS"
    int64_t MAX_TOTAL_CASH "PROBO_MAX_TOTAL_CASH"
    int64_t MAX_USERS "PROBO_MAX_USERS"
    int probo_ctz(unsigned long long x) noexcept nogil
    int probo_clz(unsigned long long x) noexcept nogil
    long long probo_fee(long long r, long long q, long long e, long long U,
                        int mode, int up) noexcept nogil
    long long probo_fee_unit(long long r, long long L, long long U,
                             int mode) noexcept nogil
    long long probo_affordable(long long cap, long long e, long long budget,
                               long long r, long long U, int mode) noexcept nogil
    int probo_cmp_u64(const void* a, const void* b) noexcept nogil
    void probo_put(unsigned char* p, unsigned long long v, int n) noexcept nogil
    unsigned long long probo_get(const unsigned char* p, int n) noexcept nogil
    void probo_st64(unsigned char* p, unsigned long long v) noexcept nogil
    void probo_st32(unsigned char* p, unsigned int v) noexcept nogil
    unsigned long long probo_ld64(const unsigned char* p) noexcept nogil
    unsigned int probo_ld32(const unsigned char* p) noexcept nogil
    void probo_prefetch(const void* p) noexcept nogil
    void probo_prefetchw(const void* p) noexcept nogil
    unsigned int probo_crc32(unsigned int crc, const unsigned char* p,
                             size_t n) noexcept nogil
    int probo_crc_simd() noexcept nogil
    void probo_populate(void* p, size_t n) noexcept nogil
    void probo_hugepage(void* p, size_t n) noexcept nogil
    int probo_thp

# Returned by internal commands when an allocation failed before any mutation.
cdef enum:
    ERR_NOMEM = -1

CONSTANTS = {
    "SIDE_BUY": SIDE_BUY, "SIDE_SELL": SIDE_SELL,
    "OUTCOME_YES": OUTCOME_YES, "OUTCOME_NO": OUTCOME_NO,
    "BOOK_BID": BOOK_BID, "BOOK_ASK": BOOK_ASK,
    "TIF_GTC": TIF_GTC, "TIF_IOC": TIF_IOC, "TIF_FOK": TIF_FOK,
    "TIF_GTD": TIF_GTD,
    "STP_CANCEL_MAKER": STP_CANCEL_MAKER, "STP_CANCEL_TAKER": STP_CANCEL_TAKER,
    "STP_CANCEL_BOTH": STP_CANCEL_BOTH,
    "FILL_TRANSFER": FILL_TRANSFER, "FILL_MINT": FILL_MINT,
    "FILL_MERGE": FILL_MERGE,
    "CANCEL_USER": CANCEL_USER, "CANCEL_IOC": CANCEL_IOC,
    "CANCEL_SELF_TRADE": CANCEL_SELF_TRADE, "CANCEL_EXPIRED": CANCEL_EXPIRED,
    "CANCEL_HALTED": CANCEL_HALTED, "CANCEL_CLOSED": CANCEL_CLOSED,
    "CANCEL_RESOLVED": CANCEL_RESOLVED,
    "MARKET_OPEN": MARKET_OPEN, "MARKET_HALTED": MARKET_HALTED,
    "MARKET_CLOSED": MARKET_CLOSED, "MARKET_RESOLVED": MARKET_RESOLVED,
    "FEE_BPS": FEE_BPS, "FEE_CURVE": FEE_CURVE,
    "EV_ACCEPTED": EV_ACCEPTED, "EV_REJECTED": EV_REJECTED, "EV_FILL": EV_FILL,
    "EV_CANCELED": EV_CANCELED, "EV_LEVEL": EV_LEVEL, "EV_MARKET": EV_MARKET,
    "EV_CASH": EV_CASH, "EV_AMENDED": EV_AMENDED, "EV_PAIR": EV_PAIR,
    "EV_SETTLEMENT": EV_SETTLEMENT,
    "CMD_PLACE": CMD_PLACE, "CMD_CANCEL": CMD_CANCEL,
    "CMD_DEPOSIT": CMD_DEPOSIT, "CMD_WITHDRAW": CMD_WITHDRAW,
    "CMD_AMEND": CMD_AMEND, "CMD_CANCEL_ALL": CMD_CANCEL_ALL,
    "CMD_MINT": CMD_MINT, "CMD_MERGE": CMD_MERGE, "CMD_HALT": CMD_HALT,
    "CMD_RESUME": CMD_RESUME, "CMD_CLOSE": CMD_CLOSE,
    "CMD_RESOLVE": CMD_RESOLVE, "CMD_PLACE_MARKET": CMD_PLACE_MARKET,
    "CMD_EXPIRE": CMD_EXPIRE, "CMD_CREATE_USER": CMD_CREATE_USER,
    "CMD_CREATE_MARKET": CMD_CREATE_MARKET,
    "REJ_OK": REJ_OK, "REJ_UNKNOWN_USER": REJ_UNKNOWN_USER,
    "REJ_UNKNOWN_MARKET": REJ_UNKNOWN_MARKET,
    "REJ_PRICE_OFF_GRID": REJ_PRICE_OFF_GRID,
    "REJ_INVALID_QTY": REJ_INVALID_QTY,
    "REJ_INVALID_AMOUNT": REJ_INVALID_AMOUNT,
    "REJ_DUPLICATE_CLIENT_ID": REJ_DUPLICATE_CLIENT_ID,
    "REJ_INVALID_EXPIRY": REJ_INVALID_EXPIRY,
    "REJ_BELOW_MIN_QTY": REJ_BELOW_MIN_QTY, "REJ_STALE_TIME": REJ_STALE_TIME,
    "REJ_INSUFFICIENT_FUNDS": REJ_INSUFFICIENT_FUNDS,
    "REJ_INSUFFICIENT_SHARES": REJ_INSUFFICIENT_SHARES,
    "REJ_CASH_LIMIT": REJ_CASH_LIMIT,
    "REJ_TOO_MANY_ORDERS": REJ_TOO_MANY_ORDERS,
    "REJ_FOK_NOT_FILLABLE": REJ_FOK_NOT_FILLABLE,
    "REJ_UNKNOWN_ORDER": REJ_UNKNOWN_ORDER,
    "REJ_POST_ONLY_WOULD_CROSS": REJ_POST_ONLY_WOULD_CROSS,
    "REJ_MARKET_NOT_OPEN": REJ_MARKET_NOT_OPEN,
    "REJ_INVALID_TRANSITION": REJ_INVALID_TRANSITION,
    "REJ_INVALID_SETTLEMENT": REJ_INVALID_SETTLEMENT,
    "MAX_QTY": MAX_QTY, "MAX_PAYOUT": MAX_PAYOUT, "MAX_LEVELS": MAX_LEVELS,
    "MAX_TOTAL_CASH": MAX_TOTAL_CASH,
}

# Snapshot format (docs/snapshot.md): header, users, markets, positions,
# orders, then a CRC32 of everything before it.  Little-endian, fixed-size
# records, canonical order, so equal states give equal bytes.
SNAPSHOT_MAGIC = b"PROBOSNP"
SNAPSHOT_VERSION = 2       # 2 added the clock; version 1 still loads (clock 0)
cdef enum:
    SNAP_HEADER = 136      # bytes: magic, version, endian, record sizes, scalars
    SNAP_HEADER_V1 = 128   # version 1: the same without the clock
    SNAP_USER = 16         # avail, locked
    SNAP_MARKET = 56       # grid, fees, status, prices, min_qty, outstanding
    SNAP_POSITION = 40     # uid, mid, YES avail/locked, NO avail/locked
    SNAP_ORDER = 48        # id, qty, expiry, owner, market, client id, price, flags
    SNAP_WAYS = 16         # level FIFOs the snapshot walks at once
    LOAD_AHEAD = 16        # records ahead whose hash bucket / slot restore prefetches
    CHECK_AHEAD = 16       # buckets ahead whose target check_invariants prefetches
    CHECK_WAYS = 16        # user order lists check_invariants walks at once

EVENT_FIELDS = (
    "seq", "kind", "ts", "market", "user", "oid", "side", "outcome", "price",
    "qty", "code", "user2", "oid2", "price2", "aux", "fee", "fee2",
)


cdef tuple _event_layout():
    # (name, numpy format, byte offset) of every Event field, in EVENT_FIELDS
    # order, taken from the compiled struct itself.
    cdef Event ev
    cdef char* base = <char*>&ev
    cdef dict where = {
        "seq": (<char*>&ev.seq - base, sizeof(ev.seq)),
        "kind": (<char*>&ev.kind - base, sizeof(ev.kind)),
        "ts": (<char*>&ev.ts - base, sizeof(ev.ts)),
        "market": (<char*>&ev.market - base, sizeof(ev.market)),
        "user": (<char*>&ev.user - base, sizeof(ev.user)),
        "oid": (<char*>&ev.oid - base, sizeof(ev.oid)),
        "side": (<char*>&ev.side - base, sizeof(ev.side)),
        "outcome": (<char*>&ev.outcome - base, sizeof(ev.outcome)),
        "price": (<char*>&ev.price - base, sizeof(ev.price)),
        "qty": (<char*>&ev.qty - base, sizeof(ev.qty)),
        "code": (<char*>&ev.code - base, sizeof(ev.code)),
        "user2": (<char*>&ev.user2 - base, sizeof(ev.user2)),
        "oid2": (<char*>&ev.oid2 - base, sizeof(ev.oid2)),
        "price2": (<char*>&ev.price2 - base, sizeof(ev.price2)),
        "aux": (<char*>&ev.aux - base, sizeof(ev.aux)),
        "fee": (<char*>&ev.fee - base, sizeof(ev.fee)),
        "fee2": (<char*>&ev.fee2 - base, sizeof(ev.fee2)),
    }
    return tuple((name, f"<i{where[name][1]}", where[name][0])
                 for name in EVENT_FIELDS)


#: ``(name, numpy format, byte offset)`` of each event field, in
#: ``EVENT_FIELDS`` order; ``EVENT_SIZE`` bytes per packed event.
EVENT_LAYOUT = _event_layout()

#: True in a PROBO_DEBUG=1 build (bounds and overflow checks, and
#: check_invariants() after every command: O(state) per command).
DEBUG = bool(PROBO_DEBUG)

import os as _os
if _os.environ.get("PROBO_MADVISE_HUGEPAGE") == "0":
    probo_thp = 0
del _os

# Build the CRC tables now, under the import lock, rather than on a first use
# that could come from two threads at once with the GIL released.
probo_crc32(0, NULL, 0)
EVENT_SIZE = sizeof(Event)


cdef unsigned int crc32_update(unsigned int crc, const unsigned char* p,
                               size_t n) noexcept nogil:
    return probo_crc32(crc, p, n)


# ---------------------------------------------------------------- arguments

cdef int64_t _int_slow(object x, str name) except? -1:
    # bool is an int subclass and float/Decimal convert silently elsewhere:
    # both are misuse here, so refuse them before __index__ gets a chance.
    # Every refusal is a ProboError naming the argument (semantics.md "Errors").
    if isinstance(x, (bool, float)):
        raise ArgumentTypeError(f"{name} must be an integer, not {type(x).__name__}")
    try:
        x = PyNumber_Index(x)
    except TypeError:
        raise ArgumentTypeError(
            f"{name} must be an integer, not {type(x).__name__}"
        ) from None
    try:
        return x
    except OverflowError:
        raise ArgumentOverflowError(
            f"{name} must fit in a signed 64-bit integer, got {x}") from None


cdef inline int64_t _int(object x, str name) except? -1:
    cdef int overflow = 0
    cdef long long v
    if PyLong_CheckExact(x):
        v = PyLong_AsLongLongAndOverflow(x, &overflow)
        if not overflow:
            return v
    return _int_slow(x, name)


# The argument each IntEnum belongs to: an enum of another kind (Outcome.NO
# given as the side) is refused, not read as its number.
_ENUM_ARG = {Side: "side", Outcome: "outcome", TimeInForce: "tif", SelfTrade: "stp",
             FeeMode: "fee_mode"}


cdef int _wrong_enum(object x, str name) except -1:
    raise ArgumentTypeError(f"{name} must be a {_ENUM_NAME[name]} (or its int value), "
                    f"not {type(x).__name__}.{x.name}")


_ENUM_NAME = {v: k.__name__ for k, v in _ENUM_ARG.items()}


cdef inline int _enum(object x, str name, int hi) except -1:
    # 0 and 1 are CPython's cached small ints: an identity test is enough
    # for the common values (a bool is neither object, so it still fails).
    if x is 0:
        return 0
    if x is 1:
        return 1    # every enum has hi >= 1
    if not PyLong_CheckExact(x):
        kind = _ENUM_ARG.get(type(x))
        if kind is not None and kind != name:
            _wrong_enum(x, name)
    cdef int64_t v = _int(x, name)
    if v < 0 or v > hi:
        raise InvalidArgumentError(f"{name} must be in 0..{hi}, got {v}")
    return <int>v



cdef int _check_records(const CmdRec* cmds, Py_ssize_t n) except -1:
    cdef Py_ssize_t i
    for i in range(n):
        if not _cmd_ok(&cmds[i]):
            raise ValueError(f"command {i} is malformed: {_cmd_problem(cmds[i])}")
    return 0


cdef inline bint _cmd_ok(const CmdRec* c) noexcept nogil:
    # The misuse rules of the per-call methods, for one batch record.
    cdef int64_t k = c.kind
    if k < CMD_PLACE or k > CMD_EXPIRE or c.reserved != 0:
        return False
    if k == CMD_PLACE or k == CMD_PLACE_MARKET:
        if not (0 <= c.side <= 1 and 0 <= c.outcome <= 1 and 0 <= c.stp <= 2):
            return False
        if c.client_id < 0 or c.client_id > <int64_t>0xFFFFFFFF:
            return False
        if k == CMD_PLACE:
            if not 0 <= c.tif <= 3 or c.max_cost != 0 or not 0 <= c.post_only <= 1:
                return False
            if c.post_only and c.tif != TIF_GTC and c.tif != TIF_GTD:
                return False
            if (c.tif == TIF_GTD) != (c.expire_ts != 0):
                return False
        else:
            if c.tif != TIF_IOC and c.tif != TIF_FOK:
                return False
            if c.post_only or c.expire_ts or c.max_cost < 0:
                return False
            if c.max_cost > 0 and c.side == SIDE_SELL:
                return False
    return True


def _cmd_problem(CmdRec c):
    return (f"kind={c.kind} side={c.side} outcome={c.outcome} tif={c.tif} "
            f"stp={c.stp} post_only={c.post_only} client_id={c.client_id} "
            f"expire_ts={c.expire_ts} max_cost={c.max_cost} reserved={c.reserved}")


COMMAND_FIELDS = (
    "kind", "uid", "mid", "side", "outcome", "price", "qty", "oid", "tif", "stp",
    "ts", "post_only", "client_id", "expire_ts", "max_cost", "reserved",
)


cdef int64_t _client_id(object x) except -1:
    cdef int64_t v = _int(x, "client_id")
    if v < 0 or v > 0xFFFFFFFF:
        raise InvalidArgumentError(f"client_id must be in 0..{0xFFFFFFFF}, got {v}")
    return v


# ------------------------------------------------------------------ growth
# libc malloc/realloc rather than PyMem_*: these run without the GIL in the
# batch path, where the PyMem allocators must not be called.

cdef int _grow(void** p, int64_t* cap, int64_t need, size_t size) noexcept nogil:
    # Doubles *cap until it holds `need` elements; 0 on success, -1 when out
    # of memory (the old block is then untouched).
    cdef int64_t c = cap[0] if cap[0] > 0 else 16
    cdef void* q
    if need <= cap[0]:
        return 0
    while c < need:
        c *= 2
    q = realloc(p[0], <size_t>c * size)
    if q == NULL:
        return -1
    probo_hugepage(q, <size_t>c * size)
    p[0] = q
    cap[0] = c
    return 0


# ---------------------------------------------------------------- hash map

@cython.overflowcheck(False)
cdef inline uint64_t im_slot(const IntMap* m, uint64_t k) noexcept nogil:
    # Fibonacci hashing: the top bits of k * 2^64/phi (the product wraps
    # modulo 2^64 on purpose, so no overflow check even in a debug build).
    return (k * <uint64_t>0x9E3779B97F4A7C15) >> m.shift


cdef int im_init(IntMap* m, int64_t cap) noexcept nogil:
    cdef int32_t bits = 0
    while (<int64_t>1 << bits) < cap:
        bits += 1
    cap = <int64_t>1 << bits
    m.keys = <uint64_t*>malloc(<size_t>cap * sizeof(uint64_t))
    m.vals = <int32_t*>malloc(<size_t>cap * sizeof(int32_t))
    if m.keys == NULL or m.vals == NULL:
        free(m.keys)
        free(m.vals)
        m.keys = NULL
        m.vals = NULL
        return -1
    probo_hugepage(m.keys, <size_t>cap * sizeof(uint64_t))
    probo_hugepage(m.vals, <size_t>cap * sizeof(int32_t))
    memset(m.keys, 0, <size_t>cap * sizeof(uint64_t))
    m.cap = cap
    m.size = 0
    m.shift = 64 - bits
    return 0


cdef void im_free(IntMap* m) noexcept nogil:
    free(m.keys)
    free(m.vals)
    m.keys = NULL
    m.vals = NULL
    m.cap = 0
    m.size = 0


cdef inline int32_t im_get(const IntMap* m, uint64_t k) noexcept nogil:
    cdef uint64_t mask = <uint64_t>m.cap - 1
    cdef uint64_t i = im_slot(m, k)
    while m.keys[i] != 0:
        if m.keys[i] == k:
            return m.vals[i]
        i = (i + 1) & mask
    return -1


cdef inline void im_insert_nogrow(IntMap* m, uint64_t k, int32_t v) noexcept nogil:
    cdef uint64_t mask = <uint64_t>m.cap - 1
    cdef uint64_t i = im_slot(m, k)
    while m.keys[i] != 0:
        if m.keys[i] == k:
            m.vals[i] = v
            return
        i = (i + 1) & mask
    m.keys[i] = k
    m.vals[i] = v
    m.size += 1


cdef int im_reserve(IntMap* m, int64_t extra) noexcept nogil:
    # Keeps the load factor at or below 1/2 after `extra` more inserts.
    cdef IntMap n
    cdef int64_t i, cap = m.cap
    if (m.size + extra) * 2 <= cap:
        return 0
    while (m.size + extra) * 2 > cap:
        cap *= 2
    if im_init(&n, cap) != 0:
        return -1
    for i in range(m.cap):
        if m.keys[i] != 0:
            im_insert_nogrow(&n, m.keys[i], m.vals[i])
    im_free(m)
    m[0] = n
    return 0


cdef inline void im_del(IntMap* m, uint64_t k) noexcept nogil:
    # Backward-shift deletion keeps probe chains unbroken without tombstones.
    cdef uint64_t mask = <uint64_t>m.cap - 1
    cdef uint64_t i = im_slot(m, k)
    cdef uint64_t j, h
    while m.keys[i] != k:
        if m.keys[i] == 0:
            return
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        if m.keys[j] == 0:
            break
        h = im_slot(m, m.keys[j])
        # the entry at j may move to i only if its home h is not in (i, j]
        if (i <= j and (h <= i or h > j)) or (i > j and h <= i and h > j):
            m.keys[i] = m.keys[j]
            m.vals[i] = m.vals[j]
            i = j
    m.keys[i] = 0
    m.size -= 1


# ----------------------------------------------------------------- bitmaps

@cython.overflowcheck(False)  # masks shift bits out on purpose
cdef inline void bit_set(uint64_t* b, int32_t i) noexcept nogil:
    b[i >> 6] |= (<uint64_t>1) << (i & 63)


@cython.overflowcheck(False)  # masks shift bits out on purpose
cdef inline void bit_clear(uint64_t* b, int32_t i) noexcept nogil:
    b[i >> 6] &= ~((<uint64_t>1) << (i & 63))


@cython.overflowcheck(False)  # masks shift bits out on purpose
cdef inline int32_t bit_next_up(const uint64_t* b, int32_t nwords, int32_t i,
                                int32_t none) noexcept nogil:
    # Lowest set index >= i, or `none`.
    cdef int32_t w = i >> 6
    cdef uint64_t x
    if w >= nwords:
        return none
    x = b[w] & (~(<uint64_t>0) << (i & 63))
    while True:
        if x != 0:
            return (w << 6) + probo_ctz(x)
        w += 1
        if w >= nwords:
            return none
        x = b[w]


@cython.overflowcheck(False)  # masks shift bits out on purpose
cdef inline int32_t bit_next_down(const uint64_t* b, int32_t i) noexcept nogil:
    # Highest set index <= i, or -1.
    cdef int32_t w
    cdef uint64_t x
    if i < 0:
        return -1
    w = i >> 6
    x = b[w] & (~(<uint64_t>0) >> (63 - (i & 63)))
    while True:
        if x != 0:
            return (w << 6) + 63 - probo_clz(x)
        w -= 1
        if w < 0:
            return -1
        x = b[w]


# -------------------------------------------------------------- the core

cdef inline price_t _own(int outcome, price_t yprice, price_t payout) noexcept nogil:
    # A YES-terms price seen from `outcome`.
    return yprice if outcome == OUTCOME_YES else payout - yprice


cdef inline int _book_side(int action, int outcome) noexcept nogil:
    # buy YES / sell NO are bids on the YES book; sell YES / buy NO are asks.
    return BOOK_BID if (action == SIDE_BUY) == (outcome == OUTCOME_YES) else BOOK_ASK


cdef inline int64_t _fee_rate_max(const Market* m) noexcept nogil:
    # The rate a buy reserves fees at: it may end up taker or maker.
    cdef int64_t r = m.taker_fee if m.taker_fee > m.maker_fee else m.maker_fee
    return r if r > 0 else 0


cdef inline amount_t _fee_unit(const Market* m, price_t own) noexcept nogil:
    return probo_fee_unit(_fee_rate_max(m), own, m.payout, m.fee_mode)


# What holds a Core while it runs with the GIL released (Core.busy); a call
# from any other thread meanwhile raises ConcurrentUseError (docs/semantics.md,
# "Threads").  Calls that keep the GIL cannot interleave, so this is the whole
# guard: one flag and the owner's thread ident, set and tested under the GIL.
cdef enum:
    BUSY_NONE = 0
    BUSY_BATCH = 1
    BUSY_SNAPSHOT = 2
    BUSY_DEPTH = 3

_BUSY_NAMES = {BUSY_BATCH: "run_batch", BUSY_SNAPSHOT: "snapshot",
               BUSY_DEPTH: "depth_into"}


cdef int _raise_busy(int what) except -1:
    raise ConcurrentUseError(
        f"this Core is running {_BUSY_NAMES.get(what, what)}() in another thread; "
        "a Core is single-threaded: serialize calls on it (e.g. with a lock)")


cdef class Core:
    """All markets, users and the ledger of one exchange, matched in C.

    Ids are dense integers assigned here: users ``0, 1, ...``, markets ``0, 1,
    ...``, orders ``1, 2, ...``.  Every method takes plain integers (numpy
    integers work too; ``bool``/``float``/``str`` raise ``TypeError``) and an
    optional ``ts`` (caller time) that drives GTD expiry and is copied into
    the events.  Expected refusals are result codes
    (:class:`probo_engine.RejectReason`), never exceptions, and every command
    returns them the same way: a result ``< 0`` is a refusal, ``-code``; 0 or
    more is success (an id, a count, or 0).  The events of the
    most recent command are available from :meth:`last_events`.  See
    ``docs/semantics.md`` for the full contract.

    Parameters
    ----------
    max_qty : int
        Largest order quantity (at most ``10**9``).
    max_open_orders : int
        Live orders per user; 0 means no limit.
    max_balance : int
        Most cash (available + locked) a deposit may leave a user with; 0
        means no limit beyond ``2**62`` for the whole system.
    max_levels : int
        Most price levels a market may have (at most 100,000).
    """

    def __cinit__(self, *args, max_qty=MAX_QTY, max_open_orders=0, max_balance=0,
                  max_levels=MAX_LEVELS, **kwargs):
        self.orders = NULL
        self.users = NULL
        self.markets = NULL
        self.positions = NULL
        self.events = NULL
        self.touched = NULL
        self.heap = NULL
        self.oid_map.keys = NULL
        self.oid_map.vals = NULL
        self.cid_map.keys = NULL
        self.cid_map.vals = NULL
        self.pos_map.keys = NULL
        self.pos_map.vals = NULL
        self.cap_orders = 0
        self.free_head = -1
        self.n_live = self.n_gtd = 0
        self.n_users = self.cap_users = 0
        self.n_markets = self.cap_markets = 0
        self.n_pos = self.cap_pos = 0
        self.n_heap = self.cap_heap = 0
        self.n_events = self.cap_events = 0
        self.n_touched = self.cap_touched = 0
        self.seq = 0
        self.clock_ts = 0
        self.next_oid = 1
        self.net_cash = 0
        self.fee_balance = 0
        self.oom = False
        self.record = True
        self.busy = BUSY_NONE
        self.owner = 0
        self.filled = 0
        self._set_limits(max_qty, max_open_orders, max_balance, max_levels)
        if (im_init(&self.oid_map, 1024) != 0 or im_init(&self.pos_map, 1024) != 0
                or im_init(&self.cid_map, 64) != 0):
            raise MemoryError()
        if _grow(<void**>&self.events, &self.cap_events, 256, sizeof(Event)) != 0:
            raise MemoryError()

    def __init__(self, *, max_qty=MAX_QTY, max_open_orders=0, max_balance=0,
                 max_levels=MAX_LEVELS):
        # __cinit__ applied the constructor's limits.  A subclass whose
        # __init__ passes others to super().__init__() gets them too, while
        # the engine is still empty; later it is an error, never ignored.
        if (_int(max_qty, "max_qty"), _int(max_open_orders, "max_open_orders"),
                _int(max_balance, "max_balance"),
                _int(max_levels, "max_levels")) == self.limits():
            return
        if self.n_users or self.n_markets or self.seq:
            raise TypeError("the engine's limits are fixed once it has state; "
                            "pass them to the constructor")
        self._set_limits(max_qty, max_open_orders, max_balance, max_levels)

    @cython.final
    cdef int _set_limits(self, max_qty, max_open_orders, max_balance,
                         max_levels) except -1:
        cdef int64_t q = _int(max_qty, "max_qty")
        cdef int64_t o = _int(max_open_orders, "max_open_orders")
        cdef int64_t b = _int(max_balance, "max_balance")
        cdef int64_t lv = _int(max_levels, "max_levels")
        if not 1 <= q <= MAX_QTY:
            raise ValueError(f"max_qty must be in 1..{MAX_QTY}")
        if o < 0 or b < 0:
            raise ValueError("max_open_orders and max_balance must be >= 0")
        if not 1 <= lv <= MAX_LEVELS:
            raise ValueError(f"max_levels must be in 1..{MAX_LEVELS}")
        self.max_qty, self.max_open, self.max_balance, self.max_levels = q, o, b, lv
        return 0

    def __dealloc__(self):
        cdef int64_t i
        if self.markets != NULL:
            for i in range(self.n_markets):
                free(self.markets[i].levels)
                free(self.markets[i].bits)
        free(self.markets)
        free(self.orders)
        free(self.users)
        free(self.positions)
        free(self.events)
        free(self.touched)
        free(self.heap)
        im_free(&self.oid_map)
        im_free(&self.cid_map)
        im_free(&self.pos_map)

    # ------------------------------------------------------------ events

    @cython.final
    cdef inline Event* _ev(self, int64_t kind, int64_t ts) noexcept nogil:
        # Next event record, zeroed, with its sequence number.  Never NULL: on
        # a failed allocation the event goes to a scratch record and the core
        # is marked unusable (checked by _end), so no half-state is observable.
        cdef Event* e
        if not self.record:
            self.seq += 1
            return &self.scratch
        if self.n_events == self.cap_events:
            if _grow(<void**>&self.events, &self.cap_events, self.n_events + 1,
                     sizeof(Event)) != 0:
                self.oom = True
                e = &self.scratch
                memset(e, 0, sizeof(Event))
                return e
        e = &self.events[self.n_events]
        self.n_events += 1
        memset(e, 0, sizeof(Event))
        self.seq += 1
        e.seq = <int64_t>self.seq
        e.kind = kind
        e.ts = ts
        return e

    @cython.final
    cdef inline int _begin(self, int64_t* ts) except -1:
        # Every public command starts here: a new event batch, then time
        # (semantics.md "Time and GTD"): ts 0 means the clock; a later ts
        # moves it on and the GTD orders whose time has come expire.  An
        # earlier ts changes nothing here: the command refuses it (109).
        cdef int64_t t = ts[0]
        if self.oom | (self.busy != 0):
            self._guard()
            if self.oom:
                raise MemoryError("the core lost an event to a failed allocation")
        self.n_events = 0
        self.filled = 0
        if t == 0:
            t = ts[0] = self.clock_ts
        if t >= self.clock_ts:
            self.clock_ts = t
            if self.n_heap > 0 and self.heap[0].ts <= t:
                self._expire(t)
        return 0

    @cython.final
    cdef inline int _guard(self) except -1:
        # Queries and commands that do not go through _begin.
        if self.busy and self.owner != PyThread_get_thread_ident():
            _raise_busy(self.busy)
        return 0

    @cython.final
    cdef int _enter(self, int what) except -1:
        # Claim the core for a section that releases the GIL; returns what
        # was held before (the caller restores it: sections may nest in one
        # thread, e.g. run_batch inside batch.run's hold).
        cdef int prev = self.busy
        self._guard()
        self.busy = what
        self.owner = PyThread_get_thread_ident()
        return prev

    def _hold(self):
        # batch.run holds the core across its slices (so another thread cannot
        # slip a command, and its events, in between); returns the token for
        # _unhold.  Private: the public contract is in docs/semantics.md.
        return self._enter(BUSY_BATCH)

    def _unhold(self, int token):
        self.busy = token

    @cython.final
    cdef inline int _end(self, int64_t r) except -1:
        if r == ERR_NOMEM:
            raise MemoryError()
        if self.oom:
            raise MemoryError("out of memory while recording events")
        if PROBO_DEBUG:
            self.check_invariants()
        return 0

    @cython.final
    cdef void _reject(self, int64_t cmd, int64_t code, int64_t mid, int64_t uid,
                      int64_t oid, int64_t side, int64_t outcome, int64_t price,
                      int64_t qty, int64_t ts) noexcept nogil:
        # The given values are echoed; one that does not fit its (narrower)
        # event field is recorded as -1 (semantics.md "Events").
        cdef Event* e = self._ev(EV_REJECTED, ts)
        e.market = <int32_t>mid if INT32_MIN <= mid <= INT32_MAX else -1
        e.user = <int32_t>uid if INT32_MIN <= uid <= INT32_MAX else -1
        e.oid = oid
        e.side = <int16_t>side if INT16_MIN <= side <= INT16_MAX else -1
        e.outcome = <int16_t>outcome if INT16_MIN <= outcome <= INT16_MAX else -1
        e.price = <int32_t>price if INT32_MIN <= price <= INT32_MAX else -1
        e.qty = qty
        e.code = <int16_t>code
        e.aux = cmd

    # ------------------------------------------------------- level helpers

    @cython.final
    cdef inline void _touch(self, Market* m, int64_t mid, int32_t bside,
                     int32_t idx) noexcept nogil:
        # Remember a level whose total changed, once per command.  Capacity
        # for every level of every market is reserved in create_market.
        cdef Level* lvl = &m.levels[bside * m.nlevels + idx]
        if lvl.touched:
            return
        lvl.touched = 1
        self.touched[self.n_touched] = (mid << 24) | (bside << 20) | idx
        self.n_touched += 1

    @cython.final
    cdef void _emit_levels(self, int64_t ts) noexcept nogil:
        cdef int64_t k, key, mid
        cdef int32_t bside, idx
        cdef Market* m
        cdef Level* lvl
        cdef Event* e
        for k in range(self.n_touched):
            key = self.touched[k]
            mid = key >> 24
            bside = <int32_t>((key >> 20) & 1)
            idx = <int32_t>(key & 0xFFFFF)
            m = &self.markets[mid]
            lvl = &m.levels[bside * m.nlevels + idx]
            lvl.touched = 0
            e = self._ev(EV_LEVEL, ts)
            e.market = mid
            e.side = bside
            e.price = (idx + 1) * m.tick
            e.qty = lvl.total
            e.aux = lvl.count
        self.n_touched = 0

    @cython.final
    cdef inline void _level_push(self, slot_t s) noexcept nogil:
        # Append a slot to the tail of its level (its fields are set).
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        cdef int32_t idx = o.yprice // m.tick - 1
        cdef Level* lvl = &m.levels[o.bside * m.nlevels + idx]
        o.next = -1
        o.prev = lvl.tail
        if lvl.tail >= 0:
            self.orders[lvl.tail].next = s
        else:
            lvl.head = s
        lvl.tail = s
        lvl.total += o.qty
        lvl.count += 1
        m.n_orders += 1
        if lvl.count == 1:
            bit_set(m.bits + o.bside * m.nwords, idx)
            if o.bside == BOOK_BID:
                if idx > m.best_bid:
                    m.best_bid = idx
            elif idx < m.best_ask:
                m.best_ask = idx

    @cython.final
    cdef inline void _level_remove(self, slot_t s) noexcept nogil:
        # Take a slot off its level; its remaining qty leaves the level total.
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        cdef int32_t idx = o.yprice // m.tick - 1
        cdef Level* lvl = &m.levels[o.bside * m.nlevels + idx]
        if o.prev >= 0:
            self.orders[o.prev].next = o.next
        else:
            lvl.head = o.next
        if o.next >= 0:
            self.orders[o.next].prev = o.prev
        else:
            lvl.tail = o.prev
        lvl.total -= o.qty
        lvl.count -= 1
        m.n_orders -= 1
        if lvl.count == 0:
            bit_clear(m.bits + o.bside * m.nwords, idx)
            if o.bside == BOOK_BID:
                if m.best_bid == idx:
                    m.best_bid = bit_next_down(m.bits, idx)
            elif m.best_ask == idx:
                m.best_ask = bit_next_up(m.bits + m.nwords, m.nwords, idx,
                                         m.nlevels)

    @cython.final
    cdef inline void _order_free(self, slot_t s) noexcept nogil:
        # Forget a live order that is off its level: user list, id maps, slot.
        cdef Order* o = &self.orders[s]
        cdef User* u = &self.users[o.uid]
        if o.uprev >= 0:
            self.orders[o.uprev].unext = o.unext
        else:
            u.head = o.unext
        if o.unext >= 0:
            self.orders[o.unext].uprev = o.uprev
        else:
            u.tail = o.uprev
        u.n_orders -= 1
        im_del(&self.oid_map, o.oid)
        if o.client_id != 0:
            im_del(&self.cid_map, (<uint64_t>o.client_id << 32) | o.uid)
        if o.tif == TIF_GTD:
            self.n_gtd -= 1
        o.oid = 0
        o.next = self.free_head
        self.free_head = s
        self.n_live -= 1

    @cython.final
    cdef void _unlock(self, Order* o, qty_t q) noexcept nogil:
        # Release what `q` units of a resting order hold locked.
        cdef Market* m = &self.markets[o.mid]
        cdef User* u
        cdef Position* p
        cdef amount_t a
        cdef price_t own
        if o.action == SIDE_BUY:
            u = &self.users[o.uid]
            own = _own(o.outcome, o.yprice, m.payout)
            a = (<amount_t>own + _fee_unit(m, own)) * q
            u.locked -= a
            u.avail += a
        else:
            p = &self.positions[o.pos]
            p.locked[o.outcome] -= q
            p.avail[o.outcome] += q

    @cython.final
    cdef void _cancel_slot(self, slot_t s, int64_t reason, int64_t ts) noexcept nogil:
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        cdef Event* e
        self._unlock(o, o.qty)
        e = self._ev(EV_CANCELED, ts)
        e.market = o.mid
        e.user = o.uid
        e.oid = <int64_t>o.oid
        e.side = o.action
        e.outcome = o.outcome
        e.price = _own(o.outcome, o.yprice, m.payout)
        e.qty = o.qty
        e.code = reason
        e.price2 = o.yprice
        e.aux = o.bside
        self._touch(m, o.mid, o.bside, o.yprice // m.tick - 1)
        self._level_remove(s)
        self._order_free(s)

    @cython.final
    cdef void _cancel_market(self, int64_t mid, int64_t reason, int64_t ts,
                             uint64_t* pairs) noexcept nogil:
        # Cancel every resting order of a market in ascending id order;
        # `pairs` has room for 2 * m.n_orders ids (allocated before any change).
        cdef Market* m = &self.markets[mid]
        cdef int64_t n = m.n_orders, k = 0
        cdef int32_t idx, side
        cdef slot_t s
        for side in range(2):
            for idx in range(m.nlevels):
                s = m.levels[side * m.nlevels + idx].head
                while s >= 0:
                    pairs[2 * k] = self.orders[s].oid
                    pairs[2 * k + 1] = <uint64_t>s
                    k += 1
                    s = self.orders[s].next
        qsort(pairs, <size_t>n, 2 * sizeof(uint64_t), probo_cmp_u64)
        for k in range(n):
            self._cancel_slot(<slot_t>pairs[2 * k + 1], reason, ts)

    # ------------------------------------------------------------- expiry

    @cython.final
    cdef int _heap_push(self, int64_t ts, oid_t oid) noexcept nogil:
        # Capacity was reserved by the caller (_reserve).
        cdef int64_t i = self.n_heap, parent
        cdef Expiry item
        item.ts = ts
        item.oid = oid
        self.n_heap += 1
        while i > 0:
            parent = (i - 1) >> 1
            if (self.heap[parent].ts < ts or
                    (self.heap[parent].ts == ts and self.heap[parent].oid < oid)):
                break
            self.heap[i] = self.heap[parent]
            i = parent
        self.heap[i] = item
        return 0

    @cython.final
    cdef void _heap_sift_down(self, int64_t i) noexcept nogil:
        cdef int64_t n = self.n_heap, c
        cdef Expiry item = self.heap[i]
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and (self.heap[c + 1].ts < self.heap[c].ts or (
                    self.heap[c + 1].ts == self.heap[c].ts
                    and self.heap[c + 1].oid < self.heap[c].oid)):
                c += 1
            if (item.ts < self.heap[c].ts or
                    (item.ts == self.heap[c].ts and item.oid < self.heap[c].oid)):
                break
            self.heap[i] = self.heap[c]
            i = c
        self.heap[i] = item

    @cython.final
    cdef int64_t _expire(self, int64_t ts) noexcept nogil:
        # Cancel due GTD orders in (expire_ts, oid) order; entries whose order
        # is gone are stale and dropped.
        cdef int64_t n = 0
        cdef Expiry top
        cdef slot_t s
        while self.n_heap > 0 and self.heap[0].ts <= ts:
            top = self.heap[0]
            self.n_heap -= 1
            if self.n_heap > 0:
                self.heap[0] = self.heap[self.n_heap]
                self._heap_sift_down(0)
            s = im_get(&self.oid_map, top.oid)
            if s >= 0 and self.orders[s].tif == TIF_GTD and \
                    self.orders[s].expire_ts == top.ts:
                self._cancel_slot(s, CANCEL_EXPIRED, ts)
                n += 1
        if n:
            self._emit_levels(ts)
        return n

    @cython.final
    cdef void _heap_compact(self) noexcept nogil:
        # Drop stale entries once they outnumber the live GTD orders, so the
        # heap stays proportional to what rests (flat memory).
        cdef int64_t i, k = 0
        cdef slot_t s
        for i in range(self.n_heap):
            s = im_get(&self.oid_map, self.heap[i].oid)
            if s >= 0 and self.orders[s].tif == TIF_GTD and \
                    self.orders[s].expire_ts == self.heap[i].ts:
                self.heap[k] = self.heap[i]
                k += 1
        self.n_heap = k
        i = k // 2 - 1
        while i >= 0:
            self._heap_sift_down(i)
            i -= 1

    # ------------------------------------------------------------- ledger

    @cython.final
    cdef pos_t _pos_find(self, int64_t uid, int64_t mid) noexcept nogil:
        return im_get(&self.pos_map, ((<uint64_t>uid << 32) | <uint64_t>mid) + 1)

    @cython.final
    cdef pos_t _pos_make(self, int64_t uid, int64_t mid) noexcept nogil:
        # Find or create the (user, market) position; -1 when out of memory.
        cdef uint64_t key = ((<uint64_t>uid << 32) | <uint64_t>mid) + 1
        cdef pos_t p = im_get(&self.pos_map, key)
        cdef Position* r
        if p >= 0:
            return p
        if im_reserve(&self.pos_map, 1) != 0:
            return -1
        if _grow(<void**>&self.positions, &self.cap_pos, self.n_pos + 1,
                 sizeof(Position)) != 0:
            return -1
        p = <pos_t>self.n_pos
        r = &self.positions[p]
        memset(r, 0, sizeof(Position))
        r.uid = <uint32_t>uid
        r.mid = <uint32_t>mid
        self.n_pos += 1
        im_insert_nogrow(&self.pos_map, key, p)
        return p

    @cython.final
    cdef inline int _reserve_order(self, int tif, int64_t client_id) noexcept nogil:
        # Room for one more resting order in every structure it enters (only
        # the ones it can enter: this runs for every order).
        if tif != TIF_GTC and tif != TIF_GTD:
            return 0
        if self.free_head < 0 and self._grow_arena() != 0:
            return -1
        if (self.oid_map.size + 1) * 2 > self.oid_map.cap and \
                im_reserve(&self.oid_map, 1) != 0:
            return -1
        if client_id != 0 and im_reserve(&self.cid_map, 1) != 0:
            return -1
        if tif == TIF_GTD:
            if self.n_heap > 2 * self.n_gtd + 64:
                self._heap_compact()
            if _grow(<void**>&self.heap, &self.cap_heap, self.n_heap + 1,
                     sizeof(Expiry)) != 0:
                return -1
        return 0

    @cython.final
    cdef int _grow_arena(self) noexcept nogil:
        cdef int64_t cap = self.cap_orders
        cdef int64_t i
        if _grow(<void**>&self.orders, &cap, cap + 1, sizeof(Order)) != 0:
            return -1
        # new slots go on the free list in ascending order
        for i in range(cap - 1, self.cap_orders - 1, -1):
            self.orders[i].oid = 0
            self.orders[i].next = self.free_head
            self.free_head = <slot_t>i
        self.cap_orders = <slot_t>cap
        return 0

    # ----------------------------------------------------------- matching

    @cython.final
    cdef bint _crosses(self, Market* m, int bside, price_t yprice) noexcept nogil:
        # Does the best opposite level cross a YES limit price?
        if bside == BOOK_BID:
            return m.best_ask < m.nlevels and (m.best_ask + 1) * m.tick <= yprice
        return m.best_bid >= 0 and (m.best_bid + 1) * m.tick >= yprice

    @cython.final
    cdef qty_t _fillable(self, Market* m, Taker* t, qty_t need) noexcept nogil:
        # What a FOK order could fill now, walking crossing orders in priority
        # order as _match would; stops as soon as `need` is reached.
        cdef qty_t got = 0, q, a
        cdef int32_t idx
        cdef slot_t s
        cdef Order* o
        cdef int32_t opp = 1 - t.bside
        cdef int32_t limit_idx = t.yprice // m.tick - 1
        cdef amount_t budget = t.lump
        cdef price_t e
        idx = m.best_ask if t.bside == BOOK_BID else m.best_bid
        while True:
            if t.bside == BOOK_BID:
                if idx >= m.nlevels or idx > limit_idx:
                    return got
            elif idx < 0 or idx < limit_idx:
                return got
            s = m.levels[opp * m.nlevels + idx].head
            while s >= 0:
                o = &self.orders[s]
                if o.uid == t.uid:
                    if t.stp != STP_CANCEL_MAKER:
                        return got
                else:
                    q = need - got if need - got < o.qty else o.qty
                    if t.budget:
                        e = _own(t.outcome, o.yprice, m.payout)
                        a = probo_affordable(q, e, budget, m.taker_fee, m.payout,
                                             m.fee_mode)
                        budget -= a * e + probo_fee(m.taker_fee, a, e, m.payout,
                                                    m.fee_mode, 1)
                        got += a
                        if a < q:
                            return got
                    else:
                        got += q
                    if got >= need:
                        return got
                s = o.next
            if t.bside == BOOK_BID:
                idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1, m.nlevels)
            else:
                idx = bit_next_down(m.bits, idx - 1)

    @cython.final
    cdef inline void _match(self, Market* m, Taker* t, int64_t ts) noexcept nogil:
        # Match the incoming order against the opposite side (semantics.md
        # "place", step 3) and settle each fill for both parties.
        cdef int32_t opp = 1 - t.bside
        cdef int32_t limit_idx = t.yprice // m.tick - 1
        cdef int32_t idx
        cdef slot_t s
        cdef Order* mk
        cdef Level* lvl
        cdef Event* e
        cdef User* tu = &self.users[t.uid]
        cdef User* mu
        cdef Position* tp
        cdef Position* mp
        cdef qty_t q
        cdef price_t x = 0, te, me
        cdef amount_t tfee, mfee, mfu
        cdef bint traded = False
        while t.left > 0:
            if t.bside == BOOK_BID:
                idx = m.best_ask
                if idx >= m.nlevels or idx > limit_idx:
                    break
            else:
                idx = m.best_bid
                if idx < 0 or idx < limit_idx:
                    break
            lvl = &m.levels[opp * m.nlevels + idx]
            s = lvl.head
            mk = &self.orders[s]
            if mk.next >= 0:
                # the next maker is likely next: start loading its slot now
                probo_prefetch(&self.orders[mk.next])
            if mk.uid == t.uid:
                # Self-trade prevention: never a fill between one user's orders.
                if t.stp == STP_CANCEL_TAKER:
                    t.stopped = True
                    break
                self._cancel_slot(s, CANCEL_SELF_TRADE, ts)
                if t.stp == STP_CANCEL_BOTH:
                    t.stopped = True
                    break
                continue
            te = _own(t.outcome, mk.yprice, m.payout)
            me = _own(mk.outcome, mk.yprice, m.payout)
            q = t.left if t.left < mk.qty else mk.qty
            if t.budget:
                q = probo_affordable(q, te, t.lump, m.taker_fee, m.payout,
                                     m.fee_mode)
                if q == 0:
                    break
            x = mk.yprice
            tfee = 0
            mfee = 0
            if m.taker_fee != 0:
                tfee = probo_fee(m.taker_fee, q, te, m.payout, m.fee_mode, 1)
            # taker: a buy spends from its lump lock, a sell is paid net of fee
            tp = &self.positions[t.pos]
            if t.action == SIDE_BUY:
                t.lump -= q * te + tfee
                tu.locked -= q * te + tfee
                tp.avail[t.outcome] += q
            else:
                tp.locked[t.outcome] -= q
                tu.avail += q * te - tfee
            self.fee_balance += tfee
            # maker: pays its maker fee, or is paid a capped rebate
            if m.maker_fee > 0:
                mfee = probo_fee(m.maker_fee, q, me, m.payout, m.fee_mode, 1)
            elif m.maker_fee < 0:
                mfee = -probo_fee(-m.maker_fee, q, me, m.payout, m.fee_mode, 0)
                if -mfee > self.fee_balance:
                    mfee = -self.fee_balance
            self.fee_balance += mfee
            mu = &self.users[mk.uid]
            mp = &self.positions[mk.pos]
            if mk.action == SIDE_BUY:
                mfu = _fee_unit(m, me)
                mu.locked -= q * (me + mfu)
                mu.avail += q * mfu - mfee
                mp.avail[mk.outcome] += q
            else:
                mp.locked[mk.outcome] -= q
                mu.avail += q * me - mfee
            mk.qty -= q
            lvl.total -= q
            t.left -= q
            self.filled += q
            traded = True
            e = self._ev(EV_FILL, ts)
            e.market = t.mid
            e.user = t.uid
            e.oid = <int64_t>t.oid
            e.side = t.action
            e.outcome = t.outcome
            e.price = x
            e.qty = q
            if t.action == SIDE_BUY and mk.action == SIDE_BUY:
                e.code = FILL_MINT
                m.outstanding += q
            elif t.action == SIDE_SELL and mk.action == SIDE_SELL:
                e.code = FILL_MERGE
                m.outstanding -= q
            else:
                e.code = FILL_TRANSFER
            e.user2 = mk.uid
            e.oid2 = <int64_t>mk.oid
            e.price2 = te
            e.aux = mk.qty
            e.fee = tfee
            e.fee2 = mfee
            self._touch(m, t.mid, opp, idx)
            if mk.qty == 0:
                self._level_remove(s)
                self._order_free(s)
        if traded:
            m.last_price = x

    @cython.final
    cdef inline bint _finish(self, Market* m, Taker* t, slot_t s, int64_t ts) noexcept nogil:
        # After matching: rest the remainder in slot `s` (fields set by the
        # caller) or cancel it, and settle the buy's lump lock.  Returns True
        # if the order rests.
        cdef User* u = &self.users[t.uid]
        cdef Position* p = &self.positions[t.pos]
        cdef amount_t keep = 0
        cdef Event* e
        cdef bint rests = t.left > 0 and not t.stopped and (
            t.tif == TIF_GTC or t.tif == TIF_GTD)
        if rests:
            self.orders[s].qty = t.left
            self._level_push(s)
            self._touch(m, t.mid, t.bside, t.yprice // m.tick - 1)
            keep = t.left * (<amount_t>t.price + t.fee_unit)
        elif t.left > 0:
            if t.action == SIDE_SELL:
                p.locked[t.outcome] -= t.left
                p.avail[t.outcome] += t.left
            e = self._ev(EV_CANCELED, ts)
            e.market = t.mid
            e.user = t.uid
            e.oid = <int64_t>t.oid
            e.side = t.action
            e.outcome = t.outcome
            e.price = t.price
            e.qty = t.left
            e.code = CANCEL_SELF_TRADE if t.stopped else CANCEL_IOC
            e.price2 = t.yprice
            e.aux = t.bside
        if t.action == SIDE_BUY:
            # unused lock (price improvement, fee reserve, remainder) returns
            u.locked -= t.lump - keep
            u.avail += t.lump - keep
            t.lump = keep
        return rests

    @cython.final
    cdef int64_t _place(self, int64_t uid, int64_t mid, int action, int outcome,
                        int64_t price, int64_t qty, int tif, int stp, int64_t ts,
                        int flags, int64_t client_id, int64_t expire_ts,
                        int64_t max_cost) noexcept nogil:
        # Returns the new order id, -reason if refused, or ERR_NOMEM before any
        # change.  Validation first, then mutation (semantics.md "place").
        cdef Market* m
        cdef User* u
        cdef Position* p
        cdef Taker t
        cdef slot_t s
        cdef Order* o
        cdef Event* e
        cdef amount_t worst
        cdef int64_t code = 0
        cdef bint market_order = (flags & FLAG_MARKET) != 0

        if market_order and 0 <= mid < self.n_markets:
            # the worst price of the grid, reported by any rejection too
            m = &self.markets[mid]
            price = m.payout - m.tick if action == SIDE_BUY else m.tick
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        elif mid < 0 or mid >= self.n_markets:
            code = REJ_UNKNOWN_MARKET
        else:
            m = &self.markets[mid]
            u = &self.users[uid]
            if market_order:
                price = m.payout - m.tick if action == SIDE_BUY else m.tick
            if m.status != MARKET_OPEN:
                code = REJ_MARKET_NOT_OPEN
            elif qty <= 0 or qty > self.max_qty:
                code = REJ_INVALID_QTY
            elif qty < m.min_qty:
                code = REJ_BELOW_MIN_QTY
            elif price < m.tick or price > m.payout - m.tick or price % m.tick != 0:
                code = REJ_PRICE_OFF_GRID
            elif tif == TIF_GTD and expire_ts <= ts:
                code = REJ_INVALID_EXPIRY
            elif client_id != 0 and im_get(
                    &self.cid_map, (<uint64_t>client_id << 32) | <uint64_t>uid) >= 0:
                code = REJ_DUPLICATE_CLIENT_ID
            elif ((tif == TIF_GTC or tif == TIF_GTD) and self.max_open > 0
                    and u.n_orders >= self.max_open):
                code = REJ_TOO_MANY_ORDERS
        if code == 0:
            t.uid = uid
            t.mid = mid
            t.action = action
            t.outcome = outcome
            t.bside = _book_side(action, outcome)
            t.tif = tif
            t.stp = stp
            t.flags = flags
            t.price = <price_t>price
            t.yprice = _own(outcome, <price_t>price, m.payout)
            t.left = qty
            t.stopped = False
            t.budget = False
            t.lump = 0
            t.fee_unit = 0
            t.pos = self._pos_find(uid, mid)
            if action == SIDE_BUY:
                t.fee_unit = _fee_unit(m, t.price)
                t.lump = qty * (<amount_t>price + t.fee_unit)
                if market_order and max_cost > 0 and max_cost < t.lump:
                    t.lump = max_cost
                    t.budget = True
                if u.avail < t.lump:
                    code = REJ_INSUFFICIENT_FUNDS
            elif t.pos < 0 or self.positions[t.pos].avail[outcome] < qty:
                code = REJ_INSUFFICIENT_SHARES
        if code == 0 and tif == TIF_FOK and self._fillable(m, &t, qty) < qty:
            code = REJ_FOK_NOT_FILLABLE
        if code == 0 and flags & FLAG_POST_ONLY and self._crosses(m, t.bside, t.yprice):
            code = REJ_POST_ONLY_WOULD_CROSS
        if code != 0:
            self._reject(CMD_PLACE, code, mid, uid, 0, action, outcome, price,
                         qty, ts)
            return -code

        # Reserve everything a resting remainder could need, so nothing below
        # can fail half-way (events aside, see _ev).
        if t.pos < 0:
            t.pos = self._pos_make(uid, mid)
            if t.pos < 0:
                return ERR_NOMEM
        if self._reserve_order(tif, client_id) != 0:
            return ERR_NOMEM

        p = &self.positions[t.pos]
        if action == SIDE_BUY:
            u.avail -= t.lump
            u.locked += t.lump
        else:
            p.avail[outcome] -= qty
            p.locked[outcome] += qty
        t.oid = self.next_oid
        self.next_oid += 1
        e = self._ev(EV_ACCEPTED, ts)
        e.market = mid
        e.user = uid
        e.oid = <int64_t>t.oid
        e.side = action
        e.outcome = outcome
        e.price = price
        e.qty = qty
        e.code = tif
        e.user2 = client_id
        e.oid2 = expire_ts
        e.price2 = t.yprice
        e.aux = t.bside | (flags << 1)

        self._match(m, &t, ts)
        s = self.free_head
        if t.left > 0 and not t.stopped and (tif == TIF_GTC or tif == TIF_GTD):
            # fill the reserved slot before _finish pushes it on its level
            o = &self.orders[s]
            self.free_head = o.next
            o.oid = t.oid
            o.expire_ts = expire_ts
            o.uid = <uint32_t>uid
            o.mid = <uint32_t>mid
            o.client_id = <uint32_t>client_id
            o.pos = t.pos
            o.yprice = t.yprice
            o.action = <uint8_t>action
            o.outcome = <uint8_t>outcome
            o.bside = <uint8_t>t.bside
            o.tif = <uint8_t>tif
            o.stp = <uint8_t>stp
            o.flags = <uint8_t>(flags & FLAG_POST_ONLY)
            o.unext = -1
            o.uprev = u.tail
            if u.tail >= 0:
                self.orders[u.tail].unext = s
            else:
                u.head = s
            u.tail = s
            u.n_orders += 1
            im_insert_nogrow(&self.oid_map, t.oid, s)
            if client_id != 0:
                im_insert_nogrow(&self.cid_map,
                                 (<uint64_t>client_id << 32) | <uint64_t>uid, s)
            if tif == TIF_GTD:
                self.n_gtd += 1
                self._heap_push(expire_ts, t.oid)
            self.n_live += 1
        self._finish(m, &t, s, ts)
        self._emit_levels(ts)
        return <int64_t>t.oid

    @cython.final
    cdef int64_t _amend(self, int64_t uid, int64_t oid, int64_t price, int64_t qty,
                        int64_t ts) noexcept nogil:
        # semantics.md "amend": in place (priority kept) or re-entry at the back.
        cdef slot_t s = -1
        cdef Order* o
        cdef Market* m
        cdef User* u
        cdef Position* p
        cdef Taker t
        cdef Event* e
        cdef int64_t code = 0
        cdef price_t yprice, old_price
        cdef amount_t held = 0, need = 0, fu = 0
        cdef qty_t old_qty, diff
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        else:
            if oid > 0:
                s = im_get(&self.oid_map, <uint64_t>oid)
            if s < 0 or self.orders[s].uid != uid:
                code = REJ_UNKNOWN_ORDER
        if code == 0:
            o = &self.orders[s]
            m = &self.markets[o.mid]
            u = &self.users[uid]
            p = &self.positions[o.pos]
            old_price = _own(o.outcome, o.yprice, m.payout)
            if m.status != MARKET_OPEN:
                code = REJ_MARKET_NOT_OPEN
            elif qty <= 0 or qty > self.max_qty:
                code = REJ_INVALID_QTY
            elif qty < m.min_qty:
                code = REJ_BELOW_MIN_QTY
            elif price < m.tick or price > m.payout - m.tick or price % m.tick != 0:
                code = REJ_PRICE_OFF_GRID
        if code == 0:
            yprice = _own(o.outcome, <price_t>price, m.payout)
            if yprice != o.yprice or qty > o.qty:
                if o.action == SIDE_BUY:
                    fu = _fee_unit(m, <price_t>price)
                    held = o.qty * (<amount_t>old_price + _fee_unit(m, old_price))
                    need = qty * (<amount_t>price + fu)
                    if need - held > u.avail:
                        code = REJ_INSUFFICIENT_FUNDS
                elif qty - o.qty > p.avail[o.outcome]:
                    code = REJ_INSUFFICIENT_SHARES
                if code == 0 and o.flags & FLAG_POST_ONLY and self._crosses(
                        m, o.bside, yprice):
                    code = REJ_POST_ONLY_WOULD_CROSS
        if code != 0:
            self._reject(CMD_AMEND, code, 0, uid, oid, 0, 0, price, qty, ts)
            return -code

        old_qty = o.qty
        e = self._ev(EV_AMENDED, ts)
        e.market = o.mid
        e.user = uid
        e.oid = oid
        e.side = o.action
        e.outcome = o.outcome
        e.price = price
        e.qty = qty
        e.price2 = old_price
        e.aux = old_qty
        if yprice == o.yprice and qty <= o.qty:
            e.code = 1
            diff = o.qty - qty
            if diff > 0:
                self._unlock(o, diff)
                m.levels[o.bside * m.nlevels + o.yprice // m.tick - 1].total -= diff
                o.qty = qty
                self._touch(m, o.mid, o.bside, o.yprice // m.tick - 1)
            self._emit_levels(ts)
            return 0

        # Re-entry: off the level, locks recomputed, matched as a taker, and
        # whatever is left rests at the back under the same id.
        self._touch(m, o.mid, o.bside, o.yprice // m.tick - 1)
        self._level_remove(s)
        if o.action == SIDE_BUY:
            u.locked += need - held
            u.avail -= need - held
        else:
            p.locked[o.outcome] += qty - o.qty
            p.avail[o.outcome] -= qty - o.qty
        o.yprice = yprice
        t.uid = uid
        t.mid = o.mid
        t.oid = o.oid
        t.pos = o.pos
        t.action = o.action
        t.outcome = o.outcome
        t.bside = o.bside
        t.tif = o.tif
        t.stp = o.stp
        t.flags = o.flags
        t.price = <price_t>price
        t.yprice = yprice
        t.left = qty
        t.lump = need
        t.fee_unit = fu
        t.budget = False
        t.stopped = False
        self._match(m, &t, ts)
        if not self._finish(m, &t, s, ts):
            self._order_free(s)
        self._emit_levels(ts)
        return 0

    @cython.final
    cdef int64_t _cancel(self, int64_t uid, int64_t oid, int64_t ts) noexcept nogil:
        cdef slot_t s = -1
        cdef int64_t code = 0
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        else:
            if oid > 0:
                s = im_get(&self.oid_map, <uint64_t>oid)
            if s < 0 or self.orders[s].uid != uid:
                code = REJ_UNKNOWN_ORDER
        if code != 0:
            self._reject(CMD_CANCEL, code, 0, uid, oid, 0, 0, 0, 0, ts)
            return -code
        self._cancel_slot(s, CANCEL_USER, ts)
        self._emit_levels(ts)
        return 0

    @cython.final
    cdef int64_t _cancel_all(self, int64_t uid, int64_t mid, int64_t ts) noexcept nogil:
        # The user's list is in ascending id order already; mid < 0: all.
        cdef int64_t code = 0, n = 0
        cdef slot_t s, nxt
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        elif mid >= self.n_markets:
            code = REJ_UNKNOWN_MARKET
        if code != 0:
            self._reject(CMD_CANCEL_ALL, code, mid, uid, 0, 0, 0, 0, 0, ts)
            return -code
        s = self.users[uid].head
        while s >= 0:
            nxt = self.orders[s].unext
            if mid < 0 or self.orders[s].mid == mid:
                self._cancel_slot(s, CANCEL_USER, ts)
                n += 1
            s = nxt
        self._emit_levels(ts)
        return n

    @cython.final
    cdef int64_t _cash(self, int64_t uid, int64_t amount, bint deposit,
                       int64_t ts) noexcept nogil:
        cdef int64_t code = 0
        cdef User* u
        cdef Event* e
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        elif amount <= 0:
            code = REJ_INVALID_AMOUNT
        elif deposit:
            u = &self.users[uid]
            if amount > MAX_TOTAL_CASH - self.net_cash or (
                    self.max_balance > 0
                    and amount > self.max_balance - u.avail - u.locked):
                code = REJ_CASH_LIMIT
        elif self.users[uid].avail < amount:
            code = REJ_INSUFFICIENT_FUNDS
        if code != 0:
            self._reject(CMD_DEPOSIT if deposit else CMD_WITHDRAW, code, 0, uid,
                         0, 0, 0, 0, amount, ts)
            return -code
        u = &self.users[uid]
        if not deposit:
            amount = -amount
        u.avail += amount
        self.net_cash += amount
        e = self._ev(EV_CASH, ts)
        e.user = uid
        e.qty = amount
        e.aux = u.avail
        return 0

    @cython.final
    cdef int64_t _pair(self, int64_t uid, int64_t mid, int64_t qty, bint mint,
                       int64_t ts) noexcept nogil:
        # mint: payout*qty cash -> qty YES + qty NO; merge: the reverse.
        cdef int64_t code = 0
        cdef Market* m
        cdef pos_t p = -1
        cdef Position* r
        cdef User* u
        cdef Event* e
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        elif mid < 0 or mid >= self.n_markets:
            code = REJ_UNKNOWN_MARKET
        else:
            m = &self.markets[mid]
            if (m.status != MARKET_OPEN if mint else m.status == MARKET_RESOLVED):
                code = REJ_MARKET_NOT_OPEN
            elif qty <= 0 or qty > self.max_qty:
                code = REJ_INVALID_QTY
            elif mint:
                if self.users[uid].avail < qty * <amount_t>m.payout:
                    code = REJ_INSUFFICIENT_FUNDS
            else:
                p = self._pos_find(uid, mid)
                if p < 0 or self.positions[p].avail[0] < qty or \
                        self.positions[p].avail[1] < qty:
                    code = REJ_INSUFFICIENT_SHARES
        if code != 0:
            self._reject(CMD_MINT if mint else CMD_MERGE, code, mid, uid, 0, 0, 0,
                         0, qty, ts)
            return -code
        p = self._pos_make(uid, mid)
        if p < 0:
            return ERR_NOMEM
        r = &self.positions[p]
        u = &self.users[uid]
        if mint:
            u.avail -= qty * <amount_t>m.payout
            r.avail[0] += qty
            r.avail[1] += qty
            m.outstanding += qty
        else:
            u.avail += qty * <amount_t>m.payout
            r.avail[0] -= qty
            r.avail[1] -= qty
            m.outstanding -= qty
        e = self._ev(EV_PAIR, ts)
        e.market = mid
        e.user = uid
        e.price = m.payout
        e.qty = qty
        e.code = 1 if mint else 2
        e.aux = u.avail
        return 0

    @cython.final
    cdef int64_t _status(self, int64_t mid, int64_t cmd, int64_t yes_value,
                         int64_t ts) noexcept nogil:
        # halt / resume / close / resolve (semantics.md "Market lifecycle").
        cdef int64_t code = 0, st, reason = 0, k, n = 0
        cdef Market* m
        cdef uint64_t* pairs = NULL
        cdef uint64_t* cbuf = NULL
        cdef Position* r
        cdef User* u
        cdef Event* e
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif mid < 0 or mid >= self.n_markets:
            code = REJ_UNKNOWN_MARKET
        else:
            m = &self.markets[mid]
            st = m.status
            if cmd == CMD_HALT and st != MARKET_OPEN:
                code = REJ_INVALID_TRANSITION
            elif cmd == CMD_RESUME and st != MARKET_HALTED:
                code = REJ_INVALID_TRANSITION
            elif cmd == CMD_CLOSE and st != MARKET_OPEN and st != MARKET_HALTED:
                code = REJ_INVALID_TRANSITION
            elif cmd == CMD_RESOLVE:
                if st == MARKET_RESOLVED:
                    code = REJ_INVALID_TRANSITION
                elif yes_value < 0 or yes_value > m.payout:
                    code = REJ_INVALID_SETTLEMENT
        if code != 0:
            self._reject(cmd, code, mid, 0, 0, 0, 0,
                         yes_value if cmd == CMD_RESOLVE else 0, 0, ts)
            return -code
        # every buffer before any change: orders to cancel, holders to pay
        cbuf = <uint64_t*>malloc(<size_t>(2 * m.n_orders + 2) * sizeof(uint64_t))
        if cbuf == NULL:
            return ERR_NOMEM
        if cmd == CMD_RESOLVE:
            # holders in ascending user id
            for k in range(self.n_pos):
                if self.positions[k].mid == mid:
                    n += 1
            if n > 0:
                pairs = <uint64_t*>malloc(<size_t>(2 * n) * sizeof(uint64_t))
                if pairs == NULL:
                    free(cbuf)
                    return ERR_NOMEM
                n = 0
                for k in range(self.n_pos):
                    if self.positions[k].mid == mid:
                        pairs[2 * n] = self.positions[k].uid
                        pairs[2 * n + 1] = <uint64_t>k
                        n += 1
                qsort(pairs, <size_t>n, 2 * sizeof(uint64_t), probo_cmp_u64)
        if cmd == CMD_HALT:
            reason = CANCEL_HALTED if m.cancel_on_halt else 0
            m.status = MARKET_HALTED
        elif cmd == CMD_RESUME:
            m.status = MARKET_OPEN
        elif cmd == CMD_CLOSE:
            reason = CANCEL_CLOSED
            m.status = MARKET_CLOSED
        else:
            reason = CANCEL_RESOLVED
            m.status = MARKET_RESOLVED
            m.yes_value = <price_t>yes_value
        if reason:
            self._cancel_market(mid, reason, ts, cbuf)
        free(cbuf)
        self._emit_levels(ts)
        if cmd == CMD_RESOLVE:
            for k in range(n):
                r = &self.positions[pairs[2 * k + 1]]
                if r.avail[0] == 0 and r.avail[1] == 0:
                    continue
                u = &self.users[r.uid]
                u.avail += (r.avail[0] * yes_value
                            + r.avail[1] * (m.payout - yes_value))
                e = self._ev(EV_SETTLEMENT, ts)
                e.market = mid
                e.user = r.uid
                e.price = yes_value
                e.qty = r.avail[0]
                e.price2 = m.payout - yes_value
                e.aux = r.avail[1]
                r.avail[0] = 0
                r.avail[1] = 0
            free(pairs)
            m.outstanding = 0
        e = self._ev(EV_MARKET, ts)
        e.market = mid
        e.price = m.payout
        e.qty = m.tick
        e.code = m.status
        if cmd == CMD_RESOLVE:
            e.price2 = yes_value
        return 0

    # ------------------------------------------------------ public commands

    def create_user(self):
        """Create a user with no cash and no shares.

        Returns
        -------
        int
            The new user id (``0, 1, 2, ...``).

        Complexity
        ----------
        Amortised O(1).

        >>> core = Core(); core.create_user(), core.create_user()
        (0, 1)
        """
        cdef User* u
        self._guard()
        if self.n_users >= MAX_USERS:
            raise ValueError(f"too many users (the limit is {MAX_USERS})")
        if self.oom:
            raise MemoryError("the core lost an event to a failed allocation")
        if _grow(<void**>&self.users, &self.cap_users, self.n_users + 1,
                 sizeof(User)) != 0:
            raise MemoryError()
        self.n_events = 0
        u = &self.users[self.n_users]
        u.avail = u.locked = 0
        u.head = u.tail = -1
        u.n_orders = 0
        self.n_users += 1
        return self.n_users - 1

    def create_market(self, payout=1000, tick=50, ts=0, taker_fee=0, maker_fee=0,
                      fee_mode=0, min_qty=1, cancel_on_halt=False):
        """Create a market with prices ``tick, 2*tick, ..., payout - tick``.

        Parameters
        ----------
        payout : int
            Value of one YES+NO pair in minor units (default 1000 paise).
        tick : int
            Price step (default 50).  ``payout % tick == 0`` and there must be
            at least one price level, and at most ``max_levels``.
        ts : int
            Caller time.
        taker_fee, maker_fee : int
            Fee rates in basis points; ``maker_fee < 0`` is a rebate.
        fee_mode : int
            ``FeeMode.BPS`` (0, of notional) or ``FeeMode.CURVE`` (1).
        min_qty : int
            Smallest order quantity.
        cancel_on_halt : bool
            Whether :meth:`halt` cancels every resting order.

        Returns
        -------
        int
            The new market id (``0, 1, ...``).

        Raises
        ------
        ValueError
            If any parameter is invalid.  Nothing changes.

        >>> Core().create_market(100, 1)
        0
        """
        cdef int64_t p = _int(payout, "payout")
        cdef int64_t t = _int(tick, "tick")
        cdef int64_t t_s = _int(ts, "ts")
        cdef int64_t tf = _int(taker_fee, "taker_fee")
        cdef int64_t mf = _int(maker_fee, "maker_fee")
        cdef int fm = _enum(fee_mode, "fee_mode", 1)
        cdef int64_t mq = _int(min_qty, "min_qty")
        cdef int64_t n, nw, need, i
        cdef Market* m
        cdef Event* e
        if cancel_on_halt is not True and cancel_on_halt is not False:
            raise TypeError("cancel_on_halt must be a bool")
        if t <= 0 or p <= 0 or p > MAX_PAYOUT or p % t != 0 or p < 2 * t:
            raise ValueError(
                f"invalid grid payout={p} tick={t}: need 0 < tick, payout % tick "
                f"== 0, payout >= 2*tick and payout <= {MAX_PAYOUT}")
        n = p // t - 1
        if n > self.max_levels:
            raise ValueError(f"{n} price levels exceed the limit of {self.max_levels}")
        if not 0 <= tf <= 10000 or not -10000 <= mf <= 10000:
            raise ValueError(f"fee rates out of range: taker_fee={tf} (0..10000), "
                             f"maker_fee={mf} (-10000..10000)")
        if not 1 <= mq <= self.max_qty:
            raise ValueError(f"min_qty={mq} must be in 1..{self.max_qty}")
        if self.n_markets >= (1 << 20):
            raise ValueError("too many markets")
        nw = (n + 63) // 64
        if t_s != 0 and t_s < self.clock_ts:
            raise ValueError(f"ts={t_s} is before the engine's clock ({self.clock_ts}): "
                             "time may not go backwards")
        self._begin(&t_s)
        # all allocations before any change
        if _grow(<void**>&self.markets, &self.cap_markets, self.n_markets + 1,
                 sizeof(Market)) != 0:
            raise MemoryError()
        need = 0
        for i in range(self.n_markets):
            need += 2 * self.markets[i].nlevels
        if _grow(<void**>&self.touched, &self.cap_touched, need + 2 * n,
                 sizeof(int64_t)) != 0:
            raise MemoryError()
        m = &self.markets[self.n_markets]
        memset(m, 0, sizeof(Market))
        m.levels = <Level*>malloc(<size_t>(2 * n) * sizeof(Level))
        m.bits = <uint64_t*>malloc(<size_t>(2 * nw) * sizeof(uint64_t))
        if m.levels == NULL or m.bits == NULL:
            free(m.levels)
            free(m.bits)
            raise MemoryError()
        for i in range(2 * n):
            m.levels[i].total = 0
            m.levels[i].head = m.levels[i].tail = -1
            m.levels[i].count = 0
            m.levels[i].touched = 0
        memset(m.bits, 0, <size_t>(2 * nw) * sizeof(uint64_t))
        m.payout = <price_t>p
        m.tick = <price_t>t
        m.nlevels = <int32_t>n
        m.nwords = <int32_t>nw
        m.best_bid = -1
        m.best_ask = <int32_t>n
        m.status = MARKET_OPEN
        m.taker_fee = <int32_t>tf
        m.maker_fee = <int32_t>mf
        m.fee_mode = fm
        m.min_qty = mq
        m.cancel_on_halt = 1 if cancel_on_halt else 0
        m.yes_value = -1
        self.n_markets += 1
        e = self._ev(EV_MARKET, t_s)
        e.market = self.n_markets - 1
        e.price = p
        e.qty = t
        e.code = MARKET_OPEN
        self._end(0)
        return self.n_markets - 1

    def deposit(self, uid, amount, ts=0):
        """Add ``amount`` to the user's available cash (the on-ramp).

        Returns
        -------
        int
            0, or -101 unknown user, -105 amount <= 0, -203 cash limit.

        >>> core = Core(); u = core.create_user(); core.deposit(u, 1000)
        0
        >>> core.balance(u)
        (1000, 0)
        """
        return self._cash_cmd(uid, amount, ts, True)

    def withdraw(self, uid, amount, ts=0):
        """Take ``amount`` from the user's available (not locked) cash.

        Returns
        -------
        int
            0, or -101 unknown user, -105 amount <= 0, -201 insufficient funds.
        """
        return self._cash_cmd(uid, amount, ts, False)

    def _cash_cmd(self, uid, amount, ts, bint deposit):
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t a = _int(amount, "amount")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cash(u_, a, deposit, t)
        self._end(r)
        return r

    def place(self, uid, mid, side, outcome, price, qty, tif=0, stp=0, ts=0,
              post_only=False, client_id=0, expire_ts=0):
        """Place a limit order; match it at once, rest or cancel the remainder.

        Parameters
        ----------
        uid, mid : int
            User and market.
        side : int
            ``Side.BUY`` (0) or ``Side.SELL`` (1).
        outcome : int
            ``Outcome.YES`` (0) or ``Outcome.NO`` (1).
        price : int
            Limit price in the order's own outcome terms, on the market's grid.
        qty : int
            Shares, ``1..max_qty`` and at least the market's ``min_qty``.
        tif : int
            ``TimeInForce`` GTC (0, default), IOC (1), FOK (2) or GTD (3).
        stp : int
            ``SelfTrade`` CANCEL_MAKER (0, default), CANCEL_TAKER (1),
            CANCEL_BOTH (2).
        ts : int
            Caller time: expires due GTD orders first; copied into events.
        post_only : bool
            Reject (303) instead of taking liquidity.  GTC/GTD only.
        client_id : int
            0, or the caller's id for the order (``1..2**32-1``), unique per
            user among live orders (106 otherwise).
        expire_ts : int
            GTD only (and required there): the order expires at this time.

        Returns
        -------
        int
            The order id (``> 0``) when accepted, else ``-RejectReason``.
            Fills and cancels are in :meth:`last_events`.

        Raises
        ------
        TypeError, ValueError, OverflowError
            On misuse (non-integers, enum values out of range, flags that do
            not go with the tif).  Nothing changes.

        Complexity
        ----------
        O(1 + fills + levels crossed); resting is O(1).

        >>> core = Core(); m = core.create_market()
        >>> a, b = core.create_user(), core.create_user()
        >>> core.deposit(a, 10_000), core.deposit(b, 10_000)
        (0, 0)
        >>> core.place(a, m, 0, 0, 600, 10)       # buy YES @ 600 x10, rests
        1
        >>> core.place(b, m, 0, 1, 400, 10)       # buy NO @ 400 x10: mint
        2
        >>> core.position(a, m), core.position(b, m)
        ((10, 0, 0, 0), (0, 0, 10, 0))
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        # the defaults are the cached small ints: skip their conversion
        cdef int t_ = 0 if tif is 0 else _enum(tif, "tif", 3)
        cdef int x_ = 0 if stp is 0 else _enum(stp, "stp", 2)
        cdef int64_t ts_ = 0 if ts is 0 else _int(ts, "ts")
        cdef int flags = 0
        cdef int64_t cid = 0, exp = 0
        cdef int64_t r
        if post_only is not False:
            if post_only is not True:
                raise TypeError("post_only must be a bool")
            if t_ != TIF_GTC and t_ != TIF_GTD:
                raise ValueError("post_only goes only with GTC or GTD")
            flags = FLAG_POST_ONLY
        if client_id is not 0:
            cid = _client_id(client_id)
        if t_ == TIF_GTD or expire_ts is not 0:
            exp = _int(expire_ts, "expire_ts")
            if (t_ == TIF_GTD) != (exp != 0):
                raise ValueError("expire_ts is required for GTD and only allowed "
                                 "with GTD")
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, p_, q_, t_, x_, ts_, flags, cid, exp, 0)
        self._end(r)
        return r

    def place_market(self, uid, mid, side, outcome, qty, max_cost=0, fok=False,
                     stp=0, ts=0, client_id=0):
        """Place a market order: IOC (or FOK) at the worst price of the grid.

        Parameters
        ----------
        qty : int
            Shares wanted.
        max_cost : int
            Buys only: a budget in cash, fees included; 0 for none.  The
            order then fills only what the budget allows.
        fok : bool
            All of ``qty`` (within the budget) or nothing (301).

        Returns
        -------
        int
            The order id, or ``-RejectReason``.
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t mc = _int(max_cost, "max_cost")
        cdef int x_ = _enum(stp, "stp", 2)
        cdef int64_t ts_ = _int(ts, "ts")
        cdef int64_t cid = 0
        cdef int64_t r
        if fok is not True and fok is not False:
            raise TypeError("fok must be a bool")
        if mc < 0 or (mc > 0 and s_ == SIDE_SELL):
            raise ValueError("max_cost must be >= 0, and 0 for a sell")
        if client_id is not 0:
            cid = _client_id(client_id)
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, 0, q_, TIF_FOK if fok else TIF_IOC, x_,
                        ts_, FLAG_MARKET, cid, 0, mc)
        self._end(r)
        return r

    def cancel(self, uid, oid, ts=0):
        """Cancel a live order of ``uid``; unlock what it held.

        Returns
        -------
        int
            0, or -101 unknown user, -302 no such live order of this user.

        Complexity
        ----------
        O(1) whatever the queue depth.
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t o_ = _int(oid, "oid")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cancel(u_, o_, t)
        self._end(r)
        return r

    def amend(self, uid, oid, price, qty, ts=0):
        """Change a live order's price and remaining quantity.

        Same price and less (or equal) quantity keeps queue priority; a new
        price or more quantity sends the order to the back of its new level,
        matching first if it now crosses.

        Returns
        -------
        int
            0, or ``-RejectReason`` (nothing changes then).
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t o_ = _int(oid, "oid")
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._amend(u_, o_, p_, q_, t)
        self._end(r)
        return r

    def cancel_all(self, uid, mid=-1, ts=0):
        """Cancel all of a user's live orders, or those in one market.

        Returns
        -------
        int
            How many were canceled, or ``-RejectReason``.
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cancel_all(u_, m_, t)
        self._end(r)
        return r

    def mint(self, uid, mid, qty, ts=0):
        """Pay ``payout * qty`` for ``qty`` YES and ``qty`` NO shares; 0 or
        ``-RejectReason``."""
        return self._pair_cmd(uid, mid, qty, ts, True)

    def merge(self, uid, mid, qty, ts=0):
        """Burn ``qty`` YES and ``qty`` NO shares for ``payout * qty`` cash; 0
        or ``-RejectReason``."""
        return self._pair_cmd(uid, mid, qty, ts, False)

    def _pair_cmd(self, uid, mid, qty, ts, bint mint):
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._pair(u_, m_, q_, mint, t)
        self._end(r)
        return r

    def halt(self, mid, ts=0):
        """OPEN -> HALTED: no new orders (cancels all if so configured); 0 or
        ``-RejectReason``."""
        return self._lifecycle(mid, CMD_HALT, 0, ts)

    def resume(self, mid, ts=0):
        """HALTED -> OPEN; 0 or ``-RejectReason``."""
        return self._lifecycle(mid, CMD_RESUME, 0, ts)

    def close(self, mid, ts=0):
        """OPEN or HALTED -> CLOSED: cancels every resting order; 0 or
        ``-RejectReason``."""
        return self._lifecycle(mid, CMD_CLOSE, 0, ts)

    def resolve(self, mid, yes_value, ts=0):
        """Settle a market: cancel its orders, pay holders, burn the shares.

        Parameters
        ----------
        yes_value : int
            What one YES share pays, ``0..payout`` (a NO share pays the
            rest): ``payout`` if YES happened, 0 if NO, ``payout // 2`` to void.

        Returns
        -------
        int
            0, or ``-RejectReason``.
        """
        return self._lifecycle(mid, CMD_RESOLVE, yes_value, ts)

    def _lifecycle(self, mid, int64_t cmd, yes_value, ts):
        cdef int64_t m_ = _int(mid, "mid")
        cdef int64_t v = _int(yes_value, "yes_value")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._status(m_, cmd, v, t)
        self._end(r)
        return r

    def expire(self, ts):
        """Expire the GTD orders due at ``ts``; return how many, or -109
        (``STALE_TIME``) if ``ts`` is before the engine's clock."""
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t n = 0
        self._guard()
        if self.oom:
            raise MemoryError("the core lost an event to a failed allocation")
        self.n_events = 0
        self.filled = 0
        if t == 0:
            t = self.clock_ts
        if t < self.clock_ts:
            self._reject(CMD_EXPIRE, REJ_STALE_TIME, 0, 0, 0, 0, 0, 0, 0, t)
            n = -REJ_STALE_TIME
        else:
            self.clock_ts = t
            if self.n_heap > 0 and self.heap[0].ts <= t:
                n = self._expire(t)
        self._end(0)
        return n

    # --------------------------------------------------------------- batch

    @cython.final
    cdef int64_t _dispatch(self, const CmdRec* c) noexcept nogil:
        # One batch command, exactly as its per-call method would run it.
        cdef int64_t k = c.kind
        cdef int64_t ts = c.ts
        self.filled = 0
        # time first, as _begin does (0: the clock; earlier: refused below)
        if ts == 0:
            ts = self.clock_ts
        if ts >= self.clock_ts:
            self.clock_ts = ts
            if self.n_heap > 0 and self.heap[0].ts <= ts:
                if k == CMD_EXPIRE:
                    return self._expire(ts)
                self._expire(ts)
        if k == CMD_EXPIRE:
            if ts < self.clock_ts:
                self._reject(CMD_EXPIRE, REJ_STALE_TIME, 0, 0, 0, 0, 0, 0, 0, ts)
                return -REJ_STALE_TIME
            return 0
        if k == CMD_PLACE:
            return self._place(c.uid, c.mid, <int>c.side, <int>c.outcome, c.price,
                               c.qty, <int>c.tif, <int>c.stp, ts,
                               FLAG_POST_ONLY if c.post_only else 0, c.client_id,
                               c.expire_ts, 0)
        if k == CMD_PLACE_MARKET:
            return self._place(c.uid, c.mid, <int>c.side, <int>c.outcome, 0, c.qty,
                               <int>c.tif, <int>c.stp, ts, FLAG_MARKET,
                               c.client_id, 0, c.max_cost)
        if k == CMD_CANCEL:
            return self._cancel(c.uid, c.oid, ts)
        if k == CMD_AMEND:
            return self._amend(c.uid, c.oid, c.price, c.qty, ts)
        if k == CMD_CANCEL_ALL:
            return self._cancel_all(c.uid, c.mid, ts)
        if k == CMD_DEPOSIT or k == CMD_WITHDRAW:
            return self._cash(c.uid, c.qty, k == CMD_DEPOSIT, ts)
        if k == CMD_MINT or k == CMD_MERGE:
            return self._pair(c.uid, c.mid, c.qty, k == CMD_MINT, ts)
        return self._status(c.mid, k, c.price, ts)

    def run_batch(self, commands, int64_t[::1] results, int64_t[::1] filled=None,
                  bint record_events=True):
        """Run packed command records in C with the GIL released.

        Parameters
        ----------
        commands : buffer
            Contiguous ``CmdRec`` records (128 bytes each, 16 little-endian
            int64 fields; ``probo_engine.batch.COMMAND_DTYPE``).
        results : int64 buffer
            Filled with what each command's per-call method would return.
        filled : int64 buffer, optional
            Filled with the quantity each incoming order filled.
        record_events : bool
            Keep the batch's events for :meth:`events_bytes` (sequence
            numbers advance either way).

        Returns
        -------
        int
            The number of commands run (all of them).

        Raises
        ------
        ValueError
            A record is malformed (unknown kind, enum out of range, flags that
            do not fit): raised before any command runs, naming the index.
        MemoryError
            Out of memory part-way: the commands before it are applied (each is
            atomic), none after.
        """
        cdef const unsigned char[::1] raw = memoryview(commands).cast("B")
        cdef Py_ssize_t n, i
        cdef const CmdRec* cmds
        cdef int64_t r = 0
        cdef bint bad = False
        cdef int prev
        if raw.shape[0] % sizeof(CmdRec):
            raise ValueError(f"commands buffer of {raw.shape[0]} bytes is not a "
                             f"whole number of {sizeof(CmdRec)}-byte records")
        n = raw.shape[0] // sizeof(CmdRec)
        if results.shape[0] < n or (filled is not None and filled.shape[0] < n):
            raise ValueError("results/filled arrays are shorter than the batch")
        if n == 0:
            self._guard()
            self.n_events = 0
            return 0
        cmds = <const CmdRec*>&raw[0]
        _check_records(cmds, n)
        self._guard()
        if self.oom:
            raise MemoryError("the core lost an event to a failed allocation")
        prev = self._enter(BUSY_BATCH)
        self.n_events = 0
        self.record = record_events
        try:
            with nogil:
                for i in range(n):
                    r = self._dispatch(&cmds[i])
                    if r == ERR_NOMEM:
                        bad = True
                        break
                    results[i] = r
                    if filled is not None:
                        filled[i] = self.filled
        finally:
            self.record = True
            self.busy = prev
        if bad:
            raise MemoryError(f"out of memory at batch command {i}: the {i} before "
                              "it are applied")
        self._end(0)
        return n

    @staticmethod
    def check_batch(commands):
        """Raise ``ValueError`` naming the first malformed record of
        ``commands`` (as :meth:`run_batch` would, before running any); return
        the number of records.  Changes nothing.  O(n), no allocation."""
        cdef const unsigned char[::1] raw = memoryview(commands).cast("B")
        cdef Py_ssize_t n
        if raw.shape[0] % sizeof(CmdRec):
            raise ValueError(f"commands buffer of {raw.shape[0]} bytes is not a "
                             f"whole number of {sizeof(CmdRec)}-byte records")
        n = raw.shape[0] // sizeof(CmdRec)
        if n:
            _check_records(<const CmdRec*>&raw[0], n)
        return n

    def events_bytes(self):
        """A copy of the packed events of the last command or batch.

        ``EVENT_SIZE`` (96) bytes per event, little-endian fields at the
        offsets of ``EVENT_LAYOUT``; numpy:
        ``np.frombuffer(core.events_bytes(), probo_engine.batch.EVENT_DTYPE)``.
        A copy, so it stays valid whatever the engine does next.
        """
        self._guard()
        if self.n_events == 0:
            return b""
        return PyBytes_FromStringAndSize(<char*>self.events,
                                         self.n_events * sizeof(Event))

    def events_into(self, unsigned char[::1] out):
        """Copy the packed events of the last command or batch into ``out``.

        ``out`` is a writable buffer of at least ``n_last_events * EVENT_SIZE``
        bytes (e.g. a reused ``EVENT_DTYPE`` array); returns the number of
        events copied.  No allocation: for batch loops that keep one buffer.
        """
        cdef size_t size = self.n_events * sizeof(Event)
        self._guard()
        if <size_t>out.shape[0] < size:
            raise ValueError(f"events_into needs {size} bytes, got {out.shape[0]}")
        if size:
            memcpy(&out[0], self.events, size)
        return self.n_events

    @property
    def last_filled(self):
        """Quantity the incoming order of the last command filled (O(1))."""
        return self.filled

    def depth_into(self, mid, int64_t[:, :, ::1] out):
        """Fill ``out[side, level] = (yes_price, qty, orders)``, best first.

        ``out`` has shape ``(2, n, 3)``: side 0 bids, 1 asks; levels beyond
        the book are zeroed.  No Python object per level.  O(n).
        """
        cdef Market* m = self._market(_int(mid, "mid"))
        cdef Py_ssize_t n = out.shape[1], k
        cdef int32_t idx
        cdef Level* lvl
        cdef int prev
        if out.shape[0] != 2 or out.shape[2] != 3:
            raise ValueError("out must have shape (2, n, 3)")
        prev = self._enter(BUSY_DEPTH)
        with nogil:
            idx = m.best_bid
            for k in range(n):
                if idx >= 0:
                    lvl = &m.levels[idx]
                    out[0, k, 0] = (idx + 1) * m.tick
                    out[0, k, 1] = lvl.total
                    out[0, k, 2] = lvl.count
                    idx = bit_next_down(m.bits, idx - 1)
                else:
                    out[0, k, 0] = out[0, k, 1] = out[0, k, 2] = 0
            idx = m.best_ask
            for k in range(n):
                if idx < m.nlevels:
                    lvl = &m.levels[m.nlevels + idx]
                    out[1, k, 0] = (idx + 1) * m.tick
                    out[1, k, 1] = lvl.total
                    out[1, k, 2] = lvl.count
                    idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1, m.nlevels)
                else:
                    out[1, k, 0] = out[1, k, 1] = out[1, k, 2] = 0
        self.busy = prev

    # ----------------------------------------------------------- snapshots

    def snapshot(self):
        """The whole state as canonical bytes (docs/snapshot.md).

        Equal states give equal bytes, whatever the history of the arena,
        the free list or the hash tables: users by id, markets by id,
        positions by (user, market) without all-zero ones, and resting
        orders market by market, bids best first then asks best first, FIFO
        within a level.  The events of the last command are not state.

        Complexity
        ----------
        O(users + markets x levels + positions + orders), one pass each.
        """
        cdef int prev = self._enter(BUSY_SNAPSHOT)
        try:
            return self._snapshot_bytes()
        finally:
            self.busy = prev

    @cython.final
    cdef bytes _snapshot_bytes(self):
        cdef int64_t n_pos = 0, n_ord = self.n_live, size, i, j, nlv = 0, at = 0
        cdef int64_t lv_cap = 0
        cdef Position* r
        cdef Market* m
        cdef Order* o
        cdef Level* lvl
        cdef unsigned char* p
        cdef unsigned char* base
        cdef unsigned char* whole
        cdef int32_t side, idx
        cdef uint64_t* keys = NULL
        cdef int64_t* lv = NULL      # (head slot, first record) per level, in output order
        cdef bint bad = False, sorted_ = True
        # one cursor per level being copied: SNAP_WAYS list walks in turn, so
        # the cache misses of the order slots overlap instead of queueing
        cdef slot_t cur[SNAP_WAYS]
        cdef int64_t left[SNAP_WAYS]
        cdef unsigned char* dst[SNAP_WAYS]
        cdef int64_t live, nxt, c
        cdef slot_t sl
        if self.oom:
            raise MemoryError("the core lost an event to a failed allocation")
        for i in range(self.n_markets):
            lv_cap += 2 * self.markets[i].nlevels
        keys = <uint64_t*>malloc(<size_t>(2 * self.n_pos + 2) * sizeof(uint64_t))
        lv = <int64_t*>malloc(<size_t>(2 * lv_cap + 2) * sizeof(int64_t))
        if keys == NULL or lv == NULL:
            free(keys)
            free(lv)
            raise MemoryError()
        with nogil:
            # positions with any shares, keyed by (uid, mid); usually already
            # in that order (a restored core keeps it), then no sort is needed
            for i in range(self.n_pos):
                r = &self.positions[i]
                if r.avail[0] or r.avail[1] or r.locked[0] or r.locked[1]:
                    keys[2 * n_pos] = (<uint64_t>r.uid << 32) | r.mid
                    keys[2 * n_pos + 1] = <uint64_t>i
                    if n_pos and keys[2 * n_pos] < keys[2 * n_pos - 2]:
                        sorted_ = False
                    n_pos += 1
            if not sorted_:
                qsort(keys, <size_t>n_pos, 2 * sizeof(uint64_t), probo_cmp_u64)
            # non-empty levels in output order, with where each one's records go
            for i in range(self.n_markets):
                m = &self.markets[i]
                for side in range(2):
                    idx = m.best_bid if side == BOOK_BID else m.best_ask
                    while 0 <= idx < m.nlevels:
                        lvl = &m.levels[side * m.nlevels + idx]
                        if nlv >= lv_cap or lvl.count <= 0:
                            bad = True
                            break
                        lv[2 * nlv] = lvl.head
                        lv[2 * nlv + 1] = at
                        at += lvl.count
                        nlv += 1
                        if side == BOOK_BID:
                            idx = bit_next_down(m.bits, idx - 1)
                        else:
                            idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1,
                                              m.nlevels)
            lv[2 * nlv] = -1
            lv[2 * nlv + 1] = at
        if bad or at != n_ord:
            free(keys)
            free(lv)
            raise InvariantError(f"level counts ({at}) disagree with the live orders "
                                 f"({n_ord})")
        size = (SNAP_HEADER + SNAP_USER * self.n_users + SNAP_MARKET * self.n_markets
                + SNAP_POSITION * n_pos + SNAP_ORDER * n_ord + 4)
        try:
            out = PyBytes_FromStringAndSize(NULL, size)
        except MemoryError:
            free(keys)
            free(lv)
            raise
        p = whole = <unsigned char*>PyBytes_AS_STRING(out)
        probo_populate(p, <size_t>size)
        memset(p, 0, SNAP_HEADER)
        memcpy(p, b"PROBOSNP", 8)   # SNAPSHOT_MAGIC
        probo_put(p + 8, SNAPSHOT_VERSION, 4)
        probo_put(p + 12, 0x01020304, 4)
        probo_put(p + 16, SNAP_HEADER, 4)
        probo_put(p + 20, SNAP_USER, 4)
        probo_put(p + 24, SNAP_MARKET, 4)
        probo_put(p + 28, SNAP_POSITION, 4)
        probo_put(p + 32, SNAP_ORDER, 4)
        probo_put(p + 40, self.seq, 8)
        probo_put(p + 48, self.next_oid, 8)
        probo_put(p + 56, <uint64_t>self.net_cash, 8)
        probo_put(p + 64, <uint64_t>self.fee_balance, 8)
        probo_put(p + 72, <uint64_t>self.max_qty, 8)
        probo_put(p + 80, <uint64_t>self.max_open, 8)
        probo_put(p + 88, <uint64_t>self.max_balance, 8)
        probo_put(p + 96, <uint64_t>self.max_levels, 8)
        probo_put(p + 104, <uint64_t>self.n_users, 4)
        probo_put(p + 108, <uint64_t>self.n_markets, 4)
        probo_put(p + 112, <uint64_t>n_pos, 8)
        probo_put(p + 120, <uint64_t>n_ord, 8)
        probo_put(p + 128, <uint64_t>self.clock_ts, 8)
        p += SNAP_HEADER
        with nogil:
            for i in range(self.n_users):
                probo_st64(p, <uint64_t>self.users[i].avail)
                probo_st64(p + 8, <uint64_t>self.users[i].locked)
                p += SNAP_USER
            for i in range(self.n_markets):
                m = &self.markets[i]
                probo_st32(p, <uint32_t>m.payout)
                probo_st32(p + 4, <uint32_t>m.tick)
                probo_st32(p + 8, <uint32_t>m.taker_fee)
                probo_st32(p + 12, <uint32_t>m.maker_fee)
                probo_st32(p + 16, <uint32_t>m.fee_mode)
                probo_st32(p + 20, <uint32_t>m.cancel_on_halt)
                probo_st32(p + 24, <uint32_t>m.status)
                probo_st32(p + 28, <uint32_t>m.last_price)
                probo_st32(p + 32, <uint32_t>m.yes_value)
                probo_st32(p + 36, 0)
                probo_st64(p + 40, <uint64_t>m.min_qty)
                probo_st64(p + 48, <uint64_t>m.outstanding)
                p += SNAP_MARKET
            for i in range(n_pos):
                r = &self.positions[keys[2 * i + 1]]
                probo_st32(p, r.uid)
                probo_st32(p + 4, r.mid)
                probo_st64(p + 8, <uint64_t>r.avail[0])
                probo_st64(p + 16, <uint64_t>r.locked[0])
                probo_st64(p + 24, <uint64_t>r.avail[1])
                probo_st64(p + 32, <uint64_t>r.locked[1])
                p += SNAP_POSITION
            free(keys)
            keys = NULL
            # orders: every level's records go to a known place, so up to
            # SNAP_WAYS FIFOs are copied at once (round robin), each cursor
            # prefetching its next slot; the walk checks each level's count
            base = p
            nxt = 0
            live = 0
            for c in range(SNAP_WAYS):
                cur[c] = -1
                left[c] = 0
                if nxt < nlv:
                    cur[c] = <slot_t>lv[2 * nxt]
                    dst[c] = base + SNAP_ORDER * lv[2 * nxt + 1]
                    left[c] = lv[2 * nxt + 3] - lv[2 * nxt + 1]
                    nxt += 1
                    live += 1
            while live > 0 and not bad:
                for c in range(SNAP_WAYS):
                    sl = cur[c]
                    if left[c] == 0:
                        continue
                    if sl < 0 or sl >= self.cap_orders:
                        bad = True
                        break
                    o = &self.orders[sl]
                    p = dst[c]
                    probo_st64(p, o.oid)
                    probo_st64(p + 8, <uint64_t>o.qty)
                    probo_st64(p + 16, <uint64_t>o.expire_ts)
                    probo_st32(p + 24, o.uid)
                    probo_st32(p + 28, o.mid)
                    probo_st32(p + 32, o.client_id)
                    probo_st32(p + 36, <uint32_t>o.yprice)
                    p[40] = o.action
                    p[41] = o.outcome
                    p[42] = o.tif
                    p[43] = o.stp
                    p[44] = o.flags
                    p[45] = p[46] = p[47] = 0
                    dst[c] = p + SNAP_ORDER
                    sl = o.next
                    left[c] -= 1
                    if left[c] == 0:
                        if sl != -1:
                            bad = True      # the FIFO is longer than its count
                            break
                        if nxt < nlv:
                            sl = <slot_t>lv[2 * nxt]
                            dst[c] = base + SNAP_ORDER * lv[2 * nxt + 1]
                            left[c] = lv[2 * nxt + 3] - lv[2 * nxt + 1]
                            nxt += 1
                        else:
                            live -= 1
                    cur[c] = sl
                    if 0 <= sl < self.cap_orders:
                        probo_prefetch(&self.orders[sl])
                        probo_prefetch(<char*>&self.orders[sl] + 64)
            p = base + SNAP_ORDER * n_ord
            free(lv)
            lv = NULL
            if not bad:
                probo_st32(p, probo_crc32(0, whole, <size_t>(size - 4)))
        if bad:
            raise InvariantError("a level's order list disagrees with its count")
        return out

    def state_hash(self):
        """A digest (BLAKE2b-128, hex) of the canonical state: equal for equal
        states in any process, whatever the history."""
        return hashlib.blake2b(self.snapshot(), digest_size=16).hexdigest()

    @staticmethod
    def _crc32(data):
        # zlib.crc32 computed by the core's own CRC (tests compare the two)
        cdef const unsigned char[::1] v = memoryview(data).cast("B")
        if v.shape[0] == 0:
            return 0
        return probo_crc32(0, &v[0], <size_t>v.shape[0])

    @staticmethod
    def _crc_simd():
        # 1 when the CRC runs on carry-less multiplication (PCLMULQDQ)
        return probo_crc_simd()

    @classmethod
    def restore(cls, data):
        """Build a new engine from :meth:`snapshot` bytes.

        Everything is validated (header, sizes, counts, CRC, every field, then
        :meth:`check_invariants`) before the new engine is returned; nothing
        is half-built.

        Raises
        ------
        SnapshotError
            On truncated, corrupt or unknown-format input.
        """
        cdef Core core
        cdef const unsigned char[::1] view
        try:
            view = memoryview(data).cast("B")
        except (TypeError, ValueError) as exc:
            raise SnapshotError(f"snapshot must be bytes-like: {exc}") from None
        core = cls()
        try:
            core._load(view)
            core.check_invariants()
        except InvariantError as exc:
            raise SnapshotError(f"snapshot state is inconsistent: {exc}") from None
        return core

    def __reduce__(self):
        return (_restore, (type(self), self.snapshot()))

    @cython.final
    cdef int _load(self, const unsigned char[::1] view) except -1:
        # Fill this fresh core from a snapshot; raises SnapshotError.  The
        # caller discards the object on any error.  Passes: header and CRC;
        # users, markets, positions (as stored); orders in stored order into
        # arena slots 0.. (FIFOs, id maps, expiry heap); then the orders
        # bucketed by user (counting sort) to link each user's list in id
        # order and give every order its position; then the position map.
        cdef Py_ssize_t size = view.shape[0]
        cdef const unsigned char* b
        cdef const unsigned char* p
        cdef int64_t nu, nm, npos, nord, i, k, need, prev_key, key
        cdef Market* m
        cdef Position* r
        cdef Order* o
        cdef User* u
        cdef slot_t s
        cdef int64_t nlev, nw, payout, tick, cap = 0, want, hdr
        cdef uint64_t version
        cdef uint32_t crc
        cdef IntMap* om = &self.oid_map
        cdef IntMap* cm = &self.cid_map
        cdef IntMap* pm = &self.pos_map
        cdef uint64_t h, mask, ck
        cdef uint64_t* ent = NULL     # per order (oid, mid << 32 | slot), by user
        cdef int64_t* stamp = NULL    # per market: last user given a position here
        cdef pos_t* pidx = NULL       # per market: that position
        cdef int64_t a, e, start, n, sp, mid
        cdef uint64_t k0, k1
        if size < SNAP_HEADER_V1 + 4:
            raise SnapshotError(f"snapshot truncated: {size} bytes")
        b = &view[0]
        if bytes(view[:8]) != SNAPSHOT_MAGIC:
            raise SnapshotError("not a probo_engine snapshot (bad magic)")
        version = probo_get(b + 8, 4)
        if version == 1:
            hdr = SNAP_HEADER_V1
        elif version == SNAPSHOT_VERSION:
            hdr = SNAP_HEADER
        else:
            raise SnapshotError(f"unknown snapshot version {version}")
        if size < hdr + 4:
            raise SnapshotError(f"snapshot truncated: {size} bytes")
        if (probo_get(b + 12, 4) != 0x01020304 or probo_get(b + 16, 4) != hdr
                or probo_get(b + 20, 4) != SNAP_USER
                or probo_get(b + 24, 4) != SNAP_MARKET
                or probo_get(b + 28, 4) != SNAP_POSITION
                or probo_get(b + 32, 4) != SNAP_ORDER):
            raise SnapshotError("snapshot layout not understood (endianness or "
                                "record sizes)")
        if probo_get(b + 36, 4):
            raise SnapshotError("snapshot header padding is not zero")
        nu = <int64_t>probo_get(b + 104, 4)
        nm = <int64_t>probo_get(b + 108, 4)
        npos = <int64_t>probo_get(b + 112, 8)
        nord = <int64_t>probo_get(b + 120, 8)
        if npos < 0 or nord < 0 or npos > size or nord > size:
            raise SnapshotError("snapshot counts out of range")
        need = (hdr + SNAP_USER * nu + SNAP_MARKET * nm
                + SNAP_POSITION * npos + SNAP_ORDER * nord + 4)
        if need != size:
            raise SnapshotError(f"snapshot length {size} != {need} for its counts")
        with nogil:
            crc = probo_crc32(0, b, <size_t>(size - 4))
        if crc != probo_ld32(b + size - 4):
            raise SnapshotError("snapshot checksum mismatch")
        if nu > MAX_USERS or nm > (1 << 20) or nord > 0x7FFFFFF0:
            raise SnapshotError("snapshot counts exceed the engine's limits")
        self.seq = probo_get(b + 40, 8)
        self.next_oid = probo_get(b + 48, 8)
        self.net_cash = <int64_t>probo_get(b + 56, 8)
        self.fee_balance = <int64_t>probo_get(b + 64, 8)
        self.max_qty = <int64_t>probo_get(b + 72, 8)
        self.max_open = <int64_t>probo_get(b + 80, 8)
        self.max_balance = <int64_t>probo_get(b + 88, 8)
        self.max_levels = <int64_t>probo_get(b + 96, 8)
        # version 1 had no clock: it starts at 0, as in a new engine
        self.clock_ts = <int64_t>probo_get(b + 128, 8) if version >= 2 else 0
        if (self.clock_ts < 0 or not 1 <= self.max_qty <= MAX_QTY or self.max_open < 0
                or self.max_balance < 0 or not 1 <= self.max_levels <= MAX_LEVELS
                or self.next_oid < 1 or self.net_cash < 0
                or self.net_cash > MAX_TOTAL_CASH or self.fee_balance < 0):
            raise SnapshotError("snapshot engine settings out of range")
        p = b + hdr
        if _grow(<void**>&self.users, &self.cap_users, nu, sizeof(User)) != 0:
            raise MemoryError()
        for i in range(nu):
            u = &self.users[i]
            u.avail = <int64_t>probo_ld64(p)
            u.locked = <int64_t>probo_ld64(p + 8)
            u.head = u.tail = -1
            u.n_orders = 0
            if u.avail < 0 or u.locked < 0 or u.avail > MAX_TOTAL_CASH \
                    or u.locked > MAX_TOTAL_CASH:
                raise SnapshotError(f"user {i}: cash out of range")
            self.n_users += 1
            p += SNAP_USER
        need = 0
        for i in range(nm):
            payout = <int64_t>probo_get(p, 4)
            tick = <int64_t>probo_get(p + 4, 4)
            if (tick <= 0 or payout <= 0 or payout > MAX_PAYOUT or payout % tick
                    or payout < 2 * tick or payout // tick - 1 > self.max_levels):
                raise SnapshotError(f"market {i}: bad grid {payout}/{tick}")
            need += 2 * (payout // tick - 1)
            p += SNAP_MARKET
        if _grow(<void**>&self.markets, &self.cap_markets, nm, sizeof(Market)) != 0 \
                or _grow(<void**>&self.touched, &self.cap_touched, need,
                         sizeof(int64_t)) != 0:
            raise MemoryError()
        p = b + hdr + SNAP_USER * nu
        for i in range(nm):
            m = &self.markets[i]
            memset(m, 0, sizeof(Market))
            m.payout = <price_t>probo_get(p, 4)
            m.tick = <price_t>probo_get(p + 4, 4)
            nlev = m.payout // m.tick - 1
            nw = (nlev + 63) // 64
            m.levels = <Level*>malloc(<size_t>(2 * nlev) * sizeof(Level))
            m.bits = <uint64_t*>malloc(<size_t>(2 * nw) * sizeof(uint64_t))
            self.n_markets += 1   # counted now so __dealloc__ frees its arrays
            if m.levels == NULL or m.bits == NULL:
                raise MemoryError()
            for k in range(2 * nlev):
                m.levels[k].total = 0
                m.levels[k].head = m.levels[k].tail = -1
                m.levels[k].count = 0
                m.levels[k].touched = 0
            memset(m.bits, 0, <size_t>(2 * nw) * sizeof(uint64_t))
            m.nlevels = <int32_t>nlev
            m.nwords = <int32_t>nw
            m.best_bid = -1
            m.best_ask = <int32_t>nlev
            m.taker_fee = <int32_t>probo_get(p + 8, 4)
            m.maker_fee = <int32_t>probo_get(p + 12, 4)
            m.fee_mode = <int32_t>probo_get(p + 16, 4)
            m.cancel_on_halt = <int32_t>probo_get(p + 20, 4)
            m.status = <int32_t>probo_get(p + 24, 4)
            m.last_price = <int32_t>probo_get(p + 28, 4)
            m.yes_value = <int32_t>probo_get(p + 32, 4)
            if probo_get(p + 36, 4):
                raise SnapshotError(f"market {i}: padding is not zero")
            m.min_qty = <int64_t>probo_get(p + 40, 8)
            m.outstanding = <int64_t>probo_get(p + 48, 8)
            if (not 0 <= m.taker_fee <= 10000 or not -10000 <= m.maker_fee <= 10000
                    or m.fee_mode not in (FEE_BPS, FEE_CURVE)
                    or m.cancel_on_halt not in (0, 1)
                    or not MARKET_OPEN <= m.status <= MARKET_RESOLVED
                    or not 0 <= m.last_price < m.payout
                    or (m.last_price and m.last_price % m.tick)
                    or not -1 <= m.yes_value <= m.payout
                    or (m.yes_value >= 0) != (m.status == MARKET_RESOLVED)
                    or not 1 <= m.min_qty <= self.max_qty
                    or m.outstanding < 0 or m.outstanding > MAX_TOTAL_CASH):
                raise SnapshotError(f"market {i}: field out of range")
            p += SNAP_MARKET
        # positions as stored: strictly increasing (uid, mid), so no lookups;
        # the position map is built once at the end
        if _grow(<void**>&self.positions, &self.cap_pos, npos, sizeof(Position)) != 0:
            raise MemoryError()
        prev_key = -1
        for i in range(npos):
            key = <int64_t>((<uint64_t>probo_ld32(p) << 32) | probo_ld32(p + 4))
            if key <= prev_key:
                raise SnapshotError("positions not in (user, market) order")
            prev_key = key
            if <int64_t>probo_ld32(p) >= nu or <int64_t>probo_ld32(p + 4) >= nm:
                raise SnapshotError(f"position {i}: unknown user or market")
            r = &self.positions[i]
            r.uid = probo_ld32(p)
            r.mid = probo_ld32(p + 4)
            r.avail[0] = <int64_t>probo_ld64(p + 8)
            r.locked[0] = <int64_t>probo_ld64(p + 16)
            r.avail[1] = <int64_t>probo_ld64(p + 24)
            r.locked[1] = <int64_t>probo_ld64(p + 32)
            self.n_pos += 1
            for k in range(2):
                if not 0 <= r.avail[k] <= MAX_TOTAL_CASH or \
                        not 0 <= r.locked[k] <= MAX_TOTAL_CASH:
                    raise SnapshotError(f"position {i}: shares out of range")
            if not (r.avail[0] or r.avail[1] or r.locked[0] or r.locked[1]):
                raise SnapshotError(f"position {i}: all-zero positions are not "
                                    "stored")
            p += SNAP_POSITION
        # orders: arena slot i is the i-th order; level FIFO order as stored
        want = nord if nord > 16 else 16
        if _grow(<void**>&self.orders, &cap, want, sizeof(Order)) != 0:
            raise MemoryError()
        self.cap_orders = <slot_t>cap
        probo_populate(self.orders, <size_t>nord * sizeof(Order))
        self.free_head = -1
        for i in range(cap - 1, nord - 1, -1):
            self.orders[i].oid = 0
            self.orders[i].next = self.free_head
            self.free_head = <slot_t>i
        if im_reserve(om, nord) != 0:
            raise MemoryError()
        probo_populate(om.vals, <size_t>om.cap * sizeof(int32_t))
        mask = <uint64_t>om.cap - 1
        prev_key = -1
        for i in range(nord):
            # the id map is probed at random: prefetch the bucket of a record
            # LOAD_AHEAD ahead, so those misses overlap
            if i + LOAD_AHEAD < nord:
                h = im_slot(om, probo_ld64(p + LOAD_AHEAD * SNAP_ORDER))
                probo_prefetchw(&om.keys[h])
                probo_prefetchw(&om.vals[h])
                k = probo_ld32(p + LOAD_AHEAD * SNAP_ORDER + 24)
                if k < nu:
                    probo_prefetchw(&self.users[k])
            o = &self.orders[i]
            o.oid = probo_ld64(p)
            o.qty = <int64_t>probo_ld64(p + 8)
            o.expire_ts = <int64_t>probo_ld64(p + 16)
            o.uid = probo_ld32(p + 24)
            o.mid = probo_ld32(p + 28)
            o.client_id = probo_ld32(p + 32)
            o.yprice = <price_t>probo_ld32(p + 36)
            o.action = p[40]
            o.outcome = p[41]
            o.tif = p[42]
            o.stp = p[43]
            o.flags = p[44]
            if p[45] or p[46] or p[47]:
                raise SnapshotError(f"order record {i}: padding is not zero")
            p += SNAP_ORDER
            if (o.oid == 0 or o.oid >= self.next_oid or o.uid >= nu or o.mid >= nm
                    or o.action > 1 or o.outcome > 1 or o.stp > 2
                    or (o.tif != TIF_GTC and o.tif != TIF_GTD) or o.flags > 1
                    or (o.tif == TIF_GTD) != (o.expire_ts != 0)
                    or not 0 < o.qty <= self.max_qty):
                raise SnapshotError(f"order record {i}: field out of range")
            m = &self.markets[o.mid]
            if (o.yprice < m.tick or o.yprice > m.payout - m.tick
                    or o.yprice % m.tick or m.status > MARKET_HALTED):
                raise SnapshotError(f"order {o.oid}: price off grid or market shut")
            o.bside = <uint8_t>_book_side(o.action, o.outcome)
            # canonical order: market, side, best price first
            key = (<int64_t>o.mid << 22) | (<int64_t>o.bside << 21) | (
                (m.nlevels - (o.yprice // m.tick)) if o.bside == BOOK_BID
                else (o.yprice // m.tick))
            if key < prev_key:
                raise SnapshotError("orders not in canonical book order")
            prev_key = key
            # id map: insert, refusing an id already there (one probe)
            h = im_slot(om, o.oid)
            while om.keys[h] != 0:
                if om.keys[h] == o.oid:
                    raise SnapshotError(f"order id {o.oid} appears twice")
                h = (h + 1) & mask
            om.keys[h] = o.oid
            om.vals[h] = <slot_t>i
            om.size += 1
            if o.client_id:
                ck = (<uint64_t>o.client_id << 32) | o.uid
                if im_get(cm, ck) >= 0:
                    raise SnapshotError(f"client id {o.client_id} of user {o.uid} "
                                        "twice")
                if im_reserve(cm, 1) != 0:
                    raise MemoryError()
                im_insert_nogrow(cm, ck, <slot_t>i)
            if o.tif == TIF_GTD:
                # heap entries appended here, ordered once after the loop
                if _grow(<void**>&self.heap, &self.cap_heap, self.n_heap + 1,
                         sizeof(Expiry)) != 0:
                    raise MemoryError()
                self.heap[self.n_heap].ts = o.expire_ts
                self.heap[self.n_heap].oid = o.oid
                self.n_heap += 1
                self.n_gtd += 1
            o.pos = -1
            self._level_push(<slot_t>i)
            self.n_live += 1
            self.users[o.uid].n_orders += 1
        i = self.n_heap // 2 - 1
        while i >= 0:
            self._heap_sift_down(i)
            i -= 1
        # users' lists in ascending order id, and each order's position: the
        # orders bucketed by user (counting sort; User.head is the cursor),
        # each bucket sorted by id, stored positions merged in as met
        ent = <uint64_t*>malloc(<size_t>(2 * nord + 2) * sizeof(uint64_t))
        stamp = <int64_t*>malloc(<size_t>(nm + 1) * sizeof(int64_t))
        pidx = <pos_t*>malloc(<size_t>(nm + 1) * sizeof(pos_t))
        try:
            if ent == NULL or stamp == NULL or pidx == NULL:
                raise MemoryError()
            probo_populate(ent, <size_t>(2 * nord) * sizeof(uint64_t))
            with nogil:
                for i in range(nm):
                    stamp[i] = -1
                k = 0
                for i in range(nu):
                    self.users[i].head = <slot_t>k
                    k += self.users[i].n_orders
                for i in range(nord):
                    o = &self.orders[i]
                    u = &self.users[o.uid]
                    ent[2 * u.head] = o.oid
                    ent[2 * u.head + 1] = (<uint64_t>o.mid << 32) | <uint64_t>i
                    u.head += 1
            sp = 0
            for i in range(nu):
                u = &self.users[i]
                e = u.head
                n = u.n_orders
                start = e - n
                while sp < npos and self.positions[sp].uid == i:
                    stamp[self.positions[sp].mid] = i
                    pidx[self.positions[sp].mid] = <pos_t>sp
                    sp += 1
                if n > 24:
                    qsort(&ent[2 * start], <size_t>n, 2 * sizeof(uint64_t),
                          probo_cmp_u64)
                else:
                    for a in range(start + 1, e):
                        k0 = ent[2 * a]
                        k1 = ent[2 * a + 1]
                        k = a - 1
                        while k >= start and ent[2 * k] > k0:
                            ent[2 * k + 2] = ent[2 * k]
                            ent[2 * k + 3] = ent[2 * k + 1]
                            k -= 1
                        ent[2 * k + 2] = k0
                        ent[2 * k + 3] = k1
                for a in range(start, e):
                    # links go into slots all over the arena: prefetch ahead
                    if a + LOAD_AHEAD < nord:
                        probo_prefetchw(&self.orders[<slot_t>ent[2 * (a + LOAD_AHEAD)
                                                                 + 1]])
                    s = <slot_t>ent[2 * a + 1]
                    mid = <int64_t>(ent[2 * a + 1] >> 32)
                    if stamp[mid] != i:
                        # an order's (user, market) without stored shares
                        if _grow(<void**>&self.positions, &self.cap_pos,
                                 self.n_pos + 1, sizeof(Position)) != 0:
                            raise MemoryError()
                        r = &self.positions[self.n_pos]
                        memset(r, 0, sizeof(Position))
                        r.uid = <uint32_t>i
                        r.mid = <uint32_t>mid
                        stamp[mid] = i
                        pidx[mid] = <pos_t>self.n_pos
                        self.n_pos += 1
                    o = &self.orders[s]
                    o.pos = pidx[mid]
                    o.uprev = <slot_t>ent[2 * a - 1] if a > start else -1
                    o.unext = <slot_t>ent[2 * a + 3] if a + 1 < e else -1
                u.head = <slot_t>ent[2 * start + 1] if n else -1
                u.tail = <slot_t>ent[2 * e - 1] if n else -1
        finally:
            free(ent)
            free(stamp)
            free(pidx)
        # the position map, in one go (keys are distinct by construction)
        if im_reserve(pm, self.n_pos) != 0:
            raise MemoryError()
        probo_populate(pm.vals, <size_t>pm.cap * sizeof(int32_t))
        for i in range(self.n_pos):
            if i + LOAD_AHEAD < self.n_pos:
                r = &self.positions[i + LOAD_AHEAD]
                h = im_slot(pm, ((<uint64_t>r.uid << 32) | r.mid) + 1)
                probo_prefetchw(&pm.keys[h])
                probo_prefetchw(&pm.vals[h])
            r = &self.positions[i]
            im_insert_nogrow(pm, ((<uint64_t>r.uid << 32) | r.mid) + 1, <pos_t>i)
        return 0

    # ------------------------------------------------------------ queries

    def last_events(self):
        """Events of the most recent command, as 17-int tuples.

        Field order: ``EVENT_FIELDS`` (seq, kind, ts, market, user, oid, side,
        outcome, price, qty, code, user2, oid2, price2, aux, fee, fee2).
        """
        cdef int64_t i
        cdef Event* e
        self._guard()
        out = []
        for i in range(self.n_events):
            e = &self.events[i]
            out.append((e.seq, e.kind, e.ts, e.market, e.user, e.oid, e.side,
                        e.outcome, e.price, e.qty, e.code, e.user2, e.oid2,
                        e.price2, e.aux, e.fee, e.fee2))
        return out

    # ---------------------------------------------- fast per-call entry points
    # (issue 10): fills without tuples, short signatures for the common cases,
    # and the OrderResult of Engine.submit built here in one pass.

    def last_fills(self):
        """The fills of the most recent command as one flat list of ints.

        Three ints per fill, in execution order: ``[maker_oid, yes_price, qty,
        maker_oid, yes_price, qty, ...]`` (the FILL events' ``oid2``,
        ``price`` and ``qty``); empty if nothing traded.  After a batch, the
        fills of its last slice.  Unpack with ``it = iter(f); for oid,
        price, qty in zip(it, it, it)``.  No tuple per event is built, so this
        costs a fraction of :meth:`last_events`.  O(events of the command).

        >>> core = Core(); m = core.create_market()
        >>> a, b = core.create_user(), core.create_user()
        >>> core.deposit(a, 10_000), core.deposit(b, 10_000)
        (0, 0)
        >>> core.place_limit(a, m, 0, 0, 600, 10)
        1
        >>> core.place_limit(b, m, 0, 1, 400, 4), core.last_fills()
        (2, [1, 600, 4])
        """
        cdef int64_t i
        cdef Event* e
        self._guard()
        out = []
        for i in range(self.n_events):
            e = &self.events[i]
            if e.kind == EV_FILL:
                out.append(e.oid2)
                out.append(e.price)
                out.append(e.qty)
        return out

    def fills_into(self, int64_t[::1] out):
        """Write the most recent command's fills into ``out``; return how many.

        ``out`` is a writable int64 buffer (e.g. a reused
        ``numpy.empty(3 * k, numpy.int64)`` or ``array.array("q")``); fill
        ``i`` goes to ``out[3*i : 3*i+3]`` as ``(maker_oid, yes_price,
        qty)``, as in :meth:`last_fills`.  If ``out`` is too short,
        ``InvalidArgumentError`` (a ``ValueError``) names the size needed and
        nothing is written.  No allocation.
        """
        cdef int64_t i, k = 0, n = 0
        cdef Event* e
        self._guard()
        for i in range(self.n_events):
            n += self.events[i].kind == EV_FILL
        if 3 * n > out.shape[0]:
            raise InvalidArgumentError(
                f"out holds {out.shape[0]} int64s; these {n} fills need {3 * n}")
        for i in range(self.n_events):
            e = &self.events[i]
            if e.kind == EV_FILL:
                out[k] = e.oid2
                out[k + 1] = e.price
                out[k + 2] = e.qty
                k += 3
        return n

    def place_limit(self, uid, mid, side, outcome, price, qty):
        """:meth:`place` of a GTC limit order with every option at its default.

        Same rules, result and events as ``place(uid, mid, side, outcome,
        price, qty)``, with a six-argument signature that is cheaper to call
        (on an :class:`Engine`, ``uid``/``mid`` may be names).
        """
        cdef int64_t u_
        if PyLong_CheckExact(uid):
            u_ = _int(uid, "uid")
        elif PyUnicode_CheckExact(uid):
            # an Engine's name: its dict _user_ids (-1 if unknown: refused)
            try:
                u_ = (<dict?>self._user_ids).get(uid, -1)
            except AttributeError:  # a bare Core takes no names
                u_ = _int(uid, "uid")
        else:
            u_ = _int(self._uid_arg(uid, "uid"), "uid")
        cdef int64_t m_
        if PyLong_CheckExact(mid):
            m_ = _int(mid, "mid")
        elif PyUnicode_CheckExact(mid):
            # an Engine's name: its dict _market_ids (-1 if unknown: refused)
            try:
                m_ = (<dict?>self._market_ids).get(mid, -1)
            except AttributeError:  # a bare Core takes no names
                m_ = _int(mid, "mid")
        else:
            m_ = _int(self._mid_arg(mid, "mid"), "mid")
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t ts_ = 0
        cdef int64_t r
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, p_, q_, TIF_GTC, 0, ts_, 0, 0, 0, 0)
        self._end(r)
        return r

    def place_ioc(self, uid, mid, side, outcome, price, qty):
        """:meth:`place` with ``tif=TimeInForce.IOC`` and the other options at
        their defaults: fill what crosses at ``price`` or better, cancel the
        rest."""
        cdef int64_t u_
        if PyLong_CheckExact(uid):
            u_ = _int(uid, "uid")
        elif PyUnicode_CheckExact(uid):
            # an Engine's name: its dict _user_ids (-1 if unknown: refused)
            try:
                u_ = (<dict?>self._user_ids).get(uid, -1)
            except AttributeError:  # a bare Core takes no names
                u_ = _int(uid, "uid")
        else:
            u_ = _int(self._uid_arg(uid, "uid"), "uid")
        cdef int64_t m_
        if PyLong_CheckExact(mid):
            m_ = _int(mid, "mid")
        elif PyUnicode_CheckExact(mid):
            # an Engine's name: its dict _market_ids (-1 if unknown: refused)
            try:
                m_ = (<dict?>self._market_ids).get(mid, -1)
            except AttributeError:  # a bare Core takes no names
                m_ = _int(mid, "mid")
        else:
            m_ = _int(self._mid_arg(mid, "mid"), "mid")
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t ts_ = 0
        cdef int64_t r
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, p_, q_, TIF_IOC, 0, ts_, 0, 0, 0, 0)
        self._end(r)
        return r

    def _order_result(self, int64_t r, int64_t qty):
        # Engine.submit's OrderResult for place result r of an order of qty,
        # from the events in one pass: named records built with tuple.__new__
        # (no NamedTuple __new__ in Python), enums from prebuilt tables.
        cdef int64_t i, filled = 0, canceled = 0
        cdef Event* e
        if r < 0:
            return tuple.__new__(OrderResult, (_REJECT[-r], 0, 0, 0, 0, ()))
        fills = []
        for i in range(self.n_events):
            e = &self.events[i]
            if e.oid != r:
                continue
            if e.kind == EV_FILL:
                fills.append(tuple.__new__(Fill, (
                    e.oid2, e.user2, e.price2, e.price, e.qty, _FILL_KIND[e.code],
                    e.fee, e.fee2)))
                filled += e.qty
            elif e.kind == EV_CANCELED:
                canceled += e.qty
        return tuple.__new__(OrderResult, (
            _REJECT_OK, r, filled, qty - filled - canceled, canceled,
            tuple(fills)))

    def _uid_arg(self, user, arg):
        # A user argument as an int id; Engine overrides this to map names
        # (an unknown name to -1, which commands refuse with 101).
        return _int(user, arg)

    def _mid_arg(self, market, arg):
        # The same for markets (Engine: symbols; unknown -> -1, refused 102).
        return _int(market, arg)

    def _submit(self, user, market, side, outcome, price, qty, *, tif=_TIF_GTC,
                stp=_STP_DEFAULT, ts=0, post_only=False, client_id=0,
                expire_ts=0):
        """Place a limit order and return what happened to it, fills included.

        Same rules, arguments and events as :meth:`Core.place`; ``user`` and
        ``market`` may be names.  Returns an :class:`OrderResult` whose
        ``fills`` are :class:`Fill` records.  Every refusal, an unknown user
        or market (by id or name) included, is the result's ``status``
        (``UNKNOWN_USER``/``UNKNOWN_MARKET`` for those, ``oid`` 0); misuse
        (wrong types, values out of range) raises a ``ProboError`` that is
        also a ``TypeError``/``ValueError``.  A GTC order without options
        takes a short path in C (argument parsing of :meth:`place_limit`,
        the result record built in the same call).
        """
        cdef int64_t u_
        if PyLong_CheckExact(user):
            u_ = _int(user, "user")
        elif PyUnicode_CheckExact(user):
            # an Engine's name: its dict _user_ids (-1 if unknown: refused)
            try:
                u_ = (<dict?>self._user_ids).get(user, -1)
            except AttributeError:  # a bare Core takes no names
                u_ = _int(user, "user")
        else:
            u_ = _int(self._uid_arg(user, "user"), "user")
        cdef int64_t m_
        if PyLong_CheckExact(market):
            m_ = _int(market, "market")
        elif PyUnicode_CheckExact(market):
            # an Engine's name: its dict _market_ids (-1 if unknown: refused)
            try:
                m_ = (<dict?>self._market_ids).get(market, -1)
            except AttributeError:  # a bare Core takes no names
                m_ = _int(market, "market")
        else:
            m_ = _int(self._mid_arg(market, "market"), "market")
        cdef int s_, o_
        cdef int64_t p_, q_, r, i, ts_ = 0, filled = 0, canceled = 0
        cdef Event* e
        if ((tif is _TIF_GTC or tif is 0) and (stp is _STP_DEFAULT or stp is 0)
                and ts is 0 and post_only is False and client_id is 0
                and expire_ts is 0):
            s_ = _enum(side, "side", 1)
            o_ = _enum(outcome, "outcome", 1)
            p_ = _int(price, "price")
            q_ = _int(qty, "qty")
            self._begin(&ts_)
            r = self._place(u_, m_, s_, o_, p_, q_, TIF_GTC, 0, ts_, 0, 0, 0, 0)
            self._end(r)
        else:
            r = Core.place(self, u_, m_, side, outcome, price, qty, tif, stp, ts,
                           post_only, client_id, expire_ts)
            q_ = _int(qty, "qty")
        if r < 0:
            return tuple.__new__(OrderResult, (_REJECT[-r], 0, 0, 0, 0, ()))
        fills = []
        for i in range(self.n_events):
            e = &self.events[i]
            if e.oid != r:
                continue
            if e.kind == EV_FILL:
                fills.append(tuple.__new__(Fill, (
                    e.oid2, e.user2, e.price2, e.price, e.qty, _FILL_KIND[e.code],
                    e.fee, e.fee2)))
                filled += e.qty
            elif e.kind == EV_CANCELED:
                canceled += e.qty
        return tuple.__new__(OrderResult, (
            _REJECT_OK, r, filled, q_ - filled - canceled, canceled, tuple(fills)))

    def _cancel_key(self, uid, oid, ts=0):
        """Cancel a live order of ``uid`` (an id or, on an Engine, a name).

        As :meth:`Core.cancel`: 0, or -101 unknown user, -302 no such live
        order of this user.  O(1) whatever the queue depth.
        """
        cdef int64_t u_
        if PyLong_CheckExact(uid):
            u_ = _int(uid, "uid")
        elif PyUnicode_CheckExact(uid):
            # an Engine's name: its dict _user_ids (-1 if unknown: refused)
            try:
                u_ = (<dict?>self._user_ids).get(uid, -1)
            except AttributeError:  # a bare Core takes no names
                u_ = _int(uid, "uid")
        else:
            u_ = _int(self._uid_arg(uid, "uid"), "uid")
        cdef int64_t o_ = _int(oid, "oid")
        cdef int64_t t = 0 if ts is 0 else _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cancel(u_, o_, t)
        self._end(r)
        return r

    @property
    def n_last_events(self):
        """Number of events the most recent command produced (O(1))."""
        return self.n_events

    @property
    def clock(self):
        """The engine's time: the highest ``ts`` a command has carried (0 at
        first).  A command with a lower ``ts`` is refused (109
        ``STALE_TIME``); ``ts=0`` means "at the clock"."""
        return self.clock_ts

    @property
    def last_seq(self):
        """Sequence number of the newest event (0 before any)."""
        return self.seq

    @cython.final
    cdef int _check_user(self, int64_t uid) except -1:
        # every query that reads the state goes through here, _market or _guard
        self._guard()
        if uid < 0 or uid >= self.n_users:
            raise UnknownUserError(f"unknown user {uid}")
        return 0

    @cython.final
    cdef Market* _market(self, int64_t mid) except NULL:
        self._guard()
        if mid < 0 or mid >= self.n_markets:
            from probo_engine.errors import UnknownMarketError
            raise UnknownMarketError(f"unknown market {mid}")
        return &self.markets[mid]

    def balance(self, uid):
        """``(available, locked)`` cash of a user.  KeyError if unknown."""
        cdef int64_t u_ = _int(uid, "uid")
        self._check_user(u_)
        return (self.users[u_].avail, self.users[u_].locked)

    def position(self, uid, mid):
        """``(yes_available, yes_locked, no_available, no_locked)`` shares."""
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef pos_t p
        cdef Position* r
        self._check_user(u_)
        self._market(m_)
        p = self._pos_find(u_, m_)
        if p < 0:
            return (0, 0, 0, 0)
        r = &self.positions[p]
        return (r.avail[0], r.locked[0], r.avail[1], r.locked[1])

    def market(self, mid):
        """``(payout, tick, status, outstanding_pairs)`` of a market."""
        cdef Market* m = self._market(_int(mid, "mid"))
        return (m.payout, m.tick, m.status, m.outstanding)

    def last_price(self, mid):
        """Last trade price in YES terms (0 before the first trade)."""
        return self._market(_int(mid, "mid")).last_price

    def top(self, mid):
        """``(bid_price, bid_qty, ask_price, ask_qty)`` in YES terms, 0 if empty.

        Complexity
        ----------
        O(1).
        """
        cdef Market* m = self._market(_int(mid, "mid"))
        cdef int64_t bp = 0, bq = 0, ap = 0, aq = 0
        if m.best_bid >= 0:
            bp = (m.best_bid + 1) * m.tick
            bq = m.levels[m.best_bid].total
        if m.best_ask < m.nlevels:
            ap = (m.best_ask + 1) * m.tick
            aq = m.levels[m.nlevels + m.best_ask].total
        return (bp, bq, ap, aq)

    def depth(self, mid, n=10):
        """Up to ``n`` levels per side, best first: ``(bids, asks)``.

        Each level is ``(yes_price, total_qty, order_count)``.

        Complexity
        ----------
        O(n + empty price levels skipped / 64).
        """
        cdef Market* m = self._market(_int(mid, "mid"))
        cdef int64_t k = _int(n, "n")
        cdef int32_t idx
        cdef Level* lvl
        bids = []
        asks = []
        idx = m.best_bid
        while idx >= 0 and len(bids) < k:
            lvl = &m.levels[idx]
            bids.append(((idx + 1) * m.tick, lvl.total, lvl.count))
            idx = bit_next_down(m.bits, idx - 1)
        idx = m.best_ask
        while idx < m.nlevels and len(asks) < k:
            lvl = &m.levels[m.nlevels + idx]
            asks.append(((idx + 1) * m.tick, lvl.total, lvl.count))
            idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1, m.nlevels)
        return (bids, asks)

    @cython.final
    cdef tuple _order_tuple(self, slot_t s, bint with_mid):
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        own = _own(o.outcome, o.yprice, m.payout)
        if with_mid:
            return (o.mid, o.oid, o.uid, o.action, o.outcome, own, o.qty, o.yprice,
                    o.bside, o.tif, o.client_id, o.expire_ts)
        return (o.oid, o.uid, o.action, o.outcome, own, o.qty, o.yprice, o.bside)

    def book_orders(self, mid):
        """Every resting order of a market (L3), in priority order.

        Bids best first, then asks best first, FIFO within a level; each
        ``(oid, uid, side, outcome, price, qty, yes_price, book_side)``.
        """
        cdef Market* m = self._market(_int(mid, "mid"))
        cdef int32_t idx, side
        cdef slot_t s
        out = []
        for side in range(2):
            idx = m.best_bid if side == BOOK_BID else m.best_ask
            while 0 <= idx < m.nlevels:
                s = m.levels[side * m.nlevels + idx].head
                while s >= 0:
                    out.append(self._order_tuple(s, False))
                    s = self.orders[s].next
                if side == BOOK_BID:
                    idx = bit_next_down(m.bits, idx - 1)
                else:
                    idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1,
                                      m.nlevels)
        return out

    def user_orders(self, uid):
        """A user's live orders by ascending id.

        Each ``(mid, oid, uid, side, outcome, price, qty, yes_price,
        book_side, tif, client_id, expire_ts)``.  O(orders of that user).
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef slot_t s
        self._check_user(u_)
        out = []
        s = self.users[u_].head
        while s >= 0:
            out.append(self._order_tuple(s, True))
            s = self.orders[s].unext
        return out

    def order(self, oid):
        """A live order as in :meth:`user_orders`, or ``None``."""
        cdef int64_t o_ = _int(oid, "oid")
        cdef slot_t s = -1
        self._guard()
        if o_ > 0:
            s = im_get(&self.oid_map, <uint64_t>o_)
        if s < 0:
            return None
        return self._order_tuple(s, True)

    def order_by_client_id(self, uid, client_id):
        """A user's live order by its client id, or ``None``.  O(1)."""
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t c = _client_id(client_id)
        cdef slot_t s
        self._guard()
        if u_ < 0 or u_ >= self.n_users or c == 0:
            return None
        s = im_get(&self.cid_map, (<uint64_t>c << 32) | <uint64_t>u_)
        if s < 0:
            return None
        return self._order_tuple(s, True)

    def market_config(self, mid):
        """``(payout, tick, taker_fee, maker_fee, fee_mode, min_qty,
        cancel_on_halt, yes_value)``; ``yes_value`` is -1 until resolved."""
        cdef Market* m = self._market(_int(mid, "mid"))
        return (m.payout, m.tick, m.taker_fee, m.maker_fee, m.fee_mode, m.min_qty,
                bool(m.cancel_on_halt), m.yes_value)

    def fees(self):
        """The fee account's balance (fees collected minus rebates paid)."""
        return self.fee_balance

    def limits(self):
        """``(max_qty, max_open_orders, max_balance, max_levels)``."""
        return (self.max_qty, self.max_open, self.max_balance, self.max_levels)

    def totals(self):
        """``(net_cash, n_users, n_markets, n_live_orders)``."""
        return (self.net_cash, self.n_users, self.n_markets, self.n_live)

    # --------------------------------------------------------- invariants

    def check_invariants(self):
        """Check every structural and accounting invariant; O(size of state).

        Raises
        ------
        InvariantError
            Naming the first invariant found broken.
        """
        self._guard()
        # C scratch arrays, not dicts: this runs on every restore (and after
        # every command in a debug build)
        cdef int64_t* lock_cash = <int64_t*>calloc(self.n_users + 1, sizeof(int64_t))
        cdef int64_t* lock_sh = <int64_t*>calloc(2 * self.n_pos + 2, sizeof(int64_t))
        cdef int64_t* held = <int64_t*>calloc(2 * self.n_markets + 2, sizeof(int64_t))

        def fail(msg):
            raise InvariantError(msg)

        if lock_cash == NULL or lock_sh == NULL or held == NULL:
            free(lock_cash)
            free(lock_sh)
            free(held)
            raise MemoryError()
        try:
            self._check(lock_cash, lock_sh, held, fail)
        finally:
            free(lock_cash)
            free(lock_sh)
            free(held)

    @cython.final
    cdef int _check(self, int64_t* lock_cash, int64_t* lock_sh, int64_t* held,
                    object fail) except -1:
        # One independent recomputation of every invariant.  Costs are kept
        # linear and cache-friendly: the three hash maps are checked by one
        # scan of their buckets (each entry's own lookup finds it, its target
        # holds that key, no target twice; probes stay near the bucket), and
        # the per-order "is it mapped" check becomes a mark left by that scan;
        # user lists are walked CHECK_WAYS at a time so their misses overlap.
        cdef unsigned char* mark = <unsigned char*>calloc(self.cap_orders + 1, 1)
        cdef unsigned char* pmark = <unsigned char*>calloc(self.n_pos + 1, 1)
        if mark == NULL or pmark == NULL:
            free(mark)
            free(pmark)
            raise MemoryError()
        try:
            self._check_maps(mark, pmark, fail)
            self._check_books(mark, lock_cash, lock_sh, fail)
            self._check_ledger(pmark, lock_cash, lock_sh, held, fail)
        finally:
            free(mark)
            free(pmark)
        return 0

    @cython.final
    cdef int _check_maps(self, unsigned char* mark, unsigned char* pmark,
                         object fail) except -1:
        # mark[slot] bit 1: the id map holds (oid -> slot) and finds it;
        # bit 2: the same for the client-id map; pmark[i]: the position map
        # holds (key of position i -> i) and finds it
        cdef const IntMap* om = &self.oid_map
        cdef const IntMap* cm = &self.cid_map
        cdef const IntMap* pm = &self.pos_map
        cdef int64_t i, used, v, w
        cdef uint64_t k
        cdef Order* o
        cdef Position* r
        used = 0
        for i in range(om.cap):
            if i + CHECK_AHEAD < om.cap and om.keys[i + CHECK_AHEAD] != 0:
                w = om.vals[i + CHECK_AHEAD]
                if 0 <= w < self.cap_orders:
                    probo_prefetch(&self.orders[w])
            k = om.keys[i]
            if k == 0:
                continue
            used += 1
            v = om.vals[i]
            if (v < 0 or v >= self.cap_orders or self.orders[v].oid != k
                    or mark[v] & 1 or im_get(om, k) != v):
                fail(f"order id map entry {k} -> slot {v} is wrong")
            mark[v] |= 1
        if used != om.size:
            fail(f"order id map holds {used} entries, counts {om.size}")
        used = 0
        for i in range(cm.cap):
            k = cm.keys[i]
            if k == 0:
                continue
            used += 1
            v = cm.vals[i]
            if v < 0 or v >= self.cap_orders:
                fail(f"client id map entry {k} -> slot {v} is wrong")
            o = &self.orders[v]
            if (o.oid == 0 or o.client_id == 0
                    or ((<uint64_t>o.client_id << 32) | o.uid) != k
                    or mark[v] & 2 or im_get(cm, k) != v):
                fail(f"client id map entry {k} -> slot {v} is wrong")
            mark[v] |= 2
        if used != cm.size:
            fail(f"client id map holds {used} entries, counts {cm.size}")
        used = 0
        for i in range(pm.cap):
            if i + CHECK_AHEAD < pm.cap and pm.keys[i + CHECK_AHEAD] != 0:
                w = pm.vals[i + CHECK_AHEAD]
                if 0 <= w < self.n_pos:
                    probo_prefetch(&self.positions[w])
            k = pm.keys[i]
            if k == 0:
                continue
            used += 1
            v = pm.vals[i]
            if v < 0 or v >= self.n_pos:
                fail(f"position map entry {k} -> {v} is wrong")
            r = &self.positions[v]
            if (((<uint64_t>r.uid << 32) | r.mid) + 1 != k or pmark[v]
                    or im_get(pm, k) != v):
                fail(f"position map entry {k} -> {v} is wrong")
            pmark[v] = 1
        if used != self.n_pos:
            fail(f"position map holds {used} entries for {self.n_pos} positions")
        return 0

    @cython.final
    cdef int _check_books(self, const unsigned char* mark, int64_t* lock_cash,
                          int64_t* lock_sh, object fail) except -1:
        cdef int64_t mi, i, side, live = 0, nfree = 0
        cdef Market* m
        cdef Level* lvl
        cdef Order* o
        cdef slot_t s, prev
        cdef qty_t tot
        cdef int32_t cnt, best
        cdef int bit
        cdef int64_t n_cid = 0, mkt_orders, n_gtd = 0, matched = 0
        cdef int64_t own, unit
        cdef uint64_t h

        for mi in range(self.n_markets):
            m = &self.markets[mi]
            for side in range(2):
                best = -1 if side == BOOK_BID else m.nlevels
                for i in range(m.nlevels):
                    lvl = &m.levels[side * m.nlevels + i]
                    if lvl.touched:
                        fail(f"market {mi} level {i} left marked touched")
                    bit = (m.bits[side * m.nwords + (i >> 6)] >> (i & 63)) & 1
                    if bit != (lvl.count > 0):
                        fail(f"market {mi} side {side} level {i}: bitmap disagrees")
                    tot = 0
                    cnt = 0
                    prev = -1
                    s = lvl.head
                    if s >= 0:
                        # what one share of a resting buy here locks: every buy
                        # on a level has the same own price (checked per order)
                        own = (i + 1) * m.tick if side == BOOK_BID else (
                            m.payout - (i + 1) * m.tick)
                        unit = own + _fee_unit(m, <price_t>own)
                    while s >= 0:
                        if s >= self.cap_orders or cnt > self.n_live:
                            fail(f"market {mi} level {i}: broken FIFO")
                        o = &self.orders[s]
                        if o.next >= 0 and o.next < self.cap_orders:
                            probo_prefetch(&self.orders[o.next])
                        if o.prev != prev or o.oid == 0 or o.qty <= 0:
                            fail(f"order slot {s}: bad FIFO link or empty order")
                        if (o.mid != mi or o.bside != side
                                or o.yprice != (i + 1) * m.tick):
                            fail(f"order {o.oid} sits on the wrong level")
                        if not mark[s] & 1:
                            fail(f"order {o.oid} missing from the id map")
                        if o.bside != (BOOK_BID if (o.action == SIDE_BUY) ==
                                       (o.outcome == OUTCOME_YES) else BOOK_ASK):
                            fail(f"order {o.oid} on the wrong book side")
                        tot += o.qty
                        cnt += 1
                        live += 1
                        n_cid += o.client_id != 0
                        if o.client_id != 0 and not mark[s] & 2:
                            fail(f"order {o.oid}: client id not mapped")
                        if o.tif == TIF_GTD:
                            n_gtd += 1
                        elif o.tif != TIF_GTC:
                            fail(f"order {o.oid} rests with tif {o.tif}")
                        if o.action == SIDE_BUY:
                            # own price = _own(outcome, yprice, payout) = own above
                            lock_cash[o.uid] += unit * o.qty
                        else:
                            if (o.pos < 0 or o.pos >= self.n_pos
                                    or self.positions[o.pos].uid != o.uid
                                    or self.positions[o.pos].mid != mi):
                                fail(f"order {o.oid}: wrong position record")
                            lock_sh[2 * o.pos + o.outcome] += o.qty
                        prev = s
                        s = o.next
                    if prev != lvl.tail:
                        fail(f"market {mi} level {i}: tail is not the last order")
                    if tot != lvl.total or cnt != lvl.count:
                        fail(f"market {mi} side {side} level {i}: total {lvl.total}"
                             f"/count {lvl.count} != orders {tot}/{cnt}")
                    if cnt > 0:
                        if side == BOOK_BID:
                            best = i
                        elif best == m.nlevels:
                            best = i
                if side == BOOK_BID and best != m.best_bid:
                    fail(f"market {mi}: cached best bid {m.best_bid} != {best}")
                if side == BOOK_ASK and best != m.best_ask:
                    fail(f"market {mi}: cached best ask {m.best_ask} != {best}")
            if m.best_bid >= 0 and m.best_ask < m.nlevels and m.best_bid >= m.best_ask:
                fail(f"market {mi}: book crossed")
            mkt_orders = 0
            for i in range(2 * m.nlevels):
                mkt_orders += m.levels[i].count
            if mkt_orders != m.n_orders:
                fail(f"market {mi}: order count {m.n_orders} != {mkt_orders}")
            if (m.status == MARKET_CLOSED or m.status == MARKET_RESOLVED) \
                    and m.n_orders:
                fail(f"market {mi}: orders rest in a {m.status} market")
            if m.status == MARKET_RESOLVED and (m.outstanding or m.yes_value < 0):
                fail(f"market {mi}: resolved with shares outstanding")
            if m.outstanding < 0:
                fail(f"market {mi}: negative outstanding pairs")
        if live != self.n_live or self.oid_map.size != self.n_live:
            fail(f"live orders {live} != counted {self.n_live}/{self.oid_map.size}")
        s = self.free_head
        while s >= 0:
            if s >= self.cap_orders or nfree > self.cap_orders:
                fail("broken free list")
            if self.orders[s].oid != 0:
                fail(f"free slot {s} holds an order")
            nfree += 1
            s = self.orders[s].next
        if n_cid != self.cid_map.size:
            fail(f"client id map holds {self.cid_map.size}, live ids {n_cid}")
        if n_gtd != self.n_gtd:
            fail(f"GTD count {self.n_gtd} != {n_gtd}")
        for i in range(self.n_heap):
            if i + CHECK_AHEAD < self.n_heap:
                h = im_slot(&self.oid_map, self.heap[i + CHECK_AHEAD].oid)
                probo_prefetch(&self.oid_map.keys[h])
            s = im_get(&self.oid_map, self.heap[i].oid)
            if s >= 0 and self.orders[s].tif == TIF_GTD and \
                    self.orders[s].expire_ts == self.heap[i].ts:
                matched += 1     # entries are unique: one per live GTD order
            if i > 0 and (self.heap[(i - 1) // 2].ts > self.heap[i].ts or (
                    self.heap[(i - 1) // 2].ts == self.heap[i].ts
                    and self.heap[(i - 1) // 2].oid > self.heap[i].oid)):
                fail("expiry heap out of order")
        if matched != n_gtd:
            fail(f"{n_gtd - matched} GTD orders missing from the expiry heap")
        if nfree + self.n_live != self.cap_orders:
            fail(f"free {nfree} + live {self.n_live} != capacity {self.cap_orders}")
        return 0

    @cython.final
    cdef int _check_ledger(self, const unsigned char* pmark, int64_t* lock_cash,
                           int64_t* lock_sh, int64_t* held, object fail) except -1:
        cdef int64_t i, side, c, left, nxt = 0
        cdef int64_t total_cash = 0
        cdef Position* r
        cdef Market* m
        cdef slot_t s, prev
        # one cursor per user list being walked (user, slot, previous, count)
        cdef int64_t cu[CHECK_WAYS]
        cdef slot_t cs[CHECK_WAYS]
        cdef slot_t cp[CHECK_WAYS]
        cdef int64_t cn[CHECK_WAYS]
        for i in range(self.n_markets):
            m = &self.markets[i]
            total_cash += m.payout * m.outstanding
        if self.fee_balance < 0:
            fail("negative fee account")
        total_cash += self.fee_balance
        for i in range(self.n_users):
            if self.users[i].avail < 0 or self.users[i].locked != lock_cash[i]:
                fail(f"user {i}: cash {self.users[i].avail}/{self.users[i].locked}"
                     f", resting buys need {lock_cash[i]}")
            total_cash += self.users[i].avail + self.users[i].locked
        # each user's list: from head, owned by the user, back links right,
        # ids increasing, ends at tail, as long as counted
        left = self.n_users
        for c in range(CHECK_WAYS):
            cu[c] = -1
        while left > 0:
            for c in range(CHECK_WAYS):
                if cu[c] < 0:
                    if nxt >= self.n_users:
                        continue
                    cu[c] = nxt
                    cs[c] = self.users[nxt].head
                    cp[c] = -1
                    cn[c] = 0
                    nxt += 1
                i = cu[c]
                s = cs[c]
                if s >= 0:
                    prev = cp[c]
                    if (s >= self.cap_orders or self.orders[s].uid != i
                            or self.orders[s].uprev != prev):
                        fail(f"user {i}: broken order list")
                    if prev >= 0 and self.orders[prev].oid >= self.orders[s].oid:
                        fail(f"user {i}: order list out of id order")
                    cp[c] = s
                    s = cs[c] = self.orders[s].unext
                    cn[c] += 1
                    if cn[c] > self.n_live:
                        fail(f"user {i}: order list loops")
                    if 0 <= s < self.cap_orders:
                        probo_prefetch(&self.orders[s])
                else:
                    if cp[c] != self.users[i].tail:
                        fail(f"user {i}: order list tail")
                    if cn[c] != self.users[i].n_orders:
                        fail(f"user {i}: {self.users[i].n_orders} orders counted, "
                             f"{cn[c]} listed")
                    cu[c] = -1
                    left -= 1
        for i in range(self.n_pos):
            r = &self.positions[i]
            if not pmark[i]:
                fail(f"position {i} missing from the position map")
            for side in range(2):
                if r.avail[side] < 0 or r.locked[side] != lock_sh[2 * i + side]:
                    fail(f"user {r.uid} market {r.mid}: shares locked "
                         f"{r.locked[side]} != resting sells need")
                held[2 * r.mid + side] += r.avail[side] + r.locked[side]
        for i in range(self.n_markets):
            if held[2 * i] != self.markets[i].outstanding or held[2 * i + 1] != \
                    self.markets[i].outstanding:
                fail(f"market {i}: YES {held[2 * i]} / NO {held[2 * i + 1]} "
                     f"shares != outstanding {self.markets[i].outstanding}")
        if total_cash != self.net_cash:
            fail(f"cash not conserved: {total_cash} != net deposits {self.net_cash}")
        return 0


def _restore(cls, data):
    # pickle support: Core.__reduce__ -> _restore(type, snapshot bytes)
    return cls.restore(data)
