# cython: language_level=3
"""The read-only views of a Core (cold code, out of _book).

Each function here is the body of the ``Core`` method of the same name, which
keeps its signature and docstring (doctests included) and calls it: balances
and positions, market data (top of book, depth, the L3 book), a user's and a
single order, and copies of the last command's packed events.  None of them
changes the state; the unknown user / market errors come from Core's
``_check_user`` / ``_market``.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memcpy

from probo_engine._args cimport _client_id, _int
from probo_engine._bitset cimport level_after
from probo_engine._book cimport Core
from probo_engine._intmap cimport im_get
from probo_engine._pricing cimport _own
from probo_engine._types cimport *

from probo_engine.errors import InvalidArgumentError


# --------------------------------------------------- ledger and markets

cdef object balance(Core core, uid):
    cdef int64_t u_ = _int(uid, "uid")
    core._check_user(u_)
    return (core.users[u_].avail, core.users[u_].locked)


cdef object position(Core core, uid, mid):
    cdef int64_t u_ = _int(uid, "uid")
    cdef int64_t m_ = _int(mid, "mid")
    cdef pos_t p
    cdef Position* r
    core._check_user(u_)
    core._market(m_)
    p = core._pos_find(u_, m_)
    if p < 0:
        return (0, 0, 0, 0)
    r = &core.positions[p]
    return (r.avail[0], r.locked[0], r.avail[1], r.locked[1])


cdef object market(Core core, mid):
    cdef Market* m = core._market(_int(mid, "mid"))
    return (m.payout, m.tick, m.status, m.outstanding)


cdef object last_price(Core core, mid):
    return core._market(_int(mid, "mid")).last_price


cdef object market_config(Core core, mid):
    cdef Market* m = core._market(_int(mid, "mid"))
    return (m.payout, m.tick, m.taker_fee, m.maker_fee, m.fee_mode, m.min_qty,
            bool(m.cancel_on_halt), m.yes_value)


# ---------------------------------------------------------- market data

cdef object top(Core core, mid):
    cdef Market* m = core._market(_int(mid, "mid"))
    cdef int64_t bp = 0, bq = 0, ap = 0, aq = 0
    if m.best_bid >= 0:
        bp = (m.best_bid + 1) * m.tick
        bq = m.levels[m.best_bid].total
    if m.best_ask < m.nlevels:
        ap = (m.best_ask + 1) * m.tick
        aq = m.levels[m.nlevels + m.best_ask].total
    return (bp, bq, ap, aq)


cdef object depth(Core core, mid, n):
    cdef Market* m = core._market(_int(mid, "mid"))
    cdef int64_t k = _int(n, "n")
    cdef int32_t idx
    cdef Level* lvl
    bids = []
    asks = []
    idx = m.best_bid
    while idx >= 0 and len(bids) < k:
        lvl = &m.levels[idx]
        bids.append(((idx + 1) * m.tick, lvl.total, lvl.count))
        idx = level_after(m, BOOK_BID, idx)
    idx = m.best_ask
    while idx < m.nlevels and len(asks) < k:
        lvl = &m.levels[m.nlevels + idx]
        asks.append(((idx + 1) * m.tick, lvl.total, lvl.count))
        idx = level_after(m, BOOK_ASK, idx)
    return (bids, asks)


cdef object depth_into(Core core, mid, int64_t[:, :, ::1] out):
    cdef Market* m = core._market(_int(mid, "mid"))
    cdef Py_ssize_t n = out.shape[1], k
    cdef int32_t idx
    cdef Level* lvl
    cdef int prev
    if out.shape[0] != 2 or out.shape[2] != 3:
        raise InvalidArgumentError("out must have shape (2, n, 3)")
    prev = core._enter(BUSY_DEPTH)
    with nogil:
        idx = m.best_bid
        for k in range(n):
            if idx >= 0:
                lvl = &m.levels[idx]
                out[0, k, 0] = (idx + 1) * m.tick
                out[0, k, 1] = lvl.total
                out[0, k, 2] = lvl.count
                idx = level_after(m, BOOK_BID, idx)
            else:
                out[0, k, 0] = out[0, k, 1] = out[0, k, 2] = 0
        idx = m.best_ask
        for k in range(n):
            if idx < m.nlevels:
                lvl = &m.levels[m.nlevels + idx]
                out[1, k, 0] = (idx + 1) * m.tick
                out[1, k, 1] = lvl.total
                out[1, k, 2] = lvl.count
                idx = level_after(m, BOOK_ASK, idx)
            else:
                out[1, k, 0] = out[1, k, 1] = out[1, k, 2] = 0
    core.busy = prev


cdef object book_orders(Core core, mid):
    cdef Market* m = core._market(_int(mid, "mid"))
    cdef int32_t idx, side
    cdef slot_t s
    out = []
    for side in range(2):
        idx = m.best_bid if side == BOOK_BID else m.best_ask
        while 0 <= idx < m.nlevels:
            s = m.levels[side * m.nlevels + idx].head
            while s >= 0:
                out.append(_order_tuple(core, s, False))
                s = core.orders[s].next
            idx = level_after(m, side, idx)
    return out


# --------------------------------------------------------------- orders

cdef tuple _order_tuple(Core core, slot_t s, bint with_mid):
    # the tuple of user_orders (with_mid) or of book_orders
    cdef Order* o = &core.orders[s]
    cdef Market* m = &core.markets[o.mid]
    own = _own(o.outcome, o.yprice, m.payout)
    if with_mid:
        return (o.mid, o.oid, o.uid, o.action, o.outcome, own, o.qty, o.yprice,
                o.bside, o.tif, o.client_id, o.expire_ts)
    return (o.oid, o.uid, o.action, o.outcome, own, o.qty, o.yprice, o.bside)


cdef object user_orders(Core core, uid):
    cdef int64_t u_ = _int(uid, "uid")
    cdef slot_t s
    core._check_user(u_)
    out = []
    s = core.users[u_].head
    while s >= 0:
        out.append(_order_tuple(core, s, True))
        s = core.orders[s].unext
    return out


cdef object order(Core core, oid):
    cdef int64_t o_ = _int(oid, "oid")
    cdef slot_t s = -1
    core._guard()
    if o_ > 0:
        s = im_get(&core.oid_map, <uint64_t>o_)
    if s < 0:
        return None
    return _order_tuple(core, s, True)


cdef object order_by_client_id(Core core, uid, client_id):
    cdef int64_t u_ = _int(uid, "uid")
    cdef int64_t c = _client_id(client_id)
    cdef slot_t s
    core._guard()
    if u_ < 0 or u_ >= core.n_users or c == 0:
        return None
    s = im_get(&core.cid_map, (<uint64_t>c << 32) | <uint64_t>u_)
    if s < 0:
        return None
    return _order_tuple(core, s, True)


# --------------------------------------------------------------- events

cdef object events_bytes(Core core):
    core._guard()
    if core.n_events == 0:
        return b""
    return PyBytes_FromStringAndSize(<char*>core.events,
                                     core.n_events * sizeof(Event))


cdef object events_into(Core core, unsigned char[::1] out):
    cdef size_t size = core.n_events * sizeof(Event)
    core._guard()
    if <size_t>out.shape[0] < size:
        raise InvalidArgumentError(
            f"events_into needs {size} bytes, got {out.shape[0]}")
    if size:
        memcpy(&out[0], core.events, size)
    return core.n_events
