"""Command streams for the bus tests.

``setup_commands()`` creates the markets and funded users every stream needs;
``random_commands(seed, n)`` is a pure function of its arguments that never
looks at an engine, so any number of concurrent clients can send their own
slices in any interleaving: every command is well-formed (no misuse), and the
ones that do not fit the state at the time (a cancel of an order that is not
live, an order without the cash) are refused with a result code, which is an
applied, journaled command too.
"""

from __future__ import annotations

import random

from probo_engine.commands import (
    Amend,
    Cancel,
    CancelAll,
    CommandRecord,
    CreateMarket,
    CreateUser,
    Deposit,
    Merge,
    Mint,
    Place,
    PlaceMarket,
    Withdraw,
)

N_USERS = 16
GRIDS = [(1000, 50), (100, 1), (10_000, 100)]


def setup_commands() -> list[CommandRecord]:
    out: list[CommandRecord] = []
    for i, (payout, tick) in enumerate(GRIDS):
        out.append(CreateMarket(payout, tick, symbol=f"M{i}"))
    for u in range(N_USERS):
        out.append(CreateUser(name=f"user{u}"))
        out.append(Deposit(u, 50_000_000))
    return out


def random_commands(seed: int, n: int) -> list[CommandRecord]:
    rng = random.Random(seed)
    out: list[CommandRecord] = []
    while len(out) < n:
        uid = rng.randrange(N_USERS)
        mid = rng.randrange(len(GRIDS))
        payout, tick = GRIDS[mid]
        levels = payout // tick - 1
        r = rng.random()
        if r < 0.6:
            idx = min(levels, max(1, levels // 2 + round(rng.gauss(0, levels / 20))))
            out.append(
                Place(uid, mid, rng.randrange(2), rng.randrange(2), idx * tick,
                      rng.randrange(1, 30), rng.choices((0, 1, 2), (85, 10, 5))[0])
            )  # fmt: skip
        elif r < 0.63:
            out.append(PlaceMarket(uid, mid, 0, rng.randrange(2), rng.randrange(1, 9)))
        elif r < 0.8:
            out.append(Cancel(uid, rng.randrange(1, 4 * n)))
        elif r < 0.84:
            out.append(
                Amend(uid, rng.randrange(1, 4 * n), tick * rng.randrange(1, levels),
                      rng.randrange(1, 20))
            )  # fmt: skip
        elif r < 0.85:
            out.append(CancelAll(uid, mid))
        elif r < 0.9:
            out.append(Mint(uid, mid, rng.randrange(1, 10)))
        elif r < 0.93:
            out.append(Merge(uid, mid, rng.randrange(1, 5)))
        elif r < 0.97:
            out.append(Deposit(uid, rng.randrange(1, 100_000)))
        else:
            out.append(Withdraw(uid, rng.randrange(1, 100_000)))
    return out
