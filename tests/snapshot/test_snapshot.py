"""Snapshots: canonical bytes, exact round trips, golden files, hostile input."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probo_engine import Core, Engine, SnapshotError
from probo_engine._book import SNAPSHOT_VERSION

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
sys.path.insert(0, str(HERE))
from gen_golden import scenario  # noqa: E402


def stream(seed: int, n: int):
    """A seeded stream of mixed commands as (method name, args)."""
    rng = random.Random(seed)
    out = [
        ("create_market", (1000, 50, 0, 100, -30, 0)),
        ("create_market", (100, 1, 0, 200, 0, 1)),
    ]
    out += [("create_user", ())] * 5
    for u in range(5):
        out.append(("deposit", (u, 5_000_000, 0)))
        out.append(("mint", (u, 0, 200, 0)))
        out.append(("mint", (u, 1, 200, 0)))
    for i in range(n):
        ts = 10 + i
        u, m = rng.randrange(5), rng.randrange(2)
        payout, tick = ((1000, 50), (100, 1))[m]
        r = rng.random()
        if r < 0.6:
            tif = rng.choice((0, 0, 0, 1, 2, 3))
            out.append(
                (
                    "place",
                    (
                        u,
                        m,
                        rng.randrange(2),
                        rng.randrange(2),
                        rng.randrange(tick, payout, tick),
                        rng.randint(1, 30),
                        tif,
                        rng.randrange(3),
                        ts,
                        False,
                        rng.choice((0, 0, rng.randint(1, 9))),
                        ts + rng.randint(1, 400) if tif == 3 else 0,
                    ),
                )
            )
        elif r < 0.75:
            out.append(("cancel", (u, rng.randint(1, i + 1), ts)))
        elif r < 0.85:
            out.append(
                (
                    "amend",
                    (
                        u,
                        rng.randint(max(1, i - 50), i + 1),
                        rng.randrange(tick, payout, tick),
                        rng.randint(1, 30),
                        ts,
                    ),
                )
            )
        elif r < 0.9:
            out.append(
                (
                    "place_market",
                    (
                        u,
                        m,
                        rng.randrange(2),
                        rng.randrange(2),
                        rng.randint(1, 40),
                        0,
                        False,
                        0,
                        ts,
                    ),
                )
            )
        elif r < 0.95:
            out.append(("cancel_all", (u, m, ts)))
        else:
            out.append(("merge", (u, m, rng.randint(1, 5), ts)))
    return out


def apply(core, cmds) -> list:
    return [getattr(core, name)(*args) for name, args in cmds]


def test_snapshot_round_trips_at_random_points_and_continues_identically():
    cmds = stream(seed=11, n=3000)
    ref = Core()
    apply(ref, cmds)
    final = ref.snapshot()
    rng = random.Random(3)
    points = sorted(rng.sample(range(len(cmds)), 60))
    for k in points:
        a = Core()
        apply(a, cmds[:k])
        blob = a.snapshot()
        b = Core.restore(blob)
        assert b.snapshot() == blob, f"restore(snapshot) differs at {k}"
        assert b.state_hash() == a.state_hash()
        results_a = apply(a, cmds[k : k + 200])
        results_b = apply(b, cmds[k : k + 200])
        assert results_a == results_b
        assert a.last_events() == b.last_events()
        apply(b, cmds[k + 200 :])
        assert b.snapshot() == final, f"diverged after restoring at {k}"
        b.check_invariants()


def test_equal_states_give_equal_bytes_whatever_the_arena_history():
    a = Core()
    apply(a, stream(seed=5, n=2000))
    # a's arena has free slots scattered by cancels and fills; b's is packed
    b = Core.restore(a.snapshot())
    c = pickle.loads(pickle.dumps(b))
    assert a.snapshot() == b.snapshot() == c.snapshot()
    assert len({a.state_hash(), b.state_hash(), c.state_hash()}) == 1


def without_clock(data: bytes) -> bytes:
    """A current-format snapshot with its clock (header bytes 128..136) zeroed."""
    body = bytearray(data[:-4])
    body[128:136] = bytes(8)
    return bytes(body) + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize("version", range(1, SNAPSHOT_VERSION + 1))
def test_golden_snapshots_keep_loading(version):
    blob = (GOLDEN / f"v{version}.bin").read_bytes()
    meta = json.loads((GOLDEN / f"v{version}.json").read_text())
    core = Core.restore(blob)
    # the committed file is the one its hash was taken of (state_hash() is the
    # digest of the snapshot bytes in the format of its time)
    assert hashlib.blake2b(blob, digest_size=16).hexdigest() == meta["state_hash"]
    assert list(core.totals()) == meta["totals"] and core.fees() == meta["fees"]
    if version < SNAPSHOT_VERSION:
        # Loads to the scenario's state; version 1 had no clock (it loads as
        # 0), so the clock is the one field that differs.
        assert core.clock == 0
        assert without_clock(core.snapshot()) == without_clock(scenario().snapshot())
    if version == SNAPSHOT_VERSION:
        assert core.state_hash() == meta["state_hash"]
        assert core.snapshot() == blob
        fresh = scenario()
        assert fresh.snapshot() == blob, "gen_golden.scenario() no longer matches"
        follow = [
            ("place", (0, 0, 1, 0, 600, 3, 0, 0, 2000)),
            ("cancel", (1, 2, 2001)),
            ("expire", (5000,)),
            ("resume", (1, 5002)),
            ("place", (2, 1, 0, 1, 60, 4, 0, 0, 5003)),
        ]
        assert apply(core, follow) == apply(fresh, follow)
        assert core.snapshot() == fresh.snapshot()


def test_engine_snapshot_keeps_names():
    e = Engine()
    e.create_market(symbol="RAIN")
    e.create_user(name="asha")
    e.deposit(0, 100)
    f = Engine.restore(e.snapshot())
    assert (f.user_id("asha"), f.market_id("RAIN")) == (0, 0)
    assert f.snapshot() == e.snapshot()
    g = pickle.loads(pickle.dumps(e))
    assert type(g) is Engine and g.user_name(0) == "asha"


@pytest.fixture(scope="module")
def blob() -> bytes:
    return scenario().snapshot()


def test_every_truncation_is_refused(blob):
    for n in range(len(blob)):
        with pytest.raises(SnapshotError):
            Core.restore(blob[:n])


def test_every_single_bit_flip_is_refused(blob):
    for i in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            with pytest.raises(SnapshotError):
                Core.restore(bytes(bad))


def _with_crc(body: bytes) -> bytes:
    import zlib

    return body + zlib.crc32(body).to_bytes(4, "little")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_hostile_snapshots_with_valid_crc_raise_snapshot_error(blob, data):
    # Mutations that keep the checksum right reach the field validation and
    # the invariant check: they must still only ever raise SnapshotError.
    body = bytearray(blob[:-4])
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    try:
        core = Core.restore(_with_crc(bytes(body)))
    except SnapshotError:
        return
    core.check_invariants()  # accepted: then it must be a consistent engine
    assert Core.restore(core.snapshot()).snapshot() == core.snapshot()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_snapshot_error(raw):
    with pytest.raises(SnapshotError):
        Core.restore(raw)
    with pytest.raises(SnapshotError):
        Core.restore(b"PROBOSNP" + raw)


def test_not_bytes_raises_snapshot_error():
    with pytest.raises(SnapshotError):
        Core.restore("not bytes")
    with pytest.raises(SnapshotError):
        Core.restore(12)


DETERMINISM = """
import hashlib, sys
sys.path.insert(0, {here!r})
from test_snapshot import stream, apply
from probo_engine import Core
c = Core()
h = hashlib.sha256()
for name, args in stream(seed=21, n=4000):
    getattr(c, name)(*args)
    h.update(repr(c.last_events()).encode())
print(h.hexdigest(), hashlib.sha256(c.snapshot()).hexdigest())
"""


def test_same_stream_gives_identical_bytes_and_events_in_other_processes():
    code = DETERMINISM.format(here=str(HERE))
    outs = set()
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        outs.add(out)
    assert len(outs) == 1
    c = Core()
    h = hashlib.sha256()
    for name, args in stream(seed=21, n=4000):
        getattr(c, name)(*args)
        h.update(repr(c.last_events()).encode())
    assert outs == {f"{h.hexdigest()} {hashlib.sha256(c.snapshot()).hexdigest()}"}


def test_an_orders_self_trade_mode_loads_up_to_none_and_no_further():
    from probo_engine.errors import SnapshotError

    def snap(stp):
        core = Core()
        m = core.create_market()
        u = core.create_user()
        core.deposit(u, 10_000)
        assert core.place(u, m, 0, 0, 500, 3, 0, stp) == 1
        return core.snapshot()

    none, maker = snap(3), snap(0)
    (at,) = [i for i in range(len(none) - 4) if none[i] != maker[i]]
    assert none[at] == 3 and maker[at] == 0
    assert Core.restore(none).snapshot() == none

    def with_stp(v):
        b = bytearray(none)
        b[at] = v
        b[-4:] = zlib.crc32(bytes(b[:-4])).to_bytes(4, "little")
        return bytes(b)

    assert Core.restore(with_stp(2)).order(1) is not None  # the CRC is right
    with pytest.raises(SnapshotError):
        Core.restore(with_stp(4))
