"""Every reject code from every command, and the boundaries that are accepted.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    BUY,
    CM,
    FOK,
    GTC,
    GTD,
    NO,
    SELL,
    YES,
    E,
    assert_events,
    finish,
    state,
    world,
)

import reference
from reference import (
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
    EV_REJECTED,
    FEE_BPS,
    MAX_QTY,
    MAX_TOTAL_CASH,
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
)

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
