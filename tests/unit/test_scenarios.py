"""Named scenarios, one rule each, with the numbers written out.

Every test runs against each implementation (``engine_cls`` in conftest.py):
the pure-Python oracle and, once built, the Cython core.  The rules are those of
docs/semantics.md.  A fresh engine gives users ids 0, 1, 2, ..., markets ids
0, 1, ... and orders ids 1, 2, ..., so the scenarios write ids out literally.
Each test ends with ``finish(e)``: the engine's own ``check_invariants()`` plus an
independent conservation check made from the public queries.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

import reference
from reference import (
    BOOK_ASK,
    BOOK_BID,
    CANCEL_CLOSED,
    CANCEL_EXPIRED,
    CANCEL_HALTED,
    CANCEL_IOC,
    CANCEL_RESOLVED,
    CANCEL_SELF_TRADE,
    CANCEL_USER,
    CMD_AMEND,
    CMD_CANCEL,
    CMD_CANCEL_ALL,
    CMD_DEPOSIT,
    CMD_HALT,
    CMD_MERGE,
    CMD_MINT,
    CMD_PLACE,
    CMD_RESOLVE,
    CMD_RESUME,
    CMD_WITHDRAW,
    EV_ACCEPTED,
    EV_AMENDED,
    EV_CANCELED,
    EV_CASH,
    EV_FILL,
    EV_LEVEL,
    EV_MARKET,
    EV_PAIR,
    EV_REJECTED,
    EV_SETTLEMENT,
    EVENT_FIELDS,
    FEE_BPS,
    FEE_CURVE,
    FILL_MERGE,
    FILL_MINT,
    FILL_TRANSFER,
    MARKET_CLOSED,
    MARKET_HALTED,
    MARKET_OPEN,
    MARKET_RESOLVED,
    MAX_QTY,
    MAX_TOTAL_CASH,
    OUTCOME_NO,
    OUTCOME_YES,
    REJ_BELOW_MIN_QTY,
    REJ_CASH_LIMIT,
    REJ_DUPLICATE_CLIENT_ID,
    REJ_FOK_NOT_FILLABLE,
    REJ_INSUFFICIENT_FUNDS,
    REJ_INSUFFICIENT_SHARES,
    REJ_INVALID_AMOUNT,
    REJ_INVALID_EXPIRY,
    REJ_INVALID_QTY,
    REJ_INVALID_SETTLEMENT,
    REJ_INVALID_TRANSITION,
    REJ_MARKET_NOT_OPEN,
    REJ_OK,
    REJ_POST_ONLY_WOULD_CROSS,
    REJ_PRICE_OFF_GRID,
    REJ_STALE_TIME,
    REJ_TOO_MANY_ORDERS,
    REJ_UNKNOWN_MARKET,
    REJ_UNKNOWN_ORDER,
    REJ_UNKNOWN_USER,
    SIDE_BUY,
    SIDE_SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    TIF_FOK,
    TIF_GTC,
    TIF_GTD,
    TIF_IOC,
)

BUY, SELL = SIDE_BUY, SIDE_SELL
YES, NO = OUTCOME_YES, OUTCOME_NO
BID, ASK = BOOK_BID, BOOK_ASK
GTC, IOC, FOK, GTD = TIF_GTC, TIF_IOC, TIF_FOK, TIF_GTD
CM, CT, CB = STP_CANCEL_MAKER, STP_CANCEL_TAKER, STP_CANCEL_BOTH


# --- helpers --------------------------------------------------------------------


def E(kind: int, **fields: int) -> tuple:
    """An expected event, without its ``seq`` (fields not given are 0)."""
    for name in fields:
        assert name in EVENT_FIELDS[2:], name
    values = dict.fromkeys(EVENT_FIELDS[2:], 0)
    values.update(fields)
    return (kind, *(values[name] for name in EVENT_FIELDS[2:]))


def T(market, user, oid, side, outcome, ts=0) -> dict:
    """The order fields shared by an order's ACCEPTED, FILL and CANCELED events."""
    return {
        "ts": ts, "market": market, "user": user, "oid": oid, "side": side,
        "outcome": outcome,
    }  # fmt: skip


def acc(t: dict, price, qty, tif, yes_price, book_side, client_id=0, expire_ts=0):
    """ACCEPTED: own price, qty, tif, YES price, book side (+ post-only, market)."""
    return E(EV_ACCEPTED, **t, price=price, qty=qty, code=tif, price2=yes_price,
             aux=book_side, user2=client_id, oid2=expire_ts)  # fmt: skip


def fill(t: dict, x, q, kind, maker, maker_oid, taker_x, maker_left, fee=0, fee2=0):
    """FILL (``t`` = the taker): YES price x, qty, kind, maker, x in taker terms,
    maker qty left, taker fee, maker fee."""
    return E(EV_FILL, **t, price=x, qty=q, code=kind, user2=maker, oid2=maker_oid,
             price2=taker_x, aux=maker_left, fee=fee, fee2=fee2)  # fmt: skip


def canc(t: dict, price, qty, reason, yes_price, book_side) -> tuple:
    """CANCELED: own price, qty canceled, reason, YES price, book side."""
    return E(EV_CANCELED, **t, price=price, qty=qty, code=reason, price2=yes_price,
             aux=book_side)  # fmt: skip


def lvl(market, book_side, yes_price, total, count, ts=0) -> tuple:
    """LEVEL: a price level's new total and order count."""
    return E(EV_LEVEL, ts=ts, market=market, side=book_side, price=yes_price,
             qty=total, aux=count)  # fmt: skip


def got_events(e) -> list[tuple]:
    """``e.last_events()`` as tuples, checking each is 17 plain ints."""
    out = []
    for ev in e.last_events():
        t = tuple(ev)
        assert len(t) == len(EVENT_FIELDS), t
        assert all(type(x) is int for x in t), t
        out.append(t)
    return out


def assert_events(e, expected: list[tuple], first_seq: int | None = None) -> list:
    """The last command's events are ``expected`` with gap-free seqs."""
    got = got_events(e)
    assert [g[1:] for g in got] == expected
    if got:
        seqs = [g[0] for g in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(got)))
        if first_seq is not None:
            assert seqs[0] == first_seq
    return got


def depth(e, mid: int, n: int = 1000) -> tuple[list, list]:
    bids, asks = e.depth(mid, n)
    return [tuple(x) for x in bids], [tuple(x) for x in asks]


def state(e) -> dict:
    """Everything the public queries show, to check that nothing changed."""
    net, n_users, n_markets, n_live = e.totals()
    users, markets = range(n_users), range(n_markets)
    return {
        "totals": tuple(e.totals()),
        "balances": [tuple(e.balance(u)) for u in users],
        "positions": [tuple(e.position(u, m)) for u in users for m in markets],
        "tops": [tuple(e.top(m)) for m in markets],
        "depths": [depth(e, m) for m in markets],
        "books": [[tuple(o) for o in e.book_orders(m)] for m in markets],
        "markets": [tuple(e.market(m)) for m in markets],
        "last_prices": [e.last_price(m) for m in markets],
        "user_orders": [[tuple(o) for o in e.user_orders(u)] for u in users],
        "configs": [tuple(e.market_config(m)) for m in markets],
        "fees": e.fees(),
    }


def finish(e) -> None:
    """Invariants of the implementation plus conservation from the queries."""
    e.check_invariants()
    net, n_users, n_markets, n_live = e.totals()
    held = sum(sum(e.balance(u)) for u in range(n_users)) + e.fees()
    for m in range(n_markets):
        payout, tick, status, pairs = e.market(m)
        held += payout * pairs
        yes = sum(e.position(u, m)[0] + e.position(u, m)[1] for u in range(n_users))
        no = sum(e.position(u, m)[2] + e.position(u, m)[3] for u in range(n_users))
        assert yes == no == pairs
    assert held == net
    assert n_live == sum(len(e.book_orders(m)) for m in range(n_markets))


def world(e, *deposits: int, payout: int = 1000, tick: int = 50):
    """Market 0 with the given grid and one user per deposit (0 = no deposit)."""
    m = e.create_market(payout, tick)
    users = []
    for amount in deposits:
        u = e.create_user()
        if amount:
            assert e.deposit(u, amount) == REJ_OK
        users.append(u)
    return m, users


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


# --- rejections -----------------------------------------------------------------


def rejection_world(e):
    """Market 0; user 0 (A) holds 10 YES and bids 2 @ 500 (order 3, client id
    7); 1 (B) holds 10 NO; 2 (C) has nothing.  A: 3000 available, 1000 locked;
    B: 6000.  Market 1 has min_qty 5; market 2 is halted.  Next oid: 4."""
    m, (a, b, c) = world(e, 10_000, 10_000, 0)
    assert (m, a, b, c) == (0, 0, 1, 2)
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    assert e.place(a, m, BUY, YES, 500, 2, GTC, CM, 0, False, 7) == 3
    assert e.balance(a) == (3_000, 1_000)
    assert e.create_market(1000, 50, 0, 0, 0, FEE_BPS, 5) == 1
    assert e.create_market() == 2
    assert e.halt(2) == REJ_OK


def _rej_place(
    uid, mid, side, outcome, price, qty, code, tif=GTC, stp=CM, *more, echo_price=None
):
    """A rejected place; ``echo_price``: the price its event shows, if not the
    given one (a value too wide for the event's int32 price is shown as -1)."""
    return (
        "place",
        (uid, mid, side, outcome, price, qty, tif, stp, 42, *more),
        -code,
        E(
            EV_REJECTED,
            ts=42,
            market=mid,
            user=uid,
            side=side,
            outcome=outcome,
            price=price if echo_price is None else echo_price,
            qty=qty,
            code=code,
            aux=CMD_PLACE,
        ),
    )


def _rej_cash(method, uid, amount, code):
    cmd = CMD_DEPOSIT if method == "deposit" else CMD_WITHDRAW
    return (
        method,
        (uid, amount, 42),
        -code,
        E(EV_REJECTED, ts=42, user=uid, qty=amount, code=code, aux=cmd),
    )


def _rej_cancel(uid, oid, code):
    return (
        "cancel",
        (uid, oid, 42),
        -code,
        E(EV_REJECTED, ts=42, user=uid, oid=oid, code=code, aux=CMD_CANCEL),
    )


def _rej_amend(uid, oid, price, qty, code):
    return (
        "amend",
        (uid, oid, price, qty, 42),
        -code,
        E(EV_REJECTED, ts=42, user=uid, oid=oid, price=price, qty=qty, code=code,
          aux=CMD_AMEND),
    )  # fmt: skip


def _rej_pair(method, uid, mid, qty, code):
    cmd = CMD_MINT if method == "mint" else CMD_MERGE
    return (
        method,
        (uid, mid, qty, 42),
        -code,
        E(EV_REJECTED, ts=42, market=mid, user=uid, qty=qty, code=code, aux=cmd),
    )


def _rej_status(method, mid, yes_value, code):
    cmd = {"halt": CMD_HALT, "resume": CMD_RESUME, "resolve": CMD_RESOLVE}[method]
    args = (mid, 42) if yes_value is None else (mid, yes_value, 42)
    return (
        method,
        args,
        -code,
        E(EV_REJECTED, ts=42, market=mid, price=yes_value or 0, code=code, aux=cmd),
    )


def _rej_cancel_all(uid, mid, code):
    return (
        "cancel_all",
        (uid, mid, 42),
        -code,
        E(EV_REJECTED, ts=42, market=mid, user=uid, code=code, aux=CMD_CANCEL_ALL),
    )


REJECTIONS = {
    # 101 UNKNOWN_USER
    "place-unknown-user": _rej_place(3, 0, BUY, YES, 500, 1, REJ_UNKNOWN_USER),
    "place-negative-user": _rej_place(-1, 0, BUY, YES, 500, 1, REJ_UNKNOWN_USER),
    "place-unknown-user-first": _rej_place(9, 5, BUY, YES, 525, 0, REJ_UNKNOWN_USER),
    "cancel-unknown-user": _rej_cancel(5, 3, REJ_UNKNOWN_USER),
    "deposit-unknown-user": _rej_cash("deposit", 5, 100, REJ_UNKNOWN_USER),
    "deposit-unknown-user-first": _rej_cash("deposit", 5, 0, REJ_UNKNOWN_USER),
    "withdraw-unknown-user": _rej_cash("withdraw", 5, 1, REJ_UNKNOWN_USER),
    # 102 UNKNOWN_MARKET
    "unknown-market": _rej_place(0, 3, BUY, YES, 500, 1, REJ_UNKNOWN_MARKET),
    "negative-market": _rej_place(0, -1, BUY, YES, 500, 1, REJ_UNKNOWN_MARKET),
    "unknown-market-first": _rej_place(0, 3, BUY, YES, 525, 0, REJ_UNKNOWN_MARKET),
    # 104 INVALID_QTY (checked before the price)
    "qty-0": _rej_place(0, 0, BUY, YES, 500, 0, REJ_INVALID_QTY),
    "qty-negative": _rej_place(0, 0, SELL, YES, 500, -3, REJ_INVALID_QTY),
    "qty-over-max": _rej_place(0, 0, BUY, YES, 500, MAX_QTY + 1, REJ_INVALID_QTY),
    "qty-before-price": _rej_place(0, 0, BUY, YES, 525, 0, REJ_INVALID_QTY),
    # 103 PRICE_OFF_GRID (checked before funds)
    "price-not-multiple": _rej_place(0, 0, BUY, YES, 525, 1, REJ_PRICE_OFF_GRID),
    "price-0": _rej_place(0, 0, BUY, YES, 0, 1, REJ_PRICE_OFF_GRID),
    "price-payout": _rej_place(0, 0, BUY, NO, 1000, 1, REJ_PRICE_OFF_GRID),
    "price-negative": _rej_place(0, 0, SELL, YES, -50, 1, REJ_PRICE_OFF_GRID),
    "price-above": _rej_place(0, 0, BUY, YES, 1050, 1, REJ_PRICE_OFF_GRID),
    "price-huge": _rej_place(
        0, 0, BUY, YES, 2**40, 1, REJ_PRICE_OFF_GRID, echo_price=-1
    ),
    "price-int32-max": _rej_place(0, 0, BUY, YES, 2**31 - 1, 1, REJ_PRICE_OFF_GRID),
    "price-before-funds": _rej_place(2, 0, BUY, YES, 525, 1, REJ_PRICE_OFF_GRID),
    # 201 INSUFFICIENT_FUNDS (locked cash does not count)
    "no-cash": _rej_place(2, 0, BUY, YES, 500, 1, REJ_INSUFFICIENT_FUNDS),
    "cash-short": _rej_place(0, 0, BUY, YES, 500, 7, REJ_INSUFFICIENT_FUNDS),
    "cash-short-no": _rej_place(0, 0, BUY, NO, 950, 4, REJ_INSUFFICIENT_FUNDS),
    "withdraw-locked": _rej_cash("withdraw", 0, 3_001, REJ_INSUFFICIENT_FUNDS),
    "withdraw-nothing": _rej_cash("withdraw", 2, 1, REJ_INSUFFICIENT_FUNDS),
    # 202 INSUFFICIENT_SHARES
    "no-shares": _rej_place(2, 0, SELL, YES, 500, 1, REJ_INSUFFICIENT_SHARES),
    "wrong-outcome": _rej_place(0, 0, SELL, NO, 500, 1, REJ_INSUFFICIENT_SHARES),
    "shares-short-yes": _rej_place(0, 0, SELL, YES, 500, 11, REJ_INSUFFICIENT_SHARES),
    "shares-short-no": _rej_place(1, 0, SELL, NO, 500, 11, REJ_INSUFFICIENT_SHARES),
    # 105 INVALID_AMOUNT
    "deposit-0": _rej_cash("deposit", 0, 0, REJ_INVALID_AMOUNT),
    "deposit-negative": _rej_cash("deposit", 0, -100, REJ_INVALID_AMOUNT),
    "withdraw-0": _rej_cash("withdraw", 0, 0, REJ_INVALID_AMOUNT),
    "withdraw-negative": _rej_cash("withdraw", 2, -1, REJ_INVALID_AMOUNT),
    # 203 CASH_LIMIT: 20000 is in the system already
    "cash-limit": _rej_cash("deposit", 2, MAX_TOTAL_CASH, REJ_CASH_LIMIT),
    "cash-limit-by-1": _rej_cash(
        "deposit", 2, MAX_TOTAL_CASH - 20_000 + 1, REJ_CASH_LIMIT
    ),
    # 301 FOK_NOT_FILLABLE: only A's 2 @ 500 cross
    "fok": _rej_place(1, 0, BUY, NO, 500, 3, REJ_FOK_NOT_FILLABLE, FOK),
    "fok-nothing": _rej_place(1, 0, BUY, NO, 450, 1, REJ_FOK_NOT_FILLABLE, FOK),
    # 302 UNKNOWN_ORDER
    "cancel-foreign": _rej_cancel(1, 3, REJ_UNKNOWN_ORDER),
    "cancel-filled": _rej_cancel(0, 1, REJ_UNKNOWN_ORDER),
    "cancel-never-issued": _rej_cancel(0, 4, REJ_UNKNOWN_ORDER),
    "cancel-0": _rej_cancel(0, 0, REJ_UNKNOWN_ORDER),
    "amend-foreign": _rej_amend(1, 3, 500, 1, REJ_UNKNOWN_ORDER),
    "amend-filled": _rej_amend(0, 1, 600, 1, REJ_UNKNOWN_ORDER),
    # amend: 101, 302, 401, 104, 108, 103, 201/202, 303
    "amend-unknown-user": _rej_amend(5, 3, 500, 1, REJ_UNKNOWN_USER),
    "amend-qty-0": _rej_amend(0, 3, 525, 0, REJ_INVALID_QTY),
    "amend-off-grid": _rej_amend(0, 3, 525, 2, REJ_PRICE_OFF_GRID),
    "amend-funds": _rej_amend(0, 3, 500, 9, REJ_INSUFFICIENT_FUNDS),
    # 106 DUPLICATE_CLIENT_ID: A's order 3 is live with client id 7
    "client-id": _rej_place(
        0, 0, BUY, YES, 450, 1, REJ_DUPLICATE_CLIENT_ID, GTC, CM, False, 7
    ),  # fmt: skip
    # 107 INVALID_EXPIRY: GTD with expire_ts <= ts (ts is 42)
    "gtd-now": _rej_place(
        0, 0, BUY, YES, 450, 1, REJ_INVALID_EXPIRY, GTD, CM, False, 0, 42
    ),  # fmt: skip
    "gtd-past": _rej_place(
        0, 0, BUY, YES, 450, 1, REJ_INVALID_EXPIRY, GTD, CM, False, 0, -5
    ),  # fmt: skip
    # 108 BELOW_MIN_QTY (market 1: min_qty 5), checked before the price
    "min-qty": _rej_place(0, 1, BUY, YES, 525, 4, REJ_BELOW_MIN_QTY),
    # 303 POST_ONLY_WOULD_CROSS: B's ask at YES 500 would meet A's bid
    "post-only": _rej_place(
        1, 0, BUY, NO, 500, 1, REJ_POST_ONLY_WOULD_CROSS, GTC, CM, True
    ),  # fmt: skip
    # 401 MARKET_NOT_OPEN (market 2 is halted), checked before qty and price
    "halted-place": _rej_place(0, 2, BUY, YES, 525, 0, REJ_MARKET_NOT_OPEN),
    "halted-mint": _rej_pair("mint", 0, 2, 1, REJ_MARKET_NOT_OPEN),
    # mint: 101, 102, 401, 104, 201; merge: ..., 202
    "mint-unknown-market": _rej_pair("mint", 0, 9, 1, REJ_UNKNOWN_MARKET),
    "mint-qty": _rej_pair("mint", 0, 0, 0, REJ_INVALID_QTY),
    "mint-funds": _rej_pair("mint", 0, 0, 4, REJ_INSUFFICIENT_FUNDS),
    "merge-unknown-user": _rej_pair("merge", 5, 0, 1, REJ_UNKNOWN_USER),
    "merge-shares": _rej_pair("merge", 0, 0, 1, REJ_INSUFFICIENT_SHARES),
    # 402 INVALID_TRANSITION, 403 INVALID_SETTLEMENT
    "halt-halted": _rej_status("halt", 2, None, REJ_INVALID_TRANSITION),
    "resume-open": _rej_status("resume", 0, None, REJ_INVALID_TRANSITION),
    "halt-unknown": _rej_status("halt", 3, None, REJ_UNKNOWN_MARKET),
    "resolve-above": _rej_status("resolve", 0, 1001, REJ_INVALID_SETTLEMENT),
    "resolve-negative": _rej_status("resolve", 2, -1, REJ_INVALID_SETTLEMENT),
    # cancel_all: 101, 102 (if a market is given)
    "cancel-all-unknown-user": _rej_cancel_all(5, -1, REJ_UNKNOWN_USER),
    "cancel-all-unknown-market": _rej_cancel_all(0, 3, REJ_UNKNOWN_MARKET),
}


@pytest.mark.parametrize(
    ("method", "args", "result", "event"),
    list(REJECTIONS.values()),
    ids=list(REJECTIONS),
)
def test_rejection(engine, method, args, result, event):
    e = engine
    rejection_world(e)
    before = state(e)
    assert getattr(e, method)(*args) == result
    assert_events(e, [event])
    assert state(e) == before
    # No order id was used up.
    assert e.place(0, 0, BUY, YES, 50, 1) == 4
    finish(e)


def test_every_reject_code_is_covered():
    codes = {abs(result) for _, _, result, _ in REJECTIONS.values()}
    codes |= {REJ_TOO_MANY_ORDERS}  # needs engine limits: test_engine_limits
    codes |= {REJ_STALE_TIME}  # needs a clock: test_time_may_not_go_backwards
    every = {v for k, v in vars(reference).items() if k.startswith("REJ_") and v}
    assert codes == every


def test_boundaries_are_accepted(engine):
    e = engine
    rejection_world(e)
    assert e.place(0, 0, BUY, YES, 500, 6) == 4  # exactly 3000 available
    assert e.balance(0) == (0, 4_000)
    assert e.place(0, 0, SELL, YES, 950, 10) == 5  # all 10 YES
    assert e.place(1, 0, SELL, NO, 50, 10) == 6  # YES 950 bid: merges with 5
    assert e.market(0)[3] == 0
    assert e.place(2, 0, BUY, YES, 50, 1) == -REJ_INSUFFICIENT_FUNDS
    assert e.deposit(2, MAX_TOTAL_CASH - 20_000) == REJ_OK
    assert e.totals()[0] == MAX_TOTAL_CASH
    assert e.deposit(2, 1) == -REJ_CASH_LIMIT
    assert e.place(2, 0, BUY, YES, 950, MAX_QTY) == 7
    assert e.balance(2) == (MAX_TOTAL_CASH - 20_000 - 950 * MAX_QTY, 950 * MAX_QTY)
    assert e.withdraw(2, 1) == REJ_OK
    assert e.deposit(2, 1) == REJ_OK
    finish(e)


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


# --- misuse ---------------------------------------------------------------------


def misuse_world(e):
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 2) == 1
    assert e.place(b, m, BUY, NO, 400, 1) == 2


PLACE_OK = (1, 0, BUY, NO, 500, 1, GTC, CM, 0)  # would fill against order 1


def _place_with(i, value):
    args = list(PLACE_OK)
    args[i] = value
    return tuple(args)


TYPE_ERRORS = [
    ("place", _place_with(i, bad))
    for i in range(9)
    for bad in (1.0, True, "1", None, Decimal(1))
] + [
    ("deposit", (0, 100.0)),
    ("deposit", (True, 100)),
    ("deposit", (0, None)),
    ("deposit", (0, 100, 1.5)),
    ("withdraw", (0, "1")),
    ("withdraw", (0, Decimal(5))),
    ("cancel", (0, 1.0)),
    ("cancel", (None, 1)),
    ("cancel", (0, False)),
    ("create_market", (1000.0, 50)),
    ("create_market", (1000, True)),
    ("create_market", (1000, 50, "0")),
]

VALUE_ERRORS = [
    ("place", _place_with(2, 2)),  # side
    ("place", _place_with(2, -1)),
    ("place", _place_with(3, 5)),  # outcome
    ("place", _place_with(6, 9)),  # tif
    ("place", _place_with(7, 3)),  # stp
    ("place", (9, 9, 2, YES, 525, 0)),  # misuse wins over reject codes
    ("create_market", (1000, 0)),
    ("create_market", (1000, -50)),
    ("create_market", (1000, 30)),  # not a multiple
    ("create_market", (50, 50)),  # payout < 2 * tick
    ("create_market", (0, 50)),
    ("create_market", (2_000_000, 1000)),  # payout > 1_000_000
    ("create_market", (1_000_000, 1)),  # 999_999 levels > 100_000
]

OVERFLOW_ERRORS = [
    ("place", _place_with(0, 2**63)),
    ("place", _place_with(4, -(2**63) - 1)),
    ("place", _place_with(5, 2**63)),
    ("place", _place_with(8, 2**64)),
    ("deposit", (0, 2**63)),
    ("withdraw", (0, 2**70)),
    ("cancel", (0, 2**63)),
]


def _check_misuse(e, method, args, exc):
    misuse_world(e)
    before = state(e)
    events = got_events(e)
    with pytest.raises(exc):
        getattr(e, method)(*args)
    assert state(e) == before
    assert got_events(e) == events
    finish(e)


@pytest.mark.parametrize(("method", "args"), TYPE_ERRORS)
def test_misuse_raises_type_error(engine, method, args):
    _check_misuse(engine, method, args, TypeError)


@pytest.mark.parametrize(("method", "args"), VALUE_ERRORS)
def test_misuse_raises_value_error(engine, method, args):
    # An out-of-range enum may surface as OverflowError where the C type is narrow.
    exc = ValueError if method == "create_market" else (ValueError, OverflowError)
    _check_misuse(engine, method, args, exc)


@pytest.mark.parametrize(("method", "args"), OVERFLOW_ERRORS)
def test_misuse_raises_overflow_error(engine, method, args):
    _check_misuse(engine, method, args, OverflowError)


def test_numpy_integers_are_accepted(engine):
    np = pytest.importorskip("numpy")
    e = engine
    m = e.create_market(np.int64(1000), np.int32(50))
    a, b = e.create_user(), e.create_user()
    assert e.deposit(np.int64(a), np.uint32(10_000), np.int64(3)) == REJ_OK
    assert e.deposit(b, np.int16(10_000)) == REJ_OK
    args = (np.int64(a), np.int8(m), np.int8(BUY), np.uint8(YES), np.int16(600))
    assert e.place(*args, np.int64(10), np.int8(GTC), np.int8(CM), np.int64(3)) == 1
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    assert e.cancel(np.int64(a), np.uint64(1)) == -REJ_UNKNOWN_ORDER
    assert e.withdraw(np.int32(a), np.int64(4_000)) == REJ_OK
    assert tuple(e.order(2) or ()) == ()
    assert e.balance(a) == (0, 0)
    for ev in got_events(e):
        assert all(type(x) is int for x in ev)
    finish(e)


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


# --- fees --------------------------------------------------------------------------


def test_bps_taker_fee_with_the_fee_reserve(engine):
    e = engine
    m = e.create_market(1000, 50, 0, 100, 0, FEE_BPS)  # taker 1%, maker 0
    a, b = e.create_user(), e.create_user()
    e.deposit(a, 10_000)
    e.deposit(b, 10_000)
    # A's buy reserves ceil(1% of 600) = 6 per share: 10 * 606 locked.
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.balance(a) == (3_940, 6_060)
    # B (taker) buys NO @ 400: fee ceil(1% * 10 * 400) = 40.
    assert e.place(b, m, BUY, NO, 400, 10) == 2
    t = T(m, b, 2, BUY, NO)
    assert_events(
        e,
        [
            acc(t, 400, 10, GTC, 600, ASK),
            fill(t, 600, 10, FILL_MINT, a, 1, 400, 0, fee=40),
            lvl(m, BID, 600, 0, 0),
        ],
    )
    assert e.balance(a) == (4_000, 0)  # the maker's unused reserve comes back
    assert e.balance(b) == (10_000 - 4_040, 0)
    assert e.fees() == 40
    finish(e)


def test_curve_fee_rounds_up_and_sellers_pay_from_proceeds(engine):
    e = engine
    m = e.create_market(100, 1, 0, 700, 0, FEE_CURVE)  # taker 7% curve
    a, b, c = e.create_user(), e.create_user(), e.create_user()
    for u in (a, b, c):
        e.deposit(u, 10_000)
    # A bids YES 40 x10: reserve ceil(700 * 40 * 60 / 1e6) = ceil(1.68) = 2/share.
    assert e.place(a, m, BUY, YES, 40, 10) == 1
    assert e.balance(a) == (10_000 - 420, 420)
    # B buys NO @ 60 (taker, e = 60): fee ceil(700 * 10 * 60 * 40 / 1e6) = 17;
    # its reserve is ceil(700 * 50 * 50 / 1e6) = 2/share (2 * 60 > 100).
    assert e.place(b, m, BUY, NO, 60, 10) == 2
    fills = [g for g in got_events(e) if g[1] == EV_FILL]
    assert [(f[8], f[9], f[15], f[16]) for f in fills] == [(40, 10, 17, 0)]
    assert e.balance(a) == (10_000 - 400, 0)
    assert e.balance(b) == (10_000 - 617, 0)
    # C bids YES 55 x4, then A sells 4 YES @ 50 into it (A is the taker).
    assert e.place(c, m, BUY, YES, 55, 4) == 3  # reserve ceil(700*55*45/1e6)=2
    assert e.place(a, m, SELL, YES, 50, 4) == 4  # taker at 55: fee
    fills = [g for g in got_events(e) if g[1] == EV_FILL]
    # fee ceil(700 * 4 * 55 * 45 / 1e6) = ceil(6.93) = 7, out of 4 * 55 = 220
    assert [(f[8], f[9], f[10], f[15], f[16]) for f in fills] == [
        (55, 4, FILL_TRANSFER, 7, 0)
    ]
    assert e.balance(a) == (10_000 - 400 + 220 - 7, 0)
    assert e.balance(c) == (10_000 - 220, 0)
    assert e.fees() == 17 + 7
    finish(e)


def test_maker_rebate_is_capped_by_the_fee_account(engine):
    e = engine
    m = e.create_market(1000, 50, 0, 10, -10_000, FEE_BPS)  # taker 0.1%, maker -100%
    a, b = e.create_user(), e.create_user()
    e.deposit(a, 10_000)
    e.deposit(b, 10_000)
    # reserve: max(10, -10000, 0) bps of 500 = ceil(0.5) = 1 per share
    assert e.place(a, m, BUY, YES, 500, 2) == 1
    assert e.balance(a) == (10_000 - 1_002, 1_002)
    # taker fee ceil(0.1% * 1000) = 1; rebate floor(100% * 1000) = 1000, capped
    # at what the fee account holds after the taker fee: 1.
    assert e.place(b, m, BUY, NO, 500, 2) == 2
    fills = [g for g in got_events(e) if g[1] == EV_FILL]
    assert [(f[15], f[16]) for f in fills] == [(1, -1)]
    assert e.fees() == 0
    assert e.balance(a) == (10_000 - 1_000 + 1, 0)
    assert e.balance(b) == (10_000 - 1_001, 0)
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


# --- mint, merge, lifecycle, settlement ---------------------------------------------


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


# --- engine limits and client ids ----------------------------------------------------


def test_engine_limits(engine_cls):
    e = engine_cls(max_qty=100, max_open_orders=2, max_balance=50_000)
    assert tuple(e.limits()) == (100, 2, 50_000, 100_000)
    m, (a,) = world(e, 40_000)
    assert e.deposit(a, 10_001) == -REJ_CASH_LIMIT  # above max_balance
    assert e.deposit(a, 10_000) == REJ_OK
    assert e.place(a, m, BUY, YES, 50, 101) == -REJ_INVALID_QTY
    assert e.place(a, m, BUY, YES, 50, 100) == 1
    assert e.place(a, m, BUY, YES, 100, 1) == 2
    assert e.place(a, m, BUY, YES, 150, 1) == -REJ_TOO_MANY_ORDERS
    assert got_events(e)[-1][10] == REJ_TOO_MANY_ORDERS
    assert e.place(a, m, BUY, YES, 150, 1, IOC) == 3  # IOC never rests
    assert e.mint(a, m, 101) == -REJ_INVALID_QTY
    with pytest.raises(ValueError):
        e.create_market(1000, 50, 0, 0, 0, FEE_BPS, 101)  # min_qty > max_qty
    finish(e)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_qty": 0}, {"max_qty": MAX_QTY + 1}, {"max_open_orders": -1},
     {"max_balance": -1}, {"max_levels": 0}, {"max_levels": 100_001}],
)  # fmt: skip
def test_bad_engine_limits_raise(engine_cls, kwargs):
    with pytest.raises(ValueError):
        engine_cls(**kwargs)


def test_client_ids(engine):
    e = engine
    m, (a, b) = world(e, 10_000, 10_000)
    assert e.place(a, m, BUY, YES, 500, 1, GTC, CM, 0, False, 7) == 1
    accepted = acc(T(m, a, 1, BUY, YES), 500, 1, GTC, 500, BID, client_id=7)
    assert_events(e, [accepted, lvl(m, BID, 500, 1, 1)])
    assert tuple(e.order_by_client_id(a, 7)) == tuple(e.order(1))
    assert e.order_by_client_id(b, 7) is None
    assert e.order_by_client_id(a, 0) is None
    assert e.place(a, m, BUY, YES, 450, 1, GTC, CM, 0, False, 7) == -106
    assert e.place(b, m, BUY, YES, 450, 1, GTC, CM, 0, False, 7) == 2  # per user
    assert e.cancel(a, 1) == REJ_OK
    assert e.place(a, m, BUY, YES, 450, 1, GTC, CM, 0, False, 7) == 3  # reusable
    finish(e)


# --- misuse of the newer arguments ---------------------------------------------------


NEW_MISUSE = [
    # (method, args, kwargs, exception)
    ("place", (0, 0, BUY, YES, 500, 1), {"post_only": 1}, TypeError),
    ("place", (0, 0, BUY, YES, 500, 1), {"post_only": None}, TypeError),
    ("place", (0, 0, BUY, YES, 500, 1, IOC), {"post_only": True}, ValueError),
    ("place", (0, 0, BUY, YES, 500, 1, GTD), {}, ValueError),
    ("place", (0, 0, BUY, YES, 500, 1, GTC), {"expire_ts": 5}, ValueError),
    ("place", (0, 0, BUY, YES, 500, 1, 4), {}, ValueError),  # tif 4
    ("place", (0, 0, BUY, YES, 500, 1), {"client_id": 2**32}, ValueError),
    ("place", (0, 0, BUY, YES, 500, 1), {"client_id": -1}, ValueError),
    ("place", (0, 0, BUY, YES, 500, 1), {"client_id": 1.0}, TypeError),
    ("place_market", (0, 0, SELL, YES, 1, 100), {}, ValueError),
    ("place_market", (0, 0, BUY, YES, 1, -1), {}, ValueError),
    ("place_market", (0, 0, BUY, YES, 1), {"fok": 1}, TypeError),
    ("place_market", (0, 0, BUY, YES, 1.0), {}, TypeError),
    ("amend", (0, 1, 500, True), {}, TypeError),
    ("amend", (0, 1, 500, 2**63), {}, OverflowError),
    ("cancel_all", (0, None), {}, TypeError),
    ("mint", (0, 0, 1.0), {}, TypeError),
    ("merge", ("0", 0, 1), {}, TypeError),
    ("halt", (0.0,), {}, TypeError),
    ("resolve", (0, None), {}, TypeError),
    ("resolve", (0, 2**64), {}, OverflowError),
    ("expire", (1.5,), {}, TypeError),
    ("create_market", (1000, 50, 0, -1), {}, ValueError),  # taker fee
    ("create_market", (1000, 50, 0, 10_001), {}, ValueError),
    ("create_market", (1000, 50, 0, 0, -10_001), {}, ValueError),  # maker fee
    ("create_market", (1000, 50, 0, 0, 10_001), {}, ValueError),
    ("create_market", (1000, 50, 0, 0, 0, 2), {}, ValueError),  # fee mode
    ("create_market", (1000, 50, 0, 0, 0, 0, 0), {}, ValueError),  # min_qty
    ("create_market", (1000, 50), {"cancel_on_halt": None}, TypeError),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "exc"), NEW_MISUSE)
def test_misuse_of_newer_arguments(engine, method, args, kwargs, exc):
    e = engine
    misuse_world(e)
    before = state(e)
    events = got_events(e)
    with pytest.raises(exc):
        getattr(e, method)(*args, **kwargs)
    assert state(e) == before
    assert got_events(e) == events
    finish(e)


def test_flags_take_only_bools(engine):
    # post_only and fok refuse 0/1 (TypeError); cancel_on_halt is the same kind of
    # flag and should too.
    e = engine
    with pytest.raises(TypeError):
        e.create_market(1000, 50, 0, 0, 0, FEE_BPS, 1, 1)
    assert e.totals()[2] == 0


def test_reference_constants_match_the_core():
    """Every enum value and limit of the spec (as the oracle spells it) is in the
    core with the same value; the core may define more."""
    book = pytest.importorskip("probo_engine._book")
    core = dict(book.CONSTANTS)
    prefixes = ("SIDE_", "OUTCOME_", "BOOK_", "TIF_", "STP_", "FILL_", "CANCEL_",
                "MARKET_", "FEE_", "EV_", "CMD_", "REJ_")  # fmt: skip
    spec = {
        k: v
        for k, v in vars(reference).items()
        if k.startswith(prefixes) or k in ("MAX_QTY", "MAX_PAYOUT", "MAX_LEVELS",
                                           "MAX_TOTAL_CASH")
    }  # fmt: skip
    assert {k: core.get(k) for k in spec} == spec


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
