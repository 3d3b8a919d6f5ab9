"""Group commit for asyncio callers of :class:`probo_engine.DurableEngine`.

Callers append their records to the journal's buffer and wait on a future.
One sync at a time is in flight: the event loop's thread writes the buffer,
then hands ``fdatasync`` of a duplicate of the segment's descriptor (so a
segment rotation that closes the original cannot pull it away) to this
group commit's own sync thread, and keeps taking commands meanwhile.  When
the sync finishes, the thread tells the loop once
(``call_soon_threadsafe``); every waiter the sync covers is released, and
the commands that arrived during it go out in the next sync at once.  So
with one caller each command costs one sync, and with many callers one sync
covers all of those that arrived while the previous one ran.

The sync thread is one plain thread woken through a lock, not the loop's
default executor: a round trip through ``run_in_executor`` costs a work
queue, two futures and their chained callbacks in both threads, per sync.
Here the loop hands over ``(fd, target)`` and releases the lock; the thread
syncs and schedules :meth:`GroupCommit._done` with the outcome.  The thread
is started on the first ``execute_async`` in an event loop and stopped when
the DurableEngine closes (or moves to another loop); one whose event loop
has closed ends within a second by itself.  With ``sync_in_loop=True`` there
is no thread: :meth:`GroupCommit._kick` syncs in the loop's thread, which
blocks the loop for the sync but wakes no other thread.

Per command, the only asyncio object made is the future its caller awaits
(created directly, not through ``loop.create_future``); the futures of the
records that go out in one sync are kept in one list, released together.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from probo_engine.errors import JournalError
from probo_engine.journal.files import datasync

_Future = asyncio.Future  # the C future, made directly

__all__ = ["GroupCommit", "sync_and_close"]


def sync_and_close(fd: int) -> None:
    """``fdatasync`` a duplicate descriptor in the sync thread, then close it."""
    try:
        datasync(fd)
    finally:
        os.close(fd)


#: The futures of the callers one sync covers, in append order.
Waiters = list["asyncio.Future[None]"]


class GroupCommit:
    """The waiters of one DurableEngine's journal writer in one event loop."""

    def __init__(
        self, writer: Any, loop: asyncio.AbstractEventLoop, *, in_loop: bool = False
    ) -> None:
        self.writer = writer
        self.loop = loop
        #: the waiters of the records appended since the last sync started
        #: (None: nobody waits), and the last seq they cover
        self.next: Waiters | None = None
        self.next_seq = 0
        #: a sync is in flight (handed to the thread, its ``_done`` not run
        #: yet), and the waiters it covers
        self.inflight = False
        self.inflight_waiters: Waiters | None = None
        self.kick_scheduled = False
        #: syncs finished (ok or failed): what the callers shared
        self.syncs = 0
        #: ``asyncio._get_running_loop`` (C): the caller's loop, cheaply
        self.running_loop = asyncio._get_running_loop
        self._drained: asyncio.Future[None] | None = None
        # The sync thread's hand-over: ``_job`` is ``(fd, target)``; the lock
        # is held while the thread has nothing to do, released to wake it.
        self._job: tuple[int, int] | None = None
        self._go = threading.Lock()
        self._go.acquire()
        self._stop = False
        #: the sync thread (None with ``sync_in_loop``: :meth:`_kick` then
        #: syncs in the loop's own thread)
        self._thread: threading.Thread | None = None
        if not in_loop:
            self._thread = threading.Thread(
                target=self._run, name="probo-journal-sync", daemon=True
            )
            self._thread.start()

    def wait(self, seq: int) -> asyncio.Future[None]:
        """A future done once the record ``seq`` (just appended) is synced."""
        fut: asyncio.Future[None] = _Future(loop=self.loop)
        batch = self.next
        if batch is None:
            batch = self.next = [fut]
            if not self.inflight and not self.kick_scheduled:
                # After the callbacks ready now: the other callers that are
                # about to append join this sync.
                self.kick_scheduled = True
                self.loop.call_soon(self._kick)
        else:
            batch.append(fut)
        self.next_seq = seq
        return fut

    def idle(self) -> bool:
        return not self.inflight and self.next is None

    def _kick(self) -> None:
        self.kick_scheduled = False
        waiters = self.next
        if self.inflight or waiters is None:
            return
        w = self.writer
        if w.acked >= self.next_seq:  # a blocking sync covered them
            self.next = None
            _resolve(waiters)
            return
        if self._stop:  # closed: close() synced everything and released them
            return
        try:
            target = w.write_out()
            fd = os.dup(w.fd)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            self._fail(exc)
            return
        self.next = None
        self.inflight, self.inflight_waiters = True, waiters
        if self._thread is None:  # sync_in_loop: here, blocking the loop
            err: BaseException | None = None
            try:
                sync_and_close(fd)
            except BaseException as exc:  # noqa: BLE001 - to the waiters
                err = exc
            self._done(target, err)
            return
        self._job = (fd, target)
        self._go.release()

    def _run(self) -> None:
        """The sync thread: one ``(fd, target)`` job at a time."""
        go = self._go
        notify = self.loop.call_soon_threadsafe
        done = self._done
        while True:
            while not go.acquire(timeout=1.0):
                if self.loop.is_closed():  # a DurableEngine left unclosed
                    self._stop = True
                    return
            job, self._job = self._job, None
            if job is not None:
                fd, target = job
                err: BaseException | None = None
                try:
                    sync_and_close(fd)  # the module's (a test may replace it)
                except BaseException as exc:  # noqa: BLE001 - to the waiters
                    err = exc
                try:
                    notify(done, target, err)
                except RuntimeError:  # the loop is closed: nobody waits there
                    if err is not None and self.writer.failed is None:
                        self.writer.failed = err
            if self._stop:
                return

    def _done(self, target: int, exc: BaseException | None) -> None:
        waiters = self.inflight_waiters
        self.inflight, self.inflight_waiters = False, None
        self.syncs += 1
        if exc is not None:
            if self.writer.failed is None:
                self.writer.failed = exc
            if waiters is not None:
                _reject(waiters, exc)
            self._fail(exc)
        else:
            self.writer.synced(target)
            if waiters is not None:
                _resolve(waiters)
            if self.next is not None:
                self._kick()
        drained = self._drained
        if drained is not None and not self.inflight:
            self._drained = None
            if not drained.done():
                drained.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        waiters, self.next = self.next, None
        if waiters is not None:
            _reject(waiters, exc)

    def release_all(self) -> None:
        """The writer synced everything (closing): release every waiter."""
        for waiters in (self.inflight_waiters, self.next):
            if waiters is not None:
                _resolve(waiters)
        self.next = None
        self.inflight_waiters = None

    def stop(self) -> None:
        """End the sync thread (after the sync in flight, if any)."""
        if self._stop:
            return
        self._stop = True
        # The thread waits (or syncs, and looks at _stop after).
        if self._thread is not None and self._go.locked():
            self._go.release()

    async def drain(self) -> None:
        """Wait for the sync in flight, if any (its errors go to its waiters)."""
        while self.inflight:
            if self._drained is None:
                self._drained = self.loop.create_future()
            await self._drained


def _resolve(waiters: Waiters) -> None:
    for f in waiters:
        if not f.done():
            f.set_result(None)


def _reject(waiters: Waiters, exc: BaseException) -> None:
    for f in waiters:
        if not f.done():
            err = JournalError(f"journal sync failed: {exc!r}")
            err.__cause__ = exc
            f.set_exception(err)
