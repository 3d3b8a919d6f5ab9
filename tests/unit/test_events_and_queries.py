"""Cash events, gap-free sequence numbers, level events and the queries.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    ASK,
    BID,
    BUY,
    CM,
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
    depth,
    fill,
    finish,
    got_events,
    lvl,
    world,
)

from reference import (
    CANCEL_SELF_TRADE,
    EV_CASH,
    EV_MARKET,
    FILL_MINT,
    MARKET_OPEN,
    REJ_INSUFFICIENT_FUNDS,
    REJ_OK,
    REJ_PRICE_OFF_GRID,
)

# --- cash -----------------------------------------------------------------------


def test_deposit_and_withdraw_emit_cash_events(engine):
    e = engine
    a = e.create_user()
    assert e.deposit(a, 5_000, 11) == REJ_OK
    assert_events(e, [E(EV_CASH, ts=11, user=a, qty=5_000, aux=5_000)])
    assert e.deposit(a, 700) == REJ_OK  # ts 0: at the clock (11)
    assert_events(e, [E(EV_CASH, ts=11, user=a, qty=700, aux=5_700)])
    assert e.withdraw(a, 1_200, 12) == REJ_OK
    assert_events(e, [E(EV_CASH, ts=12, user=a, qty=-1_200, aux=4_500)])
    assert e.balance(a) == (4_500, 0)
    assert e.totals() == (4_500, 1, 0, 0)
    m = e.create_market()
    assert e.place(a, m, BUY, YES, 500, 5) == 1
    assert e.withdraw(a, 2_001) == -REJ_INSUFFICIENT_FUNDS
    assert e.withdraw(a, 2_000) == REJ_OK
    assert_events(e, [E(EV_CASH, ts=12, user=a, qty=-2_000, aux=0)])
    assert e.balance(a) == (0, 2_500)
    assert e.totals() == (2_500, 1, 1, 1)
    assert e.cancel(a, 1) == REJ_OK
    assert e.withdraw(a, 2_500) == REJ_OK
    assert e.balance(a) == (0, 0)
    assert e.totals() == (0, 1, 1, 0)
    finish(e)


# --- sequence numbers and events ------------------------------------------------


def test_sequence_numbers_are_gap_free_across_commands(engine):
    e = engine
    assert e.last_events() == []
    seqs = []

    def run(call, n_events):
        call()
        got = got_events(e)
        assert len(got) == n_events, got
        seqs.extend(g[0] for g in got)

    run(lambda: e.create_market(1000, 50, 5), 1)
    assert got_events(e) == [(1, EV_MARKET, 5, 0, 0, 0, 0, 0, 1000, 50) + (0,) * 7]
    run(e.create_user, 0)  # a command: clears the events, emits none
    run(e.create_user, 0)
    run(lambda: e.deposit(0, 5_000, 6), 1)
    run(lambda: e.deposit(1, 5_000), 1)
    with pytest.raises(ValueError):
        e.create_market(1000, 30)  # misuse uses no seq
    run(lambda: e.place(0, 0, BUY, YES, 525, 1), 1)  # rejected
    run(lambda: e.place(0, 0, BUY, YES, 500, 2), 2)  # accepted, level
    run(lambda: e.place(1, 0, BUY, NO, 500, 3), 4)  # accepted, fill, 2 levels
    run(lambda: e.cancel(1, 2), 2)  # canceled, level
    run(lambda: e.cancel(1, 2), 1)  # rejected
    run(lambda: e.withdraw(0, 1), 1)
    run(lambda: e.place(0, 0, BUY, YES, 500, 2, IOC), 2)  # accepted, canceled
    run(lambda: e.place(0, 0, BUY, YES, 500, 2, FOK), 1)  # rejected
    run(lambda: e.create_market(), 1)
    assert seqs == list(range(1, 19))
    finish(e)


def test_create_user_clears_last_events(engine):
    e = engine
    e.create_market()
    assert len(got_events(e)) == 1
    assert e.create_user() == 0
    assert e.last_events() == []


def test_level_events_order_and_content(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 1) == 1
    assert e.place(b, m, BUY, YES, 600, 2) == 2
    assert e.place(b, m, BUY, YES, 550, 2) == 3
    assert e.place(c, m, BUY, YES, 550, 1) == 4
    assert e.place(a, m, BUY, YES, 500, 5) == 5
    # C sells into the bids with a buy NO @ 450 (YES 550): 600 x1, 600 x2, 550 x2,
    # then C's own order at 550 is canceled (CANCEL_MAKER); 500 does not cross,
    # so 5 rest on the ask side at 550.
    assert e.place(c, m, BUY, NO, 450, 10, GTC, CM, 3) == 6
    t = T(m, c, 6, BUY, NO, ts=3)
    assert_events(
        e,
        [
            acc(t, 450, 10, GTC, 550, ASK),
            fill(t, 600, 1, FILL_MINT, a, 1, 400, 0),
            fill(t, 600, 2, FILL_MINT, b, 2, 400, 0),
            fill(t, 550, 2, FILL_MINT, b, 3, 450, 0),
            canc(T(m, c, 4, BUY, YES, ts=3), 550, 1, CANCEL_SELF_TRADE, 550, BID),
            lvl(m, BID, 600, 0, 0, ts=3),
            lvl(m, BID, 550, 0, 0, ts=3),
            lvl(m, ASK, 550, 5, 1, ts=3),
        ],
    )
    # C locked 450*10; paid 400*3 + 450*2 = 2100 (150 refunded); 2250 still locked.
    assert e.balance(c) == (5_650, 2_250)
    assert e.balance(a) == (6_900, 2_500)
    assert e.balance(b) == (7_700, 0)
    assert depth(e, m, 10) == ([(500, 5, 1)], [(550, 5, 1)])
    # A new order joining a level reports the level's new total and count.
    assert e.place(b, m, BUY, NO, 450, 3) == 7
    assert_events(
        e,
        [
            acc(T(m, b, 7, BUY, NO, ts=3), 450, 3, GTC, 550, ASK),
            lvl(m, ASK, 550, 8, 2, ts=3),
        ],
    )
    finish(e)


# --- queries --------------------------------------------------------------------


def test_queries(engine):
    e = engine
    m0, (a, b) = world(e, 100_000, 100_000)
    m1 = e.create_market(100, 1)
    assert e.totals() == (200_000, 2, 2, 0)
    assert e.top(m0) == (0, 0, 0, 0)
    assert e.depth(m0, 5) == ([], [])
    assert e.book_orders(m0) == []
    assert e.last_price(m0) == 0
    assert e.order(1) is None
    assert e.user_orders(a) == []
    assert e.market(m1) == (100, 1, MARKET_OPEN, 0)

    assert e.place(a, m0, BUY, YES, 500, 3) == 1
    assert e.place(b, m0, BUY, YES, 500, 4) == 2
    assert e.place(a, m0, BUY, YES, 450, 1) == 3
    assert e.place(b, m0, BUY, NO, 300, 2) == 4  # ask at YES 700
    assert e.place(a, m0, BUY, NO, 350, 5) == 5  # ask at YES 650
    assert e.place(a, m1, BUY, YES, 40, 7) == 6
    assert e.place(b, m1, BUY, NO, 40, 1) == 7  # ask at YES 60

    assert e.top(m0) == (500, 7, 650, 5)
    assert e.top(m1) == (40, 7, 60, 1)
    assert depth(e, m0, 1) == ([(500, 7, 2)], [(650, 5, 1)])
    assert depth(e, m0, 10) == ([(500, 7, 2), (450, 1, 1)], [(650, 5, 1), (700, 2, 1)])
    assert depth(e, m0, 0) == ([], [])
    assert [tuple(o) for o in e.book_orders(m0)] == [
        (1, a, BUY, YES, 500, 3, 500, BID),
        (2, b, BUY, YES, 500, 4, 500, BID),
        (3, a, BUY, YES, 450, 1, 450, BID),
        (5, a, BUY, NO, 350, 5, 650, ASK),
        (4, b, BUY, NO, 300, 2, 700, ASK),
    ]
    assert [tuple(o) for o in e.user_orders(a)] == [
        (m0, 1, a, BUY, YES, 500, 3, 500, BID, GTC, 0, 0),
        (m0, 3, a, BUY, YES, 450, 1, 450, BID, GTC, 0, 0),
        (m0, 5, a, BUY, NO, 350, 5, 650, ASK, GTC, 0, 0),
        (m1, 6, a, BUY, YES, 40, 7, 40, BID, GTC, 0, 0),
    ]
    assert [tuple(o) for o in e.user_orders(b)] == [
        (m0, 2, b, BUY, YES, 500, 4, 500, BID, GTC, 0, 0),
        (m0, 4, b, BUY, NO, 300, 2, 700, ASK, GTC, 0, 0),
        (m1, 7, b, BUY, NO, 40, 1, 60, ASK, GTC, 0, 0),
    ]
    assert tuple(e.order(4)) == (m0, 4, b, BUY, NO, 300, 2, 700, ASK, GTC, 0, 0)
    assert e.order(8) is None
    assert e.totals() == (200_000, 2, 2, 7)
    assert e.balance(a) == (100_000 - 1_500 - 450 - 1_750 - 280, 3_980)

    assert e.place(b, m0, SELL, NO, 0, 1) == -REJ_PRICE_OFF_GRID
    # B sells at YES 500: fills A's 3, then meets its own order 2 and cancels it
    # (CANCEL_MAKER); 450 does not cross, so 2 rest as an ask at 500.
    assert e.place(b, m0, BUY, NO, 500, 5) == 8
    assert e.last_price(m0) == 500
    assert e.order(1) is None and e.order(2) is None
    assert e.market(m0) == (1000, 50, MARKET_OPEN, 3)
    assert e.top(m0) == (450, 1, 500, 2)
    assert e.position(a, m0) == (3, 0, 0, 0)
    assert e.position(b, m0) == (0, 0, 3, 0)
    assert e.position(a, m1) == (0, 0, 0, 0)
    assert e.totals() == (200_000, 2, 2, 6)
    finish(e)
