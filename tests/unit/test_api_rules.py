"""One consistent API (issue 11, items 11, 12, 14, 16)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

from childenv import child_env
from probo_engine import (
    Core,
    DurableEngine,
    Engine,
    Outcome,
    ProboError,
    SelfTrade,
    Side,
    TimeInForce,
    UnknownMarketError,
    UnknownUserError,
)
from probo_engine.commands import CreateUser

# --------------------------------------------------- 11: enums of the wrong kind


@pytest.mark.parametrize("cls", [Core, Engine])
def test_an_enum_of_the_wrong_kind_is_refused(cls):
    e = cls()
    m = e.create_market()
    u = e.create_user()
    e.deposit(u, 10_000)
    before = e.snapshot()
    swapped = [
        (Outcome.NO, Side.BUY, TimeInForce.GTC, SelfTrade.CANCEL_MAKER, "side"),
        (Side.BUY, Side.SELL, TimeInForce.GTC, SelfTrade.CANCEL_MAKER, "outcome"),
        (Side.BUY, Outcome.YES, SelfTrade.CANCEL_TAKER, SelfTrade.CANCEL_MAKER, "tif"),
        (Side.BUY, Outcome.YES, TimeInForce.GTC, Side.SELL, "stp"),
    ]
    for side, outcome, tif, stp, arg in swapped:
        with pytest.raises(TypeError, match=arg):
            e.place(u, m, side, outcome, 600, 1, tif, stp)
        assert e.snapshot() == before
    with pytest.raises(TypeError, match="side must be a Side"):
        e.place_market(u, m, Outcome.NO, Side.BUY, 1)
    # the right kinds and plain ints still go through
    assert e.place(u, m, Side.BUY, Outcome.YES, 600, 1, TimeInForce.GTC) == 1
    assert e.place(u, m, 0, 1, 350, 1) == 2


def test_engine_submit_with_side_and_outcome_swapped_is_refused():
    e = Engine()
    m = e.create_market()
    u = e.create_user()
    e.deposit(u, 10_000)
    with pytest.raises(TypeError, match="side must be a Side"):
        e.submit(u, m, Outcome.NO, Side.BUY, 600, 1)
    assert e.open_orders(u) == []


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="needs mypy")
def test_stubs_type_each_enum_argument_with_its_own_enum(tmp_path):
    src = tmp_path / "use.py"
    src.write_text(
        textwrap.dedent(
            """
            from probo_engine import Engine, Outcome, Side
            e = Engine()
            e.place(0, 0, Side.BUY, Outcome.YES, 500, 1)
            e.place(0, 0, 0, 1, 500, 1)
            e.place(0, 0, Outcome.NO, Side.BUY, 500, 1)  # line 6: swapped
            e.submit(0, 0, Outcome.NO, Side.BUY, 500, 1)  # line 7: swapped
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(base={"PATH": ""}),
        cwd=tmp_path,
    )
    errors = [ln for ln in proc.stdout.splitlines() if ": error:" in ln]
    lines = sorted({int(ln.split(":")[1]) for ln in errors})
    assert lines == [6, 7], proc.stdout


# ------------------------------------------------------------ 12: unknown ids


@pytest.mark.parametrize("cls", [Core, Engine])
def test_unknown_ids_in_queries_raise_probo_errors(cls):
    e = cls()
    m = e.create_market()
    e.create_user()
    for call in (
        lambda: e.balance(5),
        lambda: e.position(5, m),
        lambda: e.user_orders(5),
        lambda: e.balance(-1),
    ):
        with pytest.raises(UnknownUserError, match="unknown user") as err:
            call()
        assert isinstance(err.value, ProboError) and isinstance(err.value, KeyError)
    for call in (lambda: e.market(5), lambda: e.position(0, 5), lambda: e.top(5)):
        with pytest.raises(UnknownMarketError, match="unknown market"):
            call()
    # an order id names a *live* order: any other (unknown, done, -1) is None
    assert e.order(-1) is None and e.order(99) is None


# ------------------------------------------------------------ 14: subclassing


def test_a_subclass_passing_limits_to_super_init_gets_them():
    class E(Engine):
        def __init__(self) -> None:
            super().__init__(max_open_orders=3)

    class C(Core):
        def __init__(self) -> None:
            super().__init__(max_qty=500, max_levels=30)

    e = E()
    assert e.limits() == (10**9, 3, 0, 100_000)
    m = e.create_market()
    u = e.create_user()
    e.deposit(u, 100_000)
    assert [e.place(u, m, 0, 0, 100 + 50 * i, 1) for i in range(4)][-1] == -204
    c = C()
    assert c.limits() == (500, 0, 0, 30)
    with pytest.raises(ValueError, match="max_qty"):
        Core.__init__(Core(), max_qty=0)


def test_limits_cannot_change_once_the_engine_has_state():
    e = Engine(max_open_orders=2)
    e.create_user()
    with pytest.raises(TypeError, match="fixed once it has state"):
        e.__init__(max_open_orders=5)
    assert e.limits()[1] == 2
    e.__init__(max_open_orders=2)  # the same limits: nothing to change


# ---------------------------------------------------------- 16: one name rule


@pytest.mark.parametrize(
    ("name", "exc"),
    [
        ("\ud800", ValueError),
        ("x" * 70_000, ValueError),
        ("", ValueError),
        (5, TypeError),
    ],
)
def test_engine_and_durable_engine_refuse_the_same_names(tmp_path, name, exc):
    e = Engine()
    with pytest.raises(exc):
        e.create_user(name=name)
    with pytest.raises(exc):
        e.create_market(symbol=name)
    assert e.totals()[1:3] == (0, 0)
    with DurableEngine.open(tmp_path) as db, pytest.raises(exc):
        db.execute(CreateUser(name))
    e.create_user(name="é" * 30_000)  # 60,000 bytes of UTF-8: fine for both


# ------------------------------------------------------ 15: named, typed records


def test_engine_queries_return_named_records_and_take_names():
    from probo_engine import (
        CancelReason,
        EventKind,
        FillKind,
        MarketInfo,
        MarketStatus,
        OrderInfo,
        Position,
        RejectReason,
        Top,
    )

    e = Engine()
    m = e.create_market(symbol="RAIN")
    a = e.create_user(name="asha")
    b = e.create_user(name="bilal")
    e.deposit(a, 100_000)
    e.deposit(b, 100_000)
    r = e.submit("asha", "RAIN", Side.BUY, Outcome.YES, 600, 10)
    top = e.top("RAIN")
    assert isinstance(top, Top) and top == (600, 10, 0, 0)
    assert (top.bid_price, top.bid_qty) == (600, 10) and e.top(m) == top
    info = e.market("RAIN")
    assert isinstance(info, MarketInfo) and info.status is MarketStatus.OPEN
    assert info == (1000, 50, 0, 0)
    o = e.order(r.oid)
    assert isinstance(o, OrderInfo) and o.side is Side.BUY and o.price == 600
    fill = e.submit("bilal", "RAIN", Side.BUY, Outcome.NO, 400, 4).fills[0]
    # the taker bought NO at 400: the same trade is YES 600
    assert (fill.taker_price, fill.yes_price, fill.kind) == (400, 600, FillKind.MINT)
    ev = {x.kind: x for x in e.events()}
    assert ev[EventKind.FILL].code is FillKind.MINT
    assert ev[EventKind.FILL].price == 600 and ev[EventKind.FILL].price2 == 400
    pos = e.position("bilal", "RAIN")
    assert isinstance(pos, Position) and pos.no_available == 4 and pos == (0, 0, 4, 0)
    assert e.cancel(a, r.oid) == 0
    (canceled, *_levels) = e.events()
    assert canceled.kind is EventKind.CANCELED and canceled.code is CancelReason.USER
    e.submit("asha", "RAIN", Side.BUY, Outcome.YES, 10, 1)
    assert e.events()[0].code is RejectReason.PRICE_OFF_GRID
    assert e.order(r.oid) is None
    with pytest.raises(UnknownMarketError):
        e.top("SNOW")
    with pytest.raises(UnknownUserError):
        e.position("nobody", m)


def test_book_can_return_every_level():
    e = Engine()
    m = e.create_market(100, 1)
    u = e.create_user()
    e.deposit(u, 10**9)
    for p in range(1, 60):
        e.place(u, m, 0, 0, p, 1)
    assert len(e.book(m).bids) == 10
    assert [lv.price for lv in e.book(m, levels=None).bids] == list(range(59, 0, -1))
    assert len(e.book(m, Outcome.NO, levels=None).asks) == 59
