"""Engine limits, client ids, and the oracle's constants against the core's.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

import pytest
from scenario_helpers import (
    BID,
    BUY,
    CM,
    GTC,
    IOC,
    YES,
    T,
    acc,
    assert_events,
    finish,
    got_events,
    lvl,
    world,
)

import reference
from reference import (
    FEE_BPS,
    MAX_QTY,
    REJ_CASH_LIMIT,
    REJ_INVALID_QTY,
    REJ_OK,
    REJ_TOO_MANY_ORDERS,
)

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
