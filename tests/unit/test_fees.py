"""Fees: bps and curve taker fees, the fee reserve, maker rebates.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

from scenario_helpers import (
    ASK,
    BID,
    BUY,
    GTC,
    NO,
    SELL,
    YES,
    T,
    acc,
    assert_events,
    fill,
    finish,
    got_events,
    lvl,
)

from reference import (
    EV_FILL,
    FEE_BPS,
    FEE_CURVE,
    FILL_MINT,
    FILL_TRANSFER,
)

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
