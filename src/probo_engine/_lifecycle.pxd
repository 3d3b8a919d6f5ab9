# cython: language_level=3
# The lifecycle of a Core and of its markets (_lifecycle.pyx): cold code that
# _book calls through C pointers (a cimport), never inlined.

from libc.stdint cimport int64_t

from probo_engine._book cimport Core

cdef int core_init(Core core, max_qty, max_open_orders, max_balance,
                   max_levels) except -1
cdef int set_limits(Core core, max_qty, max_open_orders, max_balance,
                    max_levels) except -1
cdef int core_reinit(Core core, max_qty, max_open_orders, max_balance,
                     max_levels) except -1
cdef void core_free(Core core) noexcept
cdef object create_user(Core core)
cdef object create_market(Core core, payout, tick, ts, taker_fee, maker_fee,
                          fee_mode, min_qty, cancel_on_halt)
cdef int64_t set_status(Core core, int64_t mid, int64_t cmd, int64_t yes_value,
                        int64_t ts) noexcept nogil
