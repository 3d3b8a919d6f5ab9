"""Recovery gives the state of a run that never stopped: journal, snapshots, copies.

The stream is ``cmdstream.make_stream`` (every command type, ~20k commands);
seeds are fixed and printed on failure through the test ids.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cmdstream import ENGINE_OPTIONS, fingerprint, make_stream, reference_run

from probo_engine import Core
from probo_engine.commands import CreateUser
from probo_engine.journal import DurableEngine, JournalCorruptError, read_journal
from reference import ReferenceEngine

SEED = 20_241_125
N = 20_000


@pytest.fixture(scope="module")
def stream() -> list[tuple[int, ...]]:
    print(f"stream seed {SEED}, {N} commands")
    return make_stream(SEED, N)


@pytest.fixture(scope="module")
def reference(stream) -> dict:
    return fingerprint(reference_run(stream))


def open_db(path: Path, **kw) -> DurableEngine:
    kw.setdefault("engine_options", ENGINE_OPTIONS)
    return DurableEngine.open(path, **kw)


@pytest.mark.parametrize("policy", ["group", "fsync", "none"])
def test_recovery_equals_an_uninterrupted_run(tmp_path, stream, reference, policy):
    rng = random.Random(SEED)
    stops = sorted(rng.sample(range(1000, N), 6)) + [N]
    if policy == "fsync":  # a sync per command is slow: the first 800 only
        stops.insert(0, 800)
    done = 0
    for stop in stops:
        pol = "group" if policy == "fsync" and done else policy
        with open_db(tmp_path, policy=pol, segment_bytes=64 << 10) as db:
            assert db.appended_seq == done
            if done:
                assert fingerprint(db.engine) == fingerprint(
                    reference_run(stream[:done])
                )
            for cmd in stream[done:stop]:
                db.execute(cmd)
            done = stop
    with open_db(tmp_path) as db:
        assert db.recovery.replayed == N and db.appended_seq == N
        assert fingerprint(db.engine) == reference
        assert db.engine.last_seq == reference["last_seq"]
    assert len(list(tmp_path.glob("journal-*.wal"))) > 5


def copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("LOCK"))
    return dst


def test_a_copy_taken_mid_run_recovers_at_least_what_was_acknowledged(tmp_path, stream):
    """Copying the directory of a live engine is what a crash leaves on disk."""
    rng = random.Random(SEED + 1)
    live = tmp_path / "live"
    points = sorted(rng.sample(range(1, 6000), 8))
    copies = []
    with open_db(live, policy="group", group_records=50, segment_bytes=32 << 10) as db:
        for i, cmd in enumerate(stream[:6000], 1):
            db.execute(cmd)
            if points and i == points[0]:
                points.pop(0)
                copies.append((copy_dir(live, tmp_path / f"c{i}"), db.acked_seq, i))
    for path, acked, appended in copies:
        with open_db(path) as db:
            got = db.appended_seq
            assert acked <= got <= appended
            assert fingerprint(db.engine) == fingerprint(reference_run(stream[:got]))
            for cmd in stream[got : got + 100]:  # and it carries on
                db.execute(cmd)
        recs = list(read_journal(path))
        assert [r.command for r in recs] == stream[: got + 100]


# ----------------------------------------------------------------- snapshots


needs_snapshots = pytest.mark.skipif(
    not (hasattr(Core, "snapshot") and hasattr(Core, "restore")),
    reason="Core.snapshot/restore have not landed",
)
snap_db = open_db


@needs_snapshots
def test_snapshots_bound_the_replay_and_prune_the_journal(tmp_path, stream, reference):
    rng = random.Random(SEED + 2)
    points = set(rng.sample(range(1, N), 50))
    with snap_db(tmp_path, segment_bytes=16 << 10, keep_snapshots=2) as db:
        for i, cmd in enumerate(stream, 1):
            db.execute(cmd)
            if i in points:
                assert db.snapshot() == i == db.snapshot_seq
                snaps = sorted(tmp_path.glob("snapshot-*.snap"))
                assert len(snaps) <= 2 and snaps[-1].name == f"snapshot-{i:020d}.snap"
                assert not list(tmp_path.glob("*.tmp"))
        last = max(points)
        assert db.snapshot() == N
        assert db.snapshot() == N  # nothing new: same snapshot
    segs = sorted(tmp_path.glob("journal-*.wal"))
    assert int(segs[0].name[8:28]) > last - 20_000 // 50 * 3  # old ones are gone
    with snap_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == N and db.recovery.replayed == 0
        assert fingerprint(db.engine) == reference


@needs_snapshots
def test_recovery_replays_the_tail_after_the_newest_snapshot(
    tmp_path, stream, reference
):
    with snap_db(tmp_path, segment_bytes=16 << 10) as db:
        for i, cmd in enumerate(stream, 1):
            db.execute(cmd)
            if i in (5_000, 12_000):
                db.snapshot()
    with snap_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == 12_000
        assert db.recovery.replayed == N - 12_000
        assert fingerprint(db.engine) == reference
        db.execute(CreateUser())
    # The newest snapshot damaged: the older one and the longer journal serve.
    newest = tmp_path / f"snapshot-{12_000:020d}.snap"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 1
    newest.write_bytes(bytes(data))
    with snap_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == 5_000
        assert db.recovery.skipped_snapshots[0][0] == str(newest)
        assert "CRC" in db.recovery.skipped_snapshots[0][1]
        assert db.appended_seq == N + 1
        ref = reference_run(stream)
        ref.create_user()
        assert fingerprint(db.engine) == fingerprint(ref)


@needs_snapshots
def test_no_valid_snapshot_and_a_pruned_journal_is_an_error(tmp_path, stream):
    with snap_db(tmp_path, segment_bytes=8 << 10, keep_snapshots=1) as db:
        for i, cmd in enumerate(stream[:3000], 1):
            db.execute(cmd)
            if i % 1000 == 0:
                db.snapshot()
    (snap,) = tmp_path.glob("snapshot-*.snap")
    good = snap.read_bytes()
    snap.write_bytes(good[:-5])
    with pytest.raises(JournalCorruptError, match="journal starts at seq"):
        snap_db(tmp_path)
    # An engine class without restore cannot use snapshots at all.
    snap.write_bytes(good)
    with pytest.raises(JournalCorruptError, match="journal starts at seq"):
        open_db(tmp_path, engine_cls=ReferenceEngine)


@needs_snapshots
def test_snapshot_files_are_checked(tmp_path, stream):
    with snap_db(tmp_path) as db:
        for cmd in stream[:500]:
            db.execute(cmd)
        db.snapshot()
        for cmd in stream[500:600]:
            db.execute(cmd)
    snap = tmp_path / f"snapshot-{500:020d}.snap"
    good = snap.read_bytes()
    (tmp_path / "snapshot-00000000000000000700.snap.tmp").write_bytes(b"half")
    bad_versions = [
        good[:10],  # short
        b"XXXXXXXX" + good[8:],  # magic
        good[:8] + b"\x09" + good[9:],  # version
        good[:16] + (501).to_bytes(8, "little") + good[24:],  # seq
        good + b"\0",  # length
    ]
    for bad in bad_versions:
        snap.write_bytes(bad)
        with snap_db(tmp_path) as db:
            assert db.recovery.snapshot_seq == 0 and db.recovery.skipped_snapshots
            assert db.appended_seq == 600
    assert not list(tmp_path.glob("*.tmp"))  # a crashed snapshot write is cleared
    snap.write_bytes(good)
    with snap_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == 500 and db.recovery.replayed == 100


@needs_snapshots
def test_journal_ending_before_the_snapshot_continues_after_it(tmp_path, stream):
    with snap_db(tmp_path, segment_bytes=4 << 10) as db:
        for cmd in stream[:400]:
            db.execute(cmd)
        db.snapshot()
    # Lose every segment (a snapshot covers it all): appending resumes at 401.
    for seg in tmp_path.glob("journal-*.wal"):
        seg.unlink()
    with snap_db(tmp_path) as db:
        assert db.appended_seq == 400
        db.execute(stream[400])
    with snap_db(tmp_path) as db:
        assert db.appended_seq == 401
        assert fingerprint(db.engine) == fingerprint(reference_run(stream[:401]))


@needs_snapshots
def test_snapshot_bytes_inside_the_file_are_the_core_snapshot(tmp_path, stream):
    with open_db(tmp_path) as db:
        for cmd in stream[:2000]:
            db.execute(cmd)
        db.snapshot()
        body = (tmp_path / f"snapshot-{2000:020d}.snap").read_bytes()[40:]
        assert body == db.engine.snapshot()
        restored = db.engine.engine_type.restore(body)
        assert restored.state_hash() == db.engine.state_hash()


def strip_hash(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "state_hash"}


def test_any_engine_with_the_core_methods_works_without_snapshots(tmp_path, stream):
    """The pure-Python oracle has no snapshot: the journal alone recovers it."""
    cmds = stream[:3000]
    with open_db(tmp_path, engine_cls=ReferenceEngine, segment_bytes=32 << 10) as db:
        for i, cmd in enumerate(cmds, 1):
            db.execute(cmd)
            if i % 1000 == 0:
                assert db.snapshot() is None
    assert not list(tmp_path.glob("snapshot-*"))
    assert len(list(tmp_path.glob("journal-*"))) > 3  # nothing pruned
    with open_db(tmp_path, engine_cls=ReferenceEngine) as db:
        assert db.recovery.replayed == 3000
        ref = strip_hash(fingerprint(reference_run(cmds)))
        assert strip_hash(fingerprint(db.engine)) == ref
    with open_db(tmp_path) as db:  # the same journal, the Cython core
        assert strip_hash(fingerprint(db.engine)) == ref


@needs_snapshots
def test_core_snapshots_recover_the_same_state(tmp_path, stream, reference):
    with open_db(tmp_path, segment_bytes=64 << 10) as db:
        for i, cmd in enumerate(stream, 1):
            db.execute(cmd)
            if i % 3_000 == 0:
                assert db.snapshot() == i
    with open_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == N // 3_000 * 3_000
        assert fingerprint(db.engine) == reference


MANY_ORDERS = """
import sys
from probo_engine.commands import CreateMarket, CreateUser, Deposit, Place
from probo_engine.journal import DurableEngine

with DurableEngine.open(sys.argv[1], policy="none") as db:
    db.execute(CreateMarket(100_000, 1))
    db.execute(CreateUser())
    db.execute(Deposit(0, 10**12))
    for i in range(3_000):  # resting bids, 300 of them with client ids
        cid = i + 1 if i % 10 == 0 else 0
        db.execute(Place(0, 0, 0, 0, 1 + i % 40_000, 1, 0, 0, i, False, cid))
    db.snapshot()
    want = db.engine.state_hash()
with DurableEngine.open(sys.argv[1]) as db:
    assert db.recovery.snapshot_seq == 3_003, db.recovery
    assert db.engine.state_hash() == want
print("ok")
"""


@needs_snapshots
def test_a_snapshot_with_many_live_orders_recovers(tmp_path):
    # In a child process: the failure mode is a C loop that never returns.
    out = subprocess.run(
        [sys.executable, "-c", MANY_ORDERS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=20,  # a healthy run takes about a second
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
