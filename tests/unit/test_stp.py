"""Self-trade prevention: cancel maker, cancel taker, cancel both, none.

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

from probo_engine import Engine, SelfTrade, Side
from probo_engine.errors import ArgumentTypeError, InvalidArgumentError
from reference import (
    CANCEL_SELF_TRADE,
    EV_ACCEPTED,
    EV_AMENDED,
    EV_CANCELED,
    EV_FILL,
    EV_LEVEL,
    FILL_MERGE,
    FILL_MINT,
    FILL_TRANSFER,
    REJ_FOK_NOT_FILLABLE,
    REJ_OK,
    STP_NONE,
)

NONE = STP_NONE

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


# --- NONE: no prevention ----------------------------------------------------------


def test_stp_none_fills_own_orders_like_anyone_elses(engine):
    # A's bid rests first: with NONE, A's NO buy mints with it (A ends with
    # both sides of the pair), then with B's.
    e = engine
    m, a, b = stp_world(e)
    assert e.place(a, m, BUY, NO, 500, 8, GTC, NONE) == 3
    t = T(m, a, 3, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 500, 8, GTC, 500, ASK),
            fill(t, 500, 5, FILL_MINT, a, 1, 500, 0),
            fill(t, 500, 3, FILL_MINT, b, 2, 500, 2),
            lvl(m, BID, 500, 2, 1),
        ],
    )
    # A: 10,000 - 2,500 (its bid, filled) - 4,000 (this order, all filled).
    assert e.balance(a) == (3_500, 0)
    assert e.position(a, m) == (5, 0, 8, 0)
    assert e.balance(b) == (7_500, 1_000)
    assert e.position(b, m) == (3, 0, 0, 0)
    assert e.market(m)[3] == 8
    assert e.last_price(m) == 500
    finish(e)


def test_stp_none_self_transfer_pays_fees_as_usual(engine):
    # One user on both sides of a transfer: the shares come back to it, the
    # locks are released, and the fees are charged (taker 1%, maker 0.5%).
    e = engine
    m = e.create_market(1000, 50, 0, 100, 50)
    a = e.create_user()
    assert e.deposit(a, 20_000) == REJ_OK
    assert e.mint(a, m, 5) == REJ_OK
    assert e.place(a, m, SELL, YES, 600, 5) == 1
    assert e.place(a, m, BUY, YES, 600, 5, GTC, NONE) == 2
    t = T(m, a, 2, BUY, YES)
    # taker fee ceil(100 * 5 * 600 / 10000) = 30, maker fee 15
    assert_events(
        e,
        [
            acc(t, 600, 5, GTC, 600, BID),
            fill(t, 600, 5, FILL_TRANSFER, a, 1, 600, 0, 30, 15),
            lvl(m, ASK, 600, 0, 0),
        ],
    )
    assert e.balance(a) == (15_000 - 45, 0)
    assert e.position(a, m) == (5, 0, 5, 0)
    assert e.fees() == 45
    finish(e)


def test_stp_none_self_merge(engine):
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.mint(a, m, 5) == REJ_OK
    assert e.place(a, m, SELL, YES, 600, 5) == 1
    assert e.place(a, m, SELL, NO, 400, 5, IOC, NONE) == 2
    t = T(m, a, 2, SELL, NO)
    assert_events(
        e,
        [
            acc(t, 400, 5, IOC, 600, BID),
            fill(t, 600, 5, FILL_MERGE, a, 1, 400, 0),
            lvl(m, ASK, 600, 0, 0),
        ],
    )
    assert e.balance(a) == (10_000, 0)  # paid 5,000 to mint, got 3,000 + 2,000
    assert e.position(a, m) == (0, 0, 0, 0)
    assert e.market(m)[3] == 0
    finish(e)


def test_stp_none_fok_counts_own_orders(engine):
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.mint(a, m, 5) == REJ_OK
    assert e.place(a, m, BUY, YES, 500, 5) == 1
    # With the default (CANCEL_MAKER) own orders do not count: 301.
    assert e.place(a, m, SELL, YES, 500, 5, FOK) == -REJ_FOK_NOT_FILLABLE
    assert e.place(a, m, SELL, YES, 500, 5, FOK, NONE) == 2
    assert [g[1] for g in got_events(e)] == [EV_ACCEPTED, EV_FILL, EV_LEVEL]
    assert e.position(a, m) == (5, 0, 5, 0)
    finish(e)


@pytest.mark.parametrize(("stp", "fills"), [(CM, 0), (NONE, 5)])
def test_amend_keeps_the_orders_stp_mode(engine, stp, fills):
    # The bid re-enters at 600 and meets A's own ask: NONE (kept from the
    # place) fills it, CANCEL_MAKER cancels it.
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.mint(a, m, 5) == REJ_OK
    assert e.place(a, m, SELL, YES, 600, 5) == 1
    assert e.place(a, m, BUY, YES, 500, 5, GTC, stp) == 2
    assert e.amend(a, 2, 600, 5) == REJ_OK
    kinds = [g[1] for g in got_events(e)]
    assert kinds[0] == EV_AMENDED
    assert kinds.count(EV_FILL) == (1 if fills else 0)
    assert kinds.count(EV_CANCELED) == (0 if fills else 1)
    # either way A's 5 YES are back in hand; only CANCEL_MAKER leaves the bid
    assert e.position(a, m)[:2] == (5, 0)
    assert [tuple(o)[:2] for o in e.book_orders(m)] == ([] if fills else [(2, a)])
    finish(e)


def test_stp_none_survives_a_snapshot():
    from probo_engine import Core

    core = Core()
    m, (a,) = world(core, 10_000)
    assert core.mint(a, m, 5) == REJ_OK
    assert core.place(a, m, BUY, YES, 500, 5, GTC, NONE) == 1
    assert core.place(a, m, SELL, YES, 650, 5) == 2
    back = Core.restore(core.snapshot())
    assert back.snapshot() == core.snapshot()
    for eng in (core, back):  # the restored order still trades with its owner
        assert eng.amend(a, 1, 650, 5) == REJ_OK
        assert [g[1] for g in got_events(eng)].count(EV_FILL) == 1
    assert back.snapshot() == core.snapshot()


# --- Engine(self_trade=...): the default mode of orders given none -------------


def engine_world(**kw):
    e = Engine(**kw)
    m = e.create_market(symbol="M")
    a = e.create_user(name="a")
    e.deposit(a, 10_000)
    e.mint(a, m, 5)
    e.place(a, m, BUY, YES, 500, 5)  # order 1 rests: A's own bid
    return e, m, a


def test_engine_self_trade_default_is_cancel_maker():
    e, m, a = engine_world()
    assert e.self_trade is SelfTrade.CANCEL_MAKER
    r = e.submit("a", "M", SELL, YES, 500, 5)
    assert r.filled == 0 and r.resting == 5  # order 1 was canceled instead


@pytest.mark.parametrize(
    "how",
    [
        "submit",
        "place",
        "submit_market",
        "place_market",
        "place_limit",
        "place_ioc",
        "place_limit_fills",
    ],
)
def test_engine_self_trade_none_applies_to_orders_given_no_mode(how):
    e, m, a = engine_world(self_trade=SelfTrade.NONE)
    assert e.self_trade is SelfTrade.NONE
    if how == "submit":
        assert e.submit("a", "M", SELL, YES, 500, 5).filled == 5
    elif how == "place":
        assert e.place("a", "M", SELL, YES, 500, 5) == 2
    elif how == "place_limit":
        assert e.place_limit("a", "M", SELL, YES, 500, 5) == 2
    elif how == "place_ioc":
        assert e.place_ioc("a", "M", SELL, YES, 500, 5) == 2
    elif how == "place_limit_fills":
        assert e.place_limit_fills("a", "M", SELL, YES, 500, 5) == (2, ((1, 500, 5),))
    elif how == "submit_market":
        assert e.submit_market("a", "M", SELL, YES, 5).filled == 5
    else:
        assert e.place_market("a", "M", SELL, YES, 5) == 2
    assert [ev.kind.name for ev in e.events()].count("FILL") == 1
    assert e.position(a, m) == (5, 0, 5, 0)
    e.check_invariants()


def test_engine_self_trade_an_order_given_a_mode_keeps_it():
    e, m, a = engine_world(self_trade=3)
    r = e.submit("a", "M", SELL, YES, 500, 5, stp=SelfTrade.CANCEL_MAKER)
    assert (r.filled, r.resting) == (0, 5)  # order 1 canceled, the ask rests
    assert e.place(a, m, BUY, YES, 500, 1, 0, SelfTrade.CANCEL_TAKER) > 0
    assert [ev.kind.name for ev in e.events()] == ["ACCEPTED", "CANCELED"]
    assert e.place(a, m, BUY, YES, 500, 1, 0, 0) > 0  # 0 given: CANCEL_MAKER
    assert [ev.kind.name for ev in e.events()].count("FILL") == 0


def test_engine_self_trade_survives_pickling_not_a_bare_snapshot():
    import pickle

    e, m, a = engine_world(self_trade=SelfTrade.NONE)
    assert pickle.loads(pickle.dumps(e)).self_trade is SelfTrade.NONE
    assert Engine.restore(e.snapshot()).self_trade is SelfTrade.CANCEL_MAKER


def test_engine_self_trade_setter_checks_and_changes_only_new_orders():
    e, m, a = engine_world()
    e.self_trade = SelfTrade.NONE
    assert e.self_trade is SelfTrade.NONE
    assert e.submit(a, m, SELL, YES, 500, 5).filled == 5
    bad_values = [
        (4, InvalidArgumentError),
        (-1, InvalidArgumentError),
        (Side.SELL, ArgumentTypeError),
        (1.0, ArgumentTypeError),
        ("NONE", ArgumentTypeError),
        (None, ArgumentTypeError),
    ]
    for bad, exc in bad_values:
        with pytest.raises(exc):
            e.self_trade = bad
        assert e.self_trade is SelfTrade.NONE
    with pytest.raises(InvalidArgumentError):
        Engine(self_trade=7)
