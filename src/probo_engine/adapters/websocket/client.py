"""A Python client of the market-data protocol, with automatic resync.

>>> async def main():                                    # doctest: +SKIP
...     async with FeedClient("ws://127.0.0.1:8765/v1/ws") as c:
...         ch = await c.subscribe("book", market="RAIN", view="no", depth=10)
...         await asyncio.sleep(5)
...         print(c.book(ch))

What it does for you (``docs/websocket.md``):

* keeps every subscribed channel's state: a book (``price -> (qty, count)``
  in the channel's view) verified against the server's checksum after every
  update with the reference :func:`protocol.book_checksum`, recent trades,
  the ticker, your orders, cash and events on the ``user`` channel;
* checks ``prev_seq`` against the last ``seq`` applied on the channel: on a
  gap, or a checksum that does not match, it subscribes again (the server
  answers with a fresh snapshot) and ignores that channel's updates until the
  snapshot arrives (counted in :attr:`FeedClient.gaps` / ``resyncs``);
* sends a ``ping`` every heartbeat interval and treats a connection that has
  sent nothing (not even a heartbeat) for ``silence`` seconds as dead: it
  reconnects with backoff and subscribes to everything again.

Only the ``websockets`` package is needed (extra ``[ws]``).  All waits are
bounded: :meth:`FeedClient.wait` takes a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from probo_engine._optional import require
from probo_engine.adapters.websocket import protocol as P

__all__ = ["FeedClient", "FeedClientError", "LocalBook"]


class FeedClientError(RuntimeError):
    """The server refused a request (``code`` is a protocol error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class LocalBook:
    """A book channel rebuilt from its snapshot and updates."""

    __slots__ = ("bids", "asks", "seq", "checksum", "view", "depth", "payout")

    def __init__(self, snap: Mapping[str, Any]) -> None:
        self.bids: dict[int, tuple[int, int]] = {p: (q, n) for p, q, n in snap["bids"]}
        self.asks: dict[int, tuple[int, int]] = {p: (q, n) for p, q, n in snap["asks"]}
        self.seq: int = snap["seq"]
        self.checksum: int = snap["checksum"]
        self.view: str = snap["view"]
        self.depth: int = snap["depth"]
        self.payout: int = snap["payout"]

    def levels(self) -> tuple[list[P.Level], list[P.Level]]:
        """Bids and asks, best first, as ``(price, qty, count)``."""
        return P.sorted_levels(self.bids, self.asks)

    def verify(self) -> bool:
        return P.book_checksum(*self.levels()) == self.checksum


class FeedClient:
    """One connection to a feed server (see the module docstring).

    ``headers`` go with the handshake (credentials); ``token`` is sent as an
    ``auth`` message after connecting.  ``drop`` (tests) sees every parsed
    server message and discards it when it returns true.  ``record`` keeps
    every frame's text in :attr:`frames`.  ``rcvbuf`` sets the socket's
    ``SO_RCVBUF`` (tests of slow consumers).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        heartbeat: float | None = None,
        silence: float | None = None,
        reconnect: bool = True,
        open_timeout: float = 10.0,
        drop: Callable[[dict[str, Any]], bool] | None = None,
        record: bool = False,
        rcvbuf: int | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.token = token
        self.heartbeat = heartbeat
        self.silence = silence
        self.reconnect = reconnect
        self.open_timeout = open_timeout
        self.drop = drop
        self.record = record
        self.rcvbuf = rcvbuf
        self.frames: list[str] = []
        self.books: dict[str, LocalBook] = {}
        self.trades: dict[str, deque[dict[str, Any]]] = {}
        self.tickers: dict[str, dict[str, Any]] = {}
        self.user: dict[str, Any] | None = None  #: the user channel's state
        self.seed: dict[str, Any] | None = None  #: the seed's last EventData
        self.seqs: dict[str, int] = {}  #: last seq applied per channel
        self.errors: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None
        self.gaps = 0  #: prev_seq mismatches seen
        self.bad_checksums = 0
        self.resyncs = 0  #: resubscriptions sent (gaps, checksums)
        self.snapshots = 0
        self.updates = 0  #: updates applied
        self.connects = 0
        self.closed_code: int | None = None  #: close code of the last connection
        self.paused = False
        self._subs: dict[str, dict[str, Any]] = {}  # ch -> subscribe request
        self._resyncing: set[str] = set()
        self._pending: dict[int, asyncio.Future[str]] = {}
        self._next_id = 1
        self._conn: Any = None
        self._changed = asyncio.Event()
        self._resume = asyncio.Event()
        self._resume.set()
        self._stack: contextlib.AsyncExitStack | None = None
        self._connected = asyncio.Event()
        self._last_rx = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FeedClient:
        # The first connection is opened here, so a refusal raises plainly
        # (OSError, TimeoutError, websockets' InvalidHandshake); later ones
        # are the background task's business.
        first = await self._open()
        stack = contextlib.AsyncExitStack()
        tg = await stack.enter_async_context(asyncio.TaskGroup())
        self._stack = stack
        self._tasks.append(tg.create_task(self._run(first)))
        try:
            await asyncio.wait_for(self._connected.wait(), self.open_timeout)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 2.0)
        if self._stack is not None:
            stack, self._stack = self._stack, None
            with contextlib.suppress(asyncio.CancelledError):
                await stack.aclose()

    async def _open(self) -> Any:
        ws = require("websockets.asyncio.client", extra="ws")
        kw: dict[str, Any] = {
            "additional_headers": self.headers,
            "open_timeout": self.open_timeout,
            "ping_interval": None,
            "compression": None,
            "max_size": 2**24,
            "close_timeout": 2.0,
        }
        if self.rcvbuf:
            parts = urlsplit(self.url)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.setblocking(False)
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(
                    sock, (parts.hostname, parts.port or 80)
                ),
                self.open_timeout,
            )
            kw["sock"] = sock
            kw["max_queue"] = 1
        return await ws.connect(self.url, **kw)

    async def _run(self, first: Any) -> None:
        closed = require("websockets.exceptions", extra="ws").ConnectionClosed
        backoff = 0.1
        while True:
            if first is not None:
                self._conn, first = first, None
            else:
                try:
                    self._conn = await self._open()
                except (OSError, TimeoutError):
                    await asyncio.sleep(backoff)
                    backoff = min(2 * backoff, 5.0)
                    continue
            self.connects += 1
            self._last_rx = time.monotonic()
            async with asyncio.TaskGroup() as tg:
                watchdog = tg.create_task(self._watchdog())
                try:
                    await self._after_connect()
                    await self._read()
                except closed:
                    pass
                finally:
                    watchdog.cancel()
            self.closed_code = self._conn.close_code
            self._connected.clear()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(FeedClientError("closed", "connection closed"))
            self._pending.clear()
            self._changed.set()
            if not self.reconnect:
                return
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, 5.0)

    async def _after_connect(self) -> None:
        self._resyncing.clear()
        self.seqs.clear()
        if self.token is not None:
            await self._send({"op": "auth", "token": self.token})
        for req in list(self._subs.values()):
            await self._send(req)
        self._connected.set()

    async def _read(self) -> None:
        conn = self._conn
        while True:
            if self.paused:
                await self._resume.wait()
            data = await conn.recv()
            self._last_rx = time.monotonic()
            text = data if isinstance(data, str) else data.decode()
            if self.record:
                self.frames.append(text)
            try:
                msg = json.loads(text)
            except ValueError:
                msg = {"type": "text", "text": text}  # the seed's "connected"
            if self.drop is not None and self.drop(msg):
                continue
            await self._on_message(msg)
            self._changed.set()

    async def _watchdog(self) -> None:
        """Ping every heartbeat; drop a connection silent for ``silence`` s."""
        closed = require("websockets.exceptions", extra="ws").ConnectionClosed
        with contextlib.suppress(closed):
            await self._watch()

    async def _watch(self) -> None:
        while self.hello is None:
            await asyncio.sleep(0.05)
        beat = self.heartbeat or float(self.hello.get("heartbeat", 10.0))
        silence = self.silence or 3 * beat
        while True:
            await asyncio.sleep(min(beat, silence / 3))
            if time.monotonic() - self._last_rx > silence:
                await self._conn.close(4000, "server silent")
                return
            if not self.paused:
                await self._send({"op": "ping"})

    def pause(self) -> None:
        """Stop reading the socket (tests: a slow consumer)."""
        self.paused = True
        self._resume.clear()

    def resume(self) -> None:
        self.paused = False
        self._resume.set()

    # ------------------------------------------------------------ requests

    async def _send(self, msg: Mapping[str, Any]) -> None:
        await self._conn.send(json.dumps(msg, separators=(",", ":")))

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is (tests of malformed input)."""
        await self._conn.send(data)

    async def subscribe(
        self, channel: str, *, timeout: float = 10.0, **params: Any
    ) -> str:
        """Subscribe and wait for the snapshot; return the channel's ``ch``.

        Raises :class:`FeedClientError` if the server refuses.
        """
        req_id = self._next_id
        self._next_id += 1
        req = {"op": "subscribe", "id": req_id, "channel": channel, **params}
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        await self._send(req)
        ch = await asyncio.wait_for(fut, timeout)
        self._subs[ch] = {k: v for k, v in req.items() if k != "id"}
        await self.wait(lambda: ch in self.seqs, timeout)
        return ch

    async def unsubscribe(self, ch: str, *, timeout: float = 10.0) -> None:
        req = dict(self._subs.pop(ch))
        req["op"] = "unsubscribe"
        req_id = self._next_id
        self._next_id += 1
        req["id"] = req_id
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        await self._send(req)
        await asyncio.wait_for(fut, timeout)
        self.seqs.pop(ch, None)
        self.books.pop(ch, None)

    async def request(self, msg: Mapping[str, Any], *, timeout: float = 10.0) -> str:
        """Send a request with a fresh ``id``; wait for its reply's ``ch``."""
        req_id = self._next_id
        self._next_id += 1
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        await self._send({**msg, "id": req_id})
        return await asyncio.wait_for(fut, timeout)

    async def wait(self, pred: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``pred()`` is true, re-checked after each message."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))

    # ------------------------------------------------------------ messages

    def book(self, ch: str) -> tuple[list[P.Level], list[P.Level]]:
        return self.books[ch].levels()

    async def _resync(self, ch: str) -> None:
        if ch in self._resyncing or ch not in self._subs:
            return
        self._resyncing.add(ch)
        self.resyncs += 1
        await self._send(self._subs[ch])

    async def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind in ("book", "trades", "ticker", "user"):
            ch = msg["ch"]
            last = self.seqs.get(ch)
            if last is None or ch in self._resyncing or msg["seq"] <= last:
                return  # no snapshot yet, resyncing, or already included
            if msg["prev_seq"] != last:
                self.gaps += 1
                await self._resync(ch)
                return
            self._apply(kind, ch, msg)
            self.seqs[ch] = msg["seq"]
            self.updates += 1
            if kind == "book":
                book = self.books[ch]
                book.seq, book.checksum = msg["seq"], msg["checksum"]
                if not book.verify():
                    self.bad_checksums += 1
                    await self._resync(ch)
        elif kind == "snapshot":
            ch = msg["ch"]
            self._resyncing.discard(ch)
            self.snapshots += 1
            if ch.startswith("book:"):
                book = LocalBook(msg)
                self.books[ch] = book
                if not book.verify():
                    self.bad_checksums += 1
            elif ch.startswith("trades:"):
                self.trades[ch] = deque(msg["trades"], maxlen=1000)
            elif ch.startswith("ticker:"):
                self.tickers[ch] = msg
            elif ch == "user":
                self.user = {
                    "cash": msg["cash"],
                    "orders": {o["oid"]: o for o in msg["orders"]},
                    "positions": msg["positions"],
                    "events": [],
                }
            self.seqs[ch] = msg["seq"]
        elif kind in ("subscribed", "unsubscribed", "authenticated"):
            fut = self._pending.pop(msg.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(msg.get("ch", ""))
        elif kind == "error":
            self.errors.append(msg)
            fut = self._pending.pop(msg.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_exception(FeedClientError(msg["code"], msg["message"]))
        elif kind == "hello":
            self.hello = msg
        elif "EventData" in msg:
            self.seed = msg

    def _apply(self, kind: str, ch: str, msg: dict[str, Any]) -> None:
        if kind == "book":
            book = self.books[ch]
            P.apply_changes(book.bids, book.asks, msg["bids"], msg["asks"])
        elif kind == "trades":
            self.trades[ch].extend(msg["trades"])
        elif kind == "ticker":
            self.tickers[ch] = msg
        elif self.user is not None:
            self.user["events"].extend(msg["events"])
