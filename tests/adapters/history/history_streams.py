"""Entries for the history tests: an ``Engine`` driven by command records.

:func:`make_entries` applies a seeded random stream of every kind of command
(orders of every time in force, market orders with budgets, amends, cancels,
mints, merges, deposits and withdrawals, halts, closes and resolutions, in
markets with BPS and curve fees and maker rebates) to a fresh ``Engine`` and
returns one :class:`Entry` per applied command, exactly as the engine runner
builds them: ``Entry(seq, key, encode(cmd), result, engine.events_bytes())``.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from probo_engine import Engine, commands
from probo_engine import commands as C
from probo_engine.adapters.entries import Entry, decode_entry, encode_entry

MS = 1_000_000  # ns


class Driver:
    """An engine plus the entries its commands produced."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.entries: list[Entry] = []
        self.n_events = 0

    def apply(self, cmd: tuple[Any, ...]) -> int:
        result = commands.apply(self.engine, cmd)
        seq = len(self.entries) + 1
        ev = self.engine.events_bytes()
        self.entries.append(
            Entry(seq, f"k{seq}".encode(), commands.encode(cmd), int(result), ev)
        )
        self.n_events += len(self.entries[-1].events) // 96
        return int(result)


MARKET_CONFIGS = [
    C.CreateMarket(symbol="RAIN"),  # payout 1000 tick 50, no fees
    C.CreateMarket(1000, 50, 0, 100, 50, 0, 1, False, "FEES-BPS"),
    C.CreateMarket(100, 1, 0, 700, -25, 1, 1, True, "KALSHI-CURVE"),
    C.CreateMarket(10000, 100, 0, 200, 0, 1, 2, False, "POLY"),
]


def drive(
    seed: int, n_commands: int, n_users: int = 12, driver: Driver | None = None
) -> Driver:
    """Apply ``n_commands`` random commands (after the setup) to a driver."""
    rng = random.Random(seed)
    d = driver or Driver()
    eng = d.engine
    # time never goes backwards (STALE_TIME): a second drive goes on from the clock
    ts = max(1_700_000_000_000 * MS, eng.clock)
    if not d.entries:
        for i in range(n_users):
            d.apply(C.CreateUser(name=f"user{i}" if i % 3 else None))
        for cfg in MARKET_CONFIGS:
            d.apply(cfg._replace(ts=ts))
        for u in range(n_users):
            d.apply(C.Deposit(u, 5_000_000, ts))
            for m, cfg in enumerate(MARKET_CONFIGS):
                d.apply(C.Mint(u, m, 200, ts))
                del cfg
    n_markets = eng.totals()[2]
    live: list[int] = []
    applied = 0
    while applied < n_commands:
        ts += rng.randrange(0, 40) * MS
        r = rng.random()
        u = rng.randrange(n_users)
        m = rng.randrange(n_markets)
        payout, tick, status, _ = eng.market(m)
        cmd: tuple[Any, ...]
        if status == 3 or (status == 2 and rng.random() < 0.9):
            # resolved/closed markets get a fresh one now and then
            if rng.random() < 0.05:
                cfg = MARKET_CONFIGS[rng.randrange(len(MARKET_CONFIGS))]
                cmd = cfg._replace(ts=ts, symbol=None)
                n_markets += 1
            else:
                continue
        elif r < 0.50:
            levels = payout // tick - 1
            center = levels // 2 + (m * 7) % 5 - 2
            tif = rng.choices([0, 1, 2, 3], [70, 12, 6, 12])[0]
            exp = ts + rng.randrange(1, 500) * MS if tif == 3 else 0
            post = tif in (0, 3) and rng.random() < 0.1
            side, outcome, qty = (
                rng.randrange(2),
                rng.randrange(2),
                rng.randrange(1, 60),
            )
            if side == 1:  # sell what the user has (a few oversells stay)
                have = eng.position(u, m)[2 * outcome]
                if have == 0:
                    side = 0
                elif rng.random() < 0.95:
                    qty = min(qty, have)
            if rng.random() < 0.5:  # a crossing order: pay up, or sell down
                off = rng.randrange(1, 6) * (1 if side == 0 else -1)
            else:
                off = rng.randrange(-3, 4)
            p = tick * max(1, min(levels, center + off))
            cmd = C.Place(
                u,
                m,
                side,
                outcome,
                p,
                qty,
                tif,
                rng.randrange(3),
                ts,
                post,
                rng.randrange(1, 2**32) if rng.random() < 0.2 else 0,
                exp,
            )
        elif r < 0.56:
            side = rng.randrange(2)
            budget = (
                rng.randrange(100, 50_000) if side == 0 and rng.random() < 0.5 else 0
            )
            cmd = C.PlaceMarket(
                u,
                m,
                side,
                rng.randrange(2),
                rng.randrange(1, 40),
                budget,
                rng.random() < 0.2,
                rng.randrange(3),
                ts,
            )
        elif r < 0.72 and live:
            oid = live[rng.randrange(len(live))]
            o = eng.order(oid)
            cmd = C.Cancel(o[2] if o and rng.random() < 0.95 else u, oid, ts)
        elif r < 0.84 and live:
            oid = live[rng.randrange(len(live))]
            o = eng.order(oid)
            if o is None:
                continue
            om = o[0]
            opay, otick = eng.market(om)[:2]
            price = o[5] if rng.random() < 0.4 else o[5] + otick * rng.randrange(-2, 3)
            price = max(otick, min(opay - otick, price))
            qty = max(1, o[6] + rng.randrange(-5, 6))
            cmd = C.Amend(o[2], oid, price, qty, ts)
        elif r < 0.86:
            cmd = C.CancelAll(u, m if rng.random() < 0.5 else -1, ts)
        elif r < 0.89:
            cmd = C.Mint(u, m, rng.randrange(1, 30), ts)
        elif r < 0.92:
            cmd = C.Merge(u, m, rng.randrange(1, 30), ts)
        elif r < 0.95:
            cmd = C.Deposit(u, rng.randrange(-10, 100_000), ts)
        elif r < 0.97:
            cmd = C.Withdraw(u, rng.randrange(1, 100_000), ts)
        elif r < 0.975:
            cmd = C.Halt(m, ts) if rng.random() < 0.3 else C.Resume(m, ts)
        elif r < 0.992:
            cmd = C.Expire(ts)
        elif r < 0.9925:
            cmd = C.Close(m, ts)
        elif r < 0.993:
            v = rng.choice([0, payout, payout // 2, rng.randrange(payout + 1)])
            cmd = C.Resolve(m, v, ts)
        else:
            cmd = C.Deposit(u, 250_000, ts)
        try:
            res = d.apply(cmd)
        except (TypeError, ValueError, OverflowError):
            continue  # misuse: the engine refused before changing anything
        applied += 1
        if isinstance(cmd, (C.Place, C.PlaceMarket)) and res > 0:
            live.append(res)
        if len(live) > 400 or rng.random() < 0.05:
            live = [o for o in live if eng.order(o) is not None]
    return d


def entries_for_events(seed: int, n_events: int) -> Driver:
    """A driver whose entries hold at least ``n_events`` events."""
    d = Driver()
    drive(seed, 200, driver=d)
    step = 1
    while d.n_events < n_events:
        drive(seed + step, 2000, driver=d)
        step += 1
    return d


# ------------------------------------------------- a durable entry file (tests)

_LEN = struct.Struct("<I")


def write_entries(path: Path, entries: list[Entry]) -> None:
    """Append length-prefixed :func:`encode_entry` records, then flush."""
    with open(path, "ab") as f:
        for e in entries:
            b = encode_entry(e)
            f.write(_LEN.pack(len(b)) + b)
        f.flush()


def read_entries(path: Path) -> Iterator[Entry]:
    """The complete records of an entry file (a torn tail is ignored)."""
    data = path.read_bytes()
    at = 0
    while at + 4 <= len(data):
        (n,) = _LEN.unpack_from(data, at)
        if at + 4 + n > len(data):
            break
        yield decode_entry(data[at + 4 : at + 4 + n])
        at += 4 + n
