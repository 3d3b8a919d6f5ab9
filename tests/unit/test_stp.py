"""Self-trade prevention: cancel maker, cancel taker, cancel both.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

from scenario_helpers import (
    ASK,
    BID,
    BUY,
    CB,
    CM,
    CT,
    GTC,
    IOC,
    NO,
    YES,
    T,
    acc,
    assert_events,
    canc,
    fill,
    finish,
    got_events,
    lvl,
    world,
)

from reference import (
    CANCEL_SELF_TRADE,
    EV_ACCEPTED,
    EV_CANCELED,
    EV_FILL,
    EV_LEVEL,
    FILL_MINT,
)

# --- self-trade prevention ---------------------------------------------------------


def stp_world(e, own_first=True):
    """Bids at YES 500: A's 5 then B's 5 (or the reverse).  A then sells into it."""
    m, (a, b) = world(e, 10_000, 10_000)
    first, second = (a, b) if own_first else (b, a)
    assert e.place(first, m, BUY, YES, 500, 5) == 1
    assert e.place(second, m, BUY, YES, 500, 5) == 2
    return m, a, b


def test_stp_cancel_maker(engine):
    e = engine
    m, a, b = stp_world(e)
    assert e.place(a, m, BUY, NO, 500, 8, GTC, CM) == 3
    t = T(m, a, 3, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 8, GTC, 500, ASK),
            canc(T(m, a, 1, BUY, YES), 500, 5, CANCEL_SELF_TRADE, 500, BID),
            fill(t, 500, 5, FILL_MINT, b, 2, 500, 0),
            lvl(m, BID, 500, 0, 0),
            lvl(m, ASK, 500, 3, 1),
        ],
    )
    # A: 2500 unlocked from order 1; paid 2500 for 5 NO; 1500 locked for the rest.
    assert e.balance(a) == (6_000, 1_500)
    assert e.position(a, m) == (0, 0, 5, 0)
    assert e.position(b, m) == (5, 0, 0, 0)
    assert [tuple(o)[:2] for o in e.book_orders(m)] == [(3, a)]
    finish(e)


def test_stp_cancel_maker_is_the_default(engine):
    e = engine
    m, a, b = stp_world(e)
    assert e.place(a, m, BUY, NO, 500, 8) == 3
    kinds = [g[1] for g in got_events(e)]
    assert kinds == [EV_ACCEPTED, EV_CANCELED, EV_FILL, EV_LEVEL, EV_LEVEL]
    finish(e)


def test_stp_cancel_taker(engine):
    e = engine
    m, a, b = stp_world(e)
    assert e.place(a, m, BUY, NO, 500, 8, GTC, CT) == 3
    t = T(m, a, 3, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 8, GTC, 500, ASK),
            canc(t, 500, 8, CANCEL_SELF_TRADE, 500, ASK),
        ],
    )
    assert e.balance(a) == (7_500, 2_500)  # only order 1 locked
    assert [tuple(o)[:2] for o in e.book_orders(m)] == [(1, a), (2, b)]
    assert e.market(m)[3] == 0
    finish(e)


def test_stp_cancel_taker_after_some_fills(engine):
    e = engine
    m, a, b = stp_world(e, own_first=False)  # B's 5, then A's 5
    assert e.place(a, m, BUY, NO, 500, 8, GTC, CT) == 3
    t = T(m, a, 3, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 8, GTC, 500, ASK),
            fill(t, 500, 5, FILL_MINT, b, 1, 500, 0),
            canc(t, 500, 3, CANCEL_SELF_TRADE, 500, ASK),
            lvl(m, BID, 500, 5, 1),
        ],
    )
    assert e.balance(a) == (10_000 - 2_500 - 2_500, 2_500)
    assert e.position(a, m) == (0, 0, 5, 0)
    finish(e)


def test_stp_cancel_both(engine):
    e = engine
    m, a, b = stp_world(e)
    assert e.place(a, m, BUY, NO, 500, 8, IOC, CB) == 3
    t = T(m, a, 3, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 8, IOC, 500, ASK),
            canc(T(m, a, 1, BUY, YES), 500, 5, CANCEL_SELF_TRADE, 500, BID),
            canc(t, 500, 8, CANCEL_SELF_TRADE, 500, ASK),
            lvl(m, BID, 500, 5, 1),
        ],
    )
    assert e.balance(a) == (10_000, 0)
    assert [tuple(o)[:2] for o in e.book_orders(m)] == [(2, b)]
    finish(e)


def test_stp_only_when_the_same_user_meets_itself(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 5) == 1
    # A's own resting order on the same side is never a self-trade.
    assert e.place(a, m, BUY, YES, 550, 5, GTC, CT) == 2
    assert e.place(b, m, BUY, NO, 500, 10, GTC, CT) == 3
    assert [g[1] for g in got_events(e)] == [EV_ACCEPTED, EV_FILL, EV_FILL] + [
        EV_LEVEL
    ] * 2
    finish(e)
