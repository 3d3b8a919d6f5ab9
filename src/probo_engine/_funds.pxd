# cython: language_level=3
# Cash and complete sets (_funds.pyx): called through C pointers by Core's
# inline _cash / _pair.

from libc.stdint cimport int64_t

from probo_engine._book cimport Core

cdef int64_t cash(Core core, int64_t uid, int64_t amount, bint deposit,
                  int64_t ts) noexcept nogil
cdef int64_t pair(Core core, int64_t uid, int64_t mid, int64_t qty, bint mint,
                  int64_t ts) noexcept nogil
