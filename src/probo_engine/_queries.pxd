# cython: language_level=3
# The read-only views of a Core (_queries.pyx): each the body of the Core
# method of the same name, called through a C pointer (a cimport).

from libc.stdint cimport int64_t

from probo_engine._book cimport Core

cdef object balance(Core core, uid)
cdef object position(Core core, uid, mid)
cdef object market(Core core, mid)
cdef object last_price(Core core, mid)
cdef object market_config(Core core, mid)
cdef object top(Core core, mid)
cdef object depth(Core core, mid, n)
cdef object depth_into(Core core, mid, int64_t[:, :, ::1] out)
cdef object book_orders(Core core, mid)
cdef object user_orders(Core core, uid)
cdef object order(Core core, oid)
cdef object order_by_client_id(Core core, uid, client_id)
cdef object events_bytes(Core core)
cdef object events_into(Core core, unsigned char[::1] out)
