"""atheris harness: reading and recovering a journal segment.

Run: ``python tests/fuzz/fuzz_journal.py CORPUS_DIR [-runs=N] [-seed=S] ...``
(seeds: ``python tests/fuzz/seeds.py OUT``, use ``OUT/journal``).

Each input is a segment file, ``journal-00000000000000000001.wal``, alone in a
scratch data directory (on /dev/shm when there is one).  It is read with
:func:`~probo_engine.journal.read_journal` and recovered with
``DurableEngine.open(engine_cls=Core)``, twice: as it is, and with the segment
header's and every record's CRCs recomputed, so that mutations inside payloads
reach the command decoder and the replay.  Both may only raise
``JournalCorruptError`` (a torn tail is dropped quietly).
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzing import count, reason  # noqa: E402

from probo_engine import (  # noqa: E402
    Core,
    InvalidOrderError,
    JournalCorruptError,
    UnknownMarketError,
    UnknownUserError,
)
from probo_engine.journal import DurableEngine, read_journal  # noqa: E402

_U32 = struct.Struct("<I")
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
#: Scratch space: $PROBO_FUZZ_TMP (the pytest driver's tmp_path) or a new
#: directory (libFuzzer exits without running cleanups: remove it yourself).
_ROOT = Path(
    os.environ.get("PROBO_FUZZ_TMP") or tempfile.mkdtemp(prefix="probo-fuzz-", dir=_SHM)
)
#: What replaying a sound record may raise (wrapped in JournalCorruptError):
#: misuse refused before the engine changes.  InvariantError is not in it.
REPLAY_ERRORS = (
    InvalidOrderError,
    UnknownMarketError,
    UnknownUserError,
    OverflowError,
    TypeError,
    ValueError,
)
SEGMENT = "journal-00000000000000000001.wal"


def with_crcs(data: bytes) -> bytes:
    """``data`` with the header CRC and every record's two CRCs made right."""
    buf = bytearray(data)
    if len(buf) < 32:
        return bytes(buf)
    buf[28:32] = _U32.pack(zlib.crc32(buf[:28]))
    off = 32
    while off + 16 <= len(buf):
        n = _U32.unpack_from(buf, off)[0]
        end = off + 16 + n
        if not 2 <= n <= 1 << 16 or end + 4 > len(buf):
            break
        buf[off + 12 : off + 16] = _U32.pack(zlib.crc32(buf[off : off + 12]))
        buf[end : end + 4] = _U32.pack(zlib.crc32(buf[off:end]))
        off = end + 4
    return bytes(buf)


def recover_one(data: bytes) -> None:
    d = _ROOT / "data"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    (d / SEGMENT).write_bytes(data)
    try:
        n = sum(1 for _ in read_journal(d))
        count("read_journal read")
    except JournalCorruptError as exc:
        reason(exc)
        n = -1
    try:
        dur = DurableEngine.open(d, policy="none", engine_cls=Core)
    except JournalCorruptError as exc:
        reason(exc)
        cause = exc.__cause__
        assert cause is None or isinstance(cause, REPLAY_ERRORS), repr(cause)
        return
    with dur:
        count("recovered")
        dur.engine.check_invariants()
        assert n < 0 or dur.recovery.last_seq == n, (n, dur.recovery)


def check(data: bytes) -> None:
    recover_one(data)
    fixed = with_crcs(data)
    if fixed != data:
        recover_one(fixed)


if __name__ == "__main__":
    from fuzzing import run

    run(check)
