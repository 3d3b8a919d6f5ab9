"""The market-data WebSocket server: sessions, limits, auth, two transports.

:class:`WsServer` owns a :class:`~.feed.Feed` and runs one *session* per
connection: it validates each client frame (:func:`protocol.parse_request`),
enforces the limits of :class:`WsConfig`, authenticates through an injected
:data:`Authenticator`, and joins the connection to feed channels.  The session
logic is transport-neutral; two transports drive it:

* **standalone**: the ``websockets`` library (``websockets.asyncio.server``),
  :meth:`WsServer.serve` / :func:`run_ws` (``probo ws``).  Frames are written
  the way ``websockets.broadcast()`` does it: straight into each connection's
  transport, without awaiting, the buffered bytes being the bounded
  per-connection queue (``max_buffer``).  Per-message compression is off (a zlib
  state per connection, and each frame compressed once per connection) and
  the library's own keepalive pings are off: the protocol's heartbeats are
  one shared frame for everyone.
* **embedded**: :meth:`WsServer.asgi_app` returns a plain ASGI WebSocket
  endpoint the HTTP server mounts (Starlette ``Mount``/``WebSocketRoute``);
  each connection gets a bounded queue of frames and one writer task.

Authentication: ``authenticate(headers, message)`` is awaited once at
connect with the handshake's headers (``message=None``), and again for each
``{"op": "auth", ...}`` message (``message`` is that JSON object).  It returns
the engine user (id or name) the credentials belong to, or ``None``.  The
server helper supplies the real one (API-key HMAC, session cookie);
:class:`TokenAuth` is a small one for tests and examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from probo_engine._optional import require
from probo_engine.adapters.entries import EntrySource
from probo_engine.adapters.websocket import protocol as P
from probo_engine.adapters.websocket.feed import Feed, Subscriber

__all__ = ["Authenticator", "TokenAuth", "WsConfig", "WsServer", "run_ws"]

log = logging.getLogger(__name__)

Principal = int | str
#: ``await authenticate(headers, message) -> user id or name, or None``.
Authenticator = Callable[
    [Mapping[str, str], Mapping[str, Any] | None], Awaitable[Principal | None]
]


@dataclass(frozen=True, slots=True)
class WsConfig:
    """Settings of the WebSocket server (``probo ws``); every limit is per process."""

    host: str = "127.0.0.1"
    port: int = 8765  #: 0: any free port (``serve`` yields the bound one)
    path: str = "/v1/ws"  #: protocol version 1
    seed_path: str = "/"  #: the seed app's messages (``connected``, EventData)
    max_connections: int = 20_000
    max_per_ip: int = 1_000
    max_per_key: int = 16  #: connections of one authenticated user
    max_subscriptions: int = 64  #: channels per connection
    max_frame: int = 4096  #: bytes of one client frame (above: close 1009)
    max_depth: int = 100  #: deepest ``book`` channel
    rate: float = 20.0  #: client requests per second (token bucket) ...
    burst: int = 40  #: ... with this bucket size
    flood_close: int = 20  #: requests refused for rate before closing (4029)
    heartbeat: float = 10.0  #: seconds between server heartbeats
    idle_timeout: float = 60.0  #: close (4000) a client silent this long; 0: never
    max_buffer: int = 256 * 1024  #: bytes queued per connection before "behind"
    resume_buffer: int = 16 * 1024  #: a behind connection resyncs below this
    slow_policy: str = "resync"  #: or "cut": close a slow consumer at once
    slow_timeout: float = 30.0  #: behind this long: closed (4008)
    send_buffer: int | None = None  #: SO_SNDBUF of each connection, if set
    redis_url: str | None = None  #: distributed mode: the event stream's Redis
    redis_prefix: str = "probo"
    shard: str = "0"

    def __post_init__(self) -> None:
        if self.slow_policy not in ("resync", "cut"):
            raise ValueError("slow_policy must be 'resync' or 'cut'")
        for name in ("max_connections", "max_per_ip", "max_per_key", "burst"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_frame < 64 or self.max_depth < 1 or self.rate <= 0:
            raise ValueError("max_frame >= 64, max_depth >= 1 and rate > 0 needed")
        if self.heartbeat <= 0 or self.idle_timeout < 0:
            raise ValueError("heartbeat > 0 and idle_timeout >= 0 needed")


class TokenAuth:
    """An :data:`Authenticator` for tests and examples: fixed bearer tokens.

    A token is accepted from the ``Authorization: Bearer <token>`` header or
    from ``{"op": "auth", "token": "<token>"}``.  Not for production: tokens
    are compared as given, never expire and are kept in memory.
    """

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self.tokens = dict(tokens)

    async def __call__(
        self, headers: Mapping[str, str], message: Mapping[str, Any] | None
    ) -> Principal | None:
        if message is not None:
            token = message.get("token")
        else:
            value = headers.get("authorization", "")
            token = value[7:] if value.lower().startswith("bearer ") else None
        if not isinstance(token, str):
            return None
        return self.tokens.get(token)


class _Transport(Protocol):
    """What a session needs from a connection (either transport)."""

    sink: Any

    async def recv(self) -> str | bytes | None:
        """The next client frame, or ``None`` once the connection is closed."""
        ...


class _Session:
    __slots__ = (
        "sub",
        "principal",
        "key",
        "ip",
        "tokens",
        "refilled",
        "stamp",
        "over",
        "seed",
    )

    def __init__(self, sub: Subscriber, ip: str, seed: bool, burst: int) -> None:
        self.sub = sub
        self.principal: Principal | None = None
        self.key: str | None = None  # per-key limit bucket
        self.ip = ip
        self.tokens = float(burst)  # rate limit: a token bucket ...
        self.refilled = time.monotonic()  # ... last refilled then
        self.stamp = self.refilled  # last frame received (idle check)
        self.over = 0  # requests refused for rate
        self.seed: str | None = "" if seed else None  # seed room, if a seed session


class WsServer:
    """Sessions over a :class:`Feed` (see the module docstring)."""

    def __init__(
        self,
        feed: Feed,
        config: WsConfig | None = None,
        authenticate: Authenticator | None = None,
    ) -> None:
        self.feed = feed
        self.config = config or WsConfig()
        self.authenticate = authenticate
        self.sessions: dict[_Session, None] = {}
        self._per_ip: dict[str, int] = {}
        self._per_key: dict[str, int] = {}
        self.refused = 0  #: connections refused by a limit

    # ------------------------------------------------------------ sessions

    async def session(
        self, tr: _Transport, headers: Mapping[str, str], ip: str, seed: bool
    ) -> None:
        """Run one connection until it closes (both transports call this)."""
        cfg = self.config
        if len(self.sessions) >= cfg.max_connections or (
            self._per_ip.get(ip, 0) >= cfg.max_per_ip
        ):
            self._refuse(tr, "too many connections from this address or in all")
            return
        principal = None
        if self.authenticate is not None:
            principal = await self.authenticate(headers, None)
        key = None if principal is None else str(principal)
        if key is not None and self._per_key.get(key, 0) >= cfg.max_per_key:
            self._refuse(tr, "too many connections for this user")
            return
        sub = self.feed.attach(tr.sink)
        s = _Session(sub, ip, seed, cfg.burst)
        self.sessions[s] = None
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        self._set_principal(s, principal)
        try:
            if seed:
                tr.sink.write(b"connected")
            else:
                self._send(
                    s,
                    {
                        "type": "hello",
                        "v": P.PROTOCOL_VERSION,
                        "cv": P.CHECKSUM_VERSION,
                        "heartbeat": cfg.heartbeat,
                        "idle_timeout": cfg.idle_timeout,
                        "max_frame": cfg.max_frame,
                        "max_subscriptions": cfg.max_subscriptions,
                        "authenticated": principal is not None,
                        "seq": self.feed.event_seq,
                    },
                )
            while True:
                data = await tr.recv()
                if data is None:
                    return
                s.stamp = time.monotonic()
                if not self._take_token(s):
                    s.over += 1
                    self._error(s, P.ErrorCode.RATE_LIMITED, "too many requests")
                    if s.over >= cfg.flood_close:
                        tr.sink.close(P.Close.RATE_LIMITED, "flood")
                        return
                    continue
                await self._handle(s, data)
        finally:
            self.feed.detach(sub)
            del self.sessions[s]
            self._per_ip[ip] -= 1
            if not self._per_ip[ip]:
                del self._per_ip[ip]
            self._set_principal(s, None)

    def _refuse(self, tr: _Transport, why: str) -> None:
        self.refused += 1
        msg = P.error_message(P.ErrorCode.TOO_MANY_CONNECTIONS, why)
        tr.sink.write(P.encode(msg))
        tr.sink.close(P.Close.TOO_MANY_CONNECTIONS, "too many connections")

    def _set_principal(self, s: _Session, principal: Principal | None) -> None:
        if s.key is not None:
            self._per_key[s.key] -= 1
            if not self._per_key[s.key]:
                del self._per_key[s.key]
        s.principal = principal
        s.key = None if principal is None else str(principal)
        if s.key is not None:
            self._per_key[s.key] = self._per_key.get(s.key, 0) + 1

    def _take_token(self, s: _Session) -> bool:
        now = time.monotonic()
        cfg = self.config
        s.tokens = min(float(cfg.burst), s.tokens + (now - s.refilled) * cfg.rate)
        s.refilled = now
        if s.tokens < 1.0:
            return False
        s.tokens -= 1.0
        return True

    def _send(self, s: _Session, msg: Mapping[str, Any]) -> None:
        self.feed.send(s.sub, P.encode(msg))

    def _error(
        self, s: _Session, code: str, message: str, req_id: int | None = None
    ) -> None:
        self._send(s, P.error_message(code, message, req_id))

    async def _handle(self, s: _Session, data: str | bytes) -> None:
        try:
            req = P.parse_request(data, max_depth=self.config.max_depth)
        except P.ProtocolError as exc:
            if s.seed is not None and exc.code == P.ErrorCode.UNKNOWN_OP:
                return  # the seed ignored unknown message types
            self._error(s, exc.code, str(exc), exc.req_id)
            return
        try:
            await self._dispatch(s, req)
        except P.ProtocolError as exc:
            self._error(s, exc.code, str(exc), req.id)

    async def _dispatch(self, s: _Session, req: P.Request) -> None:
        feed, sub = self.feed, s.sub
        op = req.op
        if op.startswith("seed_") and s.seed is None:
            raise P.ProtocolError(
                P.ErrorCode.UNKNOWN_OP,
                "the seed's messages are served on the seed path",
            )
        if op == "ping":
            self._send(s, {"type": "pong", "id": req.id, "seq": feed.event_seq})
        elif op == "auth":
            await self._auth(s, req)
        elif op == "subscribe":
            uid = self._uid_for(s, req)
            key = feed.channel_key(req, uid)
            if key not in sub.channels and (
                len(sub.channels) >= self.config.max_subscriptions
            ):
                raise P.ProtocolError(
                    P.ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                    f"at most {self.config.max_subscriptions} subscriptions",
                )
            ch = feed.channel(req, uid)
            self._send(s, {"type": "subscribed", "id": req.id, "ch": ch.wire})
            snap = feed.join(sub, ch)
            if snap is not None:
                self._send(s, snap)
        elif op == "unsubscribe":
            uid = self._uid_for(s, req)
            key = feed.channel_key(req, uid)
            if not feed.leave(sub, key):
                raise P.ProtocolError(P.ErrorCode.NOT_SUBSCRIBED, "not subscribed")
            wire = "user" if req.channel == "user" else key
            self._send(s, {"type": "unsubscribed", "id": req.id, "ch": wire})
        elif op == "seed_subscribe":
            assert req.symbol is not None
            if s.seed:
                feed.leave(sub, f"seed:{s.seed}")
            s.seed = req.symbol
            snap = feed.join(sub, feed.seed_channel(req.symbol))
            if snap is not None:
                self._send(s, snap)
        elif op == "seed_leave":
            if s.seed:
                feed.leave(sub, f"seed:{s.seed}")
            s.seed = ""

    def _uid_for(self, s: _Session, req: P.Request) -> int | None:
        """The engine user of a ``user`` channel request (None for others)."""
        if req.channel != "user":
            return None
        if s.principal is None:
            raise P.ProtocolError(
                P.ErrorCode.UNAUTHENTICATED, "the user channel needs credentials"
            )
        uid = self.feed.user_id(s.principal)
        if req.user is not None and req.user != uid and req.user != s.principal:
            raise P.ProtocolError(P.ErrorCode.FORBIDDEN, "not your user channel")
        return uid

    async def _auth(self, s: _Session, req: P.Request) -> None:
        principal = None
        if self.authenticate is not None:
            principal = await self.authenticate({}, req.credentials)
        if principal is None:
            raise P.ProtocolError(P.ErrorCode.AUTH_FAILED, "credentials refused")
        key = str(principal)
        if key != s.key and self._per_key.get(key, 0) >= self.config.max_per_key:
            raise P.ProtocolError(
                P.ErrorCode.TOO_MANY_CONNECTIONS, "too many connections for this user"
            )
        if s.key is not None and key != s.key:
            # a different user: the old user's private channel goes
            for k in [k for k, ch in s.sub.channels.items() if ch.kind == "user"]:
                self.feed.leave(s.sub, k)
        self._set_principal(s, principal)
        self._send(s, {"type": "authenticated", "id": req.id})

    # ---------------------------------------------------------- background

    async def housekeeping(self) -> None:
        """Heartbeats, slow-consumer resync/cut and idle checks, for ever."""
        cfg = self.config
        next_beat = time.monotonic() + cfg.heartbeat
        while True:
            await asyncio.sleep(min(0.2, cfg.heartbeat))
            self.feed.service()
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + cfg.heartbeat
                self.feed.broadcast(self.feed.heartbeat())
                if cfg.idle_timeout:
                    for s in list(self.sessions):
                        if now - s.stamp > cfg.idle_timeout:
                            self._error(s, P.ErrorCode.IDLE, "no heartbeat")
                            s.sub.sink.close(P.Close.IDLE, "idle")

    # ----------------------------------------------------- websockets (standalone)

    @contextlib.asynccontextmanager
    async def background(self, *, run_feed: bool = True) -> AsyncIterator[None]:
        """Run the feed (unless ``run_feed`` is false) and :meth:`housekeeping`
        in a task group while the block runs; stop both when it ends.

        For the embedded mode: enter it in the HTTP app's lifespan.  An error
        in either task cancels the block and is raised from it.
        """
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(self.housekeeping())]
            if run_feed:
                tasks.append(tg.create_task(self.feed.run()))
            try:
                yield
            finally:
                for t in tasks:
                    t.cancel()

    @contextlib.asynccontextmanager
    async def serve(self, *, run_feed: bool = True) -> AsyncIterator[int]:
        """Listen with ``websockets`` on ``config.host:port``; yield the port.

        Runs the feed (unless ``run_feed`` is false: the caller applies
        entries itself) and :meth:`housekeeping` in a task group; leaving the
        block stops both and closes every connection (1001).
        """
        ws = require("websockets.asyncio.server", extra="ws")
        cfg = self.config

        def route(conn: Any, request: Any) -> Any:
            path = request.path.split("?", 1)[0]
            if path not in (cfg.path, cfg.seed_path):
                return conn.respond(404, "no WebSocket endpoint here\n")
            return None

        server = await ws.serve(
            self._ws_handler,
            cfg.host,
            cfg.port,
            process_request=route,
            compression=None,
            ping_interval=None,
            max_size=cfg.max_frame,
            max_queue=16,
            write_limit=cfg.max_buffer,
            close_timeout=2.0,
            open_timeout=10.0,
        )
        try:
            async with self.background(run_feed=run_feed):
                yield int(server.sockets[0].getsockname()[1])
        finally:
            server.close()  # 1001 to every connection, then close_timeout
            try:
                await asyncio.wait_for(server.wait_closed(), 10.0)
            except TimeoutError:
                log.warning("connections still open 10 s after shutdown")

    async def _ws_handler(self, conn: Any) -> None:
        cfg = self.config
        if cfg.send_buffer:
            sock = conn.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfg.send_buffer)
        path = conn.request.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in conn.request.headers.raw_items()}
        peer = conn.remote_address
        ip = str(peer[0]) if peer else "?"
        await self.session(_WsTransport(conn), headers, ip, path == cfg.seed_path)

    # ---------------------------------------------------------- ASGI (embedded)

    def asgi_app(self, *, seed: bool = False, queue_frames: int = 1024) -> AsgiEndpoint:
        """An ASGI WebSocket endpoint on this server (the seed's protocol if ``seed``).

        Mount it in the HTTP app (``Starlette(routes=[WebSocketRoute("/v1/ws",
        server.asgi_app())])``: an object, not a function, so Starlette calls
        it as an ASGI app) and enter :meth:`background` in the app's
        lifespan.  Each connection's queue holds at most ``config.max_buffer``
        bytes and ``queue_frames`` frames.
        """
        return AsgiEndpoint(self, seed, queue_frames)


class AsgiEndpoint:
    """The ASGI app :meth:`WsServer.asgi_app` returns (one per mount)."""

    def __init__(self, server: WsServer, seed: bool, queue_frames: int) -> None:
        self.server = server
        self.seed = seed
        self.queue_frames = queue_frames

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise ValueError("a WebSocket endpoint")
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        server = self.server
        tr = _AsgiTransport(receive, send, server.config.max_frame, self.queue_frames)
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope.get("headers", ())
        }
        client = scope.get("client")
        ip = str(client[0]) if client else "?"

        async def run_session() -> None:
            try:
                await server.session(tr, headers, ip, self.seed)
            finally:
                tr.sink.close(1000, "")

        async with asyncio.TaskGroup() as tg:
            tg.create_task(run_session())
            tg.create_task(tr.writer())


# ----------------------------------------------------------------- transports


class _FrameCache:
    """The last payload framed and its wire bytes, as one tuple (swapped
    whole, so loops in several threads never pair a payload with another's
    frame)."""

    last: tuple[bytes, bytes] = (b"", b"")


def _wire(payload: bytes) -> bytes:
    """A server text frame (RFC 6455: FIN, opcode 1, unmasked) for ``payload``.

    Server frames are not masked, so the bytes are the same for every
    connection: the feed hands one payload object to all subscribers of a
    channel in a row, and this one-entry cache (by identity) frames it once.
    """
    last = _FrameCache.last
    if last[0] is payload:
        return last[1]
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    wire = head + payload
    _FrameCache.last = (payload, wire)
    return wire


class _WsSink:
    """A ``websockets`` connection, written like ``broadcast()`` does, only
    cheaper: the frame's wire bytes are built once for all connections
    (:func:`_wire`; no compression is negotiated, so nothing is per
    connection) and go straight to the transport, without awaiting.
    """

    __slots__ = ("conn", "proto", "transport", "_open", "_closed_exc")

    def __init__(self, conn: Any, open_state: Any, closed_exc: Any) -> None:
        self.conn = conn
        self.proto = conn.protocol
        self.transport = conn.transport
        self._open = open_state
        self._closed_exc = closed_exc

    def write(self, frame: bytes) -> None:
        if self.proto.state is not self._open:
            return
        try:
            self.transport.write(_wire(frame))
        except (OSError, RuntimeError) as exc:
            log.debug("write failed: %s", exc)

    def buffered(self) -> int:
        return int(self.transport.get_write_buffer_size())

    def close(self, code: int, reason: str) -> None:
        if self.proto.state is self._open:
            self.proto.fail(code, reason)
            self.conn.send_data()
        if self.transport.get_write_buffer_size() > 65536:
            self.transport.abort()  # it does not read: do not wait to flush


class _WsTransport:
    __slots__ = ("conn", "sink", "_closed")

    def __init__(self, conn: Any) -> None:
        ws = require("websockets", extra="ws")
        proto = require("websockets.protocol", extra="ws")
        self.conn = conn
        self._closed = ws.exceptions.ConnectionClosed
        self.sink = _WsSink(conn, proto.State.OPEN, ws.exceptions.WebSocketException)

    async def recv(self) -> str | bytes | None:
        try:
            data: str | bytes = await self.conn.recv()
        except self._closed:
            return None
        return data


class _QueueSink:
    """An ASGI connection's bounded frame queue (drained by one writer task)."""

    __slots__ = ("frames", "size", "max_frames", "wake", "closing", "code", "reason")

    def __init__(self, max_frames: int) -> None:
        self.frames: deque[bytes] = deque()
        self.size = 0
        self.max_frames = max_frames
        self.wake = asyncio.Event()
        self.closing = False
        self.code = 1000
        self.reason = ""

    def write(self, frame: bytes) -> None:
        if self.closing or len(self.frames) >= self.max_frames:
            return
        self.frames.append(frame)
        self.size += len(frame)
        self.wake.set()

    def buffered(self) -> int:
        # a full frame count reads as "over any byte limit"
        return self.size if len(self.frames) < self.max_frames else 1 << 40

    def close(self, code: int, reason: str) -> None:
        if not self.closing:
            self.closing, self.code, self.reason = True, code, reason
            self.wake.set()


class _AsgiTransport:
    def __init__(self, receive: Any, send: Any, max_frame: int, frames: int) -> None:
        self.receive = receive
        self.send = send
        self.max_frame = max_frame
        self.sink = _QueueSink(frames)
        self.gone = False

    async def recv(self) -> str | bytes | None:
        if self.sink.closing:
            return None
        msg = await self.receive()
        if msg["type"] != "websocket.receive":
            self.gone = True
            self.sink.close(1000, "")
            return None
        data: str | bytes | None = msg.get("text")
        if data is None:
            data = msg.get("bytes") or b""
        size = len(data.encode() if isinstance(data, str) else data)
        if size > self.max_frame:
            self.sink.close(P.Close.TOO_BIG, "frame too large")
            return None
        return data

    async def writer(self) -> None:
        sink = self.sink
        while True:
            await sink.wake.wait()
            sink.wake.clear()
            while sink.frames:
                frame = sink.frames.popleft()
                sink.size -= len(frame)
                try:
                    await self.send({"type": "websocket.send", "text": frame.decode()})
                except OSError:  # the client went away (uvicorn: ClientDisconnected)
                    self.gone = True
                    sink.close(1000, "")
                    return
            if sink.closing:
                if not self.gone:
                    await self.send(
                        {
                            "type": "websocket.close",
                            "code": sink.code,
                            "reason": sink.reason,
                        }
                    )
                return


# ----------------------------------------------------------------- standalone


async def run_ws(
    config: WsConfig,
    *,
    source: EntrySource | None = None,
    authenticate: Authenticator | None = None,
) -> None:
    """``probo ws``: serve the feed of ``source`` (or of Redis) until cancelled.

    Without ``source`` the entries come from the Redis event stream of
    ``config.redis_url`` (distributed mode) through the bus adapter's
    ``RedisEntrySource`` (every server reads the whole stream: its replica
    needs every entry, so the per-market pub/sub channels are not used).
    """
    async with contextlib.AsyncExitStack() as stack:
        if source is None:
            source = await stack.enter_async_context(_redis_source(config))
        feed = Feed(
            source,
            max_buffer=config.max_buffer,
            resume_buffer=config.resume_buffer,
            slow_policy=config.slow_policy,
            slow_timeout=config.slow_timeout,
        )
        server = WsServer(feed, config, authenticate)
        async with server.serve() as port:
            log.info("probo ws listening on %s:%d", config.host, port)
            await asyncio.Event().wait()


def _redis_source(config: WsConfig) -> Any:
    """The bus adapter's ``RedisEntrySource`` for ``config`` (an async CM)."""
    if not config.redis_url:
        raise ValueError("run_ws needs an entry source or config.redis_url")
    try:
        bus = importlib.import_module("probo_engine.adapters.redis")
    except ImportError as exc:
        raise RuntimeError(
            "distributed mode needs probo_engine.adapters.redis (the Redis bus)"
        ) from exc
    return bus.RedisEntrySource(
        config.redis_url, prefix=config.redis_prefix, shard=config.shard
    )
