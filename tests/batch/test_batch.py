"""The batch path runs exactly what one-call-at-a-time runs."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

np = pytest.importorskip("numpy")

from probo_engine import Core, RejectReason, SelfTrade  # noqa: E402
from probo_engine.batch import COMMAND_DTYPE, EVENT_DTYPE, Batch, depth, run  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "snapshot"))
from test_snapshot import stream  # noqa: E402

KIND = {
    "place": 1,
    "cancel": 2,
    "deposit": 3,
    "withdraw": 4,
    "amend": 5,
    "cancel_all": 6,
    "mint": 7,
    "merge": 8,
    "halt": 9,
    "resume": 10,
    "close": 11,
    "resolve": 12,
    "place_market": 13,
    "expire": 14,
    "cancel_client": 15,
}


def to_records(cmds) -> np.ndarray:
    """Per-call (method, args) tuples as batch records."""
    b = Batch(len(cmds))
    for i, (name, args) in enumerate(cmds):
        getattr(b, name)(i, *args)
    return b.array


def setup_calls(cmds):
    return [c for c in cmds if c[0] in ("create_market", "create_user")]


def body(cmds):
    return [c for c in cmds if c[0] not in ("create_market", "create_user")]


def per_call(cmds):
    core = Core()
    results, filled, events = [], [], []
    for name, args in cmds:
        r = getattr(core, name)(*args)
        if name in ("create_market", "create_user"):
            continue
        results.append(r)
        filled.append(core.last_filled)
        events.extend(core.last_events())
    return core, results, filled, events


def batched(cmds, chunk):
    core = Core()
    for name, args in setup_calls(cmds):
        getattr(core, name)(*args)
    recs = to_records(body(cmds))
    results, filled, events = [], [], []
    for start in range(0, len(recs), chunk):
        out = run(core, recs[start : start + chunk])
        results += out.results.tolist()
        filled += out.filled.tolist()
        events += [tuple(int(x) for x in e) for e in out.events]
    return core, results, filled, events


def with_client_cancels(cmds, seed):
    """``cmds`` with half the cancels by client id (0..9: some live, some not)
    and a quarter of the limit orders placed with self-trade mode NONE."""
    rng = random.Random(seed)
    out = []
    for name, args in cmds:
        if name == "cancel" and rng.random() < 0.5:
            name, args = "cancel_client", (args[0], rng.randint(0, 9), args[2])
        elif name == "place" and rng.random() < 0.25:
            args = (*args[:7], int(SelfTrade.NONE), *args[8:])
        out.append((name, args))
    return out


@pytest.mark.parametrize("chunk", [1, 7, 1000, 10**9])
@pytest.mark.parametrize("client_cancels", [False, True])
def test_batch_equals_per_call_on_a_long_random_stream(chunk, client_cancels):
    cmds = stream(seed=99, n=5000)
    if client_cancels:
        cmds = with_client_cancels(cmds, seed=5)
        assert sum(c[0] == "cancel_client" for c in cmds) > 300
    a, ra, fa, ea = per_call(cmds)
    b, rb, fb, eb = batched(cmds, chunk)
    assert ra == rb
    assert fa == fb
    assert ea == eb
    assert a.snapshot() == b.snapshot()
    b.check_invariants()


commands = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 1),
                st.integers(0, 1),
                st.integers(0, 1),
                st.sampled_from([50, 100, 450, 500, 550, 900, 95, 5]),
                st.integers(-1, 12),
                st.integers(0, 2),
                st.integers(0, 3),
                st.integers(0, 30),
            ),
        ),
        st.tuples(
            st.just("place"),  # with a client id, for cancel_client below
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 1),
                st.integers(0, 1),
                st.integers(0, 1),
                st.sampled_from([50, 100, 450, 500, 550, 900, 95, 5]),
                st.integers(-1, 12),
                st.just(0),
                st.integers(0, 3),
                st.integers(0, 30),
                st.just(False),
                st.integers(1, 4),
            ),
        ),
        st.tuples(
            st.just("cancel"),
            st.tuples(st.integers(0, 2), st.integers(0, 40), st.integers(0, 30)),
        ),
        st.tuples(
            st.just("cancel_client"),
            st.tuples(st.integers(-1, 3), st.integers(0, 5), st.integers(0, 30)),
        ),
        st.tuples(
            st.just("amend"),
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 40),
                st.sampled_from([50, 500, 950]),
                st.integers(0, 12),
                st.integers(0, 30),
            ),
        ),
        st.tuples(
            st.just("place_market"),
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 1),
                st.integers(0, 1),
                st.integers(0, 1),
                st.integers(1, 12),
                st.sampled_from([0, 500, 3000]),
                st.booleans(),
                st.integers(0, 3),
                st.integers(0, 30),
            ),
        ),
        st.tuples(
            st.just("mint"),
            st.tuples(
                st.integers(0, 2),
                st.integers(0, 1),
                st.integers(-1, 5),
                st.integers(0, 30),
            ),
        ),
        st.tuples(st.just("halt"), st.tuples(st.integers(0, 1), st.integers(0, 30))),
        st.tuples(st.just("resume"), st.tuples(st.integers(0, 1), st.integers(0, 30))),
        st.tuples(
            st.just("resolve"),
            st.tuples(
                st.integers(0, 1),
                st.sampled_from([0, 30, 50, 100, 1000]),
                st.integers(0, 30),
            ),
        ),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(commands)
def test_batch_equals_per_call_on_generated_commands(cmds):
    cmds = [c for c in cmds if not (c[0] == "place_market" and c[1][5] and c[1][2])]
    setup = [
        ("create_market", (1000, 50, 0, 100, -20)),
        ("create_market", (100, 1)),
        ("create_user", ()),
        ("create_user", ()),
        ("create_user", ()),
    ]
    setup += [("deposit", (u, 50_000)) for u in range(3)]
    setup += [("mint", (u, m, 20)) for u in range(3) for m in range(2)]
    full = setup + [tuple(c) for c in cmds]
    a, ra, fa, ea = per_call(full)
    b, rb, fb, eb = batched(full, 5)
    assert (ra, fa, ea) == (rb, fb, eb)
    assert a.snapshot() == b.snapshot()


def test_malformed_record_is_refused_before_anything_runs():
    core = Core()
    core.create_user()
    recs = Batch(3)
    recs.deposit(0, 0, 100)
    recs.place(1, 0, 0, 0, 0, 500, 1, tif=7)
    with pytest.raises(ValueError, match="command 1"):
        run(core, recs.array)
    assert core.balance(0) == (0, 0) and core.last_seq == 0
    with pytest.raises(ValueError):
        core.run_batch(b"\0" * 100, np.empty(1, np.int64))


def test_events_off_still_numbers_them():
    core = Core()
    core.create_market()
    u = core.create_user()
    recs = Batch(2)
    recs.deposit(0, u, 100)
    recs.deposit(1, u, 100)
    out = run(core, recs.array, events=False)
    assert out.events is None and core.last_seq == 3
    assert core.events_bytes() == b""


def test_depth_array_matches_depth():
    core = Core()
    m = core.create_market(100, 1)
    u = core.create_user()
    core.deposit(u, 10**6)
    for p in (40, 41, 41, 45):
        core.place(u, m, 0, 0, p, 2)
    core.place(u, m, 0, 1, 40, 3)  # YES ask 60
    arr = depth(core, m, 3)
    bids, asks = core.depth(m, 3)
    assert arr[0].tolist() == [list(b) for b in bids]
    assert arr[1].tolist() == [list(a) for a in asks] + [[0, 0, 0]] * 2
    assert COMMAND_DTYPE.itemsize == 128 and EVENT_DTYPE.itemsize == 96


def test_reused_event_buffer_gives_the_same_events():
    cmds = body(stream(seed=7, n=600))
    recs = to_records(cmds)
    a, b = Core(), Core()
    for core in (a, b):
        for name, args in setup_calls(stream(seed=7, n=600)):
            getattr(core, name)(*args)
    small = (np.empty(100, np.int64), np.empty(100, np.int64), np.empty(8, EVENT_DTYPE))
    big = (
        np.empty(100, np.int64),
        np.empty(100, np.int64),
        np.empty(4096, EVENT_DTYPE),
    )
    for start in range(0, len(recs), 100):
        part = recs[start : start + 100]
        ra = run(a, part)
        rb = run(b, part, out=big if start % 200 else small)
        assert ra.results.tolist() == rb.results.tolist()
        assert ra.events.tobytes() == rb.events.tobytes()
    assert a.snapshot() == b.snapshot()


@pytest.mark.parametrize("events_cap", [None, 0, 50, 10**5])
def test_run_slices_a_long_batch_without_changing_anything(monkeypatch, events_cap):
    """run() feeds the core SUB_BATCH records at a time; results and events are
    those of one big batch, with the caller's event buffer of any size."""
    import probo_engine.batch as batch

    monkeypatch.setattr(batch, "SUB_BATCH", 64)
    cmds = stream(seed=5, n=3000)
    a, ra, fa, ea = per_call(cmds)
    core = Core()
    for name, args in setup_calls(cmds):
        getattr(core, name)(*args)
    recs = to_records(body(cmds))
    n = len(recs)
    out = None
    if events_cap is not None:
        out = (
            np.empty(n, np.int64),
            np.empty(n, np.int64),
            np.empty(events_cap, EVENT_DTYPE),
        )
    got = run(core, recs, out=out)
    assert got.results.tolist() == ra and got.filled.tolist() == fa
    assert [tuple(int(x) for x in e) for e in got.events] == ea
    assert core.snapshot() == a.snapshot()
    if events_cap == 10**5:
        assert np.shares_memory(got.events, out[2])  # the caller's buffer, no copy


def fills_of(events):
    """(maker_oid, yes_price, qty) of every FILL event tuple, in order."""
    return [[e[12], e[8], e[9]] for e in events if e[1] == 3]


@pytest.mark.parametrize("fills_cap", [0, 30, 10**5])
@pytest.mark.parametrize("events", [True, False])
def test_fills_buffer_holds_every_fill_of_the_batch(monkeypatch, fills_cap, events):
    """run(fills=buf) gives the fills of the per-call events, in order, in the
    caller's buffer (or a fresh array when it is too short); the results,
    events and state are those without it."""
    import probo_engine.batch as batch

    monkeypatch.setattr(batch, "SUB_BATCH", 64)
    cmds = stream(seed=11, n=3000)
    a, ra, fa, ea = per_call(cmds)
    want = fills_of(ea)
    assert len(want) > 100
    core = Core()
    for name, args in setup_calls(cmds):
        getattr(core, name)(*args)
    buf = np.full(fills_cap, -1, np.int64)
    got = run(core, to_records(body(cmds)), events=events, fills=buf)
    assert got.fills.shape == (len(want), 3)
    assert got.fills.tolist() == want
    assert got.results.tolist() == ra and got.filled.tolist() == fa
    if events:
        assert [tuple(int(x) for x in e) for e in got.events] == ea
    else:
        assert got.events is None
    assert np.shares_memory(got.fills, buf) == (fills_cap == 10**5)
    assert core.snapshot() == a.snapshot()
    assert core.last_seq == a.last_seq


@pytest.mark.parametrize(
    "bad",
    [np.empty(9, np.int32), np.empty((3, 3), np.int64), np.empty(18, np.int64)[::2]],
)
def test_fills_buffer_of_the_wrong_kind_is_refused_before_anything_runs(bad):
    core = Core()
    core.create_user()
    recs = Batch(1)
    recs.deposit(0, 0, 5)
    with pytest.raises(ValueError, match="fills must be"):
        run(core, recs.array, fills=bad)
    assert core.balance(0) == (0, 0) and core.last_seq == 0


def test_malformed_record_late_in_a_sliced_batch_stops_it_before_anything_runs():
    import probo_engine.batch as batch

    core = Core()
    core.create_user()
    n = batch.SUB_BATCH * 2 + 5
    recs = Batch(n)
    for i in range(n - 1):
        recs.deposit(i, 0, 1)
    recs.place(n - 1, 0, 0, 0, 0, 500, 1, tif=7)
    with pytest.raises(ValueError, match=f"command {n - 1}"):
        run(core, recs.array)
    assert core.balance(0) == (0, 0) and core.last_seq == 0


def test_a_refused_order_does_not_shift_a_later_cancel_by_client_id():
    # The case: a batch places three orders and cancels the second.
    # The first is refused (insufficient funds), so it takes no order id: a
    # cancel by precomputed engine id (2) would hit the third order, while a
    # cancel by client id hits the order it names.
    def go(by_client):
        core = Core()
        m = core.create_market()
        a, b = core.create_user(), core.create_user()
        core.deposit(b, 100_000)
        recs = Batch(4)
        recs.place(0, a, m, 0, 0, 500, 10, client_id=11)  # a has no cash: refused
        recs.place(1, b, m, 0, 0, 450, 10, client_id=12)
        recs.place(2, b, m, 0, 0, 400, 10, client_id=13)
        if by_client:
            recs.cancel_client(3, b, 12)
        else:
            recs.cancel(3, b, 2)  # "the second order": but it got id 1
        out = run(core, recs.array)
        return core, out.results.tolist()

    core, results = go(by_client=True)
    assert results == [-int(RejectReason.INSUFFICIENT_FUNDS), 1, 2, 0]
    assert core.order_by_client_id(1, 12) is None  # the one named
    assert core.order_by_client_id(1, 13)[1] == 2  # the other still rests
    assert core.depth(0, 5)[0] == [(400, 10, 1)]
    wrong, results = go(by_client=False)
    assert results == [-int(RejectReason.INSUFFICIENT_FUNDS), 1, 2, 0]
    assert wrong.order_by_client_id(1, 13) is None  # the wrong order is gone


def test_cancel_client_record_events_equal_the_per_call_ones():
    def world(core):
        m = core.create_market()
        u = core.create_user()
        core.deposit(u, 10_000)
        core.place(u, m, 0, 0, 500, 4, client_id=9)
        return u

    per = Core()
    u = world(per)
    results, events = [], []
    for cid in (9, 9, 0, 4):
        results.append(per.cancel_client(u, cid))
        events.extend(per.last_events())
    core = Core()
    world(core)
    recs = Batch(4)
    for i, cid in enumerate((9, 9, 0, 4)):
        recs.cancel_client(i, u, cid)
    out = run(core, recs.array)
    assert out.results.tolist() == results == [0, -302, -302, -302]
    assert [tuple(int(x) for x in e) for e in out.events] == events
    assert core.snapshot() == per.snapshot()


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_cancel_client_record_with_a_client_id_out_of_range_is_malformed(bad):
    core = Core()
    core.create_user()
    recs = Batch(2)
    recs.deposit(0, 0, 100)
    recs.cancel_client(1, 0, bad)
    with pytest.raises(ValueError, match="command 1"):
        run(core, recs.array)
    assert core.balance(0) == (0, 0) and core.last_seq == 0


def test_builder_stp_default_applies_to_orders_given_none():
    recs = Batch(4, stp=SelfTrade.NONE)
    recs.place(0, 0, 0, 0, 0, 500, 1)
    recs.place(1, 0, 0, 0, 0, 500, 1, stp=SelfTrade.CANCEL_TAKER)
    recs.place_market(2, 0, 0, 0, 0, 1)
    recs.place_market(3, 0, 0, 0, 0, 1, stp=0)
    assert recs.array["stp"].tolist() == [3, 1, 3, 0]
    assert Batch(1).stp == 0


def test_batch_with_stp_none_lets_one_user_trade_with_itself():
    core = Core()
    m = core.create_market()
    u = core.create_user()
    core.deposit(u, 10_000)
    core.mint(u, m, 5)
    recs = Batch(2, stp=SelfTrade.NONE)
    recs.place(0, u, m, 0, 0, 500, 5)  # buy YES, rests
    recs.place(1, u, m, 1, 0, 500, 5)  # sell YES into it: a fill with itself
    out = run(core, recs.array)
    assert out.filled.tolist() == [0, 5]
    fills = out.events[out.events["kind"] == 3]
    assert fills["user"].tolist() == fills["user2"].tolist() == [u]
    assert core.balance(u) == (5_000, 0)  # 10,000 - 5,000 minted; paid itself
    assert core.position(u, m) == (5, 0, 5, 0)
    core.check_invariants()
