# cython: language_level=3
"""Snapshots of a Core: the canonical byte image (dump) and its loader.

Cold code, out of the matching module: ``Core.snapshot`` and
``Core.restore`` call :func:`dump` and :func:`load`.  The format is
docs/snapshot.md; its constants are in _snapshot.pxd.  The two codecs are
long straight-line functions on purpose: each walks the format in file order,
one record kind after another, so a field's writer and reader can be read
side by side with the format table; splitting them would scatter it.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memcpy, memset

from probo_engine._book cimport Core
from probo_engine._alloc cimport grow
from probo_engine._bitset cimport level_after
from probo_engine._clib cimport (
    MAX_LEVELS,
    MAX_PAYOUT,
    MAX_QTY,
    MAX_TOTAL_CASH,
    MAX_USERS,
    probo_cmp_u64,
    probo_crc32,
    probo_get,
    probo_ld32,
    probo_ld64,
    probo_pagehint_init,
    probo_populate,
    probo_prefetch,
    probo_prefetchw,
    probo_put,
    probo_st32,
    probo_st64,
)
from probo_engine._expiry cimport heap_sift_down
from probo_engine._intmap cimport im_get, im_insert_nogrow, im_reserve, im_slot
from probo_engine._pricing cimport _book_side
from probo_engine._snapshot cimport *
from probo_engine._types cimport *

from probo_engine.errors import InvariantError, SnapshotError

# This module's own copies of the C helpers: build the CRC tables under the
# import lock, and read PROBO_MADVISE_HUGEPAGE.
probo_crc32(0, NULL, 0)
probo_pagehint_init()

SNAPSHOT_MAGIC = SNAPSHOT_MAGIC_C[:8]
SNAPSHOT_VERSION = SNAP_VERSION
JOURNAL_SNAPSHOT_MAGIC = JOURNAL_SNAPSHOT_MAGIC_C[:8]


def dump(Core core):
    """The canonical bytes of ``core`` (Core.snapshot's body)."""
    cdef int prev = core._enter(BUSY_SNAPSHOT)
    try:
        return _dump(core)
    finally:
        core.busy = prev


def load(cls, data):
    """A new ``cls`` engine from snapshot bytes (Core.restore's body)."""
    from probo_engine._invariants import check_tuned

    cdef Core core
    cdef const unsigned char[::1] view
    try:
        view = memoryview(data).cast("B")
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"snapshot must be bytes-like: {exc}") from None
    _refuse_journal_file(view)
    core = cls()
    try:
        _load(core, view)
        check_tuned(core)
    except InvariantError as exc:
        raise SnapshotError(f"snapshot state is inconsistent: {exc}") from None
    return core


cdef int _refuse_journal_file(const unsigned char[::1] view) except -1:
    # A journal's snapshot file (a header of its own, then these bytes) is
    # the likeliest wrong input: name it rather than report a bad version.
    cdef bytes head = bytes(view[:12])
    cdef str what
    if head[:8] == JOURNAL_SNAPSHOT_MAGIC:
        what = f"magic {JOURNAL_SNAPSHOT_MAGIC!r}"
    elif (len(head) == 12 and head[:8] == SNAPSHOT_MAGIC
            and probo_get(<const unsigned char*>head + 8, 4) == JOURNAL_SNAP_V1):
        what = f"magic {SNAPSHOT_MAGIC!r}, journal snapshot file version 1"
    else:
        return 0
    raise SnapshotError(
        f"this is a journal snapshot file ({what}), not Core.snapshot() bytes: "
        "open its journal directory with "
        "probo_engine.journal.DurableEngine.open(directory) instead")


cdef bytes _dump(Core core):
    cdef int64_t n_pos = 0, n_ord = core.n_live, size, i, nlv = 0, at = 0
    cdef int64_t lv_cap = 0
    cdef Position* r
    cdef Market* m
    cdef Order* o
    cdef Level* lvl
    cdef unsigned char* p
    cdef unsigned char* base
    cdef unsigned char* whole
    cdef int32_t side, idx
    cdef uint64_t* keys = NULL
    cdef int64_t* lv = NULL      # (head slot, first record) per level, in output order
    cdef bint bad = False, sorted_ = True
    # one cursor per level being copied: SNAP_WAYS list walks in turn, so
    # the cache misses of the order slots overlap instead of queueing
    cdef slot_t cur[SNAP_WAYS]
    cdef int64_t left[SNAP_WAYS]
    cdef unsigned char* dst[SNAP_WAYS]
    cdef int64_t live, nxt, c
    cdef slot_t sl
    if core.oom:
        raise MemoryError("the core lost an event to a failed allocation")
    for i in range(core.n_markets):
        lv_cap += 2 * core.markets[i].nlevels
    keys = <uint64_t*>malloc(<size_t>(2 * core.n_pos + 2) * sizeof(uint64_t))
    lv = <int64_t*>malloc(<size_t>(2 * lv_cap + 2) * sizeof(int64_t))
    if keys == NULL or lv == NULL:
        free(keys)
        free(lv)
        raise MemoryError()
    with nogil:
        # positions with any shares, keyed by (uid, mid); usually already
        # in that order (a restored core keeps it), then no sort is needed
        for i in range(core.n_pos):
            r = &core.positions[i]
            if r.avail[0] or r.avail[1] or r.locked[0] or r.locked[1]:
                keys[2 * n_pos] = (<uint64_t>r.uid << 32) | r.mid
                keys[2 * n_pos + 1] = <uint64_t>i
                if n_pos and keys[2 * n_pos] < keys[2 * n_pos - 2]:
                    sorted_ = False
                n_pos += 1
        if not sorted_:
            qsort(keys, <size_t>n_pos, 2 * sizeof(uint64_t), probo_cmp_u64)
        # non-empty levels in output order, with where each one's records go
        for i in range(core.n_markets):
            m = &core.markets[i]
            for side in range(2):
                idx = m.best_bid if side == BOOK_BID else m.best_ask
                while 0 <= idx < m.nlevels:
                    lvl = &m.levels[side * m.nlevels + idx]
                    if nlv >= lv_cap or lvl.count <= 0:
                        bad = True
                        break
                    lv[2 * nlv] = lvl.head
                    lv[2 * nlv + 1] = at
                    at += lvl.count
                    nlv += 1
                    idx = level_after(m, side, idx)
        lv[2 * nlv] = -1
        lv[2 * nlv + 1] = at
    if bad or at != n_ord:
        free(keys)
        free(lv)
        raise InvariantError(f"level counts ({at}) disagree with the live orders "
                             f"({n_ord})")
    size = (SNAP_HEADER + SNAP_USER * core.n_users + SNAP_MARKET * core.n_markets
            + SNAP_POSITION * n_pos + SNAP_ORDER * n_ord + 4)
    try:
        out = PyBytes_FromStringAndSize(NULL, size)
    except MemoryError:
        free(keys)
        free(lv)
        raise
    p = whole = <unsigned char*>PyBytes_AS_STRING(out)
    probo_populate(p, <size_t>size)
    memset(p, 0, SNAP_HEADER)
    memcpy(p, b"PROBOSNP", 8)   # SNAPSHOT_MAGIC
    probo_put(p + 8, SNAPSHOT_VERSION, 4)
    probo_put(p + 12, 0x01020304, 4)
    probo_put(p + 16, SNAP_HEADER, 4)
    probo_put(p + 20, SNAP_USER, 4)
    probo_put(p + 24, SNAP_MARKET, 4)
    probo_put(p + 28, SNAP_POSITION, 4)
    probo_put(p + 32, SNAP_ORDER, 4)
    probo_put(p + 40, core.seq, 8)
    probo_put(p + 48, core.next_oid, 8)
    probo_put(p + 56, <uint64_t>core.net_cash, 8)
    probo_put(p + 64, <uint64_t>core.fee_balance, 8)
    probo_put(p + 72, <uint64_t>core.max_qty, 8)
    probo_put(p + 80, <uint64_t>core.max_open, 8)
    probo_put(p + 88, <uint64_t>core.max_balance, 8)
    probo_put(p + 96, <uint64_t>core.max_levels, 8)
    probo_put(p + 104, <uint64_t>core.n_users, 4)
    probo_put(p + 108, <uint64_t>core.n_markets, 4)
    probo_put(p + 112, <uint64_t>n_pos, 8)
    probo_put(p + 120, <uint64_t>n_ord, 8)
    probo_put(p + 128, <uint64_t>core.clock_ts, 8)
    p += SNAP_HEADER
    with nogil:
        for i in range(core.n_users):
            probo_st64(p, <uint64_t>core.users[i].avail)
            probo_st64(p + 8, <uint64_t>core.users[i].locked)
            p += SNAP_USER
        for i in range(core.n_markets):
            m = &core.markets[i]
            probo_st32(p, <uint32_t>m.payout)
            probo_st32(p + 4, <uint32_t>m.tick)
            probo_st32(p + 8, <uint32_t>m.taker_fee)
            probo_st32(p + 12, <uint32_t>m.maker_fee)
            probo_st32(p + 16, <uint32_t>m.fee_mode)
            probo_st32(p + 20, <uint32_t>m.cancel_on_halt)
            probo_st32(p + 24, <uint32_t>m.status)
            probo_st32(p + 28, <uint32_t>m.last_price)
            probo_st32(p + 32, <uint32_t>m.yes_value)
            probo_st32(p + 36, 0)
            probo_st64(p + 40, <uint64_t>m.min_qty)
            probo_st64(p + 48, <uint64_t>m.outstanding)
            p += SNAP_MARKET
        for i in range(n_pos):
            r = &core.positions[keys[2 * i + 1]]
            probo_st32(p, r.uid)
            probo_st32(p + 4, r.mid)
            probo_st64(p + 8, <uint64_t>r.avail[0])
            probo_st64(p + 16, <uint64_t>r.locked[0])
            probo_st64(p + 24, <uint64_t>r.avail[1])
            probo_st64(p + 32, <uint64_t>r.locked[1])
            p += SNAP_POSITION
        free(keys)
        keys = NULL
        # orders: every level's records go to a known place, so up to
        # SNAP_WAYS FIFOs are copied at once (round robin), each cursor
        # prefetching its next slot; the walk checks each level's count
        base = p
        nxt = 0
        live = 0
        for c in range(SNAP_WAYS):
            cur[c] = -1
            left[c] = 0
            if nxt < nlv:
                cur[c] = <slot_t>lv[2 * nxt]
                dst[c] = base + SNAP_ORDER * lv[2 * nxt + 1]
                left[c] = lv[2 * nxt + 3] - lv[2 * nxt + 1]
                nxt += 1
                live += 1
        while live > 0 and not bad:
            for c in range(SNAP_WAYS):
                sl = cur[c]
                if left[c] == 0:
                    continue
                if sl < 0 or sl >= core.cap_orders:
                    bad = True
                    break
                o = &core.orders[sl]
                p = dst[c]
                probo_st64(p, o.oid)
                probo_st64(p + 8, <uint64_t>o.qty)
                probo_st64(p + 16, <uint64_t>o.expire_ts)
                probo_st32(p + 24, o.uid)
                probo_st32(p + 28, o.mid)
                probo_st32(p + 32, o.client_id)
                probo_st32(p + 36, <uint32_t>o.yprice)
                p[40] = o.action
                p[41] = o.outcome
                p[42] = o.tif
                p[43] = o.stp
                p[44] = o.flags
                p[45] = p[46] = p[47] = 0
                dst[c] = p + SNAP_ORDER
                sl = o.next
                left[c] -= 1
                if left[c] == 0:
                    if sl != -1:
                        bad = True      # the FIFO is longer than its count
                        break
                    if nxt < nlv:
                        sl = <slot_t>lv[2 * nxt]
                        dst[c] = base + SNAP_ORDER * lv[2 * nxt + 1]
                        left[c] = lv[2 * nxt + 3] - lv[2 * nxt + 1]
                        nxt += 1
                    else:
                        live -= 1
                cur[c] = sl
                if 0 <= sl < core.cap_orders:
                    probo_prefetch(&core.orders[sl])
                    probo_prefetch(<char*>&core.orders[sl] + 64)
        p = base + SNAP_ORDER * n_ord
        free(lv)
        lv = NULL
        if not bad:
            probo_st32(p, probo_crc32(0, whole, <size_t>(size - 4)))
    if bad:
        raise InvariantError("a level's order list disagrees with its count")
    return out


cdef int _load(Core core, const unsigned char[::1] view) except -1:
    # Fill this fresh core from a snapshot; raises SnapshotError.  The
    # caller discards the object on any error.  Passes: header and CRC;
    # users, markets, positions (as stored); orders in stored order into
    # arena slots 0.. (FIFOs, id maps, expiry heap); then the orders
    # bucketed by user (counting sort) to link each user's list in id
    # order and give every order its position; then the position map.
    cdef Py_ssize_t size = view.shape[0]
    cdef const unsigned char* b
    cdef const unsigned char* p
    cdef int64_t nu, nm, npos, nord, i, k, need, prev_key, key
    cdef Market* m
    cdef Position* r
    cdef Order* o
    cdef User* u
    cdef slot_t s
    cdef int64_t nlev, nw, payout, tick, cap = 0, want, hdr
    cdef uint64_t version
    cdef uint32_t crc
    cdef IntMap* om = &core.oid_map
    cdef IntMap* cm = &core.cid_map
    cdef IntMap* pm = &core.pos_map
    cdef uint64_t h, mask, ck
    cdef uint64_t* ent = NULL     # per order (oid, mid << 32 | slot), by user
    cdef int64_t* stamp = NULL    # per market: last user given a position here
    cdef pos_t* pidx = NULL       # per market: that position
    cdef int64_t a, e, start, n, sp, mid
    cdef uint64_t k0, k1
    if size < SNAP_HEADER_V1 + 4:
        raise SnapshotError(f"snapshot truncated: {size} bytes")
    b = &view[0]
    if bytes(view[:8]) != SNAPSHOT_MAGIC:
        raise SnapshotError("not a probo_engine snapshot (bad magic)")
    version = probo_get(b + 8, 4)
    if version == 1:
        hdr = SNAP_HEADER_V1
    elif version == SNAPSHOT_VERSION:
        hdr = SNAP_HEADER
    else:
        raise SnapshotError(f"unknown snapshot version {version}")
    if size < hdr + 4:
        raise SnapshotError(f"snapshot truncated: {size} bytes")
    if (probo_get(b + 12, 4) != 0x01020304 or probo_get(b + 16, 4) != <uint64_t>hdr
            or probo_get(b + 20, 4) != SNAP_USER
            or probo_get(b + 24, 4) != SNAP_MARKET
            or probo_get(b + 28, 4) != SNAP_POSITION
            or probo_get(b + 32, 4) != SNAP_ORDER):
        raise SnapshotError("snapshot layout not understood (endianness or "
                            "record sizes)")
    if probo_get(b + 36, 4):
        raise SnapshotError("snapshot header padding is not zero")
    nu = <int64_t>probo_get(b + 104, 4)
    nm = <int64_t>probo_get(b + 108, 4)
    npos = <int64_t>probo_get(b + 112, 8)
    nord = <int64_t>probo_get(b + 120, 8)
    if npos < 0 or nord < 0 or npos > size or nord > size:
        raise SnapshotError("snapshot counts out of range")
    need = (hdr + SNAP_USER * nu + SNAP_MARKET * nm
            + SNAP_POSITION * npos + SNAP_ORDER * nord + 4)
    if need != size:
        raise SnapshotError(f"snapshot length {size} != {need} for its counts")
    with nogil:
        crc = probo_crc32(0, b, <size_t>(size - 4))
    if crc != probo_ld32(b + size - 4):
        raise SnapshotError("snapshot checksum mismatch")
    if nu > MAX_USERS or nm > (1 << 20) or nord > 0x7FFFFFF0:
        raise SnapshotError("snapshot counts exceed the engine's limits")
    core.seq = probo_get(b + 40, 8)
    core.next_oid = probo_get(b + 48, 8)
    core.net_cash = <int64_t>probo_get(b + 56, 8)
    core.fee_balance = <int64_t>probo_get(b + 64, 8)
    core.max_qty = <int64_t>probo_get(b + 72, 8)
    core.max_open = <int64_t>probo_get(b + 80, 8)
    core.max_balance = <int64_t>probo_get(b + 88, 8)
    core.max_levels = <int64_t>probo_get(b + 96, 8)
    # version 1 had no clock: it starts at 0, as in a new engine
    core.clock_ts = <int64_t>probo_get(b + 128, 8) if version >= 2 else 0
    if (core.clock_ts < 0 or not 1 <= core.max_qty <= MAX_QTY or core.max_open < 0
            or core.max_balance < 0 or not 1 <= core.max_levels <= MAX_LEVELS
            or core.next_oid < 1 or core.net_cash < 0
            or core.net_cash > MAX_TOTAL_CASH or core.fee_balance < 0):
        raise SnapshotError("snapshot engine settings out of range")
    p = b + hdr
    if grow(<void**>&core.users, &core.cap_users, nu, sizeof(User)) != 0:
        raise MemoryError()
    for i in range(nu):
        u = &core.users[i]
        u.avail = <int64_t>probo_ld64(p)
        u.locked = <int64_t>probo_ld64(p + 8)
        u.head = u.tail = -1
        u.n_orders = 0
        if u.avail < 0 or u.locked < 0 or u.avail > MAX_TOTAL_CASH \
                or u.locked > MAX_TOTAL_CASH:
            raise SnapshotError(f"user {i}: cash out of range")
        core.n_users += 1
        p += SNAP_USER
    need = 0
    for i in range(nm):
        payout = <int64_t>probo_get(p, 4)
        tick = <int64_t>probo_get(p + 4, 4)
        if (tick <= 0 or payout <= 0 or payout > MAX_PAYOUT or payout % tick
                or payout < 2 * tick or payout // tick - 1 > core.max_levels):
            raise SnapshotError(f"market {i}: bad grid {payout}/{tick}")
        need += 2 * (payout // tick - 1)
        p += SNAP_MARKET
    if grow(<void**>&core.markets, &core.cap_markets, nm, sizeof(Market)) != 0 \
            or grow(<void**>&core.touched, &core.cap_touched, need,
                    sizeof(int64_t)) != 0:
        raise MemoryError()
    p = b + hdr + SNAP_USER * nu
    for i in range(nm):
        m = &core.markets[i]
        memset(m, 0, sizeof(Market))
        m.payout = <price_t>probo_get(p, 4)
        m.tick = <price_t>probo_get(p + 4, 4)
        nlev = m.payout // m.tick - 1
        nw = (nlev + 63) // 64
        m.levels = <Level*>malloc(<size_t>(2 * nlev) * sizeof(Level))
        m.bits = <uint64_t*>malloc(<size_t>(2 * nw) * sizeof(uint64_t))
        core.n_markets += 1   # counted now so __dealloc__ frees its arrays
        if m.levels == NULL or m.bits == NULL:
            raise MemoryError()
        for k in range(2 * nlev):
            m.levels[k].total = 0
            m.levels[k].head = m.levels[k].tail = -1
            m.levels[k].count = 0
            m.levels[k].touched = 0
        memset(m.bits, 0, <size_t>(2 * nw) * sizeof(uint64_t))
        m.nlevels = <int32_t>nlev
        m.nwords = <int32_t>nw
        m.best_bid = -1
        m.best_ask = <int32_t>nlev
        m.taker_fee = <int32_t>probo_get(p + 8, 4)
        m.maker_fee = <int32_t>probo_get(p + 12, 4)
        m.fee_mode = <int32_t>probo_get(p + 16, 4)
        m.cancel_on_halt = <int32_t>probo_get(p + 20, 4)
        m.status = <int32_t>probo_get(p + 24, 4)
        m.last_price = <int32_t>probo_get(p + 28, 4)
        m.yes_value = <int32_t>probo_get(p + 32, 4)
        if probo_get(p + 36, 4):
            raise SnapshotError(f"market {i}: padding is not zero")
        m.min_qty = <int64_t>probo_get(p + 40, 8)
        m.outstanding = <int64_t>probo_get(p + 48, 8)
        if (not 0 <= m.taker_fee <= 10000 or not -10000 <= m.maker_fee <= 10000
                or m.fee_mode not in (FEE_BPS, FEE_CURVE)
                or m.cancel_on_halt not in (0, 1)
                or not MARKET_OPEN <= m.status <= MARKET_RESOLVED
                or not 0 <= m.last_price < m.payout
                or (m.last_price and m.last_price % m.tick)
                or not -1 <= m.yes_value <= m.payout
                or (m.yes_value >= 0) != (m.status == MARKET_RESOLVED)
                or not 1 <= m.min_qty <= core.max_qty
                or m.outstanding < 0 or m.outstanding > MAX_TOTAL_CASH):
            raise SnapshotError(f"market {i}: field out of range")
        p += SNAP_MARKET
    # positions as stored: strictly increasing (uid, mid), so no lookups;
    # the position map is built once at the end
    if grow(<void**>&core.positions, &core.cap_pos, npos, sizeof(Position)) != 0:
        raise MemoryError()
    prev_key = -1
    for i in range(npos):
        key = <int64_t>((<uint64_t>probo_ld32(p) << 32) | probo_ld32(p + 4))
        if key <= prev_key:
            raise SnapshotError("positions not in (user, market) order")
        prev_key = key
        if <int64_t>probo_ld32(p) >= nu or <int64_t>probo_ld32(p + 4) >= nm:
            raise SnapshotError(f"position {i}: unknown user or market")
        r = &core.positions[i]
        r.uid = probo_ld32(p)
        r.mid = probo_ld32(p + 4)
        r.avail[0] = <int64_t>probo_ld64(p + 8)
        r.locked[0] = <int64_t>probo_ld64(p + 16)
        r.avail[1] = <int64_t>probo_ld64(p + 24)
        r.locked[1] = <int64_t>probo_ld64(p + 32)
        core.n_pos += 1
        for k in range(2):
            if not 0 <= r.avail[k] <= MAX_TOTAL_CASH or \
                    not 0 <= r.locked[k] <= MAX_TOTAL_CASH:
                raise SnapshotError(f"position {i}: shares out of range")
        if not (r.avail[0] or r.avail[1] or r.locked[0] or r.locked[1]):
            raise SnapshotError(f"position {i}: all-zero positions are not "
                                "stored")
        p += SNAP_POSITION
    # orders: arena slot i is the i-th order; level FIFO order as stored
    want = nord if nord > 16 else 16
    if grow(<void**>&core.orders, &cap, want, sizeof(Order)) != 0:
        raise MemoryError()
    core.cap_orders = <slot_t>cap
    probo_populate(core.orders, <size_t>nord * sizeof(Order))
    core.free_head = -1
    for i in range(cap - 1, nord - 1, -1):
        core.orders[i].oid = 0
        core.orders[i].next = core.free_head
        core.free_head = <slot_t>i
    if im_reserve(om, nord) != 0:
        raise MemoryError()
    probo_populate(om.vals, <size_t>om.cap * sizeof(int32_t))
    mask = <uint64_t>om.cap - 1
    prev_key = -1
    for i in range(nord):
        # the id map is probed at random: prefetch the bucket of a record
        # LOAD_AHEAD ahead, so those misses overlap
        if i + LOAD_AHEAD < nord:
            h = im_slot(om, probo_ld64(p + LOAD_AHEAD * SNAP_ORDER))
            probo_prefetchw(&om.keys[h])
            probo_prefetchw(&om.vals[h])
            k = probo_ld32(p + LOAD_AHEAD * SNAP_ORDER + 24)
            if k < nu:
                probo_prefetchw(&core.users[k])
        o = &core.orders[i]
        o.oid = probo_ld64(p)
        o.qty = <int64_t>probo_ld64(p + 8)
        o.expire_ts = <int64_t>probo_ld64(p + 16)
        o.uid = probo_ld32(p + 24)
        o.mid = probo_ld32(p + 28)
        o.client_id = probo_ld32(p + 32)
        o.yprice = <price_t>probo_ld32(p + 36)
        o.action = p[40]
        o.outcome = p[41]
        o.tif = p[42]
        o.stp = p[43]
        o.flags = p[44]
        if p[45] or p[46] or p[47]:
            raise SnapshotError(f"order record {i}: padding is not zero")
        p += SNAP_ORDER
        if (o.oid == 0 or o.oid >= core.next_oid or o.uid >= nu or o.mid >= nm
                or o.action > 1 or o.outcome > 1 or o.stp > STP_NONE
                or (o.tif != TIF_GTC and o.tif != TIF_GTD) or o.flags > 1
                or (o.tif == TIF_GTD) != (o.expire_ts != 0)
                or not 0 < o.qty <= core.max_qty):
            raise SnapshotError(f"order record {i}: field out of range")
        m = &core.markets[o.mid]
        if (o.yprice < m.tick or o.yprice > m.payout - m.tick
                or o.yprice % m.tick or m.status > MARKET_HALTED):
            raise SnapshotError(f"order {o.oid}: price off grid or market shut")
        o.bside = <uint8_t>_book_side(o.action, o.outcome)
        # canonical order: market, side, best price first
        key = (<int64_t>o.mid << 22) | (<int64_t>o.bside << 21) | (
            (m.nlevels - (o.yprice // m.tick)) if o.bside == BOOK_BID
            else (o.yprice // m.tick))
        if key < prev_key:
            raise SnapshotError("orders not in canonical book order")
        prev_key = key
        # id map: insert, refusing an id already there (one probe)
        h = im_slot(om, o.oid)
        while om.keys[h] != 0:
            if om.keys[h] == o.oid:
                raise SnapshotError(f"order id {o.oid} appears twice")
            h = (h + 1) & mask
        om.keys[h] = o.oid
        om.vals[h] = <slot_t>i
        om.size += 1
        if o.client_id:
            ck = (<uint64_t>o.client_id << 32) | o.uid
            if im_get(cm, ck) >= 0:
                raise SnapshotError(f"client id {o.client_id} of user {o.uid} "
                                    "twice")
            if im_reserve(cm, 1) != 0:
                raise MemoryError()
            im_insert_nogrow(cm, ck, <slot_t>i)
        if o.tif == TIF_GTD:
            # heap entries appended here, ordered once after the loop
            if grow(<void**>&core.heap, &core.cap_heap, core.n_heap + 1,
                    sizeof(Expiry)) != 0:
                raise MemoryError()
            core.heap[core.n_heap].ts = o.expire_ts
            core.heap[core.n_heap].oid = o.oid
            core.n_heap += 1
            core.n_gtd += 1
        o.pos = -1
        core._level_push(<slot_t>i)
        core.n_live += 1
        core.users[o.uid].n_orders += 1
    i = core.n_heap // 2 - 1
    while i >= 0:
        heap_sift_down(core, i)
        i -= 1
    # users' lists in ascending order id, and each order's position: the
    # orders bucketed by user (counting sort; User.head is the cursor),
    # each bucket sorted by id, stored positions merged in as met
    ent = <uint64_t*>malloc(<size_t>(2 * nord + 2) * sizeof(uint64_t))
    stamp = <int64_t*>malloc(<size_t>(nm + 1) * sizeof(int64_t))
    pidx = <pos_t*>malloc(<size_t>(nm + 1) * sizeof(pos_t))
    try:
        if ent == NULL or stamp == NULL or pidx == NULL:
            raise MemoryError()
        probo_populate(ent, <size_t>(2 * nord) * sizeof(uint64_t))
        with nogil:
            for i in range(nm):
                stamp[i] = -1
            k = 0
            for i in range(nu):
                core.users[i].head = <slot_t>k
                k += core.users[i].n_orders
            for i in range(nord):
                o = &core.orders[i]
                u = &core.users[o.uid]
                ent[2 * u.head] = o.oid
                ent[2 * u.head + 1] = (<uint64_t>o.mid << 32) | <uint64_t>i
                u.head += 1
        sp = 0
        for i in range(nu):
            u = &core.users[i]
            e = u.head
            n = u.n_orders
            start = e - n
            while sp < npos and core.positions[sp].uid == i:
                stamp[core.positions[sp].mid] = i
                pidx[core.positions[sp].mid] = <pos_t>sp
                sp += 1
            if n > 24:
                qsort(&ent[2 * start], <size_t>n, 2 * sizeof(uint64_t),
                      probo_cmp_u64)
            else:
                for a in range(start + 1, e):
                    k0 = ent[2 * a]
                    k1 = ent[2 * a + 1]
                    k = a - 1
                    while k >= start and ent[2 * k] > k0:
                        ent[2 * k + 2] = ent[2 * k]
                        ent[2 * k + 3] = ent[2 * k + 1]
                        k -= 1
                    ent[2 * k + 2] = k0
                    ent[2 * k + 3] = k1
            for a in range(start, e):
                # links go into slots all over the arena: prefetch ahead
                if a + LOAD_AHEAD < nord:
                    probo_prefetchw(&core.orders[<slot_t>ent[2 * (a + LOAD_AHEAD)
                                                             + 1]])
                s = <slot_t>ent[2 * a + 1]
                mid = <int64_t>(ent[2 * a + 1] >> 32)
                if stamp[mid] != i:
                    # an order's (user, market) without stored shares
                    if grow(<void**>&core.positions, &core.cap_pos,
                            core.n_pos + 1, sizeof(Position)) != 0:
                        raise MemoryError()
                    r = &core.positions[core.n_pos]
                    memset(r, 0, sizeof(Position))
                    r.uid = <uint32_t>i
                    r.mid = <uint32_t>mid
                    stamp[mid] = i
                    pidx[mid] = <pos_t>core.n_pos
                    core.n_pos += 1
                o = &core.orders[s]
                o.pos = pidx[mid]
                o.uprev = <slot_t>ent[2 * a - 1] if a > start else -1
                o.unext = <slot_t>ent[2 * a + 3] if a + 1 < e else -1
            u.head = <slot_t>ent[2 * start + 1] if n else -1
            u.tail = <slot_t>ent[2 * e - 1] if n else -1
    finally:
        free(ent)
        free(stamp)
        free(pidx)
    # the position map, in one go (keys are distinct by construction)
    if im_reserve(pm, core.n_pos) != 0:
        raise MemoryError()
    probo_populate(pm.vals, <size_t>pm.cap * sizeof(int32_t))
    for i in range(core.n_pos):
        if i + LOAD_AHEAD < core.n_pos:
            r = &core.positions[i + LOAD_AHEAD]
            h = im_slot(pm, ((<uint64_t>r.uid << 32) | r.mid) + 1)
            probo_prefetchw(&pm.keys[h])
            probo_prefetchw(&pm.vals[h])
        r = &core.positions[i]
        im_insert_nogrow(pm, ((<uint64_t>r.uid << 32) | r.mid) + 1, <pos_t>i)
    return 0
