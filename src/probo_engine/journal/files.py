"""File-system helpers of the journal: listing, syncing, writing, locking.

Shared by the writer, snapshots and recovery here and by the segmented logs
of the adapters (``adapters/locallog.py``, ``adapters/redis.py``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from probo_engine.errors import JournalError
from probo_engine.journal.format import JOURNAL_FORMAT, SegmentFormat

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no directory lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "datasync",
    "fsync_dir",
    "list_dir",
    "lock",
    "log",
    "quarantine",
    "segments_after",
    "truncate",
    "write_all",
]

#: The ``probo_engine.journal`` logger (quarantined snapshots are warned on it).
log = logging.getLogger("probo_engine.journal")

#: ``fdatasync`` where the platform has it, else ``fsync``.
datasync = getattr(os, "fdatasync", os.fsync)


def list_dir(
    directory: Path, fmt: SegmentFormat = JOURNAL_FORMAT
) -> tuple[list[tuple[int, Path]], list[tuple[int, Path]]]:
    """``(segments, snapshots)`` in ``directory``: ``(seq, path)`` pairs, sorted."""
    segments, snapshots = [], []
    for entry in os.scandir(directory):
        if (first := fmt.segment_seq(entry.name)) is not None:
            segments.append((first, Path(entry.path)))
        elif (seq := fmt.snapshot_seq(entry.name)) is not None:
            snapshots.append((seq, Path(entry.path)))
    segments.sort()
    snapshots.sort()
    return segments, snapshots


def segments_after(
    directory: Path, after: int, fmt: SegmentFormat = JOURNAL_FORMAT
) -> list[tuple[int, Path]]:
    """The segments holding the records after ``after``, oldest first."""
    segments, _ = list_dir(directory, fmt)
    start = 0
    for i, (first, _path) in enumerate(segments):
        if first <= after + 1:
            start = i
    return segments[start:]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> int:
    """Write all of ``data`` (``os.write`` may write less); return its size."""
    view = memoryview(data).cast("B")
    done = 0
    try:
        while done < len(view):
            done += os.write(fd, view[done:])
    finally:
        view.release()
    return done


def truncate(path: Path, off: int) -> None:
    """Cut ``path`` to ``off`` bytes, durably."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, off)
        os.fsync(fd)
    finally:
        os.close(fd)


def quarantine(path: Path, why: str) -> Path:
    """Rename a damaged snapshot out of the way (``<name>.corrupt[.N]``).

    It no longer counts as a snapshot (so never as a spare, and pruning never
    deletes it); the bytes stay for inspection.  Logged as a warning.
    """
    target = path.with_name(path.name + ".corrupt")
    n = 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt.{n}")
    os.replace(path, target)
    fsync_dir(path.parent)
    log.warning("quarantined damaged snapshot %s as %s: %s", path, target.name, why)
    return target


def lock(directory: Path) -> int:
    """Take ``directory/LOCK`` (``flock``, one writer); return its descriptor."""
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(f"{directory} is in use by another process") from None
    return fd
