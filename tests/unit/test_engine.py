"""The Python layer: names, OrderResult records, views in either outcome."""

import pytest

from probo_engine import (
    BookSide,
    Engine,
    EventKind,
    FillKind,
    Level,
    Outcome,
    RejectReason,
    Side,
    TimeInForce,
    UnknownMarketError,
    UnknownUserError,
)
from probo_engine.demo import run as run_demo

BUY, SELL, YES, NO = Side.BUY, Side.SELL, Outcome.YES, Outcome.NO


@pytest.fixture
def eng():
    e = Engine()
    e.create_market(symbol="M")
    for name in ("u1", "u2", "u3"):
        e.deposit(e.create_user(name=name), 100_000)
    return e


def test_names_resolve_and_duplicates_are_refused(eng):
    assert eng.user_id("u2") == 1 and eng.user_name(1) == "u2"
    assert eng.market_id("M") == 0 and eng.market_symbol(0) == "M"
    with pytest.raises(ValueError):
        eng.create_user(name="u1")
    with pytest.raises(ValueError):
        eng.create_market(symbol="M")
    with pytest.raises(UnknownUserError):
        eng.user_id("nobody")
    with pytest.raises(UnknownMarketError):
        eng.market_id("NOPE")
    with pytest.raises(UnknownUserError):
        eng.user_id(99)
    with pytest.raises(TypeError):
        eng.user_id(True)
    assert eng.totals() == (300_000, 3, 1, 0)


def test_submit_reports_fills_rest_and_cancel(eng):
    r1 = eng.submit("u1", "M", BUY, YES, 600, 10)
    assert r1.ok and r1.oid == 1 and r1.resting == 10 and r1.fills == ()
    r2 = eng.submit("u2", "M", BUY, NO, 450, 4, tif=TimeInForce.IOC)
    # NO 450 = YES ask 550 crosses the bid at 600: mint at the maker's 600,
    # the NO buyer pays 400 a share and gets 50 a share back at once.
    assert r2.filled == 4 and r2.resting == 0 and r2.canceled == 0
    (f,) = r2.fills
    assert (f.maker_oid, f.maker_user, f.taker_price, f.yes_price, f.qty, f.kind) == (
        1,
        0,
        400,
        600,
        4,
        FillKind.MINT,
    )
    assert eng.balance(1) == (100_000 - 1600, 0)
    r3 = eng.submit("u3", "M", SELL, YES, 500, 1)
    assert r3.status == RejectReason.INSUFFICIENT_SHARES and r3.oid == 0
    (ev,) = eng.events()
    assert ev.kind == EventKind.REJECTED and ev.code == 202


def test_no_view_mirrors_the_yes_book(eng):
    eng.submit("u1", "M", BUY, YES, 600, 10)
    eng.submit("u1", "M", BUY, YES, 550, 5)
    eng.submit("u2", "M", BUY, NO, 300, 7)  # YES ask 700
    yes = eng.book("M", YES)
    no = eng.book("M", NO)
    assert yes.bids == [Level(600, 10, 1), Level(550, 5, 1)]
    assert yes.asks == [Level(700, 7, 1)]
    assert no.bids == [Level(300, 7, 1)]
    assert no.asks == [Level(400, 10, 1), Level(450, 5, 1)]
    assert (eng.best_bid("M"), eng.best_ask("M")) == (600, 700)
    assert (eng.best_bid("M", NO), eng.best_ask("M", NO)) == (300, 400)
    orders = eng.open_orders("u2")
    assert [(o.oid, o.price, o.yes_price, o.book_side) for o in orders] == [
        (3, 300, 700, BookSide.ASK)
    ]


def test_empty_book_has_no_best_prices(eng):
    assert eng.best_bid("M") is None and eng.best_ask("M", NO) is None


def test_demo_runs_and_conserves_cash():
    lines: list[str] = []
    eng = run_demo(lines)
    assert any("mint 10" in line for line in lines)
    assert any("transfer 4" in line for line in lines)
    assert any("merge 3" in line for line in lines)
    net, users, markets, live = eng.totals()
    cash = sum(sum(eng.balance(u)) for u in range(users))
    assert cash + eng.market(0)[3] * 1000 == net == 300_000
