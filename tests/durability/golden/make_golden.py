"""Writes ``v1/``: the golden journal directory (kept for the record).

Run once at commit d8a4fe5, before ``journal.py`` became a package and
snapshot files got the magic ``PROBOJSN``, from the repository root::

    PYTHONPATH=src:tests/durability python tests/durability/golden/make_golden.py

The directory holds three segments, a snapshot file written with the old
magic ``PROBOSNP`` (after command 120), commands in both command formats (the
names of format 2), refused commands, and ``expected.json`` with the
``state_hash`` the recovered engine had then.  Running this again with newer
code would write the new snapshot magic: the committed files are the fixture.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from cmdstream import ENGINE_OPTIONS, make_stream

from probo_engine.commands import CreateMarket, CreateUser, Deposit, Place
from probo_engine.journal import DurableEngine

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = HERE / "v1"
    shutil.rmtree(out, ignore_errors=True)
    stream = make_stream(42, 200)
    with DurableEngine.open(
        out, policy="fsync", segment_bytes=4096, engine_options=ENGINE_OPTIONS
    ) as db:
        for cmd in stream[:120]:
            db.execute(cmd)
        db.snapshot()
        for cmd in stream[120:]:
            db.execute(cmd)
        # named records (command format 2) after the snapshot
        m = db.execute(CreateMarket(symbol="GOLDEN-YES", ts=10**9))
        u = db.execute(CreateUser(name="golden-user"))
        db.execute(Deposit(u, 50_000))
        assert db.execute(Place(u, m, 0, 0, 500, 10, ts=10**9)) > 0
        expected = {
            "state_hash": db.engine.state_hash(),
            "last_seq": db.appended_seq,
            "snapshot_seq": db.snapshot_seq,
        }
    (out / "LOCK").unlink()
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(sorted(p.name for p in out.iterdir()), expected, file=sys.stderr)


if __name__ == "__main__":
    main()
