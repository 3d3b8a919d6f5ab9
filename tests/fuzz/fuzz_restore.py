"""atheris harness: ``Core.restore`` on mutated snapshots.

Run: ``python tests/fuzz/fuzz_restore.py CORPUS_DIR [-runs=N] [-seed=S] ...``
(seed the corpus with ``python tests/fuzz/seeds.py OUT``, use ``OUT/restore``).

Each input is restored twice: as it is, and with its CRC32 trailer recomputed
so that mutations reach the field checks and the invariant check.  Restore may
only raise ``SnapshotError``; a snapshot it accepts must pass
``check_invariants()``, round-trip through ``snapshot()``, and take a few
commands without raising anything but a documented refusal.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzing import count, reason  # noqa: E402

from probo_engine import (  # noqa: E402
    Core,
    InvalidOrderError,
    SnapshotError,
    UnknownMarketError,
    UnknownUserError,
)

MISUSE = (InvalidOrderError, UnknownMarketError, UnknownUserError)


def with_crc(data: bytes) -> bytes:
    """``data`` with its last 4 bytes replaced by the CRC32 of the rest."""
    body = data[:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


def exercise(core: Core) -> None:
    """A few commands on every user and market of an accepted snapshot."""
    for uid in range(6):  # unknown ids raise UnknownUserError/MarketError
        for mid in range(4):
            for call, args in (
                ("place", (uid, mid, 0, 0, 500, 3, 0, 0, 10**6)),
                ("place", (uid, mid, 1, 1, 500, 3, 1, 1, 10**6)),
                ("place_market", (uid, mid, 0, 1, 2)),
                ("mint", (uid, mid, 1)),
                ("merge", (uid, mid, 1)),
                ("cancel_all", (uid, mid)),
            ):
                try:
                    getattr(core, call)(*args)
                except MISUSE as exc:
                    reason(exc)
    core.expire(2**62)
    core.check_invariants()


def restore_one(data: bytes) -> None:
    try:
        core = Core.restore(data)
    except SnapshotError as exc:
        reason(exc)
        return
    count("restore accepted")
    core.check_invariants()
    blob = core.snapshot()
    assert Core.restore(blob).snapshot() == blob, "accepted snapshot: no round trip"
    exercise(core)


def check(data: bytes) -> None:
    restore_one(data)
    if len(data) >= 4:
        restore_one(with_crc(data))


if __name__ == "__main__":
    from fuzzing import run

    run(check)
