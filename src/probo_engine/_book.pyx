# cython: language_level=3
"""The matching core: books, matching, ledger and events, in C structures.

Public entry points are ``def`` methods of :class:`Core`; everything they call is
C.  The exact rules are in ``docs/semantics.md``; ``tests/reference.py`` is the
slow model the property tests compare this module with.
"""

cimport cython
from cpython.long cimport PyLong_CheckExact
from cpython.number cimport PyNumber_Index
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset

from probo_engine.errors import InvariantError

cdef extern from "_debug.h":
    int PROBO_DEBUG

cdef extern from *:
    """
    #define PROBO_MAX_QTY 1000000000LL
    #define PROBO_MAX_PAYOUT 1000000
    #define PROBO_MAX_LEVELS 100000
    #define PROBO_MAX_TOTAL_CASH 4611686018427387904LL
    static inline int probo_ctz(unsigned long long x) { return __builtin_ctzll(x); }
    static inline int probo_clz(unsigned long long x) { return __builtin_clzll(x); }
    """
    int64_t MAX_QTY "PROBO_MAX_QTY"
    int64_t MAX_PAYOUT "PROBO_MAX_PAYOUT"
    int64_t MAX_LEVELS "PROBO_MAX_LEVELS"
    int64_t MAX_TOTAL_CASH "PROBO_MAX_TOTAL_CASH"
    int probo_ctz(unsigned long long x) noexcept nogil
    int probo_clz(unsigned long long x) noexcept nogil

# Returned by internal commands when an allocation failed before any mutation.
cdef enum:
    ERR_NOMEM = -1

CONSTANTS = {
    "SIDE_BUY": SIDE_BUY, "SIDE_SELL": SIDE_SELL,
    "OUTCOME_YES": OUTCOME_YES, "OUTCOME_NO": OUTCOME_NO,
    "BOOK_BID": BOOK_BID, "BOOK_ASK": BOOK_ASK,
    "TIF_GTC": TIF_GTC, "TIF_IOC": TIF_IOC, "TIF_FOK": TIF_FOK,
    "STP_CANCEL_MAKER": STP_CANCEL_MAKER, "STP_CANCEL_TAKER": STP_CANCEL_TAKER,
    "STP_CANCEL_BOTH": STP_CANCEL_BOTH,
    "FILL_TRANSFER": FILL_TRANSFER, "FILL_MINT": FILL_MINT, "FILL_MERGE": FILL_MERGE,
    "CANCEL_USER": CANCEL_USER, "CANCEL_IOC": CANCEL_IOC,
    "CANCEL_SELF_TRADE": CANCEL_SELF_TRADE,
    "MARKET_OPEN": MARKET_OPEN,
    "EV_ACCEPTED": EV_ACCEPTED, "EV_REJECTED": EV_REJECTED, "EV_FILL": EV_FILL,
    "EV_CANCELED": EV_CANCELED, "EV_LEVEL": EV_LEVEL, "EV_MARKET": EV_MARKET,
    "EV_CASH": EV_CASH,
    "CMD_PLACE": CMD_PLACE, "CMD_CANCEL": CMD_CANCEL, "CMD_DEPOSIT": CMD_DEPOSIT,
    "CMD_WITHDRAW": CMD_WITHDRAW,
    "REJ_OK": REJ_OK, "REJ_UNKNOWN_USER": REJ_UNKNOWN_USER,
    "REJ_UNKNOWN_MARKET": REJ_UNKNOWN_MARKET,
    "REJ_PRICE_OFF_GRID": REJ_PRICE_OFF_GRID, "REJ_INVALID_QTY": REJ_INVALID_QTY,
    "REJ_INVALID_AMOUNT": REJ_INVALID_AMOUNT,
    "REJ_INSUFFICIENT_FUNDS": REJ_INSUFFICIENT_FUNDS,
    "REJ_INSUFFICIENT_SHARES": REJ_INSUFFICIENT_SHARES,
    "REJ_CASH_LIMIT": REJ_CASH_LIMIT, "REJ_FOK_NOT_FILLABLE": REJ_FOK_NOT_FILLABLE,
    "REJ_UNKNOWN_ORDER": REJ_UNKNOWN_ORDER,
    "MAX_QTY": MAX_QTY, "MAX_PAYOUT": MAX_PAYOUT, "MAX_LEVELS": MAX_LEVELS,
    "MAX_TOTAL_CASH": MAX_TOTAL_CASH,
}

EVENT_FIELDS = (
    "seq", "kind", "ts", "market", "user", "oid", "side", "outcome", "price",
    "qty", "code", "user2", "oid2", "price2", "aux",
)


# ---------------------------------------------------------------- arguments

cdef int64_t _int_slow(object x, str name) except? -1:
    # bool is an int subclass and float/Decimal convert silently elsewhere:
    # both are misuse here, so refuse them before __index__ gets a chance.
    if isinstance(x, (bool, float)):
        raise TypeError(f"{name} must be an integer, not {type(x).__name__}")
    try:
        return PyNumber_Index(x)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, not {type(x).__name__}"
        ) from None


cdef inline int64_t _int(object x, str name) except? -1:
    if PyLong_CheckExact(x):
        return x
    return _int_slow(x, name)


cdef inline int _enum(object x, str name, int hi) except -1:
    cdef int64_t v = _int(x, name)
    if v < 0 or v > hi:
        raise ValueError(f"{name} must be in 0..{hi}, got {v}")
    return <int>v


# ------------------------------------------------------------------ growth
# libc malloc/realloc rather than PyMem_*: these run without the GIL in the
# batch path, where the PyMem allocators must not be called.

cdef int _grow(void** p, int64_t* cap, int64_t need, size_t size) noexcept nogil:
    # Doubles *cap until it holds `need` elements; 0 on success, -1 when out
    # of memory (the old block is then untouched).
    cdef int64_t c = cap[0] if cap[0] > 0 else 16
    cdef void* q
    if need <= cap[0]:
        return 0
    while c < need:
        c *= 2
    q = realloc(p[0], <size_t>c * size)
    if q == NULL:
        return -1
    p[0] = q
    cap[0] = c
    return 0


# ---------------------------------------------------------------- hash map

cdef inline uint64_t im_slot(const IntMap* m, uint64_t k) noexcept nogil:
    # Fibonacci hashing: the top bits of k * 2^64/phi.
    return (k * <uint64_t>0x9E3779B97F4A7C15) >> m.shift


cdef int im_init(IntMap* m, int64_t cap) noexcept nogil:
    cdef int32_t bits = 0
    while (<int64_t>1 << bits) < cap:
        bits += 1
    cap = <int64_t>1 << bits
    m.keys = <uint64_t*>malloc(<size_t>cap * sizeof(uint64_t))
    m.vals = <int32_t*>malloc(<size_t>cap * sizeof(int32_t))
    if m.keys == NULL or m.vals == NULL:
        free(m.keys)
        free(m.vals)
        m.keys = NULL
        m.vals = NULL
        return -1
    memset(m.keys, 0, <size_t>cap * sizeof(uint64_t))
    m.cap = cap
    m.size = 0
    m.shift = 64 - bits
    return 0


cdef void im_free(IntMap* m) noexcept nogil:
    free(m.keys)
    free(m.vals)
    m.keys = NULL
    m.vals = NULL
    m.cap = 0
    m.size = 0


cdef inline int32_t im_get(const IntMap* m, uint64_t k) noexcept nogil:
    cdef uint64_t mask = <uint64_t>m.cap - 1
    cdef uint64_t i = im_slot(m, k)
    while m.keys[i] != 0:
        if m.keys[i] == k:
            return m.vals[i]
        i = (i + 1) & mask
    return -1


cdef inline void im_insert_nogrow(IntMap* m, uint64_t k, int32_t v) noexcept nogil:
    cdef uint64_t mask = <uint64_t>m.cap - 1
    cdef uint64_t i = im_slot(m, k)
    while m.keys[i] != 0:
        if m.keys[i] == k:
            m.vals[i] = v
            return
        i = (i + 1) & mask
    m.keys[i] = k
    m.vals[i] = v
    m.size += 1


cdef int im_reserve(IntMap* m, int64_t extra) noexcept nogil:
    # Keeps the load factor at or below 1/2 after `extra` more inserts.
    cdef IntMap n
    cdef int64_t i
    if (m.size + extra) * 2 <= m.cap:
        return 0
    if im_init(&n, m.cap * 2) != 0:
        return -1
    for i in range(m.cap):
        if m.keys[i] != 0:
            im_insert_nogrow(&n, m.keys[i], m.vals[i])
    im_free(m)
    m[0] = n
    return 0


cdef void im_del(IntMap* m, uint64_t k) noexcept nogil:
    # Backward-shift deletion keeps probe chains unbroken without tombstones.
    cdef uint64_t mask = <uint64_t>m.cap - 1
    cdef uint64_t i = im_slot(m, k)
    cdef uint64_t j, h
    while m.keys[i] != k:
        if m.keys[i] == 0:
            return
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        if m.keys[j] == 0:
            break
        h = im_slot(m, m.keys[j])
        # the entry at j may move to i only if its home h is not in (i, j]
        if (i <= j and (h <= i or h > j)) or (i > j and h <= i and h > j):
            m.keys[i] = m.keys[j]
            m.vals[i] = m.vals[j]
            i = j
    m.keys[i] = 0
    m.size -= 1


# ----------------------------------------------------------------- bitmaps

cdef inline void bit_set(uint64_t* b, int32_t i) noexcept nogil:
    b[i >> 6] |= (<uint64_t>1) << (i & 63)


cdef inline void bit_clear(uint64_t* b, int32_t i) noexcept nogil:
    b[i >> 6] &= ~((<uint64_t>1) << (i & 63))


cdef inline int32_t bit_next_up(const uint64_t* b, int32_t nwords, int32_t i,
                                int32_t none) noexcept nogil:
    # Lowest set index >= i, or `none`.
    cdef int32_t w = i >> 6
    cdef uint64_t x
    if w >= nwords:
        return none
    x = b[w] & (~(<uint64_t>0) << (i & 63))
    while True:
        if x != 0:
            return (w << 6) + probo_ctz(x)
        w += 1
        if w >= nwords:
            return none
        x = b[w]


cdef inline int32_t bit_next_down(const uint64_t* b, int32_t i) noexcept nogil:
    # Highest set index <= i, or -1.
    cdef int32_t w
    cdef uint64_t x
    if i < 0:
        return -1
    w = i >> 6
    x = b[w] & (~(<uint64_t>0) >> (63 - (i & 63)))
    while True:
        if x != 0:
            return (w << 6) + 63 - probo_clz(x)
        w -= 1
        if w < 0:
            return -1
        x = b[w]


# -------------------------------------------------------------- the core

cdef class Core:
    """All markets, users and the ledger of one exchange, matched in C.

    Ids are dense integers assigned here: users ``0, 1, ...``, markets ``0, 1,
    ...``, orders ``1, 2, ...``.  Every method takes plain integers (numpy
    integers work too; ``bool``/``float``/``str`` raise ``TypeError``) and an
    optional ``ts`` that is only copied into the events.  Expected refusals are
    result codes (:class:`probo_engine.RejectReason`), never exceptions.  The
    events of the most recent command are available from :meth:`last_events`.
    See ``docs/semantics.md`` for the full contract.
    """

    def __cinit__(self):
        self.orders = NULL
        self.users = NULL
        self.markets = NULL
        self.positions = NULL
        self.events = NULL
        self.touched = NULL
        self.oid_map.keys = NULL
        self.oid_map.vals = NULL
        self.pos_map.keys = NULL
        self.pos_map.vals = NULL
        self.cap_orders = 0
        self.free_head = -1
        self.n_live = 0
        self.n_users = self.cap_users = 0
        self.n_markets = self.cap_markets = 0
        self.n_pos = self.cap_pos = 0
        self.n_events = self.cap_events = 0
        self.n_touched = self.cap_touched = 0
        self.seq = 0
        self.next_oid = 1
        self.net_cash = 0
        self.oom = False
        if im_init(&self.oid_map, 1024) != 0 or im_init(&self.pos_map, 1024) != 0:
            raise MemoryError()
        if _grow(<void**>&self.events, &self.cap_events, 256, sizeof(Event)) != 0:
            raise MemoryError()

    def __dealloc__(self):
        cdef int64_t i
        if self.markets != NULL:
            for i in range(self.n_markets):
                free(self.markets[i].levels)
                free(self.markets[i].bits)
        free(self.markets)
        free(self.orders)
        free(self.users)
        free(self.positions)
        free(self.events)
        free(self.touched)
        im_free(&self.oid_map)
        im_free(&self.pos_map)

    # ------------------------------------------------------------ events

    @cython.final
    cdef Event* _ev(self, int64_t kind, int64_t ts) noexcept nogil:
        # Next event record, zeroed, with its sequence number.  Never NULL: on
        # a failed allocation the event goes to a scratch record and the core
        # is marked unusable (checked by _end), so no half-state is observable.
        cdef Event* e
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
    cdef int _begin(self) except -1:
        # Every public command starts here: a new event batch.
        if self.oom:
            raise MemoryError("the core lost an event to a failed allocation")
        self.n_events = 0
        return 0

    @cython.final
    cdef int _end(self) except -1:
        if self.oom:
            raise MemoryError("out of memory while recording events")
        if PROBO_DEBUG:
            self.check_invariants()
        return 0

    @cython.final
    cdef void _reject(self, int64_t cmd, int64_t code, int64_t mid, int64_t uid,
                      int64_t oid, int64_t side, int64_t outcome, int64_t price,
                      int64_t qty, int64_t ts) noexcept nogil:
        cdef Event* e = self._ev(EV_REJECTED, ts)
        e.market = mid
        e.user = uid
        e.oid = oid
        e.side = side
        e.outcome = outcome
        e.price = price
        e.qty = qty
        e.code = code
        e.aux = cmd

    # ------------------------------------------------------- level helpers

    @cython.final
    cdef void _touch(self, Market* m, int64_t mid, int32_t bside,
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
    cdef void _unlink(self, slot_t s) noexcept nogil:
        # Take a live order off its level and its user's list and free the
        # slot.  Its remaining qty leaves the level total; locks are the
        # caller's business.
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        cdef int32_t idx = o.yprice // m.tick - 1
        cdef Level* lvl = &m.levels[o.bside * m.nlevels + idx]
        cdef User* u = &self.users[o.uid]
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
        if lvl.count == 0:
            bit_clear(m.bits + o.bside * m.nwords, idx)
            if o.bside == BOOK_BID:
                if m.best_bid == idx:
                    m.best_bid = bit_next_down(m.bits, idx)
            elif m.best_ask == idx:
                m.best_ask = bit_next_up(m.bits + m.nwords, m.nwords, idx,
                                         m.nlevels)
        if o.uprev >= 0:
            self.orders[o.uprev].unext = o.unext
        else:
            u.head = o.unext
        if o.unext >= 0:
            self.orders[o.unext].uprev = o.uprev
        else:
            u.tail = o.uprev
        im_del(&self.oid_map, o.oid)
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
        if o.action == SIDE_BUY:
            u = &self.users[o.uid]
            a = <amount_t>(o.yprice if o.outcome == OUTCOME_YES
                           else m.payout - o.yprice) * q
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
        e.price = o.yprice if o.outcome == OUTCOME_YES else m.payout - o.yprice
        e.qty = o.qty
        e.code = reason
        e.price2 = o.yprice
        e.aux = o.bside
        self._touch(m, o.mid, o.bside, o.yprice // m.tick - 1)
        self._unlink(s)

    # ------------------------------------------------------------- ledger

    @cython.final
    cdef void _settle(self, int32_t uid, pos_t pos, int action,
                             int outcome, price_t limit, price_t x, qty_t q,
                             price_t payout) noexcept nogil:
        # One party's side of a fill of q at YES price x (semantics.md,
        # "Ledger effect of a fill").  `limit` is the party's YES limit.
        cdef User* u = &self.users[uid]
        cdef Position* p = &self.positions[pos]
        cdef amount_t own_limit, own_exec
        if outcome == OUTCOME_YES:
            own_limit = limit
            own_exec = x
        else:
            own_limit = payout - limit
            own_exec = payout - x
        if action == SIDE_BUY:
            u.locked -= own_limit * q
            u.avail += (own_limit - own_exec) * q
            p.avail[outcome] += q
        else:
            p.locked[outcome] -= q
            u.avail += own_exec * q

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
        if im_reserve(&self.pos_map, 1) != 0:
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

    # ----------------------------------------------------------- matching

    @cython.final
    cdef qty_t _fillable(self, Market* m, int32_t bside, price_t yprice,
                         int64_t uid, int stp, qty_t need) noexcept nogil:
        # What a FOK order could fill now, walking crossing orders in priority
        # order; stops as soon as `need` is reached.
        cdef qty_t got = 0
        cdef int32_t idx
        cdef slot_t s
        cdef Order* o
        cdef int32_t opp = 1 - bside
        cdef int32_t limit_idx = yprice // m.tick - 1
        idx = m.best_ask if bside == BOOK_BID else m.best_bid
        while True:
            if bside == BOOK_BID:
                if idx >= m.nlevels or idx > limit_idx:
                    return got
            elif idx < 0 or idx < limit_idx:
                return got
            s = m.levels[opp * m.nlevels + idx].head
            while s >= 0:
                o = &self.orders[s]
                if o.uid == uid:
                    if stp != STP_CANCEL_MAKER:
                        return got
                else:
                    got += o.qty
                    if got >= need:
                        return got
                s = o.next
            if bside == BOOK_BID:
                idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1, m.nlevels)
            else:
                idx = bit_next_down(m.bits, idx - 1)

    @cython.final
    cdef int64_t _place(self, int64_t uid, int64_t mid, int action, int outcome,
                        int64_t price, int64_t qty, int tif, int stp,
                        int64_t ts) noexcept nogil:
        # Returns the new order id, -reason if refused, or ERR_NOMEM before any
        # change.  Validation first, then mutation (semantics.md "place").
        cdef Market* m
        cdef User* u
        cdef pos_t pos
        cdef price_t yprice
        cdef int32_t bside, opp, idx, limit_idx
        cdef qty_t left, q
        cdef slot_t s
        cdef Order* mk
        cdef Order* o
        cdef Level* lvl
        cdef Event* e
        cdef oid_t oid
        cdef amount_t cost = 0
        cdef bint stopped = False
        cdef bint traded = False
        cdef price_t x = 0
        cdef int64_t code = 0

        if uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        elif mid < 0 or mid >= self.n_markets:
            code = REJ_UNKNOWN_MARKET
        elif qty <= 0 or qty > MAX_QTY:
            code = REJ_INVALID_QTY
        if code == 0:
            m = &self.markets[mid]
            if price < m.tick or price > m.payout - m.tick or price % m.tick != 0:
                code = REJ_PRICE_OFF_GRID
        if code == 0:
            u = &self.users[uid]
            pos = self._pos_find(uid, mid)
            if action == SIDE_BUY:
                cost = <amount_t>price * qty
                if u.avail < cost:
                    code = REJ_INSUFFICIENT_FUNDS
            elif pos < 0 or self.positions[pos].avail[outcome] < qty:
                code = REJ_INSUFFICIENT_SHARES
        if code == 0:
            yprice = <price_t>(price if outcome == OUTCOME_YES else m.payout - price)
            bside = BOOK_BID if (action == SIDE_BUY) == (outcome == OUTCOME_YES) \
                else BOOK_ASK
            if tif == TIF_FOK and self._fillable(m, bside, yprice, uid, stp,
                                                 qty) < qty:
                code = REJ_FOK_NOT_FILLABLE
        if code != 0:
            self._reject(CMD_PLACE, code, mid, uid, 0, action, outcome, price,
                         qty, ts)
            return -code

        # Reserve everything a resting remainder could need, so nothing below
        # can fail half-way (events aside, see _ev).
        if pos < 0:
            pos = self._pos_make(uid, mid)
            if pos < 0:
                return ERR_NOMEM
        if self.free_head < 0 and tif == TIF_GTC:
            if self._grow_arena() != 0:
                return ERR_NOMEM
        if im_reserve(&self.oid_map, 1) != 0:
            return ERR_NOMEM

        # Lock what the order may spend or deliver.
        if action == SIDE_BUY:
            u.avail -= cost
            u.locked += cost
        else:
            self.positions[pos].avail[outcome] -= qty
            self.positions[pos].locked[outcome] += qty
        oid = self.next_oid
        self.next_oid += 1
        e = self._ev(EV_ACCEPTED, ts)
        e.market = mid
        e.user = uid
        e.oid = <int64_t>oid
        e.side = action
        e.outcome = outcome
        e.price = price
        e.qty = qty
        e.code = tif
        e.price2 = yprice
        e.aux = bside

        left = qty
        opp = 1 - bside
        limit_idx = yprice // m.tick - 1
        while left > 0:
            if bside == BOOK_BID:
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
            if mk.uid == uid:
                # Self-trade prevention: never a fill between one user's orders.
                if stp == STP_CANCEL_TAKER:
                    stopped = True
                    break
                self._cancel_slot(s, CANCEL_SELF_TRADE, ts)
                if stp == STP_CANCEL_BOTH:
                    stopped = True
                    break
                continue
            q = left if left < mk.qty else mk.qty
            x = mk.yprice
            self._settle(uid, pos, action, outcome, yprice, x, q, m.payout)
            self._settle(mk.uid, mk.pos, mk.action, mk.outcome, x, x, q, m.payout)
            mk.qty -= q
            lvl.total -= q
            left -= q
            traded = True
            e = self._ev(EV_FILL, ts)
            e.market = mid
            e.user = uid
            e.oid = <int64_t>oid
            e.side = action
            e.outcome = outcome
            e.price = x
            e.qty = q
            if action == SIDE_BUY and mk.action == SIDE_BUY:
                e.code = FILL_MINT
                m.outstanding += q
            elif action == SIDE_SELL and mk.action == SIDE_SELL:
                e.code = FILL_MERGE
                m.outstanding -= q
            else:
                e.code = FILL_TRANSFER
            e.user2 = mk.uid
            e.oid2 = <int64_t>mk.oid
            e.price2 = x if outcome == OUTCOME_YES else m.payout - x
            e.aux = mk.qty
            self._touch(m, mid, opp, idx)
            if mk.qty == 0:
                self._unlink(s)
        if traded:
            m.last_price = x

        if left > 0:
            if stopped or tif != TIF_GTC:
                # Unlock the remainder: IOC, or STP stopped the order.
                if action == SIDE_BUY:
                    u.locked -= <amount_t>price * left
                    u.avail += <amount_t>price * left
                else:
                    self.positions[pos].locked[outcome] -= left
                    self.positions[pos].avail[outcome] += left
                e = self._ev(EV_CANCELED, ts)
                e.market = mid
                e.user = uid
                e.oid = <int64_t>oid
                e.side = action
                e.outcome = outcome
                e.price = price
                e.qty = left
                e.code = CANCEL_SELF_TRADE if stopped else CANCEL_IOC
                e.price2 = yprice
                e.aux = bside
            else:
                self._rest(oid, uid, mid, pos, action, outcome, bside, yprice,
                           left, qty, tif)
                self._touch(m, mid, bside, limit_idx)
        self._emit_levels(ts)
        return <int64_t>oid

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

    @cython.final
    cdef void _rest(self, oid_t oid, int64_t uid, int64_t mid, pos_t pos,
                    int action, int outcome, int32_t bside, price_t yprice,
                    qty_t left, qty_t orig, int tif) noexcept nogil:
        # Append a remainder to the tail of its level and of its user's list.
        # A free slot and oid-map room were reserved by the caller.
        cdef Market* m = &self.markets[mid]
        cdef int32_t idx = yprice // m.tick - 1
        cdef Level* lvl = &m.levels[bside * m.nlevels + idx]
        cdef User* u = &self.users[uid]
        cdef slot_t s = self.free_head
        cdef Order* o = &self.orders[s]
        self.free_head = o.next
        o.oid = oid
        o.qty = left
        o.orig_qty = orig
        o.uid = <uint32_t>uid
        o.mid = <uint32_t>mid
        o.pos = pos
        o.yprice = yprice
        o.action = <uint8_t>action
        o.outcome = <uint8_t>outcome
        o.bside = <uint8_t>bside
        o.tif = <uint8_t>tif
        o.next = -1
        o.prev = lvl.tail
        if lvl.tail >= 0:
            self.orders[lvl.tail].next = s
        else:
            lvl.head = s
        lvl.tail = s
        lvl.total += left
        lvl.count += 1
        if lvl.count == 1:
            bit_set(m.bits + bside * m.nwords, idx)
            if bside == BOOK_BID:
                if idx > m.best_bid:
                    m.best_bid = idx
            elif idx < m.best_ask:
                m.best_ask = idx
        o.unext = -1
        o.uprev = u.tail
        if u.tail >= 0:
            self.orders[u.tail].unext = s
        else:
            u.head = s
        u.tail = s
        im_insert_nogrow(&self.oid_map, oid, s)
        self.n_live += 1

    @cython.final
    cdef int64_t _cancel(self, int64_t uid, int64_t oid, int64_t ts) noexcept nogil:
        cdef slot_t s = -1
        cdef int64_t code = 0
        if uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        else:
            if oid > 0:
                s = im_get(&self.oid_map, <uint64_t>oid)
            if s < 0 or self.orders[s].uid != uid:
                code = REJ_UNKNOWN_ORDER
        if code != 0:
            self._reject(CMD_CANCEL, code, 0, uid, oid, 0, 0, 0, 0, ts)
            return code
        self._cancel_slot(s, CANCEL_USER, ts)
        self._emit_levels(ts)
        return 0

    @cython.final
    cdef int64_t _cash(self, int64_t uid, int64_t amount, bint deposit,
                       int64_t ts) noexcept nogil:
        cdef int64_t code = 0
        cdef User* u
        cdef Event* e
        if uid < 0 or uid >= self.n_users:
            code = REJ_UNKNOWN_USER
        elif amount <= 0:
            code = REJ_INVALID_AMOUNT
        elif deposit:
            if amount > MAX_TOTAL_CASH - self.net_cash:
                code = REJ_CASH_LIMIT
        elif self.users[uid].avail < amount:
            code = REJ_INSUFFICIENT_FUNDS
        if code != 0:
            self._reject(CMD_DEPOSIT if deposit else CMD_WITHDRAW, code, 0, uid,
                         0, 0, 0, 0, amount, ts)
            return code
        u = &self.users[uid]
        if not deposit:
            amount = -amount
        u.avail += amount
        self.net_cash += amount
        e = self._ev(EV_CASH, ts)
        e.user = uid
        e.qty = amount
        e.aux = u.avail
        return 0

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
        cdef User* u
        self._begin()
        if _grow(<void**>&self.users, &self.cap_users, self.n_users + 1,
                 sizeof(User)) != 0:
            raise MemoryError()
        u = &self.users[self.n_users]
        u.avail = u.locked = 0
        u.head = u.tail = -1
        self.n_users += 1
        self._end()
        return self.n_users - 1

    def create_market(self, payout=1000, tick=50, ts=0):
        """Create a market with prices ``tick, 2*tick, ..., payout - tick``.

        Parameters
        ----------
        payout : int
            Value of one YES+NO pair in minor units (default 1000 paise).
        tick : int
            Price step (default 50).  ``payout % tick == 0`` and there must be
            at least one and at most 100,000 price levels.
        ts : int
            Caller time, copied into the ``MARKET`` event.

        Returns
        -------
        int
            The new market id (``0, 1, ...``).

        Raises
        ------
        ValueError
            If the grid is invalid.  Nothing changes.

        >>> Core().create_market(100, 1)
        0
        """
        cdef int64_t p = _int(payout, "payout")
        cdef int64_t t = _int(tick, "tick")
        cdef int64_t t_s = _int(ts, "ts")
        cdef int64_t n, nw, need, i
        cdef Market* m
        cdef Event* e
        if t <= 0 or p <= 0 or p > MAX_PAYOUT or p % t != 0 or p < 2 * t:
            raise ValueError(
                f"invalid grid payout={p} tick={t}: need 0 < tick, payout % tick "
                f"== 0, payout >= 2*tick and payout <= {MAX_PAYOUT}")
        n = p // t - 1
        if n > MAX_LEVELS:
            raise ValueError(f"{n} price levels exceed the limit of {MAX_LEVELS}")
        if self.n_markets >= (1 << 20):
            raise ValueError("too many markets")
        nw = (n + 63) // 64
        self._begin()
        # all allocations before any change
        if _grow(<void**>&self.markets, &self.cap_markets, self.n_markets + 1,
                 sizeof(Market)) != 0:
            raise MemoryError()
        need = 0
        for i in range(self.n_markets):
            need += 2 * self.markets[i].nlevels
        if _grow(<void**>&self.touched, &self.cap_touched, need + 2 * n,
                 sizeof(int64_t)) != 0:
            raise MemoryError()
        m = &self.markets[self.n_markets]
        memset(m, 0, sizeof(Market))
        m.levels = <Level*>malloc(<size_t>(2 * n) * sizeof(Level))
        m.bits = <uint64_t*>malloc(<size_t>(2 * nw) * sizeof(uint64_t))
        if m.levels == NULL or m.bits == NULL:
            free(m.levels)
            free(m.bits)
            raise MemoryError()
        for i in range(2 * n):
            m.levels[i].total = 0
            m.levels[i].head = m.levels[i].tail = -1
            m.levels[i].count = 0
            m.levels[i].touched = 0
        memset(m.bits, 0, <size_t>(2 * nw) * sizeof(uint64_t))
        m.payout = <price_t>p
        m.tick = <price_t>t
        m.nlevels = <int32_t>n
        m.nwords = <int32_t>nw
        m.best_bid = -1
        m.best_ask = <int32_t>n
        m.status = MARKET_OPEN
        self.n_markets += 1
        e = self._ev(EV_MARKET, t_s)
        e.market = self.n_markets - 1
        e.price = p
        e.qty = t
        e.code = MARKET_OPEN
        self._end()
        return self.n_markets - 1

    def deposit(self, uid, amount, ts=0):
        """Add ``amount`` to the user's available cash (the on-ramp).

        Returns
        -------
        int
            0, or 101 unknown user, 105 amount <= 0, 203 cash limit.

        >>> core = Core(); u = core.create_user(); core.deposit(u, 1000)
        0
        >>> core.balance(u)
        (1000, 0)
        """
        cdef int64_t r
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t a = _int(amount, "amount")
        cdef int64_t t = _int(ts, "ts")
        self._begin()
        r = self._cash(u_, a, True, t)
        self._end()
        return r

    def withdraw(self, uid, amount, ts=0):
        """Take ``amount`` from the user's available (not locked) cash.

        Returns
        -------
        int
            0, or 101 unknown user, 105 amount <= 0, 201 insufficient funds.
        """
        cdef int64_t r
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t a = _int(amount, "amount")
        cdef int64_t t = _int(ts, "ts")
        self._begin()
        r = self._cash(u_, a, False, t)
        self._end()
        return r

    def place(self, uid, mid, side, outcome, price, qty, tif=0, stp=0, ts=0):
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
            Shares, ``1..10**9``.
        tif : int
            ``TimeInForce`` GTC (0, default), IOC (1) or FOK (2).
        stp : int
            ``SelfTrade`` CANCEL_MAKER (0, default), CANCEL_TAKER (1),
            CANCEL_BOTH (2).
        ts : int
            Caller time, copied into the events.

        Returns
        -------
        int
            The order id (``> 0``) when accepted, else ``-RejectReason``.
            Fills and cancels are in :meth:`last_events`.

        Raises
        ------
        TypeError, ValueError, OverflowError
            On misuse (non-integers, enum values out of range).  Nothing changes.

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
        cdef int s_ = _enum(side, "side", 1)
        cdef int o_ = _enum(outcome, "outcome", 1)
        cdef int64_t p_ = _int(price, "price")
        cdef int64_t q_ = _int(qty, "qty")
        cdef int t_ = _enum(tif, "tif", 2)
        cdef int x_ = _enum(stp, "stp", 2)
        cdef int64_t ts_ = _int(ts, "ts")
        cdef int64_t r
        self._begin()
        r = self._place(u_, m_, s_, o_, p_, q_, t_, x_, ts_)
        if r == ERR_NOMEM:
            raise MemoryError()
        self._end()
        return r

    def cancel(self, uid, oid, ts=0):
        """Cancel a live order of ``uid``; unlock what it held.

        Returns
        -------
        int
            0, or 101 unknown user, 302 no such live order of this user.

        Complexity
        ----------
        O(1) whatever the queue depth.
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t o_ = _int(oid, "oid")
        cdef int64_t t = _int(ts, "ts")
        cdef int64_t r
        self._begin()
        r = self._cancel(u_, o_, t)
        self._end()
        return r

    # ------------------------------------------------------------ queries

    def last_events(self):
        """Events of the most recent command, as 15-int tuples.

        Field order: ``EVENT_FIELDS`` (seq, kind, ts, market, user, oid, side,
        outcome, price, qty, code, user2, oid2, price2, aux).
        """
        cdef int64_t i
        cdef Event* e
        out = []
        for i in range(self.n_events):
            e = &self.events[i]
            out.append((e.seq, e.kind, e.ts, e.market, e.user, e.oid, e.side,
                        e.outcome, e.price, e.qty, e.code, e.user2, e.oid2,
                        e.price2, e.aux))
        return out

    @property
    def n_last_events(self):
        """Number of events the most recent command produced (O(1))."""
        return self.n_events

    @property
    def last_seq(self):
        """Sequence number of the newest event (0 before any)."""
        return self.seq

    @cython.final
    cdef int _check_user(self, int64_t uid) except -1:
        if uid < 0 or uid >= self.n_users:
            raise KeyError(f"unknown user {uid}")
        return 0

    @cython.final
    cdef Market* _market(self, int64_t mid) except NULL:
        if mid < 0 or mid >= self.n_markets:
            from probo_engine.errors import UnknownMarketError
            raise UnknownMarketError(f"unknown market {mid}")
        return &self.markets[mid]

    def balance(self, uid):
        """``(available, locked)`` cash of a user.  KeyError if unknown."""
        cdef int64_t u_ = _int(uid, "uid")
        self._check_user(u_)
        return (self.users[u_].avail, self.users[u_].locked)

    def position(self, uid, mid):
        """``(yes_available, yes_locked, no_available, no_locked)`` shares."""
        cdef int64_t u_ = _int(uid, "uid")
        cdef int64_t m_ = _int(mid, "mid")
        cdef pos_t p
        cdef Position* r
        self._check_user(u_)
        self._market(m_)
        p = self._pos_find(u_, m_)
        if p < 0:
            return (0, 0, 0, 0)
        r = &self.positions[p]
        return (r.avail[0], r.locked[0], r.avail[1], r.locked[1])

    def market(self, mid):
        """``(payout, tick, status, outstanding_pairs)`` of a market."""
        cdef Market* m = self._market(_int(mid, "mid"))
        return (m.payout, m.tick, m.status, m.outstanding)

    def last_price(self, mid):
        """Last trade price in YES terms (0 before the first trade)."""
        return self._market(_int(mid, "mid")).last_price

    def top(self, mid):
        """``(bid_price, bid_qty, ask_price, ask_qty)`` in YES terms, 0 if empty.

        Complexity
        ----------
        O(1).
        """
        cdef Market* m = self._market(_int(mid, "mid"))
        cdef int64_t bp = 0, bq = 0, ap = 0, aq = 0
        if m.best_bid >= 0:
            bp = (m.best_bid + 1) * m.tick
            bq = m.levels[m.best_bid].total
        if m.best_ask < m.nlevels:
            ap = (m.best_ask + 1) * m.tick
            aq = m.levels[m.nlevels + m.best_ask].total
        return (bp, bq, ap, aq)

    def depth(self, mid, n=10):
        """Up to ``n`` levels per side, best first: ``(bids, asks)``.

        Each level is ``(yes_price, total_qty, order_count)``.

        Complexity
        ----------
        O(n + empty price levels skipped / 64).
        """
        cdef Market* m = self._market(_int(mid, "mid"))
        cdef int64_t k = _int(n, "n")
        cdef int32_t idx
        cdef Level* lvl
        bids = []
        asks = []
        idx = m.best_bid
        while idx >= 0 and len(bids) < k:
            lvl = &m.levels[idx]
            bids.append(((idx + 1) * m.tick, lvl.total, lvl.count))
            idx = bit_next_down(m.bits, idx - 1)
        idx = m.best_ask
        while idx < m.nlevels and len(asks) < k:
            lvl = &m.levels[m.nlevels + idx]
            asks.append(((idx + 1) * m.tick, lvl.total, lvl.count))
            idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1, m.nlevels)
        return (bids, asks)

    @cython.final
    cdef tuple _order_tuple(self, slot_t s, bint with_mid):
        cdef Order* o = &self.orders[s]
        cdef Market* m = &self.markets[o.mid]
        own = o.yprice if o.outcome == OUTCOME_YES else m.payout - o.yprice
        t = (o.oid, o.uid, o.action, o.outcome, own, o.qty, o.yprice, o.bside)
        if with_mid:
            return (o.mid,) + t
        return t

    def book_orders(self, mid):
        """Every resting order of a market (L3), in priority order.

        Bids best first, then asks best first, FIFO within a level; each
        ``(oid, uid, side, outcome, price, qty, yes_price, book_side)``.
        """
        cdef Market* m = self._market(_int(mid, "mid"))
        cdef int32_t idx, side
        cdef slot_t s
        out = []
        for side in range(2):
            idx = m.best_bid if side == BOOK_BID else m.best_ask
            while 0 <= idx < m.nlevels:
                s = m.levels[side * m.nlevels + idx].head
                while s >= 0:
                    out.append(self._order_tuple(s, False))
                    s = self.orders[s].next
                if side == BOOK_BID:
                    idx = bit_next_down(m.bits, idx - 1)
                else:
                    idx = bit_next_up(m.bits + m.nwords, m.nwords, idx + 1,
                                      m.nlevels)
        return out

    def user_orders(self, uid):
        """A user's live orders by ascending id.

        Each ``(mid, oid, uid, side, outcome, price, qty, yes_price,
        book_side)``.  O(orders of that user).
        """
        cdef int64_t u_ = _int(uid, "uid")
        cdef slot_t s
        self._check_user(u_)
        out = []
        s = self.users[u_].head
        while s >= 0:
            out.append(self._order_tuple(s, True))
            s = self.orders[s].unext
        return out

    def order(self, oid):
        """A live order as in :meth:`user_orders`, or ``None``."""
        cdef int64_t o_ = _int(oid, "oid")
        cdef slot_t s = -1
        if o_ > 0:
            s = im_get(&self.oid_map, <uint64_t>o_)
        if s < 0:
            return None
        return self._order_tuple(s, True)

    def totals(self):
        """``(net_cash, n_users, n_markets, n_live_orders)``."""
        return (self.net_cash, self.n_users, self.n_markets, self.n_live)

    # --------------------------------------------------------- invariants

    def check_invariants(self):
        """Check every structural and accounting invariant; O(size of state).

        Raises
        ------
        InvariantError
            Naming the first invariant found broken.
        """
        cdef int64_t mi, i, side, live = 0, nfree = 0
        cdef Market* m
        cdef Level* lvl
        cdef Order* o
        cdef slot_t s, prev
        cdef qty_t tot
        cdef int32_t cnt, best
        cdef int64_t total_cash = 0
        cdef Position* r
        lock_cash = [0] * self.n_users
        lock_sh = {}
        held = {}

        def fail(msg):
            raise InvariantError(msg)

        for mi in range(self.n_markets):
            m = &self.markets[mi]
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
                    while s >= 0:
                        if s >= self.cap_orders or cnt > self.n_live:
                            fail(f"market {mi} level {i}: broken FIFO")
                        o = &self.orders[s]
                        if o.prev != prev or o.oid == 0 or o.qty <= 0:
                            fail(f"order slot {s}: bad FIFO link or empty order")
                        if (o.mid != mi or o.bside != side
                                or o.yprice != (i + 1) * m.tick):
                            fail(f"order {o.oid} sits on the wrong level")
                        if im_get(&self.oid_map, o.oid) != s:
                            fail(f"order {o.oid} missing from the id map")
                        if o.bside != (BOOK_BID if (o.action == SIDE_BUY) ==
                                       (o.outcome == OUTCOME_YES) else BOOK_ASK):
                            fail(f"order {o.oid} on the wrong book side")
                        tot += o.qty
                        cnt += 1
                        live += 1
                        if o.action == SIDE_BUY:
                            own = (o.yprice if o.outcome == OUTCOME_YES
                                   else m.payout - o.yprice)
                            lock_cash[o.uid] += own * o.qty
                        else:
                            key = (o.uid, mi, o.outcome)
                            lock_sh[key] = lock_sh.get(key, 0) + o.qty
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
            if m.outstanding < 0:
                fail(f"market {mi}: negative outstanding pairs")
            total_cash += m.payout * m.outstanding
            held[mi] = [0, 0]
        if live != self.n_live or self.oid_map.size != self.n_live:
            fail(f"live orders {live} != counted {self.n_live}/{self.oid_map.size}")
        s = self.free_head
        while s >= 0:
            if s >= self.cap_orders or nfree > self.cap_orders:
                fail("broken free list")
            if self.orders[s].oid != 0:
                fail(f"free slot {s} holds an order")
            nfree += 1
            s = self.orders[s].next
        if nfree + self.n_live != self.cap_orders:
            fail(f"free {nfree} + live {self.n_live} != capacity {self.cap_orders}")
        for i in range(self.n_users):
            if self.users[i].avail < 0 or self.users[i].locked != lock_cash[i]:
                fail(f"user {i}: cash {self.users[i].avail}/{self.users[i].locked}"
                     f", resting buys need {lock_cash[i]}")
            total_cash += self.users[i].avail + self.users[i].locked
            n_uo = 0
            s = self.users[i].head
            prev = -1
            while s >= 0:
                if self.orders[s].uid != i or self.orders[s].uprev != prev:
                    fail(f"user {i}: broken order list")
                if prev >= 0 and self.orders[prev].oid >= self.orders[s].oid:
                    fail(f"user {i}: order list out of id order")
                prev = s
                s = self.orders[s].unext
                n_uo += 1
                if n_uo > self.n_live:
                    fail(f"user {i}: order list loops")
            if prev != self.users[i].tail:
                fail(f"user {i}: order list tail")
        for i in range(self.n_pos):
            r = &self.positions[i]
            if self._pos_find(r.uid, r.mid) != i:
                fail(f"position {i} missing from the position map")
            for side in range(2):
                if r.avail[side] < 0 or r.locked[side] != lock_sh.get(
                        (r.uid, r.mid, side), 0):
                    fail(f"user {r.uid} market {r.mid}: shares locked "
                         f"{r.locked[side]} != resting sells need")
                held[r.mid][side] += r.avail[side] + r.locked[side]
        for mi in range(self.n_markets):
            if held[mi][0] != self.markets[mi].outstanding or held[mi][1] != \
                    self.markets[mi].outstanding:
                fail(f"market {mi}: YES {held[mi][0]} / NO {held[mi][1]} shares "
                     f"!= outstanding {self.markets[mi].outstanding}")
        if total_cash != self.net_cash:
            fail(f"cash not conserved: {total_cash} != net deposits {self.net_cash}")
