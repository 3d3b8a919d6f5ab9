"""Group commit for asyncio callers of :class:`probo_engine.DurableEngine`.

Callers append their records to the journal's buffer and wait on a future.
One sync at a time is in flight: it writes the buffer in the event loop's
thread, then runs ``fdatasync`` in the loop's default executor on a
duplicate of the segment's descriptor (so a segment rotation that closes the
original cannot pull it away), and the event loop keeps taking commands
meanwhile.  When the sync finishes every waiter it covers is released, and
the commands that arrived during it go out in the next sync at once.  So
with one caller each command costs one sync, and with many callers one sync
covers all of those that arrived while the previous one ran.

Per command, the only asyncio object made is the future its caller awaits
(created directly, not through ``loop.create_future``); the futures of the
records that go out in one sync are kept in one list, released together.

No task is created: the in-flight sync is an executor future whose
completion callback releases the waiters and starts the next sync; the
DurableEngine waits for it on ``aclose()``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

from probo_engine.errors import JournalError
from probo_engine.journal.files import datasync

_Future = asyncio.Future  # the C future, made directly

__all__ = ["GroupCommit", "sync_and_close"]


def sync_and_close(fd: int) -> None:
    """``fdatasync`` a duplicate descriptor in the executor, then close it."""
    try:
        datasync(fd)
    finally:
        os.close(fd)


#: The futures of the callers one sync covers, in append order.
Waiters = list["asyncio.Future[None]"]


class GroupCommit:
    """The waiters of one DurableEngine's journal writer in one event loop."""

    def __init__(self, writer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.writer = writer
        self.loop = loop
        #: the waiters of the records appended since the last sync started
        #: (None: nobody waits), and the last seq they cover
        self.next: Waiters | None = None
        self.next_seq = 0
        #: the sync in flight (an executor future) and the waiters it covers
        self.inflight: asyncio.Future[None] | None = None
        self.inflight_waiters: Waiters | None = None
        self.kick_scheduled = False
        #: ``asyncio._get_running_loop`` (C): the caller's loop, cheaply
        self.running_loop = asyncio._get_running_loop

    def wait(self, seq: int) -> asyncio.Future[None]:
        """A future done once the record ``seq`` (just appended) is synced."""
        fut: asyncio.Future[None] = _Future(loop=self.loop)
        batch = self.next
        if batch is None:
            batch = self.next = [fut]
            if self.inflight is None and not self.kick_scheduled:
                # After the callbacks ready now: the other callers that are
                # about to append join this sync.
                self.kick_scheduled = True
                self.loop.call_soon(self._kick)
        else:
            batch.append(fut)
        self.next_seq = seq
        return fut

    def idle(self) -> bool:
        return self.inflight is None and self.next is None

    def _kick(self) -> None:
        self.kick_scheduled = False
        waiters = self.next
        if self.inflight is not None or waiters is None:
            return
        w = self.writer
        if w.acked >= self.next_seq:  # a blocking sync covered them
            self.next = None
            _resolve(waiters)
            return
        try:
            target = w.write_out()
            fd = os.dup(w.fd)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            self._fail(exc)
            return
        self.next = None
        fut = self.loop.run_in_executor(None, sync_and_close, fd)
        self.inflight, self.inflight_waiters = fut, waiters
        fut.add_done_callback(functools.partial(self._done, target))

    def _done(self, target: int, fut: asyncio.Future[None]) -> None:
        waiters = self.inflight_waiters
        self.inflight = self.inflight_waiters = None
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is not None:
            if self.writer.failed is None:
                self.writer.failed = exc
            if waiters is not None:
                _reject(waiters, exc)
            self._fail(exc)
            return
        self.writer.synced(target)
        if waiters is not None:
            _resolve(waiters)
        if self.next is not None:
            self._kick()

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

    async def drain(self) -> None:
        """Wait for the sync in flight, if any (its errors go to its waiters)."""
        while self.inflight is not None:
            await asyncio.wait([self.inflight])


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
