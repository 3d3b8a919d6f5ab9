"""Snapshot files: a checked header around an engine's ``snapshot()`` bytes.

New files start with the magic ``PROBOJSN`` (journal snapshot), distinct from
the core's own snapshot magic ``PROBOSNP``, so neither can be mistaken for the
other.  Files written before (which began with ``PROBOSNP``, the header being
otherwise the same) are still read.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from pathlib import Path

from probo_engine.errors import JournalError, SnapshotError
from probo_engine.journal.files import fsync_dir, write_all
from probo_engine.journal.format import JOURNAL_FORMAT, U32, SegmentFormat

__all__ = [
    "LEGACY_SNAPSHOT_MAGIC",
    "SNAPSHOT_FILE_VERSION",
    "SNAPSHOT_MAGIC",
    "SNAP_HDR",
    "read_snapshot",
    "write_snapshot",
]

SNAPSHOT_MAGIC = b"PROBOJSN"
#: The magic of snapshot files written before they had their own (read only).
LEGACY_SNAPSHOT_MAGIC = b"PROBOSNP"
SNAPSHOT_FILE_VERSION = 1
#: magic, version, header size, flags, seq, body length, reserved 0, CRC32 of
#: the header's first 36 bytes and the body
SNAP_HDR = struct.Struct("<8sHHIQQII")
_CRC_AT = SNAP_HDR.size - U32.size


def write_snapshot(
    directory: Path,
    seq: int,
    body: bytes | bytearray,
    fmt: SegmentFormat = JOURNAL_FORMAT,
) -> Path:
    """Write ``body`` as the snapshot after command ``seq``, atomically.

    Written to ``.tmp``, fsynced, renamed, and the directory fsynced.  Raises
    :class:`JournalError` (nothing half-written stays) if that fails.
    """
    head = SNAP_HDR.pack(
        SNAPSHOT_MAGIC, SNAPSHOT_FILE_VERSION, SNAP_HDR.size, 0, seq, len(body), 0, 0
    )
    crc = zlib.crc32(body, zlib.crc32(head[:_CRC_AT]))
    head = head[:_CRC_AT] + U32.pack(crc)
    final = directory / fmt.snapshot_name(seq)
    tmp = final.with_name(final.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, head)
            write_all(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        fsync_dir(directory)
    except OSError as exc:
        # Nothing half-written stays behind; the journal is untouched.
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise JournalError(
            f"snapshot {final.name} not written: {exc} (the journal is intact "
            "and commands continue; recovery replays it from the last snapshot)"
        ) from exc
    return final


def read_snapshot(path: Path, seq: int) -> bytes:
    """The body of a snapshot file; SnapshotError if it is not sound."""
    data = path.read_bytes()
    if len(data) < SNAP_HDR.size:
        raise SnapshotError(f"{path}: short snapshot file ({len(data)} bytes)")
    magic, version, hsize, _flags, s, n, _reserved, crc = SNAP_HDR.unpack_from(data)
    if (
        magic not in (SNAPSHOT_MAGIC, LEGACY_SNAPSHOT_MAGIC)
        or version != SNAPSHOT_FILE_VERSION
    ):
        raise SnapshotError(f"{path}: not a version {SNAPSHOT_FILE_VERSION} snapshot")
    if hsize != SNAP_HDR.size or s != seq or n != len(data) - hsize:
        raise SnapshotError(f"{path}: header does not match the file")
    if zlib.crc32(data[hsize:], zlib.crc32(data[:_CRC_AT])) != crc:
        raise SnapshotError(f"{path}: CRC mismatch")
    return data[hsize:]
