"""Scenarios for the full trading semantics, with the numbers written out.

Order types (market, post-only, GTD, minimum size), order management (amend,
cancel_all, client ids), mint/merge commands, the market lifecycle to
resolution, fees and engine limits.  Each runs against every implementation
(``engine_cls``: the oracle and the Cython core) and ends with ``finish``
(invariants plus conservation, shared with the other scenarios in
scenario_helpers.py).
"""

from __future__ import annotations

import pytest
from scenario_helpers import finish

from probo_engine.types import (
    CancelReason,
    EventKind,
    FeeMode,
    FillKind,
    MarketStatus,
    RejectReason,
    SelfTrade,
    TimeInForce,
)

BUY, SELL, YES, NO = 0, 1, 0, 1
GTC, IOC, FOK, GTD = (int(t) for t in TimeInForce)
R = RejectReason


def kinds(e) -> list[int]:
    return [ev[1] for ev in e.last_events()]


def setup(engine_cls, n=3, cash=100_000, **market):
    e = engine_cls()
    m = e.create_market(1000, 50, 0, *market.pop("args", ()))
    users = [e.create_user() for _ in range(n)]
    for u in users:
        assert e.deposit(u, cash) == 0
    return e, m, users


# ------------------------------------------------------------------ fees


def test_bps_fees_taker_and_maker_with_the_fee_reserve(engine_cls):
    # taker 1% (100 bps), maker 0.5%: a buy reserves max(100, 50) bps a share
    e, m, (a, b, _) = setup(engine_cls, args=(100, 50, FeeMode.BPS))
    assert e.place(a, m, BUY, YES, 600, 10) == 1
    assert e.balance(a) == (100_000 - 6060, 6060)  # 600 + fee reserve 6 a share
    assert e.place(b, m, BUY, NO, 400, 10) == 2  # mint at YES 600
    fill = [ev for ev in e.last_events() if ev[1] == EventKind.FILL][0]
    assert (fill[10], fill[15], fill[16]) == (FillKind.MINT, 40, 30)
    # maker a: paid 6000 + 30 fee, 30 of its 60 reserve back
    assert e.balance(a) == (100_000 - 6030, 0)
    # taker b: paid 4000 + 40 fee, reserve (4 a share) exactly used
    assert e.balance(b) == (100_000 - 4040, 0)
    assert e.fees() == 70
    finish(e)


def test_curve_fees_round_up(engine_cls):
    # 700 bps on q * p * (U - p) / U: 7% * 3 * 600 * 400 / 1000 = 50.4 -> 51
    e, m, (a, b, _) = setup(engine_cls, args=(700, 0, FeeMode.CURVE))
    e.place(a, m, BUY, YES, 600, 3)
    e.place(b, m, BUY, NO, 400, 3)
    fill = [ev for ev in e.last_events() if ev[1] == EventKind.FILL][0]
    assert (fill[15], fill[16]) == (51, 0)
    assert e.fees() == 51
    assert e.balance(b) == (100_000 - 1200 - 51, 0)
    finish(e)


def test_sellers_pay_fees_from_proceeds(engine_cls):
    e, m, (a, b, c) = setup(engine_cls, args=(100, 100))
    e.mint(a, m, 10)  # a: 10 YES + 10 NO for 10,000
    e.place(a, m, SELL, YES, 700, 10)  # maker
    e.place(b, m, BUY, YES, 700, 4)  # taker: 2800 + 28 fee
    assert e.balance(a) == (100_000 - 10_000 + 2800 - 28, 0)
    assert e.balance(b) == (100_000 - 2828, 0)
    assert e.fees() == 56
    finish(e)


def test_maker_rebate_is_paid_from_the_fee_account_and_capped(engine_cls):
    # taker 10 bps, maker rebate 50 bps: the rebate may not exceed what the
    # fee account holds after this fill's taker fee.
    e, m, (a, b, _) = setup(engine_cls, args=(10, -50))
    e.place(a, m, BUY, YES, 500, 100)  # reserve max(10, -50, 0) = 10 bps
    e.place(b, m, BUY, NO, 500, 100)  # taker fee ceil(0.1% * 50000) = 50
    fill = [ev for ev in e.last_events() if ev[1] == EventKind.FILL][0]
    # rebate floor(0.5% * 50000) = 250, capped at the 50 in the account
    assert (fill[15], fill[16]) == (50, -50)
    assert e.fees() == 0
    assert e.balance(a) == (100_000 - 50_000 + 50, 0)
    finish(e)


# --------------------------------------------------------- order types


def test_market_buy_with_budget_fills_what_it_can_afford(engine_cls):
    e, m, (a, b, _) = setup(engine_cls, args=(100, 0))
    e.mint(a, m, 20)
    e.place(a, m, SELL, YES, 700, 5)
    e.place(a, m, SELL, YES, 800, 5)
    # 5 at 700 cost 3500 + 35 fee; then at 800 each share costs 800 + 8
    oid = e.place_market(b, m, BUY, YES, 10, 5000)
    assert oid == 3
    fills = [ev for ev in e.last_events() if ev[1] == EventKind.FILL]
    assert [(f[8], f[9], f[15]) for f in fills] == [(700, 5, 35), (800, 1, 8)]
    cancel = [ev for ev in e.last_events() if ev[1] == EventKind.CANCELED][0]
    assert (cancel[9], cancel[10]) == (4, CancelReason.IOC)
    assert e.balance(b) == (100_000 - 3535 - 808, 0)
    assert e.position(b, m) == (6, 0, 0, 0)
    finish(e)


def test_market_buy_fok_with_budget_rejects_when_short(engine_cls):
    e, m, (a, b, _) = setup(engine_cls)
    e.mint(a, m, 10)
    e.place(a, m, SELL, YES, 700, 10)
    assert e.place_market(b, m, BUY, YES, 10, 6999, True) == -R.FOK_NOT_FILLABLE
    assert e.balance(b) == (100_000, 0)
    assert e.place_market(b, m, BUY, YES, 10, 7000, True) == 2
    assert e.position(b, m) == (10, 0, 0, 0)
    finish(e)


def test_market_sell_takes_the_best_bids(engine_cls):
    e, m, (a, b, _) = setup(engine_cls)
    e.mint(a, m, 5)
    e.place(b, m, BUY, YES, 600, 2)
    e.place(b, m, BUY, YES, 550, 2)
    assert e.place_market(a, m, SELL, YES, 5) == 3
    fills = [(ev[8], ev[9]) for ev in e.last_events() if ev[1] == EventKind.FILL]
    assert fills == [(600, 2), (550, 2)]
    assert e.position(a, m) == (1, 0, 5, 0)
    assert e.balance(a) == (100_000 - 5000 + 1200 + 1100, 0)
    finish(e)


def test_post_only_rests_or_is_rejected(engine_cls):
    e, m, (a, b, _) = setup(engine_cls)
    e.place(a, m, BUY, YES, 600, 5)
    # buy NO 400 = YES ask 600 would cross
    assert e.place(b, m, BUY, NO, 400, 5, GTC, 0, 0, True) == -R.POST_ONLY_WOULD_CROSS
    assert e.balance(b) == (100_000, 0)
    assert e.place(b, m, BUY, NO, 350, 5, GTC, 0, 0, True) == 2  # YES ask 650
    assert e.top(m) == (600, 5, 650, 5)
    with pytest.raises(ValueError):
        e.place(b, m, BUY, NO, 350, 5, IOC, 0, 0, True)
    finish(e)


def test_gtd_expires_with_a_later_command_or_expire(engine_cls):
    e, m, (a, b, _) = setup(engine_cls)
    assert e.place(a, m, BUY, YES, 500, 4, GTD, 0, 10, False, 0, 100) == 1
    assert e.place(a, m, BUY, YES, 450, 4, GTD, 0, 10, False, 0, 200) == 2
    assert (
        e.place(a, m, BUY, YES, 400, 4, GTD, 0, 10, False, 0, 10) == -R.INVALID_EXPIRY
    )
    assert e.deposit(b, 1, 99) == 0  # ts 99 < 100: nothing expires
    assert kinds(e) == [EventKind.CASH]
    assert e.deposit(b, 1, 100) == 0  # ts 100: order 1 expires first
    ev = e.last_events()
    assert [x[1] for x in ev] == [EventKind.CANCELED, EventKind.LEVEL, EventKind.CASH]
    assert (ev[0][5], ev[0][10]) == (1, CancelReason.EXPIRED)
    assert e.balance(a) == (100_000 - 1800, 1800)
    assert e.expire(250) == 1
    assert e.balance(a) == (100_000, 0)
    with pytest.raises(ValueError):
        e.place(a, m, BUY, YES, 500, 4, GTD)  # GTD needs expire_ts
    with pytest.raises(ValueError):
        e.place(a, m, BUY, YES, 500, 4, GTC, 0, 0, False, 0, 100)
    finish(e)


def test_gtd_expiry_also_happens_before_a_rejected_command(engine_cls):
    e, m, (a, b, _) = setup(engine_cls)
    e.place(a, m, BUY, YES, 500, 4, GTD, 0, 0, False, 0, 50)
    assert e.cancel(b, 999, 60) == -R.UNKNOWN_ORDER
    assert kinds(e) == [EventKind.CANCELED, EventKind.LEVEL, EventKind.REJECTED]
    assert e.user_orders(a) == []
    finish(e)


def test_min_qty(engine_cls):
    e = engine_cls()
    m = e.create_market(1000, 50, 0, 0, 0, 0, 5)
    u = e.create_user()
    e.deposit(u, 100_000)
    assert e.place(u, m, BUY, YES, 500, 4) == -R.BELOW_MIN_QTY
    assert e.place(u, m, BUY, YES, 500, 5) == 1
    assert e.amend(u, 1, 500, 4) == -R.BELOW_MIN_QTY
    finish(e)


# ------------------------------------------------------ order management


def test_amend_down_keeps_priority_and_unlocks(engine_cls):
    e, m, (a, b, c) = setup(engine_cls)
    e.place(a, m, BUY, YES, 600, 10)
    e.place(b, m, BUY, YES, 600, 10)
    assert e.amend(a, 1, 600, 4) == 0
    ev = e.last_events()
    assert ev[0][1] == EventKind.AMENDED and (ev[0][10], ev[0][14]) == (1, 10)
    assert ev[1][1] == EventKind.LEVEL and ev[1][9] == 14
    assert e.balance(a) == (100_000 - 2400, 2400)
    e.place(c, m, BUY, NO, 400, 5)  # a is still first in the queue
    fills = [(ev[12], ev[9]) for ev in e.last_events() if ev[1] == EventKind.FILL]
    assert fills == [(1, 4), (2, 1)]
    finish(e)


def test_amend_up_or_reprice_goes_to_the_back_and_may_match(engine_cls):
    e, m, (a, b, c) = setup(engine_cls)
    e.place(a, m, BUY, YES, 600, 5)
    e.place(b, m, BUY, YES, 600, 5)
    assert e.amend(a, 1, 600, 6) == 0  # more quantity: behind b now
    assert [o[0] for o in e.book_orders(m)] == [2, 1]
    e.place(c, m, BUY, NO, 300, 3)  # YES ask 700 rests
    assert e.amend(a, 1, 700, 6) == 0  # reprice crosses: fills 3 at 700
    fills = [
        (ev[5], ev[12], ev[9], ev[10])
        for ev in e.last_events()
        if ev[1] == EventKind.FILL
    ]
    assert fills == [(1, 3, 3, FillKind.MINT)]
    assert e.order(1)[6] == 3  # 3 left, resting at 700
    assert e.balance(a) == (100_000 - 2100 - 2100, 2100)
    finish(e)


def test_amend_refused_changes_nothing(engine_cls):
    e, m, (a, b, _) = setup(engine_cls, cash=10_000)
    e.place(a, m, BUY, YES, 600, 10)
    before = (e.balance(a), e.book_orders(m))
    assert e.amend(a, 1, 600, 20) == -R.INSUFFICIENT_FUNDS
    assert e.amend(b, 1, 600, 5) == -R.UNKNOWN_ORDER
    assert e.amend(a, 1, 625, 5) == -R.PRICE_OFF_GRID
    assert e.amend(a, 1, 600, 0) == -R.INVALID_QTY
    assert (e.balance(a), e.book_orders(m)) == before
    finish(e)


def test_cancel_all_in_one_market_or_all(engine_cls):
    e, m, (a, b, _) = setup(engine_cls)
    m2 = e.create_market(100, 1)
    e.place(a, m, BUY, YES, 600, 1)
    e.place(a, m2, BUY, YES, 60, 1)
    e.place(a, m, BUY, NO, 300, 1)
    assert e.cancel_all(a, m) == 2
    assert [ev[5] for ev in e.last_events() if ev[1] == EventKind.CANCELED] == [1, 3]
    assert e.cancel_all(a) == 1
    assert e.cancel_all(a, 7) == -R.UNKNOWN_MARKET
    assert e.balance(a) == (100_000, 0)
    finish(e)


def test_client_ids_are_unique_per_user_among_live_orders(engine_cls):
    e, m, (a, b, _) = setup(engine_cls)
    assert e.place(a, m, BUY, YES, 500, 1, GTC, 0, 0, False, 42) == 1
    assert (
        e.place(a, m, BUY, YES, 500, 1, GTC, 0, 0, False, 42) == -R.DUPLICATE_CLIENT_ID
    )
    assert e.place(b, m, BUY, YES, 500, 1, GTC, 0, 0, False, 42) == 2  # other user
    assert e.order_by_client_id(a, 42)[1] == 1
    assert e.order_by_client_id(a, 42)[10] == 42
    e.cancel(a, 1)
    assert e.order_by_client_id(a, 42) is None
    assert e.place(a, m, BUY, YES, 500, 1, GTC, 0, 0, False, 42) == 3  # free again
    with pytest.raises(ValueError):
        e.place(a, m, BUY, YES, 500, 1, GTC, 0, 0, False, 2**32)
    finish(e)


def test_stp_default_cancels_the_resting_order(engine_cls):
    e, m, (a, _, _) = setup(engine_cls)
    e.place(a, m, BUY, YES, 600, 5)
    e.mint(a, m, 5)
    assert e.place(a, m, SELL, YES, 600, 5) == 2
    ev = e.last_events()
    assert [x[1] for x in ev] == [
        EventKind.ACCEPTED,
        EventKind.CANCELED,
        EventKind.LEVEL,
        EventKind.LEVEL,
    ]
    assert (ev[1][5], ev[1][10]) == (1, CancelReason.SELF_TRADE)
    assert e.top(m) == (0, 0, 600, 5)
    assert SelfTrade.CANCEL_MAKER == 0
    finish(e)


# ---------------------------------------------------------- mint / merge


def test_mint_and_merge_commands(engine_cls):
    e, m, (a, _, _) = setup(engine_cls, cash=10_000)
    assert e.mint(a, m, 7) == 0
    assert e.position(a, m) == (7, 0, 7, 0) and e.balance(a) == (3000, 0)
    assert e.market(m)[3] == 7
    assert e.mint(a, m, 4) == -R.INSUFFICIENT_FUNDS
    assert e.merge(a, m, 8) == -R.INSUFFICIENT_SHARES
    assert e.merge(a, m, 2) == 0
    assert e.position(a, m) == (5, 0, 5, 0) and e.balance(a) == (5000, 0)
    ev = e.last_events()[0]
    assert (ev[1], ev[9], ev[10], ev[14]) == (EventKind.PAIR, 2, 2, 5000)
    finish(e)


# ------------------------------------------------------------- lifecycle


def test_halt_blocks_orders_resume_reopens(engine_cls):
    e, m, (a, _, _) = setup(engine_cls)
    e.place(a, m, BUY, YES, 600, 5)
    assert e.halt(m) == 0
    assert e.market(m)[2] == MarketStatus.HALTED
    assert e.place(a, m, BUY, YES, 600, 5) == -R.MARKET_NOT_OPEN
    assert e.amend(a, 1, 600, 4) == -R.MARKET_NOT_OPEN
    assert e.halt(m) == -R.INVALID_TRANSITION
    assert e.cancel(a, 1) == 0  # cancels are allowed while halted
    assert e.resume(m) == 0 and e.resume(m) == -R.INVALID_TRANSITION
    finish(e)


def test_halt_with_cancel_on_halt_cancels_everything(engine_cls):
    e = engine_cls()
    m = e.create_market(1000, 50, 0, 0, 0, 0, 1, True)
    a = e.create_user()
    e.deposit(a, 10_000)
    e.place(a, m, BUY, YES, 600, 5)
    e.place(a, m, BUY, NO, 300, 5)
    assert e.halt(m) == 0
    ev = e.last_events()
    assert [x[10] for x in ev if x[1] == EventKind.CANCELED] == [
        CancelReason.HALTED,
        CancelReason.HALTED,
    ]
    assert ev[-1][1] == EventKind.MARKET and ev[-1][10] == MarketStatus.HALTED
    assert e.balance(a) == (10_000, 0)
    finish(e)


@pytest.mark.parametrize(
    "yes_value, a_gets, b_gets",
    [(1000, 6000, 0), (0, 0, 6000), (500, 3000, 3000), (300, 1800, 4200)],
    ids=["yes", "no", "void", "split"],
)
def test_resolve_pays_holders_and_burns_shares(engine_cls, yes_value, a_gets, b_gets):
    e, m, (a, b, c) = setup(engine_cls, cash=10_000)
    e.place(a, m, BUY, YES, 600, 6)
    e.place(b, m, BUY, NO, 400, 6)  # mint 6 pairs: a 6 YES, b 6 NO
    e.place(c, m, BUY, YES, 100, 3)  # resting, canceled by resolve
    assert e.close(m) == 0
    assert e.market(m)[2] == MarketStatus.CLOSED
    assert e.place(a, m, BUY, YES, 100, 1) == -R.MARKET_NOT_OPEN
    assert e.resolve(m, yes_value) == 0
    assert e.market(m) == (1000, 50, MarketStatus.RESOLVED, 0)
    settle = [
        (x[4], x[8], x[9], x[13], x[14])
        for x in e.last_events()
        if x[1] == EventKind.SETTLEMENT
    ]
    assert settle == [
        (a, yes_value, 6, 1000 - yes_value, 0),
        (b, yes_value, 0, 1000 - yes_value, 6),
    ]
    assert e.balance(a) == (10_000 - 3600 + a_gets, 0)
    assert e.balance(b) == (10_000 - 2400 + b_gets, 0)
    assert e.position(a, m) == e.position(b, m) == (0, 0, 0, 0)
    assert e.resolve(m, 0) == -R.INVALID_TRANSITION
    assert e.merge(a, m, 1) == -R.MARKET_NOT_OPEN
    finish(e)


def test_resolve_cancels_orders_first_and_checks_the_value(engine_cls):
    e, m, (a, _, _) = setup(engine_cls)
    e.place(a, m, BUY, YES, 600, 5)
    assert e.resolve(m, 1001) == -R.INVALID_SETTLEMENT
    assert e.resolve(m, -1) == -R.INVALID_SETTLEMENT
    assert e.resolve(m, 1000) == 0
    ev = e.last_events()
    assert [x[1] for x in ev] == [EventKind.CANCELED, EventKind.LEVEL, EventKind.MARKET]
    assert ev[0][10] == CancelReason.RESOLVED and ev[2][13] == 1000
    assert e.market_config(m)[7] == 1000
    finish(e)


# ---------------------------------------------------------------- limits


def test_engine_limits(engine_cls):
    e = engine_cls(max_qty=100, max_open_orders=2, max_balance=50_000)
    m = e.create_market()
    a = e.create_user()
    assert e.deposit(a, 50_001) == -R.CASH_LIMIT
    assert e.deposit(a, 50_000) == 0
    assert e.place(a, m, BUY, YES, 100, 101) == -R.INVALID_QTY
    assert e.place(a, m, BUY, YES, 100, 1) == 1
    assert e.place(a, m, BUY, YES, 100, 1) == 2
    assert e.place(a, m, BUY, YES, 100, 1) == -R.TOO_MANY_ORDERS
    assert e.place(a, m, BUY, YES, 100, 1, IOC) == 3  # IOC never rests
    assert e.limits() == (100, 2, 50_000, 100_000)
    with pytest.raises(ValueError):
        engine_cls(max_qty=0)
    with pytest.raises(ValueError):
        engine_cls(max_levels=10).create_market(1000, 50)
    finish(e)


def test_bad_market_config_raises(engine_cls):
    e = engine_cls()
    for args in [
        (1000, 50, 0, 10001),
        (1000, 50, 0, 0, -10001),
        (1000, 50, 0, 0, 0, 2),
        (1000, 50, 0, 0, 0, 0, 0),
    ]:
        with pytest.raises(ValueError):
            e.create_market(*args)
    assert e.totals() == (0, 0, 0, 0)
