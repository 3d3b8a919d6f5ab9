"""The two invariant checkers of the core refuse the same broken states.

``_invariants.check`` (``Core.check_invariants``, the plain oracle) and
``_invariants.check_tuned`` (what ``Core.restore`` runs) must agree: both
accept every state a real command stream reaches, and both refuse each state
``_invariants._break`` makes by breaking one field the way a bug could.  (A
PROBO_DEBUG=1 build also runs both after every command of the unit scenarios.)
"""

from __future__ import annotations

import random

import pytest

from probo_engine import Core, InvariantError
from probo_engine._invariants import _break, check, check_tuned

KINDS = (
    "fee_balance",
    "net_cash",
    "user_avail",
    "outstanding",
    "position_avail",
    "pos_map_size",
    "pos_map_val",
    "position_key",
    "free_slot",
    "free_head",
    "empty_bit",
    "order_qty",
    "order_oid",
    "order_prev",
    "order_tif",
    "order_bside",
    "order_uid",
    "order_unext",
    "order_client_id",
    "level_total",
    "level_count",
    "level_touched",
    "level_tail",
    "best",
    "market_n_orders",
    "market_closed",
    "market_bit",
    "n_live",
    "oid_map_size",
    "cid_map_size",
    "oid_map_val",
    "user_locked",
    "user_n_orders",
    "user_head",
    "user_tail",
    "gtd_n_gtd",
    "gtd_expiry",
    "gtd_heap_order",
)


def play(seed: int, n: int) -> list[bytes]:
    """Snapshots of a seeded mixed stream (fees, GTD, client ids, sells),
    every 40 commands; both checkers must accept every state on the way."""
    rng = random.Random(seed)
    core = Core()
    core.create_market(1000, 50, 0, 100, -30, 0)
    core.create_market(100, 1, 0, 200, 0, 1)
    for u in range(4):
        core.create_user()
        core.deposit(u, 5_000_000)
        core.mint(u, 0, 200)
        core.mint(u, 1, 200)
    states = []
    for i in range(n):
        ts = 10 + i
        u, m = rng.randrange(4), rng.randrange(2)
        payout, tick = ((1000, 50), (100, 1))[m]
        r = rng.random()
        if r < 0.7:
            tif = rng.choice((0, 0, 1, 3))
            core.place(
                u,
                m,
                rng.randrange(2),
                rng.randrange(2),
                rng.randrange(tick, payout, tick),
                rng.randint(1, 30),
                tif,
                rng.randrange(3),
                ts,
                False,
                rng.choice((0, rng.randint(1, 50))),
                ts + rng.randint(5, 400) if tif == 3 else 0,
            )
        elif r < 0.85:
            core.cancel(u, rng.randint(1, i + 1), ts)
        elif r < 0.95:
            core.amend(
                u,
                rng.randint(max(1, i - 30), i + 1),
                rng.randrange(tick, payout, tick),
                rng.randint(1, 30),
                ts,
            )
        else:
            core.merge(u, m, rng.randint(1, 3), ts)
        check(core)
        check_tuned(core)
        if i % 40 == 39:
            states.append(core.snapshot())
    return states


STATES = play(7, 400)


def test_the_stream_reaches_states_worth_breaking():
    # the corruptions below need resting GTD orders, client ids, free slots
    core = Core.restore(STATES[-1])
    assert core.totals()[3] > 20
    assert any(_break(Core.restore(s), "gtd_expiry") for s in STATES)
    assert any(_break(Core.restore(s), "free_slot") for s in STATES)


@pytest.mark.parametrize("kind", KINDS)
def test_both_checkers_refuse_each_broken_state(kind):
    broken = 0
    for blob in STATES:
        core = Core.restore(blob)
        if not _break(core, kind):
            continue
        broken += 1
        with pytest.raises(InvariantError):
            check(core)
        with pytest.raises(InvariantError):
            check_tuned(core)
        with pytest.raises(InvariantError):
            core.check_invariants()
    assert broken > 0, f"no state had anything to break as {kind}"


def test_an_unknown_kind_breaks_nothing():
    core = Core.restore(STATES[-1])
    assert not _break(core, "no such field")
    core.check_invariants()
    assert core.snapshot() == STATES[-1]
