"""Mint, merge and transfer fills, and the mint/merge commands.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    ASK,
    BID,
    BUY,
    GTC,
    NO,
    SELL,
    YES,
    E,
    T,
    acc,
    assert_events,
    fill,
    finish,
    got_events,
    lvl,
    world,
)

from reference import (
    EV_FILL,
    EV_PAIR,
    FILL_MERGE,
    FILL_MINT,
    FILL_TRANSFER,
    MARKET_OPEN,
    REJ_OK,
)

# --- mint, merge, transfer ------------------------------------------------------


def test_mint(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.balance(a) == (4_000, 6_000)
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    t = T(m, b, 2, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 400, 10, GTC, 600, ASK),
            fill(t, 600, 10, FILL_MINT, a, 1, 400, 0),
            lvl(m, BID, 600, 0, 0),
        ],
    )
    assert e.balance(a) == (4_000, 0)  # paid 6000
    assert e.balance(b) == (6_000, 0)  # paid 4000
    assert e.position(a, m) == (10, 0, 0, 0)
    assert e.position(b, m) == (0, 0, 10, 0)
    assert e.market(m) == (1000, 50, MARKET_OPEN, 10)
    assert e.last_price(m) == 600
    assert e.top(m) == (0, 0, 0, 0)
    finish(e)


def test_merge(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    assert e.place(a, m, SELL, YES, 750, 4) == 3
    # B sells NO @ 150 = a bid at YES 850 >= 750: merge at 750.
    assert e.place(b, m, SELL, NO, 150, 4) == 4
    t = T(m, b, 4, SELL, NO)
    assert_events(
        e,
        [
            acc(t, 150, 4, GTC, 850, BID),
            fill(t, 750, 4, FILL_MERGE, a, 3, 250, 0),
            lvl(m, ASK, 750, 0, 0),
        ],
    )
    assert e.balance(a) == (4_000 + 750 * 4, 0)
    assert e.balance(b) == (6_000 + 250 * 4, 0)
    assert e.position(a, m) == (6, 0, 0, 0)
    assert e.position(b, m) == (0, 0, 6, 0)
    assert e.market(m) == (1000, 50, MARKET_OPEN, 6)
    assert e.last_price(m) == 750
    finish(e)


def test_transfer_on_yes(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    assert e.place(a, m, SELL, YES, 700, 3) == 3
    assert e.place(c, m, BUY, YES, 700, 3) == 4
    assert_events(
        e,
        [
            acc(T(m, c, 4, BUY, YES), 700, 3, GTC, 700, BID),
            fill(T(m, c, 4, BUY, YES), 700, 3, FILL_TRANSFER, a, 3, 700, 0),
            lvl(m, ASK, 700, 0, 0),
        ],
    )
    assert e.balance(c) == (7_900, 0)
    assert e.balance(a) == (4_000 + 2_100, 0)
    assert e.position(c, m) == (3, 0, 0, 0)
    assert e.position(a, m) == (7, 0, 0, 0)
    assert e.market(m)[3] == 10
    finish(e)


def test_transfer_on_no(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    assert e.place(b, m, SELL, NO, 300, 3) == 3  # a bid at YES 700
    assert e.position(b, m) == (0, 0, 7, 3)
    assert e.place(c, m, BUY, NO, 300, 3) == 4  # an ask at YES 700
    assert_events(
        e,
        [
            acc(T(m, c, 4, BUY, NO), 300, 3, GTC, 700, ASK),
            fill(T(m, c, 4, BUY, NO), 700, 3, FILL_TRANSFER, b, 3, 300, 0),
            lvl(m, BID, 700, 0, 0),
        ],
    )
    assert e.balance(c) == (9_100, 0)
    assert e.balance(b) == (6_000 + 900, 0)
    assert e.position(c, m) == (0, 0, 3, 0)
    assert e.position(b, m) == (0, 0, 7, 0)
    assert e.market(m)[3] == 10
    assert e.last_price(m) == 700
    finish(e)


@pytest.mark.parametrize(
    ("first", "yes_price", "no_price", "fill_x", "a_gets", "b_gets"),
    [
        # A sells YES first (maker, ask at the YES price), B sells NO (taker).
        ("yes", 400, 500, 400, 800, 1_200),  # 400 + 500 < 1000
        ("yes", 600, 400, 600, 1_200, 800),  # sum == payout
        ("yes", 600, 450, None, 0, 0),  # 1050 > 1000: both rest
        # B sells NO first (maker, bid at YES 1000 - no_price), A sells YES.
        ("no", 400, 500, 500, 1_000, 1_000),
        ("no", 600, 400, 600, 1_200, 800),
        ("no", 600, 450, None, 0, 0),
    ],
)
def test_two_opposite_sells_summing_to_at_most_payout_trade(
    engine, first, yes_price, no_price, fill_x, a_gets, b_gets
):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 2) == 1
    assert e.place(b, m, BUY, NO, 500, 2) == 2
    before_a, before_b = e.balance(a)[0], e.balance(b)[0]
    orders = [(a, SELL, YES, yes_price), (b, SELL, NO, no_price)]
    if first == "no":
        orders.reverse()
    for oid, (u, side, outcome, price) in enumerate(orders, start=3):
        assert e.place(u, m, side, outcome, price, 2) == oid
    if fill_x is None:
        assert e.top(m) == (1000 - no_price, 2, yes_price, 2)
        assert e.market(m)[3] == 2
        assert e.balance(a) == (before_a, 0)
        assert e.position(a, m) == (0, 2, 0, 0)
    else:
        fills = [g for g in got_events(e) if g[1] == EV_FILL]
        assert len(fills) == 1
        assert fills[0][8:11] == (fill_x, 2, FILL_MERGE)
        assert e.balance(a) == (before_a + a_gets, 0)
        assert e.balance(b) == (before_b + b_gets, 0)
        assert e.position(a, m) == (0, 0, 0, 0)
        assert e.position(b, m) == (0, 0, 0, 0)
        assert e.market(m)[3] == 0
        assert e.top(m) == (0, 0, 0, 0)
    finish(e)


def test_mint_and_merge_commands(engine):
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.mint(a, m, 3, 2) == REJ_OK
    assert_events(
        e, [E(EV_PAIR, ts=2, market=m, user=a, price=1000, qty=3, code=1, aux=7_000)]
    )
    assert e.position(a, m) == (3, 0, 3, 0)
    assert e.market(m)[3] == 3
    assert e.merge(a, m, 2) == REJ_OK
    assert_events(
        e, [E(EV_PAIR, ts=2, market=m, user=a, price=1000, qty=2, code=2, aux=9_000)]
    )
    assert e.position(a, m) == (1, 0, 1, 0)
    assert e.market(m)[3] == 1
    finish(e)
