"""The deriver alone (no database): its ledger is the engine's ledger, and
batch boundaries do not change its rows."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from history_streams import drive

from probo_engine import commands as C
from probo_engine.adapters.history import Checkpoint, DeriveError, Deriver
from probo_engine.adapters.history.derive import (
    Batch,
    MarketConfig,
    fee_unit,
    ledger_rows,
    order_update_rows,
)


@pytest.mark.parametrize("seed", range(8))
def test_ledger_sums_to_the_engines_balances(seed):
    d = drive(100 + seed, 2500)
    late = 2**62  # expires every GTD order, then settles two markets
    d.apply(C.Resolve(0, 1000, late))
    d.apply(C.Resolve(3, 3700, late))
    batch = Deriver().derive(d.entries, Checkpoint(0, 0))
    total: dict[tuple[int, int, int], list[int]] = defaultdict(lambda: [0, 0])
    ledger = ledger_rows(batch.rows)  # the stored movements and the orders' locks
    for _seq, _idx, _cs, _ts, uid, mid, asset, da, dl, _reason in ledger:
        total[(uid, mid, asset)][0] += da
        total[(uid, mid, asset)][1] += dl
    eng = d.engine
    _, n_users, n_markets, _ = eng.totals()
    for uid in range(n_users):
        assert tuple(total.pop((uid, -1, 0), (0, 0))) == eng.balance(uid)
        for mid in range(n_markets):
            ya, yl, na, nl = eng.position(uid, mid)
            assert tuple(total.pop((uid, mid, 1), (0, 0))) == (ya, yl)
            assert tuple(total.pop((uid, mid, 2), (0, 0))) == (na, nl)
    assert tuple(total.pop((-1, -1, 0))) == (eng.fees(), 0)
    assert all(v == [0, 0] for v in total.values())
    # the stream exercised what the rules are about
    reasons = {r[9] for r in ledger}
    assert {0, 1, 3, 4, 7, 8, 9, 10} <= reasons
    assert any(r[18] < 0 for r in batch.rows["fills"])  # a maker rebate
    assert {r[4] for r in batch.rows["fills"]} == {0, 1, 2}  # every fill kind


def test_batch_boundaries_do_not_change_the_rows():
    d = drive(7, 2000)
    whole = Deriver().derive(d.entries, Checkpoint(0, 0))
    rng = random.Random(3)
    rows: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    cp, markets, at = Checkpoint(0, 0), {}, 0
    while at < len(d.entries):
        n = rng.randint(1, 300)
        der = Deriver(markets)  # a fresh deriver, as after a restart
        b = der.derive(d.entries[at : at + n], cp)
        for name, r in b.rows.items():
            rows[name] += r
        cp, markets, at = b.upto, der.markets, at + n
    assert cp == whole.upto
    assert dict(rows) == whole.rows


def test_derive_steps_pauses_and_gives_the_same_batch():
    # the archiver derives in steps, running its event loop at each pause
    d = drive(7, 2000)
    whole = Deriver().derive(d.entries, Checkpoint(0, 0))
    der = Deriver()
    steps = der.derive_steps(d.entries, Checkpoint(0, 0), 32)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            batch = done.value
            break
        pauses += 1
        assert der.markets == {}  # the state moves only at the end
    assert pauses == len(d.entries) // 32
    assert (batch.upto, batch.rows) == (whole.upto, whole.rows)
    at_once = Deriver()
    at_once.derive(d.entries, Checkpoint(0, 0))
    assert der.markets and der.markets == at_once.markets
    # dropped half way: nothing changed
    half = Deriver()
    steps = half.derive_steps(d.entries, Checkpoint(0, 0), 32)
    for _ in range(pauses // 2):
        next(steps)
    steps.close()
    assert half.markets == {}
    with pytest.raises(ValueError, match="step"):
        next(Deriver().derive_steps(d.entries, Checkpoint(0, 0), 0))


def test_each_acceptance_is_one_orders_row():
    # Schema v2: an accepted order is stored once; its order update and its
    # lock are derived from the orders row (the database's views do the same).
    d = drive(5, 1500)
    rows = Deriver().derive(d.entries, Checkpoint(0, 0)).rows
    assert rows["orders"]
    assert all(r[6] != 1 for r in rows["order_changes"])  # no ACCEPTED change
    # no ACCEPTED, CANCELED or AMENDED movement stored: they are derived
    assert all(r[9] not in (1, 4, 8) for r in rows["ledger_moves"])
    updates = order_update_rows(rows)
    ledger = ledger_rows(rows)
    assert len(updates) == len(rows["order_changes"]) + len(rows["orders"])
    moved = [c for c in rows["order_changes"] if c[6] == 8 or c[15]]
    assert {c[6] for c in moved} == {4, 8}
    assert all(c[15] == 0 for c in rows["order_changes"] if c[6] == 3)  # fills
    assert len(ledger) == len(rows["ledger_moves"]) + len(rows["orders"]) + len(moved)
    by_seq = {r[0]: r for r in ledger if r[9] == 1}
    for o in rows["orders"]:
        oid, seq, uid, side, qty, locked = o[0], o[1], o[5], o[6], o[10], o[16]
        assert locked > 0
        if side == 1:
            assert locked == qty  # a sell locks its shares
        lock = by_seq[seq]
        assert (lock[4], lock[7], lock[8]) == (uid, -locked, locked)
        assert (seq, oid) in {(u[0], u[1]) for u in updates if u[6] == 1}


def test_a_failed_derive_leaves_the_deriver_unchanged():
    d = drive(8, 300)
    der = Deriver()
    first = der.derive(d.entries[:100], Checkpoint(0, 0))
    before = dict(der.markets)
    with pytest.raises(DeriveError, match="does not follow"):
        der.derive(d.entries[150:200], first.upto)
    assert der.markets == before


def test_fee_unit_follows_the_semantics():
    bps = MarketConfig(1000, 50, 100, 50, 0)
    assert fee_unit(bps, 600) == 6  # ceil(100 * 600 / 10000)
    assert fee_unit(bps, 50) == 1  # ceil(0.5)
    curve = MarketConfig(100, 1, 700, -25, 1)
    # ceil(700 * 30 * 70 / (100 * 10000)) = ceil(1.47)
    assert fee_unit(curve, 30) == 2
    # above the middle the curve's maximum is used: 50 * 50
    assert fee_unit(curve, 80) == fee_unit(curve, 50) == 2  # ceil(1.75)
    assert fee_unit(MarketConfig(1000, 50, 0, 0, 0), 600) == 0
    assert fee_unit(MarketConfig(1000, 50, 0, -30, 0), 600) == 0  # rebates only


def test_events_in_a_market_it_never_saw_are_refused():
    d = drive(8, 300)
    whole = Deriver()
    k = 100
    head = whole.derive(d.entries[:k], Checkpoint(0, 0))
    # a deriver that was not given the market configurations (a bug upstream)
    with pytest.raises(DeriveError, match="was never created"):
        Deriver().derive(d.entries[k:], head.upto)


def test_slices_joined_are_the_batch_the_archiver_writes():
    # The archiver derives a batch in slices (one deriver, consecutive
    # slices) and joins them: the joined batch is the batch derived at once.
    d = drive(7, 1500)
    whole = Deriver().derive(d.entries, Checkpoint(0, 0))
    der, cp, parts = Deriver(), Checkpoint(0, 0), []
    for i in range(0, len(d.entries), 97):
        parts.append(der.derive(d.entries[i : i + 97], cp))
        cp = parts[-1].upto
    joined = Batch.join(parts)
    assert (joined.after, joined.upto) == (whole.after, whole.upto)
    assert joined.rows == whole.rows
    assert (joined.n_entries, joined.n_events) == (whole.n_entries, whole.n_events)
    with pytest.raises(ValueError, match="does not follow"):
        Batch.join([parts[0], parts[2]])
    with pytest.raises(ValueError):
        Batch.join([])


def test_self_fills_and_client_cancels_derive_the_engines_ledger():
    # stp NONE: one user on both sides of a transfer, a mint and a merge (in
    # a fresh market with fees), and a cancel by client id: the ledger still
    # sums to the engine's balances.
    d = drive(7, 300)
    eng, u = d.engine, 0
    ts = eng.clock
    m = d.apply(C.CreateMarket(1000, 50, ts, 100, 50))
    assert d.apply(C.Mint(u, m, 10, ts)) == 0
    kinds = []
    for cmd in [
        C.Place(u, m, 1, 0, 500, 5, 0, 0, ts, False, 41),  # sell YES, rests
        C.Place(u, m, 0, 0, 500, 3, 1, 3, ts),  # buys 3 of it from itself
        C.CancelClient(u, 41, ts),  # the other 2
        C.Place(u, m, 0, 0, 450, 4, 0, 0, ts),  # buy YES, rests
        C.Place(u, m, 0, 1, 550, 4, 1, 3, ts),  # buy NO: mints with itself
        C.Place(u, m, 1, 0, 400, 2, 0, 0, ts),  # sell YES, rests
        C.Place(u, m, 1, 1, 600, 2, 1, 3, ts),  # sell NO: merges with itself
    ]:
        assert d.apply(cmd) >= 0
        for ev in eng.last_events():
            if ev[1] == 3:  # FILL
                assert ev[4] == ev[11] == u
                kinds.append(ev[10])
    assert kinds == [0, 1, 2]
    assert eng.user_orders(u) == [] or all(o[0] != m for o in eng.user_orders(u))
    batch = Deriver().derive(d.entries, Checkpoint(0, 0))
    total: dict[tuple[int, int, int], list[int]] = defaultdict(lambda: [0, 0])
    for _seq, _idx, _cs, _ts, uid, mid, asset, da, dl, _r in ledger_rows(batch.rows):
        total[(uid, mid, asset)][0] += da
        total[(uid, mid, asset)][1] += dl
    assert tuple(total[(u, -1, 0)]) == eng.balance(u)
    ya, yl, na, nl = eng.position(u, m)
    assert tuple(total[(u, m, 1)]) == (ya, yl)
    assert tuple(total[(u, m, 2)]) == (na, nl)
    assert tuple(total[(-1, -1, 0)]) == (eng.fees(), 0)
