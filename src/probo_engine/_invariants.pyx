# cython: language_level=3
"""Core.check_invariants: every structural and accounting invariant, recomputed.

This is the restore-time checker: Core.restore runs it on every snapshot it
loads (and a PROBO_DEBUG=1 build after every command), so it is tuned for
large states (the hash maps are checked by one scan of their buckets, user
order lists are walked CHECK_WAYS at a time with prefetching).  The
independent, plain model of the same rules is tests/reference.py, which the
property tests compare the core with.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free

from probo_engine._book cimport Core
from probo_engine._clib cimport probo_prefetch
from probo_engine._intmap cimport im_get, im_slot
from probo_engine._pricing cimport _fee_unit
from probo_engine._types cimport *

from probo_engine.errors import InvariantError

cdef enum:
    CHECK_AHEAD = 16       # buckets ahead whose target check_invariants prefetches
    CHECK_WAYS = 16        # user order lists check_invariants walks at once


def check(Core core):
    """Core.check_invariants's body: raise InvariantError naming the first
    invariant found broken; O(size of state)."""
    core._guard()
    # C scratch arrays, not dicts: this runs on every restore (and after
    # every command in a debug build)
    cdef int64_t* lock_cash = <int64_t*>calloc(core.n_users + 1, sizeof(int64_t))
    cdef int64_t* lock_sh = <int64_t*>calloc(2 * core.n_pos + 2, sizeof(int64_t))
    cdef int64_t* held = <int64_t*>calloc(2 * core.n_markets + 2, sizeof(int64_t))

    def fail(msg):
        raise InvariantError(msg)

    if lock_cash == NULL or lock_sh == NULL or held == NULL:
        free(lock_cash)
        free(lock_sh)
        free(held)
        raise MemoryError()
    try:
        _check(core, lock_cash, lock_sh, held, fail)
    finally:
        free(lock_cash)
        free(lock_sh)
        free(held)


cdef int _check(Core core, int64_t* lock_cash, int64_t* lock_sh, int64_t* held,
                object fail) except -1:
    # One independent recomputation of every invariant.  Costs are kept
    # linear and cache-friendly: the three hash maps are checked by one
    # scan of their buckets (each entry's own lookup finds it, its target
    # holds that key, no target twice; probes stay near the bucket), and
    # the per-order "is it mapped" check becomes a mark left by that scan;
    # user lists are walked CHECK_WAYS at a time so their misses overlap.
    cdef unsigned char* mark = <unsigned char*>calloc(core.cap_orders + 1, 1)
    cdef unsigned char* pmark = <unsigned char*>calloc(core.n_pos + 1, 1)
    if mark == NULL or pmark == NULL:
        free(mark)
        free(pmark)
        raise MemoryError()
    try:
        _check_maps(core, mark, pmark, fail)
        _check_books(core, mark, lock_cash, lock_sh, fail)
        _check_ledger(core, pmark, lock_cash, lock_sh, held, fail)
    finally:
        free(mark)
        free(pmark)
    return 0

cdef int _check_maps(Core core, unsigned char* mark, unsigned char* pmark,
                     object fail) except -1:
    # mark[slot] bit 1: the id map holds (oid -> slot) and finds it;
    # bit 2: the same for the client-id map; pmark[i]: the position map
    # holds (key of position i -> i) and finds it
    cdef const IntMap* om = &core.oid_map
    cdef const IntMap* cm = &core.cid_map
    cdef const IntMap* pm = &core.pos_map
    cdef int64_t i, used, v, w
    cdef uint64_t k
    cdef Order* o
    cdef Position* r
    used = 0
    for i in range(om.cap):
        if i + CHECK_AHEAD < om.cap and om.keys[i + CHECK_AHEAD] != 0:
            w = om.vals[i + CHECK_AHEAD]
            if 0 <= w < core.cap_orders:
                probo_prefetch(&core.orders[w])
        k = om.keys[i]
        if k == 0:
            continue
        used += 1
        v = om.vals[i]
        if (v < 0 or v >= core.cap_orders or core.orders[v].oid != k
                or mark[v] & 1 or im_get(om, k) != v):
            fail(f"order id map entry {k} -> slot {v} is wrong")
        mark[v] |= 1
    if used != om.size:
        fail(f"order id map holds {used} entries, counts {om.size}")
    used = 0
    for i in range(cm.cap):
        k = cm.keys[i]
        if k == 0:
            continue
        used += 1
        v = cm.vals[i]
        if v < 0 or v >= core.cap_orders:
            fail(f"client id map entry {k} -> slot {v} is wrong")
        o = &core.orders[v]
        if (o.oid == 0 or o.client_id == 0
                or ((<uint64_t>o.client_id << 32) | o.uid) != k
                or mark[v] & 2 or im_get(cm, k) != v):
            fail(f"client id map entry {k} -> slot {v} is wrong")
        mark[v] |= 2
    if used != cm.size:
        fail(f"client id map holds {used} entries, counts {cm.size}")
    used = 0
    for i in range(pm.cap):
        if i + CHECK_AHEAD < pm.cap and pm.keys[i + CHECK_AHEAD] != 0:
            w = pm.vals[i + CHECK_AHEAD]
            if 0 <= w < core.n_pos:
                probo_prefetch(&core.positions[w])
        k = pm.keys[i]
        if k == 0:
            continue
        used += 1
        v = pm.vals[i]
        if v < 0 or v >= core.n_pos:
            fail(f"position map entry {k} -> {v} is wrong")
        r = &core.positions[v]
        if (((<uint64_t>r.uid << 32) | r.mid) + 1 != k or pmark[v]
                or im_get(pm, k) != v):
            fail(f"position map entry {k} -> {v} is wrong")
        pmark[v] = 1
    if used != core.n_pos:
        fail(f"position map holds {used} entries for {core.n_pos} positions")
    return 0

cdef int _check_books(Core core, const unsigned char* mark, int64_t* lock_cash,
                      int64_t* lock_sh, object fail) except -1:
    cdef int64_t mi, i, side, live = 0, nfree = 0
    cdef Market* m
    cdef Level* lvl
    cdef Order* o
    cdef slot_t s, prev
    cdef qty_t tot
    cdef int32_t cnt, best
    cdef int bit
    cdef int64_t n_cid = 0, mkt_orders, n_gtd = 0, matched = 0
    cdef int64_t own, unit
    cdef uint64_t h

    for mi in range(core.n_markets):
        m = &core.markets[mi]
        for side in range(2):
            best = -1 if side == BOOK_BID else m.nlevels
            for i in range(m.nlevels):
                lvl = &m.levels[side * m.nlevels + i]
                if lvl.touched:
                    fail(f"market {mi} level {i} left marked touched")
                bit = (m.bits[side * m.nwords + (i >> 6)] >> (i & 63)) & 1
                if bit != (lvl.count > 0):
                    fail(f"market {mi} side {side} level {i}: bitmap disagrees")
                tot = 0
                cnt = 0
                prev = -1
                s = lvl.head
                if s >= 0:
                    # what one share of a resting buy here locks: every buy
                    # on a level has the same own price (checked per order)
                    own = (i + 1) * m.tick if side == BOOK_BID else (
                        m.payout - (i + 1) * m.tick)
                    unit = own + _fee_unit(m, <price_t>own)
                while s >= 0:
                    if s >= core.cap_orders or cnt > core.n_live:
                        fail(f"market {mi} level {i}: broken FIFO")
                    o = &core.orders[s]
                    if o.next >= 0 and o.next < core.cap_orders:
                        probo_prefetch(&core.orders[o.next])
                    if o.prev != prev or o.oid == 0 or o.qty <= 0:
                        fail(f"order slot {s}: bad FIFO link or empty order")
                    if (o.mid != mi or o.bside != side
                            or o.yprice != (i + 1) * m.tick):
                        fail(f"order {o.oid} sits on the wrong level")
                    if not mark[s] & 1:
                        fail(f"order {o.oid} missing from the id map")
                    if o.bside != (BOOK_BID if (o.action == SIDE_BUY) ==
                                   (o.outcome == OUTCOME_YES) else BOOK_ASK):
                        fail(f"order {o.oid} on the wrong book side")
                    tot += o.qty
                    cnt += 1
                    live += 1
                    n_cid += o.client_id != 0
                    if o.client_id != 0 and not mark[s] & 2:
                        fail(f"order {o.oid}: client id not mapped")
                    if o.tif == TIF_GTD:
                        n_gtd += 1
                    elif o.tif != TIF_GTC:
                        fail(f"order {o.oid} rests with tif {o.tif}")
                    if o.action == SIDE_BUY:
                        # own price = _own(outcome, yprice, payout) = own above
                        lock_cash[o.uid] += unit * o.qty
                    else:
                        if (o.pos < 0 or o.pos >= core.n_pos
                                or core.positions[o.pos].uid != o.uid
                                or core.positions[o.pos].mid != mi):
                            fail(f"order {o.oid}: wrong position record")
                        lock_sh[2 * o.pos + o.outcome] += o.qty
                    prev = s
                    s = o.next
                if prev != lvl.tail:
                    fail(f"market {mi} level {i}: tail is not the last order")
                if tot != lvl.total or cnt != lvl.count:
                    fail(f"market {mi} side {side} level {i}: total {lvl.total}"
                         f"/count {lvl.count} != orders {tot}/{cnt}")
                if cnt > 0:
                    if side == BOOK_BID:
                        best = i
                    elif best == m.nlevels:
                        best = i
            if side == BOOK_BID and best != m.best_bid:
                fail(f"market {mi}: cached best bid {m.best_bid} != {best}")
            if side == BOOK_ASK and best != m.best_ask:
                fail(f"market {mi}: cached best ask {m.best_ask} != {best}")
        if m.best_bid >= 0 and m.best_ask < m.nlevels and m.best_bid >= m.best_ask:
            fail(f"market {mi}: book crossed")
        mkt_orders = 0
        for i in range(2 * m.nlevels):
            mkt_orders += m.levels[i].count
        if mkt_orders != m.n_orders:
            fail(f"market {mi}: order count {m.n_orders} != {mkt_orders}")
        if (m.status == MARKET_CLOSED or m.status == MARKET_RESOLVED) \
                and m.n_orders:
            fail(f"market {mi}: orders rest in a {m.status} market")
        if m.status == MARKET_RESOLVED and (m.outstanding or m.yes_value < 0):
            fail(f"market {mi}: resolved with shares outstanding")
        if m.outstanding < 0:
            fail(f"market {mi}: negative outstanding pairs")
    if live != core.n_live or core.oid_map.size != core.n_live:
        fail(f"live orders {live} != counted {core.n_live}/{core.oid_map.size}")
    s = core.free_head
    while s >= 0:
        if s >= core.cap_orders or nfree > core.cap_orders:
            fail("broken free list")
        if core.orders[s].oid != 0:
            fail(f"free slot {s} holds an order")
        nfree += 1
        s = core.orders[s].next
    if n_cid != core.cid_map.size:
        fail(f"client id map holds {core.cid_map.size}, live ids {n_cid}")
    if n_gtd != core.n_gtd:
        fail(f"GTD count {core.n_gtd} != {n_gtd}")
    for i in range(core.n_heap):
        if i + CHECK_AHEAD < core.n_heap:
            h = im_slot(&core.oid_map, core.heap[i + CHECK_AHEAD].oid)
            probo_prefetch(&core.oid_map.keys[h])
        s = im_get(&core.oid_map, core.heap[i].oid)
        if s >= 0 and core.orders[s].tif == TIF_GTD and \
                core.orders[s].expire_ts == core.heap[i].ts:
            matched += 1     # entries are unique: one per live GTD order
        if i > 0 and (core.heap[(i - 1) // 2].ts > core.heap[i].ts or (
                core.heap[(i - 1) // 2].ts == core.heap[i].ts
                and core.heap[(i - 1) // 2].oid > core.heap[i].oid)):
            fail("expiry heap out of order")
    if matched != n_gtd:
        fail(f"{n_gtd - matched} GTD orders missing from the expiry heap")
    if nfree + core.n_live != core.cap_orders:
        fail(f"free {nfree} + live {core.n_live} != capacity {core.cap_orders}")
    return 0

cdef int _check_ledger(Core core, const unsigned char* pmark, int64_t* lock_cash,
                       int64_t* lock_sh, int64_t* held, object fail) except -1:
    cdef int64_t i, side, c, left, nxt = 0
    cdef int64_t total_cash = 0
    cdef Position* r
    cdef Market* m
    cdef slot_t s, prev
    # one cursor per user list being walked (user, slot, previous, count)
    cdef int64_t cu[CHECK_WAYS]
    cdef slot_t cs[CHECK_WAYS]
    cdef slot_t cp[CHECK_WAYS]
    cdef int64_t cn[CHECK_WAYS]
    for i in range(core.n_markets):
        m = &core.markets[i]
        total_cash += m.payout * m.outstanding
    if core.fee_balance < 0:
        fail("negative fee account")
    total_cash += core.fee_balance
    for i in range(core.n_users):
        if core.users[i].avail < 0 or core.users[i].locked != lock_cash[i]:
            fail(f"user {i}: cash {core.users[i].avail}/{core.users[i].locked}"
                 f", resting buys need {lock_cash[i]}")
        total_cash += core.users[i].avail + core.users[i].locked
    # each user's list: from head, owned by the user, back links right,
    # ids increasing, ends at tail, as long as counted
    left = core.n_users
    for c in range(CHECK_WAYS):
        cu[c] = -1
    while left > 0:
        for c in range(CHECK_WAYS):
            if cu[c] < 0:
                if nxt >= core.n_users:
                    continue
                cu[c] = nxt
                cs[c] = core.users[nxt].head
                cp[c] = -1
                cn[c] = 0
                nxt += 1
            i = cu[c]
            s = cs[c]
            if s >= 0:
                prev = cp[c]
                if (s >= core.cap_orders or core.orders[s].uid != i
                        or core.orders[s].uprev != prev):
                    fail(f"user {i}: broken order list")
                if prev >= 0 and core.orders[prev].oid >= core.orders[s].oid:
                    fail(f"user {i}: order list out of id order")
                cp[c] = s
                s = cs[c] = core.orders[s].unext
                cn[c] += 1
                if cn[c] > core.n_live:
                    fail(f"user {i}: order list loops")
                if 0 <= s < core.cap_orders:
                    probo_prefetch(&core.orders[s])
            else:
                if cp[c] != core.users[i].tail:
                    fail(f"user {i}: order list tail")
                if cn[c] != core.users[i].n_orders:
                    fail(f"user {i}: {core.users[i].n_orders} orders counted, "
                         f"{cn[c]} listed")
                cu[c] = -1
                left -= 1
    for i in range(core.n_pos):
        r = &core.positions[i]
        if not pmark[i]:
            fail(f"position {i} missing from the position map")
        for side in range(2):
            if r.avail[side] < 0 or r.locked[side] != lock_sh[2 * i + side]:
                fail(f"user {r.uid} market {r.mid}: shares locked "
                     f"{r.locked[side]} != resting sells need")
            held[2 * r.mid + side] += r.avail[side] + r.locked[side]
    for i in range(core.n_markets):
        if held[2 * i] != core.markets[i].outstanding or held[2 * i + 1] != \
                core.markets[i].outstanding:
            fail(f"market {i}: YES {held[2 * i]} / NO {held[2 * i + 1]} "
                 f"shares != outstanding {core.markets[i].outstanding}")
    if total_cash != core.net_cash:
        fail(f"cash not conserved: {total_cash} != net deposits {core.net_cash}")
    return 0
