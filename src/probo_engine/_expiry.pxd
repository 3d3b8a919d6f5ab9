# cython: language_level=3
# GTD expiry (_expiry.pyx): cold code that _book calls through C pointers.

from libc.stdint cimport int64_t

from probo_engine._book cimport Core

cdef void heap_sift_down(Core core, int64_t i) noexcept nogil
cdef int64_t expire(Core core, int64_t ts) noexcept nogil
cdef void heap_compact(Core core) noexcept nogil
cdef object expire_cmd(Core core, ts)
