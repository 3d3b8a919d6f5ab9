"""The C replay path (``_replay``) against the Python path it stands in for.

Recovery runs the journal through ``_replay.Replayer`` when the engine is a
``Core`` whose batchable methods are the Core's own; every record it cannot
handle goes through the Python path.  Both must give the same state, the same
errors and the same truncations.  ``journal.replay.C_REPLAY = False`` forces the
Python path.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from cmdstream import ENGINE_OPTIONS, fingerprint, make_stream, open_db, reference_run

from probo_engine import Engine, journal
from probo_engine._replay import Replayer, crc32
from probo_engine.commands import (
    FORMAT_VERSION,
    Cancel,
    CancelClient,
    CreateMarket,
    CreateUser,
    Deposit,
    Place,
    PlaceMarket,
    apply,
    encode,
)
from probo_engine.journal import JournalCorruptError, read_journal

STREAM = make_stream(11, 5_000)


def write(path: Path, cmds, **kw) -> None:
    with open_db(path, **kw) as db:
        for cmd in cmds:
            db.execute(cmd)


def raw_record(seq: int, payload: bytes) -> bytes:
    head = struct.pack("<IQ", len(payload), seq)
    head += struct.pack("<I", zlib.crc32(head))
    return head + payload + struct.pack("<I", zlib.crc32(head + payload))


def append_raw(path: Path, seq: int, payload: bytes) -> None:
    seg = sorted(path.glob("journal-*.wal"))[-1]
    with seg.open("ab") as f:
        f.write(raw_record(seq, payload))


def outcome(path: Path, c: bool) -> tuple:
    """What opening a copy of ``path`` does: the state or the error, the
    segment files afterwards, and how many commands the C path applied."""
    work = path.parent / f"{path.name}-{'c' if c else 'py'}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(path, work, ignore=shutil.ignore_patterns("LOCK"))
    made = []
    original = journal.replay.c_replayer

    def spy(engine):
        r = original(engine)
        made.append(r)
        return r

    journal.replay.c_replayer = spy
    try:
        with open_db(work, c=c) as db:
            info = db.recovery
            got = (
                "ok",
                db.appended_seq,
                info.replayed,
                info.truncated_bytes,
                db.engine.state_hash(),
            )
            assert info.replayed_c == (made[0].applied if made[0] else 0)
    except JournalCorruptError as exc:
        got = ("error", Path(exc.path).name, exc.offset, exc.reason)
    finally:
        journal.replay.c_replayer = original
    files = {p.name: p.read_bytes() for p in sorted(work.glob("journal-*.wal"))}
    shutil.rmtree(work)
    return got, files, made[0].applied if made[0] else 0


# --------------------------------------------------------------------- CRC32


@pytest.mark.parametrize("seed", range(5))
def test_crc32_is_zlibs(seed):
    rng = random.Random(seed)
    data = os.urandom(5000)
    for _ in range(200):
        a = rng.randrange(len(data))
        b = a + rng.randrange(0, 70)
        start = rng.randrange(2**32)
        assert crc32(data[a:b]) == zlib.crc32(data[a:b])
        assert crc32(memoryview(data)[a:b], start) == zlib.crc32(data[a:b], start)
    assert crc32(b"") == 0 and crc32(b"", 7) == 7


# --------------------------------------------------------- same final state


def test_c_and_python_paths_recover_the_same_state(tmp_path):
    write(tmp_path, STREAM, policy="none", segment_bytes=64 << 10)
    assert len(list(tmp_path.glob("journal-*.wal"))) > 3
    ref_engine = reference_run(STREAM)
    ref = fingerprint(ref_engine)
    with open_db(tmp_path, c=False) as db:
        assert db.recovery.replayed == len(STREAM) and db.recovery.replayed_c == 0
        assert fingerprint(db.engine) == ref
    with open_db(tmp_path) as db:
        # Every record went through C, create_user/create_market included.
        assert db.recovery.replayed == db.recovery.replayed_c == len(STREAM)
        assert fingerprint(db.engine) == ref
        assert db.engine.last_seq == ref["last_seq"]
        # What the last command left, as after the per-call path.
        assert db.engine.last_events() == ref_engine.last_events() != []
        assert db.engine.last_filled == ref_engine.last_filled
        db.execute(STREAM[0])  # and it carries on appending
    assert [r.command for r in read_journal(tmp_path)] == STREAM + [STREAM[0]]


def with_client_cancels(stream, seed=3):
    """``stream`` with a third of its cancels by client id (of an order the
    user placed with one, mostly) and a fifth of its orders with stp NONE."""
    rng = random.Random(seed)
    cids: dict[int, list[int]] = {}
    out = []
    for cmd in stream:
        if isinstance(cmd, Place):
            if cmd.client_id:
                cids.setdefault(cmd.uid, []).append(cmd.client_id)
            if rng.random() < 0.2:
                cmd = cmd._replace(stp=3)
        elif isinstance(cmd, Cancel) and rng.random() < 0.34:
            mine = cids.get(cmd.uid) or [rng.randrange(0, 50)]
            cmd = CancelClient(cmd.uid, rng.choice(mine), cmd.ts)
        out.append(cmd)
    return out


def test_cancel_client_and_stp_none_recover_the_same_state_on_both_paths(tmp_path):
    stream = with_client_cancels(STREAM)
    sim = Engine(**ENGINE_OPTIONS)
    results = [(type(cmd), apply(sim, cmd)) for cmd in stream]
    assert sum(1 for t, r in results if t is CancelClient and r == 0) > 10
    assert sum(1 for t, r in results if t is CancelClient and r < 0) > 10
    write(tmp_path, stream, policy="none", segment_bytes=64 << 10)
    ref = fingerprint(reference_run(stream))
    assert ref == fingerprint(sim)
    with open_db(tmp_path, c=False) as db:
        assert db.recovery.replayed == len(stream) and db.recovery.replayed_c == 0
        assert fingerprint(db.engine) == ref
    with open_db(tmp_path) as db:
        assert db.recovery.replayed == db.recovery.replayed_c == len(stream)
        assert fingerprint(db.engine) == ref
    assert [r.command for r in read_journal(tmp_path)] == stream


def test_c_path_skips_what_a_snapshot_covers(tmp_path):
    # A snapshot in the middle of a segment: the records before it are read
    # (and checked) but not applied.
    with open_db(tmp_path, policy="none") as db:
        for i, cmd in enumerate(STREAM, 1):
            db.execute(cmd)
            if i == 3_210:
                db.snapshot()
    seg = tmp_path / f"journal-{3_211:020d}.wal"
    # Put the snapshot's records back in front: one long segment from seq 1.
    first = tmp_path / f"journal-{1:020d}.wal"
    body = first.read_bytes() + seg.read_bytes()[32:]
    for p in tmp_path.glob("journal-*.wal"):
        p.unlink()
    first.write_bytes(body)
    ref = fingerprint(reference_run(STREAM))
    with open_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == 3_210
        assert db.recovery.replayed == db.recovery.replayed_c == len(STREAM) - 3_210
        assert fingerprint(db.engine) == ref


def test_engines_that_override_a_batched_method_replay_in_python(tmp_path):
    calls = []

    class Logged(Engine):
        def place(self, *args: int) -> int:  # type: ignore[override]
            calls.append(args[0])
            r: int = super().place(*args)
            return r

    cmds = STREAM[:800]
    write(tmp_path, cmds)
    with open_db(tmp_path, engine_cls=Logged) as db:
        assert db.recovery.replayed == 800 and db.recovery.replayed_c == 0
        assert len(calls) == sum(type(c) is Place for c in cmds)
        assert fingerprint(db.engine) == fingerprint(reference_run(cmds))


def test_progress_is_reported_per_chunk_in_c(tmp_path):
    write(tmp_path, STREAM, policy="none")
    calls: list[tuple[int, int, int]] = []
    with open_db(tmp_path, progress=lambda *a: calls.append(a)) as db:
        assert db.recovery.replayed_c == len(STREAM)
    assert len(calls) > 2  # more than the end of the one segment
    assert calls[-1][0] == calls[-1][1] and calls[-1][2] == len(STREAM)
    assert all(
        a[0] <= b[0] and a[2] <= b[2] for a, b in zip(calls, calls[1:], strict=False)
    )


@pytest.mark.parametrize("c", [True, False], ids=["c", "python"])
def test_a_progress_callback_error_comes_out_unchanged(tmp_path, c):
    # Not reported as journal corruption: it is the caller's own error.  The
    # Python path calls progress every 65,536 commands, so the journal is
    # longer than that.
    write(tmp_path, [CreateUser()] + [Deposit(0, 1)] * 65_600, policy="none")

    class Stop(Exception):
        pass

    def progress(done: int, total: int, n: int) -> None:
        raise Stop(n)

    with pytest.raises(Stop) as exc:
        open_db(tmp_path, c=c, progress=progress)
    assert 0 < exc.value.args[0] <= 65_601


# ---------------------------------------------- the records C hands to Python


def tail_cases() -> list[tuple[str, bytes]]:
    place = bytearray(encode(Place(0, 0, 0, 0, 500, 1, 0, 0, 99, True)))
    odd_bool = bytes(place[:74]) + b"\x02" + bytes(place[75:])
    return [
        ("bool byte 2 (refused, as decode() refuses it)", odd_bool),
        ("misuse: side 5", encode(Place(0, 0, 5, 0, 500, 1))),
        ("misuse: GTD without expiry", encode(Place(0, 0, 0, 0, 500, 1, 3))),
        ("misuse: sell with a budget", encode(PlaceMarket(0, 0, 1, 0, 1, 10))),
        ("misuse: client id 2**32", encode(CancelClient(0, 2**32))),
        ("create_market refuses the grid", encode(CreateMarket(1000, 0))),
        ("short place", encode(Place(0, 0, 0, 0, 500, 1))[:-8]),
        ("unknown code", bytes([FORMAT_VERSION, 0xEE])),
        ("unknown version", bytes([FORMAT_VERSION + 1]) + encode(Deposit(0, 1))[1:]),
        ("create_user with a trailing byte", encode(CreateUser()) + b"\x00"),
    ]


@pytest.mark.parametrize("last", [True, False], ids=["at-end", "mid-file"])
@pytest.mark.parametrize("case", tail_cases(), ids=lambda c: c[0])
def test_records_c_cannot_apply_behave_as_in_python(tmp_path, case, last):
    _name, payload = case
    base = STREAM[:200]  # markets and users first: uid 0 and mid 0 exist
    d = tmp_path / "j"
    write(d, base, policy="none")
    append_raw(d, len(base) + 1, payload)
    if not last:
        append_raw(d, len(base) + 2, encode(Deposit(0, 5)))
    py = outcome(d, c=False)
    cc = outcome(d, c=True)
    assert cc[:2] == py[:2]
    if py[0][0] == "ok":
        assert cc[2] >= len(base)  # C did the sound records before it


def test_a_bool_byte_other_than_0_or_1_is_corruption_on_both_paths(tmp_path):
    # A record whose CRCs are right but whose bool byte is 2 was written by no
    # DurableEngine: both paths refuse it as decode() does, naming the offset.
    base = STREAM[:200]
    d = tmp_path / "j"
    write(d, base, policy="none")
    (seg,) = d.glob("journal-*.wal")
    at = seg.stat().st_size
    odd_bool = tail_cases()[0][1]
    append_raw(d, len(base) + 1, odd_bool)
    append_raw(d, len(base) + 2, encode(Deposit(0, 5)))
    for c in (False, True):
        got = outcome(d, c=c)[0]
        assert got[:3] == ("error", seg.name, at), got
        assert "bool" in got[3], got


def test_a_record_whose_header_crc_is_wrong_is_refused_on_both_paths(tmp_path):
    base = STREAM[:200]
    d = tmp_path / "j"
    write(d, base, policy="none")
    (seg,) = d.glob("journal-*.wal")
    at = seg.stat().st_size
    rec = bytearray(raw_record(len(base) + 1, encode(Deposit(0, 5))))
    rec[12] ^= 0xFF  # the header's own CRC; the record CRC is recomputed
    rec[-4:] = struct.pack("<I", zlib.crc32(bytes(rec[:-4])))
    with seg.open("ab") as f:
        f.write(bytes(rec) + raw_record(len(base) + 2, encode(Deposit(0, 5))))
    for c in (False, True):
        got = outcome(d, c=c)[0]
        assert got[:3] == ("error", seg.name, at), got


def test_create_commands_raising_in_c_report_as_python(tmp_path):
    class Picky(Engine):
        def create_user(self, *, name: str | None = None) -> int:
            if self.totals()[1] >= 2:
                raise RuntimeError("no more users")
            return super().create_user(name=name)

    cmds = [CreateMarket(), CreateUser(), CreateUser(), Deposit(0, 1), CreateUser()]
    write(tmp_path, cmds)
    errors = []
    for c in (False, True):
        with pytest.raises(JournalCorruptError) as exc:
            open_db(tmp_path, c=c, engine_cls=Picky)
        errors.append((exc.value.offset, exc.value.reason))
    assert errors[0] == errors[1]
    assert "replaying command seq 5 raised RuntimeError('no more users')" in str(
        errors[1]
    )


@pytest.mark.slow  # flips every byte
def test_every_flipped_byte_does_the_same_in_c_and_python(tmp_path):
    """Flip each byte of a small journal: C and Python recover (or refuse) alike."""
    cmds = [c for c in STREAM[:40] if type(c) is not CreateMarket][:16]
    cmds = [CreateMarket(), *cmds]
    src = tmp_path / "src"
    write(src, cmds, policy="none")
    (seg,) = src.glob("journal-*.wal")
    pristine = seg.read_bytes()
    used_c = 0
    for pos in range(len(pristine)):
        data = bytearray(pristine)
        data[pos] ^= 0x01
        seg.write_bytes(bytes(data))
        py = outcome(src, c=False)
        cc = outcome(src, c=True)
        assert cc[:2] == py[:2], pos
        assert py[2] == 0
        used_c += cc[2] > 0
    assert used_c > len(pristine) * 3 // 4  # C ran up to the damage


def test_a_torn_tail_is_cut_the_same_way(tmp_path):
    d = tmp_path / "j"
    write(d, STREAM[:1000], policy="none")
    (seg,) = d.glob("journal-*.wal")
    full = seg.read_bytes()
    for cut in (1, 5, 19, 20, 21, 40):
        seg.write_bytes(full[:-cut])
        py = outcome(d, c=False)
        cc = outcome(d, c=True)
        assert cc[:2] == py[:2] and py[0][0] == "ok" and py[0][1] >= 997, cut
        assert cc[2] == py[0][1]


# ------------------------------------------------------------ the Replayer


def test_replayer_gives_back_a_chunk_run_batch_refuses(tmp_path):
    write(tmp_path, STREAM[:100], policy="none")
    (seg,) = tmp_path.glob("journal-*.wal")
    buf = seg.read_bytes()

    class Refuses(Engine):
        def run_batch(self, *a: object, **k: object) -> int:  # type: ignore[override]
            raise ValueError("no")

    eng = Refuses(**ENGINE_OPTIONS)
    r = Replayer(eng, FORMAT_VERSION, 8)
    off, seq, applied, ok = r.replay(buf, 32, 1, 0, str(seg))
    assert not ok and r.applied == applied
    # Nothing batched ran; it stopped at the first queued record.
    recs = list(read_journal(tmp_path))
    assert (off, seq) == (recs[seq - 1].offset, recs[seq - 1].seq)
    assert applied == seq - 1 == eng.totals()[1] + eng.totals()[2]
    with pytest.raises(ValueError, match="chunk"):
        Replayer(Engine(), FORMAT_VERSION, 0)


@pytest.mark.parametrize("n", [5, 777, 1_501, 4_999])
def test_the_last_commands_events_are_left_as_per_call(tmp_path, n):
    write(tmp_path, STREAM[:n], policy="none")
    ref = reference_run(STREAM[:n])
    with open_db(tmp_path) as db:
        assert db.recovery.replayed_c == n
        assert db.engine.last_events() == ref.last_events()
        assert db.engine.n_last_events == ref.n_last_events
        assert db.engine.last_filled == ref.last_filled


def test_the_engines_self_trade_option_is_kept_in_engine_json(tmp_path):
    # An engine option like the limits: stored when the directory is made,
    # reused on every open (and a directory made without it still opens).
    opts = {**ENGINE_OPTIONS, "self_trade": 3}
    cmds = [CreateMarket(), CreateUser(), Deposit(0, 10_000)]
    write(tmp_path / "a", cmds, policy="none", engine_options=opts)
    write(tmp_path / "b", cmds, policy="none")
    with open_db(tmp_path / "a", engine_options=None) as db:
        assert db.engine._engine.self_trade == 3
    with open_db(tmp_path / "b", engine_options=None) as db:
        assert db.engine._engine.self_trade == 0
    with pytest.raises(ValueError):
        open_db(tmp_path / "a")  # other options than it was made with
