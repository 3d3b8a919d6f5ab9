# cython: language_level=3
# Cython's view of the C in _c/*.h (one extern block per header).  Each
# header is static inline C: a module that cimports a name from here gets its
# own copy of that header; nothing is linked across modules.

from libc.stdint cimport int64_t

cdef extern from "_c/debug.h":
    int PROBO_DEBUG                  # 1 in a PROBO_DEBUG=1 build (setup.py)

cdef extern from "_c/bits.h":
    int64_t MAX_QTY "PROBO_MAX_QTY"
    int64_t MAX_PAYOUT "PROBO_MAX_PAYOUT"
    int64_t MAX_LEVELS "PROBO_MAX_LEVELS"
    int64_t MAX_TOTAL_CASH "PROBO_MAX_TOTAL_CASH"
    int64_t MAX_USERS "PROBO_MAX_USERS"
    int probo_ctz(unsigned long long x) noexcept nogil
    int probo_clz(unsigned long long x) noexcept nogil
    void probo_prefetch(const void* p) noexcept nogil
    void probo_prefetchw(const void* p) noexcept nogil
    int probo_cmp_u64(const void* a, const void* b) noexcept nogil

cdef extern from "_c/fees.h":
    long long probo_fee(long long r, long long q, long long e, long long U,
                        int mode, int up) noexcept nogil
    long long probo_fee_unit(long long r, long long L, long long U,
                             int mode) noexcept nogil
    long long probo_affordable(long long cap, long long e, long long budget,
                               long long r, long long U, int mode) noexcept nogil

cdef extern from "_c/lebytes.h":
    void probo_put(unsigned char* p, unsigned long long v, int n) noexcept nogil
    unsigned long long probo_get(const unsigned char* p, int n) noexcept nogil
    void probo_st64(unsigned char* p, unsigned long long v) noexcept nogil
    void probo_st32(unsigned char* p, unsigned int v) noexcept nogil
    unsigned long long probo_ld64(const unsigned char* p) noexcept nogil
    unsigned int probo_ld32(const unsigned char* p) noexcept nogil

cdef extern from "_c/crc32.h":
    unsigned int probo_crc32(unsigned int crc, const unsigned char* p,
                             size_t n) noexcept nogil
    int probo_crc_simd() noexcept nogil

cdef extern from "_c/pagehint.h":
    void probo_pagehint_init() noexcept nogil
    void probo_populate(void* p, size_t n) noexcept nogil
    void probo_hugepage(void* p, size_t n) noexcept nogil

cdef extern from "_c/pyint.h":
    bint probo_small_int(object x, long long* v) noexcept

cdef extern from "_c/records.h":
    bint probo_record_type_ok(object t, Py_ssize_t n) noexcept
    int probo_member_fields(object t) except -1
    object probo_fill_rec(object t, long long mo, long long mu, long long p2,
                          long long p, long long q, object kind, long long fee,
                          long long fee2)
    object probo_result_rec(object t, object status, long long oid,
                            long long filled, long long resting,
                            long long canceled, object fills)
