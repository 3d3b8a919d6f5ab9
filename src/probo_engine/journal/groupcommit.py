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

No task is created: the in-flight sync is an executor future whose
completion callback releases the waiters and starts the next sync; the
DurableEngine waits for it on ``aclose()``.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
from typing import Any

from probo_engine.errors import JournalError
from probo_engine.journal.files import datasync


def sync_and_close(fd: int) -> None:
    """``fdatasync`` a duplicate descriptor in the executor, then close it."""
    try:
        datasync(fd)
    finally:
        os.close(fd)


class GroupCommit:
    """The waiters of one DurableEngine's journal writer in one event loop."""

    def __init__(self, writer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.writer = writer
        self.loop = loop
        self.waiters: collections.deque[tuple[int, asyncio.Future[None]]] = (
            collections.deque()
        )
        self.inflight: asyncio.Future[None] | None = None
        self.kick_scheduled = False

    def wait(self, seq: int) -> asyncio.Future[None]:
        """A future done once the record ``seq`` is synced."""
        fut: asyncio.Future[None] = self.loop.create_future()
        self.waiters.append((seq, fut))
        if self.inflight is None and not self.kick_scheduled:
            # After the callbacks ready now: the other callers that are about
            # to append join this sync.
            self.kick_scheduled = True
            self.loop.call_soon(self._kick)
        return fut

    def idle(self) -> bool:
        return self.inflight is None and not self.waiters

    def _kick(self) -> None:
        self.kick_scheduled = False
        if self.inflight is not None:
            return
        self._release(self.writer.acked)  # a blocking sync may have covered them
        if not self.waiters:
            return
        w = self.writer
        try:
            target = w.write_out()
            fd = os.dup(w.fd)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            self._fail(exc)
            return
        fut = self.loop.run_in_executor(None, sync_and_close, fd)
        self.inflight = fut
        fut.add_done_callback(functools.partial(self._done, target))

    def _done(self, target: int, fut: asyncio.Future[None]) -> None:
        self.inflight = None
        exc = fut.exception() if not fut.cancelled() else asyncio.CancelledError()
        if exc is not None:
            if self.writer.failed is None:
                self.writer.failed = exc
            self._fail(exc)
            return
        self.writer.synced(target)
        self._release(self.writer.acked)
        if self.waiters:
            self._kick()

    def _release(self, upto: int) -> None:
        waiters = self.waiters
        while waiters and waiters[0][0] <= upto:
            _seq, fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        while self.waiters:
            _seq, fut = self.waiters.popleft()
            if not fut.done():
                err = JournalError(f"journal sync failed: {exc!r}")
                err.__cause__ = exc
                fut.set_exception(err)

    def release_all(self) -> None:
        """The writer synced everything (closing): release every waiter."""
        self._release(self.writer.acked)

    async def drain(self) -> None:
        """Wait for the sync in flight, if any (its errors go to its waiters)."""
        while self.inflight is not None:
            await asyncio.wait([self.inflight])
