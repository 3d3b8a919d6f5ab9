# cython: language_level=3
# Growth of the core's C arrays.  libc malloc/realloc rather than PyMem_*:
# these run without the GIL in the batch path, where the PyMem allocators
# must not be called.

from libc.stdint cimport int64_t
from libc.stdlib cimport realloc

from probo_engine._clib cimport probo_hugepage


cdef inline int grow(void** p, int64_t* cap, int64_t need, size_t size) noexcept nogil:
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
