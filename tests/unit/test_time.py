"""Time: GTD expiry, and the clock that may not go backwards.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    BID,
    BUY,
    CM,
    GTC,
    GTD,
    NO,
    YES,
    E,
    T,
    acc,
    assert_events,
    canc,
    finish,
    got_events,
    lvl,
    state,
    world,
)

from reference import (
    CANCEL_EXPIRED,
    CMD_DEPOSIT,
    EV_CANCELED,
    EV_LEVEL,
    EV_REJECTED,
    REJ_INVALID_EXPIRY,
    REJ_OK,
    REJ_STALE_TIME,
    REJ_UNKNOWN_USER,
)

# --- time: GTD expiry ------------------------------------------------------------


def test_gtd_expiry_runs_first_even_for_a_rejected_command(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 2, GTD, CM, 5, False, 0, 10) == 1
    assert e.place(b, m, BUY, YES, 500, 1, GTD, CM, 5, False, 0, 8) == 2
    accepted = acc(T(m, b, 2, BUY, YES, ts=5), 500, 1, GTD, 500, BID, expire_ts=8)
    assert_events(e, [accepted, lvl(m, BID, 500, 3, 2, ts=5)])
    # ts 7: nothing is due yet.
    assert e.deposit(9, 1, 7) == -REJ_UNKNOWN_USER
    assert [g[1] for g in got_events(e)] == [EV_REJECTED]
    # ts 9: order 2 (due at 8) expires before the (rejected) command runs.
    assert e.deposit(9, 1, 9) == -REJ_UNKNOWN_USER
    assert_events(
        e,
        [
            canc(T(m, b, 2, BUY, YES, ts=9), 500, 1, CANCEL_EXPIRED, 500, BID),
            lvl(m, BID, 500, 2, 1, ts=9),
            E(EV_REJECTED, ts=9, user=9, qty=1, code=REJ_UNKNOWN_USER,
              aux=CMD_DEPOSIT),
        ],
    )  # fmt: skip
    assert e.balance(b) == (10_000, 0)
    assert e.order(1) is not None  # due at 10: live for ts < 10
    assert e.expire(10) == 1
    assert_events(
        e,
        [
            canc(T(m, a, 1, BUY, YES, ts=10), 500, 2, CANCEL_EXPIRED, 500, BID),
            lvl(m, BID, 500, 0, 0, ts=10),
        ],
    )
    assert e.balance(a) == (10_000, 0)
    assert e.expire(11) == 0
    assert e.last_events() == []
    finish(e)


def test_gtd_orders_expire_in_expiry_then_id_order(engine):
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.place(a, m, BUY, YES, 500, 1, GTD, CM, 0, False, 0, 30) == 1
    assert e.place(a, m, BUY, YES, 450, 1, GTD, CM, 0, False, 0, 20) == 2
    assert e.place(a, m, BUY, YES, 400, 1, GTD, CM, 0, False, 0, 20) == 3
    assert e.place(a, m, BUY, YES, 350, 1) == 4  # GTC: never expires
    assert e.expire(30) == 3
    assert [(g[1], g[5] or g[8]) for g in got_events(e)] == [
        (EV_CANCELED, 2),
        (EV_CANCELED, 3),
        (EV_CANCELED, 1),
        (EV_LEVEL, 450),
        (EV_LEVEL, 400),
        (EV_LEVEL, 500),
    ]
    assert [o[1] for o in e.user_orders(a)] == [4]
    finish(e)


# --- time ---------------------------------------------------------------------------


def test_time_may_not_go_backwards(engine):
    # issue 11: after a command at ts=300 one at ts=50 was accepted, and a GTD
    # order with expire_ts=20 then stayed on the book
    e = engine
    m, (a, b) = world(e, 100_000, 100_000)
    assert e.clock == 0
    assert e.place(a, m, BUY, YES, 500, 1, GTC, CM, 300) == 1
    assert e.clock == 300
    before = state(e)
    stale = [
        ("place", (a, m, BUY, YES, 500, 1, GTC, CM, 50), -REJ_STALE_TIME),
        ("place", (a, m, BUY, YES, 500, 1, GTD, CM, 50, False, 0, 200),
         -REJ_STALE_TIME),
        ("place_market", (a, m, BUY, YES, 1, 0, False, CM, 299), -REJ_STALE_TIME),
        ("cancel", (a, 1, 299), -REJ_STALE_TIME),
        ("amend", (a, 1, 450, 1, 10), -REJ_STALE_TIME),
        ("cancel_all", (a, -1, 10), -REJ_STALE_TIME),
        ("deposit", (a, 5, 10), -REJ_STALE_TIME),
        ("withdraw", (a, 5, 10), -REJ_STALE_TIME),
        ("mint", (a, m, 1, 10), -REJ_STALE_TIME),
        ("merge", (a, m, 1, 10), -REJ_STALE_TIME),
        ("halt", (m, 10), -REJ_STALE_TIME),
        ("resolve", (m, 1000, 10), -REJ_STALE_TIME),
        ("expire", (10,), -REJ_STALE_TIME),
        ("expire", (-1,), -REJ_STALE_TIME),
    ]  # fmt: skip
    for method, args, code in stale:
        assert getattr(e, method)(*args) == code, method
        (ev,) = got_events(e)
        assert ev[1] == EV_REJECTED and ev[10] == REJ_STALE_TIME, method
        assert e.clock == 300 and state(e) == before, method
    with pytest.raises(ValueError, match="clock"):
        e.create_market(1000, 50, 10)
    # ts 0 means "at the clock": a GTD order expiring before it is refused ...
    assert e.place(b, m, BUY, NO, 400, 1, GTD, CM, 0, False, 0, 20) == (
        -REJ_INVALID_EXPIRY
    )
    assert got_events(e)[0][2] == 300  # ... and its event carries the clock
    # the clock moves on with the time given, and GTD expiry follows it
    assert e.place(b, m, BUY, NO, 400, 1, GTD, CM, 0, False, 0, 400) == 2
    assert e.place(b, m, BUY, NO, 350, 1, GTC, CM, 300) == 3  # equal: fine
    assert e.expire(399) == 0 and e.order(2) is not None
    assert e.expire(400) == 1 and e.order(2) is None and e.clock == 400
    assert e.deposit(a, 1) == REJ_OK and got_events(e)[0][2] == 400
    finish(e)


def test_time_rule_in_batches_matches_per_call():
    np = pytest.importorskip("numpy")
    from probo_engine._book import Core
    from probo_engine.batch import Batch, run

    def setup(core):
        m = core.create_market()
        u = core.create_user()
        core.deposit(u, 100_000)
        return m, u

    calls = Core()
    m, u = setup(calls)
    batched = Core()
    setup(batched)
    cmds = Batch(5)
    cmds.place(0, u, m, BUY, YES, 500, 1, ts=300)
    cmds.place(1, u, m, BUY, YES, 500, 1, ts=50)
    cmds.deposit(2, u, 5, ts=10)
    cmds.expire(3, 20)
    cmds.place(4, u, m, BUY, YES, 450, 1, tif=GTD, expire_ts=20)
    out = run(batched, cmds.array)
    expect = [
        calls.place(u, m, BUY, YES, 500, 1, GTC, CM, 300),
        calls.place(u, m, BUY, YES, 500, 1, GTC, CM, 50),
        calls.deposit(u, 5, 10),
        calls.expire(20),
        calls.place(u, m, BUY, YES, 450, 1, GTD, CM, 0, False, 0, 20),
    ]
    assert out.results.tolist() == expect == [1, -109, -109, -109, -107]
    assert batched.state_hash() == calls.state_hash() and batched.clock == 300
    assert np.asarray(out.events["ts"]).tolist()[-1] == 300
