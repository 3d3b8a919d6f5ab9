"""Engine's user and market names go through the journal and the snapshots.

Command format 2 gives ``CreateUser`` a ``name`` and ``CreateMarket`` a
``symbol``; journals of format 1 (no names) must still recover.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from cmdstream import ENGINE_OPTIONS, fingerprint, make_stream, open_db, reference_run

from probo_engine import Engine
from probo_engine.commands import (
    CreateMarket,
    CreateUser,
    Deposit,
    Place,
    encode,
    spec_of,
)
from probo_engine.journal import read_journal

STREAM = make_stream(5, 3_000)


def named(stream: list) -> list:
    """The stream with a name on every other user and market."""
    out, users, markets = [], 0, 0
    for cmd in stream:
        if type(cmd) is CreateUser:
            users += 1
            cmd = CreateUser(f"user-{users}" if users % 2 else None)
        elif type(cmd) is CreateMarket:
            markets += 1
            cmd = cmd._replace(symbol=f"MKT-{markets}" if markets % 2 else None)
        out.append(cmd)
    return out


def names(eng: Engine) -> tuple[dict, dict]:
    _, n_users, n_markets, _ = eng.totals()
    return (
        {u: eng.user_name(u) for u in range(n_users)},
        {m: eng.market_symbol(m) for m in range(n_markets)},
    )


def reference(cmds: list) -> Engine:
    from probo_engine.commands import apply

    eng = Engine(**ENGINE_OPTIONS)
    for cmd in cmds:
        apply(eng, cmd)
    return eng


@pytest.mark.parametrize("c", [True, False], ids=["c", "python"])
def test_names_are_journaled_and_recovered(tmp_path, c):
    cmds = named(STREAM)
    with open_db(tmp_path, policy="none") as db:
        for cmd in cmds:
            db.execute(cmd)
        want = names(db.engine)
    assert want[0][0] == "user-1" and want[0][1] is None and want[1][0] == "MKT-1"
    with open_db(tmp_path, c=c) as db:
        assert names(db.engine) == want == names(reference(cmds))
        assert db.engine.user_id("user-1") == 0
        assert db.engine.market_id("MKT-1") == 0
        # Engine's state_hash covers the names (it digests Engine.snapshot).
        assert fingerprint(db.engine) == fingerprint(reference(cmds))
        assert db.engine.state_hash() != reference_run(STREAM).state_hash()
        assert db.recovery.replayed_c == (len(cmds) if c else 0)
    assert [r.command for r in read_journal(tmp_path)] == cmds


def test_snapshots_keep_the_names(tmp_path):
    cmds = named(STREAM)
    half = len(cmds) // 2
    with open_db(tmp_path) as db:
        for cmd in cmds[:half]:
            db.execute(cmd)
        db.snapshot()
        for cmd in cmds[half:]:
            db.execute(cmd)
        want = names(db.engine)
    with open_db(tmp_path) as db:  # the snapshot, then the named tail
        assert db.recovery.snapshot_seq == half
        assert db.recovery.replayed == len(cmds) - half
        assert names(db.engine) == want
        db.snapshot()
    with open_db(tmp_path) as db:  # the snapshot alone
        assert db.recovery.replayed == 0
        assert names(db.engine) == want
        assert fingerprint(db.engine) == fingerprint(reference(cmds))
        # The names are live again: a duplicate is refused, a new one works.
        with pytest.raises(ValueError, match="already exists"):
            db.execute(CreateUser("user-1"))
        uid = db.execute(CreateUser("late"))
    with open_db(tmp_path) as db:
        assert db.engine.user_id("late") == uid


def test_a_bad_name_changes_nothing_and_is_not_journaled(tmp_path):
    with open_db(tmp_path) as db:
        db.execute(CreateMarket(symbol="RAIN"))
        db.execute(CreateUser("asha"))
        for bad, err in [
            (CreateUser(""), ValueError),
            (CreateUser("\ud800"), ValueError),
            (CreateUser("asha"), ValueError),  # taken: Engine refuses it
            (CreateUser(7), TypeError),  # type: ignore[arg-type]
            (CreateMarket(symbol="RAIN"), ValueError),
            (CreateMarket(1000, 0, symbol="X"), ValueError),  # a bad grid
        ]:
            with pytest.raises(err):
                db.execute(bad)
        assert db.appended_seq == 2 and db.engine.totals()[1:3] == (1, 1)
    assert [r.command for r in read_journal(tmp_path)] == [
        CreateMarket(symbol="RAIN"),
        CreateUser("asha"),
    ]


def test_an_engine_without_names_refuses_named_commands(tmp_path):
    from reference import ReferenceEngine

    with open_db(tmp_path, engine_cls=ReferenceEngine) as db:
        db.execute(CreateUser())
        with pytest.raises(TypeError):
            db.execute(CreateUser("asha"))
        assert db.appended_seq == 1


# ------------------------------------------------------------------ format 1


def v1_payload(cmd: tuple) -> bytes:
    """``cmd`` as format 1 wrote it: no names (they must be None)."""
    spec = spec_of(cmd)
    assert all(v is None for v in cmd[spec.n_fixed :])
    data = encode(cmd)
    return b"\x01" + data[1 : len(data) - 2 * len(spec.names)]


def write_v1_journal(directory: Path, cmds: list) -> None:
    """A segment exactly as release 1 of the journal wrote it (format 1)."""
    directory.mkdir()
    (directory / "engine.json").write_text(
        '{"engine_options": {"max_open_orders": 60}, "format": 1}\n'
    )
    head = struct.pack("<8sHHIQI", b"PROBOJNL", 1, 32, 0, 1, 1)
    out = bytearray(head + struct.pack("<I", zlib.crc32(head)))
    for seq, cmd in enumerate(cmds, 1):
        payload = v1_payload(cmd)
        rec = struct.pack("<IQ", len(payload), seq)
        rec += struct.pack("<I", zlib.crc32(rec))
        rec += payload
        out += rec + struct.pack("<I", zlib.crc32(rec))
    (directory / f"journal-{1:020d}.wal").write_bytes(bytes(out))


@pytest.mark.parametrize("c", [True, False], ids=["c", "python"])
def test_a_format_1_journal_still_recovers(tmp_path, c):
    d = tmp_path / "v1"
    write_v1_journal(d, STREAM)
    assert v1_payload(CreateUser()) == b"\x01\x20"
    assert len(v1_payload(CreateMarket())) == 59
    assert [r.command for r in read_journal(d)] == STREAM
    with open_db(d, c=c) as db:
        assert db.recovery.replayed == len(STREAM)
        assert db.recovery.replayed_c == (len(STREAM) if c else 0)
        assert fingerprint(db.engine) == fingerprint(reference_run(STREAM))
        # New commands (format 2) go on in the same segment.
        uid = db.execute(CreateUser("new"))
        db.execute(Deposit(uid, 5_000))
        db.execute(Place(uid, 0, 0, 0, 500, 1))
        want = fingerprint(db.engine)
    assert len(list(d.glob("journal-*.wal"))) == 1
    with open_db(d, c=c) as db:
        assert fingerprint(db.engine) == want
        assert db.engine.user_id("new") == uid
