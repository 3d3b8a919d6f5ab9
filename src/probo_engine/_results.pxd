# cython: language_level=3
# What a command's events say to a per-call caller (_results.pyx): its fills
# and Engine.submit's OrderResult, built from Core.events without a tuple per
# event.  Called through a C pointer (a cimport) from Core's methods.

from libc.stdint cimport int64_t

from probo_engine._book cimport Core

cdef list event_tuples(Core core)
cdef list fills_flat(Core core)
cdef tuple fill_triples(Core core)
cdef int64_t fills_into(Core core, int64_t[::1] out) except -1
cdef object order_result(Core core, int64_t r, int64_t qty)
