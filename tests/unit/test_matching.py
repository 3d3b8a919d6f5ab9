"""Matching: price-time priority, partial fills, IOC and FOK, market orders.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    ASK,
    BID,
    BUY,
    CB,
    CM,
    CT,
    FOK,
    GTC,
    IOC,
    NO,
    SELL,
    YES,
    E,
    T,
    acc,
    assert_events,
    canc,
    fill,
    finish,
    got_events,
    lvl,
    state,
    world,
)

from reference import (
    CANCEL_IOC,
    CMD_PLACE,
    EV_ACCEPTED,
    EV_CANCELED,
    EV_FILL,
    EV_REJECTED,
    FILL_MINT,
    FILL_TRANSFER,
    MARKET_OPEN,
    REJ_FOK_NOT_FILLABLE,
)

# --- priority -------------------------------------------------------------------


def test_fifo_within_a_level(engine):
    e = engine
    m, (a, b, c, d) = world(e, 10_000, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 5) == 1
    assert e.place(b, m, BUY, YES, 500, 5) == 2
    assert e.place(c, m, BUY, YES, 500, 5) == 3
    # D buys NO @ 500 = an ask at YES 500: takes A's 5, then 2 of B's 5.
    assert e.place(d, m, BUY, NO, 500, 7) == 4
    t = T(m, d, 4, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 7, GTC, 500, ASK),
            fill(t, 500, 5, FILL_MINT, a, 1, 500, 0),
            fill(t, 500, 2, FILL_MINT, b, 2, 500, 3),
            lvl(m, BID, 500, 8, 2),
        ],
    )
    assert e.balance(a) == (7_500, 0)
    assert e.balance(b) == (7_500, 1_500)
    assert e.balance(c) == (7_500, 2_500)
    assert e.balance(d) == (6_500, 0)
    assert e.position(a, m) == (5, 0, 0, 0)
    assert e.position(b, m) == (2, 0, 0, 0)
    assert e.position(c, m) == (0, 0, 0, 0)
    assert e.position(d, m) == (0, 0, 7, 0)
    assert [tuple(o) for o in e.book_orders(m)] == [
        (2, b, BUY, YES, 500, 3, 500, BID),
        (3, c, BUY, YES, 500, 5, 500, BID),
    ]
    assert e.market(m) == (1000, 50, MARKET_OPEN, 7)
    finish(e)


def test_better_bid_first_and_price_improvement_for_a_no_taker(engine):
    e = engine
    m, (a, b, c, d) = world(e, 10_000, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 5) == 1
    assert e.place(b, m, BUY, YES, 550, 5) == 2
    assert e.place(c, m, BUY, YES, 450, 5) == 3
    # D buys NO @ 550 (YES 450): best bid 550 first, then 500; 450 is untouched
    # because D's 8 are filled before.  D pays 1000-550=450 and 1000-500=500.
    assert e.place(d, m, BUY, NO, 550, 8) == 4
    t = T(m, d, 4, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 550, 8, GTC, 450, ASK),
            fill(t, 550, 5, FILL_MINT, b, 2, 450, 0),
            fill(t, 500, 3, FILL_MINT, a, 1, 500, 2),
            lvl(m, BID, 550, 0, 0),
            lvl(m, BID, 500, 2, 1),
        ],
    )
    # D locked 550*8 = 4400, paid 450*5 + 500*3 = 3750, 650 refunded at once.
    assert e.balance(d) == (6_250, 0)
    assert e.balance(a) == (7_500, 1_000)
    assert e.balance(b) == (7_250, 0)
    assert e.balance(c) == (7_750, 2_250)
    assert e.position(d, m) == (0, 0, 8, 0)
    assert e.top(m) == (500, 2, 0, 0)
    assert e.last_price(m) == 500
    finish(e)


def test_better_ask_first(engine):
    e = engine
    m, (a, b, c, d) = world(e, 10_000, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, NO, 400, 5) == 1  # ask at YES 600
    assert e.place(b, m, BUY, NO, 450, 5) == 2  # ask at YES 550
    assert e.place(c, m, BUY, NO, 350, 5) == 3  # ask at YES 650
    assert e.top(m) == (0, 0, 550, 5)
    assert e.place(d, m, BUY, YES, 650, 8) == 4
    t = T(m, d, 4, BUY, YES)
    assert_events(
        e,
        [
            acc(t, 650, 8, GTC, 650, BID),
            fill(t, 550, 5, FILL_MINT, b, 2, 550, 0),
            fill(t, 600, 3, FILL_MINT, a, 1, 600, 2),
            lvl(m, ASK, 550, 0, 0),
            lvl(m, ASK, 600, 2, 1),
        ],
    )
    # D locked 650*8 = 5200, paid 550*5 + 600*3 = 4550, 650 refunded.
    assert e.balance(d) == (5_450, 0)
    assert e.balance(a) == (8_000, 800)
    assert e.balance(b) == (7_750, 0)
    assert e.balance(c) == (8_250, 1_750)
    assert e.position(d, m) == (8, 0, 0, 0)
    assert e.position(a, m) == (0, 0, 3, 0)
    assert e.position(b, m) == (0, 0, 5, 0)
    assert e.top(m) == (0, 0, 600, 2)
    finish(e)


# --- partial fills --------------------------------------------------------------


def test_partial_fill_of_the_taker_rests_the_remainder(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 3) == 1
    assert e.place(b, m, BUY, NO, 500, 5) == 2
    t = T(m, b, 2, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 5, GTC, 500, ASK),
            fill(t, 500, 3, FILL_MINT, a, 1, 500, 0),
            lvl(m, BID, 500, 0, 0),
            lvl(m, ASK, 500, 2, 1),
        ],
    )
    assert e.balance(b) == (7_500, 1_000)
    assert e.balance(a) == (8_500, 0)
    assert e.top(m) == (0, 0, 500, 2)
    assert [tuple(o) for o in e.user_orders(b)] == [
        (m, 2, b, BUY, NO, 500, 2, 500, ASK, GTC, 0, 0)
    ]
    assert e.user_orders(a) == []
    assert e.order(1) is None
    finish(e)


def test_partial_fill_of_the_maker_keeps_it_at_the_head(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 10) == 1
    assert e.place(c, m, BUY, YES, 500, 1) == 2
    assert e.place(b, m, BUY, NO, 500, 4) == 3
    t = T(m, b, 3, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 4, GTC, 500, ASK),
            fill(t, 500, 4, FILL_MINT, a, 1, 500, 6),
            lvl(m, BID, 500, 7, 2),
        ],
    )
    assert e.balance(a) == (5_000, 3_000)
    assert tuple(e.order(1)) == (m, 1, a, BUY, YES, 500, 6, 500, BID, GTC, 0, 0)
    # A keeps its place: the next taker fills A's 6 before C's 1.
    assert e.place(b, m, BUY, NO, 500, 7) == 4
    assert [(g[11], g[12], g[9]) for g in got_events(e) if g[1] == EV_FILL] == [
        (a, 1, 6),
        (c, 2, 1),
    ]
    assert e.top(m) == (0, 0, 0, 0)
    finish(e)


def test_maker_price_and_price_improvement_refunded_at_once(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2  # mint: A holds 10 YES
    assert e.place(a, m, SELL, YES, 550, 4) == 3
    assert e.position(a, m) == (6, 4, 0, 0)
    # C bids 700 for YES: executes at the resting 550; 150*4 comes back at once.
    assert e.place(c, m, BUY, YES, 700, 4) == 4
    assert_events(
        e,
        [
            acc(T(m, c, 4, BUY, YES), 700, 4, GTC, 700, BID),
            fill(T(m, c, 4, BUY, YES), 550, 4, FILL_TRANSFER, a, 3, 550, 0),
            lvl(m, ASK, 550, 0, 0),
        ],
    )
    assert e.balance(c) == (10_000 - 2_200, 0)
    assert e.balance(a) == (10_000 - 6_000 + 2_200, 0)
    assert e.position(c, m) == (4, 0, 0, 0)
    assert e.position(a, m) == (6, 0, 0, 0)
    assert e.last_price(m) == 550
    assert e.market(m)[3] == 10  # a transfer neither mints nor merges
    finish(e)


# --- IOC and FOK ----------------------------------------------------------------


def test_ioc_partial_fill_then_remainder_canceled_and_unlocked(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 3) == 1
    assert e.place(b, m, BUY, NO, 500, 5, IOC) == 2
    t = T(m, b, 2, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 5, IOC, 500, ASK),
            fill(t, 500, 3, FILL_MINT, a, 1, 500, 0),
            canc(t, 500, 2, CANCEL_IOC, 500, ASK),
            lvl(m, BID, 500, 0, 0),
        ],
    )
    assert e.balance(b) == (8_500, 0)
    assert e.position(b, m) == (0, 0, 3, 0)
    assert e.book_orders(m) == []
    assert e.user_orders(b) == []
    assert e.totals() == (20_000, 2, 1, 0)
    finish(e)


@pytest.mark.parametrize("side", [BUY, SELL])
def test_ioc_with_nothing_to_match(engine, side):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 2) == 1
    assert e.place(b, m, BUY, NO, 400, 2) == 2  # B holds 2 NO
    before = state(e)
    # B's NO order at 300 is a YES 700 ask (buy) or bid (sell); the book is empty.
    oid = e.place(b, m, side, NO, 300, 2, IOC, CM, 77)
    assert oid == 3
    t = T(m, b, 3, side, NO, ts=77)
    bside = ASK if side == BUY else BID
    assert_events(
        e,
        [
            acc(t, 300, 2, IOC, 700, bside),
            canc(t, 300, 2, CANCEL_IOC, 700, bside),
        ],
    )
    assert state(e) == before  # locked and unlocked again
    assert e.balance(b) == (9_200, 0)
    finish(e)


def test_fok_fills_across_levels(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 3) == 1
    assert e.place(c, m, BUY, YES, 450, 3) == 2
    # NO @ 550 = YES 450: needs 5, the book has 3 @ 500 + 3 @ 450.
    assert e.place(b, m, BUY, NO, 550, 5, FOK) == 3
    t = T(m, b, 3, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 550, 5, FOK, 450, ASK),
            fill(t, 500, 3, FILL_MINT, a, 1, 500, 0),
            fill(t, 450, 2, FILL_MINT, c, 2, 550, 1),
            lvl(m, BID, 500, 0, 0),
            lvl(m, BID, 450, 1, 1),
        ],
    )
    # B locked 550*5 = 2750, paid 500*3 + 550*2 = 2600: 150 refunded.
    assert e.balance(b) == (7_400, 0)
    assert e.position(b, m) == (0, 0, 5, 0)
    finish(e)


def test_fok_not_fillable_changes_nothing(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 3) == 1
    assert e.place(c, m, BUY, YES, 450, 3) == 2
    assert e.place(c, m, BUY, YES, 400, 9) == 3  # does not cross YES 450
    before = state(e)
    assert e.place(b, m, BUY, NO, 550, 7, FOK, CM, 5) == -REJ_FOK_NOT_FILLABLE
    assert_events(
        e,
        [
            E(
                EV_REJECTED,
                ts=5,
                market=m,
                user=b,
                side=BUY,
                outcome=NO,
                price=550,
                qty=7,
                code=REJ_FOK_NOT_FILLABLE,
                aux=CMD_PLACE,
            ),
        ],
    )
    assert state(e) == before
    assert e.place(b, m, BUY, NO, 550, 6, FOK) == 4  # no id was used up
    finish(e)


@pytest.mark.parametrize(
    ("own_first", "stp", "qty", "accepted"),
    [
        # The book at YES 500: [own 3, other 3] or [other 3, own 3].
        (True, CM, 3, True),  # own order skipped (and canceled when matching)
        (True, CM, 4, False),
        (True, CT, 1, False),  # the walk stops at the own order
        (True, CB, 1, False),
        (False, CT, 3, True),
        (False, CT, 4, False),
        (False, CB, 3, True),
        (False, CB, 4, False),
    ],
)
def test_fok_availability_with_self_trade_prevention(
    engine, own_first, stp, qty, accepted
):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    owners = [a, b] if own_first else [b, a]
    for oid, u in enumerate(owners, start=1):
        assert e.place(u, m, BUY, YES, 500, 3) == oid
    before = state(e)
    result = e.place(a, m, BUY, NO, 500, qty, FOK, stp)
    if not accepted:
        assert result == -REJ_FOK_NOT_FILLABLE
        assert state(e) == before
    else:
        assert result == 3
        fills = [g for g in got_events(e) if g[1] == EV_FILL]
        assert [(f[9], f[11]) for f in fills] == [(qty, b)]
        canceled = [g[5] for g in got_events(e) if g[1] == EV_CANCELED]
        # CANCEL_MAKER cancels the own order it meets; it met it only if first.
        assert canceled == ([1] if own_first else [])
        assert e.position(a, m) == (0, 0, qty, 0)
    finish(e)


# --- market orders -----------------------------------------------------------------


def market_order_world(e):
    """Asks on the YES book: C's 3 @ 500, then D's 5 @ 600 (buys of NO)."""
    m, (a, c, d) = world(e, 10_000, 10_000, 10_000)
    assert e.place(c, m, BUY, NO, 500, 3) == 1
    assert e.place(d, m, BUY, NO, 400, 5) == 2
    return m, a, c, d


def test_market_buy_with_a_budget(engine):
    e = engine
    m, a, c, d = market_order_world(e)
    # Budget 2700: 3 @ 500 (1500), then 1200 buys 2 @ 600; then nothing more.
    assert e.place_market(a, m, BUY, YES, 10, 2_700) == 3
    t = T(m, a, 3, BUY, YES)
    assert_events(
        e,
        [
            acc(t, 950, 10, IOC, 950, BID + 4),
            fill(t, 500, 3, FILL_MINT, c, 1, 500, 0),
            fill(t, 600, 2, FILL_MINT, d, 2, 600, 3),
            canc(t, 950, 5, CANCEL_IOC, 950, BID),
            lvl(m, ASK, 500, 0, 0),
            lvl(m, ASK, 600, 3, 1),
        ],
    )
    assert e.balance(a) == (10_000 - 2_700, 0)
    assert e.position(a, m) == (5, 0, 0, 0)
    finish(e)


@pytest.mark.parametrize(
    ("qty", "max_cost", "result"),
    [(5, 2_700, 3), (6, 2_700, -REJ_FOK_NOT_FILLABLE), (8, 0, 3), (9, 0, -301)],
)
def test_market_buy_fok(engine, qty, max_cost, result):
    e = engine
    m, a, c, d = market_order_world(e)
    before = state(e)
    assert e.place_market(a, m, BUY, YES, qty, max_cost, True) == result
    if result < 0:
        assert state(e) == before
        assert [g[1] for g in got_events(e)] == [EV_REJECTED]
        # a rejected market order reports its worst price (950)
        assert got_events(e)[0][8:10] == (950, qty)
    else:
        assert e.position(a, m) == (qty, 0, 0, 0)
        assert e.balance(a)[1] == 0
    finish(e)


def test_market_sell_takes_every_bid_at_their_prices(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 4) == 1
    assert e.place(b, m, BUY, NO, 400, 4) == 2  # B holds 4 NO
    assert e.place(c, m, BUY, YES, 300, 1) == 3
    assert e.place(c, m, BUY, YES, 200, 1) == 4
    # B sells 4 NO at market (own price 50 = YES 950 bid): it meets asks, not
    # bids; there are none, so all 4 are canceled.
    assert e.place_market(b, m, SELL, NO, 4) == 5
    assert [g[1] for g in got_events(e)] == [EV_ACCEPTED, EV_CANCELED]
    # A sells 4 YES at market (ask at YES 50): C's 300 then 200, 2 left over.
    assert e.place_market(a, m, SELL, YES, 4) == 6
    fills = [g for g in got_events(e) if g[1] == EV_FILL]
    assert [(f[8], f[9], f[11]) for f in fills] == [(300, 1, c), (200, 1, c)]
    assert e.position(a, m) == (2, 0, 0, 0)
    assert e.balance(a) == (10_000 - 2_400 + 500, 0)
    finish(e)
