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
    A 40-byte header ``magic "PROBOJSN", u16 version 1, u16 header size, u32
    flags, u64 seq (last command included), u64 body length, u32 reserved,
    u32 CRC32 of the header's first 36 bytes and the body`` and then the
    engine's ``snapshot()`` (for :class:`~probo_engine.Engine`: the core's
    snapshot plus the user and market names, which recovery restores).
    Written to ``.tmp``, fsynced, renamed, and the directory fsynced.  Files
    written by earlier versions begin with ``"PROBOSNP"`` (the core
    snapshot's own magic) and are still read.
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

Layout of this package.  :mod:`~probo_engine.journal.format` (segment and
record bytes), :mod:`~probo_engine.journal.files` (listing, syncing, locking),
:mod:`~probo_engine.journal.writer` (appends under a policy),
:mod:`~probo_engine.journal.reader` (:func:`read_journal`),
:mod:`~probo_engine.journal.snapshots` (snapshot files),
:mod:`~probo_engine.journal.replay` (the C and Python replay paths),
:mod:`~probo_engine.journal.recovery`, :mod:`~probo_engine.journal.groupcommit`
(``execute_async``) and :mod:`~probo_engine.journal.durable`
(:class:`DurableEngine`).
"""

from __future__ import annotations

from probo_engine._progress import ProgressBar
from probo_engine.errors import JournalCorruptError, JournalError
from probo_engine.journal import files, reader, snapshots, writer
from probo_engine.journal.durable import DurableEngine
from probo_engine.journal.format import (
    JOURNAL_FORMAT,
    JOURNAL_VERSION,
    MAX_PAYLOAD,
    REC_HDR,
    SEG_HDR,
    SEGMENT_MAGIC,
    SegmentFormat,
    record_at,
)
from probo_engine.journal.reader import JournalRecord, read_journal
from probo_engine.journal.recovery import RecoveryInfo
from probo_engine.journal.replay import ProgressCallback
from probo_engine.journal.snapshots import SNAPSHOT_FILE_VERSION, SNAPSHOT_MAGIC
from probo_engine.journal.writer import SyncPolicy

__all__ = [
    "JOURNAL_FORMAT",
    "JOURNAL_VERSION",
    "MAX_PAYLOAD",
    "SEGMENT_MAGIC",
    "SNAPSHOT_FILE_VERSION",
    "SNAPSHOT_MAGIC",
    "DurableEngine",
    "JournalCorruptError",
    "JournalError",
    "JournalRecord",
    "ProgressBar",
    "ProgressCallback",
    "RecoveryInfo",
    "SegmentFormat",
    "SyncPolicy",
    "read_journal",
]

# The names ``adapters/locallog.py`` and ``adapters/redis.py`` reached for
# (``from probo_engine import journal as _j``) when this was one module; they
# are the public names of the modules above.
_write_all = files.write_all
_fsync_dir = files.fsync_dir
_list_dir = files.list_dir
_lock = files.lock
_segments_after = files.segments_after
_truncate = files.truncate
_iter_records = reader.iter_records
_read_snapshot = snapshots.read_snapshot
_write_snapshot = snapshots.write_snapshot
_Writer = writer.Writer
_SEG_HDR = SEG_HDR
_REC_HDR = REC_HDR
_record_at = record_at
