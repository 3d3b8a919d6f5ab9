"""Misuse (wrong types, out-of-range values) raises and changes nothing.

Scenarios with the numbers written out; the conventions and helpers are
in ``scenario_helpers.py``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from scenario_helpers import (
    BUY,
    CM,
    GTC,
    GTD,
    IOC,
    NO,
    SELL,
    YES,
    finish,
    got_events,
    state,
    world,
)

from reference import (
    FEE_BPS,
    REJ_OK,
    REJ_UNKNOWN_ORDER,
)

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
    ("place", _place_with(7, 4)),  # stp (0..3)
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


def _check_misuse(e, method, args, exc, kwargs=None):
    """``e.method(*args, **kwargs)`` raises ``exc`` and changes nothing."""
    misuse_world(e)
    before = state(e)
    events = got_events(e)
    with pytest.raises(exc):
        getattr(e, method)(*args, **(kwargs or {}))
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
    _check_misuse(engine, method, args, exc, kwargs)


def test_flags_take_only_bools(engine):
    # post_only and fok refuse 0/1 (TypeError); cancel_on_halt is the same kind of
    # flag and should too.
    e = engine
    with pytest.raises(TypeError):
        e.create_market(1000, 50, 0, 0, 0, FEE_BPS, 1, 1)
    assert e.totals()[2] == 0
