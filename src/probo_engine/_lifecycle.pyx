# cython: language_level=3
"""The lifecycle of a Core and of its markets (cold code, out of _book).

* the Core itself: its allocations at construction (``core_init``), its
  limits (``set_limits``, ``core_reinit``) and freeing (``core_free``);
* users and markets: ``create_user`` and ``create_market``'s validation and
  allocation (all before any change);
* market status (semantics.md "Market lifecycle"): ``set_status`` runs
  halt / resume / close / resolve, with the cancels they imply and the
  settlement of every holder.

The ``Core`` methods of the same names (``__cinit__``, ``create_user``,
``create_market``, ``halt``...) keep their signatures and docstrings and call
these; ``Core._dispatch`` (run_batch) calls ``set_status``.  Everything here
reaches Core's fields and C methods through _book.pxd.
"""

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memset

from probo_engine._alloc cimport grow
from probo_engine._args cimport _enum, _int
from probo_engine._book cimport ERR_NOMEM, Core
from probo_engine._clib cimport (
    MAX_LEVELS,
    MAX_PAYOUT,
    MAX_QTY,
    MAX_USERS,
    probo_cmp_u64,
)
from probo_engine._intmap cimport im_free, im_init
from probo_engine._types cimport *

from probo_engine.errors import ArgumentTypeError, InvalidArgumentError


# ---------------------------------------------------------------- the Core

cdef int core_init(Core core, max_qty, max_open_orders, max_balance,
                   max_levels) except -1:
    # Core.__cinit__: every pointer NULL first (so __dealloc__ is safe
    # whatever fails), the limits, then the first allocations.
    core.orders = NULL
    core.users = NULL
    core.markets = NULL
    core.positions = NULL
    core.events = NULL
    core.touched = NULL
    core.heap = NULL
    core.oid_map.keys = NULL
    core.oid_map.vals = NULL
    core.cid_map.keys = NULL
    core.cid_map.vals = NULL
    core.pos_map.keys = NULL
    core.pos_map.vals = NULL
    core.cap_orders = 0
    core.free_head = -1
    core.n_live = core.n_gtd = 0
    core.n_users = core.cap_users = 0
    core.n_markets = core.cap_markets = 0
    core.n_pos = core.cap_pos = 0
    core.n_heap = core.cap_heap = 0
    core.n_events = core.cap_events = 0
    core.n_touched = core.cap_touched = 0
    core.seq = 0
    core.clock_ts = 0
    core.next_oid = 1
    core.net_cash = 0
    core.fee_balance = 0
    core.oom = False
    core.record = True
    core.busy = BUSY_NONE
    core.owner = 0
    core.filled = 0
    core.stp_default = STP_CANCEL_MAKER
    set_limits(core, max_qty, max_open_orders, max_balance, max_levels)
    if (im_init(&core.oid_map, 1024) != 0 or im_init(&core.pos_map, 1024) != 0
            or im_init(&core.cid_map, 64) != 0):
        raise MemoryError()
    if grow(<void**>&core.events, &core.cap_events, 256, sizeof(Event)) != 0:
        raise MemoryError()
    return 0


cdef int set_limits(Core core, max_qty, max_open_orders, max_balance,
                    max_levels) except -1:
    cdef int64_t q = _int(max_qty, "max_qty")
    cdef int64_t o = _int(max_open_orders, "max_open_orders")
    cdef int64_t b = _int(max_balance, "max_balance")
    cdef int64_t lv = _int(max_levels, "max_levels")
    if not 1 <= q <= MAX_QTY:
        raise InvalidArgumentError(f"max_qty must be in 1..{MAX_QTY}")
    if o < 0 or b < 0:
        raise InvalidArgumentError("max_open_orders and max_balance must be >= 0")
    if not 1 <= lv <= MAX_LEVELS:
        raise InvalidArgumentError(f"max_levels must be in 1..{MAX_LEVELS}")
    core.max_qty, core.max_open, core.max_balance, core.max_levels = q, o, b, lv
    return 0


cdef int core_reinit(Core core, max_qty, max_open_orders, max_balance,
                     max_levels) except -1:
    # Core.__init__: __cinit__ applied the constructor's limits.  A subclass
    # whose __init__ passes others to super().__init__() gets them too, while
    # the engine is still empty; later it is an error, never ignored.
    if (_int(max_qty, "max_qty"), _int(max_open_orders, "max_open_orders"),
            _int(max_balance, "max_balance"),
            _int(max_levels, "max_levels")) == core.limits():
        return 0
    if core.n_users or core.n_markets or core.seq:
        raise ArgumentTypeError("the engine's limits are fixed once it has state; "
                                "pass them to the constructor")
    set_limits(core, max_qty, max_open_orders, max_balance, max_levels)
    return 0


cdef void core_free(Core core) noexcept:
    # Core.__dealloc__
    cdef int64_t i
    if core.markets != NULL:
        for i in range(core.n_markets):
            free(core.markets[i].levels)
            free(core.markets[i].bits)
    free(core.markets)
    free(core.orders)
    free(core.users)
    free(core.positions)
    free(core.events)
    free(core.touched)
    free(core.heap)
    im_free(&core.oid_map)
    im_free(&core.cid_map)
    im_free(&core.pos_map)


# ------------------------------------------------------- users and markets

cdef object create_user(Core core):
    cdef User* u
    core._guard()
    if core.n_users >= MAX_USERS:
        raise InvalidArgumentError(f"too many users (the limit is {MAX_USERS})")
    if core.oom:
        raise MemoryError("the core lost an event to a failed allocation")
    if grow(<void**>&core.users, &core.cap_users, core.n_users + 1,
            sizeof(User)) != 0:
        raise MemoryError()
    core.n_events = 0
    u = &core.users[core.n_users]
    u.avail = u.locked = 0
    u.head = u.tail = -1
    u.n_orders = 0
    core.n_users += 1
    return core.n_users - 1


cdef object create_market(Core core, payout, tick, ts, taker_fee, maker_fee,
                          fee_mode, min_qty, cancel_on_halt):
    cdef int64_t p = _int(payout, "payout")
    cdef int64_t t = _int(tick, "tick")
    cdef int64_t t_s = _int(ts, "ts")
    cdef int64_t tf = _int(taker_fee, "taker_fee")
    cdef int64_t mf = _int(maker_fee, "maker_fee")
    cdef int fm = _enum(fee_mode, "fee_mode", FEE_CURVE)
    cdef int64_t mq = _int(min_qty, "min_qty")
    cdef int64_t n, nw, need, i
    cdef Market* m
    cdef Event* e
    if cancel_on_halt is not True and cancel_on_halt is not False:
        raise ArgumentTypeError("cancel_on_halt must be a bool")
    if t <= 0 or p <= 0 or p > MAX_PAYOUT or p % t != 0 or p < 2 * t:
        raise InvalidArgumentError(
            f"invalid grid payout={p} tick={t}: need 0 < tick, payout % tick "
            f"== 0, payout >= 2*tick and payout <= {MAX_PAYOUT}")
    n = p // t - 1
    if n > core.max_levels:
        raise InvalidArgumentError(
            f"{n} price levels exceed the limit of {core.max_levels}")
    if not 0 <= tf <= 10000 or not -10000 <= mf <= 10000:
        raise InvalidArgumentError(
            f"fee rates out of range: taker_fee={tf} (0..10000), "
            f"maker_fee={mf} (-10000..10000)")
    if not 1 <= mq <= core.max_qty:
        raise InvalidArgumentError(f"min_qty={mq} must be in 1..{core.max_qty}")
    if core.n_markets >= (1 << 20):
        raise InvalidArgumentError("too many markets")
    nw = (n + 63) // 64
    if t_s != 0 and t_s < core.clock_ts:
        raise InvalidArgumentError(
            f"ts={t_s} is before the engine's clock "
            f"({core.clock_ts}): time may not go backwards")
    core._begin(&t_s)
    # all allocations before any change
    if grow(<void**>&core.markets, &core.cap_markets, core.n_markets + 1,
            sizeof(Market)) != 0:
        raise MemoryError()
    need = 0
    for i in range(core.n_markets):
        need += 2 * core.markets[i].nlevels
    if grow(<void**>&core.touched, &core.cap_touched, need + 2 * n,
            sizeof(int64_t)) != 0:
        raise MemoryError()
    m = &core.markets[core.n_markets]
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
    m.taker_fee = <int32_t>tf
    m.maker_fee = <int32_t>mf
    m.fee_mode = fm
    m.min_qty = mq
    m.cancel_on_halt = 1 if cancel_on_halt else 0
    m.yes_value = -1
    core.n_markets += 1
    e = core._ev(EV_MARKET, t_s)
    e.market = core.n_markets - 1
    e.price = p
    e.qty = t
    e.code = MARKET_OPEN
    core._end(0)
    return core.n_markets - 1


# ------------------------------------------------------------ market status

cdef void _cancel_market(Core core, int64_t mid, int64_t reason, int64_t ts,
                         uint64_t* pairs) noexcept nogil:
    # Cancel every resting order of a market in ascending id order;
    # `pairs` has room for 2 * m.n_orders ids (allocated before any change).
    cdef Market* m = &core.markets[mid]
    cdef int64_t n = m.n_orders, k = 0
    cdef int32_t idx, side
    cdef slot_t s
    for side in range(2):
        for idx in range(m.nlevels):
            s = m.levels[side * m.nlevels + idx].head
            while s >= 0:
                pairs[2 * k] = core.orders[s].oid
                pairs[2 * k + 1] = <uint64_t>s
                k += 1
                s = core.orders[s].next
    qsort(pairs, <size_t>n, 2 * sizeof(uint64_t), probo_cmp_u64)
    for k in range(n):
        core._cancel_slot(<slot_t>pairs[2 * k + 1], reason, ts)


cdef int64_t set_status(Core core, int64_t mid, int64_t cmd, int64_t yes_value,
                        int64_t ts) noexcept nogil:
    # halt / resume / close / resolve (semantics.md "Market lifecycle").
    cdef int64_t code = 0, st, reason = 0, k, n = 0
    cdef Market* m
    cdef uint64_t* pairs = NULL
    cdef uint64_t* cbuf = NULL
    cdef Position* r
    cdef User* u
    cdef Event* e
    if ts < core.clock_ts:
        code = REJ_STALE_TIME
    elif mid < 0 or mid >= core.n_markets:
        code = REJ_UNKNOWN_MARKET
    else:
        m = &core.markets[mid]
        st = m.status
        if cmd == CMD_HALT and st != MARKET_OPEN:
            code = REJ_INVALID_TRANSITION
        elif cmd == CMD_RESUME and st != MARKET_HALTED:
            code = REJ_INVALID_TRANSITION
        elif cmd == CMD_CLOSE and st != MARKET_OPEN and st != MARKET_HALTED:
            code = REJ_INVALID_TRANSITION
        elif cmd == CMD_RESOLVE:
            if st == MARKET_RESOLVED:
                code = REJ_INVALID_TRANSITION
            elif yes_value < 0 or yes_value > m.payout:
                code = REJ_INVALID_SETTLEMENT
    if code != 0:
        core._reject(cmd, code, mid, 0, 0, 0, 0,
                     yes_value if cmd == CMD_RESOLVE else 0, 0, ts)
        return -code
    # every buffer before any change: orders to cancel, holders to pay
    cbuf = <uint64_t*>malloc(<size_t>(2 * m.n_orders + 2) * sizeof(uint64_t))
    if cbuf == NULL:
        return ERR_NOMEM
    if cmd == CMD_RESOLVE:
        # holders in ascending user id
        for k in range(core.n_pos):
            if core.positions[k].mid == mid:
                n += 1
        if n > 0:
            pairs = <uint64_t*>malloc(<size_t>(2 * n) * sizeof(uint64_t))
            if pairs == NULL:
                free(cbuf)
                return ERR_NOMEM
            n = 0
            for k in range(core.n_pos):
                if core.positions[k].mid == mid:
                    pairs[2 * n] = core.positions[k].uid
                    pairs[2 * n + 1] = <uint64_t>k
                    n += 1
            qsort(pairs, <size_t>n, 2 * sizeof(uint64_t), probo_cmp_u64)
    if cmd == CMD_HALT:
        reason = CANCEL_HALTED if m.cancel_on_halt else 0
        m.status = MARKET_HALTED
    elif cmd == CMD_RESUME:
        m.status = MARKET_OPEN
    elif cmd == CMD_CLOSE:
        reason = CANCEL_CLOSED
        m.status = MARKET_CLOSED
    else:
        reason = CANCEL_RESOLVED
        m.status = MARKET_RESOLVED
        m.yes_value = <price_t>yes_value
    if reason:
        _cancel_market(core, mid, reason, ts, cbuf)
    free(cbuf)
    core._emit_levels(ts)
    if cmd == CMD_RESOLVE:
        for k in range(n):
            r = &core.positions[pairs[2 * k + 1]]
            if r.avail[0] == 0 and r.avail[1] == 0:
                continue
            u = &core.users[r.uid]
            u.avail += (r.avail[0] * yes_value
                        + r.avail[1] * (m.payout - yes_value))
            e = core._ev(EV_SETTLEMENT, ts)
            e.market = mid
            e.user = r.uid
            e.price = yes_value
            e.qty = r.avail[0]
            e.price2 = m.payout - yes_value
            e.aux = r.avail[1]
            r.avail[0] = 0
            r.avail[1] = 0
        free(pairs)
        m.outstanding = 0
    e = core._ev(EV_MARKET, ts)
    e.market = mid
    e.price = m.payout
    e.qty = m.tick
    e.code = m.status
    if cmd == CMD_RESOLVE:
        e.price2 = yes_value
    return 0
