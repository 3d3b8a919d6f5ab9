# cython: language_level=3
# Prices seen from either outcome, book sides and the fee reserve of a buy
# (docs/semantics.md, "Prices" and "Fees").  Inline: matching uses them.

from libc.stdint cimport int64_t

from probo_engine._clib cimport probo_fee_unit
from probo_engine._types cimport (
    BOOK_ASK,
    BOOK_BID,
    OUTCOME_YES,
    SIDE_BUY,
    Market,
    amount_t,
    price_t,
)


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
