"""The market lifecycle: halt, resume, close, resolve and settle.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    ASK,
    BID,
    BUY,
    NO,
    SELL,
    YES,
    E,
    T,
    assert_events,
    canc,
    finish,
    got_events,
    lvl,
    world,
)

from reference import (
    CANCEL_CLOSED,
    CANCEL_HALTED,
    CANCEL_RESOLVED,
    EV_CANCELED,
    EV_LEVEL,
    EV_MARKET,
    EV_SETTLEMENT,
    FEE_BPS,
    MARKET_CLOSED,
    MARKET_HALTED,
    MARKET_OPEN,
    MARKET_RESOLVED,
    REJ_INSUFFICIENT_SHARES,
    REJ_INVALID_TRANSITION,
    REJ_MARKET_NOT_OPEN,
    REJ_OK,
)

# --- lifecycle and settlement --------------------------------------------------


def test_halt_resume_close(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 2) == 1
    assert e.halt(m, 3) == REJ_OK
    assert_events(
        e, [E(EV_MARKET, ts=3, market=m, price=1000, qty=50, code=MARKET_HALTED)]
    )
    assert e.top(m) == (500, 2, 0, 0)  # orders stay (no cancel_on_halt)
    assert e.place(b, m, BUY, NO, 500, 1) == -REJ_MARKET_NOT_OPEN
    assert e.mint(b, m, 1) == -REJ_MARKET_NOT_OPEN
    assert e.merge(b, m, 1) == -REJ_INSUFFICIENT_SHARES  # merges are allowed
    assert e.resume(m) == REJ_OK
    assert e.market(m)[2] == MARKET_OPEN
    assert e.close(m, 4) == REJ_OK
    assert_events(
        e,
        [
            canc(T(m, a, 1, BUY, YES, ts=4), 500, 2, CANCEL_CLOSED, 500, BID),
            lvl(m, BID, 500, 0, 0, ts=4),
            E(EV_MARKET, ts=4, market=m, price=1000, qty=50, code=MARKET_CLOSED),
        ],
    )
    assert e.balance(a) == (10_000, 0)
    assert e.resume(m) == -REJ_INVALID_TRANSITION
    assert e.halt(m) == -REJ_INVALID_TRANSITION
    finish(e)


def test_halt_with_cancel_on_halt(engine):
    e = engine
    m = e.create_market(1000, 50, 0, 0, 0, FEE_BPS, 1, True)
    a = e.create_user()
    e.deposit(a, 10_000)
    assert e.place(a, m, BUY, YES, 500, 2) == 1
    assert e.place(a, m, BUY, NO, 300, 1) == 2
    assert e.halt(m) == REJ_OK
    assert [(g[1], g[10]) for g in got_events(e)] == [
        (EV_CANCELED, CANCEL_HALTED),
        (EV_CANCELED, CANCEL_HALTED),
        (EV_LEVEL, 0),
        (EV_LEVEL, 0),
        (EV_MARKET, MARKET_HALTED),
    ]
    assert e.balance(a) == (10_000, 0)
    finish(e)


@pytest.mark.parametrize(
    ("yes_value", "a_gets", "b_gets"),
    [(1000, 10_000, 0), (0, 0, 10_000), (500, 5_000, 5_000), (300, 3_000, 7_000)],
)
def test_resolve_cancels_then_settles_then_reports(engine, yes_value, a_gets, b_gets):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2  # A 10 YES, B 10 NO
    assert e.place(a, m, SELL, YES, 700, 3) == 3
    assert e.resolve(m, yes_value, 8) == REJ_OK
    assert_events(
        e,
        [
            canc(T(m, a, 3, SELL, YES, ts=8), 700, 3, CANCEL_RESOLVED, 700, ASK),
            lvl(m, ASK, 700, 0, 0, ts=8),
            E(EV_SETTLEMENT, ts=8, market=m, user=a, price=yes_value, qty=10,
              price2=1000 - yes_value, aux=0),
            E(EV_SETTLEMENT, ts=8, market=m, user=b, price=yes_value, qty=0,
              price2=1000 - yes_value, aux=10),
            E(EV_MARKET, ts=8, market=m, price=1000, qty=50, code=MARKET_RESOLVED,
              price2=yes_value),
        ],
    )  # fmt: skip
    assert e.balance(a) == (4_000 + a_gets, 0)
    assert e.balance(b) == (6_000 + b_gets, 0)
    assert e.position(a, m) == e.position(b, m) == (0, 0, 0, 0)
    assert e.market(m) == (1000, 50, MARKET_RESOLVED, 0)
    assert e.market_config(m)[7] == yes_value
    assert e.merge(a, m, 1) == -REJ_MARKET_NOT_OPEN
    assert e.resolve(m, 0) == -REJ_INVALID_TRANSITION
    finish(e)
