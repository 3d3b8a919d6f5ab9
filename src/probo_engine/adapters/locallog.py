"""Embedded mode's durable entry log: segmented local files, runner snapshots.

:class:`LocalEntryLog` is the journal of embedded mode (docs/service.md): the
:class:`~probo_engine.adapters.runner.InProcessBus` appends every applied
:class:`~probo_engine.adapters.entries.Entry` to it and acknowledges the
command once the log has synced it.  Recovery is the newest valid runner
snapshot plus the entries after it, re-applied (commands only) with the
regenerated result and events checked against the logged ones.

It reuses the command journal's record framing, segment files, torn-tail
rules and snapshot files (:mod:`probo_engine.journal`, ``SegmentFormat``):
only the magic, the file names and the payload (an encoded entry instead of a
command) differ.  Files in the data directory (integers little-endian):

``entries-<first seq, 20 digits>.log``
    A segment: the journal's 32-byte header with magic ``"PROBOENT"`` and the
    entry format version, then records ``u32 payload length, u64 seq, u32
    CRC32 of those 12 bytes, payload (encode_entry(entry)), u32 CRC32 of
    everything before``.  A new segment starts at ``segment_bytes`` and at
    every snapshot.
``runner-<seq, 20 digits>.snap``
    The journal's snapshot file (40-byte header with CRC32) around an
    :meth:`EngineRunner.snapshot` (engine, dedup window, next seq, last ts).
    Written to ``.tmp``, fsynced, renamed, directory fsynced.
``bus.json``
    The engine options and the dedup window size, fixed when the directory
    is made (they shape results, so a restart must use the same).
``consumers.json``
    Consumer checkpoints: the last seq each named consumer has durably
    processed.  Pruning keeps every entry after the smallest one.
``LOCK``
    Held (``flock``) while the log is open: one writer per directory.

Damage rules are the journal's: a damaged tail of the last segment (with no
valid record after it) is a write a crash tore -- never acknowledged -- and
is truncated; any other damage raises :class:`JournalCorruptError` naming the
file and byte offset.  Nothing is skipped silently.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from probo_engine import journal as _j
from probo_engine.adapters.entries import (
    ENTRY_VERSION,
    Entry,
    EntryDecodeError,
    decode_entry,
    encode_entry,
)
from probo_engine.adapters.runner import DEFAULT_WINDOW, EngineRunner, InProcessBus
from probo_engine.engine import Engine
from probo_engine.errors import (
    InvariantError,
    JournalCorruptError,
    JournalError,
    SnapshotError,
)

__all__ = ["ENTRY_LOG_FORMAT", "EntryLogRecovery", "LocalEntryLog", "open_bus"]

#: The entry log's files: the journal's framing with its own magic and names.
ENTRY_LOG_FORMAT = _j.SegmentFormat(
    magic=b"PROBOENT",
    prefix="entries",
    ext="log",
    snapshot_prefix="runner",
    payload_version=ENTRY_VERSION,
    min_payload=23,  # an entry with no key, command or events
    max_payload=1 << 30,
)
_FMT = ENTRY_LOG_FORMAT
_INDEX_EVERY = 64  # one (seq, segment, offset) index point per this many records


@dataclass
class EntryLogRecovery:
    """What :meth:`LocalEntryLog.open` found and did."""

    snapshot_seq: int = 0  #: entry seq of the runner snapshot loaded (0: none)
    snapshot_path: str | None = None
    skipped_snapshots: list[tuple[str, str]] = field(default_factory=list)
    replayed: int = 0  #: entries re-applied after the snapshot
    last_seq: int = 0  #: last entry recovered
    truncated_path: str | None = None  #: segment whose torn tail was cut
    truncated_bytes: int = 0
    seconds: float = 0.0


def _write_json(d: Path, name: str, obj: Any) -> None:
    path = d / name
    tmp = path.with_name(name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _j._write_all(fd, json.dumps(obj, sort_keys=True).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _j._fsync_dir(d)


def _settings(
    d: Path, engine_options: dict[str, int] | None, window: int | None
) -> tuple[dict[str, int], int]:
    """The engine options and window stored in ``d`` (stored now if new)."""
    path = d / "bus.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text())
            options, size = dict(stored["engine_options"]), int(stored["window"])
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalCorruptError(path, 0, f"unreadable: {exc}") from None
        if engine_options is not None and engine_options != options:
            raise ValueError(
                f"{d} was created with engine_options={options}, not {engine_options}"
            )
        if window is not None and window != size:
            raise ValueError(f"{d} was created with window={size}, not {window}")
        return options, size
    options = dict(engine_options or {})
    size = DEFAULT_WINDOW if window is None else window
    _write_json(d, "bus.json", {"format": 1, "engine_options": options, "window": size})
    return options, size


class LocalEntryLog:
    """The durable entry log of one data directory (see the module docstring).

    Open it with :meth:`open`, which recovers the state: :attr:`runner` is an
    :class:`EngineRunner` at the last durable entry, ready for an
    :class:`InProcessBus` (or use :func:`open_bus`).  It is the bus's
    ``DurableEntryLog`` (``append`` on the loop, ``commit`` and
    ``write_snapshot`` in worker threads) and an ``EntrySource`` over the
    durable entries (read from the files).
    """

    runner: EngineRunner  #: the recovered runner (hand it to the bus)
    recovery: EntryLogRecovery  #: what :meth:`open` found and did
    _dir: Path
    _keep: int
    _index: list[tuple[int, int, int]]  # (seq, segment's first seq, offset)
    _append_to: Path | None
    _writer: _j._Writer
    _lock_fd: int
    _buf: list[tuple[int, bytes]]  # appended, not yet written
    _buf_lock: threading.Lock  # guards _buf, _appended, _closed
    _io_lock: threading.Lock  # one file operation at a time (worker threads)
    _appended: int
    _durable: int
    _checkpoints: dict[str, int]
    _closed: bool
    _snapshot_seq: int

    def __init__(self, *_: object, **__: object) -> None:
        raise TypeError("use LocalEntryLog.open(directory)")

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        engine_options: dict[str, int] | None = None,
        window: int | None = None,
        segment_bytes: int = 64 << 20,
        keep_snapshots: int = 2,
        verify: bool = True,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> LocalEntryLog:
        """Open (creating if needed) a data directory and recover its state.

        Parameters
        ----------
        directory : path
            The data directory; created if missing.
        engine_options : dict, optional
            ``Engine`` keyword arguments (the core's limits).  Stored when the
            directory is made; different ones later raise ``ValueError``.
        window : int, optional
            Dedup window size (default :data:`DEFAULT_WINDOW`); stored likewise.
        segment_bytes : int
            Start a new segment once the current one reaches this size.
        keep_snapshots : int
            Runner snapshots to keep (>= 1); see :meth:`write_snapshot`.
        verify : bool
            Check each re-applied entry's result and events against the log.
        progress : callable, optional
            ``progress(replayed, bytes_read, bytes_total)`` every 10,000
            entries re-applied and once at the end (from the thread that
            opens the log): for a progress display during a long recovery.

        Raises
        ------
        JournalCorruptError
            Damage a crash cannot explain, or re-applied entries whose results
            differ from the logged ones (names the file and offset).
        JournalError
            The directory is in use by another process.
        """
        if min(segment_bytes, keep_snapshots) < 1:
            raise ValueError("segment_bytes and keep_snapshots must be >= 1")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        lock_fd = _j._lock(d)
        try:
            options, size = _settings(d, engine_options, window)
            self = object.__new__(cls)
            self._dir = d
            self._keep = keep_snapshots
            self._index = []
            self._recover(options, size, verify, progress)
            self._writer = _j._Writer(
                d,
                self.runner.seq + 1,
                self._append_to,
                policy=_j.SyncPolicy.GROUP,
                group_records=1 << 62,  # never syncs by itself: commit() does
                group_ms=1e15,
                segment_bytes=segment_bytes,
                on_durable=None,
                fmt=_FMT,
            )
        except BaseException:
            os.close(lock_fd)
            raise
        self._lock_fd = lock_fd
        self._buf = []
        self._buf_lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._appended = self.runner.seq
        self._durable = self.runner.seq
        self._checkpoints = self._load_checkpoints()
        self._closed = False
        self._snapshot_seq = self.recovery.snapshot_seq
        return self

    # ------------------------------------------------------------ recovery

    def _recover(
        self,
        options: dict[str, int],
        size: int,
        verify: bool,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> None:
        t0 = time.perf_counter()
        d = self._dir
        info = EntryLogRecovery()
        for stale in d.glob("*.tmp"):
            stale.unlink()
        runner: EngineRunner | None = None
        for seq, path in reversed(_j._list_dir(d, _FMT)[1]):
            try:
                runner, _ = EngineRunner.restore(_j._read_snapshot(path, seq))
                if runner.seq != seq or runner.window != size:
                    raise SnapshotError(
                        f"{path}: holds seq {runner.seq}, window {runner.window}"
                    )
            except SnapshotError as exc:
                info.skipped_snapshots.append((str(path), str(exc)))
                runner = None
                continue
            info.snapshot_seq, info.snapshot_path = seq, str(path)
            break
        if runner is None:
            runner = EngineRunner(Engine(**options), window=size)
        start = runner.seq
        torn: list[tuple[Path, int]] = []
        n = 0
        # bytes of the segments to read, for progress: where each one starts
        offset_of: dict[Path, int] = {}
        total = 0
        if progress is not None:
            for _first, seg in _j._segments_after(d, start, _FMT):
                offset_of[seg] = total
                total += seg.stat().st_size
        for seq, payload, path, off in _j._iter_records(
            d, start, _FMT, lambda p, o: torn.append((p, o))
        ):
            if seq != runner.seq + 1:
                raise JournalCorruptError(
                    path,
                    off,
                    f"entry {seq} follows the recovered state at {runner.seq}",
                )
            try:
                entry = decode_entry(payload)
                if entry.seq != seq:
                    raise EntryDecodeError(f"entry says seq {entry.seq}")
                runner.apply_entry(entry, verify=verify)
            except (EntryDecodeError, ValueError, InvariantError) as exc:
                raise JournalCorruptError(path, off, f"entry {seq}: {exc}") from None
            if n % _INDEX_EVERY == 0:
                self._index.append((seq, _FMT.segment_seq(path.name) or 0, off))
            n += 1
            if progress is not None and n % 10_000 == 0:
                progress(n, offset_of.get(path, 0) + off, total)
        if progress is not None:
            progress(n, total, total)
        for path, off in torn:
            info.truncated_path = str(path)
            if off == 0:
                info.truncated_bytes = path.stat().st_size
                path.unlink()
                _j._fsync_dir(d)
            else:
                info.truncated_bytes = path.stat().st_size - off
                _j._truncate(path, off)
        # Appending continues in the newest segment if its records end where
        # the recovered state does (what a crash left unsynced there counts as
        # acknowledged now: sync it); else a new segment starts after the state.
        segments = _j._list_dir(d, _FMT)[0]
        self._append_to = None
        if segments:
            first, newest = segments[-1]
            if n > 0 or self._ends_at(newest, first, runner.seq):
                self._append_to = newest
                fd = os.open(newest, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        info.replayed = n
        info.last_seq = runner.seq
        info.seconds = time.perf_counter() - t0
        self.runner = runner
        self.recovery = info

    def _ends_at(self, path: Path, first: int, seq: int) -> bool:
        """True if the segment ``path`` holds exactly the entries ``first..seq``."""
        last = first - 1
        for s, _p, _path, _o in _j._iter_records(self._dir, first - 1, _FMT):
            if _path != path:
                break
            last = s
        return last == seq

    # -------------------------------------------------- DurableEntryLog side

    def append(self, entry: Entry) -> None:
        """Buffer the next entry (cheap; call from the event loop)."""
        payload = encode_entry(entry)
        with self._buf_lock:
            if self._closed:
                raise JournalError("this LocalEntryLog is closed")
            if entry.seq != self._appended + 1:
                raise ValueError(f"entry {entry.seq} appended after {self._appended}")
            self._buf.append((entry.seq, payload))
            self._appended = entry.seq

    def commit(self) -> int:
        """Write and fdatasync everything appended; return the durable seq.

        Blocking: run it in a worker thread.  Raises ``JournalError`` on an
        I/O error (and on every later call: the log has failed).
        """
        with self._io_lock:
            with self._buf_lock:
                batch, self._buf = self._buf, []
            if not batch:
                return self._durable
            w = self._writer
            for seq, payload in batch:
                at = w.size + len(w.buf)  # where the record starts in its segment
                first = w.first_seq
                got = w.append(payload)
                if got != seq:  # pragma: no cover - append() checked the order
                    raise InvariantError(f"log wrote seq {got} for entry {seq}")
                if seq % _INDEX_EVERY == 0:
                    self._index.append((seq, first, at))
            w.commit(force_sync=True)
            self._durable = w.acked
            return self._durable

    def write_snapshot(self, seq: int, data: bytes) -> None:
        """Store a runner snapshot taken at entry ``seq``, then prune.

        ``seq`` must already be durable.  Starts a new segment, then keeps the
        newest ``keep_snapshots`` snapshots and deletes the segments that
        hold only entries at or below both the oldest kept snapshot and every
        consumer checkpoint.  Blocking (a worker thread).
        """
        with self._io_lock:
            if seq > self._durable:
                raise ValueError(
                    f"snapshot at {seq}, but only {self._durable} is durable"
                )
            if seq <= self._snapshot_seq:
                return
            path = _j._write_snapshot(self._dir, seq, data, _FMT)
            self._snapshot_seq = seq
            self._writer.rotate()
            try:
                _j._read_snapshot(path, seq)  # the newest must read back before pruning
            except SnapshotError:  # pragma: no cover - the disk lied
                return
            self._prune()

    def _prune(self) -> None:
        segments, snapshots = _j._list_dir(self._dir, _FMT)
        for _seq, path in snapshots[: -self._keep]:
            path.unlink()
        if len(snapshots) < self._keep:
            return  # the log from seq 1 stands in for the missing snapshots
        floor = snapshots[-self._keep][0]
        if self._checkpoints:
            floor = min(floor, min(self._checkpoints.values()))
        gone = 0
        for i in range(len(segments) - 1):
            if segments[i + 1][0] <= floor + 1:
                segments[i][1].unlink()
                gone = segments[i + 1][0]
        if gone:
            k = bisect.bisect_left(self._index, (gone, -1, -1))
            del self._index[:k]

    # ---------------------------------------------------------- checkpoints

    def _load_checkpoints(self) -> dict[str, int]:
        path = self._dir / "consumers.json"
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
            return {str(k): int(v) for k, v in data["checkpoints"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise JournalCorruptError(path, 0, f"unreadable: {exc}") from None

    def set_checkpoint(self, name: str, seq: int) -> None:
        """Record that consumer ``name`` has durably processed up to ``seq``.

        Entries after the smallest checkpoint are never pruned.  Register a
        consumer before it starts (``set_checkpoint(name, 0)`` keeps
        everything) and :meth:`remove_checkpoint` one that is gone for good.
        Blocking (writes ``consumers.json`` atomically).
        """
        if not isinstance(name, str) or not name or type(seq) is not int or seq < 0:
            raise ValueError("a checkpoint is a non-empty name and a seq >= 0")
        with self._io_lock:
            self._checkpoints[name] = seq
            _write_json(self._dir, "consumers.json", {"checkpoints": self._checkpoints})

    def remove_checkpoint(self, name: str) -> None:
        with self._io_lock:
            if self._checkpoints.pop(name, None) is not None:
                _write_json(
                    self._dir, "consumers.json", {"checkpoints": self._checkpoints}
                )

    @property
    def checkpoints(self) -> dict[str, int]:
        return dict(self._checkpoints)

    # ----------------------------------------------------- EntrySource side

    def head(self) -> int:
        """The last durable entry (readable from the files)."""
        return self._durable

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def snapshot_seq(self) -> int:
        """Seq of the newest runner snapshot written (0: none)."""
        return self._snapshot_seq

    async def read(
        self, after: int, limit: int = 1024, timeout: float | None = None
    ) -> list[Entry]:
        """Durable entries with ``seq > after`` from the files, oldest first.

        Waits (polling every 10 ms) up to ``timeout`` seconds for one;
        in-process consumers read the bus's tail, which wakes them at once.

        Raises
        ------
        LookupError
            The entries after ``after`` were pruned (register a checkpoint).
        JournalCorruptError
            The files are damaged.
        """
        if self._durable <= after:
            deadline = None if timeout is None else time.monotonic() + timeout
            while self._durable <= after:
                if deadline is not None and time.monotonic() >= deadline:
                    return []
                await asyncio.sleep(0.01)
        return await asyncio.to_thread(self.read_sync, after, limit)

    def read_sync(self, after: int, limit: int = 1024) -> list[Entry]:
        """:meth:`read` without waiting, blocking (run it in a thread)."""
        upto = min(self._durable, after + max(limit, 0))
        if upto <= after:
            return []
        first, off = self._locate(after + 1)
        out: list[Entry] = []
        seq = after + 1
        while seq <= upto:
            path = self._dir / _FMT.segment_name(first)
            try:
                f = path.open("rb", buffering=1 << 16)
            except FileNotFoundError:
                raise LookupError(f"entries after {after} were pruned") from None
            with f:
                first, off = self._read_segment(f, path, first, off, after, upto, out)
            seq = after + 1 + len(out)
        return out

    def _locate(self, seq: int) -> tuple[int, int]:
        """(first seq of the segment, offset) at or before the record ``seq``."""
        i = bisect.bisect_right(self._index, (seq, 1 << 64, 0)) - 1
        if i >= 0:
            s, first, off = self._index[i]
            return first, off
        segments = _j._segments_after(self._dir, seq - 1, _FMT)
        if not segments or segments[0][0] > seq:
            raise LookupError(f"entry {seq} was pruned")
        return segments[0][0], _j._SEG_HDR.size

    def _read_segment(
        self,
        f: BinaryIO,
        path: Path,
        first: int,
        off: int,
        after: int,
        upto: int,
        out: list[Entry],
    ) -> tuple[int, int]:
        """Read records from ``off`` into ``out``; return where to go next."""
        f.seek(off)
        seq = None
        while True:
            head = f.read(_j._REC_HDR.size)
            if not head:  # end of this segment: the next starts after it
                if seq is None:
                    raise JournalCorruptError(
                        path, off, "no record where one should be"
                    )
                return seq + 1, _j._SEG_HDR.size
            if len(head) < _j._REC_HDR.size:
                raise JournalCorruptError(path, off, "record header cut")
            n, seq, _hcrc = _j._REC_HDR.unpack(head)
            rest = f.read(n + 4)
            rec = head + rest
            if _j._record_at(rec, 0, _FMT) != len(rec):
                raise JournalCorruptError(path, off, f"bad record (seq {seq})")
            if seq > after:
                if seq != after + 1 + len(out):
                    raise JournalCorruptError(path, off, f"seq {seq} out of order")
                try:
                    out.append(decode_entry(rest[:-4]))
                except EntryDecodeError as exc:
                    raise JournalCorruptError(path, off, str(exc)) from None
                if seq >= upto:
                    return seq + 1, off + len(rec)
            off += len(rec)

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Write and sync what is buffered, close the files, release the lock."""
        with self._buf_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self.commit()
            with self._io_lock:
                self._writer.close()
        finally:
            os.close(self._lock_fd)

    def __enter__(self) -> LocalEntryLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LocalEntryLog {str(self._dir)!r} durable={self._durable}>"


def open_bus(
    directory: str | os.PathLike[str],
    *,
    snapshot_every: int | None = 100_000,
    keep: int | None = 100_000,
    **log_options: Any,
) -> InProcessBus:
    """An :class:`InProcessBus` on a :class:`LocalEntryLog` in ``directory``.

    The log is recovered now; use the bus as an async context manager, and
    close the log (``bus.log.close()``) after it.  ``snapshot_every``: write
    a runner snapshot every so many entries (None: only when asked).
    """
    log = LocalEntryLog.open(directory, **log_options)
    try:
        return InProcessBus(
            log.runner, log=log, keep=keep, snapshot_every=snapshot_every
        )
    except BaseException:
        log.close()
        raise
