# cython: language_level=3
"""The invariant checkers of Core: a plain one, and a tuned one for restore.

``check`` is Core.check_invariants, the in-process oracle (a PROBO_DEBUG=1
build runs it, and ``check_tuned``, after every command).  It walks each
structure once in the most direct way: every level's FIFO, then the arena,
the maps, the expiry heap, every user's order list and every position, and
recomputes what the books lock and what the ledger must add up to.

``check_tuned`` checks the same invariants for Core.restore, which runs it on
every snapshot it loads and so wants it fast on large states: the hash maps
are checked by one scan of their buckets (with prefetching), and user order
lists are walked CHECK_WAYS at a time so their cache misses overlap.

Both must refuse the same broken states: tests/unit/test_invariant_checkers.py
breaks states one field at a time (``_break``) and asks both.  The independent
model of the rules is tests/reference.py, which the property tests compare the
core with.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free

from probo_engine._book cimport Core
from probo_engine._clib cimport probo_prefetch
from probo_engine._intmap cimport im_get, im_slot
from probo_engine._pricing cimport _book_side, _fee_unit, _own
from probo_engine._types cimport *

from probo_engine.errors import InvariantError

cdef enum:
    CHECK_AHEAD = 16       # buckets ahead whose target check_tuned prefetches
    CHECK_WAYS = 16        # user order lists check_tuned walks at once


# ================================================================ the plain one

cdef int _bad(str msg) except -1:
    raise InvariantError(msg)


ctypedef struct Need:
    # What the resting orders add up to, recomputed by the plain checker.
    int64_t* cash          # per user: cash its resting buys lock
    int64_t* shares        # per position and outcome: shares resting sells lock
    unsigned char* seen    # per arena slot: 1 once found resting on a level
    int64_t live           # orders found on levels
    int64_t gtd            # of which GTD
    int64_t with_cid       # of which with a client id


def check(Core core):
    """Core.check_invariants's body: raise InvariantError naming the first
    invariant found broken; O(size of state)."""
    core._guard()
    cdef Need need
    need.live = need.gtd = need.with_cid = 0
    need.cash = <int64_t*>calloc(core.n_users + 1, sizeof(int64_t))
    need.shares = <int64_t*>calloc(2 * core.n_pos + 2, sizeof(int64_t))
    need.seen = <unsigned char*>calloc(core.cap_orders + 1, 1)
    try:
        if need.cash == NULL or need.shares == NULL or need.seen == NULL:
            raise MemoryError()
        _plain_markets(core, &need)
        _plain_arena(core, &need)
        _plain_maps(core, &need)
        _plain_heap(core, &need)
        _plain_users(core, &need)
        _plain_positions(core, &need)
        _plain_cash(core)
    finally:
        free(need.cash)
        free(need.shares)
        free(need.seen)


cdef int _plain_markets(Core core, Need* need) except -1:
    # Every level of every book, then what the market's own fields say.
    cdef int64_t mi, i, side, n
    cdef int32_t best[2]
    cdef Market* m
    for mi in range(core.n_markets):
        m = &core.markets[mi]
        n = 0
        best[BOOK_BID] = -1
        best[BOOK_ASK] = m.nlevels
        for side in range(2):
            for i in range(m.nlevels):
                if _plain_level(core, mi, side, i, need) == 0:
                    continue
                n += m.levels[side * m.nlevels + i].count
                if side == BOOK_BID:
                    best[BOOK_BID] = i           # the highest occupied bid
                elif best[BOOK_ASK] == m.nlevels:
                    best[BOOK_ASK] = i           # the lowest occupied ask
        if best[BOOK_BID] != m.best_bid or best[BOOK_ASK] != m.best_ask:
            _bad(f"market {mi}: cached best {m.best_bid}/{m.best_ask} "
                 f"!= {best[BOOK_BID]}/{best[BOOK_ASK]}")
        if m.best_bid >= 0 and m.best_ask < m.nlevels and m.best_bid >= m.best_ask:
            _bad(f"market {mi}: book crossed")
        if n != m.n_orders:
            _bad(f"market {mi}: order count {m.n_orders} != {n}")
        if (m.status == MARKET_CLOSED or m.status == MARKET_RESOLVED) and n:
            _bad(f"market {mi}: orders rest in a {m.status} market")
        if m.status == MARKET_RESOLVED and (m.outstanding or m.yes_value < 0):
            _bad(f"market {mi}: resolved with shares outstanding")
        if m.outstanding < 0:
            _bad(f"market {mi}: negative outstanding pairs")
    return 0


cdef int64_t _plain_level(Core core, int64_t mi, int64_t side, int64_t i,
                          Need* need) except -1:
    # One price level: its FIFO from head to tail, each order on it, its
    # cached total/count and its bit.  Returns the number of orders.
    cdef Market* m = &core.markets[mi]
    cdef Level* lvl = &m.levels[side * m.nlevels + i]
    cdef int bit = (m.bits[side * m.nwords + (i >> 6)] >> (i & 63)) & 1
    cdef slot_t s = lvl.head, prev = -1
    cdef int64_t total = 0, count = 0
    if lvl.touched:
        _bad(f"market {mi} level {i} left marked touched")
    while s >= 0:
        if s >= core.cap_orders or core.orders[s].prev != prev:
            _bad(f"market {mi} level {i}: broken FIFO")
        _plain_order(core, mi, side, i, s, need)
        total += core.orders[s].qty
        count += 1
        prev = s
        s = core.orders[s].next
    if prev != lvl.tail:
        _bad(f"market {mi} level {i}: tail is not the last order")
    if total != lvl.total or count != lvl.count:
        _bad(f"market {mi} side {side} level {i}: total {lvl.total}"
             f"/count {lvl.count} != orders {total}/{count}")
    if bit != (count > 0):
        _bad(f"market {mi} side {side} level {i}: bitmap disagrees")
    return count


cdef int _plain_order(Core core, int64_t mi, int64_t side, int64_t i, slot_t s,
                      Need* need) except -1:
    # One resting order at level i of book side `side` of market mi.
    cdef Order* o = &core.orders[s]
    cdef Market* m = &core.markets[mi]
    cdef int64_t own
    cdef uint64_t cid_key = (<uint64_t>o.client_id << 32) | o.uid
    if need.seen[s]:
        _bad(f"order slot {s} rests twice (a FIFO loops or lists join)")
    need.seen[s] = 1
    if o.oid == 0 or o.qty <= 0:
        _bad(f"order slot {s}: empty order on a level")
    if o.uid >= core.n_users:
        _bad(f"order {o.oid}: unknown owner {o.uid}")
    if o.mid != mi or o.bside != side or o.yprice != (i + 1) * m.tick:
        _bad(f"order {o.oid} sits on the wrong level")
    if o.bside != _book_side(o.action, o.outcome):
        _bad(f"order {o.oid} on the wrong book side")
    if im_get(&core.oid_map, o.oid) != s:
        _bad(f"order {o.oid} missing from the id map")
    if o.client_id != 0 and im_get(&core.cid_map, cid_key) != s:
        _bad(f"order {o.oid}: client id not mapped")
    if o.tif != TIF_GTC and o.tif != TIF_GTD:
        _bad(f"order {o.oid} rests with tif {o.tif}")
    need.live += 1
    need.gtd += o.tif == TIF_GTD
    need.with_cid += o.client_id != 0
    if o.action == SIDE_BUY:
        own = _own(o.outcome, o.yprice, m.payout)
        need.cash[o.uid] += (own + _fee_unit(m, <price_t>own)) * o.qty
        return 0
    if (o.pos < 0 or o.pos >= core.n_pos or core.positions[o.pos].uid != o.uid
            or core.positions[o.pos].mid != mi):
        _bad(f"order {o.oid}: wrong position record")
    need.shares[2 * o.pos + o.outcome] += o.qty
    return 0


cdef int _plain_arena(Core core, Need* need) except -1:
    # Every slot is either resting (seen on a level) or on the free list.
    cdef slot_t s = core.free_head
    cdef int64_t nfree = 0
    if need.live != core.n_live:
        _bad(f"live orders {need.live} != counted {core.n_live}")
    if need.gtd != core.n_gtd:
        _bad(f"GTD count {core.n_gtd} != {need.gtd}")
    while s >= 0:
        if s >= core.cap_orders or nfree >= core.cap_orders:
            _bad("broken free list")
        if core.orders[s].oid != 0 or need.seen[s]:
            _bad(f"free slot {s} holds an order")
        nfree += 1
        s = core.orders[s].next
    if nfree + core.n_live != core.cap_orders:
        _bad(f"free {nfree} + live {core.n_live} != capacity {core.cap_orders}")
    return 0


cdef int _plain_maps(Core core, Need* need) except -1:
    # Each live order was found through both maps (_plain_order); here every
    # entry of each map is a live record under its own key, and each map
    # holds no more entries than there are records.
    cdef int64_t i, n_oid = 0, n_cid = 0, n_pos = 0
    cdef int32_t v
    cdef uint64_t k
    cdef Order* o
    cdef Position* r
    for i in range(core.oid_map.cap):
        k = core.oid_map.keys[i]
        v = core.oid_map.vals[i]
        if k == 0:
            continue
        n_oid += 1
        if v < 0 or v >= core.cap_orders or core.orders[v].oid != k or not need.seen[v]:
            _bad(f"order id map entry {k} -> slot {v} is wrong")
    for i in range(core.cid_map.cap):
        k = core.cid_map.keys[i]
        v = core.cid_map.vals[i]
        if k == 0:
            continue
        n_cid += 1
        if v < 0 or v >= core.cap_orders or not need.seen[v]:
            _bad(f"client id map entry {k} -> slot {v} is wrong")
        o = &core.orders[v]
        if o.client_id == 0 or ((<uint64_t>o.client_id << 32) | o.uid) != k:
            _bad(f"client id map entry {k} -> slot {v} is wrong")
    for i in range(core.pos_map.cap):
        k = core.pos_map.keys[i]
        v = core.pos_map.vals[i]
        if k == 0:
            continue
        n_pos += 1
        if v < 0 or v >= core.n_pos:
            _bad(f"position map entry {k} -> {v} is wrong")
        r = &core.positions[v]
        if ((<uint64_t>r.uid << 32) | r.mid) + 1 != k or im_get(&core.pos_map, k) != v:
            _bad(f"position map entry {k} -> {v} is wrong")
    if n_oid != core.oid_map.size or n_oid != core.n_live:
        _bad(f"order id map holds {n_oid} entries, counts {core.oid_map.size}, "
             f"live orders {core.n_live}")
    if n_cid != core.cid_map.size or n_cid != need.with_cid:
        _bad(f"client id map holds {n_cid} entries, counts {core.cid_map.size}, "
             f"live client ids {need.with_cid}")
    if n_pos != core.pos_map.size or n_pos != core.n_pos:
        _bad(f"position map holds {n_pos} entries for {core.n_pos} positions")
    return 0


cdef int _plain_heap(Core core, Need* need) except -1:
    # A min-heap on (ts, oid) holding one entry per live GTD order at its
    # expiry (other entries are stale: their order is gone).
    cdef int64_t i, matched = 0
    cdef slot_t s
    cdef Expiry* h = core.heap
    for i in range(1, core.n_heap):
        if h[(i - 1) // 2].ts > h[i].ts or (
                h[(i - 1) // 2].ts == h[i].ts and h[(i - 1) // 2].oid > h[i].oid):
            _bad("expiry heap out of order")
    for i in range(core.n_heap):
        s = im_get(&core.oid_map, h[i].oid)
        if (s >= 0 and core.orders[s].tif == TIF_GTD
                and core.orders[s].expire_ts == h[i].ts):
            matched += 1
    if matched != need.gtd:
        _bad(f"{need.gtd - matched} GTD orders missing from the expiry heap")
    return 0


cdef int _plain_users(Core core, Need* need) except -1:
    # Cash never negative and locked exactly as the resting buys need; each
    # user's list holds its resting orders, oldest (lowest id) first.
    cdef int64_t i, n, listed = 0
    cdef slot_t s, prev
    cdef User* u
    for i in range(core.n_users):
        u = &core.users[i]
        if u.avail < 0 or u.locked != need.cash[i]:
            _bad(f"user {i}: cash {u.avail}/{u.locked}"
                 f", resting buys need {need.cash[i]}")
        n = 0
        prev = -1
        s = u.head
        while s >= 0:
            if (s >= core.cap_orders or not need.seen[s] or core.orders[s].uid != i
                    or core.orders[s].uprev != prev or n >= core.n_live):
                _bad(f"user {i}: broken order list")
            if prev >= 0 and core.orders[prev].oid >= core.orders[s].oid:
                _bad(f"user {i}: order list out of id order")
            n += 1
            prev = s
            s = core.orders[s].unext
        if prev != u.tail:
            _bad(f"user {i}: order list tail")
        if n != u.n_orders:
            _bad(f"user {i}: {u.n_orders} orders counted, {n} listed")
        listed += n
    if listed != core.n_live:
        _bad(f"user lists hold {listed} orders, live {core.n_live}")
    return 0


cdef int _plain_positions(Core core, Need* need) except -1:
    # Shares never negative and locked exactly as the resting sells need;
    # every position findable; YES and NO shares each add up to the pairs
    # outstanding in their market.
    cdef int64_t i, side, mid
    cdef Position* r
    cdef int64_t* held = <int64_t*>calloc(2 * core.n_markets + 2, sizeof(int64_t))
    if held == NULL:
        raise MemoryError()
    try:
        for i in range(core.n_pos):
            r = &core.positions[i]
            if (r.mid >= core.n_markets or r.uid >= core.n_users or im_get(
                    &core.pos_map, ((<uint64_t>r.uid << 32) | r.mid) + 1) != i):
                _bad(f"position {i} missing from the position map")
            for side in range(2):
                if r.avail[side] < 0 or r.locked[side] != need.shares[2 * i + side]:
                    _bad(f"user {r.uid} market {r.mid}: shares locked "
                         f"{r.locked[side]} != resting sells need")
                held[2 * r.mid + side] += r.avail[side] + r.locked[side]
        for mid in range(core.n_markets):
            for side in range(2):
                if held[2 * mid + side] != core.markets[mid].outstanding:
                    _bad(f"market {mid}: {('YES', 'NO')[side]} shares "
                         f"{held[2 * mid + side]} != outstanding "
                         f"{core.markets[mid].outstanding}")
    finally:
        free(held)
    return 0


cdef int _plain_cash(Core core) except -1:
    # Cash is conserved: what users hold, what backs the pairs outstanding
    # and the fee account add up to the net deposits.
    cdef int64_t i, total = core.fee_balance
    if core.fee_balance < 0:
        _bad("negative fee account")
    for i in range(core.n_users):
        total += core.users[i].avail + core.users[i].locked
    for i in range(core.n_markets):
        total += core.markets[i].payout * core.markets[i].outstanding
    if total != core.net_cash:
        _bad(f"cash not conserved: {total} != net deposits {core.net_cash}")
    return 0


# ================================================================ the tuned one

def check_tuned(Core core):
    """Core.restore's check: the same invariants as ``check``, tuned for large
    states; raise InvariantError naming the first found broken."""
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
    if used != core.n_pos or used != pm.size:
        fail(f"position map holds {used} entries for {core.n_pos} positions")
    return 0

cdef int _check_books(Core core, const unsigned char* mark, int64_t* lock_cash,
                      int64_t* lock_sh, object fail) except -1:
    # Every level's FIFO (_check_level), each market's cached best prices and
    # own fields (_check_market), then the arena and the heap (_check_arena).
    cdef int64_t mi, i, side
    cdef int64_t tally[3]    # resting orders found: all, with a client id, GTD
    cdef int32_t best
    cdef Market* m
    tally[0] = tally[1] = tally[2] = 0
    for mi in range(core.n_markets):
        m = &core.markets[mi]
        for side in range(2):
            best = -1 if side == BOOK_BID else m.nlevels
            for i in range(m.nlevels):
                if _check_level(core, mi, side, i, mark, lock_cash, lock_sh,
                                tally, fail) > 0:
                    if side == BOOK_BID:
                        best = i
                    elif best == m.nlevels:
                        best = i
            if side == BOOK_BID and best != m.best_bid:
                fail(f"market {mi}: cached best bid {m.best_bid} != {best}")
            if side == BOOK_ASK and best != m.best_ask:
                fail(f"market {mi}: cached best ask {m.best_ask} != {best}")
        _check_market(core, mi, fail)
    _check_arena(core, tally, fail)
    return 0

cdef int64_t _check_level(Core core, int64_t mi, int64_t side, int64_t i,
                          const unsigned char* mark, int64_t* lock_cash,
                          int64_t* lock_sh, int64_t* tally, object fail) except -1:
    # One level's FIFO and every order on it; returns the orders counted.
    cdef Market* m = &core.markets[mi]
    cdef Level* lvl = &m.levels[side * m.nlevels + i]
    cdef int bit = (m.bits[side * m.nwords + (i >> 6)] >> (i & 63)) & 1
    cdef slot_t s = lvl.head, prev = -1
    cdef qty_t tot = 0
    cdef int32_t cnt = 0
    cdef int64_t own = 0, unit = 0
    cdef Order* o
    if lvl.touched:
        fail(f"market {mi} level {i} left marked touched")
    if bit != (lvl.count > 0):
        fail(f"market {mi} side {side} level {i}: bitmap disagrees")
    if s >= 0:
        # what one share of a resting buy here locks: every buy on a level
        # has the same own price (checked per order)
        own = (i + 1) * m.tick if side == BOOK_BID else m.payout - (i + 1) * m.tick
        unit = own + _fee_unit(m, <price_t>own)
    while s >= 0:
        if s >= core.cap_orders or cnt > core.n_live:
            fail(f"market {mi} level {i}: broken FIFO")
        o = &core.orders[s]
        if o.next >= 0 and o.next < core.cap_orders:
            probo_prefetch(&core.orders[o.next])
        if o.prev != prev or o.oid == 0 or o.qty <= 0:
            fail(f"order slot {s}: bad FIFO link or empty order")
        if o.uid >= core.n_users:
            fail(f"order {o.oid}: unknown owner {o.uid}")
        if o.mid != mi or o.bside != side or o.yprice != (i + 1) * m.tick:
            fail(f"order {o.oid} sits on the wrong level")
        if not mark[s] & 1:
            fail(f"order {o.oid} missing from the id map")
        if o.bside != _book_side(o.action, o.outcome):
            fail(f"order {o.oid} on the wrong book side")
        if o.client_id != 0 and not mark[s] & 2:
            fail(f"order {o.oid}: client id not mapped")
        if o.tif != TIF_GTD and o.tif != TIF_GTC:
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
        tot += o.qty
        cnt += 1
        tally[0] += 1
        tally[1] += o.client_id != 0
        tally[2] += o.tif == TIF_GTD
        prev = s
        s = o.next
    if prev != lvl.tail:
        fail(f"market {mi} level {i}: tail is not the last order")
    if tot != lvl.total or cnt != lvl.count:
        fail(f"market {mi} side {side} level {i}: total {lvl.total}"
             f"/count {lvl.count} != orders {tot}/{cnt}")
    return cnt

cdef int _check_market(Core core, int64_t mi, object fail) except -1:
    cdef Market* m = &core.markets[mi]
    cdef int64_t i, n = 0
    if m.best_bid >= 0 and m.best_ask < m.nlevels and m.best_bid >= m.best_ask:
        fail(f"market {mi}: book crossed")
    for i in range(2 * m.nlevels):
        n += m.levels[i].count
    if n != m.n_orders:
        fail(f"market {mi}: order count {m.n_orders} != {n}")
    if (m.status == MARKET_CLOSED or m.status == MARKET_RESOLVED) and m.n_orders:
        fail(f"market {mi}: orders rest in a {m.status} market")
    if m.status == MARKET_RESOLVED and (m.outstanding or m.yes_value < 0):
        fail(f"market {mi}: resolved with shares outstanding")
    if m.outstanding < 0:
        fail(f"market {mi}: negative outstanding pairs")
    return 0

cdef int _check_arena(Core core, const int64_t* tally, object fail) except -1:
    # The counts against what the books hold, the free list, the expiry heap.
    cdef int64_t i, nfree = 0, matched = 0
    cdef slot_t s
    cdef uint64_t h
    if tally[0] != core.n_live or core.oid_map.size != core.n_live:
        fail(f"live orders {tally[0]} != counted {core.n_live}/{core.oid_map.size}")
    s = core.free_head
    while s >= 0:
        if s >= core.cap_orders or nfree > core.cap_orders:
            fail("broken free list")
        if core.orders[s].oid != 0:
            fail(f"free slot {s} holds an order")
        nfree += 1
        s = core.orders[s].next
    if tally[1] != core.cid_map.size:
        fail(f"client id map holds {core.cid_map.size}, live ids {tally[1]}")
    if tally[2] != core.n_gtd:
        fail(f"GTD count {core.n_gtd} != {tally[2]}")
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
    if matched != tally[2]:
        fail(f"{tally[2] - matched} GTD orders missing from the expiry heap")
    if nfree + core.n_live != core.cap_orders:
        fail(f"free {nfree} + live {core.n_live} != capacity {core.cap_orders}")
    return 0

cdef int _check_ledger(Core core, const unsigned char* pmark, int64_t* lock_cash,
                       int64_t* lock_sh, int64_t* held, object fail) except -1:
    cdef int64_t i, side, c, left, nxt = 0, listed = 0
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
                        or core.orders[s].oid == 0
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
                listed += cn[c]
                cu[c] = -1
                left -= 1
    if listed != core.n_live:
        fail(f"user lists hold {listed} orders, live {core.n_live}")
    for i in range(core.n_pos):
        r = &core.positions[i]
        if not pmark[i] or r.mid >= core.n_markets or r.uid >= core.n_users:
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


# ======================================================= for the checkers' test

cdef slot_t _live_slot(Core core, bint gtd):
    # The lowest arena slot holding a resting order (a GTD one if asked), or -1.
    cdef slot_t s
    for s in range(core.cap_orders):
        if core.orders[s].oid != 0 and (not gtd or core.orders[s].tif == TIF_GTD):
            return s
    return -1


def _break(Core core, str what):
    """Break one field of ``core`` the way a bug could (tests only).

    Returns False, changing nothing, when the state has nothing of that kind
    to break (no resting order, no free slot...).  Both checkers must then
    refuse the state: tests/unit/test_invariant_checkers.py.
    """
    cdef slot_t s = _live_slot(core, what.startswith("gtd_"))
    cdef Order* o = &core.orders[s] if s >= 0 else NULL
    cdef Market* m = &core.markets[o.mid] if o != NULL else NULL
    cdef Level* lvl = NULL
    cdef int64_t i
    if m != NULL:
        lvl = &m.levels[o.bside * m.nlevels + o.yprice // m.tick - 1]
    if what == "fee_balance":
        core.net_cash -= core.fee_balance + 1   # still conserved: only the
        core.fee_balance = -1                   # sign is wrong
    elif what == "net_cash":
        core.net_cash += 1
    elif what == "user_avail" and core.n_users:
        core.users[0].avail += 1
    elif what == "outstanding" and core.n_markets:
        core.markets[0].outstanding += 1
    elif what == "position_avail" and core.n_pos:
        core.positions[0].avail[0] += 1
    elif what == "pos_map_size" and core.n_pos:
        core.pos_map.size += 1
    elif what == "pos_map_val" and core.n_pos > 1:
        for i in range(core.pos_map.cap):
            if core.pos_map.keys[i] != 0:
                core.pos_map.vals[i] = (core.pos_map.vals[i] + 1) % core.n_pos
                break
    elif what == "position_key" and core.n_pos:
        core.positions[0].uid ^= 1
    elif what == "free_slot" and core.free_head >= 0:
        core.orders[core.free_head].oid = core.next_oid + 1000
    elif what == "free_head" and core.free_head >= 0:
        core.free_head = core.orders[core.free_head].next
    elif what == "empty_bit" and core.n_markets:
        m = &core.markets[0]
        for i in range(m.nlevels):
            if m.levels[i].count == 0:
                m.bits[i >> 6] ^= (<uint64_t>1) << (i & 63)
                break
        else:
            return False
    elif o == NULL:
        return False                # the rest break a resting order
    elif what == "order_qty":
        o.qty += 1
    elif what == "order_oid":
        o.oid = core.next_oid + 1000
    elif what == "order_prev":
        o.prev = s
    elif what == "order_tif":
        o.tif = TIF_IOC
    elif what == "order_bside":
        o.outcome ^= 1              # now on the wrong side of the book
    elif what == "order_uid":
        if core.n_users < 2:
            return False
        o.uid = (o.uid + 1) % core.n_users
    elif what == "order_unext":
        o.unext = s
    elif what == "order_client_id":
        o.client_id = 0 if o.client_id else 77
    elif what == "level_total":
        lvl.total += 1
    elif what == "level_count":
        lvl.count += 1
    elif what == "level_touched":
        lvl.touched = 1
    elif what == "level_tail":
        lvl.tail = -1
    elif what == "best":
        if o.bside == BOOK_BID:
            m.best_bid -= 1
        else:
            m.best_ask += 1
    elif what == "market_n_orders":
        m.n_orders += 1
    elif what == "market_closed":
        m.status = MARKET_CLOSED
    elif what == "market_bit":
        i = o.yprice // m.tick - 1
        m.bits[o.bside * m.nwords + (i >> 6)] ^= (<uint64_t>1) << (i & 63)
    elif what == "n_live":
        core.n_live += 1
    elif what == "oid_map_size":
        core.oid_map.size += 1
    elif what == "cid_map_size":
        core.cid_map.size += 1
    elif what == "oid_map_val":
        for i in range(core.oid_map.cap):
            if core.oid_map.keys[i] == o.oid:
                core.oid_map.vals[i] = core.free_head if core.free_head >= 0 else -1
    elif what == "user_locked":
        core.users[o.uid].locked += 1
    elif what == "user_n_orders":
        core.users[o.uid].n_orders += 1
    elif what == "user_head":
        core.users[o.uid].head = -1
    elif what == "user_tail":
        core.users[o.uid].tail = -1
    elif what == "gtd_n_gtd":
        core.n_gtd += 1
    elif what == "gtd_expiry":
        o.expire_ts += 1
    elif what == "gtd_heap_order" and core.n_heap > 1:
        core.heap[0].ts = core.heap[core.n_heap - 1].ts + 1
    else:
        return False
    return True
