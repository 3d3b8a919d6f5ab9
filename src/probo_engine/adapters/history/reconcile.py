"""Reconciliation: does the history agree with the engine at command seq N?

:func:`reconcile` rebuilds, from the database alone, every user's cash and
shares (the sums of the ledger up to command N), the fee account, every
market's configuration and status, and every market's resting orders in
priority order (from the order updates), and compares each with an engine
that has applied exactly commands 1..N.  It also checks that the history
holds commands 1..N once each with gap-free events.  It returns every
difference it finds (an empty list: the history is exact).

The engine at N comes from wherever the caller has it: a snapshot plus the
journal, or :func:`engine_at`, which applies the entries' commands to a fresh
:class:`~probo_engine.Engine` (exact, because the engine is deterministic).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from probo_engine import commands
from probo_engine.adapters.entries import EntrySource
from probo_engine.engine import Engine

from .queries import _book_orders, balances_at, market_status_at
from .schema import CASH, FEE_ACCOUNT, NO, YES
from .store import HistoryStore, open_store

__all__ = [
    "Difference",
    "ReconcileConfig",
    "engine_at",
    "reconcile",
    "run_reconcile",
]


class Difference(NamedTuple):
    """One thing the history and the engine disagree on."""

    what: str  #: "commands", "users", "market", "cash", "shares", "fees", "book"
    key: tuple[int, ...]  #: e.g. (uid,), (uid, mid, asset), (mid,)
    history: Any  #: the value rebuilt from the database
    engine: Any  #: the engine's value

    def __str__(self) -> str:
        return (
            f"{self.what} {self.key}: history {self.history!r}, engine {self.engine!r}"
        )


async def engine_at(
    source: EntrySource,
    seq: int,
    *,
    engine: Engine | None = None,
    timeout: float = 10.0,
    batch: int = 4096,
) -> Engine:
    """A fresh :class:`Engine` with the commands of entries ``1..seq`` applied.

    ``engine``: the fresh engine to apply them to, built with the same limits
    (``max_qty``, ``max_open_orders``, ...) as the one that produced the
    entries; default ``Engine()``.  Raises ``ValueError`` if the source has no
    entry ``seq`` within ``timeout`` seconds, or if a command's result differs
    from the one its entry recorded (the entries were not produced from such
    a fresh engine).
    """
    eng = Engine() if engine is None else engine
    if eng.totals()[1:] != (0, 0, 0):
        raise ValueError("engine_at needs a fresh engine (no users, markets, orders)")
    at = 0
    while at < seq:
        entries = await source.read(at, min(batch, seq - at), timeout)
        if not entries:
            raise ValueError(f"the entry source ends at {at}, before {seq}")
        for e in entries:
            if e.seq != at + 1:
                raise ValueError(f"entry {e.seq} read after {at}")
            got = commands.apply(eng, commands.decode(e.command))
            if int(got) != e.result:
                raise ValueError(
                    f"entry {e.seq}: the command returned {got}, the entry says "
                    f"{e.result}: the entries do not start from a fresh engine"
                )
            at = e.seq
        await asyncio.sleep(0)  # let the loop breathe between batches
    return eng


async def reconcile(store: HistoryStore, engine: Any, seq: int) -> list[Difference]:
    """Every difference between the history up to command ``seq`` and ``engine``.

    ``engine`` must have applied exactly commands 1..``seq`` (an
    :class:`Engine`, or a bare ``Core``: then names are not compared).
    Raises ``ValueError`` if the history does not reach ``seq`` yet.
    """
    cp = await store.checkpoint()
    if cp.cmd_seq < seq:
        raise ValueError(f"the history reaches command {cp.cmd_seq}, not {seq}")
    diffs: list[Difference] = []
    _, n_users, n_markets, _ = engine.totals()

    # 1. commands 1..seq, once each, events gap-free from 1
    (n_cmd, n_ev, last_ev), *_ = await store.fetch(
        "SELECT COUNT(*), CAST(COALESCE(SUM(n_events), 0) AS BIGINT), "
        "COALESCE(MAX(CASE WHEN n_events > 0 THEN first_event + n_events - 1 END), 0) "
        "FROM commands WHERE seq <= ?",
        (seq,),
    )
    if n_cmd != seq:
        diffs.append(Difference("commands", (seq,), n_cmd, seq))
    if n_ev != last_ev:
        diffs.append(Difference("events", (seq,), n_ev, last_ev))

    # 2. users and markets
    users = await store.fetch(
        "SELECT uid, name FROM users WHERE cmd_seq <= ? ORDER BY uid", (seq,)
    )
    if [u for u, _ in users] != list(range(n_users)):
        diffs.append(Difference("users", (), len(users), n_users))
    names = getattr(engine, "user_name", None)
    if names is not None:
        for uid, name in users:
            if uid < n_users and names(uid) != name:
                diffs.append(Difference("user name", (uid,), name, names(uid)))
    rows = await store.fetch(
        "SELECT mid, payout, tick, taker_fee, maker_fee, fee_mode, min_qty, "
        "cancel_on_halt, symbol FROM markets WHERE cmd_seq <= ? ORDER BY mid",
        (seq,),
    )
    if [r[0] for r in rows] != list(range(n_markets)):
        diffs.append(Difference("markets", (), len(rows), n_markets))
    symbol = getattr(engine, "market_symbol", None)
    status = await market_status_at(store, seq)
    for r in rows:
        mid = r[0]
        if mid >= n_markets:
            continue
        cfg = tuple(engine.market_config(mid)[:7])
        if tuple(r[1:7]) + (bool(r[7]),) != cfg[:6] + (bool(cfg[6]),):
            diffs.append(Difference("market config", (mid,), tuple(r[1:8]), cfg))
        if symbol is not None and symbol(mid) != r[8]:
            diffs.append(Difference("market symbol", (mid,), r[8], symbol(mid)))
        st = engine.market(mid)[2]
        if status.get(mid) != st:
            diffs.append(Difference("market status", (mid,), status.get(mid), st))

    # 3. every balance and position, and the fee account
    bal = await balances_at(store, seq)
    zero = (0, 0)
    for uid in range(n_users):
        got = bal.pop((uid, -1, CASH), zero)
        want = tuple(engine.balance(uid))
        if got != want:
            diffs.append(Difference("cash", (uid,), got, want))
        for mid in range(n_markets):
            ya, yl, na, nl = engine.position(uid, mid)
            for asset, want in ((YES, (ya, yl)), (NO, (na, nl))):
                got = bal.pop((uid, mid, asset), zero)
                if got != want:
                    diffs.append(Difference("shares", (uid, mid, asset), got, want))
    fees = bal.pop((FEE_ACCOUNT, -1, CASH), zero)
    if fees != (engine.fees(), 0):
        diffs.append(Difference("fees", (), fees, (engine.fees(), 0)))
    for key, got in sorted(bal.items()):
        if got != zero:  # a balance of a user or market the engine does not have
            diffs.append(Difference("unknown balance", key, got, None))

    # 4. every market's resting orders, in priority order
    upto = last_ev
    for mid in range(n_markets):
        db = [tuple(o) for o in await _book_orders(store, mid, upto)]
        eng = [tuple(o) for o in engine.book_orders(mid)]
        if db != eng:
            diffs.append(Difference("book", (mid,), db, eng))
    return diffs


@dataclass(frozen=True)
class ReconcileConfig:
    """What ``probo reconcile`` needs."""

    #: the history store URL
    store: str
    #: the entries the engine applied (to rebuild the engine at ``seq``)
    source: EntrySource
    #: the command seq to compare at (None: the store's checkpoint)
    seq: int | None = None
    #: makes the fresh engine the entries are applied to (same limits as the
    #: engine that produced them)
    engine_factory: Callable[[], Engine] = Engine
    connect_timeout: float = 10.0
    command_timeout: float = 600.0


async def run_reconcile(config: ReconcileConfig) -> tuple[int, list[Difference]]:
    """Rebuild the engine from the source at ``seq`` and reconcile.

    Returns ``(seq, differences)``.
    """
    store = await open_store(
        config.store,
        migrate=False,
        connect_timeout=config.connect_timeout,
        command_timeout=config.command_timeout,
    )
    try:
        seq = (
            config.seq if config.seq is not None else (await store.checkpoint()).cmd_seq
        )
        engine = await engine_at(config.source, seq, engine=config.engine_factory())
        return seq, await reconcile(store, engine, seq)
    finally:
        await store.close()
