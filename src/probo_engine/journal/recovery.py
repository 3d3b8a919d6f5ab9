"""Recovery: the stored engine options, the newest sound snapshot, then the
journal after it (see the package docstring's recovery rules)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probo_engine.errors import JournalCorruptError, SnapshotError
from probo_engine.journal import replay
from probo_engine.journal.files import (
    fsync_dir,
    list_dir,
    quarantine,
    segments_after,
    truncate,
    write_all,
)
from probo_engine.journal.format import any_record, check_segment_header, diagnose
from probo_engine.journal.replay import (
    ProgressCallback,
    SegmentProgress,
    replay_segment,
    replay_table,
)
from probo_engine.journal.snapshots import read_snapshot

__all__ = ["RecoveryInfo", "recover", "stored_engine_options"]


@dataclass
class RecoveryInfo:
    """What :meth:`DurableEngine.open` found and did."""

    snapshot_seq: int = 0  #: command seq of the snapshot loaded (0: none)
    snapshot_path: str | None = None
    #: (path, why) of every snapshot that failed to load; each was renamed
    #: (quarantined) to the matching entry of ``quarantined``
    skipped_snapshots: list[tuple[str, str]] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  #: new names of those
    replayed: int = 0  #: commands applied from the journal
    replayed_c: int = 0  #: of those, how many the C replay path applied
    last_seq: int = 0  #: last command seq recovered
    truncated_path: str | None = None  #: segment whose torn tail was cut
    truncated_bytes: int = 0
    seconds: float = 0.0


def stored_engine_options(d: Path, given: dict[str, int] | None) -> dict[str, int]:
    """The engine options stored in ``d`` (stored now if ``d`` is new)."""
    path = d / "engine.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text())["engine_options"]
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalCorruptError(path, 0, f"unreadable: {exc}") from None
        if given is not None and given != stored:
            raise ValueError(
                f"{d} was created with engine_options={stored}, not {given}"
            )
        return dict(stored)
    segments, snapshots = list_dir(d)
    if segments or snapshots:
        # Written before any journal file, so only a deletion explains this;
        # a default would replay the journal under other limits.
        raise JournalCorruptError(
            path,
            0,
            f"missing, but {d} holds {len(segments)} journal segment(s) and "
            f"{len(snapshots)} snapshot(s): it records the engine options "
            "they were written under; restore it (or the whole directory) "
            "from a backup",
        )
    options = dict(given or {})
    text = json.dumps({"format": 1, "engine_options": options}, sort_keys=True)
    tmp = path.with_name("engine.json.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, text.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(d)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return options


def recover(
    d: Path,
    new_engine: Callable[[], Any],
    restore: Callable[[bytes], Any] | None,
    progress: ProgressCallback | None,
) -> tuple[Any, RecoveryInfo, Path | None]:
    """Load the newest valid snapshot and replay the journal after it.

    Returns the engine, what was done, and the segment to continue appending
    to (None: start a new one).
    """
    t0 = time.perf_counter()
    info = RecoveryInfo()
    for stale in d.glob("snapshot-*.snap.tmp"):
        stale.unlink()
    snapshots = list_dir(d)[1]
    engine = None
    if callable(restore):
        for seq, path in reversed(snapshots):
            try:
                engine = restore(read_snapshot(path, seq))
            except SnapshotError as exc:
                info.skipped_snapshots.append((str(path), str(exc)))
                info.quarantined.append(str(quarantine(path, str(exc))))
                continue
            info.snapshot_seq, info.snapshot_path = seq, str(path)
            break
    if engine is None:
        engine = new_engine()
    start = info.snapshot_seq
    segments = segments_after(d, start)
    if segments and segments[0][0] > start + 1:
        raise JournalCorruptError(
            segments[0][1],
            0,
            f"journal starts at seq {segments[0][0]} but the state recovered "
            f"(snapshot {info.snapshot_path or 'none'}) ends at seq {start}",
        )
    table = replay_table(engine)
    fast = replay.c_replayer(engine)  # through the module: tests replace it
    total = sum(p.stat().st_size for _f, p in segments)
    done_bytes = 0
    seq = segments[0][0] if segments else start + 1  # next expected
    append_to: Path | None = None
    for i, (first, path) in enumerate(segments):
        is_last = i == len(segments) - 1
        buf = path.read_bytes()
        bad = check_segment_header(buf, path, first)
        if first != seq:
            raise JournalCorruptError(
                path, 0, f"segment starts at {first}, expected {seq}"
            )
        if bad is not None:
            if is_last and not any_record(buf, first):
                # Crashed while starting this segment: it holds nothing.
                info.truncated_path, info.truncated_bytes = str(path), len(buf)
                path.unlink()
                fsync_dir(d)
                break
            raise JournalCorruptError(path, 0, bad)
        where = SegmentProgress(progress, done_bytes, total, info.replayed)
        off, seq, n, n_c = replay_segment(buf, path, seq, start, table, where, fast)
        info.replayed += n
        info.replayed_c += n_c
        if off < len(buf):
            diagnose(buf, off, seq, path, is_last)  # raises unless torn
            info.truncated_path, info.truncated_bytes = str(path), len(buf) - off
            truncate(path, off)
        if is_last:
            append_to = path
        done_bytes += len(buf)
        if progress is not None:
            progress(done_bytes, total, info.replayed)
    info.last_seq = max(seq - 1, start)
    if seq - 1 < start:
        # The journal ends before the snapshot (its tail was lost): whatever
        # it holds is covered by the snapshot; continue in a new segment.
        append_to = None
    if append_to is not None:
        # Written before the crash is not synced: make it durable, since it
        # now counts as acknowledged.
        fd = os.open(append_to, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    info.seconds = time.perf_counter() - t0
    return engine, info, append_to
