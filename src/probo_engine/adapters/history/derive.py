"""From entries to rows: what the archiver writes for each command and event.

:class:`Deriver` turns a run of consecutive entries
(:class:`~probo_engine.adapters.entries.Entry`) into a :class:`Batch` of rows
for the tables of :mod:`.schema`.  It is pure (no I/O) and needs only one
piece of state from before the batch: the
configuration of every market created so far (payout, tick, fee rates), which
the archiver loads from the store when it starts.

The ledger rows are rebuilt from the events alone, by the rules of
docs/semantics.md ("Ledger effect of a fill", "Fees", ``place`` step 1 and 4):

* ``CASH``: available cash moves by the signed amount;
* ``ACCEPTED``: a buy locks ``qty * (price + fee_unit)`` (a market buy: of the
  grid's worst price, or its ``max_cost`` budget if smaller, read from the
  ``PlaceMarket`` command); a sell locks ``qty`` shares;
* ``FILL``: the taker buyer's lock pays ``q * e + fee``; a maker buyer's lock
  releases ``q * (e + fee_unit)`` and gets back ``q * fee_unit - fee``; a
  seller's shares leave its lock and it receives ``q * e - fee``; the buyer
  gets ``q`` shares; both fees go to the fee account (uid ``-1``);
* ``CANCELED``: the remainder's cash or shares are unlocked (an incoming
  buy's own remainder is part of its lump, below);
* ``AMENDED``: the lock is recomputed for the new price and quantity;
* ``PAIR``: mint pays ``payout * qty`` for ``qty`` YES and NO shares, merge
  the reverse; ``SETTLEMENT`` pays ``yes_value`` per YES share and
  ``payout - yes_value`` per NO share and burns them.

The incoming buy's lock is settled as one amount: once its events are over,
what exceeds ``rest * (price + fee_unit)`` returns to available cash, as a
ledger row with ``reason`` 0 on the order's last event.  Reconciliation
(:mod:`.reconcile`) checks these rules against the engine itself.

An order's acceptance is one ``orders`` row, whose ``locked`` column is its
lock, and a cancel or an amend one ``order_changes`` row, whose ``d_locked``
column is the lock's change: the database derives the accepted order update
and those ledger movements from them (the ``order_updates`` and ``ledger``
views of schema version 2), and :func:`ledger_rows` and
:func:`order_update_rows` do the same for a batch's rows.
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from probo_engine import commands
from probo_engine._book import EVENT_LAYOUT, EVENT_SIZE
from probo_engine.adapters.entries import Entry
from probo_engine.errors import ProboError
from probo_engine.types import Command

from .schema import CASH, FEE_ACCOUNT, NO, YES

__all__ = [
    "Batch",
    "Checkpoint",
    "DeriveError",
    "Deriver",
    "MarketConfig",
    "fee_unit",
    "ledger_rows",
    "order_update_rows",
]

# EventKind and FillKind values (docs/semantics.md), as plain ints for speed.
_ACCEPTED, _REJECTED, _FILL, _CANCELED, _LEVEL = 1, 2, 3, 4, 5
_MARKET, _CASH, _AMENDED, _PAIR, _SETTLEMENT = 6, 7, 8, 9, 10
_TRANSFER = 0
_BUY = 0
_CREATE_USER = int(Command.CREATE_USER)
_CREATE_MARKET = int(Command.CREATE_MARKET)
_PLACE_MARKET = int(Command.PLACE_MARKET)
_SETTLED = 0  # ledger.reason of the incoming buy's lock settlement
_SETTLE_IDX = 100  # its ledger.idx (an event has far fewer movements)


def _raw_event_struct() -> struct.Struct:
    # The packed event (docs/semantics.md) in byte-offset order, which the
    # loop in Deriver._events unpacks into locals by these names.
    names = [
        "seq",
        "ts",
        "oid",
        "qty",
        "user2",
        "oid2",
        "aux",
        "fee",
        "fee2",
        "market",
        "user",
        "price",
        "price2",
        "kind",
        "side",
        "outcome",
        "code",
    ]
    fields = sorted(EVENT_LAYOUT, key=lambda f: f[2])
    codes = {"i2": ("h", 2), "i4": ("i", 4), "i8": ("q", 8)}
    fmt, at = "<", 0
    for _name, np_fmt, offset in fields:
        code, size = codes[np_fmt.lstrip("<")]
        if offset != at:  # padding: the unpacking below would be wrong
            break
        fmt, at = fmt + code, at + size
    if [f[0] for f in fields] != names or at != EVENT_SIZE:
        raise ImportError(f"unexpected event layout {fields}: update derive.py")
    return struct.Struct(fmt)


_RAW_EVENT = _raw_event_struct()
_seq_at = struct.Struct("<q").unpack_from  # an event's seq: its first field


def _no_market(mid: int, seq: int) -> MarketConfig:
    raise DeriveError(f"event {seq}: market {mid} was never created")


class DeriveError(ProboError, ValueError):
    """Entries that cannot follow the archived ones (a gap, an overlap, or
    events that contradict the rules, such as a fill in an unknown market)."""


class Checkpoint(NamedTuple):
    """How far the history goes: last command seq and last event seq."""

    cmd_seq: int
    event_seq: int


class MarketConfig(NamedTuple):
    """What the ledger rules need to know about a market."""

    payout: int
    tick: int
    taker_fee: int
    maker_fee: int
    fee_mode: int  #: FeeMode: BPS 0, CURVE 1


def fee_unit(m: MarketConfig, price: int) -> int:
    """The most fee one share of a buy at own price ``price`` can cost.

    ``r = max(taker_fee, maker_fee, 0)``; BPS: ``ceil(r * price / 10000)``;
    CURVE: ``ceil(r * g / (payout * 10000))`` with ``g = price * (payout -
    price)`` when ``2 * price <= payout``, else ``floor(U/2) * ceil(U/2)``.

    >>> fee_unit(MarketConfig(1000, 50, 100, 50, 0), 600)
    6
    """
    r = m.taker_fee if m.taker_fee > m.maker_fee else m.maker_fee
    if r <= 0:
        return 0
    if m.fee_mode == 0:
        return -(-r * price // 10000)
    u = m.payout
    g = price * (u - price) if 2 * price <= u else (u // 2) * (u - u // 2)
    return -(-r * g // (u * 10000))


def ledger_rows(rows: dict[str, list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """Every ledger movement of a batch's ``rows`` (the ``ledger`` view):
    the stored ``ledger_moves``, the lock of each accepted order and what
    each cancel and amend moved between available and locked, in ``(seq,
    idx)`` order.

    >>> order = (7, 3, 2, 0, 0, 1, 0, 0, 600, 600, 5, 0, 0, 0, 0, 0, 3030)
    >>> ledger_rows({"orders": [order], "ledger_moves": []})
    [(3, 0, 2, 0, 1, -1, 0, -3030, 3030, 1)]
    """
    out = list(rows.get("ledger_moves", ()))
    for c in rows.get("order_changes", ()):
        seq, _oid, cs, ts, mid, uid, kind, side, outcome = c[:9]
        locked = c[15]
        if kind == _AMENDED or locked:
            if side == _BUY:
                out.append((seq, 0, cs, ts, uid, -1, CASH, -locked, locked, kind))
            else:
                share = YES if outcome == 0 else NO
                out.append((seq, 0, cs, ts, uid, mid, share, -locked, locked, kind))
    for o in rows.get("orders", ()):
        seq, cs, ts, mid, uid, side, outcome, locked = *o[1:8], o[16]
        if side == _BUY:
            out.append((seq, 0, cs, ts, uid, -1, CASH, -locked, locked, _ACCEPTED))
        else:
            share = YES if outcome == 0 else NO
            out.append((seq, 0, cs, ts, uid, mid, share, -locked, locked, _ACCEPTED))
    out.sort(key=lambda r: (r[0], r[1]))
    return out


def order_update_rows(
    rows: dict[str, list[tuple[Any, ...]]],
) -> list[tuple[Any, ...]]:
    """Every order update of a batch's ``rows`` (the ``order_updates`` view):
    the stored ``order_changes`` and each order's acceptance, in ``(seq,
    oid)`` order."""
    out = [c[:15] for c in rows.get("order_changes", ())]
    for o in rows.get("orders", ()):
        oid, seq, cs, ts, mid, uid, side, outcome, price, yes_price, qty = o[:11]
        out.append(
            (seq, oid, cs, ts, mid, uid, _ACCEPTED, side, outcome, price, yes_price)
            + (qty, qty, 0, 1)
        )
    out.sort(key=lambda r: (r[0], r[1]))
    return out


@dataclass
class Batch:
    """Rows for one transaction, and the checkpoints it moves between."""

    after: Checkpoint  #: the store's checkpoint this batch follows
    upto: Checkpoint  #: the checkpoint once it is written
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    n_entries: int = 0
    n_events: int = 0
    #: rows already encoded for the store, by table (filled by
    #: :meth:`HistoryStore.prepare`; PostgreSQL: binary ``COPY`` data)
    encoded: dict[str, bytes] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return sum(len(r) for r in self.rows.values())

    @classmethod
    def join(cls, parts: Sequence[Batch]) -> Batch:
        """One batch of consecutive ``parts`` (each following the one before).

        >>> a = Batch(Checkpoint(0, 0), Checkpoint(2, 5), {"fills": [(1,)]}, 2, 5)
        >>> b = Batch(Checkpoint(2, 5), Checkpoint(3, 9), {"fills": [(7,)]}, 1, 4)
        >>> j = Batch.join([a, b])
        >>> j.after, j.upto, j.rows, j.n_entries, j.n_events
        (Checkpoint(cmd_seq=0, event_seq=0), Checkpoint(cmd_seq=3, event_seq=9), \
{'fills': [(1,), (7,)]}, 3, 9)
        """
        if not parts:
            raise ValueError("no batches to join")
        for before, after in zip(parts, parts[1:], strict=False):
            if after.after != before.upto:
                raise ValueError(
                    f"batch after {after.after} does not follow {before.upto}"
                )
        if len(parts) == 1:
            return parts[0]
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for part in parts:
            for name, r in part.rows.items():
                rows.setdefault(name, []).extend(r)
        return cls(
            parts[0].after,
            parts[-1].upto,
            rows,
            sum(p.n_entries for p in parts),
            sum(p.n_events for p in parts),
        )


class _Taker:
    """The incoming order of a place/place_market/amend command."""

    __slots__ = (
        "oid",
        "uid",
        "mid",
        "side",
        "outcome",
        "price",
        "yes_price",
        "remaining",
        "lump",
        "last_seq",
        "ts",
    )

    def __init__(
        self, oid: int, uid: int, mid: int, side: int, outcome: int, price: int
    ) -> None:
        self.oid, self.uid, self.mid = oid, uid, mid
        self.side, self.outcome, self.price = side, outcome, price
        self.yes_price = 0
        self.remaining = 0
        self.lump = 0  # a buy's cash lock not yet spent or released
        self.last_seq = 0
        self.ts = 0


class Deriver:
    """Entries in, rows out; see the module docstring.

    ``markets`` is the configuration of every market already archived (from
    :meth:`HistoryStore.load_markets`); the deriver adds the markets it sees
    created.
    """

    def __init__(self, markets: dict[int, MarketConfig] | None = None) -> None:
        self.markets: dict[int, MarketConfig] = dict(markets or {})

    def derive(self, entries: Sequence[Entry], after: Checkpoint) -> Batch:
        """The rows of ``entries``, which must follow ``after`` with no gap.

        Raises :class:`DeriveError` (and changes nothing) if the entries do
        not continue the checkpoint or break the event rules.
        """
        steps = self.derive_steps(entries, after, len(entries) + 1)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                batch: Batch = done.value
                return batch

    def derive_steps(
        self, entries: Sequence[Entry], after: Checkpoint, step: int
    ) -> Generator[None, None, Batch]:
        """:meth:`derive`, pausing (``yield``) after every ``step`` entries;
        the batch is the generator's return value (``StopIteration.value``).

        The archiver runs its event loop at each pause, so that the write of
        the batch before is answered within a fraction of a millisecond
        instead of waiting for a whole batch's derivation.  The deriver's
        state moves only once the last entry is derived: a generator dropped
        before the end, or one that raises, changes nothing.

        >>> steps = Deriver().derive_steps([], Checkpoint(4, 9), 10)
        >>> try:
        ...     next(steps)
        ... except StopIteration as done:  # no entries: no pause
        ...     print(done.value.upto)
        Checkpoint(cmd_seq=4, event_seq=9)
        """
        if step < 1:
            raise ValueError(f"step must be >= 1, not {step}")
        markets = dict(self.markets)
        out: dict[str, list[tuple[Any, ...]]] = {
            "commands": [],
            "users": [],
            "markets": [],
            "market_status": [],
            "orders": [],
            "order_changes": [],
            "fills": [],
            "ledger_moves": [],
            "rejects": [],
        }
        cmd_seq, ev_seq = after
        n_events = 0
        pause = step
        for entry in entries:
            if entry.seq != cmd_seq + 1:
                raise DeriveError(
                    f"entry {entry.seq} does not follow command seq {cmd_seq}"
                )
            cmd_seq = entry.seq
            first = n = 0
            events = entry.events
            if events:  # (Entry.first_event_seq etc., inlined: a hot loop)
                n = len(events) // EVENT_SIZE
                first = _seq_at(events, 0)[0]
                if first != ev_seq + 1:
                    raise DeriveError(
                        f"entry {entry.seq}: first event {first} does not follow "
                        f"event seq {ev_seq}"
                    )
                ev_seq = _seq_at(events, len(events) - EVENT_SIZE)[0]
                if ev_seq != first + n - 1:
                    raise DeriveError(f"entry {entry.seq}: event seqs are not gap-free")
                n_events += n
            self._entry(entry, first, n, markets, out)
            pause -= 1
            if not pause:
                pause = step
                yield
        batch = Batch(after, Checkpoint(cmd_seq, ev_seq), out, len(entries), n_events)
        self.markets = markets
        return batch

    # ---------------------------------------------------------------- one entry

    def _entry(
        self,
        entry: Entry,
        first: int,
        n: int,
        markets: dict[int, MarketConfig],
        out: dict[str, list[tuple[Any, ...]]],
    ) -> None:
        try:
            cmd: Any = commands.decode(entry.command)
        except commands.CommandDecodeError as exc:
            raise DeriveError(f"entry {entry.seq}: {exc}") from None
        cs = entry.seq
        code = entry.command[1]  # the type code (decode checked it)
        out["commands"].append(
            (
                cs,
                getattr(cmd, "ts", None),
                code,
                entry.key,
                entry.command,
                entry.result,
                first,
                n,
            )
        )
        if code == _CREATE_USER:
            if entry.result >= 0:
                out["users"].append((entry.result, cmd.name, cs))
        elif code == _CREATE_MARKET and entry.result >= 0:
            markets[entry.result] = MarketConfig(
                cmd.payout, cmd.tick, cmd.taker_fee, cmd.maker_fee, cmd.fee_mode
            )
            out["markets"].append(
                (
                    entry.result,
                    cmd.symbol,
                    cmd.payout,
                    cmd.tick,
                    cmd.taker_fee,
                    cmd.maker_fee,
                    cmd.fee_mode,
                    cmd.min_qty,
                    int(cmd.cancel_on_halt),
                    cs,
                    cmd.ts,
                )
            )
        if n:
            max_cost = cmd.max_cost if code == _PLACE_MARKET else 0
            self._events(entry, cs, max_cost, markets, out)

    def _events(
        self,
        entry: Entry,
        cs: int,
        max_cost: int,
        markets: dict[int, MarketConfig],
        out: dict[str, list[tuple[Any, ...]]],
    ) -> None:
        ledger = out["ledger_moves"].append
        updates = out["order_changes"].append
        taker: _Taker | None = None

        for (
            seq,
            ts,
            oid,
            qty,
            user2,
            oid2,
            aux,
            fee,
            fee2,
            mid,
            uid,
            price,
            price2,
            kind,
            side,
            outcome,
            code,
        ) in _RAW_EVENT.iter_unpack(entry.events):
            if kind == _LEVEL:
                continue
            if kind == _FILL:
                m = markets.get(mid) or _no_market(mid, seq)
                if taker is None or taker.oid != oid:
                    raise DeriveError(f"event {seq}: order {oid} fills, not taking")
                q, x, tk_e, fk = qty, price, price2, code
                if fk == _TRANSFER:
                    mk_side, mk_outcome = 1 - side, outcome
                else:  # mint: both buy; merge: both sell; opposite outcomes
                    mk_side, mk_outcome = side, 1 - outcome
                mk_e = x if mk_outcome == 0 else m.payout - x
                mk_uid, mk_oid, mk_left = user2, oid2, aux
                out["fills"].append(
                    (
                        seq,
                        cs,
                        ts,
                        mid,
                        fk,
                        x,
                        q,
                        uid,
                        oid,
                        side,
                        outcome,
                        tk_e,
                        fee,
                        mk_uid,
                        mk_oid,
                        mk_side,
                        mk_outcome,
                        mk_e,
                        fee2,
                        mk_left,
                    )
                )
                taker.remaining -= q
                taker.last_seq = seq
                updates(
                    (
                        seq,
                        oid,
                        cs,
                        ts,
                        mid,
                        uid,
                        kind,
                        side,
                        outcome,
                        taker.price,
                        taker.yes_price,
                        q,
                        taker.remaining,
                        fk,
                        0,
                        0,
                    )
                )
                updates(
                    (
                        seq,
                        mk_oid,
                        cs,
                        ts,
                        mid,
                        mk_uid,
                        kind,
                        mk_side,
                        mk_outcome,
                        mk_e,
                        x,
                        q,
                        mk_left,
                        fk,
                        0,
                        0,
                    )
                )
                tk_share = YES if outcome == 0 else NO
                mk_share = YES if mk_outcome == 0 else NO
                if side == _BUY:
                    paid = q * tk_e + fee
                    taker.lump -= paid
                    ledger((seq, 0, cs, ts, uid, -1, CASH, 0, -paid, kind))
                    ledger((seq, 1, cs, ts, uid, mid, tk_share, q, 0, kind))
                else:
                    ledger((seq, 0, cs, ts, uid, mid, tk_share, 0, -q, kind))
                    ledger((seq, 1, cs, ts, uid, -1, CASH, q * tk_e - fee, 0, kind))
                if mk_side == _BUY:
                    fu = fee_unit(m, mk_e)
                    held = q * (mk_e + fu)
                    back = q * fu - fee2
                    ledger((seq, 2, cs, ts, mk_uid, -1, CASH, back, -held, kind))
                    ledger((seq, 3, cs, ts, mk_uid, mid, mk_share, q, 0, kind))
                else:
                    ledger((seq, 2, cs, ts, mk_uid, mid, mk_share, 0, -q, kind))
                    got = q * mk_e - fee2
                    ledger((seq, 3, cs, ts, mk_uid, -1, CASH, got, 0, kind))
                if fee + fee2:
                    fees = fee + fee2
                    ledger((seq, 4, cs, ts, FEE_ACCOUNT, -1, CASH, fees, 0, kind))
            elif kind == _CANCELED:
                m = markets.get(mid) or _no_market(mid, seq)
                mine = taker is not None and taker.oid == oid
                # what the cancel unlocks: a sell's shares, a resting buy's
                # cash (an incoming buy's remainder is part of its lump); the
                # ledger movement is derived from this column (schema v2)
                if side != _BUY:
                    unlock = qty
                elif not mine:
                    unlock = qty * (price + fee_unit(m, price))
                else:
                    unlock = 0
                updates(
                    (
                        seq,
                        oid,
                        cs,
                        ts,
                        mid,
                        uid,
                        kind,
                        side,
                        outcome,
                        price,
                        price2,
                        qty,
                        0,
                        code,
                        0,
                        -unlock,
                    )
                )
                if taker is not None and mine:
                    taker.remaining -= qty
                    taker.last_seq = seq
            elif kind == _ACCEPTED:
                m = markets.get(mid) or _no_market(mid, seq)
                is_market = (aux >> 2) & 1
                # The order as accepted, and what it locked (cash for a buy,
                # shares for a sell): its accepted order update and ledger
                # movement are derived from this row (views of schema v2).
                if side == _BUY:
                    lock = qty * (price + fee_unit(m, price))
                    if is_market and 0 < max_cost < lock:
                        lock = max_cost
                else:
                    lock = qty
                out["orders"].append(
                    (
                        oid,
                        seq,
                        cs,
                        ts,
                        mid,
                        uid,
                        side,
                        outcome,
                        price,
                        price2,
                        qty,
                        code,
                        user2,
                        oid2,
                        (aux >> 1) & 1,
                        is_market,
                        lock,
                    )
                )
                taker = _Taker(oid, uid, mid, side, outcome, price)
                taker.yes_price, taker.remaining = price2, qty
                taker.last_seq, taker.ts = seq, ts
                if side == _BUY:
                    taker.lump = lock
            elif kind == _AMENDED:
                m = markets.get(mid) or _no_market(mid, seq)
                old_price, old_qty, kept = price2, aux, code
                yes_price = price if outcome == 0 else m.payout - price
                # the lock moves by ``delta`` (cash for a buy, shares for a
                # sell); the ledger movement is derived from it (schema v2)
                if side == _BUY:
                    new = qty * (price + fee_unit(m, price))
                    old = old_qty * (old_price + fee_unit(m, old_price))
                    delta = new - old
                else:
                    new = delta = qty - old_qty
                updates(
                    (
                        seq,
                        oid,
                        cs,
                        ts,
                        mid,
                        uid,
                        kind,
                        side,
                        outcome,
                        price,
                        yes_price,
                        qty,
                        qty,
                        kept,
                        1 - kept,
                        delta,
                    )
                )
                if not kept:  # it re-enters the book and may take liquidity
                    taker = _Taker(oid, uid, mid, side, outcome, price)
                    taker.yes_price, taker.remaining = yes_price, qty
                    taker.last_seq, taker.ts = seq, ts
                    taker.lump = new if side == _BUY else 0
            elif kind == _CASH:
                ledger((seq, 0, cs, ts, uid, -1, CASH, qty, 0, kind))
            elif kind == _PAIR:
                q = qty
                cash = price * q
                sign = 1 if code == 1 else -1  # 1 mint, 2 merge
                ledger((seq, 0, cs, ts, uid, -1, CASH, -sign * cash, 0, kind))
                ledger((seq, 1, cs, ts, uid, mid, YES, sign * q, 0, kind))
                ledger((seq, 2, cs, ts, uid, mid, NO, sign * q, 0, kind))
            elif kind == _SETTLEMENT:
                yes_n, no_n = qty, aux
                paid = price * yes_n + price2 * no_n
                ledger((seq, 0, cs, ts, uid, -1, CASH, paid, 0, kind))
                if yes_n:
                    ledger((seq, 1, cs, ts, uid, mid, YES, -yes_n, 0, kind))
                if no_n:
                    ledger((seq, 2, cs, ts, uid, mid, NO, -no_n, 0, kind))
            elif kind == _MARKET:
                out["market_status"].append((seq, cs, ts, mid, code, price2))
            elif kind == _REJECTED:
                out["rejects"].append(
                    (seq, cs, ts, mid, uid, aux, code, oid, price, qty)
                )
            else:
                raise DeriveError(f"event {seq}: unknown event kind {kind}")
        if taker is not None and taker.side == _BUY:
            m = markets[taker.mid]
            rest = taker.remaining
            refund = taker.lump - rest * (taker.price + fee_unit(m, taker.price))
            if refund:
                ledger(
                    (
                        taker.last_seq,
                        _SETTLE_IDX,
                        cs,
                        taker.ts,
                        taker.uid,
                        -1,
                        CASH,
                        refund,
                        -refund,
                        _SETTLED,
                    )
                )
