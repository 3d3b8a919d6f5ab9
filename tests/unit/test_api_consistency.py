"""One rule for unknown ids, misuse errors and names (issue 11 items 12-13).

* Every Engine method takes a user by id or name and a market by id or symbol.
* Commands refuse an unknown user/market (by id or name) with 101/102, as the
  core does; queries raise UnknownUserError/UnknownMarketError.
* Misuse raises ProboError subclasses that are also TypeError/ValueError (and
  OverflowError for too-large integers), each message naming the argument.
"""

from __future__ import annotations

import pytest

from probo_engine import (
    Core,
    Engine,
    EventKind,
    Outcome,
    ProboError,
    RejectReason,
    Side,
    UnknownMarketError,
    UnknownUserError,
)
from probo_engine.errors import (
    ArgumentOverflowError,
    ArgumentTypeError,
    InvalidArgumentError,
)


def _pair() -> tuple[Engine, Engine]:
    out = []
    for _ in range(2):
        e = Engine()
        e.create_market(100, 1, symbol="RAIN")
        e.create_market(100, 1, symbol="SNOW")
        e.create_user(name="asha")
        e.create_user(name="bilal")
        out.append(e)
    return out[0], out[1]


# Every command, as (method, args with names, args with ids).
COMMANDS = [
    ("deposit", ("asha", 10_000), (0, 10_000)),
    ("deposit", ("bilal", 10_000), (1, 10_000)),
    ("withdraw", ("bilal", 100), (1, 100)),
    ("mint", ("asha", "RAIN", 20), (0, 0, 20)),
    ("merge", ("asha", "RAIN", 2), (0, 0, 2)),
    ("place", ("asha", "RAIN", 1, 0, 70, 5), (0, 0, 1, 0, 70, 5)),
    ("place_limit", ("asha", "RAIN", 1, 0, 71, 5), (0, 0, 1, 0, 71, 5)),
    ("place_ioc", ("bilal", "RAIN", 0, 0, 70, 2), (1, 0, 0, 0, 70, 2)),
    ("place_market", ("bilal", "RAIN", 0, 0, 1), (1, 0, 0, 0, 1)),
    ("amend", ("asha", 1, 69, 1), (0, 1, 69, 1)),
    ("cancel", ("asha", 2), (0, 2)),
    ("place", ("asha", "SNOW", 0, 0, 10, 1), (0, 1, 0, 0, 10, 1)),
    ("cancel_all", ("asha", "SNOW"), (0, 1)),
    ("halt", ("RAIN",), (0,)),
    ("resume", ("RAIN",), (0,)),
    ("close", ("SNOW",), (1,)),
    ("resolve", ("SNOW", 100), (1, 100)),
]


def test_every_command_takes_names_or_ids_alike():
    by_name, by_id = _pair()
    for method, named, ids in COMMANDS:
        r1 = getattr(by_name, method)(*named)
        r2 = getattr(by_id, method)(*ids)
        assert r1 == r2, method
        assert by_name.last_events() == by_id.last_events(), method
    r1 = by_name.submit("bilal", "RAIN", Side.BUY, Outcome.YES, 69, 1)
    r2 = by_id.submit(1, 0, Side.BUY, Outcome.YES, 69, 1)
    assert r1 == r2 and r1.filled == 1
    r1 = by_name.submit_market("bilal", "RAIN", Side.BUY, Outcome.NO, 1)
    r2 = by_id.submit_market(1, 0, Side.BUY, Outcome.NO, 1)
    assert r1 == r2
    assert by_name.state_hash() == by_id.state_hash()
    assert by_name.fees() == by_id.fees()


QUERIES = [
    ("balance", ("asha",), (0,)),
    ("balances", ("asha",), (0,)),
    ("position", ("asha", "RAIN"), (0, 0)),
    ("user_orders", ("asha",), (0,)),
    ("open_orders", ("asha",), (0,)),
    ("order_by_client_id", ("asha", 7), (0, 7)),
    ("market", ("RAIN",), (0,)),
    ("market_config", ("RAIN",), (0,)),
    ("last_price", ("RAIN",), (0,)),
    ("top", ("RAIN",), (0,)),
    ("depth", ("RAIN",), (0,)),
    ("book", ("RAIN",), (0,)),
    ("book_orders", ("RAIN",), (0,)),
    ("best_bid", ("RAIN",), (0,)),
    ("seed_orderbook", ("RAIN",), (0,)),
]


def test_every_query_takes_names_or_ids_alike():
    e, _ = _pair()
    e.deposit("asha", 10_000)
    e.place("asha", "RAIN", 0, 0, 40, 3, client_id=7)
    for method, named, ids in QUERIES:
        got = getattr(e, method)(*named)
        assert got == getattr(e, method)(*ids), method
    assert e.order_by_client_id("asha", 7).client_id == 7


@pytest.mark.parametrize("user", ["nobody", 9, -1])
def test_commands_refuse_an_unknown_user_with_101_by_id_or_name(user):
    e, _ = _pair()
    assert e.deposit(user, 5) == -101
    assert e.place(user, "RAIN", 0, 0, 40, 1) == -101
    assert e.place_limit(user, "RAIN", 0, 0, 40, 1) == -101
    assert e.cancel(user, 1) == -101
    res = e.submit(user, "RAIN", Side.BUY, Outcome.YES, 40, 1)
    assert res.status is RejectReason.UNKNOWN_USER and res.oid == 0 and not res.ok
    (ev,) = e.events()
    assert ev.kind is EventKind.REJECTED and ev.code is RejectReason.UNKNOWN_USER
    assert e.submit_market(user, 0, 0, 0, 1).status is RejectReason.UNKNOWN_USER


@pytest.mark.parametrize("market", ["NOPE", 9])
def test_commands_refuse_an_unknown_market_with_102_by_id_or_name(market):
    e, _ = _pair()
    e.deposit("asha", 1000)
    # submit used to raise UnknownMarketError here while place returned -102
    res = e.submit("asha", market, Side.BUY, Outcome.YES, 40, 1)
    assert res.status is RejectReason.UNKNOWN_MARKET and res.oid == 0
    assert e.place("asha", market, 0, 0, 40, 1) == -102
    assert e.mint("asha", market, 1) == -102
    assert e.halt(market) == -102
    assert e.resolve(market, 100) == -102


@pytest.mark.parametrize("user", ["nobody", 9])
def test_queries_raise_for_an_unknown_user_by_id_or_name(user):
    e, _ = _pair()
    for call in (
        lambda: e.balance(user),
        lambda: e.balances(user),
        lambda: e.position(user, "RAIN"),
        lambda: e.user_orders(user),
        lambda: e.open_orders(user),
        lambda: e.order_by_client_id(user, 1),  # was None for an unknown user
        lambda: e.user_id(user),
    ):
        with pytest.raises(UnknownUserError, match="user") as err:
            call()
        assert isinstance(err.value, ProboError) and isinstance(err.value, KeyError)


@pytest.mark.parametrize("market", ["NOPE", 9])
def test_queries_raise_for_an_unknown_market_by_id_or_symbol(market):
    e, _ = _pair()
    for name in ("market", "market_config", "last_price", "top", "depth", "book"):
        with pytest.raises(UnknownMarketError, match="market"):
            getattr(e, name)(market)
    with pytest.raises(UnknownMarketError):
        e.position("asha", market)


@pytest.mark.parametrize("cls", [Core, Engine])
def test_too_large_integers_name_the_argument(cls):
    e = cls()
    m = e.create_market()
    u = e.create_user()
    cases = [
        (lambda: e.balance(2**64), "uid"),
        (lambda: e.deposit(u, 2**63), "amount"),
        (lambda: e.place(u, m, 0, 0, 2**70, 1), "price"),
        (lambda: e.place_limit(u, m, 0, 0, 500, -(2**80)), "qty"),
        (lambda: e.cancel(u, 2**64), "oid"),
    ]
    for call, arg in cases:
        # was: OverflowError "Python int too large to convert to C long"
        with pytest.raises(ArgumentOverflowError, match=arg) as err:
            call()
        assert isinstance(err.value, OverflowError)
        assert isinstance(err.value, ValueError) and isinstance(err.value, ProboError)


@pytest.mark.parametrize("cls", [Core, Engine])
def test_misuse_is_a_probo_error_that_is_also_the_builtin(cls):
    e = cls()
    m = e.create_market()
    u = e.create_user()
    type_errors = [
        (lambda: e.place(u, m, 0, 0, 500.0, 1), "price"),
        (lambda: e.place_limit(u, m, Outcome.NO, Side.BUY, 500, 1), "side"),
        (lambda: e.deposit(u, True), "amount"),
        (lambda: e.cancel(u, "1"), "oid"),
    ]
    for call, arg in type_errors:
        with pytest.raises(ArgumentTypeError, match=arg) as err:
            call()
        assert isinstance(err.value, TypeError) and isinstance(err.value, ProboError)
    for call, arg in [
        (lambda: e.place(u, m, 2, 0, 500, 1), "side"),
        (lambda: e.place(u, m, 0, 0, 500, 1, client_id=-5), "client_id"),
    ]:
        with pytest.raises(InvalidArgumentError, match=arg) as err2:
            call()
        assert isinstance(err2.value, ValueError)


@pytest.mark.parametrize("cls", [Core, Engine])
def test_misuse_found_inside_the_commands_is_a_probo_error_too(cls):
    """The checks each command makes itself raise the same three types."""
    e = cls()
    m = e.create_market(100, 1)
    u = e.create_user()
    before = e.state_hash()
    value_errors = [
        lambda: e.place(u, m, 0, 0, 50, 1, tif=1, post_only=True),  # post-only IOC
        lambda: e.place(u, m, 0, 0, 50, 1, tif=3),  # GTD without expire_ts
        lambda: e.place_market(u, m, 1, 0, 1, max_cost=5),  # budget on a sell
        lambda: e.create_market(100, 1, taker_fee=20_000),
    ]
    for call in value_errors:
        with pytest.raises(InvalidArgumentError) as err:
            call()
        assert isinstance(err.value, ValueError) and isinstance(err.value, ProboError)
    for call in [
        lambda: e.place(u, m, 0, 0, 50, 1, post_only=1),
        lambda: e.place_market(u, m, 0, 0, 1, fok=1),
    ]:
        with pytest.raises(ArgumentTypeError) as err2:
            call()
        assert isinstance(err2.value, TypeError) and isinstance(err2.value, ProboError)
    assert e.state_hash() == before  # nothing changed


def test_engine_names_misuse_is_a_probo_error():
    e, _ = _pair()
    with pytest.raises(InvalidArgumentError, match="name"):
        e.create_user(name="asha")  # duplicate
    with pytest.raises(InvalidArgumentError, match="symbol"):
        e.create_market(symbol="RAIN")
    with pytest.raises(ArgumentTypeError, match="name"):
        e.create_user(name=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="name"):
        e.create_user(name="")
    for bad in (1.5, True, None, b"asha"):
        with pytest.raises(ArgumentTypeError, match="user"):
            e.submit(bad, "RAIN", 0, 0, 40, 1)  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError, match="uid"):
            e.deposit(bad, 1)  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError, match="market"):
            e.submit("asha", bad, 0, 0, 40, 1)  # type: ignore[arg-type]


def test_a_bare_core_refuses_names_as_misuse():
    c = Core()
    c.create_market()
    c.create_user()
    with pytest.raises(ArgumentTypeError, match="uid"):
        c.place_limit("asha", 0, 0, 0, 500, 1)
    with pytest.raises(ArgumentTypeError, match="mid"):
        c.place_ioc(0, "RAIN", 0, 0, 500, 1)


def test_numpy_ids_work_in_the_engine():
    np = pytest.importorskip("numpy")  # the sdist step's minimal install has none

    e, _ = _pair()
    assert e.deposit(np.int64(0), 100) == 0
    res = e.submit(np.int32(0), np.int64(0), 0, 0, 40, 1)
    assert res.ok and e.cancel(np.int64(0), res.oid) == 0
