"""How each mode builds its :class:`~probo_engine.server.services.Services`.

* :func:`memory_services`: the runner and an :class:`InProcessBus` with no
  log (nothing durable: tests and throw-away demos only);
* :func:`embedded_services`: ``probo serve``: the runner on a durable local
  entry log in the data directory, history in SQLite, the WebSocket feed;
* :func:`gateway_services`: ``probo gateway``: a ``RedisBus`` and a replica
  following the Redis entry stream.

Each is an async context manager that opens everything in order and closes it
in reverse, so the app's lifespan owns it all.  Each makes the first admin on
first start (:func:`ensure_admin`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from probo_engine.adapters.runner import EngineRunner, InProcessBus
from probo_engine.engine import Engine
from probo_engine.server.auth import SESSION_COOKIE, AuthError, AuthStore
from probo_engine.server.config import ServerConfig
from probo_engine.server.services import Services

__all__ = ["embedded_services", "ensure_admin", "gateway_services", "memory_services"]

log = logging.getLogger("probo.server")
_T = TypeVar("_T")

ADMIN_FILE = "admin-credentials.txt"


async def ensure_admin(services: Services, data: Path) -> Path | None:
    """Make the first admin if there is no user yet; return the file that
    holds its credentials (mode 0600), or ``None`` if users exist.

    The engine user is made through the bus (``CreateUser(name="admin")``),
    like every other user.
    """
    from probo_engine.server.api import Ctx
    from probo_engine.server.auth import RateLimiter
    from probo_engine.server.metrics import Metrics
    from probo_engine.server.v1 import create_user

    auth = services.auth
    if auth.n_users():
        return None
    ctx = Ctx(ServerConfig(data=data), Metrics(), RateLimiter(1, 1), RateLimiter(1, 1))
    ctx.services = services
    password = secrets.token_urlsafe(18)
    await create_user(ctx, "admin", admin=True, pw=password)
    key_id, secret = auth.new_key("admin")
    path = data / ADMIN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "# probo: the first admin, made on first start. Keep this file secret;\n"
            "# delete it once you have stored these elsewhere.\n"
            f"user = admin\npassword = {password}\n"
            f"api_key = {key_id}\napi_secret = {secret}\n"
        )
    return path


@asynccontextmanager
async def memory_services(
    config: ServerConfig, *, make_admin: bool = True
) -> AsyncIterator[Services]:
    """Runner + in-memory bus; the auth store in ``config.data``."""
    async with AsyncExitStack() as stack:
        auth = AuthStore(config.data, config.sig_window_ms)
        stack.callback(auth.close)
        bus = await stack.enter_async_context(InProcessBus(EngineRunner()))
        svc = Services(auth=auth, bus=bus, reads=bus.runner)
        if make_admin:
            await ensure_admin(svc, config.data)
        yield svc


def ws_authenticator(auth: AuthStore) -> Any:
    """The WebSocket feed's authenticator: a session cookie, or a signed
    handshake (``GET /ws``, empty query and body, see docs/server.md)."""

    async def authenticate(
        headers: Mapping[str, str], message: Mapping[str, Any] | None
    ) -> int | None:
        if message is not None:
            return None  # credentials come with the handshake only
        try:
            cookie = headers.get("cookie", "")
            for part in cookie.split(";"):
                name, _, value = part.strip().partition("=")
                if name == SESSION_COOKIE and value:
                    return auth.verify_session(value, "GET", None).uid
            if "x-probo-key" in headers:
                return auth.verify_signed(headers, "GET", "/ws", "", b"").uid
        except AuthError:
            return None
        return None

    return authenticate


class LingeringSource:
    """An :class:`EntrySource` whose reads wait a little for more entries.

    The embedded archiver reads through it: a read that finds fewer than
    ``enough`` entries waits ``linger`` seconds and takes what arrived
    meanwhile, so the history is written in fewer, larger SQLite
    transactions (one fsync each, on the disk the entry log fsyncs to).
    Measured here: batches of 500 entries cost about half the CPU per entry
    of batches of 50 (the group-commit size at ~1,000 orders/s).  The
    history then lags the engine by up to ``linger`` more; the WebSocket
    feed is the real-time view.
    """

    def __init__(self, source: Any, linger: float = 0.1, enough: int = 1000) -> None:
        self._source = source
        self._linger = linger
        self._enough = enough

    def head(self) -> int:
        return int(self._source.head())

    async def read(
        self, after: int, limit: int = 1024, timeout: float | None = None
    ) -> Any:
        got = await self._source.read(after, limit, timeout)
        if not got or len(got) >= min(limit, self._enough):
            return got
        await asyncio.sleep(self._linger)
        more = await self._source.read(got[-1].seq, limit - len(got), 0)
        return [*got, *more] if more else got


def _say(msg: str) -> None:
    print(f"probo: {msg}", file=sys.stderr, flush=True)


async def _first_start_and_ready(
    svc: Services, config: ServerConfig, data: Path
) -> None:
    """Make the first admin if needed and say where everything is."""
    made = await ensure_admin(svc, data)
    if made is not None:
        _say(f"first start: the admin's credentials are in {made} (mode 0600)")
    base = f"http://{config.host}:{config.port}"
    _say(f"ready: web UI at {base}/ui/, API docs at {base}/docs")


async def _with_progress(
    work: Awaitable[_T], what: str, t0: float, status: Callable[[], str]
) -> _T:
    """Await ``work``, printing ``status()`` and the elapsed time every second
    while it runs (on one updating line on a terminal)."""
    task = asyncio.ensure_future(work)
    tty = sys.stderr.isatty()
    printed = False
    while True:
        done, _ = await asyncio.wait([task], timeout=1.0)
        if done:
            if tty and printed:
                print(file=sys.stderr)
            return task.result()
        printed = True
        msg = f"probo: {what} {status()} ... {time.perf_counter() - t0:.0f} s"
        print(
            "\r" + msg if tty else msg,
            end="" if tty else "\n",
            file=sys.stderr,
            flush=True,
        )


class _Progress:
    """Recovery progress, set by ``LocalEntryLog.open`` from its thread."""

    def __init__(self) -> None:
        self.replayed = 0
        self.done = 0
        self.total = 0

    def __call__(self, replayed: int, done: int, total: int) -> None:
        self.replayed, self.done, self.total = replayed, done, total

    def __str__(self) -> str:
        pct = f"{100 * self.done / self.total:.0f}%, " if self.total else ""
        return f"{pct}{self.replayed:,} entries replayed"


@asynccontextmanager
async def embedded_services(config: ServerConfig) -> AsyncIterator[Services]:
    """``probo serve``: everything in this process, state in ``config.data``.

    ``<data>/log``: the durable entry log and runner snapshots (the journal);
    ``<data>/history.sqlite3``: the history; ``<data>/auth.sqlite3`` and
    ``server.key``: credentials.  A command is acknowledged once its entry is
    fsynced.  On exit: stop the archiver and the feed, write a runner
    snapshot, close everything.
    """
    from probo_engine.adapters.history.archiver import Archiver, ArchiverStats
    from probo_engine.adapters.history.store import open_store
    from probo_engine.adapters.locallog import LocalEntryLog
    from probo_engine.adapters.websocket.feed import Feed
    from probo_engine.adapters.websocket.server import WsConfig, WsServer
    from probo_engine.server.history import HistoryQueries

    data = config.data
    data.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        auth = AuthStore(data, config.sig_window_ms)
        stack.callback(auth.close)
        t0 = time.perf_counter()
        _say(f"recovering the entry log in {data / 'log'} ...")
        progress = _Progress()
        elog = await _with_progress(
            asyncio.to_thread(LocalEntryLog.open, data / "log", progress=progress),
            "recovering:",
            t0,
            lambda: str(progress),
        )
        stack.callback(elog.close)
        rec = elog.recovery
        _say(
            f"recovered to entry {rec.last_seq}: snapshot at {rec.snapshot_seq}, "
            f"{rec.replayed} entries replayed in {time.perf_counter() - t0:.2f} s"
        )
        store = await open_store(f"sqlite:///{(data / 'history.sqlite3').resolve()}")
        stack.push_async_callback(store.close)
        cp = await store.checkpoint()
        await asyncio.to_thread(elog.set_checkpoint, "history", cp.cmd_seq)
        bus = InProcessBus(elog.runner, log=elog, snapshot_every=100_000)
        await stack.enter_async_context(bus)

        async def final_snapshot() -> None:
            try:
                seq = await bus.snapshot()
            except Exception as exc:  # the log failed: recovery replays instead
                log.error("final snapshot failed: %r", exc)
            else:
                _say(f"snapshot written at entry {seq}")

        stack.push_async_callback(final_snapshot)
        runner = bus.runner
        feed = Feed(
            bus.source,
            engine=Engine.restore(runner.engine.snapshot()),
            after=runner.seq,
        )
        ws = WsServer(
            feed, WsConfig(path="/ws/v1", seed_path="/ws/seed"), ws_authenticator(auth)
        )
        stats = ArchiverStats(cmd_seq=cp.cmd_seq, head=runner.seq)
        archiver = Archiver(store, LingeringSource(bus.source), stats=stats)
        stop = asyncio.Event()
        tg = await stack.enter_async_context(asyncio.TaskGroup())
        tasks = [
            tg.create_task(archiver.run(stop), name="probo-archiver"),
            tg.create_task(feed.run(), name="probo-feed"),
            tg.create_task(ws.housekeeping(), name="probo-ws-housekeeping"),
        ]

        async def checkpoints() -> None:
            last = cp.cmd_seq
            while True:
                await asyncio.sleep(1.0)
                if stats.cmd_seq != last:
                    last = stats.cmd_seq
                    await asyncio.to_thread(elog.set_checkpoint, "history", last)

        tasks.append(tg.create_task(checkpoints(), name="probo-history-checkpoint"))

        async def stop_tasks() -> None:
            stop.set()
            for t in tasks[1:]:
                t.cancel()
            await asyncio.wait(tasks, timeout=10.0)
            tasks[0].cancel()  # the archiver stops at its next read

        stack.push_async_callback(stop_tasks)
        from starlette.routing import Router, WebSocketRoute

        ws_app = Router(
            routes=[
                WebSocketRoute("/v1", ws.asgi_app()),
                WebSocketRoute("/seed", ws.asgi_app(seed=True)),
            ]
        )
        svc = Services(
            auth=auth,
            bus=bus,
            reads=runner,
            history=HistoryQueries(store, runner.engine),
            ws_app=ws_app,
            gauges={
                "probo_bus_seq": lambda: runner.seq,
                "probo_bus_durable_lag": lambda: runner.seq - bus.durable_seq,
                "probo_archiver_lag": lambda: runner.seq - stats.cmd_seq,
                "probo_feed_lag": lambda: runner.seq - feed.entry_seq,
                "probo_ws_connections": lambda: len(ws.sessions),
            },
            ready=lambda: (
                bus.health()["failed"] is None and all(not t.done() for t in tasks)
            ),
        )
        await _first_start_and_ready(svc, config, data)
        yield svc


@asynccontextmanager
async def gateway_services(config: ServerConfig) -> AsyncIterator[Services]:
    """``probo gateway``: commands through a ``RedisBus``, queries from a
    replica that follows the Redis entry stream (started from the engine's
    newest snapshot in Redis), history from PostgreSQL (``pg_dsn``).

    Users and keys are in ``<data>/auth.sqlite3``: gateways on one machine
    share a data directory; the store is re-read every 5 s and on a miss.
    """
    from probo_engine.adapters.history.store import open_store
    from probo_engine.adapters.redis import GatewayConfig, RedisBus, RedisEntrySource
    from probo_engine.server.history import HistoryQueries

    data = config.data
    data.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        auth = AuthStore(data, config.sig_window_ms)
        stack.callback(auth.close)
        gw = GatewayConfig(redis_url=config.redis_url, prefix=config.redis_prefix)
        bus = await stack.enter_async_context(RedisBus(gw))
        source = await stack.enter_async_context(
            RedisEntrySource(config.redis_url, prefix=config.redis_prefix)
        )
        replica = await _gateway_replica(config)
        store = await open_store(config.pg_dsn)
        stack.push_async_callback(store.close)
        tg = await stack.enter_async_context(asyncio.TaskGroup())
        follow = tg.create_task(replica.follow(source), name="probo-replica")

        async def refresh() -> None:
            while True:
                await asyncio.sleep(5.0)
                await asyncio.to_thread(auth.refresh)

        tasks = [follow, tg.create_task(refresh(), name="probo-auth-refresh")]

        async def stop_tasks() -> None:
            for t in tasks:
                t.cancel()

        stack.push_async_callback(stop_tasks)
        svc = Services(
            auth=auth,
            bus=bus,
            reads=replica,
            history=HistoryQueries(store, replica.engine),
            gauges={
                "probo_replica_seq": lambda: replica.seq,
                "probo_replica_lag": lambda: max(0, source.head() - replica.seq),
            },
            ready=lambda: bool(bus.health()["engine"]) and not follow.done(),
            after_submit=replica.wait_for,
        )
        for i in range(300):  # up to 30 s for an engine to take the lease
            if bus.health()["engine"]:
                break
            if i == 10:
                _say("waiting for an engine (probo engine) on this Redis ...")
            await asyncio.sleep(0.1)
        await _first_start_and_ready(svc, config, data)
        yield svc


async def _gateway_replica(config: ServerConfig) -> Any:
    """A replica at the engine's newest snapshot in Redis (or empty)."""
    from probo_engine._optional import require
    from probo_engine.adapters.redis import RedisKeys
    from probo_engine.adapters.runner import Replica

    aio = require("redis.asyncio", extra="redis")
    r = aio.Redis.from_url(config.redis_url, socket_timeout=5.0)
    try:
        blob = await r.get(RedisKeys(config.redis_prefix).snapshot)
    finally:
        await r.aclose()
    if blob is None:
        return Replica()
    return Replica.from_snapshot(blob)


# ------------------------------------------------------- distributed processes


async def run_engine(config: ServerConfig) -> None:
    """``probo engine``: the one writer of the Redis command stream."""
    from probo_engine.adapters.redis import EngineConfig
    from probo_engine.adapters.redis import run_engine as run

    await run(
        EngineConfig(
            redis_url=config.redis_url,
            prefix=config.redis_prefix,
            data_dir=str(config.data / "engine"),
        )
    )


async def run_archiver(config: ServerConfig) -> None:
    """``probo archiver``: the Redis entry stream into PostgreSQL (``pg_dsn``)."""
    from probo_engine.adapters.history.archiver import ArchiverConfig
    from probo_engine.adapters.history.archiver import run_archiver as run
    from probo_engine.adapters.redis import RedisEntrySource

    async with RedisEntrySource(config.redis_url, prefix=config.redis_prefix) as src:
        await run(ArchiverConfig(store=config.pg_dsn, source=src))


async def run_ws(config: ServerConfig) -> None:
    """``probo ws``: a WebSocket feed server on the Redis entry stream."""
    from probo_engine.adapters.websocket.server import WsConfig
    from probo_engine.adapters.websocket.server import run_ws as run

    auth = AuthStore(config.data, config.sig_window_ms)
    try:
        await run(
            WsConfig(
                host=config.host,
                port=config.port,
                redis_url=config.redis_url,
                redis_prefix=config.redis_prefix,
            ),
            authenticate=ws_authenticator(auth),
        )
    finally:
        auth.close()


async def run_reconcile(config: ServerConfig) -> None:
    """``probo reconcile``: history (``pg_dsn``) against a replay of the stream."""
    from probo_engine.adapters.history.reconcile import ReconcileConfig
    from probo_engine.adapters.history.reconcile import run_reconcile as run
    from probo_engine.adapters.redis import RedisEntrySource

    async with RedisEntrySource(config.redis_url, prefix=config.redis_prefix) as src:
        seq, diffs = await run(ReconcileConfig(store=config.pg_dsn, source=src))
    for d in diffs:
        print(d)
    print(f"reconciled at command {seq}: {len(diffs)} differences")
    if diffs:
        raise SystemExit(1)
