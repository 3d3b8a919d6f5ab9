"""The process the crash test kills: a seeded stream applied through the journal.

Usage: ``crash_child.py DATA_DIR STREAM_FILE POLICY GROUP_RECORDS SNAPSHOT_EVERY
CHUNK``

``CHUNK > 0`` makes every ``os.write`` write at most that many bytes (the
journal loops on short writes, as it must), so that a kill often lands in the
middle of a record and recovery has a torn tail to cut.

It opens (recovers) ``DATA_DIR``, prints ``R <seq> <torn bytes cut>
<snapshot seq> <commands replayed> <seconds>`` (``seq`` is the last command
recovered), then applies the stream from the next command on.  Each time the
journal syncs it prints ``A <seq>``: every command up to ``seq`` is durable.
At the end it prints ``D``.  The stream file is a sequence of ``u16 length,
encoded command`` written by the parent.
"""

from __future__ import annotations

import os
import struct
import sys

from probo_engine.commands import decode
from probo_engine.journal import DurableEngine


def load(path: str) -> list[tuple[int, ...]]:
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 0
    while off < len(data):
        (n,) = struct.unpack_from("<H", data, off)
        out.append(decode(data[off + 2 : off + 2 + n]))
        off += 2 + n
    return out


def main(argv: list[str]) -> int:
    data_dir, stream_file, policy, group_records, snapshot_every, chunk = argv
    if int(chunk) > 0:
        real_write, size = os.write, int(chunk)

        def short_write(fd: int, data: bytes) -> int:
            return real_write(fd, memoryview(data)[:size])

        os.write = short_write  # type: ignore[assignment]
    stream = load(stream_file)
    every = int(snapshot_every)
    out = sys.stdout

    def acked(seq: int) -> None:
        out.write(f"A {seq}\n")
        out.flush()

    db = DurableEngine.open(
        data_dir,
        policy=policy,
        group_records=int(group_records),
        group_ms=2.0,
        segment_bytes=256 << 10,
        on_durable=acked,
    )
    info = db.recovery
    out.write(
        f"R {db.appended_seq} {info.truncated_bytes} {info.snapshot_seq} "
        f"{info.replayed} {info.seconds:.3f}\n"
    )
    out.flush()
    for i in range(db.appended_seq, len(stream)):
        db.execute(stream[i])
        if every and (i + 1) % every == 0:
            db.snapshot()
    db.sync()
    out.write(f"D {db.appended_seq}\n")
    out.flush()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
