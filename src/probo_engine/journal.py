"""Durability: a command journal, snapshot files and exact recovery after a crash.

:class:`DurableEngine` holds an :class:`~probo_engine.Engine` and a data
directory.  :meth:`DurableEngine.execute` applies a command record
(:mod:`probo_engine.commands`) to the engine and appends it to the journal;
the command is *acknowledged* (durable) once :attr:`DurableEngine.acked_seq`
reaches its sequence number.  :meth:`DurableEngine.open` recovers: it loads the
newest valid snapshot, replays the journal after it, and returns an engine in
exactly the state of a run that never crashed, up to the last command written.

Durability policies (``policy=``):

``"fsync"``
    ``fdatasync`` after every command: each is acknowledged before
    ``execute`` returns.  Bound by the disk's sync latency (about 7,000
    commands/s on the project's test machine).
``"group"`` (default)
    Group commit: records are buffered and written with one ``fdatasync``
    every ``group_records`` records or once ``group_ms`` milliseconds have
    passed since the oldest unsynced one.  There is no background thread: the
    check runs on every append, and a caller that goes idle calls
    :meth:`~DurableEngine.poll` (when :meth:`~DurableEngine.sync_due_in` says
    so) or :meth:`~DurableEngine.sync`.  Acknowledgements are held until the
    sync: release replies for commands up to ``acked_seq`` only.
``"none"``
    For simulations: records are buffered and written in large chunks, never
    synced; ``acked_seq`` follows ``appended_seq`` and promises nothing.

Files in the data directory (all integers little-endian):

``journal-<first seq, 20 digits>.wal``
    A segment: a 32-byte header ``magic "PROBOJNL", u16 version 1, u16 header
    size, u32 flags, u64 first seq, u32 command format version (when the
    segment was started: each record's payload names its own), u32 CRC32``
    and then records ``u32 payload length, u64 seq, u32 CRC32 of those 12 bytes,
    payload (the binary command), u32 CRC32 of everything before it``.  Command
    sequence numbers start at 1 and have no gaps.  A new segment starts once
    the current one reaches ``segment_bytes``, and at every snapshot.
``snapshot-<seq, 20 digits>.snap``
    A 40-byte header ``magic "PROBOSNP", u16 version 1, u16 header size, u32
    flags, u64 seq (last command included), u64 body length, u32 reserved,
    u32 CRC32 of the header's first 36 bytes and the body`` and then the
    engine's ``snapshot()`` (for :class:`~probo_engine.Engine`: the core's
    snapshot plus the user and market names, which recovery restores).
    Written to ``.tmp``, fsynced, renamed, and the directory fsynced.
``engine.json``
    The engine options (the core's limits), fixed when the directory is made.
``LOCK``
    Held with ``flock`` while a :class:`DurableEngine` is open: one writer.

Replay speed.  When the engine is a ``Core`` (``Engine`` is one) whose
batchable methods are the Core's own, recovery parses, checks (CRC32 in C,
zlib's polynomial) and decodes the records in C (``_replay``) and runs them
through ``Core.run_batch`` in chunks; any record it cannot handle exactly
(damage, an unknown type, an argument the core would refuse) goes through the
Python path, which reports every error.  :attr:`RecoveryInfo.replayed_c`
says how many commands took the C path.

Recovery rules.  A damaged record at the very end of the last segment (short,
or failing its CRC, with no valid record anywhere after it) is a write that a
crash tore: it was never acknowledged, so it is truncated away.  Any other
damage -- a bad record with valid records after it, a bad record in an
earlier segment, a gap or repeat in sequence numbers -- raises
:class:`JournalCorruptError` naming the file and byte offset.  Nothing is ever
skipped silently.

Snapshots need ``snapshot() -> bytes`` on the engine and the classmethod
``restore(bytes)`` on its class; both are feature-detected.  Without them
:meth:`~DurableEngine.snapshot` writes nothing and recovery replays the whole
journal from an empty engine.

Names are journaled: ``CreateUser(name=...)`` and ``CreateMarket(symbol=...)``
(command format 2) reach ``Engine.create_user``/``create_market`` by keyword,
and recovery restores them, from the journal or from a snapshot.  Journals of
command format 1 (no names) still recover.  :attr:`DurableEngine.engine` is a
read-only view (queries only), so nothing bypasses the journal.  A
:class:`DurableEngine` is single-threaded, like the engine it holds.

Damaged snapshots.  A snapshot that fails to load is renamed
``snapshot-<seq>.snap.corrupt`` (quarantined: listed in
:attr:`RecoveryInfo.quarantined`, logged as a warning on the
``probo_engine.journal`` logger) and recovery falls back on the next older
one.  Before pruning, :meth:`DurableEngine.snapshot` reads back the spares it
counts and quarantines any that fail, so pruning never deletes the snapshot or
journal that the newest sound recovery point needs.

Errors.  I/O failures come out as :class:`JournalError` (the ``OSError`` is its
``__cause__``): when opening, when writing a snapshot (nothing half-written
stays; the journal is intact and commands continue), and when appending or
syncing (the DurableEngine then refuses further commands).  A directory whose
``engine.json`` is missing beside journal or snapshot files is refused
(:class:`JournalCorruptError`): replaying under other limits would change
results.

Acknowledgement.  :meth:`DurableEngine.execute` returns as soon as the
command is applied and buffered (durable once :attr:`~DurableEngine.acked_seq`
reaches it).  :meth:`~DurableEngine.execute_durable` (blocking) and
``await`` :meth:`~DurableEngine.execute_async` (asyncio, group commit across
concurrent callers) return only once the command is on disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from probo_engine.commands import (
    _BY_CLASS,
    _BY_CODE,
    FORMAT_VERSION,
    CommandDecodeError,
    CommandRecord,
    call,
    decode,
    encode,
)
from probo_engine.engine import Engine
from probo_engine.errors import JournalCorruptError, JournalError, SnapshotError
from probo_engine.readonly import EngineView

if TYPE_CHECKING:
    from probo_engine._groupcommit import GroupCommit

try:
    from probo_engine import _replay as _replay_c
except ImportError:  # pragma: no cover - a build without it: Python replay
    _replay_c = None  # type: ignore[assignment]

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no directory lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DurableEngine",
    "JournalCorruptError",
    "JournalError",
    "JournalRecord",
    "RecoveryInfo",
    "SyncPolicy",
    "read_journal",
]

SEGMENT_MAGIC = b"PROBOJNL"
SNAPSHOT_MAGIC = b"PROBOSNP"
JOURNAL_VERSION = 1
SNAPSHOT_FILE_VERSION = 1
#: Largest payload a record may declare (commands are far smaller).
MAX_PAYLOAD = 1 << 16

_SEG_HDR = struct.Struct("<8sHHIQII")  # magic, version, hsize, flags, first, fmt, crc
_REC_HEAD = struct.Struct("<IQ")  # payload length, seq
_REC_HDR = struct.Struct("<IQI")  # ... and the CRC32 of those 12 bytes
_U32 = struct.Struct("<I")
# magic, version, hsize, flags, seq, body length, reserved 0, CRC32
_SNAP_HDR = struct.Struct("<8sHHIQQII")
_MIN_RECORD = _REC_HDR.size + 2 + 4  # header, smallest command, CRC


@dataclass(frozen=True)
class SegmentFormat:
    """What a segmented record log is made of: this journal's by default.

    The record framing, segment header layout, torn-tail rules and snapshot
    files are shared; another log (``adapters/locallog.py``'s entry log)
    changes only its magic, file names, payload version and payload sizes.
    """

    magic: bytes = SEGMENT_MAGIC  #: segment header magic (8 bytes)
    prefix: str = "journal"  #: segment files are ``<prefix>-<first seq>.<ext>``
    ext: str = "wal"
    snapshot_prefix: str = "snapshot"  #: ``<snapshot_prefix>-<seq>.snap``
    payload_version: int = FORMAT_VERSION  #: the header's payload format field
    min_payload: int = 2  #: smallest payload a record may declare
    max_payload: int = MAX_PAYLOAD  #: largest payload a record may declare

    @property
    def min_record(self) -> int:
        return _REC_HDR.size + self.min_payload + 4

    def segment_name(self, first_seq: int) -> str:
        return f"{self.prefix}-{first_seq:020d}.{self.ext}"

    def snapshot_name(self, seq: int) -> str:
        return f"{self.snapshot_prefix}-{seq:020d}.snap"

    def segment_seq(self, name: str) -> int | None:
        """The first seq in a segment file name, None if it is not one."""
        head, ext = f"{self.prefix}-", f".{self.ext}"
        digits = name[len(head) : -len(ext)]
        if (
            name.startswith(head)
            and name.endswith(ext)
            and len(digits) == 20
            and digits.isdecimal()
        ):
            return int(digits)
        return None

    def snapshot_seq(self, name: str) -> int | None:
        head = f"{self.snapshot_prefix}-"
        digits = name[len(head) : -5]
        if (
            name.startswith(head)
            and name.endswith(".snap")
            and len(digits) == 20
            and digits.isdecimal()
        ):
            return int(digits)
        return None


#: The command journal's format (the module docstring).
JOURNAL_FORMAT = SegmentFormat()
_NONE_FLUSH_BYTES = 1 << 20  # policy "none" writes in chunks of about this size
_log = logging.getLogger("probo_engine.journal")


class SyncPolicy(str, Enum):
    """When appended commands become durable (and so acknowledged)."""

    FSYNC = "fsync"  #: fdatasync after every command
    GROUP = "group"  #: fdatasync every N records or T ms (group commit)
    NONE = "none"  #: never sync (simulations)


class JournalRecord(NamedTuple):
    """One record read back by :func:`read_journal`."""

    seq: int
    command: CommandRecord
    path: str
    offset: int


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


# ------------------------------------------------------------------- helpers


def _snapshot_name(seq: int) -> str:
    return JOURNAL_FORMAT.snapshot_name(seq)


def _list_dir(
    directory: Path, fmt: SegmentFormat = JOURNAL_FORMAT
) -> tuple[list[tuple[int, Path]], list[tuple[int, Path]]]:
    segments, snapshots = [], []
    for entry in os.scandir(directory):
        if (first := fmt.segment_seq(entry.name)) is not None:
            segments.append((first, Path(entry.path)))
        elif (seq := fmt.snapshot_seq(entry.name)) is not None:
            snapshots.append((seq, Path(entry.path)))
    segments.sort()
    snapshots.sort()
    return segments, snapshots


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_datasync = getattr(os, "fdatasync", os.fsync)


def _quarantine(path: Path, why: str) -> Path:
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
    _fsync_dir(path.parent)
    _log.warning("quarantined damaged snapshot %s as %s: %s", path, target.name, why)
    return target


def _segment_header(first_seq: int, fmt: SegmentFormat = JOURNAL_FORMAT) -> bytes:
    head = _SEG_HDR.pack(
        fmt.magic,
        JOURNAL_VERSION,
        _SEG_HDR.size,
        0,
        first_seq,
        fmt.payload_version,
        0,
    )
    return head[:-4] + _U32.pack(zlib.crc32(head[:-4]))


def _check_segment_header(
    buf: bytes, path: Path, first_seq: int, fmt: SegmentFormat = JOURNAL_FORMAT
) -> str | None:
    """None if the header is sound, else why not."""
    if len(buf) < _SEG_HDR.size:
        return f"segment header is short ({len(buf)} bytes)"
    magic, version, hsize, _flags, first, _fmt, crc = _SEG_HDR.unpack_from(buf)
    if zlib.crc32(buf[: _SEG_HDR.size - 4]) != crc or magic != fmt.magic:
        return "segment header fails its magic or CRC"
    if version != JOURNAL_VERSION or hsize != _SEG_HDR.size:
        return f"segment format version {version} is not {JOURNAL_VERSION}"
    if first != first_seq:
        return f"segment header says first seq {first}, its name {first_seq}"
    return None


def _record_at(buf: bytes, off: int, fmt: SegmentFormat = JOURNAL_FORMAT) -> int:
    """End offset of a complete, valid record at ``off``, else -1."""
    end = len(buf)
    if off + fmt.min_record > end:
        return -1
    n, _seq, hcrc = _REC_HDR.unpack_from(buf, off)
    if (
        zlib.crc32(buf[off : off + 12]) != hcrc
        or not fmt.min_payload <= n <= fmt.max_payload
    ):
        return -1
    rend: int = off + 16 + n
    if rend + 4 > end or zlib.crc32(buf[off:rend]) != _U32.unpack_from(buf, rend)[0]:
        return -1
    return rend + 4


def _diagnose(
    buf: bytes,
    off: int,
    seq: int,
    path: Path,
    is_last: bool,
    fmt: SegmentFormat = JOURNAL_FORMAT,
) -> str:
    """Decide what the record at ``off`` (expected ``seq``) is.

    Returns the reason when it is a torn tail (the caller truncates at ``off``);
    raises :class:`JournalCorruptError` when it is anything else.
    """
    end = len(buf)
    rend = _record_at(buf, off, fmt)
    if rend >= 0:  # sound record, wrong number: never a crash
        found = _REC_HDR.unpack_from(buf, off)[1]
        raise JournalCorruptError(path, off, f"record seq {found}, expected {seq}")
    if end - off < _REC_HDR.size:
        reason = f"short record header ({end - off} bytes)"
    else:
        n, found, hcrc = _REC_HDR.unpack_from(buf, off)
        if zlib.crc32(buf[off : off + 12]) != hcrc:
            reason = "record header fails its CRC"
        elif found != seq:
            raise JournalCorruptError(path, off, f"record seq {found}, expected {seq}")
        elif not fmt.min_payload <= n <= fmt.max_payload:
            reason = f"record length {n} out of range"
        elif off + 20 + n > end:
            reason = f"record of {20 + n} bytes cut at {end - off}"
        else:
            reason = "record fails its CRC"
    if not is_last:
        raise JournalCorruptError(path, off, reason + " (not the last segment)")
    # A torn write leaves nothing valid after it.  Look for any sound record
    # later in the file; one only ever is there after mid-file damage.
    min_record = fmt.min_record
    lo, hi = seq, seq + (end - off) // min_record + 1
    for pos in range(off + 1, end - min_record + 1):
        later = _REC_HEAD.unpack_from(buf, pos)[1]
        if lo <= later <= hi and _record_at(buf, pos, fmt) >= 0:
            raise JournalCorruptError(
                path, off, f"{reason}, with a valid record (seq {later}) at {pos}"
            )
    return reason


# ------------------------------------------------------------------ progress


class ProgressBar:
    """A minimal replay progress line on stderr (``progress=True``)."""

    def __init__(self, stream: Any = None, interval: float = 0.2) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, done: int, total: int, commands: int) -> None:
        now = time.monotonic()
        final = done >= total
        if not final and now - self._last < self._interval:
            return
        self._last = now
        pct = 100.0 * done / total if total else 100.0
        rate = commands / max(now - self._start, 1e-9)
        bar = "#" * int(pct / 5)
        self._stream.write(
            f"\rreplaying journal [{bar:<20}] {pct:5.1f}% "
            f"{commands:,} commands ({rate:,.0f}/s)"
        )
        if final:
            self._stream.write("\n")
        self._stream.flush()


ProgressCallback = Callable[[int, int, int], None]


# -------------------------------------------------------------------- writer


class _Writer:
    """Appends records to the newest segment under a sync policy."""

    def __init__(
        self,
        directory: Path,
        next_seq: int,
        segment: Path | None,
        *,
        policy: SyncPolicy,
        group_records: int,
        group_ms: float,
        segment_bytes: int,
        on_durable: Callable[[int], None] | None,
        fmt: SegmentFormat = JOURNAL_FORMAT,
    ) -> None:
        self.directory = directory
        self.fmt = fmt
        self.policy = policy
        self.group_records = group_records
        self.group_s = group_ms / 1000.0
        self.segment_bytes = segment_bytes
        self.on_durable = on_durable
        self.seq = next_seq - 1  # last appended
        self.acked = self.seq  # last durable
        self.reported = self.seq  # last acked_seq passed to on_durable
        self.first_seq = next_seq  # first seq of the open segment
        self.buf = bytearray()
        self.pending = 0
        self.first_pending = 0.0
        self.failed: BaseException | None = None
        self.fd = -1
        self.size = 0
        if segment is None:
            self._create_segment(next_seq)
        else:
            self.fd = os.open(segment, os.O_WRONLY | os.O_APPEND)
            self.size = os.fstat(self.fd).st_size
            self.first_seq = fmt.segment_seq(segment.name)  # type: ignore[assignment]
            if self.size >= segment_bytes:
                self._rotate()

    # The record layout is documented in the module docstring.
    def _buffer(self, payload: bytes) -> int:
        if self.failed is not None:
            raise JournalError(f"journal failed earlier: {self.failed!r}")
        seq = self.seq + 1
        head = _REC_HEAD.pack(len(payload), seq)
        head += _U32.pack(zlib.crc32(head))
        buf = self.buf
        buf += head
        buf += payload
        buf += _U32.pack(zlib.crc32(payload, zlib.crc32(head)))
        self.seq = seq
        return seq

    def append_buffered(self, payload: bytes) -> int:
        """Append with no sync of the policy's: the caller syncs (the group
        commit of :meth:`DurableEngine.execute_async`)."""
        seq = self._buffer(payload)
        if self.size + len(self.buf) >= self.segment_bytes:
            self._rotate()
        return seq

    def write_out(self) -> int:
        """Write the buffer, no sync; return the last seq now in the file."""
        if self.failed is not None:
            raise JournalError(f"journal failed earlier: {self.failed!r}")
        try:
            if self.buf:
                self.size += _write_all(self.fd, self.buf)
                self.buf.clear()
        except BaseException as exc:
            self.failed = exc
            raise JournalError(f"journal write failed: {exc!r}") from exc
        return self.seq

    def synced(self, seq: int) -> None:
        """Everything up to ``seq`` (written by :meth:`write_out`) is synced."""
        if seq <= self.acked:
            return
        self.acked = seq
        if seq >= self.seq:
            self.pending = 0
        if self.on_durable is not None and seq > self.reported:
            self.reported = seq
            self.on_durable(seq)

    def append(self, payload: bytes) -> int:
        seq = self._buffer(payload)
        buf = self.buf
        policy = self.policy
        if policy is SyncPolicy.FSYNC:
            self.commit()
        elif policy is SyncPolicy.GROUP:
            self.pending += 1
            if self.pending == 1:
                self.first_pending = time.monotonic()
                if self.group_records <= 1:
                    self.commit()
            elif (
                self.pending >= self.group_records
                or time.monotonic() - self.first_pending >= self.group_s
            ):
                self.commit()
        else:
            self.acked = seq
            if len(buf) >= _NONE_FLUSH_BYTES:
                self.commit()
        if self.size + len(self.buf) >= self.segment_bytes:
            self._rotate()
        return seq

    def due_in(self) -> float | None:
        if self.policy is not SyncPolicy.GROUP or not self.pending:
            return None
        return max(0.0, self.first_pending + self.group_s - time.monotonic())

    def poll(self) -> int:
        due = self.due_in()
        if due is not None and due <= 0.0:
            self.commit()
        return self.acked

    def commit(self, force_sync: bool = False) -> None:
        """Write the buffer and sync (unless policy none); advance ``acked``."""
        if self.failed is not None:
            raise JournalError(f"journal failed earlier: {self.failed!r}")
        try:
            if self.buf:
                self.size += _write_all(self.fd, self.buf)
                self.buf.clear()
            if self.policy is not SyncPolicy.NONE or force_sync:
                _datasync(self.fd)
        except BaseException as exc:
            self.failed = exc
            raise JournalError(f"journal write failed: {exc!r}") from exc
        self.pending = 0
        self.acked = self.seq
        if self.on_durable is not None and self.acked > self.reported:
            self.reported = self.acked
            self.on_durable(self.acked)

    def _create_segment(self, first_seq: int) -> None:
        path = self.directory / self.fmt.segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            _write_all(fd, _segment_header(first_seq, self.fmt))
            if self.policy is not SyncPolicy.NONE:
                _datasync(fd)
                _fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.size = _SEG_HDR.size
        self.first_seq = first_seq

    def _rotate(self) -> None:
        self.commit()
        if self.first_seq == self.seq + 1:  # the open segment is still empty
            return
        os.close(self.fd)
        self.fd = -1
        try:
            self._create_segment(self.seq + 1)
        except BaseException as exc:
            self.failed = exc
            raise JournalError(f"cannot start a journal segment: {exc!r}") from exc

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            if self.failed is None:
                self.commit(force_sync=True)
        finally:
            os.close(self.fd)
            self.fd = -1


# ------------------------------------------------------------------- reading


def _segments_after(
    directory: Path, after: int, fmt: SegmentFormat = JOURNAL_FORMAT
) -> list[tuple[int, Path]]:
    """The segments holding the records after ``after``, oldest first."""
    segments, _ = _list_dir(directory, fmt)
    start = 0
    for i, (first, _path) in enumerate(segments):
        if first <= after + 1:
            start = i
    return segments[start:]


def read_journal(
    directory: str | os.PathLike[str], after: int = 0
) -> Iterator[JournalRecord]:
    """Yield the journal's records with seq ``> after``, in order, read-only.

    A torn tail ends the iteration quietly (it was never acknowledged);
    mid-file damage raises :class:`JournalCorruptError`.  Do not call this on a
    directory another process is writing.
    """
    for seq, payload, path, off in _iter_records(Path(directory), after):
        try:
            cmd = decode(payload)
        except CommandDecodeError as exc:
            raise JournalCorruptError(path, off, str(exc)) from None
        yield JournalRecord(seq, cmd, str(path), off)


def _iter_records(
    d: Path,
    after: int,
    fmt: SegmentFormat = JOURNAL_FORMAT,
    on_torn: Callable[[Path, int], None] | None = None,
) -> Iterator[tuple[int, bytes, Path, int]]:
    """``(seq, payload, path, offset)`` of the sound records with seq > ``after``.

    Stops at a torn tail (a damaged end of the last segment with nothing valid
    after it), telling ``on_torn(path, offset)`` where it starts (offset 0:
    the whole last segment, whose header a crash tore); raises
    :class:`JournalCorruptError` for any other damage, a gap or a repeat.
    """
    segments = _segments_after(d, after, fmt)
    expected: int | None = None
    for i, (first, path) in enumerate(segments):
        is_last = i == len(segments) - 1
        buf = path.read_bytes()
        bad = _check_segment_header(buf, path, first, fmt)
        if bad is not None:
            if is_last and not _any_record(buf, first, fmt):
                if on_torn is not None:
                    on_torn(path, 0)
                return
            raise JournalCorruptError(path, 0, bad)
        if expected is None:
            expected = first
        elif first != expected:
            raise JournalCorruptError(
                path, 0, f"segment starts at {first}, expected {expected}"
            )
        off = _SEG_HDR.size
        while off < len(buf):
            rend = _record_at(buf, off, fmt)
            if rend < 0 or _REC_HDR.unpack_from(buf, off)[1] != expected:
                _diagnose(buf, off, expected, path, is_last, fmt)
                if on_torn is not None:
                    on_torn(path, off)
                return
            if expected > after:
                yield expected, buf[off + 16 : rend - 4], path, off
            expected += 1
            off = rend


def _any_record(buf: bytes, seq: int, fmt: SegmentFormat = JOURNAL_FORMAT) -> bool:
    min_record = fmt.min_record
    hi = seq + len(buf) // min_record + 1
    for pos in range(len(buf) - min_record + 1):
        later = _REC_HEAD.unpack_from(buf, pos)[1]
        if seq <= later <= hi and _record_at(buf, pos, fmt) >= 0:
            return True
    return False


# ------------------------------------------------------------------ snapshot


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> int:
    view = memoryview(data).cast("B")
    done = 0
    try:
        while done < len(view):
            done += os.write(fd, view[done:])
    finally:
        view.release()
    return done


def _write_snapshot(
    directory: Path,
    seq: int,
    body: bytes | bytearray,
    fmt: SegmentFormat = JOURNAL_FORMAT,
) -> Path:
    head = _SNAP_HDR.pack(
        SNAPSHOT_MAGIC, SNAPSHOT_FILE_VERSION, _SNAP_HDR.size, 0, seq, len(body), 0, 0
    )
    crc = zlib.crc32(body, zlib.crc32(head[:36]))
    head = head[:36] + _U32.pack(crc)
    final = directory / fmt.snapshot_name(seq)
    tmp = final.with_name(final.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, head)
            _write_all(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        _fsync_dir(directory)
    except OSError as exc:
        # Nothing half-written stays behind; the journal is untouched.
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise JournalError(
            f"snapshot {final.name} not written: {exc} (the journal is intact "
            "and commands continue; recovery replays it from the last snapshot)"
        ) from exc
    return final


def _read_snapshot(path: Path, seq: int) -> bytes:
    """The body of a snapshot file; SnapshotError if it is not sound."""
    data = path.read_bytes()
    if len(data) < _SNAP_HDR.size:
        raise SnapshotError(f"{path}: short snapshot file ({len(data)} bytes)")
    magic, version, hsize, _flags, s, n, _reserved, crc = _SNAP_HDR.unpack_from(data)
    if magic != SNAPSHOT_MAGIC or version != SNAPSHOT_FILE_VERSION:
        raise SnapshotError(f"{path}: not a version {SNAPSHOT_FILE_VERSION} snapshot")
    if hsize != _SNAP_HDR.size or s != seq or n != len(data) - hsize:
        raise SnapshotError(f"{path}: header does not match the file")
    if zlib.crc32(data[hsize:], zlib.crc32(data[:36])) != crc:
        raise SnapshotError(f"{path}: CRC mismatch")
    return data[hsize:]


# -------------------------------------------------------------------- engine


class DurableEngine:
    """An :class:`~probo_engine.Engine` whose commands go through a journal.

    Create or recover one with :meth:`open`; use it as a context manager or
    call :meth:`close`.  Query the state through :attr:`engine`; change it only
    through :meth:`execute`, or the change is not journaled.

    >>> import tempfile
    >>> from probo_engine.commands import CreateMarket, CreateUser, Deposit
    >>> d = tempfile.mkdtemp()
    >>> with DurableEngine.open(d, policy="fsync") as db:
    ...     db.execute(CreateMarket()), db.execute(CreateUser())
    ...     db.execute(Deposit(0, 5000)), db.acked_seq
    (0, 0)
    (0, 3)
    >>> with DurableEngine.open(d) as db:
    ...     db.engine.balance(0), db.appended_seq
    ((5000, 0), 3)
    """

    _engine: Any
    _writer: _Writer
    _dir: Path
    _lock_fd: int
    _keep: int
    _snapshot_seq: int
    _closed: bool
    _view: EngineView
    _gc: GroupCommit | None
    recovery: RecoveryInfo  #: what the last :meth:`open` found and did

    def __init__(self, *_: object, **__: object) -> None:
        raise TypeError("use DurableEngine.open(directory)")

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        *,
        policy: SyncPolicy | str = SyncPolicy.GROUP,
        group_records: int = 256,
        group_ms: float = 2.0,
        segment_bytes: int = 64 << 20,
        keep_snapshots: int = 2,
        engine_cls: type = Engine,
        engine_options: dict[str, int] | None = None,
        progress: bool | ProgressCallback | None = None,
        on_durable: Callable[[int], None] | None = None,
    ) -> DurableEngine:
        """Open (creating if needed) a data directory and recover its state.

        Parameters
        ----------
        directory : path
            The data directory; created if missing.
        policy : {"group", "fsync", "none"}
            See the module docstring.
        group_records, group_ms : int, float
            Group commit triggers: sync once this many records are pending, or
            once the oldest pending one is this old (checked on each append and
            by :meth:`poll`).
        segment_bytes : int
            Start a new segment once the current one reaches this size.
        keep_snapshots : int
            Snapshot files to keep (>= 1).  Once there are that many, older
            snapshots and the journal segments older than the oldest kept one
            are deleted; a damaged newest snapshot then falls back on an older
            one (the default 2 keeps one spare).
        engine_cls : type
            The engine class (``Engine`` by default; anything with the Core
            methods).  Snapshots are used only if it has ``restore``.
        engine_options : dict, optional
            Keyword arguments for ``engine_cls`` (the core's limits:
            ``max_qty``, ``max_open_orders``, ``max_balance``, ``max_levels``).
            They shape results, so they are stored in the directory
            (``engine.json``) when it is created and reused on every open;
            passing different ones for an existing directory raises
            ``ValueError``.
        progress : bool or callable, optional
            ``True`` draws a progress line on stderr during replay; a callable
            gets ``(bytes_done, bytes_total, commands_replayed)``.
        on_durable : callable, optional
            Called with the new ``acked_seq`` whenever the journal syncs.

        Raises
        ------
        JournalCorruptError
            Damage a crash cannot explain (names the file and offset).
        JournalError
            The directory is in use by another :class:`DurableEngine`.
        """
        policy = SyncPolicy(policy)
        if min(group_records, segment_bytes, keep_snapshots) < 1 or group_ms < 0:
            raise ValueError(
                "group_records, segment_bytes and keep_snapshots must be >= 1, "
                "group_ms >= 0"
            )
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
            lock_fd = _lock(d)
        except OSError as exc:
            raise JournalError(f"cannot open {d}: {exc}") from exc
        try:
            if progress is True:
                progress = ProgressBar()
            options = _engine_options(d, engine_options)
            engine, info, segment = _recover(
                d,
                lambda: engine_cls(**options),
                getattr(engine_cls, "restore", None),
                progress or None,
            )
            writer = _Writer(
                d,
                info.last_seq + 1,
                segment,
                policy=policy,
                group_records=group_records,
                group_ms=group_ms,
                segment_bytes=segment_bytes,
                on_durable=on_durable,
            )
        except OSError as exc:
            os.close(lock_fd)
            raise JournalError(f"cannot open {d}: {exc}") from exc
        except BaseException:
            os.close(lock_fd)
            raise
        self = object.__new__(cls)
        self._engine = engine
        self._writer = writer
        self._dir = d
        self._lock_fd = lock_fd
        self._keep = keep_snapshots
        self._snapshot_seq = info.snapshot_seq
        self._closed = False
        self._view = EngineView(engine)
        self._gc = None
        self.recovery = info
        return self

    # ------------------------------------------------------------ commands

    def execute(self, cmd: CommandRecord) -> Any:
        """Apply a command record to the engine and append it to the journal.

        Returns the engine method's result (a new id, an oid, a count, 0, or
        ``-code`` for a refusal).  The command is durable once :attr:`acked_seq` reaches
        :attr:`appended_seq` as it is on return.

        Raises
        ------
        TypeError, ValueError, OverflowError
            Misuse the engine refuses (a non-integer field, an enum out of
            range, a bad market grid): nothing is applied or journaled.
        JournalError
            The journal is closed or has failed.
        """
        result, payload = self._apply(cmd)
        writer = self._writer
        try:
            writer.append(payload)
        except BaseException as exc:
            # The engine is now ahead of the journal: refuse further use.
            if writer.failed is None:
                writer.failed = exc
            raise
        return result

    def execute_durable(self, cmd: CommandRecord) -> Any:
        """:meth:`execute`, returning only once the command is on disk.

        Whatever the policy (except ``"none"``, which never syncs), the
        journal is synced before this returns, so the result may be
        acknowledged at once.  Each call costs a sync; many concurrent
        callers share syncs through :meth:`execute_async`.
        """
        result, payload = self._apply(cmd)
        writer = self._writer
        try:
            seq = writer.append(payload)
            if writer.acked < seq:
                writer.commit()
        except BaseException as exc:
            if writer.failed is None:
                writer.failed = exc
            raise
        return result

    async def execute_async(self, cmd: CommandRecord) -> Any:
        """Apply ``cmd`` and return its result once it is on disk.

        For asyncio servers: the ``await`` returns only after the journal
        holding the command is synced, so the result may be acknowledged at
        once.  Concurrent callers in one event loop share syncs (group
        commit): while one ``fdatasync`` runs in the loop's default executor,
        the commands that arrive are applied and buffered, and the next sync
        covers them all (``_groupcommit``).  The command is applied to the
        engine at once, in call order, whatever the policy; under policy
        ``"none"`` nothing waits.  A caller cancelled while waiting does not
        unapply its command: it becomes durable with the next sync.

        Raises as :meth:`execute` does; ``JournalError`` if the sync fails
        (the DurableEngine then refuses further commands).
        """
        result, payload = self._apply(cmd)
        writer = self._writer
        try:
            if writer.policy is SyncPolicy.NONE:
                writer.append(payload)
                return result
            seq = writer.append_buffered(payload)
        except BaseException as exc:
            if writer.failed is None:
                writer.failed = exc
            raise
        if writer.acked < seq:
            gc = self._gc
            if gc is None or not gc.loop.is_running():
                gc = self._group_commit()  # first use, or a new event loop
            await gc.wait(seq)
        return result

    def _group_commit(self) -> GroupCommit:
        import asyncio  # here: ``import probo_engine`` stays free of asyncio

        from probo_engine._groupcommit import GroupCommit

        loop = asyncio.get_running_loop()
        gc = self._gc
        if gc is not None and gc.loop is not loop and gc.loop.is_running():
            raise RuntimeError("execute_async is in use in another event loop")
        if gc is None or gc.loop is not loop:
            # A loop that has stopped took its waiters with it; anything they
            # appended is synced by the next sync here or by close().
            gc = self._gc = GroupCommit(self._writer, loop)
        return gc

    def _apply(self, cmd: CommandRecord) -> tuple[Any, bytes]:
        """Apply a command to the engine; return its result and its record."""
        try:
            spec = _BY_CLASS[type(cmd)]
        except KeyError:
            raise TypeError(f"not a command record: {cmd!r}") from None
        writer = self._writer
        if writer.failed is not None or self._closed:
            raise JournalError("this DurableEngine is closed or has failed")
        if spec.names:
            # Names are checked by encoding them first (then, as below, the
            # engine validates everything before it changes anything).
            payload = encode(cmd)
            result = call(getattr(self._engine, spec.method), spec, cmd)
        else:
            # The core validates every argument before it changes anything,
            # and accepts exactly the int64 values the encoding holds: applying
            # first means misuse is never journaled, and the pack cannot fail.
            result = getattr(self._engine, spec.method)(*cmd)
            payload = spec.struct.pack(FORMAT_VERSION, spec.code, *cmd)
        return result, payload

    @property
    def engine(self) -> EngineView:
        """The engine's queries: a read-only :class:`~probo_engine.readonly.EngineView`.

        Every change goes through :meth:`execute` (and so the journal); the
        view refuses the engine's commands with ``AttributeError``.
        """
        return self._view

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def policy(self) -> SyncPolicy:
        return self._writer.policy

    @property
    def appended_seq(self) -> int:
        """Sequence number of the last command executed (journaled, maybe unsynced)."""
        return self._writer.seq

    @property
    def acked_seq(self) -> int:
        """Every command up to this sequence number is durable (acknowledged)."""
        return self._writer.acked

    @property
    def snapshot_seq(self) -> int:
        """Command seq of the newest durable snapshot (0 if none)."""
        return self._snapshot_seq

    def sync_due_in(self) -> float | None:
        """Seconds until group commit wants a :meth:`poll` (None: nothing pending)."""
        return self._writer.due_in()

    def poll(self) -> int:
        """Sync if the group-commit deadline has passed; return :attr:`acked_seq`."""
        return self._writer.poll()

    def sync(self) -> int:
        """Write and sync everything appended now; return :attr:`acked_seq`."""
        self._check_open()
        self._writer.commit(force_sync=True)
        return self._writer.acked

    def snapshot(self) -> int | None:
        """Write a snapshot of the current state; return its command seq.

        Syncs the journal first, writes the snapshot atomically, starts a new
        journal segment, then deletes snapshots beyond ``keep_snapshots`` and
        the segments older than the oldest snapshot kept.  Returns ``None``
        (and writes nothing) when the engine has no ``snapshot``/``restore``.
        """
        self._check_open()
        take = getattr(self._engine, "snapshot", None)
        if not callable(take) or not callable(
            getattr(type(self._engine), "restore", None)
        ):
            return None
        w = self._writer
        w.commit(force_sync=True)
        seq = w.seq
        if seq == self._snapshot_seq and (self._dir / _snapshot_name(seq)).exists():
            return seq
        _write_snapshot(self._dir, seq, take())
        self._snapshot_seq = seq
        w._rotate()
        self._prune()
        return seq

    def _prune(self) -> None:
        segments, snapshots = _list_dir(self._dir)
        # Only sound snapshots count: the spares are read back and checked
        # (the newest was just written and synced); a damaged one is
        # quarantined, so it is never counted and the journal it would have
        # replaced stays.
        for seq, path in snapshots[-self._keep : -1]:
            try:
                _read_snapshot(path, seq)
            except (SnapshotError, OSError) as exc:
                _quarantine(path, str(exc))
        segments, snapshots = _list_dir(self._dir)
        if len(snapshots) < self._keep:
            return  # the journal from seq 1 stands in for the missing ones
        oldest = snapshots[-self._keep][0]
        for i in range(len(segments) - 1):
            if segments[i + 1][0] <= oldest + 1:
                segments[i][1].unlink()
        for _seq, path in snapshots[: -self._keep]:
            path.unlink()

    # ------------------------------------------------------------ lifetime

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("this DurableEngine is closed")

    def close(self) -> None:
        """Sync, close the journal and release the directory lock."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
            if self._gc is not None:
                self._gc.release_all()  # closing synced everything
        finally:
            os.close(self._lock_fd)

    async def aclose(self) -> None:
        """:meth:`close` after the sync in flight (if any) has finished."""
        if self._gc is not None:
            await self._gc.drain()
        self.close()

    def __enter__(self) -> DurableEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> DurableEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<DurableEngine {str(self._dir)!r} policy={self.policy.value} "
            f"appended={self.appended_seq} acked={self.acked_seq}>"
        )


def _lock(directory: Path) -> int:
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise JournalError(f"{directory} is in use by another process") from None
    return fd


# ------------------------------------------------------------------ recovery


def _engine_options(d: Path, given: dict[str, int] | None) -> dict[str, int]:
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
    segments, snapshots = _list_dir(d)
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
            _write_all(fd, text.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(d)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return options


def _recover(
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
    snapshots = _list_dir(d)[1]
    engine = None
    if callable(restore):
        for seq, path in reversed(snapshots):
            try:
                engine = restore(_read_snapshot(path, seq))
            except SnapshotError as exc:
                info.skipped_snapshots.append((str(path), str(exc)))
                info.quarantined.append(str(_quarantine(path, str(exc))))
                continue
            info.snapshot_seq, info.snapshot_path = seq, str(path)
            break
    if engine is None:
        engine = new_engine()
    start = info.snapshot_seq
    segments = _segments_after(d, start)
    if segments and segments[0][0] > start + 1:
        raise JournalCorruptError(
            segments[0][1],
            0,
            f"journal starts at seq {segments[0][0]} but the state recovered "
            f"(snapshot {info.snapshot_path or 'none'}) ends at seq {start}",
        )
    # Per type code: payload size (-1: commands with names, never on the
    # fast path), the fields' unpacker, the bound method, the spec.
    table: list[Any] = [None] * 256
    for code, spec in enumerate(_BY_CODE):
        if spec is not None:
            table[code] = (
                -1 if spec.names else spec.size,
                spec.body.unpack_from,
                getattr(engine, spec.method),
                spec,
                spec.bool_offsets,
            )
    fast = _c_replayer(engine)
    total = sum(p.stat().st_size for _f, p in segments)
    done_bytes = 0
    seq = segments[0][0] if segments else start + 1  # next expected
    append_to: Path | None = None
    for i, (first, path) in enumerate(segments):
        is_last = i == len(segments) - 1
        buf = path.read_bytes()
        bad = _check_segment_header(buf, path, first)
        if first != seq:
            raise JournalCorruptError(
                path, 0, f"segment starts at {first}, expected {seq}"
            )
        if bad is not None:
            if is_last and not _any_record(buf, first):
                # Crashed while starting this segment: it holds nothing.
                info.truncated_path, info.truncated_bytes = str(path), len(buf)
                path.unlink()
                _fsync_dir(d)
                break
            raise JournalCorruptError(path, 0, bad)
        off, seq, n, n_c = _replay(
            buf,
            path,
            seq,
            start,
            table,
            progress,
            done_bytes,
            total,
            info.replayed,
            fast,
        )
        info.replayed += n
        info.replayed_c += n_c
        if off < len(buf):
            _diagnose(buf, off, seq, path, is_last)  # raises unless torn
            info.truncated_path, info.truncated_bytes = str(path), len(buf) - off
            _truncate(path, off)
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


def _truncate(path: Path, off: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, off)
        os.fsync(fd)
    finally:
        os.close(fd)


#: Use the C replay path (``_replay``) when the engine allows it; the tests
#: turn it off to compare it with the Python path.
_C_REPLAY = True
#: The Core methods that the C path runs through ``Core.run_batch``: an
#: engine class that overrides any of them is replayed in Python.
_BATCHED = (
    "place",
    "place_market",
    "cancel",
    "amend",
    "cancel_all",
    "deposit",
    "withdraw",
    "mint",
    "merge",
    "halt",
    "resume",
    "close",
    "resolve",
    "expire",
)


def _c_replayer(engine: Any) -> Any:
    """A ``_replay.Replayer`` for ``engine``, or None (replay in Python)."""
    if not _C_REPLAY or _replay_c is None or not _replay_c.LITTLE_ENDIAN:
        return None
    from probo_engine._book import Core

    cls = type(engine)
    # Engine's own overrides only add names to the ids of Core's methods (the
    # journal holds ids), so they replay in C too.
    if not isinstance(engine, Core) or any(
        getattr(cls, name, None) not in (getattr(Core, name), Engine.__dict__.get(name))
        for name in _BATCHED
    ):
        return None
    return _replay_c.Replayer(engine, FORMAT_VERSION)


def _replay(
    buf: bytes,
    path: Path,
    seq: int,
    skip_to: int,
    table: list[Any],
    progress: ProgressCallback | None,
    done: int,
    total: int,
    replayed: int,
    fast: Any = None,
) -> tuple[int, int, int, int]:
    """Apply the sound records of one segment; stop at the first anomaly.

    ``fast`` (a ``_replay.Replayer``, or None) applies every record it can in
    C; each record it stops at goes through the Python path below, which
    either applies it (then C resumes) or stops at it, keeping all of the
    error reporting in one place.

    Returns ``(offset reached, next expected seq, commands applied, of which
    in C)``.  The caller diagnoses an offset short of the end.  ``progress``
    (if any) is told every 65,536 commands in Python, every C chunk in C,
    counting from ``done`` bytes and ``replayed`` commands before this segment.
    """
    off = _SEG_HDR.size
    applied = in_c = 0
    while True:
        if fast is not None:
            on_chunk = None
            if progress is not None:

                def on_chunk(o: int, k: int, base: int = replayed + applied) -> None:
                    progress(done + o, total, base + k)

            off, seq, k, ok = fast.replay(buf, off, seq, skip_to, path, on_chunk)
            applied += k
            in_c += k
            if not ok:  # run_batch refused a chunk: Python does the rest
                fast = None
        o, seq, k = _replay_py(
            buf, path, off, seq, skip_to, table, progress, done, total,
            replayed + applied, 1 if fast is not None else -1,
        )  # fmt: skip
        applied += k
        if o == off:  # not a record Python applies either: stop here
            return off, seq, applied, in_c
        off = o


class _CallerError(Exception):
    """Carries an exception of the caller's progress callback through the
    replay loop, which reports every other exception as corruption."""


def _replay_py(
    buf: bytes,
    path: Path,
    off: int,
    seq: int,
    skip_to: int,
    table: list[Any],
    progress: ProgressCallback | None,
    done: int,
    total: int,
    replayed: int,
    limit: int,
) -> tuple[int, int, int]:
    """The Python path of :func:`_replay`: at most ``limit`` records (-1: all).

    Returns ``(offset reached, next expected seq, commands applied)``.
    """
    mv = memoryview(buf)
    crc32 = zlib.crc32
    head = _REC_HDR.unpack_from
    u32 = _U32.unpack_from
    end = len(buf)
    applied = 0
    try:
        while limit:
            # The fast path: a sound record of a known type in the current
            # layout, checked and applied with no intermediate record object.
            while off + _MIN_RECORD <= end:
                n, s, h = head(buf, off)
                rend = off + 16 + n
                if s != seq or rend + 4 > end:
                    break
                entry = table[buf[off + 17]]
                if (
                    entry is None
                    or entry[0] != n
                    or not 1 <= buf[off + 16] <= FORMAT_VERSION  # same in 1 and 2
                    or crc32(mv[off : off + 12]) != h
                    or crc32(mv[off:rend]) != u32(buf, rend)[0]
                ):
                    break
                # bool bytes are 0 or 1 (struct's "?" would take any as True):
                # anything else goes to decode() below, which refuses it
                if entry[4] and any(buf[off + 16 + b] > 1 for b in entry[4]):
                    break
                if seq > skip_to:
                    entry[2](*entry[1](buf, off + 16))
                    applied += 1
                    if not applied & 0xFFFF and progress is not None:
                        try:
                            progress(done + off, total, replayed + applied)
                        except Exception as exc:
                            raise _CallerError(exc) from None
                seq += 1
                off = rend + 4
                limit -= 1
                if not limit:
                    return off, seq, applied
            # Anything else, one record at a time: an older layout, an unknown
            # type or version (errors), or the end of the sound records.
            rend = _record_at(buf, off)
            if rend < 0 or _REC_HDR.unpack_from(buf, off)[1] != seq:
                break
            payload = mv[off + 16 : rend - 4]
            if not 1 <= payload[0] <= FORMAT_VERSION:
                raise JournalCorruptError(
                    path,
                    off,
                    f"command format version {payload[0]}, "
                    f"this library reads 1..{FORMAT_VERSION}",
                )
            try:
                cmd = decode(payload)
            except CommandDecodeError as exc:
                raise JournalCorruptError(path, off, str(exc)) from None
            if seq > skip_to:
                entry = table[payload[1]]
                call(entry[2], entry[3], cmd)
                applied += 1
            seq += 1
            off = rend
            limit -= 1
    except JournalCorruptError:
        raise
    except _CallerError as exc:
        raise exc.args[0] from None  # the progress callback's own error, unchanged
    except Exception as exc:
        raise JournalCorruptError(
            path, off, f"replaying command seq {seq} raised {exc!r}"
        ) from exc
    finally:
        mv.release()
    return off, seq, applied
