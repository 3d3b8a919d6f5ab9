# cython: language_level=3
"""Cash and complete sets: deposit / withdraw and mint / merge (cold code).

The commands that move money or shares in and out of the exchange rather
than between traders (semantics.md "deposit", "mint and merge").  ``Core``
keeps ``_cash`` and ``_pair`` as inline forwards to these, so the per-call
methods and ``run_batch`` call them as before; trading's own ledger (what a
fill moves between taker and maker) stays with matching in _book.
"""

from libc.stdint cimport int64_t

from probo_engine._book cimport ERR_NOMEM, Core
from probo_engine._clib cimport MAX_TOTAL_CASH
from probo_engine._types cimport *


cdef int64_t cash(Core core, int64_t uid, int64_t amount, bint deposit,
                  int64_t ts) noexcept nogil:
    cdef int64_t code = 0
    cdef User* u
    cdef Event* e
    if ts < core.clock_ts:
        code = REJ_STALE_TIME
    elif core._unknown_user(uid):
        code = REJ_UNKNOWN_USER
    elif amount <= 0:
        code = REJ_INVALID_AMOUNT
    elif deposit:
        u = &core.users[uid]
        if amount > MAX_TOTAL_CASH - core.net_cash or (
                core.max_balance > 0
                and amount > core.max_balance - u.avail - u.locked):
            code = REJ_CASH_LIMIT
    elif core.users[uid].avail < amount:
        code = REJ_INSUFFICIENT_FUNDS
    if code != 0:
        core._reject(CMD_DEPOSIT if deposit else CMD_WITHDRAW, code, 0, uid,
                     0, 0, 0, 0, amount, ts)
        return -code
    u = &core.users[uid]
    if not deposit:
        amount = -amount
    u.avail += amount
    core.net_cash += amount
    e = core._ev(EV_CASH, ts)
    e.user = uid
    e.qty = amount
    e.aux = u.avail
    return 0


cdef int64_t pair(Core core, int64_t uid, int64_t mid, int64_t qty, bint mint,
                  int64_t ts) noexcept nogil:
    # mint: payout*qty cash -> qty YES + qty NO; merge: the reverse.
    cdef int64_t code = 0
    cdef Market* m
    cdef pos_t p = -1
    cdef Position* r
    cdef User* u
    cdef Event* e
    if ts < core.clock_ts:
        code = REJ_STALE_TIME
    elif core._unknown_user(uid):
        code = REJ_UNKNOWN_USER
    elif mid < 0 or mid >= core.n_markets:
        code = REJ_UNKNOWN_MARKET
    else:
        m = &core.markets[mid]
        if (m.status != MARKET_OPEN if mint else m.status == MARKET_RESOLVED):
            code = REJ_MARKET_NOT_OPEN
        elif qty <= 0 or qty > core.max_qty:
            code = REJ_INVALID_QTY
        elif mint:
            if core.users[uid].avail < qty * <amount_t>m.payout:
                code = REJ_INSUFFICIENT_FUNDS
        else:
            p = core._pos_find(uid, mid)
            if p < 0 or core.positions[p].avail[0] < qty or \
                    core.positions[p].avail[1] < qty:
                code = REJ_INSUFFICIENT_SHARES
    if code != 0:
        core._reject(CMD_MINT if mint else CMD_MERGE, code, mid, uid, 0, 0, 0,
                     0, qty, ts)
        return -code
    p = core._pos_make(uid, mid)
    if p < 0:
        return ERR_NOMEM
    r = &core.positions[p]
    u = &core.users[uid]
    if mint:
        u.avail -= qty * <amount_t>m.payout
        r.avail[0] += qty
        r.avail[1] += qty
        m.outstanding += qty
    else:
        u.avail += qty * <amount_t>m.payout
        r.avail[0] -= qty
        r.avail[1] -= qty
        m.outstanding -= qty
    e = core._ev(EV_PAIR, ts)
    e.market = mid
    e.user = uid
    e.price = m.payout
    e.qty = qty
    e.code = 1 if mint else 2
    e.aux = u.avail
    return 0
