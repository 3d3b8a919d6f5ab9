# cython: language_level=3
"""The matching core: books, matching, ledger and events, in C structures.

Public entry points are ``def`` methods of :class:`Core`; everything they call is
C.  The exact rules are in ``docs/semantics.md``; ``tests/reference.py`` is the
slow model the property tests compare this module with.  What does not run on
every command lives beside this module (CONTRIBUTING.md, "Where the core's code
lives"): _lifecycle, _funds, _expiry, _queries, _results, _args, _layout,
_snapshot.
"""

cimport cython
from cpython.pythread cimport PyThread_get_thread_ident
from libc.stdint cimport (
    INT16_MAX, INT16_MIN, INT32_MAX, INT32_MIN, int16_t, int32_t, int64_t, uint64_t,
)
from libc.string cimport memset

import hashlib

from probo_engine.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    UnknownUserError,
)
from probo_engine.types import SelfTrade, TimeInForce

# Keyword defaults of Core._submit, tested by identity.
_TIF_GTC = TimeInForce.GTC
_STP_DEFAULT = SelfTrade.CANCEL_MAKER

from probo_engine._alloc cimport grow
from probo_engine._args cimport (
    _check_records,
    _client_id,
    _enum,
    _int,
    _market_key,
    _raise_busy,
    _self_trade,
    _user_key,
    check_batch,
)
from probo_engine._bitset cimport (
    bit_clear,
    bit_next_down,
    bit_next_up,
    bit_set,
    level_after,
)
from probo_engine._clib cimport (
    MAX_LEVELS,
    MAX_QTY,
    PROBO_DEBUG,
    probo_affordable,
    probo_crc32,
    probo_crc_simd,
    probo_fee,
    probo_pagehint_init,
    probo_prefetch,
    probo_prefetchw,
)
from probo_engine._intmap cimport (
    im_del,
    im_get,
    im_insert_nogrow,
    im_prefetch,
    im_reserve,
)
from probo_engine._lifecycle cimport (
    core_free,
    core_init,
    core_reinit,
    create_market,
    create_user,
    set_status,
)
from probo_engine._pricing cimport _book_side, _fee_unit, _own
from probo_engine._rules cimport expiry_ok, max_cost_ok, post_only_ok
# code on Core's fields that not every command runs, called as
# expiry.expire(self, ts), readout.fills_flat(self) etc.
from probo_engine cimport _expiry as expiry
from probo_engine cimport _funds as funds
from probo_engine cimport _queries as queries
from probo_engine cimport _results as readout
from probo_engine._types cimport *


# The Python-level tables live in _layout.pyx; re-exported here, where the
# package imports them from.
from probo_engine._layout import (
    COMMAND_FIELDS,  # no-cython-lint (re-exported)
    CONSTANTS,  # no-cython-lint (re-exported)
    EVENT_FIELDS,  # no-cython-lint (re-exported)
    EVENT_LAYOUT,  # no-cython-lint (re-exported)
    EVENT_SIZE,  # no-cython-lint (re-exported)
    SNAPSHOT_MAGIC,  # no-cython-lint (re-exported)
    SNAPSHOT_VERSION,  # no-cython-lint (re-exported)
)

#: True in a PROBO_DEBUG=1 build (bounds and overflow checks, and
#: check_invariants() after every command: O(state) per command).
DEBUG = bool(PROBO_DEBUG)

# PROBO_MADVISE_HUGEPAGE=0 in the environment turns the huge-page hint off.
probo_pagehint_init()

# Build the CRC tables now, under the import lock, rather than on a first use
# that could come from two threads at once with the GIL released.
probo_crc32(0, NULL, 0)


cdef unsigned int crc32_update(unsigned int crc, const unsigned char* p,
                               size_t n) noexcept nogil:
    return probo_crc32(crc, p, n)


# run_batch hints the next commands' hash buckets and orders into the cache
# (Core._look_ahead) only while more orders rest than this: on a small book
# they are cached already and the hints cost ~20 instructions a command.
cdef enum:
    LOOK_AHEAD_LIVE = 16384


# ---------------------------------------------------------- cold helpers
# Table growth as plain static functions (the .pxd versions are `inline`, and
# GCC would inline them into _pos_make and _reserve_order).

cdef int _grow(void** p, int64_t* cap, int64_t need, size_t size) noexcept nogil:
    return grow(p, cap, need, size)


cdef int _im_reserve(IntMap* m, int64_t extra) noexcept nogil:
    return im_reserve(m, extra)


# -------------------------------------------------------------- the core

# What holds a Core while it runs with the GIL released (Core.busy); a call
# from any other thread meanwhile raises ConcurrentUseError (docs/semantics.md,
# "Threads").  Calls that keep the GIL cannot interleave, so this is the whole
# guard: one flag and the owner's thread ident, set and tested under the GIL.
# The BUSY_* values are in _types.pxd; the error, _args._raise_busy.
cdef int _debug_checks(Core core) except -1:
    # A PROBO_DEBUG=1 build runs both invariant checkers after every command:
    # the plain one (check_invariants) and restore's tuned one, so the unit
    # scenarios show that both accept every state they reach.
    from probo_engine._invariants import check, check_tuned
    check(core)
    check_tuned(core)
    return 0


cdef class Core:
    """All markets, users and the ledger of one exchange, matched in C.

    Ids are dense integers assigned here: users ``0, 1, ...``, markets ``0, 1,
    ...``, orders ``1, 2, ...``.  Every method takes plain integers (numpy
    integers work too; ``bool``/``float``/``str`` raise ``TypeError``) and an
    optional ``ts`` (caller time) that drives GTD expiry and is copied into
    the events.  Expected refusals are result codes
    (:class:`probo_engine.RejectReason`), never exceptions, and every command
    returns them the same way: a result ``< 0`` is a refusal, ``-code``; 0 or
    more is success (an id, a count, or 0).  The events of the
    most recent command are available from :meth:`last_events`.  See
    ``docs/semantics.md`` for the full contract.

    Parameters
    ----------
    max_qty : int
        Largest order quantity (at most ``10**9``).
    max_open_orders : int
        Live orders per user; 0 means no limit.
    max_balance : int
        Most cash (available + locked) a deposit may leave a user with; 0
        means no limit beyond ``2**62`` for the whole system.
    max_levels : int
        Most price levels a market may have (at most 100,000).
    """

    def __cinit__(self, *args, max_qty=MAX_QTY, max_open_orders=0, max_balance=0,
                  max_levels=MAX_LEVELS, **kwargs):
        # (_lifecycle.pyx: construction, limits and freeing)
        core_init(self, max_qty, max_open_orders, max_balance, max_levels)

    def __init__(self, *, max_qty=MAX_QTY, max_open_orders=0, max_balance=0,
                 max_levels=MAX_LEVELS):
        core_reinit(self, max_qty, max_open_orders, max_balance, max_levels)

    def __dealloc__(self):
        core_free(self)

    # ------------------------------------------------------------ events

    @cython.final
    cdef inline Event* _ev(self, int64_t kind, int64_t ts) noexcept nogil:
        # Next event record, zeroed, with its sequence number.  Never NULL: on
        # a failed allocation the event goes to a scratch record and the core
        # is marked unusable (checked by _end), so no half-state is observable.
        cdef Event* e
        if not self.record:
            self.seq += 1
            return &self.scratch
        if self.n_events == self.cap_events:
            if _grow(<void**>&self.events, &self.cap_events, self.n_events + 1,
                     sizeof(Event)) != 0:
                self.oom = True
                e = &self.scratch
                memset(e, 0, sizeof(Event))
                return e
        e = &self.events[self.n_events]
        self.n_events += 1
        memset(e, 0, sizeof(Event))
        self.seq += 1
        e.seq = <int64_t>self.seq
        e.kind = kind
        e.ts = ts
        return e

    @cython.final
    cdef inline int _begin(self, int64_t* ts) except -1:
        # Every public command starts here: a new event batch, then time
        # (semantics.md "Time and GTD"): ts 0 means the clock; a later ts
        # moves it on and the GTD orders whose time has come expire.  An
        # earlier ts changes nothing here: the command refuses it (109).
        cdef int64_t t = ts[0]
        if self.oom | (self.busy != 0):
            self._guard()
            if self.oom:
                raise MemoryError("the core lost an event to a failed allocation")
        self.n_events = 0
        self.filled = 0
        if t == 0:
            t = ts[0] = self.clock_ts
        if t >= self.clock_ts:
            self.clock_ts = t
            if self.n_heap > 0 and self.heap[0].ts <= t:
                self._expire(t)
        return 0

    @cython.final
    cdef inline int _guard(self) except -1:
        # Queries and commands that do not go through _begin.
        if self.busy and self.owner != PyThread_get_thread_ident():
            _raise_busy(self.busy)
        return 0

    @cython.final
    cdef int _enter(self, int what) except -1:
        # Claim the core for a section that releases the GIL; returns what
        # was held before (the caller restores it: sections may nest in one
        # thread, e.g. run_batch inside batch.run's hold).
        cdef int prev = self.busy
        self._guard()
        self.busy = what
        self.owner = PyThread_get_thread_ident()
        return prev

    def _hold(self):
        # batch.run holds the core across its slices (so another thread cannot
        # slip a command, and its events, in between); returns the token for
        # _unhold.  Private: the public contract is in docs/semantics.md.
        return self._enter(BUSY_BATCH)

    def _unhold(self, int token):
        self.busy = token

    @cython.final
    cdef inline int _end(self, int64_t r) except -1:
        if r == ERR_NOMEM:
            raise MemoryError()
        if self.oom:
            raise MemoryError("out of memory while recording events")
        if PROBO_DEBUG:
            _debug_checks(self)
        return 0

    @cython.final
    cdef Event* _reject(self, int64_t cmd, int64_t code, int64_t mid, int64_t uid,
                        int64_t oid, int64_t side, int64_t outcome, int64_t price,
                        int64_t qty, int64_t ts) noexcept nogil:
        # The given values are echoed; one that does not fit its (narrower)
        # event field is recorded as -1 (semantics.md "Events").  Returns the
        # event, for a field only one command sets.
        cdef Event* e = self._ev(EV_REJECTED, ts)
        e.market = <int32_t>mid if INT32_MIN <= mid <= INT32_MAX else -1
        e.user = <int32_t>uid if INT32_MIN <= uid <= INT32_MAX else -1
        e.oid = oid
        e.side = <int16_t>side if INT16_MIN <= side <= INT16_MAX else -1
        e.outcome = <int16_t>outcome if INT16_MIN <= outcome <= INT16_MAX else -1
        e.price = <int32_t>price if INT32_MIN <= price <= INT32_MAX else -1
        e.qty = qty
        e.code = <int16_t>code
        e.aux = cmd
        return e

    # ------------------------------------------------------- level helpers

    @cython.final
    cdef inline void _touch(self, Market* m, int64_t mid, int32_t bside,
                            int32_t idx) noexcept nogil:
        # Remember a level whose total changed, once per command.  Capacity
        # for every level of every market is reserved in create_market.
        cdef Level* lvl = &m.levels[bside * m.nlevels + idx]
        if lvl.touched:
            return
        lvl.touched = 1
        self.touched[self.n_touched] = (mid << 24) | (bside << 20) | idx
        self.n_touched += 1

    @cython.final
    cdef void _emit_levels(self, int64_t ts) noexcept nogil:
        cdef int64_t k, key, mid
        cdef int32_t bside, idx
        cdef Market* m
        cdef Level* lvl
        cdef Event* e
        for k in range(self.n_touched):
            key = self.touched[k]
            mid = key >> 24
            bside = <int32_t>((key >> 20) & 1)
            idx = <int32_t>(key & 0xFFFFF)
            m = &self.markets[mid]
            lvl = &m.levels[bside * m.nlevels + idx]
            lvl.touched = 0
            e = self._ev(EV_LEVEL, ts)
            e.market = mid
            e.side = bside
            e.price = (idx + 1) * m.tick
            e.qty = lvl.total
            e.aux = lvl.count
        self.n_touched = 0

    @cython.final
    cdef inline void _level_push(self, slot_t s) noexcept nogil:
        # Append a slot to the tail of its level (its fields are set).
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        cdef int32_t idx = o.yprice // m.tick - 1
        cdef Level* lvl = &m.levels[o.bside * m.nlevels + idx]
        o.next = -1
        o.prev = lvl.tail
        if lvl.tail >= 0:
            self.orders[lvl.tail].next = s
        else:
            lvl.head = s
        lvl.tail = s
        lvl.total += o.qty
        lvl.count += 1
        m.n_orders += 1
        if lvl.count == 1:
            bit_set(m.bits + o.bside * m.nwords, idx)
            if o.bside == BOOK_BID:
                if idx > m.best_bid:
                    m.best_bid = idx
            elif idx < m.best_ask:
                m.best_ask = idx

    @cython.final
    cdef inline void _level_remove(self, slot_t s) noexcept nogil:
        # Take a slot off its level; its remaining qty leaves the level total.
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        cdef int32_t idx = o.yprice // m.tick - 1
        cdef Level* lvl = &m.levels[o.bside * m.nlevels + idx]
        if o.prev >= 0:
            self.orders[o.prev].next = o.next
        else:
            lvl.head = o.next
        if o.next >= 0:
            self.orders[o.next].prev = o.prev
        else:
            lvl.tail = o.prev
        lvl.total -= o.qty
        lvl.count -= 1
        m.n_orders -= 1
        if lvl.count == 0:
            bit_clear(m.bits + o.bside * m.nwords, idx)
            if o.bside == BOOK_BID:
                if m.best_bid == idx:
                    m.best_bid = bit_next_down(m.bits, idx)
            elif m.best_ask == idx:
                m.best_ask = bit_next_up(m.bits + m.nwords, m.nwords, idx,
                                         m.nlevels)

    @cython.final
    cdef inline void _order_free(self, slot_t s) noexcept nogil:
        # Forget a live order that is off its level: user list, id maps, slot.
        cdef Order* o = &self.orders[s]
        cdef User* u = &self.users[o.uid]
        if o.uprev >= 0:
            self.orders[o.uprev].unext = o.unext
        else:
            u.head = o.unext
        if o.unext >= 0:
            self.orders[o.unext].uprev = o.uprev
        else:
            u.tail = o.uprev
        u.n_orders -= 1
        im_del(&self.oid_map, o.oid)
        if o.client_id != 0:
            im_del(&self.cid_map, (<uint64_t>o.client_id << 32) | o.uid)
        if o.tif == TIF_GTD:
            self.n_gtd -= 1
        o.oid = 0
        o.next = self.free_head
        self.free_head = s
        self.n_live -= 1

    @cython.final
    cdef void _unlock(self, Order* o, qty_t q) noexcept nogil:
        # Release what `q` units of a resting order hold locked.
        cdef Market* m = &self.markets[o.mid]
        cdef User* u
        cdef Position* p
        cdef amount_t a
        cdef price_t own
        if o.action == SIDE_BUY:
            u = &self.users[o.uid]
            own = _own(o.outcome, o.yprice, m.payout)
            a = (<amount_t>own + _fee_unit(m, own)) * q
            u.locked -= a
            u.avail += a
        else:
            p = &self.positions[o.pos]
            p.locked[o.outcome] -= q
            p.avail[o.outcome] += q

    @cython.final
    cdef void _cancel_slot(self, slot_t s, int64_t reason, int64_t ts) noexcept nogil:
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        cdef Event* e
        self._unlock(o, o.qty)
        e = self._ev(EV_CANCELED, ts)
        e.market = o.mid
        e.user = o.uid
        e.oid = <int64_t>o.oid
        e.side = o.action
        e.outcome = o.outcome
        e.price = _own(o.outcome, o.yprice, m.payout)
        e.qty = o.qty
        e.code = reason
        e.price2 = o.yprice
        e.aux = o.bside
        self._touch(m, o.mid, o.bside, o.yprice // m.tick - 1)
        self._level_remove(s)
        self._order_free(s)

    # ------------------------------------------------------------- expiry

    @cython.final
    cdef int _heap_push(self, int64_t ts, oid_t oid) noexcept nogil:
        # Capacity was reserved by the caller (_reserve).
        cdef int64_t i = self.n_heap, parent
        cdef Expiry item
        item.ts = ts
        item.oid = oid
        self.n_heap += 1
        while i > 0:
            parent = (i - 1) >> 1
            if (self.heap[parent].ts < ts or
                    (self.heap[parent].ts == ts and self.heap[parent].oid < oid)):
                break
            self.heap[i] = self.heap[parent]
            i = parent
        self.heap[i] = item
        return 0

    @cython.final
    cdef inline int64_t _expire(self, int64_t ts) noexcept nogil:
        # Cancel the due GTD orders (_expiry.pyx)
        return expiry.expire(self, ts)

    # ------------------------------------------------------------- ledger

    @cython.final
    cdef pos_t _pos_find(self, int64_t uid, int64_t mid) noexcept nogil:
        return im_get(&self.pos_map, ((<uint64_t>uid << 32) | <uint64_t>mid) + 1)

    @cython.final
    cdef pos_t _pos_make(self, int64_t uid, int64_t mid) noexcept nogil:
        # Find or create the (user, market) position; -1 when out of memory.
        cdef uint64_t key = ((<uint64_t>uid << 32) | <uint64_t>mid) + 1
        cdef pos_t p = im_get(&self.pos_map, key)
        cdef Position* r
        if p >= 0:
            return p
        if _im_reserve(&self.pos_map, 1) != 0:
            return -1
        if _grow(<void**>&self.positions, &self.cap_pos, self.n_pos + 1,
                 sizeof(Position)) != 0:
            return -1
        p = <pos_t>self.n_pos
        r = &self.positions[p]
        memset(r, 0, sizeof(Position))
        r.uid = <uint32_t>uid
        r.mid = <uint32_t>mid
        self.n_pos += 1
        im_insert_nogrow(&self.pos_map, key, p)
        return p

    @cython.final
    cdef inline int _reserve_order(self, int tif, int64_t client_id) noexcept nogil:
        # Room for one more resting order in every structure it enters (only
        # the ones it can enter: this runs for every order).
        if tif != TIF_GTC and tif != TIF_GTD:
            return 0
        if self.free_head < 0 and self._grow_arena() != 0:
            return -1
        if (self.oid_map.size + 1) * 2 > self.oid_map.cap and \
                _im_reserve(&self.oid_map, 1) != 0:
            return -1
        if client_id != 0 and _im_reserve(&self.cid_map, 1) != 0:
            return -1
        if tif == TIF_GTD:
            if self.n_heap > 2 * self.n_gtd + 64:
                expiry.heap_compact(self)
            if _grow(<void**>&self.heap, &self.cap_heap, self.n_heap + 1,
                     sizeof(Expiry)) != 0:
                return -1
        return 0

    @cython.final
    cdef int _grow_arena(self) noexcept nogil:
        cdef int64_t cap = self.cap_orders
        cdef int64_t i
        if _grow(<void**>&self.orders, &cap, cap + 1, sizeof(Order)) != 0:
            return -1
        # new slots go on the free list in ascending order
        for i in range(cap - 1, self.cap_orders - 1, -1):
            self.orders[i].oid = 0
            self.orders[i].next = self.free_head
            self.free_head = <slot_t>i
        self.cap_orders = <slot_t>cap
        return 0

    # ----------------------------------------------------------- matching

    @cython.final
    cdef bint _crosses(self, Market* m, int bside, price_t yprice) noexcept nogil:
        # Does the best opposite level cross a YES limit price?
        if bside == BOOK_BID:
            return m.best_ask < m.nlevels and (m.best_ask + 1) * m.tick <= yprice
        return m.best_bid >= 0 and (m.best_bid + 1) * m.tick >= yprice

    @cython.final
    cdef qty_t _fillable(self, Market* m, Taker* t, qty_t need) noexcept nogil:
        # What a FOK order could fill now, walking crossing orders in priority
        # order as _match would; stops as soon as `need` is reached.
        cdef qty_t got = 0, q, a
        cdef int32_t idx
        cdef slot_t s
        cdef Order* o
        cdef int32_t opp = 1 - t.bside
        cdef int32_t limit_idx = t.yprice // m.tick - 1
        cdef amount_t budget = t.lump
        cdef price_t e
        idx = m.best_ask if t.bside == BOOK_BID else m.best_bid
        while True:
            if t.bside == BOOK_BID:
                if idx >= m.nlevels or idx > limit_idx:
                    return got
            elif idx < 0 or idx < limit_idx:
                return got
            s = m.levels[opp * m.nlevels + idx].head
            while s >= 0:
                o = &self.orders[s]
                if o.uid == t.uid and t.stp != STP_NONE:
                    if t.stp != STP_CANCEL_MAKER:
                        return got
                else:
                    q = need - got if need - got < o.qty else o.qty
                    if t.budget:
                        e = _own(t.outcome, o.yprice, m.payout)
                        a = probo_affordable(q, e, budget, m.taker_fee, m.payout,
                                             m.fee_mode)
                        budget -= a * e + probo_fee(m.taker_fee, a, e, m.payout,
                                                    m.fee_mode, 1)
                        got += a
                        if a < q:
                            return got
                    else:
                        got += q
                    if got >= need:
                        return got
                s = o.next
            idx = level_after(m, 1 - t.bside, idx)   # the side it takes from

    @cython.final
    cdef inline void _match(self, Market* m, Taker* t, int64_t ts) noexcept nogil:
        # Match the incoming order against the opposite side (semantics.md
        # "place", step 3) and settle each fill for both parties.
        cdef int32_t opp = 1 - t.bside
        cdef int32_t limit_idx = t.yprice // m.tick - 1
        cdef int32_t idx
        cdef slot_t s
        cdef Order* mk
        cdef Level* lvl
        cdef Event* e
        cdef User* tu = &self.users[t.uid]
        cdef User* mu
        cdef Position* tp
        cdef Position* mp
        cdef qty_t q
        cdef price_t x = 0, te, me
        cdef amount_t tfee, mfee, mfu
        cdef bint traded = False
        while t.left > 0:
            if t.bside == BOOK_BID:
                idx = m.best_ask
                if idx >= m.nlevels or idx > limit_idx:
                    break
            else:
                idx = m.best_bid
                if idx < 0 or idx < limit_idx:
                    break
            lvl = &m.levels[opp * m.nlevels + idx]
            s = lvl.head
            mk = &self.orders[s]
            if mk.next >= 0:
                # the next maker is likely next: start loading its slot now
                probo_prefetch(&self.orders[mk.next])
            if mk.uid == t.uid and t.stp != STP_NONE:
                # Self-trade prevention: no fill between one user's orders
                # (the second test runs only for a self-match).
                if t.stp == STP_CANCEL_TAKER:
                    t.stopped = True
                    break
                self._cancel_slot(s, CANCEL_SELF_TRADE, ts)
                if t.stp == STP_CANCEL_BOTH:
                    t.stopped = True
                    break
                continue
            te = _own(t.outcome, mk.yprice, m.payout)
            me = _own(mk.outcome, mk.yprice, m.payout)
            q = t.left if t.left < mk.qty else mk.qty
            if t.budget:
                q = probo_affordable(q, te, t.lump, m.taker_fee, m.payout,
                                     m.fee_mode)
                if q == 0:
                    break
            x = mk.yprice
            tfee = 0
            mfee = 0
            if m.taker_fee != 0:
                tfee = probo_fee(m.taker_fee, q, te, m.payout, m.fee_mode, 1)
            # taker: a buy spends from its lump lock, a sell is paid net of fee
            tp = &self.positions[t.pos]
            if t.action == SIDE_BUY:
                t.lump -= q * te + tfee
                tu.locked -= q * te + tfee
                tp.avail[t.outcome] += q
            else:
                tp.locked[t.outcome] -= q
                tu.avail += q * te - tfee
            self.fee_balance += tfee
            # maker: pays its maker fee, or is paid a capped rebate
            if m.maker_fee > 0:
                mfee = probo_fee(m.maker_fee, q, me, m.payout, m.fee_mode, 1)
            elif m.maker_fee < 0:
                mfee = -probo_fee(-m.maker_fee, q, me, m.payout, m.fee_mode, 0)
                if -mfee > self.fee_balance:
                    mfee = -self.fee_balance
            self.fee_balance += mfee
            mu = &self.users[mk.uid]
            mp = &self.positions[mk.pos]
            if mk.action == SIDE_BUY:
                mfu = _fee_unit(m, me)
                mu.locked -= q * (me + mfu)
                mu.avail += q * mfu - mfee
                mp.avail[mk.outcome] += q
            else:
                mp.locked[mk.outcome] -= q
                mu.avail += q * me - mfee
            mk.qty -= q
            lvl.total -= q
            t.left -= q
            self.filled += q
            traded = True
            e = self._ev(EV_FILL, ts)
            e.market = t.mid
            e.user = t.uid
            e.oid = <int64_t>t.oid
            e.side = t.action
            e.outcome = t.outcome
            e.price = x
            e.qty = q
            if t.action == SIDE_BUY and mk.action == SIDE_BUY:
                e.code = FILL_MINT
                m.outstanding += q
            elif t.action == SIDE_SELL and mk.action == SIDE_SELL:
                e.code = FILL_MERGE
                m.outstanding -= q
            else:
                e.code = FILL_TRANSFER
            e.user2 = mk.uid
            e.oid2 = <int64_t>mk.oid
            e.price2 = te
            e.aux = mk.qty
            e.fee = tfee
            e.fee2 = mfee
            self._touch(m, t.mid, opp, idx)
            if mk.qty == 0:
                self._level_remove(s)
                self._order_free(s)
        if traded:
            m.last_price = x

    @cython.final
    cdef inline bint _finish(self, Market* m, Taker* t, slot_t s,
                             int64_t ts) noexcept nogil:
        # After matching: rest the remainder in slot `s` (fields set by the
        # caller) or cancel it, and settle the buy's lump lock.  Returns True
        # if the order rests.
        cdef User* u = &self.users[t.uid]
        cdef Position* p = &self.positions[t.pos]
        cdef amount_t keep = 0
        cdef Event* e
        cdef bint rests = t.left > 0 and not t.stopped and (
            t.tif == TIF_GTC or t.tif == TIF_GTD)
        if rests:
            self.orders[s].qty = t.left
            self._level_push(s)
            self._touch(m, t.mid, t.bside, t.yprice // m.tick - 1)
            keep = t.left * (<amount_t>t.price + t.fee_unit)
        elif t.left > 0:
            if t.action == SIDE_SELL:
                p.locked[t.outcome] -= t.left
                p.avail[t.outcome] += t.left
            e = self._ev(EV_CANCELED, ts)
            e.market = t.mid
            e.user = t.uid
            e.oid = <int64_t>t.oid
            e.side = t.action
            e.outcome = t.outcome
            e.price = t.price
            e.qty = t.left
            e.code = CANCEL_SELF_TRADE if t.stopped else CANCEL_IOC
            e.price2 = t.yprice
            e.aux = t.bside
        if t.action == SIDE_BUY:
            # unused lock (price improvement, fee reserve, remainder) returns
            u.locked -= t.lump - keep
            u.avail += t.lump - keep
            t.lump = keep
        return rests

    @cython.final
    cdef inline int64_t _place_refusal(self, int64_t uid, int64_t mid, int64_t price,
                                       int64_t qty, int tif, int64_t ts,
                                       int64_t client_id,
                                       int64_t expire_ts) noexcept nogil:
        # The first rule a new order breaks that needs no balance (REJ_*), or
        # 0; in the order docs/semantics.md lists them.
        cdef Market* m
        if ts < self.clock_ts:
            return REJ_STALE_TIME
        if self._unknown_user(uid):
            return REJ_UNKNOWN_USER
        if mid < 0 or mid >= self.n_markets:
            return REJ_UNKNOWN_MARKET
        m = &self.markets[mid]
        if m.status != MARKET_OPEN:
            return REJ_MARKET_NOT_OPEN
        if qty <= 0 or qty > self.max_qty:
            return REJ_INVALID_QTY
        if qty < m.min_qty:
            return REJ_BELOW_MIN_QTY
        if price < m.tick or price > m.payout - m.tick or price % m.tick != 0:
            return REJ_PRICE_OFF_GRID
        if tif == TIF_GTD and expire_ts <= ts:
            return REJ_INVALID_EXPIRY
        if client_id != 0 and im_get(
                &self.cid_map, (<uint64_t>client_id << 32) | <uint64_t>uid) >= 0:
            return REJ_DUPLICATE_CLIENT_ID
        if ((tif == TIF_GTC or tif == TIF_GTD) and self.max_open > 0
                and self.users[uid].n_orders >= self.max_open):
            return REJ_TOO_MANY_ORDERS
        return 0

    @cython.final
    cdef inline void _rest_new(self, Taker* t, slot_t s, int64_t client_id,
                               int64_t expire_ts) noexcept nogil:
        # The reserved free slot s becomes the unfilled rest of the order: in
        # the arena, its owner's list, the maps and (GTD) the expiry heap.
        # _finish then pushes it on its level.
        cdef Order* o = &self.orders[s]
        cdef User* u = &self.users[t.uid]
        self.free_head = o.next
        o.oid = t.oid
        o.expire_ts = expire_ts
        o.uid = <uint32_t>t.uid
        o.mid = <uint32_t>t.mid
        o.client_id = <uint32_t>client_id
        o.pos = t.pos
        o.yprice = t.yprice
        o.action = <uint8_t>t.action
        o.outcome = <uint8_t>t.outcome
        o.bside = <uint8_t>t.bside
        o.tif = <uint8_t>t.tif
        o.stp = <uint8_t>t.stp
        o.flags = <uint8_t>(t.flags & FLAG_POST_ONLY)
        o.unext = -1
        o.uprev = u.tail
        if u.tail >= 0:
            self.orders[u.tail].unext = s
        else:
            u.head = s
        u.tail = s
        u.n_orders += 1
        im_insert_nogrow(&self.oid_map, t.oid, s)
        if client_id != 0:
            im_insert_nogrow(&self.cid_map,
                             (<uint64_t>client_id << 32) | <uint64_t>t.uid, s)
        if t.tif == TIF_GTD:
            self.n_gtd += 1
            self._heap_push(expire_ts, t.oid)
        self.n_live += 1

    @cython.final
    cdef int64_t _place(self, int64_t uid, int64_t mid, int action, int outcome,
                        int64_t price, int64_t qty, int tif, int stp, int64_t ts,
                        int flags, int64_t client_id, int64_t expire_ts,
                        int64_t max_cost) noexcept nogil:
        # Returns the new order id, -reason if refused, or ERR_NOMEM before any
        # change.  Validation first, then mutation (semantics.md "place").
        cdef Market* m = NULL
        cdef User* u = NULL
        cdef Position* p
        cdef Taker t
        cdef slot_t s
        cdef Event* e
        cdef int64_t code

        if flags & FLAG_MARKET and 0 <= mid < self.n_markets:
            # the worst price of the grid, reported by any rejection too
            m = &self.markets[mid]
            price = m.payout - m.tick if action == SIDE_BUY else m.tick
        code = self._place_refusal(uid, mid, price, qty, tif, ts, client_id,
                                   expire_ts)
        if code == 0:
            m = &self.markets[mid]
            u = &self.users[uid]
            t.uid = uid
            t.mid = mid
            t.action = action
            t.outcome = outcome
            t.bside = _book_side(action, outcome)
            t.tif = tif
            t.stp = stp
            t.flags = flags
            t.price = <price_t>price
            t.yprice = _own(outcome, <price_t>price, m.payout)
            t.left = qty
            t.stopped = False
            t.budget = False
            t.lump = 0
            t.fee_unit = 0
            t.pos = self._pos_find(uid, mid)
            if action == SIDE_BUY:
                t.fee_unit = _fee_unit(m, t.price)
                t.lump = qty * (<amount_t>price + t.fee_unit)
                if flags & FLAG_MARKET and max_cost > 0 and max_cost < t.lump:
                    t.lump = max_cost
                    t.budget = True
                if u.avail < t.lump:
                    code = REJ_INSUFFICIENT_FUNDS
            elif t.pos < 0 or self.positions[t.pos].avail[outcome] < qty:
                code = REJ_INSUFFICIENT_SHARES
        if code == 0 and tif == TIF_FOK and self._fillable(m, &t, qty) < qty:
            code = REJ_FOK_NOT_FILLABLE
        if code == 0 and flags & FLAG_POST_ONLY and self._crosses(m, t.bside, t.yprice):
            code = REJ_POST_ONLY_WOULD_CROSS
        if code != 0:
            self._reject(CMD_PLACE, code, mid, uid, 0, action, outcome, price,
                         qty, ts)
            return -code

        # Reserve everything a resting remainder could need, so nothing below
        # can fail half-way (events aside, see _ev).
        if t.pos < 0:
            t.pos = self._pos_make(uid, mid)
            if t.pos < 0:
                return ERR_NOMEM
        if self._reserve_order(tif, client_id) != 0:
            return ERR_NOMEM

        p = &self.positions[t.pos]
        if action == SIDE_BUY:
            u.avail -= t.lump
            u.locked += t.lump
        else:
            p.avail[outcome] -= qty
            p.locked[outcome] += qty
        t.oid = self.next_oid
        self.next_oid += 1
        e = self._ev(EV_ACCEPTED, ts)
        e.market = mid
        e.user = uid
        e.oid = <int64_t>t.oid
        e.side = action
        e.outcome = outcome
        e.price = price
        e.qty = qty
        e.code = tif
        e.user2 = client_id
        e.oid2 = expire_ts
        e.price2 = t.yprice
        e.aux = t.bside | (flags << 1)

        self._match(m, &t, ts)
        s = self.free_head
        if t.left > 0 and not t.stopped and (tif == TIF_GTC or tif == TIF_GTD):
            self._rest_new(&t, s, client_id, expire_ts)   # before _finish
        self._finish(m, &t, s, ts)
        self._emit_levels(ts)
        return <int64_t>t.oid

    @cython.final
    cdef int64_t _amend(self, int64_t uid, int64_t oid, int64_t price, int64_t qty,
                        int64_t ts) noexcept nogil:
        # semantics.md "amend": in place (priority kept) or re-entry at the back.
        cdef slot_t s = -1
        cdef Order* o
        cdef Market* m
        cdef User* u
        cdef Position* p
        cdef Taker t
        cdef Event* e
        cdef int64_t code = 0
        cdef price_t yprice, old_price
        cdef amount_t held = 0, need = 0, fu = 0
        cdef qty_t old_qty, diff
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif self._unknown_user(uid):
            code = REJ_UNKNOWN_USER
        else:
            if oid > 0:
                s = im_get(&self.oid_map, <uint64_t>oid)
            if s < 0 or self.orders[s].uid != uid:
                code = REJ_UNKNOWN_ORDER
        if code == 0:
            o = &self.orders[s]
            m = &self.markets[o.mid]
            u = &self.users[uid]
            p = &self.positions[o.pos]
            old_price = _own(o.outcome, o.yprice, m.payout)
            if m.status != MARKET_OPEN:
                code = REJ_MARKET_NOT_OPEN
            elif qty <= 0 or qty > self.max_qty:
                code = REJ_INVALID_QTY
            elif qty < m.min_qty:
                code = REJ_BELOW_MIN_QTY
            elif price < m.tick or price > m.payout - m.tick or price % m.tick != 0:
                code = REJ_PRICE_OFF_GRID
        if code == 0:
            yprice = _own(o.outcome, <price_t>price, m.payout)
            if yprice != o.yprice or qty > o.qty:
                if o.action == SIDE_BUY:
                    fu = _fee_unit(m, <price_t>price)
                    held = o.qty * (<amount_t>old_price + _fee_unit(m, old_price))
                    need = qty * (<amount_t>price + fu)
                    if need - held > u.avail:
                        code = REJ_INSUFFICIENT_FUNDS
                elif qty - o.qty > p.avail[o.outcome]:
                    code = REJ_INSUFFICIENT_SHARES
                if code == 0 and o.flags & FLAG_POST_ONLY and self._crosses(
                        m, o.bside, yprice):
                    code = REJ_POST_ONLY_WOULD_CROSS
        if code != 0:
            self._reject(CMD_AMEND, code, 0, uid, oid, 0, 0, price, qty, ts)
            return -code

        old_qty = o.qty
        e = self._ev(EV_AMENDED, ts)
        e.market = o.mid
        e.user = uid
        e.oid = oid
        e.side = o.action
        e.outcome = o.outcome
        e.price = price
        e.qty = qty
        e.price2 = old_price
        e.aux = old_qty
        if yprice == o.yprice and qty <= o.qty:
            e.code = 1
            diff = o.qty - qty
            if diff > 0:
                self._unlock(o, diff)
                m.levels[o.bside * m.nlevels + o.yprice // m.tick - 1].total -= diff
                o.qty = qty
                self._touch(m, o.mid, o.bside, o.yprice // m.tick - 1)
            self._emit_levels(ts)
            return 0

        # Re-entry: off the level, locks recomputed, matched as a taker, and
        # whatever is left rests at the back under the same id.
        self._touch(m, o.mid, o.bside, o.yprice // m.tick - 1)
        self._level_remove(s)
        if o.action == SIDE_BUY:
            u.locked += need - held
            u.avail -= need - held
        else:
            p.locked[o.outcome] += qty - o.qty
            p.avail[o.outcome] -= qty - o.qty
        o.yprice = yprice
        t.uid = uid
        t.mid = o.mid
        t.oid = o.oid
        t.pos = o.pos
        t.action = o.action
        t.outcome = o.outcome
        t.bside = o.bside
        t.tif = o.tif
        t.stp = o.stp
        t.flags = o.flags
        t.price = <price_t>price
        t.yprice = yprice
        t.left = qty
        t.lump = need
        t.fee_unit = fu
        t.budget = False
        t.stopped = False
        self._match(m, &t, ts)
        if not self._finish(m, &t, s, ts):
            self._order_free(s)
        self._emit_levels(ts)
        return 0

    @cython.final
    cdef int64_t _cancel(self, int64_t uid, int64_t oid, int64_t ts) noexcept nogil:
        cdef slot_t s = -1
        cdef int64_t code = 0
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif self._unknown_user(uid):
            code = REJ_UNKNOWN_USER
        else:
            if oid > 0:
                s = im_get(&self.oid_map, <uint64_t>oid)
            if s < 0 or self.orders[s].uid != uid:
                code = REJ_UNKNOWN_ORDER
        if code != 0:
            self._reject(CMD_CANCEL, code, 0, uid, oid, 0, 0, 0, 0, ts)
            return -code
        self._cancel_slot(s, CANCEL_USER, ts)
        self._emit_levels(ts)
        return 0

    @cython.final
    cdef int64_t _cancel_client(self, int64_t uid, int64_t client_id,
                                int64_t ts) noexcept nogil:
        # _cancel with the order found by (client id, uid) in cid_map: O(1).
        cdef slot_t s = -1
        cdef int64_t code = 0
        cdef Event* e
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif self._unknown_user(uid):
            code = REJ_UNKNOWN_USER
        else:
            if client_id > 0:
                s = im_get(&self.cid_map, (<uint64_t>client_id << 32) | <uint64_t>uid)
            if s < 0:
                code = REJ_UNKNOWN_ORDER
        if code != 0:
            e = self._reject(CMD_CANCEL_CLIENT, code, 0, uid, 0, 0, 0, 0, 0, ts)
            e.user2 = client_id
            return -code
        self._cancel_slot(s, CANCEL_USER, ts)
        self._emit_levels(ts)
        return 0

    @cython.final
    cdef int64_t _cancel_all(self, int64_t uid, int64_t mid, int64_t ts) noexcept nogil:
        # The user's list is in ascending id order already; mid < 0: all.
        cdef int64_t code = 0, n = 0
        cdef slot_t s, nxt
        if ts < self.clock_ts:
            code = REJ_STALE_TIME
        elif self._unknown_user(uid):
            code = REJ_UNKNOWN_USER
        elif mid >= self.n_markets:
            code = REJ_UNKNOWN_MARKET
        if code != 0:
            self._reject(CMD_CANCEL_ALL, code, mid, uid, 0, 0, 0, 0, 0, ts)
            return -code
        s = self.users[uid].head
        while s >= 0:
            nxt = self.orders[s].unext
            if mid < 0 or self.orders[s].mid == mid:
                self._cancel_slot(s, CANCEL_USER, ts)
                n += 1
            s = nxt
        self._emit_levels(ts)
        return n

    @cython.final
    cdef inline int64_t _cash(self, int64_t uid, int64_t amount, bint deposit,
                              int64_t ts) noexcept nogil:
        # deposit / withdraw (_funds.pyx)
        return funds.cash(self, uid, amount, deposit, ts)

    @cython.final
    cdef inline int64_t _pair(self, int64_t uid, int64_t mid, int64_t qty,
                              bint mint, int64_t ts) noexcept nogil:
        # mint / merge (_funds.pyx)
        return funds.pair(self, uid, mid, qty, mint, ts)

    # ------------------------------------------------------ public commands

    def create_user(self):
        """Create a user with no cash and no shares.

        Returns
        -------
        int
            The new user id (``0, 1, 2, ...``).

        Complexity
        ----------
        Amortised O(1).

        >>> core = Core(); core.create_user(), core.create_user()
        (0, 1)
        """
        return create_user(self)

    def create_market(self, payout=1000, tick=50, ts=0, taker_fee=0, maker_fee=0,
                      fee_mode=0, min_qty=1, cancel_on_halt=False):
        """Create a market with prices ``tick, 2*tick, ..., payout - tick``.

        Parameters
        ----------
        payout : int
            Value of one YES+NO pair in minor units (default 1000 paise).
        tick : int
            Price step (default 50).  ``payout % tick == 0`` and there must be
            at least one price level, and at most ``max_levels``.
        ts : int
            Caller time.
        taker_fee, maker_fee : int
            Fee rates in basis points; ``maker_fee < 0`` is a rebate.
        fee_mode : int
            ``FeeMode.BPS`` (0, of notional) or ``FeeMode.CURVE`` (1).
        min_qty : int
            Smallest order quantity.
        cancel_on_halt : bool
            Whether :meth:`halt` cancels every resting order.

        Returns
        -------
        int
            The new market id (``0, 1, ...``).

        Raises
        ------
        ValueError
            If any parameter is invalid.  Nothing changes.

        >>> Core().create_market(100, 1)
        0
        """
        return create_market(self, payout, tick, ts, taker_fee, maker_fee, fee_mode,
                             min_qty, cancel_on_halt)

    def deposit(self, uid, amount, ts=0):
        """Add ``amount`` to the user's available cash (the on-ramp).

        Returns
        -------
        int
            0, or -101 unknown user, -105 amount <= 0, -203 cash limit.

        >>> core = Core(); u = core.create_user(); core.deposit(u, 1000)
        0
        >>> core.balance(u)
        (1000, 0)
        """
        return self._cash_cmd(uid, amount, ts, True)

    def withdraw(self, uid, amount, ts=0):
        """Take ``amount`` from the user's available (not locked) cash.

        Returns
        -------
        int
            0, or -101 unknown user, -105 amount <= 0, -201 insufficient funds.
        """
        return self._cash_cmd(uid, amount, ts, False)

    def _cash_cmd(self, uid, amount, ts, bint deposit):
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t a = _int(amount, "amount")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cash(u_, a, deposit, t)
        self._end(r)
        return r

    def place(self, uid, mid, side, outcome, price, qty, tif=0, stp=0, ts=0,
              post_only=False, client_id=0, expire_ts=0):
        """Place a limit order; match it at once, rest or cancel the remainder.

        Parameters
        ----------
        uid, mid : int
            User and market.
        side : int
            ``Side.BUY`` (0) or ``Side.SELL`` (1).
        outcome : int
            ``Outcome.YES`` (0) or ``Outcome.NO`` (1).
        price : int
            Limit price in the order's own outcome terms, on the market's grid.
        qty : int
            Shares, ``1..max_qty`` and at least the market's ``min_qty``.
        tif : int
            ``TimeInForce`` GTC (0, default), IOC (1), FOK (2) or GTD (3).
        stp : int
            ``SelfTrade`` CANCEL_MAKER (0, default), CANCEL_TAKER (1),
            CANCEL_BOTH (2), NONE (3: own orders match like any other).
        ts : int
            Caller time: expires due GTD orders first; copied into events.
        post_only : bool
            Reject (303) instead of taking liquidity.  GTC/GTD only.
        client_id : int
            0, or the caller's id for the order (``1..2**32-1``), unique per
            user among live orders (106 otherwise).
        expire_ts : int
            GTD only (and required there): the order expires at this time.

        Returns
        -------
        int
            The order id (``> 0``) when accepted, else ``-RejectReason``.
            Fills and cancels are in :meth:`last_events`.

        Raises
        ------
        TypeError, ValueError, OverflowError
            On misuse (non-integers, enum values out of range, flags that do
            not go with the tif).  Nothing changes.

        Complexity
        ----------
        O(1 + fills + levels crossed); resting is O(1).

        >>> core = Core(); m = core.create_market()
        >>> a, b = core.create_user(), core.create_user()
        >>> core.deposit(a, 10_000), core.deposit(b, 10_000)
        (0, 0)
        >>> core.place(a, m, 0, 0, 600, 10)       # buy YES @ 600 x10, rests
        1
        >>> core.place(b, m, 0, 1, 400, 10)       # buy NO @ 400 x10: mint
        2
        >>> core.position(a, m), core.position(b, m)
        ((10, 0, 0, 0), (0, 0, 10, 0))
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int s_ = _enum(side, "side", SIDE_SELL)
        cdef int o_ = _enum(outcome, "outcome", OUTCOME_NO)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        # the defaults are the cached small ints: skip their conversion
        cdef int t_ = 0 if tif is 0 else _enum(tif, "tif", TIF_GTD)
        cdef int x_ = 0 if stp is 0 else _enum(stp, "stp", STP_NONE)
        cdef int64_t ts_ = 0 if ts is 0 else _int(ts, "ts")
        cdef int flags = 0
        cdef int64_t cid = 0, exp = 0
        cdef int64_t r
        if post_only is not False:
            if post_only is not True:
                raise ArgumentTypeError("post_only must be a bool")
            if not post_only_ok(True, t_):
                raise InvalidArgumentError("post_only goes only with GTC or GTD")
            flags = FLAG_POST_ONLY
        if client_id is not 0:
            cid = _client_id(client_id)
        if t_ == TIF_GTD or expire_ts is not 0:
            exp = _int(expire_ts, "expire_ts")
            if not expiry_ok(t_, exp):
                raise InvalidArgumentError(
                    "expire_ts is required for GTD and only allowed "
                    "with GTD")
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, p_, q_, t_, x_, ts_, flags, cid, exp, 0)
        self._end(r)
        return r

    def place_market(self, uid, mid, side, outcome, qty, max_cost=0, fok=False,
                     stp=0, ts=0, client_id=0):
        """Place a market order: IOC (or FOK) at the worst price of the grid.

        Parameters
        ----------
        qty : int
            Shares wanted.
        max_cost : int
            Buys only: a budget in cash, fees included; 0 for none.  The
            order then fills only what the budget allows.
        fok : bool
            All of ``qty`` (within the budget) or nothing (301).

        Returns
        -------
        int
            The order id, or ``-RejectReason``.
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int s_ = _enum(side, "side", SIDE_SELL)
        cdef int o_ = _enum(outcome, "outcome", OUTCOME_NO)
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t mc = _int(max_cost, "max_cost")
        cdef int x_ = _enum(stp, "stp", STP_NONE)
        cdef int64_t ts_ = _int(ts, "ts")
        cdef int64_t cid = 0
        cdef int64_t r
        if fok is not True and fok is not False:
            raise ArgumentTypeError("fok must be a bool")
        if not max_cost_ok(mc, s_):
            raise InvalidArgumentError("max_cost must be >= 0, and 0 for a sell")
        if client_id is not 0:
            cid = _client_id(client_id)
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, 0, q_, TIF_FOK if fok else TIF_IOC, x_,
                        ts_, FLAG_MARKET, cid, 0, mc)
        self._end(r)
        return r

    def cancel(self, uid, oid, ts=0):
        """Cancel a live order of ``uid``; unlock what it held.

        Returns
        -------
        int
            0, or -101 unknown user, -302 no such live order of this user.

        Complexity
        ----------
        O(1) whatever the queue depth.
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t o_ = _int(oid, "oid")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cancel(u_, o_, t)
        self._end(r)
        return r

    def cancel_client(self, uid, client_id, ts=0):
        """Cancel the live order ``uid`` placed with ``client_id``.

        The same command as :meth:`cancel` (same checks, unlocking and
        events) with the order named by its client id, so a caller, or a
        batch, can cancel an order without knowing its engine id.

        Returns
        -------
        int
            0, or -101 unknown user, -302 no live order of this user has
            that client id (0 included: it means "none").

        Raises
        ------
        InvalidArgumentError
            ``client_id`` outside ``0..2**32-1`` (as :meth:`place`).

        Complexity
        ----------
        O(1): one lookup in the (client id, user) map.

        >>> core = Core(); m = core.create_market(); u = core.create_user()
        >>> core.deposit(u, 10_000)
        0
        >>> core.place(u, m, 0, 0, 500, 4, client_id=77)
        1
        >>> core.cancel_client(u, 77), core.cancel_client(u, 77)
        (0, -302)
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t c_ = _client_id(client_id)
        cdef int64_t t = 0 if ts is 0 else _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cancel_client(u_, c_, t)
        self._end(r)
        return r

    def amend(self, uid, oid, price, qty, ts=0):
        """Change a live order's price and remaining quantity.

        Same price and less (or equal) quantity keeps queue priority; a new
        price or more quantity sends the order to the back of its new level,
        matching first if it now crosses.

        Returns
        -------
        int
            0, or ``-RejectReason`` (nothing changes then).
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t o_ = _int(oid, "oid")
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._amend(u_, o_, p_, q_, t)
        self._end(r)
        return r

    def cancel_all(self, uid, mid=-1, ts=0):
        """Cancel all of a user's live orders, or those in one market.

        Returns
        -------
        int
            How many were canceled, or ``-RejectReason``.
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cancel_all(u_, m_, t)
        self._end(r)
        return r

    def mint(self, uid, mid, qty, ts=0):
        """Pay ``payout * qty`` for ``qty`` YES and ``qty`` NO shares; 0 or
        ``-RejectReason``."""
        return self._pair_cmd(uid, mid, qty, ts, True)

    def merge(self, uid, mid, qty, ts=0):
        """Burn ``qty`` YES and ``qty`` NO shares for ``payout * qty`` cash; 0
        or ``-RejectReason``."""
        return self._pair_cmd(uid, mid, qty, ts, False)

    def _pair_cmd(self, uid, mid, qty, ts, bint mint):
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._pair(u_, m_, q_, mint, t)
        self._end(r)
        return r

    def halt(self, mid, ts=0):
        """OPEN -> HALTED: no new orders (cancels all if so configured); 0 or
        ``-RejectReason``."""
        return self._lifecycle(mid, CMD_HALT, 0, ts)

    def resume(self, mid, ts=0):
        """HALTED -> OPEN; 0 or ``-RejectReason``."""
        return self._lifecycle(mid, CMD_RESUME, 0, ts)

    def close(self, mid, ts=0):
        """OPEN or HALTED -> CLOSED: cancels every resting order; 0 or
        ``-RejectReason``."""
        return self._lifecycle(mid, CMD_CLOSE, 0, ts)

    def resolve(self, mid, yes_value, ts=0):
        """Settle a market: cancel its orders, pay holders, burn the shares.

        Parameters
        ----------
        yes_value : int
            What one YES share pays, ``0..payout`` (a NO share pays the
            rest): ``payout`` if YES happened, 0 if NO, ``payout // 2`` to void.

        Returns
        -------
        int
            0, or ``-RejectReason``.
        """
        return self._lifecycle(mid, CMD_RESOLVE, yes_value, ts)

    def _lifecycle(self, mid, int64_t cmd, yes_value, ts):
        cdef int64_t m_ = _int(mid, "mid")
        cdef int64_t v = _int(yes_value, "yes_value")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = set_status(self, m_, cmd, v, t)
        self._end(r)
        return r

    def expire(self, ts):
        """Expire the GTD orders due at ``ts``; return how many, or -109
        (``STALE_TIME``) if ``ts`` is before the engine's clock."""
        return expiry.expire_cmd(self, ts)

    # --------------------------------------------------------------- batch

    @cython.final
    cdef int64_t _dispatch(self, const CmdRec* c) noexcept nogil:
        # One batch command, exactly as its per-call method would run it.
        cdef int64_t k = c.kind
        cdef int64_t ts = c.ts
        self.filled = 0
        # time first, as _begin does (0: the clock; earlier: refused below)
        if ts == 0:
            ts = self.clock_ts
        if ts >= self.clock_ts:
            self.clock_ts = ts
            if self.n_heap > 0 and self.heap[0].ts <= ts:
                if k == CMD_EXPIRE:
                    return self._expire(ts)
                self._expire(ts)
        if k == CMD_EXPIRE:
            if ts < self.clock_ts:
                self._reject(CMD_EXPIRE, REJ_STALE_TIME, 0, 0, 0, 0, 0, 0, 0, ts)
                return -REJ_STALE_TIME
            return 0
        if k == CMD_PLACE:
            return self._place(c.uid, c.mid, <int>c.side, <int>c.outcome, c.price,
                               c.qty, <int>c.tif, <int>c.stp, ts,
                               FLAG_POST_ONLY if c.post_only else 0, c.client_id,
                               c.expire_ts, 0)
        if k == CMD_PLACE_MARKET:
            return self._place(c.uid, c.mid, <int>c.side, <int>c.outcome, 0, c.qty,
                               <int>c.tif, <int>c.stp, ts, FLAG_MARKET,
                               c.client_id, 0, c.max_cost)
        if k == CMD_CANCEL:
            return self._cancel(c.uid, c.oid, ts)
        if k == CMD_CANCEL_CLIENT:
            return self._cancel_client(c.uid, c.client_id, ts)
        if k == CMD_AMEND:
            return self._amend(c.uid, c.oid, c.price, c.qty, ts)
        if k == CMD_CANCEL_ALL:
            return self._cancel_all(c.uid, c.mid, ts)
        if k == CMD_DEPOSIT or k == CMD_WITHDRAW:
            return self._cash(c.uid, c.qty, k == CMD_DEPOSIT, ts)
        if k == CMD_MINT or k == CMD_MERGE:
            return self._pair(c.uid, c.mid, c.qty, k == CMD_MINT, ts)
        return set_status(self, c.mid, k, c.price, ts)

    @cython.final
    cdef inline void _look_ahead(self, const CmdRec* cmds, Py_ssize_t i,
                                 Py_ssize_t n) noexcept nogil:
        # Cache hints for the next commands of a batch (no state is read but
        # the hash tables, nothing is written): on a deep book, the order-id
        # buckets of new orders and of cancels, and the order a cancel
        # unlinks, are cache misses; hinted a command or two ahead they
        # arrive while the current command runs.  (Also hinting a cancel's
        # queue neighbours, the first maker an order meets and its bucket
        # measured no faster: those reads stall on the hinted order.)
        cdef slot_t s
        im_prefetch(&self.oid_map, <uint64_t>self.next_oid + 1)
        if i + 2 < n and cmds[i + 2].kind == CMD_CANCEL:
            im_prefetch(&self.oid_map, <uint64_t>cmds[i + 2].oid)
        if i + 1 < n and cmds[i + 1].kind == CMD_CANCEL and cmds[i + 1].oid > 0:
            s = im_get(&self.oid_map, <uint64_t>cmds[i + 1].oid)
            if s >= 0:
                probo_prefetchw(&self.orders[s])

    def run_batch(self, commands, int64_t[::1] results, int64_t[::1] filled=None,
                  bint record_events=True):
        """Run packed command records in C with the GIL released.

        Parameters
        ----------
        commands : buffer
            Contiguous ``CmdRec`` records (128 bytes each, 16 little-endian
            int64 fields; ``probo_engine.batch.COMMAND_DTYPE``).
        results : int64 buffer
            Filled with what each command's per-call method would return.
        filled : int64 buffer, optional
            Filled with the quantity each incoming order filled.
        record_events : bool
            Keep the batch's events for :meth:`events_bytes` (sequence
            numbers advance either way).

        Returns
        -------
        int
            The number of commands run (all of them).

        Raises
        ------
        ValueError
            A record is malformed (unknown kind, enum out of range, flags that
            do not fit): raised before any command runs, naming the index.
        MemoryError
            Out of memory part-way: the commands before it are applied (each is
            atomic), none after.
        """
        cdef const unsigned char[::1] raw = memoryview(commands).cast("B")
        cdef Py_ssize_t n, i
        cdef const CmdRec* cmds
        cdef int64_t r = 0
        cdef bint bad = False
        cdef int prev
        if raw.shape[0] % sizeof(CmdRec):
            raise InvalidArgumentError(
                f"commands buffer of {raw.shape[0]} bytes is not a "
                f"whole number of {sizeof(CmdRec)}-byte records")
        n = raw.shape[0] // sizeof(CmdRec)
        if results.shape[0] < n or (filled is not None and filled.shape[0] < n):
            raise InvalidArgumentError(
                "results/filled arrays are shorter than the batch")
        if n == 0:
            self._guard()
            self.n_events = 0
            return 0
        cmds = <const CmdRec*>&raw[0]
        _check_records(cmds, n)
        self._guard()
        if self.oom:
            raise MemoryError("the core lost an event to a failed allocation")
        prev = self._enter(BUSY_BATCH)
        self.n_events = 0
        self.record = record_events
        try:
            with nogil:
                for i in range(n):
                    if self.n_live > LOOK_AHEAD_LIVE:  # a book beyond the caches
                        self._look_ahead(cmds, i, n)
                    r = self._dispatch(&cmds[i])
                    if r == ERR_NOMEM:
                        bad = True
                        break
                    results[i] = r
                    if filled is not None:
                        filled[i] = self.filled
        finally:
            self.record = True
            self.busy = prev
        if bad:
            raise MemoryError(f"out of memory at batch command {i}: the {i} before "
                              "it are applied")
        self._end(0)
        return n

    @staticmethod
    def check_batch(commands):
        """Raise ``ValueError`` naming the first malformed record of
        ``commands`` (as :meth:`run_batch` would, before running any); return
        the number of records.  Changes nothing.  O(n), no allocation."""
        return check_batch(commands)

    def events_bytes(self):
        """A copy of the packed events of the last command or batch.

        ``EVENT_SIZE`` (96) bytes per event, little-endian fields at the
        offsets of ``EVENT_LAYOUT``; numpy:
        ``np.frombuffer(core.events_bytes(), probo_engine.batch.EVENT_DTYPE)``.
        A copy, so it stays valid whatever the engine does next.
        """
        return queries.events_bytes(self)

    def events_into(self, unsigned char[::1] out):
        """Copy the packed events of the last command or batch into ``out``.

        ``out`` is a writable buffer of at least ``n_last_events * EVENT_SIZE``
        bytes (e.g. a reused ``EVENT_DTYPE`` array); returns the number of
        events copied.  No allocation: for batch loops that keep one buffer.
        """
        return queries.events_into(self, out)

    @property
    def last_filled(self):
        """Quantity the incoming order of the last command filled (O(1))."""
        return self.filled

    def depth_into(self, mid, int64_t[:, :, ::1] out):
        """Fill ``out[side, level] = (yes_price, qty, orders)``, best first.

        ``out`` has shape ``(2, n, 3)``: side 0 bids, 1 asks; levels beyond
        the book are zeroed.  No Python object per level.  O(n).
        """
        return queries.depth_into(self, mid, out)

    # ----------------------------------------------------------- snapshots

    def snapshot(self):
        """The whole state as canonical bytes (docs/snapshot.md).

        Equal states give equal bytes, whatever the history of the arena,
        the free list or the hash tables: users by id, markets by id,
        positions by (user, market) without all-zero ones, and resting
        orders market by market, bids best first then asks best first, FIFO
        within a level.  The events of the last command are not state.

        Complexity
        ----------
        O(users + markets x levels + positions + orders), one pass each.
        """
        from probo_engine._snapshot import dump
        return dump(self)

    def state_hash(self):
        """A digest (BLAKE2b-128, hex) of the canonical state: equal for equal
        states in any process, whatever the history."""
        return hashlib.blake2b(self.snapshot(), digest_size=16).hexdigest()

    @staticmethod
    def _crc32(data):
        # zlib.crc32 computed by the core's own CRC (tests compare the two)
        cdef const unsigned char[::1] v = memoryview(data).cast("B")
        if v.shape[0] == 0:
            return 0
        return probo_crc32(0, &v[0], <size_t>v.shape[0])

    @staticmethod
    def _crc_simd():
        # 1 when the CRC runs on carry-less multiplication (PCLMULQDQ)
        return probo_crc_simd()

    @classmethod
    def restore(cls, data):
        """Build a new engine from :meth:`snapshot` bytes.

        Everything is validated (header, sizes, counts, CRC, every field, then
        :meth:`check_invariants`) before the new engine is returned; nothing
        is half-built.

        Raises
        ------
        SnapshotError
            On truncated, corrupt or unknown-format input.
        """
        from probo_engine._snapshot import load
        return load(cls, data)

    def __reduce__(self):
        return (_restore, (type(self), self.snapshot()))

    # ------------------------------------------------------------ queries

    def last_events(self):
        """Events of the most recent command, as 17-int tuples.

        Field order: ``EVENT_FIELDS`` (seq, kind, ts, market, user, oid, side,
        outcome, price, qty, code, user2, oid2, price2, aux, fee, fee2).
        """
        self._guard()
        return readout.event_tuples(self)

    # ---------------------------------------------- fast per-call entry points
    # (issue 10): fills without tuples, short signatures for the common cases,
    # and the OrderResult of Engine.submit built here in one pass.

    def last_fills(self):
        """The fills of the most recent command as one flat list of ints.

        Three ints per fill, in execution order: ``[maker_oid, yes_price, qty,
        maker_oid, yes_price, qty, ...]`` (the FILL events' ``oid2``,
        ``price`` and ``qty``); empty if nothing traded.  After a batch, the
        fills of its last slice.  Unpack with ``it = iter(f); for oid,
        price, qty in zip(it, it, it)``.  No tuple per event is built, so this
        costs a fraction of :meth:`last_events`.  O(events of the command).

        >>> core = Core(); m = core.create_market()
        >>> a, b = core.create_user(), core.create_user()
        >>> core.deposit(a, 10_000), core.deposit(b, 10_000)
        (0, 0)
        >>> core.place_limit(a, m, 0, 0, 600, 10)
        1
        >>> core.place_limit(b, m, 0, 1, 400, 4), core.last_fills()
        (2, [1, 600, 4])
        """
        self._guard()
        return readout.fills_flat(self)

    def fills_into(self, int64_t[::1] out):
        """Write the most recent command's fills into ``out``; return how many.

        ``out`` is a writable int64 buffer (e.g. a reused
        ``numpy.empty(3 * k, numpy.int64)`` or ``array.array("q")``); fill
        ``i`` goes to ``out[3*i : 3*i+3]`` as ``(maker_oid, yes_price,
        qty)``, as in :meth:`last_fills`.  If ``out`` is too short,
        ``InvalidArgumentError`` (a ``ValueError``) names the size needed and
        nothing is written.  No allocation.
        """
        self._guard()
        return readout.fills_into(self, out)

    def place_limit(self, uid, mid, side, outcome, price, qty):
        """:meth:`place` of a GTC limit order with every option at its default.

        Same rules, result and events as ``place(uid, mid, side, outcome,
        price, qty)``, with a six-argument signature that is cheaper to call
        (on an :class:`Engine`, ``uid``/``mid`` may be names, and the
        self-trade mode is the engine's ``self_trade``).
        """
        cdef int64_t u_ = _user_key(self, uid, "uid")
        cdef int64_t m_ = _market_key(self, mid, "mid")
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t ts_ = 0
        cdef int64_t r
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, p_, q_, TIF_GTC, self.stp_default, ts_,
                        0, 0, 0, 0)
        self._end(r)
        return r

    def place_ioc(self, uid, mid, side, outcome, price, qty):
        """:meth:`place` with ``tif=TimeInForce.IOC`` and the other options at
        their defaults: fill what crosses at ``price`` or better, cancel the
        rest."""
        cdef int64_t u_ = _user_key(self, uid, "uid")
        cdef int64_t m_ = _market_key(self, mid, "mid")
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t ts_ = 0
        cdef int64_t r
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, p_, q_, TIF_IOC, self.stp_default, ts_,
                        0, 0, 0, 0)
        self._end(r)
        return r

    def place_limit_fills(self, uid, mid, side, outcome, price, qty):
        """:meth:`place_limit` that also returns the order's fills: one call.

        Returns ``(r, fills)``: ``r`` as from :meth:`place_limit` (the new
        order id, or minus a reject code), ``fills`` a tuple of ``(maker_oid,
        yes_price, qty)`` tuples in execution order -- the same fills as
        :meth:`last_fills` -- and the shared empty tuple when nothing traded.
        Same rules, events and errors as :meth:`place`; on an
        :class:`Engine`, ``uid``/``mid`` may be names.  Complexity: that of
        :meth:`place`, plus O(events of the command) to collect the fills.

        >>> core = Core(); m = core.create_market()
        >>> a, b = core.create_user(), core.create_user()
        >>> core.deposit(a, 10_000), core.deposit(b, 10_000)
        (0, 0)
        >>> core.place_limit_fills(a, m, 0, 0, 600, 10)
        (1, ())
        >>> oid, fills = core.place_limit_fills(b, m, 0, 1, 400, 4)
        >>> oid, fills
        (2, ((1, 600, 4),))
        >>> for maker_oid, yes_price, qty in fills:
        ...     print(maker_oid, yes_price, qty)
        1 600 4
        """
        cdef int64_t u_ = _user_key(self, uid, "uid")
        cdef int64_t m_ = _market_key(self, mid, "mid")
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int64_t ts_ = 0
        cdef int64_t r
        self._begin(&ts_)
        r = self._place(u_, m_, s_, o_, p_, q_, TIF_GTC, self.stp_default, ts_,
                        0, 0, 0, 0)
        self._end(r)
        return r, readout.fill_triples(self)

    def _order_result(self, int64_t r, int64_t qty):
        # Engine.submit_market's OrderResult for place result r of an order
        # of qty (see _result).
        return readout.order_result(self, r, qty)

    def _uid_arg(self, user, arg):
        # A user argument as an int id; Engine overrides this to map names
        # (an unknown name to -1, which commands refuse with 101).
        return _int(user, arg)

    def _mid_arg(self, market, arg):
        # The same for markets (Engine: symbols; unknown -> -1, refused 102).
        return _int(market, arg)

    def _submit(self, user, market, side, outcome, price, qty, *, tif=_TIF_GTC,
                stp=None, ts=0, post_only=False, client_id=0,
                expire_ts=0):
        """Place a limit order and return what happened to it, fills included.

        Same rules, arguments and events as :meth:`Core.place`; ``user`` and
        ``market`` may be names.  Returns an :class:`OrderResult` whose
        ``fills`` are :class:`Fill` records.  Every refusal, an unknown user
        or market (by id or name) included, is the result's ``status``
        (``UNKNOWN_USER``/``UNKNOWN_MARKET`` for those, ``oid`` 0); misuse
        (wrong types, values out of range) raises a ``ProboError`` that is
        also a ``TypeError``/``ValueError``.  A GTC order without options
        takes a short path in C (argument parsing of :meth:`place_limit`,
        the result record built in the same call).  ``stp`` not given (None)
        is the engine's default mode (``Engine(self_trade=...)``).
        """
        cdef int64_t u_ = _user_key(self, user, "user")
        cdef int64_t m_ = _market_key(self, market, "market")
        cdef int s_, o_
        cdef int64_t p_, q_, r, ts_ = 0
        if stp is None:
            stp = self.stp_default
        if ((tif is _TIF_GTC or tif is 0) and (stp is _STP_DEFAULT or stp is 0)
                and ts is 0 and post_only is False and client_id is 0
                and expire_ts is 0):
            s_ = _enum(side, "side", 1)
            o_ = _enum(outcome, "outcome", 1)
            p_ = _int(price, "price")
            q_ = _int(qty, "qty")
            self._begin(&ts_)
            r = self._place(u_, m_, s_, o_, p_, q_, TIF_GTC, 0, ts_, 0, 0, 0, 0)
            self._end(r)
        else:
            r = Core.place(self, u_, m_, side, outcome, price, qty, tif, stp, ts,
                           post_only, client_id, expire_ts)
            q_ = _int(qty, "qty")
        return readout.order_result(self, r, q_)

    def _cancel_key(self, uid, oid, ts=0):
        """Cancel a live order of ``uid`` (an id or, on an Engine, a name).

        As :meth:`Core.cancel`: 0, or -101 unknown user, -302 no such live
        order of this user.  O(1) whatever the queue depth.
        """
        cdef int64_t u_ = _user_key(self, uid, "uid")
        cdef int64_t o_ = _int(oid, "oid")
        cdef int64_t t = 0 if ts is 0 else _int(ts, "ts")
        cdef int64_t r
        self._begin(&t)
        r = self._cancel(u_, o_, t)
        self._end(r)
        return r

    @property
    def _stp_default(self):
        """``Engine.self_trade``: the mode ``submit`` uses when none is given."""
        return SelfTrade(self.stp_default)

    @_stp_default.setter
    def _stp_default(self, stp):
        self.stp_default = _self_trade(stp)

    @property
    def n_last_events(self):
        """Number of events the most recent command produced (O(1))."""
        return self.n_events

    @property
    def clock(self):
        """The engine's time: the highest ``ts`` a command has carried (0 at
        first).  A command with a lower ``ts`` is refused (109
        ``STALE_TIME``); ``ts=0`` means "at the clock"."""
        return self.clock_ts

    @property
    def last_seq(self):
        """Sequence number of the newest event (0 before any)."""
        return self.seq

    @cython.final
    cdef inline bint _unknown_user(self, int64_t uid) noexcept nogil:
        # the one user-id check of every command and query
        return uid < 0 or uid >= self.n_users

    @cython.final
    cdef int _check_user(self, int64_t uid) except -1:
        # every query that reads the state goes through here, _market or _guard
        self._guard()
        if self._unknown_user(uid):
            raise UnknownUserError(f"unknown user {uid}")
        return 0

    @cython.final
    cdef Market* _market(self, int64_t mid) except NULL:
        self._guard()
        if mid < 0 or mid >= self.n_markets:
            from probo_engine.errors import UnknownMarketError
            raise UnknownMarketError(f"unknown market {mid}")
        return &self.markets[mid]

    def balance(self, uid):
        """``(available, locked)`` cash of a user.  KeyError if unknown."""
        return queries.balance(self, uid)

    def position(self, uid, mid):
        """``(yes_available, yes_locked, no_available, no_locked)`` shares."""
        return queries.position(self, uid, mid)

    def market(self, mid):
        """``(payout, tick, status, outstanding_pairs)`` of a market."""
        return queries.market(self, mid)

    def last_price(self, mid):
        """Last trade price in YES terms (0 before the first trade)."""
        return queries.last_price(self, mid)

    def top(self, mid):
        """``(bid_price, bid_qty, ask_price, ask_qty)`` in YES terms, 0 if empty.

        Complexity
        ----------
        O(1).
        """
        return queries.top(self, mid)

    def depth(self, mid, n=10):
        """Up to ``n`` levels per side, best first: ``(bids, asks)``.

        Each level is ``(yes_price, total_qty, order_count)``.

        Complexity
        ----------
        O(n + empty price levels skipped / 64).
        """
        return queries.depth(self, mid, n)

    def book_orders(self, mid):
        """Every resting order of a market (L3), in priority order.

        Bids best first, then asks best first, FIFO within a level; each
        ``(oid, uid, side, outcome, price, qty, yes_price, book_side)``.
        """
        return queries.book_orders(self, mid)

    def user_orders(self, uid):
        """A user's live orders by ascending id.

        Each ``(mid, oid, uid, side, outcome, price, qty, yes_price,
        book_side, tif, client_id, expire_ts)``.  O(orders of that user).
        """
        return queries.user_orders(self, uid)

    def order(self, oid):
        """A live order as in :meth:`user_orders`, or ``None``."""
        return queries.order(self, oid)

    def order_by_client_id(self, uid, client_id):
        """A user's live order by its client id, or ``None``.  O(1)."""
        return queries.order_by_client_id(self, uid, client_id)

    def market_config(self, mid):
        """``(payout, tick, taker_fee, maker_fee, fee_mode, min_qty,
        cancel_on_halt, yes_value)``; ``yes_value`` is -1 until resolved."""
        return queries.market_config(self, mid)

    def fees(self):
        """The fee account's balance (fees collected minus rebates paid)."""
        return self.fee_balance

    def limits(self):
        """``(max_qty, max_open_orders, max_balance, max_levels)``."""
        return (self.max_qty, self.max_open, self.max_balance, self.max_levels)

    def totals(self):
        """``(net_cash, n_users, n_markets, n_live_orders)``."""
        return (self.net_cash, self.n_users, self.n_markets, self.n_live)

    # --------------------------------------------------------- invariants

    def check_invariants(self):
        """Check every structural and accounting invariant; O(size of state).

        The plain checker (``_invariants.check``); restore runs a tuned one
        that refuses the same states (``_invariants.check_tuned``).

        Raises
        ------
        InvariantError
            Naming the first invariant found broken.
        """
        self._guard()
        from probo_engine._invariants import check
        check(self)


def _restore(cls, data):
    # pickle support: Core.__reduce__ -> _restore(type, snapshot bytes)
    return cls.restore(data)
