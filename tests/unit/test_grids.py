"""Price grids (payout and tick) and independent markets.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    BUY,
    NO,
    SELL,
    YES,
    E,
    assert_events,
    depth,
    finish,
    got_events,
    world,
)

from reference import (
    EV_FILL,
    EV_MARKET,
    FILL_MINT,
    MARKET_OPEN,
    REJ_PRICE_OFF_GRID,
)

# --- grids ----------------------------------------------------------------------


def test_grid_payout_100_tick_1(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000, payout=100, tick=1)
    assert e.market(m) == (100, 1, MARKET_OPEN, 0)
    assert e.place(a, m, BUY, YES, 0, 1) == -REJ_PRICE_OFF_GRID
    assert e.place(a, m, BUY, YES, 100, 1) == -REJ_PRICE_OFF_GRID
    assert e.place(a, m, BUY, YES, 1, 10) == 1
    assert e.place(b, m, BUY, NO, 99, 10) == 2  # YES 1: mint at 1
    fills = [g for g in got_events(e) if g[1] == EV_FILL]
    assert [f[8:11] + (f[13],) for f in fills] == [(1, 10, FILL_MINT, 99)]
    assert e.balance(a) == (9_990, 0)
    assert e.balance(b) == (9_010, 0)
    assert e.place(a, m, SELL, YES, 37, 4) == 3
    assert e.place(b, m, SELL, NO, 62, 4) == 4  # YES 38 >= 37: merge at 37
    assert e.balance(a) == (9_990 + 37 * 4, 0)
    assert e.balance(b) == (9_010 + 63 * 4, 0)
    assert e.market(m) == (100, 1, MARKET_OPEN, 6)
    assert e.last_price(m) == 37
    finish(e)


def test_grid_payout_10000_tick_100(engine):
    e = engine
    m, (a, b) = world(e, 100_000, 100_000, payout=10_000, tick=100)
    assert e.place(a, m, BUY, YES, 6_350, 1) == -REJ_PRICE_OFF_GRID
    assert e.place(a, m, BUY, YES, 10_000, 1) == -REJ_PRICE_OFF_GRID
    assert e.place(a, m, BUY, YES, 6_300, 2) == 1
    assert e.place(b, m, BUY, NO, 3_800, 2) == 2  # YES 6200 <= 6300: mint at 6300
    fills = [g for g in got_events(e) if g[1] == EV_FILL]
    assert [f[8:11] + (f[13],) for f in fills] == [(6_300, 2, FILL_MINT, 3_700)]
    assert e.balance(a) == (100_000 - 12_600, 0)
    assert e.balance(b) == (100_000 - 7_400, 0)  # 3800*2 locked, 200 refunded
    assert e.depth(m, 5) == ([], [])
    assert e.place(a, m, BUY, YES, 9_900, 1) == 3
    assert e.place(a, m, BUY, YES, 100, 1) == 4
    assert depth(e, m) == ([(9_900, 1, 1), (100, 1, 1)], [])
    finish(e)


def test_grid_payout_30_tick_10(engine):
    e = engine
    m, (a, b) = world(e, 1_000, 1_000, payout=30, tick=10)
    assert e.place(a, m, BUY, YES, 30, 1) == -REJ_PRICE_OFF_GRID
    assert e.place(a, m, BUY, YES, 15, 1) == -REJ_PRICE_OFF_GRID
    assert e.place(a, m, BUY, YES, 20, 5) == 1
    assert e.place(b, m, BUY, NO, 20, 3) == 2  # YES 10: mint at 20
    assert e.balance(b) == (1_000 - 30, 0)
    assert e.place(b, m, BUY, NO, 10, 1) == 3  # YES 20 ask: mint at 20
    assert e.balance(b) == (1_000 - 40, 0)
    assert e.top(m) == (20, 1, 0, 0)
    assert e.market(m) == (30, 10, MARKET_OPEN, 4)
    finish(e)


def test_markets_are_independent(engine):
    e = engine
    m0, (a, b) = world(e, 10_000, 10_000)
    m1 = e.create_market(100, 1)
    assert m1 == 1
    assert_events(e, [E(EV_MARKET, market=1, price=100, qty=1, code=MARKET_OPEN)])
    assert e.place(a, m0, BUY, YES, 500, 2) == 1
    assert e.place(b, m1, BUY, NO, 50, 2) == 2  # YES 50 in market 1: no cross
    assert e.top(m0) == (500, 2, 0, 0)
    assert e.top(m1) == (0, 0, 50, 2)
    assert e.place(b, m0, BUY, NO, 500, 2) == 3
    assert e.position(b, m0) == (0, 0, 2, 0)
    assert e.position(b, m1) == (0, 0, 0, 0)
    assert e.top(m1) == (0, 0, 50, 2)
    finish(e)


@pytest.mark.parametrize(
    ("payout", "tick"),
    [
        (1000, 50),
        (100, 1),
        (10_000, 100),
        (10_000, 1),
        (30, 10),
        (2, 1),
        (1_000_000, 10),
        (200_002, 2),
    ],
)
def test_valid_grids(engine, payout, tick):
    e = engine
    m, (a, b) = world(e, 10**12, 10**12, payout=payout, tick=tick)
    assert e.market(m) == (payout, tick, MARKET_OPEN, 0)
    top = payout - tick
    assert e.place(a, m, BUY, YES, tick, 3) == 1
    assert e.place(a, m, BUY, YES, top, 3) == 2
    assert e.place(b, m, BUY, NO, tick, 5) == 3  # YES payout-tick: fills 3 at top
    if top == tick:  # a single price level: it fills 2 more from order 2
        assert e.position(b, m) == (0, 0, 5, 0)
        assert e.top(m) == (tick, 1, 0, 0)
    else:
        assert e.position(b, m) == (0, 0, 3, 0)
        assert e.top(m) == (tick, 3, top, 2)
    finish(e)
