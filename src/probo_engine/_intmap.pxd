# cython: language_level=3
# Open-addressing hash map from uint64 keys to int32 values (IntMap in
# _types.pxd): linear probing, power-of-two capacity, Fibonacci hashing,
# backward-shift deletion.  Keys are never 0; 0 marks an empty bucket.
# All inline: the core calls these in its hot paths.

cimport cython
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from probo_engine._clib cimport probo_hugepage, probo_prefetchw
from probo_engine._types cimport IntMap


@cython.overflowcheck(False)
cdef inline uint64_t im_slot(const IntMap* m, uint64_t k) noexcept nogil:
    # Fibonacci hashing: the top bits of k * 2^64/phi (the product wraps
    # modulo 2^64 on purpose, so no overflow check even in a debug build).
    return (k * <uint64_t>0x9E3779B97F4A7C15) >> m.shift

cdef inline void im_prefetch(const IntMap* m, uint64_t k) noexcept nogil:
    # Hint the bucket k hashes to (key and value) into the cache, for a
    # lookup or insert of k soon: no access, so any k and any state are safe.
    cdef uint64_t i = im_slot(m, k)
    probo_prefetchw(&m.keys[i])
    probo_prefetchw(&m.vals[i])

cdef inline int im_init(IntMap* m, int64_t cap) noexcept nogil:
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

cdef inline void im_free(IntMap* m) noexcept nogil:
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

cdef inline int im_reserve(IntMap* m, int64_t extra) noexcept nogil:
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
