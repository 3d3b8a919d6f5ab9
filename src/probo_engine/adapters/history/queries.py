"""Queries over the history, the same on both stores.

Every function takes a :class:`~.store.HistoryStore` and returns small
immutable records.  A user's orders, fills and balances take the user as a
required positional argument, never optional: there is no way to ask for
every user's rows through them (the seed's ``/transactions`` answered with
everyone's rows when the user id was missing).

Times are the commands' ``ts`` (integer nanoseconds); ranges are half-open,
``start_ts <= ts < end_ts``.  Prices are in the market's minor unit; a fill's
``yes_price`` is the maker's YES price, and each side's ``price`` is in its
own outcome's terms.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

from .store import HistoryStore

__all__ = [
    "BalanceRow",
    "BookAt",
    "BookOrder",
    "Candle",
    "MarketEvent",
    "MarketRecord",
    "OrderRecord",
    "OrderUpdate",
    "Trade",
    "UserFill",
    "balance_history",
    "balances_at",
    "book_at",
    "candles",
    "market_history",
    "market_status_at",
    "markets",
    "order_history",
    "trades",
    "user_fills",
    "user_orders",
]

INT64_MAX = 2**63 - 1
_KIND_NAMES = {1: "accepted", 3: "fill", 4: "canceled", 8: "amended"}


def _int(name: str, v: object, *, minimum: int | None = None) -> int:
    if isinstance(v, bool) or v is None:
        raise TypeError(f"{name} must be an integer, not {v!r}")
    try:
        i = operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {v!r}") from None
    if minimum is not None and i < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {i}")
    return i


def _range(start_ts: int | None, end_ts: int | None) -> tuple[int, int]:
    lo = 0 if start_ts is None else _int("start_ts", start_ts)
    hi = INT64_MAX if end_ts is None else _int("end_ts", end_ts)
    return lo, hi


# ------------------------------------------------------------------- records


class Trade(NamedTuple):
    """One fill, both sides."""

    seq: int  #: event seq
    ts: int
    market: int
    yes_price: int
    qty: int
    kind: int  #: FillKind: transfer 0, mint 1, merge 2
    taker_user: int
    taker_oid: int
    taker_side: int
    taker_outcome: int
    taker_price: int
    taker_fee: int
    maker_user: int
    maker_oid: int
    maker_side: int
    maker_outcome: int
    maker_price: int
    maker_fee: int  #: negative: a rebate


class UserFill(NamedTuple):
    """One fill seen from one of its users."""

    seq: int
    ts: int
    market: int
    oid: int
    role: str  #: "taker" or "maker"
    side: int
    outcome: int
    price: int  #: in the user's outcome terms
    yes_price: int
    qty: int
    fee: int  #: negative: a rebate
    kind: int


class OrderRecord(NamedTuple):
    """An order as accepted, and its state now."""

    oid: int
    market: int
    seq: int  #: its ACCEPTED event
    ts: int
    side: int
    outcome: int
    qty: int  #: as accepted
    tif: int
    client_id: int
    expire_ts: int
    post_only: bool
    is_market: bool
    price: int  #: own-outcome price now (amends change it)
    yes_price: int
    remaining: int
    filled: int
    status: str  #: "open", "filled" or "canceled"


class OrderUpdate(NamedTuple):
    """One state change of an order."""

    seq: int
    cmd_seq: int
    ts: int
    kind: str  #: "accepted", "fill", "canceled", "amended"
    price: int  #: after the change
    yes_price: int
    qty: int  #: accepted/amended: the new quantity; fill/cancel: how many
    remaining: int
    reason: int  #: CancelReason, FillKind, or 1 if an amend kept priority


class BalanceRow(NamedTuple):
    """One movement of a user's cash or shares, with the balance after it."""

    seq: int
    cmd_seq: int
    ts: int
    market: int  #: -1 for cash
    asset: int  #: 0 cash, 1 YES shares, 2 NO shares
    d_available: int
    d_locked: int
    available: int  #: after this movement
    locked: int
    reason: int  #: EventKind of the event (0: a buy's lock settled)


class Candle(NamedTuple):
    """OHLC of one interval that had trades."""

    start_ts: int
    open: int
    high: int
    low: int
    close: int
    volume: int  #: shares
    trades: int


class BookOrder(NamedTuple):
    """A resting order, in ``Core.book_orders`` shape."""

    oid: int
    user: int
    side: int
    outcome: int
    price: int
    qty: int  #: remaining
    yes_price: int
    book_side: int  #: BookSide: BID 0, ASK 1


class BookAt(NamedTuple):
    """A market's book after the command that produced event ``seq``."""

    seq: int  #: last event seq the book reflects
    cmd_seq: int  #: the command it is the book after
    orders: list[BookOrder]  #: bids best first, then asks best first, FIFO

    def depth(self) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """``(bids, asks)`` as ``(yes_price, total_qty, order_count)``, best first
        (the shape of ``Core.depth``)."""
        out: tuple[list[list[int]], list[list[int]]] = ([], [])
        for o in self.orders:
            side = out[o.book_side]
            if side and side[-1][0] == o.yes_price:
                side[-1][1] += o.qty
                side[-1][2] += 1
            else:
                side.append([o.yes_price, o.qty, 1])
        return [tuple(x) for x in out[0]], [tuple(x) for x in out[1]]  # type: ignore[misc]


class MarketRecord(NamedTuple):
    """A market's configuration and its latest status."""

    market: int
    symbol: str | None
    payout: int
    tick: int
    taker_fee: int
    maker_fee: int
    fee_mode: int
    min_qty: int
    cancel_on_halt: bool
    status: int  #: MarketStatus
    yes_value: int  #: what a YES share paid (RESOLVED), else 0


# ------------------------------------------------------------------- queries


async def trades(
    store: HistoryStore,
    market: int,
    *,
    start_ts: int | None = None,
    end_ts: int | None = None,
    after_seq: int = 0,
    limit: int = 1000,
) -> list[Trade]:
    """A market's fills in ``[start_ts, end_ts)``, oldest first.

    Page with ``after_seq`` (the last ``seq`` of the previous page).
    """
    mid = _int("market", market)
    lo, hi = _range(start_ts, end_ts)
    rows = await store.fetch(
        "SELECT seq, ts, mid, yes_price, qty, kind, taker_uid, taker_oid, "
        "taker_side, taker_outcome, taker_price, taker_fee, maker_uid, maker_oid, "
        "maker_side, maker_outcome, maker_price, maker_fee FROM fills "
        "WHERE mid = ? AND ts >= ? AND ts < ? AND seq > ? ORDER BY seq LIMIT ?",
        (mid, lo, hi, _int("after_seq", after_seq), _int("limit", limit, minimum=0)),
    )
    return [Trade(*r) for r in rows]


async def user_fills(
    store: HistoryStore,
    user: int,
    *,
    market: int | None = None,
    start_ts: int | None = None,
    end_ts: int | None = None,
    after_seq: int = 0,
    limit: int = 1000,
) -> list[UserFill]:
    """``user``'s fills (as taker or maker), oldest first; one market or all."""
    uid = _int("user", user)
    lo, hi = _range(start_ts, end_ts)
    mf = "" if market is None else " AND mid = ?"
    margs: tuple[int, ...] = () if market is None else (_int("market", market),)
    after = _int("after_seq", after_seq)
    sql = (
        "SELECT seq, ts, mid, taker_oid, 0, taker_side, taker_outcome, taker_price, "
        "yes_price, qty, taker_fee, kind FROM fills WHERE taker_uid = ? "
        f"AND ts >= ? AND ts < ? AND seq > ?{mf} "
        "UNION ALL "
        "SELECT seq, ts, mid, maker_oid, 1, maker_side, maker_outcome, maker_price, "
        "yes_price, qty, maker_fee, kind FROM fills WHERE maker_uid = ? "
        f"AND ts >= ? AND ts < ? AND seq > ?{mf} "
        "ORDER BY 1 LIMIT ?"
    )
    args = (uid, lo, hi, after, *margs, uid, lo, hi, after, *margs)
    rows = await store.fetch(sql, (*args, _int("limit", limit, minimum=0)))
    return [
        UserFill(r[0], r[1], r[2], r[3], "maker" if r[4] else "taker", *r[5:])
        for r in rows
    ]


async def user_orders(
    store: HistoryStore,
    user: int,
    *,
    market: int | None = None,
    before_oid: int | None = None,
    limit: int = 100,
) -> list[OrderRecord]:
    """``user``'s orders, newest first, with their state now.

    Page with ``before_oid`` (the last ``oid`` of the previous page).
    """
    uid = _int("user", user)
    where = "o.uid = ?"
    args: list[int] = [uid]
    if market is not None:
        where += " AND o.mid = ?"
        args.append(_int("market", market))
    if before_oid is not None:
        where += " AND o.oid < ?"
        args.append(_int("before_oid", before_oid))
    args.append(_int("limit", limit, minimum=0))
    rows = await store.fetch(
        "SELECT o.oid, o.mid, o.seq, o.ts, o.side, o.outcome, o.qty, o.tif, "
        "o.client_id, o.expire_ts, o.post_only, o.is_market, "
        "u.price, u.yes_price, u.remaining, u.kind, "
        "(SELECT CAST(COALESCE(SUM(f.qty), 0) AS BIGINT) FROM order_updates f "
        " WHERE f.oid = o.oid AND f.kind = 3) "
        "FROM orders o JOIN order_updates u ON u.oid = o.oid AND u.seq = "
        "(SELECT MAX(x.seq) FROM order_updates x WHERE x.oid = o.oid) "
        f"WHERE {where} ORDER BY o.oid DESC LIMIT ?",
        args,
    )
    out = []
    for r in rows:
        remaining, last_kind = r[14], r[15]
        status = "open" if remaining > 0 else "canceled" if last_kind == 4 else "filled"
        flags = (bool(r[10]), bool(r[11]))
        more = (r[12], r[13], remaining, r[16], status)
        out.append(OrderRecord._make((*r[:10], *flags, *more)))
    return out


async def order_history(store: HistoryStore, user: int, oid: int) -> list[OrderUpdate]:
    """Every state change of order ``oid``, if it is ``user``'s (else ``[]``)."""
    rows = await store.fetch(
        "SELECT seq, cmd_seq, ts, kind, price, yes_price, qty, remaining, reason "
        "FROM order_updates WHERE oid = ? AND uid = ? ORDER BY seq",
        (_int("oid", oid), _int("user", user)),
    )
    return [OrderUpdate(r[0], r[1], r[2], _KIND_NAMES[r[3]], *r[4:]) for r in rows]


async def balance_history(
    store: HistoryStore,
    user: int,
    *,
    market: int | None = None,
    after_seq: int = 0,
    upto_seq: int | None = None,
    limit: int = 1000,
) -> list[BalanceRow]:
    """``user``'s cash and share movements with the balance after each.

    ``market=None``: cash and every market; ``market=-1``: cash only; a market
    id: that market's shares only.  Rows with ``after_seq < seq <= upto_seq``,
    oldest first (the running balances count every earlier movement).
    """
    uid = _int("user", user)
    where, args = "uid = ?", [uid]
    if market is not None:
        where += " AND mid = ?"
        args.append(_int("market", market))
    if upto_seq is not None:
        where += " AND seq <= ?"
        args.append(_int("upto_seq", upto_seq))
    args += [_int("after_seq", after_seq), _int("limit", limit, minimum=0)]
    rows = await store.fetch(
        "SELECT seq, cmd_seq, ts, mid, asset, d_available, d_locked, a, l, reason "
        "FROM (SELECT seq, idx, cmd_seq, ts, mid, asset, d_available, d_locked, "
        "reason, CAST(SUM(d_available) OVER w AS BIGINT) AS a, "
        "CAST(SUM(d_locked) OVER w AS BIGINT) AS l "
        f"FROM ledger WHERE {where} "
        "WINDOW w AS (PARTITION BY mid, asset ORDER BY seq, idx "
        "ROWS UNBOUNDED PRECEDING)) h "
        "WHERE seq > ? ORDER BY seq, idx LIMIT ?",
        args,
    )
    return [BalanceRow(*r) for r in rows]


async def balances_at(
    store: HistoryStore, cmd_seq: int
) -> dict[tuple[int, int, int], tuple[int, int]]:
    """Every balance after command ``cmd_seq``, rebuilt from the ledger.

    Keys ``(uid, market, asset)`` (``uid`` -1: the fee account; ``market`` -1:
    cash), values ``(available, locked)``.
    """
    rows = await store.fetch(
        "SELECT uid, mid, asset, CAST(SUM(d_available) AS BIGINT), "
        "CAST(SUM(d_locked) AS BIGINT) FROM ledger WHERE cmd_seq <= ? "
        "GROUP BY uid, mid, asset",
        (_int("cmd_seq", cmd_seq),),
    )
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


async def candles(
    store: HistoryStore,
    market: int,
    interval: int,
    *,
    start_ts: int | None = None,
    end_ts: int | None = None,
    outcome: int = 0,
) -> list[Candle]:
    """OHLC per ``interval`` (ns) of a market's trades, in ``outcome``'s terms.

    Intervals are aligned on multiples of ``interval`` since ts 0; intervals
    without trades are left out.
    """
    mid = _int("market", market)
    step = _int("interval", interval, minimum=1)
    if outcome not in (0, 1):
        raise ValueError(f"outcome must be 0 (YES) or 1 (NO), not {outcome!r}")
    lo, hi = _range(start_ts, end_ts)
    rows = await store.fetch(
        "WITH c AS (SELECT ts / ? AS b, MIN(seq) AS s0, MAX(seq) AS s1, "
        "MAX(yes_price) AS hi, MIN(yes_price) AS lo, "
        "CAST(SUM(qty) AS BIGINT) AS vol, COUNT(*) AS n FROM fills "
        "WHERE mid = ? AND ts >= ? AND ts < ? GROUP BY 1) "
        "SELECT c.b, f0.yes_price, c.hi, c.lo, f1.yes_price, c.vol, c.n FROM c "
        "JOIN fills f0 ON f0.seq = c.s0 JOIN fills f1 ON f1.seq = c.s1 ORDER BY c.b",
        (step, mid, lo, hi),
    )
    if outcome == 0:
        return [Candle(b * step, o, h, lo_, c, v, n) for b, o, h, lo_, c, v, n in rows]
    pay = await store.fetch("SELECT payout FROM markets WHERE mid = ?", (mid,))
    if not pay:
        return []
    u = pay[0][0]
    return [
        Candle(b * step, u - o, u - lo_, u - h, u - c, v, n)
        for b, o, h, lo_, c, v, n in rows
    ]


async def book_at(
    store: HistoryStore, market: int, *, seq: int | None = None, ts: int | None = None
) -> BookAt:
    """A market's order book as it stood at event ``seq`` or at time ``ts``.

    Exactly one of ``seq`` and ``ts``.  The book is the one after the whole
    command that produced event ``seq`` (never a crossed book in the middle
    of a match), or after the last command with ``ts`` at or before ``ts``.
    Raises ``ValueError`` for a ``seq`` not archived yet.

    Complexity: one scan of the market's orders accepted by then (an index),
    with an index lookup of each one's last change.
    """
    mid = _int("market", market)
    if (seq is None) == (ts is None):
        raise TypeError("give exactly one of seq= and ts=")
    cp = await store.fetch("SELECT cmd_seq, event_seq FROM checkpoint")
    if seq is not None:
        s = _int("seq", seq, minimum=0)
        if s > cp[0][1]:
            raise ValueError(f"event {s} is not archived yet (up to {cp[0][1]})")
        rows = await store.fetch(
            "SELECT seq, first_event + n_events - 1 FROM commands "
            "WHERE n_events > 0 AND first_event <= ? "
            "ORDER BY first_event DESC LIMIT 1",
            (s,),
        )
    else:
        last = await _last_command_at(store, _int("ts", ts), cp[0][0])
        rows = await store.fetch(
            "SELECT seq, first_event + n_events - 1 FROM commands "
            "WHERE seq <= ? AND n_events > 0 AND ts IS NOT NULL "
            "ORDER BY seq DESC LIMIT 1",
            (last,),
        )
    if not rows:
        return BookAt(0, 0, [])
    cmd_seq, upto = rows[0]
    return BookAt(upto, cmd_seq, await _book_orders(store, mid, upto))


async def _last_command_at(store: HistoryStore, ts: int, head: int) -> int:
    """The last command seq (up to ``head``) such that every command up to it
    that has a ``ts`` has one at or before ``ts`` (0: none).

    A binary search on the primary key (``commands`` has no index on ``ts``:
    it would cost every archived command an index entry), exact because the
    commands' ``ts`` never goes backwards (docs/service.md, "Time"); about
    ``log2(head)`` point reads.
    """
    lo, hi = 0, head  # the answer is in [lo, hi]
    while lo < hi:
        m = (lo + hi + 1) // 2
        r = await store.fetch(
            "SELECT ts FROM commands WHERE seq <= ? AND ts IS NOT NULL "
            "ORDER BY seq DESC LIMIT 1",
            (m,),
        )
        if not r or r[0][0] <= ts:
            lo = m
        else:
            hi = m - 1
    return lo


async def _book_orders(store: HistoryStore, mid: int, upto: int) -> list[BookOrder]:
    # The market's orders accepted by then (orders (mid, seq)), each with its
    # last change by then and its last requeue (order_changes' primary key
    # (oid, seq)); an order without changes is as accepted, which requeued it.
    rows = await store.fetch(
        "SELECT o.oid, o.uid, o.side, o.outcome, COALESCE(c.price, o.price), "
        "COALESCE(c.remaining, o.qty), COALESCE(c.yes_price, o.yes_price), "
        "COALESCE((SELECT MAX(r.seq) FROM order_changes r WHERE r.oid = o.oid "
        " AND r.seq <= ? AND r.requeue = 1), o.seq) "
        "FROM orders o LEFT JOIN order_changes c ON c.oid = o.oid AND c.seq = "
        "(SELECT MAX(x.seq) FROM order_changes x WHERE x.oid = o.oid AND x.seq <= ?) "
        "WHERE o.mid = ? AND o.seq <= ? AND COALESCE(c.remaining, o.qty) > 0",
        (upto, upto, mid, upto),
    )
    bids: list[tuple[int, int, BookOrder]] = []
    asks: list[tuple[int, int, BookOrder]] = []
    for oid, uid, side, outcome, price, rem, yp, qseq in rows:
        bid = side == outcome  # buy YES (0, 0) or sell NO (1, 1)
        o = BookOrder(oid, uid, side, outcome, price, rem, yp, 0 if bid else 1)
        (bids if bid else asks).append((-yp if bid else yp, qseq, o))
    bids.sort(key=lambda t: t[:2])
    asks.sort(key=lambda t: t[:2])
    return [t[2] for t in bids] + [t[2] for t in asks]


async def markets(store: HistoryStore) -> list[MarketRecord]:
    """Every market: configuration and latest status."""
    rows = await store.fetch(
        "SELECT m.mid, m.symbol, m.payout, m.tick, m.taker_fee, m.maker_fee, "
        "m.fee_mode, m.min_qty, m.cancel_on_halt, s.status, s.yes_value "
        "FROM markets m JOIN market_status s ON s.seq = "
        "(SELECT MAX(x.seq) FROM market_status x WHERE x.mid = m.mid) ORDER BY m.mid"
    )
    return [MarketRecord._make((*r[:8], bool(r[8]), r[9], r[10])) for r in rows]


class MarketEvent(NamedTuple):
    """A market's status change (creation, halt, resume, close, resolution)."""

    seq: int
    cmd_seq: int
    ts: int
    status: int  #: MarketStatus after it
    yes_value: int  #: what a YES share paid (RESOLVED), else 0


async def market_history(store: HistoryStore, market: int) -> list[MarketEvent]:
    """Every status change of a market, oldest first (the first is OPEN)."""
    rows = await store.fetch(
        "SELECT seq, cmd_seq, ts, status, yes_value FROM market_status "
        "WHERE mid = ? ORDER BY seq",
        (_int("market", market),),
    )
    return [MarketEvent(*r) for r in rows]


async def market_status_at(store: HistoryStore, cmd_seq: int) -> dict[int, int]:
    """Each market's status after command ``cmd_seq``."""
    rows = await store.fetch(
        "SELECT s.mid, s.status FROM market_status s JOIN "
        "(SELECT mid, MAX(seq) AS seq FROM market_status WHERE cmd_seq <= ? "
        " GROUP BY mid) l ON s.seq = l.seq",
        (_int("cmd_seq", cmd_seq),),
    )
    return {r[0]: r[1] for r in rows}
