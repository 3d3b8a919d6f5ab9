"""Durable mode never strands data (issue 11, items 2-5).

* a damaged snapshot is quarantined, never counted as a spare, and pruning
  keeps what the newest good recovery point needs;
* a missing ``engine.json`` beside journal files refuses to open;
* a failed snapshot write raises ``JournalError`` and leaves no ``.tmp``;
  an I/O error while opening raises ``JournalError``;
* ``DurableEngine.engine`` is read-only.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest
from cmdstream import ENGINE_OPTIONS, fingerprint, make_stream, open_db, reference_run

from probo_engine import journal
from probo_engine.commands import CreateMarket, CreateUser, Deposit, Place
from probo_engine.errors import JournalCorruptError, JournalError, ProboError
from probo_engine.readonly import EngineView

STREAM = make_stream(11, 1200)


def snap(path: Path, seq: int) -> Path:
    return path / f"snapshot-{seq:020d}.snap"


def damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def run_to(db: journal.DurableEngine, upto: int) -> None:
    for cmd in STREAM[db.appended_seq : upto]:
        db.execute(cmd)


# ------------------------------------------------------------- item 2


def test_damaged_snapshot_is_quarantined_and_never_a_spare(tmp_path, caplog):
    # A at 300, B at 600; B damaged; recovery falls back to A
    with open_db(tmp_path, segment_bytes=4 << 10) as db:
        run_to(db, 300)
        db.snapshot()
        run_to(db, 600)
        db.snapshot()
        run_to(db, 700)
    damage(snap(tmp_path, 600))
    with caplog.at_level(logging.WARNING, logger="probo_engine.journal"):
        db = open_db(tmp_path, segment_bytes=4 << 10)
    with db:
        assert db.recovery.snapshot_seq == 300
        assert db.recovery.skipped_snapshots[0][0] == str(snap(tmp_path, 600))
        moved = Path(db.recovery.quarantined[0])
        assert moved.name == snap(tmp_path, 600).name + ".corrupt" and moved.exists()
        assert not snap(tmp_path, 600).exists()
        assert "quarantined" in caplog.text and moved.name in caplog.text
        # The next snapshot must keep A (the only other good one) and the
        # journal after it: B is no spare.
        run_to(db, 900)
        db.snapshot()
        assert snap(tmp_path, 300).exists()
        run_to(db, 1000)
    # One more damaged snapshot (the new one): A and the journal still serve.
    damage(snap(tmp_path, 900))
    with open_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == 300
        assert db.appended_seq == 1000
        assert fingerprint(db.engine) == fingerprint(reference_run(STREAM[:1000]))


def test_a_spare_damaged_while_open_is_not_counted_by_pruning(tmp_path):
    with open_db(tmp_path, segment_bytes=4 << 10) as db:
        run_to(db, 300)
        db.snapshot()
        run_to(db, 600)
        db.snapshot()
        run_to(db, 700)
        damage(snap(tmp_path, 600))  # bit rot under a running engine
        db.snapshot()  # 700: the spare 600 is checked, quarantined; 300 stays
        assert snap(tmp_path, 300).exists()
        assert (tmp_path / (snap(tmp_path, 600).name + ".corrupt")).exists()
        run_to(db, 800)
    damage(snap(tmp_path, 700))
    with open_db(tmp_path) as db:
        assert db.recovery.snapshot_seq == 300
        assert fingerprint(db.engine) == fingerprint(reference_run(STREAM[:800]))


# ------------------------------------------------------------- item 3


def test_missing_engine_json_beside_a_journal_refuses_to_open(tmp_path):
    opts = {"max_open_orders": 1}
    with journal.DurableEngine.open(tmp_path, engine_options=opts) as db:
        db.execute(CreateMarket())
        db.execute(CreateUser())
        db.execute(Deposit(0, 100_000))
        assert db.execute(Place(0, 0, 0, 0, 500, 1, 0, 0, 0, False, 0, 0)) > 0
        # the second live order is refused under max_open_orders=1 ...
        assert db.execute(Place(0, 0, 0, 0, 450, 1, 0, 0, 0, False, 0, 0)) == -204
        before = fingerprint(db.engine)
    (tmp_path / "engine.json").unlink()
    files = sorted(p.name for p in tmp_path.iterdir())
    # ... and would be accepted on replay under the default options
    with pytest.raises(JournalCorruptError) as err:
        journal.DurableEngine.open(tmp_path)
    assert err.value.path == str(tmp_path / "engine.json")
    assert "missing" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # nothing written
    (tmp_path / "engine.json").write_text(
        '{"engine_options": {"max_open_orders": 1}, "format": 1}\n'
    )
    with journal.DurableEngine.open(tmp_path) as db:
        assert fingerprint(db.engine) == before


def test_a_new_directory_still_gets_its_engine_json(tmp_path):
    with journal.DurableEngine.open(tmp_path / "new", engine_options=ENGINE_OPTIONS):
        pass
    assert (tmp_path / "new" / "engine.json").exists()


# ------------------------------------------------------------- item 4


def enospc(*_a: object, **_k: object) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_failed_snapshot_write_is_a_journal_error_and_leaves_no_tmp(
    tmp_path, monkeypatch
):
    with open_db(tmp_path) as db:
        run_to(db, 200)
        with monkeypatch.context() as m:
            m.setattr(os, "fsync", enospc)  # the snapshot's own fsync
            with pytest.raises(JournalError, match="not written") as err:
                db.snapshot()
        assert isinstance(err.value, ProboError)
        assert isinstance(err.value.__cause__, OSError)
        assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.snap"))
        run_to(db, 300)  # the journal is intact: commands continue
        assert db.snapshot() == 300
    with open_db(tmp_path) as db:
        assert fingerprint(db.engine) == fingerprint(reference_run(STREAM[:300]))


def test_io_error_while_opening_is_a_journal_error(tmp_path, monkeypatch):
    # the disk is full: engine.json and the first segment header fail
    monkeypatch.setattr(journal.recovery, "write_all", enospc)
    monkeypatch.setattr(journal.writer, "write_all", enospc)
    with pytest.raises(JournalError, match="cannot open") as err:
        open_db(tmp_path / "d")
    assert isinstance(err.value.__cause__, OSError)
    assert not list((tmp_path / "d").glob("*.tmp"))
    monkeypatch.undo()
    with open_db(tmp_path / "d") as db:  # and the directory is usable after
        db.execute(CreateUser())


def test_real_file_size_limit_fails_the_snapshot_cleanly(tmp_path):
    """The OS refuses the write (RLIMIT_FSIZE: EFBIG), in a child process."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import resource, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from cmdstream import make_stream, open_db
        from probo_engine.errors import JournalError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        stream = make_stream(11, 1200)
        with open_db({str(tmp_path)!r}, segment_bytes=8 << 10) as db:
            for cmd in stream:
                db.execute(cmd)
            size = len(db.engine.snapshot())
            resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, size // 2))
            try:
                db.snapshot()
            except JournalError as exc:
                print("JournalError", type(exc.__cause__).__name__)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["JournalError", "OSError"]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.snap"))
    with open_db(tmp_path) as db:
        assert fingerprint(db.engine) == fingerprint(reference_run(STREAM))


# ------------------------------------------------------------- item 5


def test_engine_is_read_only(tmp_path):
    with open_db(tmp_path) as db:
        run_to(db, 100)
        eng = db.engine
        assert isinstance(eng, EngineView)
        before = fingerprint(eng)
        for name in ("deposit", "place", "cancel", "create_user", "submit"):
            with pytest.raises(AttributeError, match="read-only"):
                getattr(eng, name)
        with pytest.raises(AttributeError):
            eng.anything = 1
        assert eng.balance(0) == db.engine.balance(0)
        assert eng.last_seq > 0 and eng.engine_type.__name__ == "Engine"
        assert fingerprint(eng) == before
