# cython: language_level=3
# Occupancy bitmaps of price levels (Market.bits): bit i set while level i
# has resting orders.  Scans find the next occupied level up or down a word
# (64 levels) at a time.  All inline: matching walks these.

cimport cython
from libc.stdint cimport int32_t, uint64_t

from probo_engine._clib cimport probo_clz, probo_ctz
from probo_engine._types cimport BOOK_BID, Market


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


cdef inline int32_t level_after(const Market* m, int bside, int32_t idx) noexcept nogil:
    # The next occupied level of book side `bside` after level idx in
    # priority order: bids go down in price (-1 = none), asks go up
    # (m.nlevels = none).  Every best-first walk of a book steps with this.
    if bside == BOOK_BID:
        return bit_next_down(m.bits, idx - 1)
    return bit_next_up(m.bits + m.nwords, m.nwords, idx + 1, m.nlevels)
