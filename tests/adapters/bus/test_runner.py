"""EngineRunner: time stamping, validation, the dedup window, snapshots."""

from __future__ import annotations

import random

import pytest

from probo_engine import Engine, commands
from probo_engine.adapters.entries import Entry
from probo_engine.adapters.runner import MAX_KEY_BYTES, EngineRunner, Reply
from probo_engine.commands import (
    Cancel,
    CreateMarket,
    CreateUser,
    Deposit,
    Expire,
    Place,
)
from probo_engine.errors import InvariantError, SnapshotError

from .busstream import random_commands, setup_commands


def run(runner: EngineRunner, cmds, keys=None, t0: int = 1_000):
    out = []
    for i, cmd in enumerate(cmds):
        key = b"" if keys is None else keys[i]
        out.append(runner.apply(cmd, key, now_ns=t0 + i))
    return out


def fingerprint(r: EngineRunner):
    return (r.engine.state_hash(), r.seq, r.last_ts, r.window_keys())


# ---------------------------------------------------------------- stamping


def test_ts_is_stamped_and_monotonic():
    r = EngineRunner()
    e = r.apply(CreateMarket(ts=5), b"", now_ns=100)
    assert isinstance(e, Entry)
    assert commands.decode(e.command) == CreateMarket(ts=100)
    e = r.apply(Deposit(0, 1, ts=999_999), b"", now_ns=50)  # clock went back
    # (user 0 does not exist: a result code, still an applied command)
    assert commands.decode(e.command).ts == 100
    assert r.last_ts == 100
    e = r.apply(Deposit(0, 1), b"", now_ns=300)
    assert commands.decode(e.command).ts == 300 and r.last_ts == 300


def test_expire_ts_untouched_and_commands_without_ts():
    r = EngineRunner()
    run(r, [CreateMarket(), CreateUser(), Deposit(0, 10_000)])
    gtd = Place(0, 0, 0, 0, 500, 1, tif=3, ts=1, expire_ts=10**12)
    e = r.apply(gtd, b"", now_ns=2_000)
    assert commands.decode(e.command) == gtd._replace(ts=2_000)
    e = r.apply(CreateUser(name="x"), b"", now_ns=3_000)
    assert commands.decode(e.command) == CreateUser(name="x")
    e = r.apply(Expire(10**15), b"", now_ns=4_000)
    assert commands.decode(e.command) == Expire(4_000)


def test_entry_carries_result_and_events():
    r = EngineRunner()
    run(r, [CreateMarket(), CreateUser(), Deposit(0, 10_000)])
    e = r.apply(Place(0, 0, 0, 0, 500, 2), b"k", now_ns=9_000)
    assert isinstance(e, Entry)
    assert (e.seq, e.key, e.result) == (4, b"k", 1)
    assert e.events == r.engine.events_bytes() and e.n_events >= 1
    assert all(ev.ts == 9_000 for ev in e.iter_events())


# -------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "cmd, key, exc",
    [
        (("place", 1), b"", TypeError),  # not a record
        (Place(0, 0, 0, 0, 500, 1.0), b"", TypeError),  # float field
        (Place(0, 0, 0, 0, 500, True), b"", TypeError),  # bool for an int
        (Place(0, 0, 0, 0, 500, 2**63), b"", ValueError),  # beyond int64
        (Place(0, 0, 7, 0, 500, 1), b"", ValueError),  # side out of range
        (CreateMarket(1000, 7), b"", ValueError),  # bad grid
        (CreateUser(name="taken"), b"", ValueError),  # name exists
        (Deposit(0, 5), "text", TypeError),  # key not bytes
        (Deposit(0, 5), b"k" * (MAX_KEY_BYTES + 1), ValueError),  # key too long
    ],
)
def test_misuse_raises_and_changes_nothing(cmd, key, exc):
    r = EngineRunner()
    run(r, [CreateMarket(), CreateUser(name="taken"), Deposit(0, 10_000)],
        keys=[b"a", b"b", b"c"])  # fmt: skip
    before = fingerprint(r)
    with pytest.raises(exc):
        r.apply(cmd, key, now_ns=10**9)
    assert fingerprint(r) == before
    assert r.apply(Deposit(0, 1), b"d", now_ns=10**9).seq == 4  # no seq used


def test_now_ns_must_be_an_int():
    r = EngineRunner()
    with pytest.raises(TypeError):
        r.apply(CreateUser(), b"", now_ns=1.5)  # type: ignore[arg-type]
    assert r.seq == 0


# ------------------------------------------------------------------ dedup


def test_duplicate_key_returns_original_and_applies_nothing():
    r = EngineRunner()
    run(r, [CreateMarket(), CreateUser(), Deposit(0, 10_000)])
    first = r.apply(Place(0, 0, 0, 0, 500, 2), b"order-1", now_ns=5_000)
    assert isinstance(first, Entry)
    h = r.engine.state_hash()
    again = r.apply(Place(0, 0, 0, 0, 500, 2), b"order-1", now_ns=6_000)
    assert again == Reply(first.seq, first.result, first.events, True)
    # even with a different command: the key decides
    other = r.apply(Cancel(0, 1), b"order-1", now_ns=7_000)
    assert other == again
    assert r.engine.state_hash() == h and r.seq == first.seq
    assert r.lookup(b"order-1") == again and r.lookup(b"nope") is None


def test_empty_key_never_dedups():
    r = EngineRunner()
    a = r.apply(CreateUser(), b"", now_ns=1)
    b = r.apply(CreateUser(), b"", now_ns=2)
    assert isinstance(b, Entry) and (a.seq, b.seq) == (1, 2)
    assert r.window_keys() == []


def test_window_is_the_most_recent_keys_by_count():
    r = EngineRunner(window=3)
    keys = [b"k1", b"k2", b"", b"k3", b"k4"]
    run(r, [CreateUser() for _ in keys], keys=keys)
    assert r.window_keys() == [b"k2", b"k3", b"k4"]
    assert isinstance(r.apply(CreateUser(), b"k1", now_ns=9), Entry)  # evicted
    assert isinstance(r.apply(CreateUser(), b"k3", now_ns=9), Reply)
    # a hit does not refresh the key's place
    assert r.window_keys() == [b"k3", b"k4", b"k1"]


def test_window_zero_disables_dedup():
    r = EngineRunner(window=0)
    run(r, [CreateUser(), CreateUser()], keys=[b"k", b"k"])
    assert r.seq == 2


# --------------------------------------------------------------- snapshots


def _busy_runner(n: int = 3_000, window: int = 500) -> EngineRunner:
    r = EngineRunner(window=window)
    cmds = setup_commands() + random_commands(7, n)
    rng = random.Random(3)
    keys = [
        b"" if rng.random() < 0.3 else f"key-{i}".encode() for i in range(len(cmds))
    ]
    run(r, cmds, keys)
    return r


def test_snapshot_round_trip():
    r = _busy_runner()
    data = r.snapshot(b"1700000000000-5")
    r2, position = EngineRunner.restore(data)
    assert position == b"1700000000000-5"
    assert fingerprint(r2) == fingerprint(r) and r2.window == r.window
    assert r2.snapshot(b"1700000000000-5") == data  # canonical
    for k in r.window_keys()[::50]:
        assert r2.lookup(k) == r.lookup(k)
    # the same behaviour afterwards
    more = random_commands(8, 500)
    keys = [f"more-{i}".encode() for i in range(500)]
    a = run(r, more, keys, t0=10**12)
    b = run(r2, more, keys, t0=10**12)
    assert a == b and fingerprint(r) == fingerprint(r2)


def test_snapshot_empty_runner():
    r2, pos = EngineRunner.restore(EngineRunner(window=7).snapshot())
    assert (r2.seq, r2.window, pos, r2.window_keys()) == (0, 7, b"", [])


def test_damaged_snapshots_raise_snapshot_error():
    data = _busy_runner(400, 50).snapshot(b"pos")
    rng = random.Random(1)
    cuts = [0, 1, 10, 40, len(data) // 2, len(data) - 5, len(data) - 1]
    for n in cuts:
        with pytest.raises(SnapshotError):
            EngineRunner.restore(data[:n])
    for _ in range(200):
        bad = bytearray(data)
        i = rng.randrange(len(bad))
        bad[i] ^= 1 << rng.randrange(8)
        with pytest.raises(SnapshotError):
            EngineRunner.restore(bytes(bad))
    with pytest.raises(SnapshotError):
        EngineRunner.restore(data + b"\0")


# ------------------------------------------------------------------ replay


def test_apply_entry_rebuilds_the_same_runner():
    r = EngineRunner(window=200)
    cmds = setup_commands() + random_commands(11, 2_000)
    # keys come back after leaving the window (i % 1500) and inside it (i % 10)
    keys = [f"k{(i - (i % 10 == 0)) % 1500}".encode() for i in range(len(cmds))]
    entries = run(r, cmds, keys)
    dups = [e for e in entries if isinstance(e, Reply)]
    entries = [e for e in entries if isinstance(e, Entry)]
    assert len(dups) > 100 and len(entries) > 1_800
    r2 = EngineRunner(window=200)
    for e in entries:
        r2.apply_entry(e)
    assert fingerprint(r2) == fingerprint(r)


def test_apply_entry_checks_order_and_events():
    r = EngineRunner()
    e1, e2 = run(r, [CreateUser(), CreateUser()])
    r2 = EngineRunner()
    with pytest.raises(ValueError, match="expected 1"):
        r2.apply_entry(e2)
    r2.apply_entry(e1)
    forged = Entry(2, b"", e2.command, 5, b"")
    with pytest.raises(InvariantError):
        r2.apply_entry(forged)


def test_runner_drives_a_given_engine():
    eng = Engine(max_open_orders=1)
    r = EngineRunner(eng)
    assert r.engine is eng
    run(r, [CreateMarket(), CreateUser(), Deposit(0, 10_000)])
    assert r.apply(Place(0, 0, 0, 0, 500, 1), now_ns=10).result == 1
    assert r.apply(Place(0, 0, 0, 0, 500, 1), now_ns=11).result < 0  # limit


def test_docstring_examples():
    import doctest

    from probo_engine.adapters import runner

    result = doctest.testmod(runner)
    assert result.failed == 0 and result.attempted >= 5
