"""The journal file: policies and acknowledgements, segments, torn tails, corruption."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from cmdstream import ENGINE_OPTIONS, fingerprint, make_stream, reference_run

from probo_engine.commands import (
    Cancel,
    CreateMarket,
    CreateUser,
    Deposit,
    Expire,
    Place,
    PlaceMarket,
    encode,
)
from probo_engine.journal import (
    DurableEngine,
    JournalCorruptError,
    JournalError,
    read_journal,
)
from probo_engine.journal.durable import replay_progress_bar

STREAM = make_stream(7, 600)


def open_db(path: Path, **kw) -> DurableEngine:
    kw.setdefault("engine_options", ENGINE_OPTIONS)
    return DurableEngine.open(path, **kw)


def run(path: Path, cmds, **kw) -> list:
    with open_db(path, **kw) as db:
        return [db.execute(c) for c in cmds]


def segments(path: Path) -> list[Path]:
    return sorted(path.glob("journal-*.wal"))


def records(path: Path) -> list:
    return list(read_journal(path))


# ------------------------------------------------------------ write and read


@pytest.mark.parametrize("policy", ["fsync", "group", "none"])
def test_journal_holds_every_command_in_order(tmp_path, policy):
    results = run(tmp_path, STREAM, policy=policy)
    recs = records(tmp_path)
    assert [r.seq for r in recs] == list(range(1, len(STREAM) + 1))
    assert [r.command for r in recs] == STREAM
    assert [type(r.command) for r in recs] == [type(c) for c in STREAM]
    ref = reference_run(STREAM)
    with open_db(tmp_path) as db:
        assert fingerprint(db.engine) == fingerprint(ref)
        assert db.appended_seq == db.acked_seq == len(STREAM)
        assert db.recovery.replayed == len(STREAM)
    # The results were the engine's own.
    eng = type(ref)(**ENGINE_OPTIONS)
    from probo_engine.commands import apply

    assert results == [apply(eng, c) for c in STREAM]


def test_fsync_policy_acknowledges_every_command_before_returning(tmp_path):
    acks = []
    with open_db(tmp_path, policy="fsync", on_durable=acks.append) as db:
        for i, cmd in enumerate(STREAM[:30], 1):
            db.execute(cmd)
            assert db.acked_seq == db.appended_seq == i
    assert acks == list(range(1, 31))


def test_group_commit_holds_acks_until_the_sync(tmp_path):
    acks = []
    with open_db(
        tmp_path, policy="group", group_records=10, group_ms=1e9, on_durable=acks.append
    ) as db:
        for cmd in STREAM[:25]:
            db.execute(cmd)
        assert (db.appended_seq, db.acked_seq) == (25, 20)
        assert acks == [10, 20]
        # What is not acknowledged is not on disk either (buffered).
        assert len(records(tmp_path)) == 20
        assert db.sync() == 25 and db.acked_seq == 25
        assert acks == [10, 20, 25]
        assert db.sync() == 25 and acks == [10, 20, 25]  # nothing new: no call


def test_group_commit_deadline_is_kept_by_poll(tmp_path):
    with open_db(tmp_path, policy="group", group_records=1000, group_ms=30) as db:
        assert db.sync_due_in() is None
        db.execute(STREAM[0])
        due = db.sync_due_in()
        assert due is not None and 0 < due <= 0.03
        assert db.poll() == 0  # not due yet
        import time

        time.sleep(0.04)
        assert db.sync_due_in() == 0.0
        assert db.poll() == 1 and db.sync_due_in() is None
        # A later append past the deadline syncs by itself.
        db.execute(STREAM[1])
        time.sleep(0.04)
        db.execute(STREAM[2])
        assert db.acked_seq == 3


def test_group_of_one_is_fsync(tmp_path):
    with open_db(tmp_path, policy="group", group_records=1) as db:
        for i, cmd in enumerate(STREAM[:5], 1):
            db.execute(cmd)
            assert db.acked_seq == i


def test_policy_none_acks_at_once_and_promises_nothing(tmp_path):
    with open_db(tmp_path, policy="none") as db:
        for cmd in STREAM[:50]:
            db.execute(cmd)
        assert db.acked_seq == db.appended_seq == 50
        assert records(tmp_path) == []  # still in the buffer
    assert len(records(tmp_path)) == 50  # close writes it


def test_misuse_is_neither_applied_nor_journaled(tmp_path):
    with open_db(tmp_path, policy="fsync") as db:
        for cmd in STREAM[:40]:
            db.execute(cmd)
        before = fingerprint(db.engine)
        bad = [
            Place(0, 0, 7, 0, 500, 1),  # side out of range: ValueError
            Place(0, 0, 0, 0, 500, 1, tif=1, post_only=True),  # post_only + IOC
            Place(0, 0, 0, 0, 500, 1, tif=3),  # GTD without expire_ts
            Place(0, 0, 0, 0, 500, 1, post_only=1),  # not a bool: TypeError
            Deposit(0, 1.5),  # TypeError
            Deposit(0, True),  # TypeError
            Cancel(0, "1"),  # TypeError
            PlaceMarket(0, 0, 1, 0, 1, max_cost=5),  # max_cost on a sell
            CreateMarket(1000, 300),  # bad grid
            Deposit(0, 2**64),  # OverflowError
            Expire(None),
        ]
        for cmd in bad:
            with pytest.raises((TypeError, ValueError, OverflowError)):
                db.execute(cmd)
        with pytest.raises(TypeError):
            db.execute((0, 1, 2))
        assert db.appended_seq == db.acked_seq == 40
        assert fingerprint(db.engine) == before
        db.execute(STREAM[40])
    assert [r.seq for r in records(tmp_path)] == list(range(1, 42))
    with open_db(tmp_path) as db:
        assert fingerprint(db.engine) == fingerprint(reference_run(STREAM[:41]))


def test_the_directory_has_one_writer(tmp_path):
    with open_db(tmp_path), pytest.raises(JournalError, match="in use"):
        open_db(tmp_path)
    with open_db(tmp_path) as db:  # released on close
        db.execute(CreateUser())


def test_closed_engine_refuses_commands(tmp_path):
    db = open_db(tmp_path)
    db.close()
    db.close()  # idempotent
    with pytest.raises(JournalError):
        db.execute(CreateUser())
    with pytest.raises(JournalError):
        db.sync()
    with pytest.raises(TypeError):
        DurableEngine(tmp_path)


def test_bad_options_are_refused(tmp_path):
    for kw in ({"policy": "sometimes"}, {"group_records": 0}, {"segment_bytes": 0},
               {"keep_snapshots": 0}, {"group_ms": -1}):  # fmt: skip
        with pytest.raises(ValueError):
            DurableEngine.open(tmp_path, **kw)
    open_db(tmp_path).close()  # and the lock was released each time


def test_engine_options_are_stored_with_the_data(tmp_path):
    with DurableEngine.open(tmp_path, engine_options={"max_open_orders": 3}) as db:
        assert db.engine.limits()[1] == 3
    with DurableEngine.open(tmp_path) as db:
        assert db.engine.limits()[1] == 3
    with pytest.raises(ValueError, match="max_open_orders"):
        DurableEngine.open(tmp_path, engine_options={"max_open_orders": 4})
    (tmp_path / "engine.json").write_text("{not json")
    with pytest.raises(JournalCorruptError, match="engine.json"):
        DurableEngine.open(tmp_path)


# ------------------------------------------------------------------ segments


def test_segments_rotate_at_the_size_and_read_back_whole(tmp_path):
    ref = reference_run(STREAM)
    run(tmp_path, STREAM[:300], segment_bytes=2048, policy="group", group_records=7)
    run(tmp_path, STREAM[300:], segment_bytes=2048, policy="fsync")
    segs = segments(tmp_path)
    assert len(segs) > 10
    firsts = [int(p.name[8:28]) for p in segs]
    assert firsts[0] == 1 and firsts == sorted(firsts)
    assert all(p.stat().st_size < 2048 + 200 for p in segs)
    assert [r.command for r in records(tmp_path)] == STREAM
    # Each segment starts with the seq after the previous one's last record.
    by_seg: dict[str, list[int]] = {}
    for r in records(tmp_path):
        by_seg.setdefault(Path(r.path).name, []).append(r.seq)
    for p, first in zip(segs, firsts, strict=True):
        assert by_seg[p.name][0] == first
    with open_db(tmp_path) as db:
        assert fingerprint(db.engine) == fingerprint(ref)


# ---------------------------------------------------------------- torn tails


def last_record(path: Path) -> tuple[Path, int, int]:
    """(segment, offset, size) of the journal's last record."""
    recs = records(path)
    seg = Path(recs[-1].path)
    return seg, recs[-1].offset, seg.stat().st_size - recs[-1].offset


N_TORN = 120


@pytest.fixture
def written(tmp_path) -> Path:
    run(tmp_path, STREAM[:N_TORN], policy="group")
    return tmp_path


@pytest.mark.parametrize("keep", [0, 1, 4, 12, 15, 16, 17, 30, -1])
def test_a_torn_last_record_is_dropped(written, keep):
    seg, off, size = last_record(written)
    keep = keep % size
    os.truncate(seg, off + keep)
    with open_db(written) as db:
        assert db.appended_seq == db.acked_seq == N_TORN - 1
        info = db.recovery
        if keep:
            assert info.truncated_path == str(seg) and info.truncated_bytes == keep
        else:
            assert info.truncated_bytes == 0  # a clean end
        assert seg.stat().st_size == off
        db.execute(STREAM[N_TORN - 1])  # continues where it stopped
        db.execute(STREAM[N_TORN])
    assert [r.command for r in records(written)] == STREAM[: N_TORN + 1]
    with open_db(written) as db:
        assert fingerprint(db.engine) == fingerprint(
            reference_run(STREAM[: N_TORN + 1])
        )


@pytest.mark.parametrize("where", ["payload", "crc", "header", "length"])
def test_a_bad_crc_final_record_is_dropped(written, where):
    seg, off, size = last_record(written)
    pos = {"payload": off + 20, "crc": off + size - 1, "header": off + 6,
           "length": off + 1}[where]  # fmt: skip
    data = bytearray(seg.read_bytes())
    data[pos] ^= 0x40
    seg.write_bytes(bytes(data))
    with open_db(written) as db:
        assert db.appended_seq == N_TORN - 1
        assert db.recovery.truncated_bytes == size
    assert len(records(written)) == N_TORN - 1


@pytest.mark.parametrize("tail", [b"\0" * 300, b"\xff" * 7, os.urandom(500)])
def test_garbage_after_the_last_record_is_dropped(written, tail):
    seg = segments(written)[-1]
    size = seg.stat().st_size
    with seg.open("ab") as f:
        f.write(tail)
    with open_db(written) as db:
        assert db.appended_seq == N_TORN
        assert db.recovery.truncated_bytes == len(tail)
    assert seg.stat().st_size == size


def test_several_torn_unsynced_records_are_dropped(written):
    seg = segments(written)[-1]
    recs = records(written)
    cut = recs[-5].offset + 10  # inside the fifth-last record
    os.truncate(seg, cut)
    with open_db(written) as db:
        assert db.appended_seq == N_TORN - 5


def test_a_crash_while_starting_a_segment_leaves_nothing_to_lose(written):
    for content in (b"", b"PROBO", os.urandom(32)):
        nxt = written / f"journal-{N_TORN + 1:020d}.wal"
        nxt.write_bytes(content)
        with open_db(written) as db:
            assert db.appended_seq == N_TORN
        assert not nxt.exists() or nxt.stat().st_size == 32  # recreated, empty
    with open_db(written) as db:
        db.execute(STREAM[N_TORN])
    assert len(records(written)) == N_TORN + 1


# ---------------------------------------------------------------- corruption


def corrupt(seg: Path, pos: int, xor: int = 0x10) -> None:
    data = bytearray(seg.read_bytes())
    data[pos] ^= xor
    seg.write_bytes(bytes(data))


@pytest.mark.parametrize("field", [0, 5, 13, 16, 30, -1])
def test_mid_file_corruption_names_the_file_and_offset(written, field):
    recs = records(written)
    victim = recs[len(recs) // 2]
    nxt = recs[len(recs) // 2 + 1]
    size = nxt.offset - victim.offset
    before = Path(victim.path).stat().st_size
    corrupt(Path(victim.path), victim.offset + field % size)
    with pytest.raises(JournalCorruptError) as exc:
        open_db(written)
    err = exc.value
    assert err.path == victim.path and err.offset == victim.offset
    assert victim.path in str(err) and f"offset {victim.offset}" in str(err)
    assert isinstance(err, ValueError)
    with pytest.raises(JournalCorruptError):
        records(written)
    # Nothing was truncated and the directory is not left locked.
    assert Path(victim.path).stat().st_size == before
    with pytest.raises(JournalCorruptError):
        open_db(written)


def test_corruption_in_an_earlier_segment_is_never_a_torn_tail(tmp_path):
    run(tmp_path, STREAM[:200], segment_bytes=1500)
    first = segments(tmp_path)[0]
    recs = [r for r in records(tmp_path) if r.path == str(first)]
    seg_size = first.stat().st_size
    corrupt(first, seg_size - 1)  # the last record of a closed segment
    with pytest.raises(JournalCorruptError, match="not the last segment") as exc:
        open_db(tmp_path)
    assert exc.value.offset == recs[-1].offset
    corrupt(first, seg_size - 1)  # undo
    os.truncate(first, seg_size - 3)  # a short closed segment
    with pytest.raises(JournalCorruptError, match="not the last segment"):
        open_db(tmp_path)


def test_a_missing_segment_is_a_gap(tmp_path):
    run(tmp_path, STREAM[:200], segment_bytes=1500)
    segments(tmp_path)[2].unlink()
    with pytest.raises(JournalCorruptError, match="expected"):
        open_db(tmp_path)
    segments(tmp_path)[0].unlink()  # and the start missing (no snapshot)
    with pytest.raises(JournalCorruptError, match="journal starts at seq"):
        open_db(tmp_path)


def test_a_bad_segment_header_is_corruption(tmp_path):
    run(tmp_path, STREAM[:200], segment_bytes=1500)
    corrupt(segments(tmp_path)[1], 3)
    with pytest.raises(JournalCorruptError, match="segment header") as exc:
        open_db(tmp_path)
    assert exc.value.offset == 0


def test_a_sound_record_with_the_wrong_seq_is_corruption(written):
    seg = segments(written)[-1]
    recs = records(written)
    data = seg.read_bytes()
    a, b = recs[3].offset, recs[4].offset
    seg.write_bytes(data + data[a:b])  # a replayed copy of record 4 at the end
    with pytest.raises(
        JournalCorruptError, match=f"record seq 4, expected {N_TORN + 1}"
    ):
        open_db(written)


def test_a_valid_record_of_an_unknown_command_is_corruption(written):
    seg = segments(written)[-1]
    payload = b"\x01\xee"
    head = struct.pack("<IQ", len(payload), N_TORN + 1)
    head += struct.pack("<I", zlib.crc32(head))
    rec = head + payload + struct.pack("<I", zlib.crc32(head + payload))
    with seg.open("ab") as f:
        f.write(rec)
    with pytest.raises(JournalCorruptError, match="unknown command type code 238"):
        open_db(written)


@pytest.mark.slow  # corrupts every position
def test_corruption_is_found_wherever_it_is(tmp_path):
    """Flip each byte of a small journal in turn: recovery either keeps every
    record before the flip (a torn tail) or names that record's offset."""
    cmds = STREAM[:12]
    run(tmp_path, cmds, policy="fsync")
    seg = segments(tmp_path)[0]
    recs = records(tmp_path)
    offsets = [r.offset for r in recs]
    pristine = seg.read_bytes()
    for pos in range(len(pristine)):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        shutil.copy(tmp_path / "engine.json", work)
        data = bytearray(pristine)
        data[pos] ^= 0x01
        (work / seg.name).write_bytes(bytes(data))
        hit = max(i for i, o in enumerate(offsets) if o <= pos) if pos >= 32 else -1
        try:
            with open_db(work) as db:
                got = db.appended_seq
        except JournalCorruptError as exc:
            assert exc.offset == (offsets[hit] if hit >= 0 else 0), pos
            assert hit < len(recs) - 1 or hit < 0, pos
        else:
            # Only the last record may be dropped, and only when it was hit.
            assert hit == len(recs) - 1 and got == len(recs) - 1, pos


# ------------------------------------------------------------------ progress


def test_progress_callback_and_bar(tmp_path):
    run(tmp_path, STREAM, segment_bytes=4096)
    calls = []
    with open_db(tmp_path, progress=lambda *a: calls.append(a)):
        pass
    assert calls and calls[-1][0] == calls[-1][1] and calls[-1][2] == len(STREAM)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))
    out = io.StringIO()
    bar = replay_progress_bar()
    bar.stream, bar.interval = out, 0
    bar(10, 100, 5)
    bar(100, 100, 50)
    text = out.getvalue()
    assert "replaying journal" in text and "100%" in text and text.endswith("\n")
    assert "50 commands" in text
    with open_db(tmp_path, progress=True):
        pass  # draws on stderr; must not fail


def test_snapshot_needs_snapshot_and_restore_on_the_engine(tmp_path):
    from reference import ReferenceEngine

    class NoRestore(ReferenceEngine):
        def snapshot(self) -> bytes:
            return b"x"

    for cls in (ReferenceEngine, NoRestore):
        path = tmp_path / cls.__name__
        with open_db(path, engine_cls=cls) as db:
            for cmd in STREAM[:20]:
                db.execute(cmd)
            assert db.snapshot() is None
        assert not list(path.glob("snapshot-*"))
        with open_db(path, engine_cls=cls) as db:
            assert db.appended_seq == 20


def test_repr_and_properties(tmp_path):
    with open_db(tmp_path, policy="none") as db:
        db.execute(CreateUser())
        assert "policy=none" in repr(db) and "appended=1" in repr(db)
        assert db.directory == tmp_path and db.policy.value == "none"
        assert db.snapshot_seq == 0
        assert encode(CreateUser()) == b"\x02\x20\x00\x00"


def test_the_c_record_framing_is_the_struct_framing():
    import random

    from probo_engine._replay import append_record
    from probo_engine.journal.writer import _frame

    rng = random.Random(11)
    for n in [
        0,
        1,
        2,
        15,
        16,
        17,
        26,
        111,
        4096,
        *(rng.randrange(300) for _ in range(300)),
    ]:
        payload = rng.randbytes(n)
        seq = rng.choice(
            [0, 1, 2**32 - 1, 2**32, 2**63, 2**64 - 1, rng.getrandbits(64)]
        )
        a, b = bytearray(b"prefix"), bytearray(b"prefix")
        append_record(a, payload, seq)
        _frame(b, payload, seq)
        assert a == b, (n, seq)
    with pytest.raises(TypeError):
        append_record(bytearray(), bytearray(b"not bytes"), 1)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        append_record(bytearray(), b"x", 2**64)
