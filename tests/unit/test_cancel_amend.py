"""Order management: cancel, cancel by client id, amend, cancel_all.

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
    GTC,
    NO,
    SELL,
    YES,
    E,
    T,
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
    CANCEL_USER,
    CMD_CANCEL,
    CMD_CANCEL_CLIENT,
    EV_AMENDED,
    EV_FILL,
    EV_REJECTED,
    FILL_MINT,
    REJ_OK,
    REJ_POST_ONLY_WOULD_CROSS,
    REJ_STALE_TIME,
    REJ_UNKNOWN_ORDER,
    REJ_UNKNOWN_USER,
)

# --- cancel ---------------------------------------------------------------------


def test_cancel_in_the_middle_of_a_queue(engine):
    e = engine
    m, (a, b, c, d) = world(e, 10_000, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 1) == 1
    assert e.place(b, m, BUY, YES, 500, 2) == 2
    assert e.place(c, m, BUY, YES, 500, 3) == 3
    assert e.cancel(b, 2, 9) == REJ_OK
    assert_events(
        e,
        [
            canc(T(m, b, 2, BUY, YES, ts=9), 500, 2, CANCEL_USER, 500, BID),
            lvl(m, BID, 500, 4, 2, ts=9),
        ],
    )
    assert e.balance(b) == (10_000, 0)
    assert [tuple(o)[:2] for o in e.book_orders(m)] == [(1, a), (3, c)]
    assert e.order(2) is None
    # A then C still fill in their order.
    assert e.place(d, m, BUY, NO, 500, 4) == 4
    assert [(g[11], g[12], g[9]) for g in got_events(e) if g[1] == EV_FILL] == [
        (a, 1, 1),
        (c, 3, 3),
    ]
    finish(e)


def test_cancel_of_a_resting_sell_unlocks_shares(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    assert e.place(b, m, SELL, NO, 300, 4) == 3
    assert e.position(b, m) == (0, 0, 6, 4)
    assert e.cancel(b, 3) == REJ_OK
    assert_events(
        e,
        [
            canc(T(m, b, 3, SELL, NO), 300, 4, CANCEL_USER, 700, BID),
            lvl(m, BID, 700, 0, 0),
        ],
    )
    assert e.position(b, m) == (0, 0, 10, 0)
    finish(e)


def test_cancel_of_another_users_or_dead_order_is_unknown_order(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 2) == 1
    assert e.place(a, m, BUY, YES, 450, 2) == 2
    assert e.place(b, m, BUY, NO, 500, 2) == 3  # fills order 1 entirely
    before = state(e)
    for uid, oid, code in [
        (b, 2, REJ_UNKNOWN_ORDER),  # A's order
        (a, 1, REJ_UNKNOWN_ORDER),  # filled
        (a, 3, REJ_UNKNOWN_ORDER),  # B's, and filled
        (a, 99, REJ_UNKNOWN_ORDER),  # never issued
        (a, 0, REJ_UNKNOWN_ORDER),
        (a, -2, REJ_UNKNOWN_ORDER),
        (7, 2, REJ_UNKNOWN_USER),
    ]:
        assert e.cancel(uid, oid) == -code
        assert_events(
            e,
            [E(EV_REJECTED, user=uid, oid=oid, code=code, aux=CMD_CANCEL)],
        )
        assert state(e) == before
    assert e.cancel(a, 2) == REJ_OK
    assert e.cancel(a, 2) == -REJ_UNKNOWN_ORDER  # twice
    finish(e)


# --- amend -------------------------------------------------------------------------


def test_amend_events_and_priority(engine):
    e = engine
    m, (a, b, c) = world(e, 10_000, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 5) == 1
    assert e.place(b, m, BUY, YES, 500, 5) == 2
    # smaller, same price: in place, priority kept, 2 * 500 unlocked
    assert e.amend(a, 1, 500, 3, 4) == REJ_OK
    t = T(m, a, 1, BUY, YES, ts=4)
    assert_events(
        e,
        [E(EV_AMENDED, **t, price=500, qty=3, code=1, price2=500, aux=5),
         lvl(m, BID, 500, 8, 2, ts=4)],
    )  # fmt: skip
    assert e.balance(a) == (8_500, 1_500)
    assert [o[0] for o in e.book_orders(m)] == [1, 2]
    # the same again: accepted, nothing changes, no LEVEL
    assert e.amend(a, 1, 500, 3) == REJ_OK
    assert [g[1] for g in got_events(e)] == [EV_AMENDED]
    # more quantity: to the back of the level
    assert e.amend(a, 1, 500, 4) == REJ_OK
    assert [g[10] for g in got_events(e)] == [0, 0]
    assert [o[0] for o in e.book_orders(m)] == [2, 1]
    # a new price that crosses C's ask at 550: it trades as a taker first
    assert e.place(c, m, BUY, NO, 450, 2) == 3
    assert e.amend(a, 1, 550, 4) == REJ_OK
    t = T(m, a, 1, BUY, YES, ts=4)  # ts 0: at the clock (4)
    assert_events(
        e,
        [
            E(EV_AMENDED, **t, price=550, qty=4, code=0, price2=500, aux=4),
            fill(t, 550, 2, FILL_MINT, c, 3, 550, 0),
            lvl(m, BID, 500, 5, 1, ts=4),
            lvl(m, ASK, 550, 0, 0, ts=4),
            lvl(m, BID, 550, 2, 1, ts=4),
        ],
    )
    assert e.balance(a) == (10_000 - 1_100 - 1_100, 1_100)
    assert tuple(e.order(1)) == (m, 1, a, BUY, YES, 550, 2, 550, BID, GTC, 0, 0)
    finish(e)


def test_amend_of_a_post_only_order_that_would_cross_changes_nothing(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 2, GTC, CM, 0, True) == 1
    assert e.place(b, m, BUY, NO, 400, 2) == 2  # ask at YES 600
    before = state(e)
    assert e.amend(a, 1, 600, 2) == -REJ_POST_ONLY_WOULD_CROSS
    assert state(e) == before
    assert e.amend(a, 1, 550, 2) == REJ_OK
    finish(e)


# --- cancel_all ----------------------------------------------------------------------


def test_cancel_all(engine):
    e = engine
    m0, (a, b) = world(e, 10_000, 10_000)
    m1 = e.create_market()
    assert e.place(a, m1, BUY, YES, 500, 1) == 1
    assert e.place(a, m0, BUY, YES, 450, 1) == 2
    assert e.place(b, m0, BUY, YES, 450, 1) == 3
    assert e.place(a, m0, BUY, NO, 400, 1) == 4
    assert e.cancel_all(a, m0, 6) == 2
    assert_events(
        e,
        [
            canc(T(m0, a, 2, BUY, YES, ts=6), 450, 1, CANCEL_USER, 450, BID),
            canc(T(m0, a, 4, BUY, NO, ts=6), 400, 1, CANCEL_USER, 600, ASK),
            lvl(m0, BID, 450, 1, 1, ts=6),
            lvl(m0, ASK, 600, 0, 0, ts=6),
        ],
    )
    assert e.cancel_all(a) == 1
    assert e.cancel_all(a) == 0
    assert e.last_events() == []
    assert [o[1] for o in e.user_orders(b)] == [3]
    finish(e)


def test_cancel_all_with_any_negative_market_means_every_market(engine):
    # docs: "cancels the user's live orders (in one market if mid >= 0)" and
    # "102 (if a market is given)": mid -5 is no market, not an unknown one.
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.place(a, m, BUY, YES, 500, 1) == 1
    assert e.cancel_all(a, -5) == 1
    finish(e)


# --- cancel by client order id ---------------------------------------------------


def test_cancel_client_is_cancel_of_the_order_with_that_client_id(engine_cls):
    # The same command as cancel: same result, events and state.
    def go(by_client):
        e = engine_cls()
        m, (a, b) = world(e, 10_000, 10_000)
        assert e.place(a, m, BUY, YES, 500, 1, client_id=7) == 1
        assert e.place(b, m, BUY, YES, 500, 2, client_id=7) == 2
        assert e.place(b, m, BUY, YES, 500, 3, client_id=8) == 3
        r = e.cancel_client(b, 7, 9) if by_client else e.cancel(b, 2, 9)
        return e, r, got_events(e)

    e, r, events = go(by_client=True)
    assert r == REJ_OK
    assert [g[1:] for g in events] == [
        canc(T(0, 1, 2, BUY, YES, ts=9), 500, 2, CANCEL_USER, 500, BID),
        lvl(0, BID, 500, 4, 2, ts=9),
    ]
    ref, r_ref, events_ref = go(by_client=False)
    assert (r, events) == (r_ref, events_ref)
    assert state(e) == state(ref)
    assert e.order_by_client_id(1, 7) is None
    assert e.order_by_client_id(0, 7)[1] == 1  # a's 7 is another order
    finish(e)


def test_cancel_client_refusals(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 1, client_id=7) == 1
    assert e.place(a, m, BUY, YES, 500, 1) == 2  # no client id

    def refused(uid, cid, code, ts=0):
        before = state(e)
        assert e.cancel_client(uid, cid, ts) == -code
        ev = E(
            EV_REJECTED, ts=ts, user=uid, code=code, user2=cid, aux=CMD_CANCEL_CLIENT
        )
        assert_events(e, [ev])
        assert state(e) == before

    refused(b, 7, REJ_UNKNOWN_ORDER)  # someone else's client id
    refused(a, 0, REJ_UNKNOWN_ORDER)  # 0 is "none", never an order's
    refused(a, 9, REJ_UNKNOWN_ORDER)  # no such order
    refused(5, 7, REJ_UNKNOWN_USER)
    refused(-1, 7, REJ_UNKNOWN_USER)
    assert e.expire(20) == 0
    refused(a, 7, REJ_STALE_TIME, ts=3)
    assert e.cancel_client(a, 7) == REJ_OK
    refused(a, 7, REJ_UNKNOWN_ORDER, ts=20)  # canceled: gone
    finish(e)


def test_cancel_client_frees_the_client_id_for_reuse(engine):
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.place(a, m, BUY, YES, 500, 1, client_id=4) == 1
    assert e.cancel_client(a, 4) == REJ_OK
    assert e.place(a, m, BUY, YES, 450, 2, client_id=4) == 2
    assert e.cancel_client(a, 4) == REJ_OK
    assert e.balance(a) == (10_000, 0)
    assert e.book_orders(m) == []
    finish(e)


@pytest.mark.parametrize("bad", [-1, 2**32, 2**63])
def test_cancel_client_id_out_of_range_is_misuse(engine, bad):
    e = engine
    m, (a,) = world(e, 10_000)
    assert e.place(a, m, BUY, YES, 500, 1, client_id=4) == 1
    before, events = state(e), got_events(e)
    with pytest.raises((ValueError, OverflowError)):
        e.cancel_client(a, bad)
    with pytest.raises(TypeError):
        e.cancel_client(a, 4.0)
    assert state(e) == before and got_events(e) == events


def test_engine_cancel_client_takes_a_user_name():
    from probo_engine import Engine

    e = Engine()
    m = e.create_market(symbol="M")
    e.create_user(name="asha")
    e.deposit("asha", 10_000)
    assert e.place("asha", "M", BUY, YES, 500, 2, client_id=3) == 1
    assert e.cancel_client("nobody", 3) == -REJ_UNKNOWN_USER
    assert e.cancel_client("asha", 3) == REJ_OK
    assert e.balance("asha") == (10_000, 0)
    assert e.book_orders(m) == []
