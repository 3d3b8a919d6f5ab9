"""Journals and snapshot files written before the journal became a package
still recover, to the same state.

``golden/v1`` was written by ``golden/make_golden.py`` at commit d8a4fe5: five
segments, a snapshot file with the old magic ``PROBOSNP`` after command 120,
and ``expected.json`` with the ``state_hash`` of the engine that wrote them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cmdstream import open_db

from probo_engine.commands import CreateMarket, CreateUser
from probo_engine.journal import read_journal

GOLDEN = Path(__file__).resolve().parent / "golden" / "v1"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


def copy(tmp_path: Path) -> Path:
    d = tmp_path / "v1"
    shutil.copytree(GOLDEN, d)
    (d / "expected.json").unlink()
    return d


def test_the_fixture_is_the_old_format() -> None:
    snap = GOLDEN / "snapshot-00000000000000000120.snap"
    assert snap.read_bytes()[:8] == b"PROBOSNP"
    for seg in GOLDEN.glob("journal-*.wal"):
        assert seg.read_bytes()[:8] == b"PROBOJNL"


@pytest.mark.parametrize("c", [True, False], ids=["c-replay", "python-replay"])
def test_recovers_from_the_old_snapshot(tmp_path: Path, c: bool) -> None:
    d = copy(tmp_path)
    with open_db(d, c=c) as db:
        assert db.recovery.snapshot_seq == EXPECTED["snapshot_seq"] == 120
        assert db.recovery.replayed == EXPECTED["last_seq"] - 120
        assert db.recovery.truncated_path is None
        assert db.appended_seq == EXPECTED["last_seq"]
        assert db.engine.state_hash() == EXPECTED["state_hash"]


@pytest.mark.parametrize("c", [True, False], ids=["c-replay", "python-replay"])
def test_recovers_from_the_old_journal_alone(tmp_path: Path, c: bool) -> None:
    d = copy(tmp_path)
    (d / "snapshot-00000000000000000120.snap").unlink()
    with open_db(d, c=c) as db:
        assert db.recovery.snapshot_seq == 0
        assert db.recovery.replayed == EXPECTED["last_seq"]
        assert db.engine.state_hash() == EXPECTED["state_hash"]


def test_old_journal_reads_back() -> None:
    records = list(read_journal(GOLDEN))
    assert [r.seq for r in records] == list(range(1, EXPECTED["last_seq"] + 1))
    named = [r.command for r in records if isinstance(r.command, CreateMarket)]
    assert CreateMarket(symbol="GOLDEN-YES", ts=10**9) in named
    assert any(r.command == CreateUser(name="golden-user") for r in records)


def test_new_snapshot_after_old_one_uses_the_new_magic(tmp_path: Path) -> None:
    d = copy(tmp_path)
    with open_db(d) as db:
        seq = db.snapshot()
    with open_db(d) as db:
        assert db.recovery.snapshot_seq == seq
        assert db.engine.state_hash() == EXPECTED["state_hash"]
    assert (d / f"snapshot-{seq:020d}.snap").read_bytes()[:8] == b"PROBOJSN"
