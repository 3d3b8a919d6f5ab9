"""The archiver: entries in order from any EntrySource, into a history store.

The loop is: read the checkpoint; read up to ``batch_entries`` entries after
it (fewer in the first batches after a start: :data:`FIRST_BATCH`, then four
times more each batch); derive their rows (:class:`~.derive.Deriver`); write
rows and the new checkpoint in one transaction; repeat.  The two halves are
pipelined: while batch N is being written, batch N+1 is read and derived
(deriving is Python, run on the event loop in steps of :data:`DERIVE_STEP`
entries; the write waits mostly on the database, so the two overlap).
Batch N+2 is read only once batch N has committed: at most two batches are
ever in memory, so a slow database slows the archiver (back-pressure)
instead of growing a queue, and the lag (:attr:`ArchiverStats.lag`, entries
the source has that the store has not) grows where a server can export it.

Exactly once: a batch and the checkpoint it moves to commit together, and
every row is keyed by its place in the entry stream (``ON CONFLICT DO
NOTHING``).  A crash anywhere leaves the store at the last committed
checkpoint, and the next run resumes right after it; a batch derived ahead
is only memory and is dropped with the process (or, after an outage, derived
again from the checkpoint read afresh).  When the store or the
source is unavailable (:class:`~probo_engine.errors.UnavailableError`), the
archiver waits (exponential back-off, capped), reads the checkpoint again and
goes on; it stops only when ``stop`` is set, when ``until`` is reached, or on
an error that waiting cannot fix (a gap in the entries, another archiver
writing the same database).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from probo_engine.adapters.entries import EntrySource
from probo_engine.errors import UnavailableError

from .derive import Batch, Checkpoint, Deriver
from .store import HistoryStore, open_store

__all__ = ["Archiver", "ArchiverConfig", "ArchiverStats", "run_archiver"]

log = logging.getLogger("probo_engine.history")
_T = TypeVar("_T")

#: entries derived between two turns of the event loop (about 0.1 ms)
DERIVE_STEP = 32
#: most entries of the first batch after a (re)start; each next batch may
#: have four times as many, up to ``batch_entries``
FIRST_BATCH = 250


@dataclass
class ArchiverStats:
    """What the archiver has done; read it from anywhere (e.g. ``/metrics``)."""

    cmd_seq: int = 0  #: last command seq committed to the store
    event_seq: int = 0  #: last event seq committed to the store
    head: int = 0  #: newest command seq the source had at the last read
    last_ts: int = 0  #: ``ts`` of the newest archived command that has one
    batches: int = 0  #: batches committed by this process
    entries: int = 0  #: entries committed by this process
    events: int = 0  #: events committed by this process
    rows: int = 0  #: rows written (before ``ON CONFLICT``) by this process
    retries: int = 0  #: times the store or source was unavailable
    last_commit_seconds: float = 0.0  #: time of the last write transaction

    @property
    def lag(self) -> int:
        """Entries the source had that the store had not, at the last read."""
        return max(0, self.head - self.cmd_seq)


@dataclass(frozen=True)
class ArchiverConfig:
    """How ``probo archiver`` (or the embedded server) runs the archiver."""

    #: the history store URL: ``sqlite:///path/history.db`` or ``postgresql://...``
    store: str
    #: where the entries come from (the embedded entry log, the Redis stream)
    source: EntrySource
    #: most entries per transaction
    batch_entries: int = 5000
    #: how long one read of the source waits for new entries, in seconds
    read_timeout: float = 1.0
    #: first and longest wait after the store or the source was unavailable
    retry_initial: float = 0.1
    retry_max: float = 5.0
    #: PostgreSQL connect and statement timeouts, in seconds
    connect_timeout: float = 10.0
    command_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.batch_entries < 1:
            raise ValueError(f"batch_entries must be >= 1, not {self.batch_entries}")
        for name in ("read_timeout", "retry_initial", "retry_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, not {getattr(self, name)}")


class Archiver:
    """The archive loop over one store and one source (see the module doc)."""

    def __init__(
        self,
        store: HistoryStore,
        source: EntrySource,
        *,
        batch_entries: int = 5000,
        read_timeout: float = 1.0,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        stats: ArchiverStats | None = None,
    ) -> None:
        if batch_entries < 1:
            raise ValueError(f"batch_entries must be >= 1, not {batch_entries}")
        self.store = store
        self.source = source
        self.batch_entries = batch_entries
        self.read_timeout = read_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.stats = stats if stats is not None else ArchiverStats()
        self._size = min(batch_entries, FIRST_BATCH)  # entries of the next read

    async def run(
        self, stop: asyncio.Event | None = None, until: int | None = None
    ) -> Checkpoint:
        """Archive until ``stop`` is set or command seq ``until`` is archived.

        Returns the last checkpoint it committed or read from the store.
        Raises what waiting cannot fix: :class:`~.derive.DeriveError` (a gap
        in the entries), :class:`~.store.CheckpointConflictError` (another
        archiver on the same database), the source's ``LookupError`` (the
        entries after the checkpoint are gone).
        """
        stop = stop if stop is not None else asyncio.Event()
        resumed = await self._resume(stop)
        if resumed is None:
            return Checkpoint(self.stats.cmd_seq, self.stats.event_seq)
        cp, deriver = resumed
        delay = self.retry_initial
        ready: Batch | None = None  # derived, follows ``cp``, not yet written
        # The first batches after a (re)start are smaller, so that the first
        # write starts (and its successor is derived alongside) sooner.
        self._size = min(self.batch_entries, FIRST_BATCH)
        while not stop.is_set() and (until is None or cp.cmd_seq < until):
            try:
                if ready is None:
                    ready = await self._next(cp, deriver)
                    if ready is None:
                        continue
                batch, ready = ready, None
                # Write ``batch`` while the next one is read and derived (at
                # most two batches in memory: the one in the transaction and
                # the one after it).  Both run to the end before either's
                # error is raised, so nothing is left running.
                ahead = not stop.is_set() and (
                    until is None or batch.upto.cmd_seq < until
                )
                async with asyncio.TaskGroup() as tg:
                    wrote = tg.create_task(_outcome(self._write(batch)))
                    nxt = (
                        tg.create_task(_outcome(self._next(batch.upto, deriver)))
                        if ahead
                        else None
                    )
                _, exc = wrote.result()
                if exc is not None:
                    raise exc
                cp = batch.upto
                if nxt is not None:
                    ready, exc = nxt.result()
                    if exc is not None:
                        raise exc
            except UnavailableError as exc:
                ready = None  # derived from a checkpoint that may not hold
                self.stats.retries += 1
                log.warning("history archiver: %s; retrying in %.1fs", exc, delay)
                if await _wait(stop, delay):
                    break
                delay = min(self.retry_max, delay * 2)
                resumed = await self._resume(stop)  # the commit may have landed
                if resumed is None:
                    break
                cp, deriver = resumed
                self._size = min(self.batch_entries, FIRST_BATCH)
                continue
            delay = self.retry_initial
        return cp

    async def _next(self, cp: Checkpoint, deriver: Deriver) -> Batch | None:
        """The batch after ``cp``: read from the source, derived and prepared
        for the store (None: no new entries within ``read_timeout``)."""
        size, self._size = self._size, min(self.batch_entries, 4 * self._size)
        entries = await self.source.read(cp.cmd_seq, size, self.read_timeout)
        self.stats.head = max(self.stats.head, self.source.head())
        if not entries:
            return None
        # Derived here, pausing every DERIVE_STEP entries, not on a worker
        # thread: deriving is pure Python, so a thread would only contend for
        # the GIL with the write running on this loop (each of the write's
        # round trips to the database would wait up to the interpreter's
        # switch interval, 5 ms, for the GIL: the two halves would barely
        # overlap).  At each pause the loop answers the write (a COPY's
        # reply, the rest of its data to send) and anything else it runs; a
        # pause costs a few microseconds, a step takes a fraction of a
        # millisecond, so the write of the batch before hardly waits.
        steps = deriver.derive_steps(entries, cp, DERIVE_STEP)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                batch: Batch = done.value
                break
            await asyncio.sleep(0)
        # the store's encoding too (PostgreSQL: binary COPY data), so that the
        # write of this batch is the database's work alone
        for _ in self.store.prepare(batch):
            await asyncio.sleep(0)
        return batch

    async def _write(self, batch: Batch) -> None:
        """One transaction; the stats move as soon as it has committed."""
        t0 = time.perf_counter()
        await self.store.write(batch)
        s = self.stats
        s.last_commit_seconds = time.perf_counter() - t0
        s.cmd_seq, s.event_seq = batch.upto
        s.batches += 1
        s.entries += batch.n_entries
        s.events += batch.n_events
        s.rows += batch.n_rows
        ts = [r[1] for r in batch.rows["commands"] if r[1] is not None]
        if ts:
            s.last_ts = max(ts)

    async def _resume(self, stop: asyncio.Event) -> tuple[Checkpoint, Deriver] | None:
        # The checkpoint and the market configurations, waiting out outages
        # (None: stopped while waiting).
        delay = self.retry_initial
        while True:
            try:
                cp = await self.store.checkpoint()
                markets = await self.store.load_markets()
            except UnavailableError as exc:
                self.stats.retries += 1
                log.warning("history archiver: %s; retrying in %.1fs", exc, delay)
                if await _wait(stop, delay):
                    return None
                delay = min(self.retry_max, delay * 2)
                continue
            self.stats.cmd_seq, self.stats.event_seq = cp
            log.info("history archiver: resuming after command %d", cp.cmd_seq)
            return cp, Deriver(markets)


async def _outcome(aw: Awaitable[_T]) -> tuple[_T | None, Exception | None]:
    """What ``aw`` returned, or the exception it raised (not cancellation)."""
    try:
        return await aw, None
    except Exception as exc:  # handed back to the caller, who raises it
        return None, exc


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True if it was set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def run_archiver(
    config: ArchiverConfig,
    *,
    stop: asyncio.Event | None = None,
    stats: ArchiverStats | None = None,
    until: int | None = None,
) -> Checkpoint:
    """Open (and migrate) the store, archive until ``stop``, close the store.

    ``stats`` (optional) is updated as batches commit, for a metrics exporter;
    ``until`` (optional) also stops once that command seq is archived.
    A store that cannot be reached, at start or later, is waited for
    (back-off from ``retry_initial`` to ``retry_max`` seconds) until ``stop``
    is set; a schema that is newer than this library raises
    :class:`~.schema.SchemaVersionError` at once.  Returns the last
    checkpoint this process saw.
    """
    stop = stop if stop is not None else asyncio.Event()
    stats = stats if stats is not None else ArchiverStats()
    delay = config.retry_initial
    while True:
        try:
            store = await open_store(
                config.store,
                connect_timeout=config.connect_timeout,
                command_timeout=config.command_timeout,
            )
            break
        except UnavailableError as exc:
            stats.retries += 1
            log.warning("history archiver: %s; retrying in %.1fs", exc, delay)
            if await _wait(stop, delay):
                return Checkpoint(stats.cmd_seq, stats.event_seq)
            delay = min(config.retry_max, delay * 2)
    try:
        archiver = Archiver(
            store,
            config.source,
            batch_entries=config.batch_entries,
            read_timeout=config.read_timeout,
            retry_initial=config.retry_initial,
            retry_max=config.retry_max,
            stats=stats,
        )
        return await archiver.run(stop, until)
    finally:
        await store.close()
