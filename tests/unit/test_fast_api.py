"""Fills per call without tuples, the short entry points and Engine.submit's
C path (issue 10 items 2-3): each must equal the general path it shortens."""

from __future__ import annotations

import array
import random

import pytest

from probo_engine import (
    Core,
    Engine,
    EventKind,
    Fill,
    FillKind,
    InvalidArgumentError,
    OrderResult,
    ProboError,
    RejectReason,
    SelfTrade,
    TimeInForce,
)

FILL = int(EventKind.FILL)


def _fills_from_events(core: Core) -> list[int]:
    out: list[int] = []
    for e in core.last_events():
        if e[1] == FILL:
            out += [e[12], e[8], e[9]]
    return out


def _stream(seed: int, n: int = 3000) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    ops = []
    for _ in range(n):
        r = rng.random()
        if r < 0.15:
            ops.append(("cancel", rng.randrange(8), rng.randrange(1, 400)))
        else:
            tif = 1 if r < 0.3 else 0
            ops.append(
                (
                    "place",
                    rng.randrange(8),
                    rng.randrange(2),  # side
                    rng.randrange(2),  # outcome
                    rng.choice([rng.randrange(1, 100), 0, 100, 37]),  # off-grid too
                    rng.choice([rng.randrange(1, 60), 0]),
                    tif,
                )
            )
    return ops


def _setup(core: Core) -> int:
    m = core.create_market(100, 1)
    for _ in range(8):
        u = core.create_user()
        core.deposit(u, 10**7)
        core.mint(u, m, 500)  # shares, so sells can rest and fill
    return m


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_last_fills_and_fills_into_equal_the_fill_events(seed):
    core = Core()
    m = _setup(core)
    buf = array.array("q", bytes(8 * 3 * 64))  # no numpy: the sdist step has none
    seen = 0
    for op in _stream(seed):
        if op[0] == "cancel":
            core.cancel(op[1], op[2])
        else:
            _, u, s, o, p, q, tif = op
            core.place(u, m, s, o, p, q, tif)
        want = _fills_from_events(core)
        assert core.last_fills() == want
        n = core.fills_into(buf)
        assert n * 3 == len(want) and buf[: 3 * n].tolist() == want
        seen += n
    assert seen > 200  # the stream does trade


def test_fills_into_a_short_buffer_names_the_size_and_writes_nothing():
    core = Core()
    m = _setup(core)
    core.place_limit(0, m, 0, 0, 60, 5)
    core.place_limit(0, m, 0, 0, 61, 5)
    assert core.place_limit(1, m, 1, 0, 50, 10) > 0  # sells YES into both bids
    assert core.last_fills() == [2, 61, 5, 1, 60, 5]
    short = array.array("q", [7] * 5)
    with pytest.raises(InvalidArgumentError, match="need 6") as err:
        core.fills_into(short)
    assert isinstance(err.value, ValueError) and isinstance(err.value, ProboError)
    assert short.tolist() == [7] * 5
    exact = array.array("q", [0] * 6)
    assert core.fills_into(exact) == 2 and exact.tolist() == [2, 61, 5, 1, 60, 5]
    core.cancel(0, 99)
    assert core.last_fills() == [] and core.fills_into(exact) == 0


@pytest.mark.parametrize("seed", [4, 5])
def test_place_limit_and_place_ioc_are_place_with_defaults(seed):
    a, b = Core(), Core()
    ma, mb = _setup(a), _setup(b)
    for op in _stream(seed):
        if op[0] == "cancel":
            assert a.cancel(op[1], op[2]) == b.cancel(op[1], op[2])
        else:
            _, u, s, o, p, q, tif = op
            fast = (a.place_ioc if tif else a.place_limit)(u, ma, s, o, p, q)
            assert fast == b.place(u, mb, s, o, p, q, tif)
        assert a.last_events() == b.last_events()
    assert a.state_hash() == b.state_hash()


def _old_result(core: Core, r: int, qty: int) -> OrderResult:
    # Engine.submit's result as the Python code built it before (reference)
    if r < 0:
        return OrderResult(RejectReason(-r), 0, 0, 0, 0, ())
    fills, filled, canceled = [], 0, 0
    for e in core.last_events():
        if e[1] == FILL and e[5] == r:
            fills.append(
                Fill(e[12], e[11], e[13], e[8], e[9], FillKind(e[10]), e[15], e[16])
            )
            filled += e[9]
        elif e[1] == int(EventKind.CANCELED) and e[5] == r:
            canceled += e[9]
    return OrderResult(
        RejectReason.OK, r, filled, qty - filled - canceled, canceled, tuple(fills)
    )


@pytest.mark.parametrize("seed", [6, 7])
def test_engine_submit_equals_place_and_the_events(seed):
    """Both of submit's paths (GTC without options in C, anything else through
    place) give the record the events describe, with enum-typed fields."""
    eng, ref = Engine(), Core()
    me, mr = _setup(eng), _setup(ref)
    rng = random.Random(seed)
    for op in _stream(seed):
        if op[0] == "cancel":
            assert eng.cancel(op[1], op[2]) == ref.cancel(op[1], op[2])
            continue
        _, u, s, o, p, q, tif = op
        opts = {}
        if rng.random() < 0.3:
            opts = {"stp": SelfTrade.CANCEL_TAKER, "client_id": rng.randrange(1, 50)}
        res = eng.submit(u, me, s, o, p, q, tif=TimeInForce(tif), **opts)
        r = ref.place(u, mr, s, o, p, q, tif, **opts)
        assert res == _old_result(ref, r, q)
        assert type(res) is OrderResult and type(res.status) is RejectReason
        assert all(type(f) is Fill and type(f.kind) is FillKind for f in res.fills)
        assert eng.last_events() == ref.last_events()
    assert eng.state_hash() == ref.state_hash()


def test_submit_market_result_matches_its_events():
    eng = Engine()
    m = _setup(eng)
    eng.submit(0, m, 1, 0, 60, 5)  # sell YES @60
    eng.submit(1, m, 1, 0, 62, 5)
    res = eng.submit_market(2, m, 0, 0, 8)
    assert res.status is RejectReason.OK and res.filled == 8 and res.canceled == 0
    assert [(f.maker_oid, f.yes_price, f.qty) for f in res.fills] == [
        (1, 60, 5),
        (2, 62, 3),
    ]


@pytest.mark.parametrize("seed", [8, 9])
def test_place_limit_fills_is_place_limit_and_its_fills(seed):
    a, b = Engine(), Core()
    ma, mb = _setup(a), _setup(b)
    traded = 0
    for op in _stream(seed):
        if op[0] == "cancel":
            assert a.cancel(op[1], op[2]) == b.cancel(op[1], op[2])
            continue
        _, u, s, o, p, q, _tif = op
        r, fills = a.place_limit_fills(u, ma, s, o, p, q)
        assert r == b.place_limit(u, mb, s, o, p, q)
        flat = b.last_fills()
        assert type(fills) is tuple
        assert [x for f in fills for x in f] == flat == a.last_fills()
        assert all(type(f) is tuple and len(f) == 3 for f in fills)
        assert a.last_events() == b.last_events()
        traded += len(fills)
    assert traded > 100
    assert a.state_hash() == b.state_hash()


def test_place_limit_fills_takes_names_and_refuses_bad_input_unchanged():
    eng = Engine()
    eng.create_market(100, 1, symbol="M")
    for name in ("ann", "bob"):
        eng.create_user(name=name)
        eng.deposit(name, 10_000)
    assert eng.place_limit_fills("ann", "M", 0, 0, 60, 5) == (1, ())
    assert eng.place_limit_fills("bob", "M", 0, 1, 40, 2) == (2, ((1, 60, 2),))
    assert eng.place_limit_fills("eve", "M", 0, 0, 60, 5) == (
        -int(RejectReason.UNKNOWN_USER),
        (),
    )
    before = eng.state_hash()
    for bad in ((0, 0, 60, "5"), (2, 0, 60, 5), (0, 0, 60.0, 5)):
        with pytest.raises(ProboError):
            eng.place_limit_fills("ann", "M", *bad)
    assert eng.state_hash() == before


def test_records_built_in_c_are_the_namedtuples():
    """Engine.submit's OrderResult and Fill are made in C (_c/records.h):
    they must behave as the NamedTuples built in Python, and be freed."""
    import copy
    import gc
    import pickle
    import sys

    eng = Engine()
    m = _setup(eng)
    eng.submit(0, m, 1, 0, 60, 5)
    res = eng.submit(1, m, 0, 0, 61, 7)
    fill = res.fills[0]
    want_fill = Fill(1, 0, 60, 60, 5, FillKind.TRANSFER, 0, 0)
    assert fill == want_fill and hash(fill) == hash(want_fill)
    assert repr(fill) == repr(want_fill)
    mo, mu, tp, yp, q, kind, fee, mfee = fill
    assert (mo, q, kind) == (1, 5, FillKind.TRANSFER) and fill[4] == 5
    assert fill._asdict()["yes_price"] == 60 and fill._replace(qty=1).qty == 1
    assert res == OrderResult(RejectReason.OK, 2, 5, 2, 0, (want_fill,))
    assert res.ok and res[1] == 2 and res._fields[-1] == "fills"
    for r in (res, fill):
        assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r
    # fields are read-only member descriptors (reads the interpreter caches),
    # documented as the NamedTuple's were, on records from C or from Python
    assert type(Fill.qty).__name__ == "member_descriptor"
    assert Fill.qty.__doc__ == "Alias for field number 4"
    assert OrderResult.fills.__doc__ == "Alias for field number 5"
    for name in Fill._fields:
        assert (
            getattr(want_fill, name)
            == getattr(fill, name)
            == fill[Fill._fields.index(name)]
        )
        with pytest.raises(AttributeError):
            setattr(fill, name, 1)
    with pytest.raises(AttributeError):
        del res.fills
    assert eng.submit(1, m, 0, 0, 1, 1).fills == ()
    bad = eng.submit(1, m, 0, 0, 61, 10**12)
    assert bad == OrderResult(
        RejectReason(-eng.place(1, m, 0, 0, 61, 10**12)), 0, 0, 0, 0, ()
    )
    # no reference leaked: the classes' counts do not grow with records made
    del res, fill, bad, mo, mu, tp, yp, q, kind, fee, mfee
    gc.collect()
    counts = sys.getrefcount(Fill), sys.getrefcount(OrderResult)
    for _ in range(200):
        eng.submit(0, m, 1, 0, 60, 1)
        eng.submit(1, m, 0, 0, 60, 1)
    gc.collect()
    assert (sys.getrefcount(Fill), sys.getrefcount(OrderResult)) == counts


def test_records_and_fill_tuples_leak_nothing():
    """Every object the C record builders make is freed with its record: a
    leaked int per order would show as ~100 kB here (tracemalloc follows the
    Python allocators; the core's own arrays are not traced)."""
    import tracemalloc

    eng = Engine()
    m = _setup(eng)

    def cycle(k: int) -> None:
        eng.submit(0, m, 0, 0, 60, 2)  # buy YES: rests
        res = eng.submit(1, m, 0, 1, 40, 3, tif=TimeInForce.IOC)  # buy NO: mints
        assert res.filled == 2 and res.canceled == 1 and len(res.fills) == 1
        eng.place_limit_fills(0, m, 0, 0, 60, 1)
        oid, fills = eng.place_limit_fills(1, m, 0, 1, 40, 1)
        assert oid > 0 and len(fills) == 1
        assert eng.submit(99, m, 0, 0, 60, 1).status is RejectReason.UNKNOWN_USER

    tracemalloc.start()
    try:
        for k in range(300):
            cycle(k)
        before = tracemalloc.get_traced_memory()[0]
        for k in range(3000):
            cycle(k)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 20_000, grown
