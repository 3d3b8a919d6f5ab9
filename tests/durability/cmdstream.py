"""Seeded command streams and a full-state fingerprint for the durability tests.

``make_stream(seed, n)`` is a pure function of its arguments (it never looks
at an engine), so a crashed child process can regenerate the stream and resume
at any position.  The mix keeps books busy: a few markets on different grids,
a few dozen users, mostly limit orders near the middle of each grid (so they
cross, mint, merge and self-trade), cancels of recent order ids, deposits,
withdrawals, and some commands the engine refuses with a result code (those are
journaled too: their REJECTED event takes a sequence number), among them a few
dated before the engine's clock (STALE_TIME).
"""

from __future__ import annotations

import random
from typing import Any

from probo_engine.commands import (
    Amend,
    Cancel,
    CancelAll,
    Close,
    CreateMarket,
    CreateUser,
    Deposit,
    Expire,
    Halt,
    Merge,
    Mint,
    Place,
    PlaceMarket,
    Resolve,
    Resume,
    Withdraw,
)

GRIDS = [(1000, 50), (100, 1), (10_000, 100)]
#: The engine options the durability tests run with (a per-user order limit
#: makes TOO_MANY_ORDERS refusals part of the stream).
ENGINE_OPTIONS = {"max_open_orders": 60}


def open_db(path: Any, *, c: bool = True, **kw: Any) -> Any:
    """``DurableEngine.open(path, ...)`` with the stream's engine options, its
    replay in C (``c=True``, the default) or forced through the Python path."""
    from probo_engine import journal

    kw.setdefault("engine_options", ENGINE_OPTIONS)
    old = journal.replay.C_REPLAY
    journal.replay.C_REPLAY = c
    try:
        return journal.DurableEngine.open(path, **kw)
    finally:
        journal.replay.C_REPLAY = old


def make_stream(seed: int, n: int) -> list[tuple[int, ...]]:
    """``n`` command records, the same for the same ``seed``.

    A private engine follows along so that most cancels and amends name live
    orders, most sells name shares the user holds, and no command is misuse
    (which would raise); the stream is still a pure function of ``(seed, n)``
    because the engine is deterministic.  Every command type appears.
    """
    from probo_engine import Engine
    from probo_engine.commands import apply

    rng = random.Random(seed)
    sim = Engine(**ENGINE_OPTIONS)
    out: list[tuple[int, ...]] = []
    cids: list[tuple[int, int]] = []

    def add(cmd: tuple[int, ...]) -> None:
        if len(out) < n:
            apply(sim, cmd)
            out.append(cmd)

    def new_market(ts: int, fees: bool) -> None:
        payout, tick = rng.choice(GRIDS)
        if not fees:
            add(CreateMarket(payout, tick, ts))
            return
        add(
            CreateMarket(
                payout,
                tick,
                ts,
                taker_fee=rng.randrange(0, 300),
                maker_fee=rng.randrange(-50, 100),
                fee_mode=rng.randrange(2),
                min_qty=rng.randrange(1, 4),
                cancel_on_halt=rng.random() < 0.5,
            )
        )

    def open_market() -> int:
        n_markets = sim.totals()[2]
        for _ in range(20):
            mid = rng.randrange(n_markets)
            if sim.market(mid)[2] == 0:
                return mid
        return rng.randrange(n_markets)

    for i, (payout, tick) in enumerate(GRIDS):
        add(CreateMarket(payout, tick, i))
    new_market(len(out), fees=True)
    for _ in range(12):
        add(CreateUser())
        add(Deposit(sim.totals()[1] - 1, rng.randrange(200_000, 2_000_000), len(out)))
    clock = 0  # time never goes backwards (an Expire may jump it ahead) ...
    while len(out) < n:
        ts = clock = max(clock, len(out) * 1_000)
        if rng.random() < 0.004:
            # ... except in these: refused with STALE_TIME, and journaled
            add(Deposit(rng.randrange(sim.totals()[1]), 1_000, ts - 1))
            continue
        n_users, n_markets = sim.totals()[1:3]
        uid = rng.randrange(n_users)
        r = rng.random()
        if r < 0.58:
            mid = open_market()
            payout, tick = sim.market(mid)[:2]
            levels = payout // tick - 1
            spread = max(2, levels // 25)
            idx = min(levels, max(1, levels // 2 + round(rng.gauss(0, spread))))
            price = idx * tick
            outcome = rng.randrange(2)
            qty = rng.randrange(1, 40)
            side = 0
            held = sim.position(uid, mid)[0 if outcome == 0 else 2]
            if held and rng.random() < 0.6:
                side, qty = 1, rng.randrange(1, held + 1)
            elif rng.random() < 0.05:
                side = 1  # probably more than held: INSUFFICIENT_SHARES
            if rng.random() < 0.01:
                price += tick // 2 or payout  # off the grid: PRICE_OFF_GRID
            if rng.random() < 0.005:
                uid = n_users + 3  # UNKNOWN_USER
            tif = rng.choices((0, 1, 2, 3), (75, 10, 5, 10))[0]
            stp = rng.choices((0, 1, 2), (80, 10, 10))[0]
            post_only = tif in (0, 3) and rng.random() < 0.05
            expire_ts = ts + rng.randrange(1, 300_000) if tif == 3 else 0
            client_id = 0
            if rng.random() < 0.1:
                if cids and rng.random() < 0.2:
                    uid, client_id = rng.choice(cids)  # maybe a duplicate
                else:
                    client_id = rng.randrange(1, 2**32)
                    cids.append((uid, client_id))
            add(
                Place(uid, mid, side, outcome, price, qty, tif, stp, ts,
                      post_only, client_id, expire_ts)
            )  # fmt: skip
        elif r < 0.62:
            mid = open_market()
            outcome = rng.randrange(2)
            held = sim.position(uid, mid)[0 if outcome == 0 else 2]
            fok = rng.random() < 0.2
            cid = rng.randrange(1, 2**32) if rng.random() < 0.05 else 0
            if held and rng.random() < 0.5:
                qty = rng.randrange(1, held + 1)
                add(PlaceMarket(uid, mid, 1, outcome, qty, 0, fok, 0, ts, cid))
            else:
                budget = rng.choice((0, rng.randrange(1, 30_000)))
                qty = rng.randrange(1, 30)
                add(PlaceMarket(uid, mid, 0, outcome, qty, budget, fok, 0, ts, cid))
        elif r < 0.80:
            live = sim.user_orders(uid)
            oid = rng.choice(live)[1] if live else rng.randrange(1, 10**6)
            add(Cancel(uid, oid, ts))
        elif r < 0.84:
            live = sim.user_orders(uid)
            if live:
                order = rng.choice(live)
                mid, oid, price, qty = order[0], order[1], order[5], order[6]
                tick = sim.market(mid)[1]
                new_price = max(tick, price + tick * rng.randrange(-2, 3))
                new_qty = max(1, qty + rng.randrange(-qty, 10))
                add(Amend(uid, oid, new_price, new_qty, ts))
            else:
                add(Amend(uid, rng.randrange(1, 10**6), 500, 1, ts))
        elif r < 0.845:
            add(CancelAll(uid, rng.choice((-1, open_market())), ts))
        elif r < 0.87:
            mid = open_market()
            y, _, no, _ = sim.position(uid, mid)
            if min(y, no) > 0 and rng.random() < 0.5:
                add(Merge(uid, mid, rng.randrange(1, min(y, no) + 1), ts))
            else:
                add(Mint(uid, mid, rng.randrange(1, 20), ts))
        elif r < 0.92:
            add(Deposit(uid, rng.randrange(0, 80_000), ts))
        elif r < 0.96:
            avail = sim.balance(uid)[0]
            if rng.random() < 0.9:
                amount = rng.randrange(1, max(2, avail // 4))
            else:
                amount = avail + 1  # INSUFFICIENT_FUNDS
            add(Withdraw(uid, amount, ts))
        elif r < 0.972:
            add(CreateUser())
            add(Deposit(sim.totals()[1] - 1, rng.randrange(10_000, 500_000), ts))
        elif r < 0.985:
            clock = ts + rng.randrange(0, 50_000)
            add(Expire(clock))
        elif r < 0.996:
            mid = rng.randrange(n_markets)
            status = sim.market(mid)[2]
            if status == 1:
                add(Resume(mid, ts))
            elif rng.random() < 0.9:
                add(Halt(mid, ts))
            else:
                add(Resume(mid, ts))  # from OPEN: INVALID_TRANSITION
        elif n_markets < 10:
            new_market(ts, fees=rng.random() < 0.5)
        else:
            mid = rng.randrange(n_markets)
            payout = sim.market(mid)[0]
            if rng.random() < 0.5:
                add(Close(mid, ts))
            else:
                add(Resolve(mid, rng.choice((0, payout, payout // 2, payout + 1)), ts))
            new_market(ts, fees=rng.random() < 0.5)
    return out


def fingerprint(eng: Any) -> dict[str, Any]:
    """Everything the queries show, plus the event sequence number.

    Includes ``state_hash()`` when the core has it.
    """
    _net, n_users, n_markets, _live = eng.totals()
    markets = []
    for m in range(n_markets):
        payout, tick, _status, _pairs = eng.market(m)
        levels = payout // tick
        markets.append(
            (
                eng.market(m),
                eng.top(m),
                eng.last_price(m),
                eng.depth(m, levels),
                eng.book_orders(m),
            )
        )
    state = {
        "totals": eng.totals(),
        "last_seq": last_seq() if callable(last_seq := eng.last_seq) else last_seq,
        "balances": [eng.balance(u) for u in range(n_users)],
        "positions": [
            eng.position(u, m) for u in range(n_users) for m in range(n_markets)
        ],
        "user_orders": [eng.user_orders(u) for u in range(n_users)],
        "markets": markets,
    }
    for name in ("fees", "limits"):
        if hasattr(eng, name):
            state[name] = getattr(eng, name)()
    if hasattr(eng, "market_config"):
        state["market_config"] = [eng.market_config(m) for m in range(n_markets)]
    if hasattr(eng, "state_hash"):
        state["state_hash"] = eng.state_hash()
    return state


def reference_run(stream: list[tuple[int, ...]], engine_cls: Any = None) -> Any:
    """An engine that applied ``stream`` directly, with no journal."""
    from probo_engine import Engine
    from probo_engine.commands import apply

    eng = (engine_cls or Engine)(**ENGINE_OPTIONS)
    for cmd in stream:
        apply(eng, cmd)
    return eng
