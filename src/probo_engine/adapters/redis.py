"""Distributed mode: a lossless Redis command bus around the single-writer engine.

Gateways (:class:`RedisBus`) ``XADD`` commands to the command stream; one
engine process (:class:`RedisEngine`, :func:`run_engine`, ``python -m
probo_engine.adapters.redis engine``) reads it in order, applies each command
through an :class:`~probo_engine.adapters.runner.EngineRunner`, and writes,
in one pipeline per batch, the entries to the event stream (explicit ids
``<seq>-0``), the replies to each gateway's reply stream and the market data
to pub/sub.  Consumers read the event stream through
:class:`RedisEntrySource`.  See ``docs/bus.md`` for the layout, the recovery
and what each durability setting loses.

Keys (``<prefix>`` default ``probo``, ``<shard>`` default ``0``; the hash tag
``{<shard>}`` keeps one shard's keys in one Redis Cluster slot):

``<prefix>:{<shard>}:cmd``
    The command stream: the journal of this mode.  Fields ``v`` (bus wire
    version, ``1``), ``k`` (idempotency key), ``c`` (the command,
    ``commands.encode``), ``g`` (gateway id: where to reply; optional) and
    ``q`` (the gateway's request number, ASCII).  The engine stamps ``ts``
    from the entry id's milliseconds, so a replay stamps the same time.
``<prefix>:{<shard>}:events``
    The entry stream: one stream entry per engine batch, id ``<seq of its
    last entry>-0``, field ``e`` = the batch's entries (:func:`pack_entries`).
    Packing matters: with ``appendfsync always`` Redis fsyncs once per pass of
    its event loop, and it reads a client's pipeline 16 KiB a pass, so one
    ``XADD`` per entry costs an fsync every ~50 entries, one per batch about
    one fsync a batch (measured: 22,000 entries/s against 430,000).
``<prefix>:{<shard>}:reply:<gateway id>``
    A gateway's replies: one stream entry per engine batch, field ``r`` =
    packed replies (:func:`pack_replies`).  Capped and expiring.
``<prefix>:{<shard>}:md:<market id>``
    Pub/sub: after each batch, that market's packed events (96 bytes each).
``<prefix>:{<shard>}:snapshot``
    The newest runner snapshot; its position is ``b"<last command stream id
    applied> <command stream entries read since the stream began>"``.
``<prefix>:{<shard>}:engine``
    The engine's lease (``SET NX PX``, renewed): one engine per shard, and
    how gateways know one is running.
``<prefix>:{<shard>}:consumers``
    Hash: consumer name -> last entry seq it has durably processed; the
    event stream is never trimmed past the smallest.

redis-py (with hiredis) is imported lazily: ``import probo_engine`` does not
need it (extra ``[redis]``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import struct
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probo_engine import commands
from probo_engine import journal as _j
from probo_engine._optional import require
from probo_engine.adapters.entries import (
    Entry,
    EntryDecodeError,
    decode_entry,
    encode_entry,
)
from probo_engine.adapters.runner import APPLIED as OK
from probo_engine.adapters.runner import (
    DEFAULT_WINDOW,
    DUPLICATE,
    MALFORMED,
    MAX_KEY_BYTES,
    TYPE_ERROR,
    VALUE_ERROR,
    EngineRunner,
    Outcome,
    Reply,
    _check_key,
)
from probo_engine.commands import CommandRecord
from probo_engine.engine import Engine
from probo_engine.errors import (
    CommandDecodeError,
    JournalCorruptError,
    SnapshotError,
    UnavailableError,
)

try:
    from probo_engine import _replay as _replay_c
except ImportError:  # pragma: no cover - a build without it: hiredis only
    _replay_c = None  # type: ignore[assignment]

__all__ = [
    "EngineConfig",
    "GatewayConfig",
    "RedisBus",
    "RedisEngine",
    "RedisEntrySource",
    "RedisKeys",
    "RecoveryError",
    "main",
    "pack_entries",
    "pack_replies",
    "run_engine",
    "unpack_entries",
    "unpack_replies",
]

_log = logging.getLogger("probo_engine.redis")

WIRE_VERSION = b"1"

# reply statuses: the runner's outcome statuses (OK is APPLIED), imported above
_UNSENT = 255  # (gateway-local) the XADD failed: unavailable
_TIMED_OUT = 254  # (gateway-local) no reply in time: unavailable
_REPLY = struct.Struct("<QBQqI")  # q, status, seq, result, payload length
_EV_MARKET_AT = 72  # byte offset of ``market`` (i4) in a packed event
_EVENT_SIZE = 96
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_NATIVE_LE = sys.byteorder == "little"

#: The runner snapshot files an engine keeps in its data directory.
_SNAP_FMT = _j.SegmentFormat(snapshot_prefix="redis-runner")


def _redis() -> Any:
    """``redis.asyncio``, imported on first use."""
    require("redis", extra="redis", feature="probo_engine.adapters.redis")
    return require("redis.asyncio", extra="redis")


def _transport_errors() -> tuple[type[BaseException], ...]:
    r = require("redis", extra="redis")
    return (r.ConnectionError, r.TimeoutError, OSError, TimeoutError)


class _RespPipe:
    """A bare RESP connection (hiredis) for batched writes.

    redis-py's pipeline parses each reply through several Python layers (about
    35 us an ``XADD``, measured); the engine writes a few commands per batch,
    so its batches go through this instead: the commands packed by
    :func:`_resp`, written at once, the replies parsed by
    ``hiredis.Reader`` (error replies come back as ``hiredis.ReplyError``
    values, not raised).  Every call has a timeout; a broken connection raises
    ``ConnectionError``/``OSError``/``TimeoutError``.  ``redis://`` and
    ``unix://`` URLs (with password and db) are supported.
    """

    def __init__(self, url: str, *, timeout: float, connect_timeout: float) -> None:
        parse_url: Any = require("redis.connection", extra="redis").parse_url
        if not url.startswith(("redis://", "unix://")):
            raise ValueError(f"only redis:// and unix:// URLs are supported: {url!r}")
        self._opts: dict[str, Any] = parse_url(url)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._hiredis = require("hiredis", extra="redis")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser: Any = None

    async def connect(self) -> None:
        o = self._opts
        async with asyncio.timeout(self._connect_timeout):
            if "path" in o:
                self._reader, self._writer = await asyncio.open_unix_connection(
                    o["path"]
                )
            else:
                self._reader, self._writer = await asyncio.open_connection(
                    o.get("host", "127.0.0.1"), int(o.get("port", 6379))
                )
        self._parser = self._hiredis.Reader()
        hello: list[tuple[Any, ...]] = []
        if o.get("password"):
            user = o.get("username")
            hello.append(
                ("AUTH", user, o["password"]) if user else ("AUTH", o["password"])
            )
        if int(o.get("db", 0) or 0):
            hello.append(("SELECT", int(o["db"])))
        if hello:
            for res in await self.execute(hello):
                if isinstance(res, Exception):
                    raise ConnectionError(f"redis refused the connection setup: {res}")

    async def execute(self, cmds: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send ``cmds`` in one write; their replies, in order."""
        if self._writer is None or self._reader is None:
            raise ConnectionError("not connected")
        self._writer.writelines(_resp(cmds))
        out: list[Any] = []
        gets, feed, read = self._parser.gets, self._parser.feed, self._reader.read
        async with asyncio.timeout(self._timeout):
            await self._writer.drain()
            while len(out) < len(cmds):
                res = gets()
                if res is False:
                    data = await read(1 << 20)
                    if not data:
                        raise ConnectionError("redis closed the connection")
                    feed(data)
                    continue
                out.append(res)
        return out

    async def reply_raw(self, cmd: tuple[Any, ...]) -> bytearray:
        """Send one command; the raw RESP bytes of its whole reply.

        Only when no other reply is pending on this connection (the engine's
        reading connection).  ``ConnectionError`` if Redis sends anything
        else than one well-formed reply."""
        if self._writer is None or self._reader is None:
            raise ConnectionError("not connected")
        self._writer.writelines(_resp([cmd]))
        buf = bytearray()
        at, pending = 0, 1
        read = self._reader.read
        async with asyncio.timeout(self._timeout):
            await self._writer.drain()
            while pending:
                data = await read(1 << 20)
                if not data:
                    raise ConnectionError("redis closed the connection")
                buf += data
                try:
                    at, pending = _replay_c.resp_scan(buf, at, pending)
                except ValueError as exc:
                    raise ConnectionError(f"not a RESP reply: {exc}") from None
        if at != len(buf):
            raise ConnectionError("redis sent more than the one reply")
        return buf

    async def close(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            with contextlib.suppress(OSError, ConnectionError):
                await w.wait_closed()


def _resp(cmds: Sequence[tuple[Any, ...]]) -> list[bytes | bytearray | memoryview]:
    """``cmds`` as RESP arrays of bulk strings (what ``hiredis.pack_command``
    makes of each, without its bytes-only rule: an argument may be ``str``,
    ``int`` or any bytes-like object), as parts to write in order: large
    arguments are not copied here."""
    parts: list[bytes | bytearray | memoryview] = []
    add = parts.append
    for cmd in cmds:
        head = b"*%d\r\n" % len(cmd)
        for a in cmd:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = b"%d" % a
            if len(a) < 1024:
                head += b"$%d\r\n%b\r\n" % (len(a), a)
            else:
                add(head + b"$%d\r\n" % len(a))
                add(a)
                head = b"\r\n"
        add(head)
    return parts


def _parse(raw: bytes | bytearray) -> Any:
    """The value of one whole RESP reply (hiredis; an error reply is a
    ``hiredis.ReplyError`` value)."""
    reader = require("hiredis", extra="redis").Reader()
    reader.feed(raw)
    res = reader.gets()
    if res is False:
        raise ConnectionError("a RESP reply cut short")
    return res


class RecoveryError(RuntimeError):
    """The engine cannot rebuild its state: the command stream was trimmed
    past every snapshot it can read, or the streams disagree."""


@dataclass(frozen=True)
class RedisKeys:
    """The key names of one engine shard (see the module docstring)."""

    prefix: str = "probo"
    shard: str = "0"

    def _k(self, name: str) -> str:
        return f"{self.prefix}:{{{self.shard}}}:{name}"

    @property
    def cmd(self) -> str:
        return self._k("cmd")

    @property
    def events(self) -> str:
        return self._k("events")

    @property
    def snapshot(self) -> str:
        return self._k("snapshot")

    @property
    def lease(self) -> str:
        return self._k("engine")

    @property
    def consumers(self) -> str:
        return self._k("consumers")

    def reply(self, gateway: str | bytes) -> str:
        g = gateway.decode() if isinstance(gateway, bytes) else gateway
        return self._k(f"reply:{g}")

    def md(self, mid: int) -> str:
        return self._k(f"md:{mid}")


# ------------------------------------------------------------------ replies


def pack_replies(replies: Sequence[tuple[int, int, int, int, bytes]]) -> bytes:
    """Pack ``(q, status, seq, result, payload)`` records for a reply stream.

    ``payload`` is the packed events (status OK/DUPLICATE) or a UTF-8 error
    message.  Each record: ``u64 q | u8 status | u64 seq | i64 result | u32
    payload length | payload``.
    """
    out = bytearray()
    for q, status, seq, result, payload in replies:
        out += _REPLY.pack(q, status, seq, result, len(payload))
        out += payload
    return bytes(out)


def unpack_replies(data: bytes) -> list[tuple[int, int, int, int, bytes]]:
    """Inverse of :func:`pack_replies` (``ValueError`` on damage)."""
    out = []
    at, n = 0, len(data)
    try:
        while at < n:
            q, status, seq, result, k = _REPLY.unpack_from(data, at)
            at += _REPLY.size
            if at + k > n:
                raise ValueError("reply payload cut")
            out.append((q, status, seq, result, bytes(data[at : at + k])))
            at += k
    except struct.error as exc:
        raise ValueError(f"damaged reply record: {exc}") from None
    return out


def pack_entries(entries: Sequence[Entry]) -> bytes:
    """Entries for one event stream entry: ``(u32 length, encode_entry)*``."""
    out = bytearray()
    for e in entries:
        data = encode_entry(e)
        out += _U32.pack(len(data))
        out += data
    return bytes(out)


def unpack_entries(data: bytes) -> list[Entry]:
    """Inverse of :func:`pack_entries`; ``EntryDecodeError`` on damage, and
    unless the entries' seqs are consecutive."""
    out: list[Entry] = []
    at, n = 0, len(data)
    view = memoryview(data)
    while at < n:
        if at + 4 > n:
            raise EntryDecodeError("packed entries: length cut")
        (k,) = _U32.unpack_from(data, at)
        at += 4
        if at + k > n:
            raise EntryDecodeError("packed entries: entry cut")
        e = decode_entry(view[at : at + k])
        if out and e.seq != out[-1].seq + 1:
            raise EntryDecodeError(f"packed entries: {e.seq} after {out[-1].seq}")
        out.append(e)
        at += k
    if not out:
        raise EntryDecodeError("packed entries: empty")
    return out


def _split_position(stored: bytes) -> tuple[bytes, int]:
    """A snapshot's position: ``b"<last command stream id> <entries read>"``."""
    sid, _, n = stored.partition(b" ")
    try:
        _id_tuple(sid)
        return sid, int(n)
    except ValueError:
        raise SnapshotError(f"bad position {stored!r} in a runner snapshot") from None


def _id_tuple(sid: bytes | str) -> tuple[int, int]:
    s = sid.decode() if isinstance(sid, bytes) else sid
    ms, _, n = s.partition("-")
    return int(ms), int(n or 0)


# ------------------------------------------------------------------- engine


@dataclass
class EngineConfig:
    """How to run the engine process (flags and ``PROBO_*`` env, see ``main``)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: str | None = None  #: local copies of the runner snapshots
    prefix: str = "probo"
    shard: str = "0"
    batch: int = 1024  #: commands read per XREAD (COUNT)
    block_ms: int = 200  #: XREAD BLOCK when idle
    snapshot_every: int = 100_000  #: entries between runner snapshots
    window: int = DEFAULT_WINDOW  #: dedup window (keyed commands)
    engine_options: dict[str, int] = field(default_factory=dict)
    events_keep: int = 1_000_000  #: entries kept in the event stream at least
    reply_keep: int = 10_000  #: reply stream entries kept (approximate)
    reply_ttl_ms: int = 3_600_000  #: a reply stream expires after this idle time
    lease_ms: int = 5_000  #: engine lease; renewed every third of it
    publish: bool = True  #: market data on pub/sub
    connect_timeout: float = 2.0
    op_timeout: float = 10.0  #: socket timeout of non-blocking calls


class RedisEngine:
    """The engine process of one shard: reads commands, writes entries.

    ``await engine.run(stop)`` runs until ``stop`` is set.  On a Redis error
    it reconnects with backoff and rebuilds its state from the newest
    snapshot and the command stream (the same path as a restart), so its
    state never runs ahead of what Redis holds.
    """

    def __init__(self, config: EngineConfig) -> None:
        if config.batch < 1 or config.snapshot_every < 1 or config.lease_ms < 300:
            raise ValueError("batch and snapshot_every >= 1, lease_ms >= 300")
        self.config = config
        self.keys = RedisKeys(config.prefix, config.shard)
        self.runner: EngineRunner | None = None
        self.position = b"0-0"  #: last command stream id applied
        self._consumed = 0  # command stream entries read, from the first ever
        self._token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}".encode()
        self._events_head = 0  # entries up to this seq are in the event stream
        self._snap_seq = 0
        self._snap_positions: list[bytes] = []  # positions of the snapshots kept
        self._lock_fd = -1
        self.applied = 0  #: commands applied since start (for benchmarks)
        self.ready = asyncio.Event()  #: set once recovered and reading
        self._pipe: _RespPipe | None = None
        self._rpipe: _RespPipe | None = None

    # -------------------------------------------------------------- run

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        if self.config.data_dir:
            d = Path(self.config.data_dir)
            d.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _j._lock(d)
        try:
            backoff = 0.05
            again: tuple[type[BaseException], ...] = (*_transport_errors(), _Rebuild)
            while not stop.is_set():
                try:
                    await self._session(stop)
                    backoff = 0.05
                except again as exc:
                    self.ready.clear()
                    _log.warning(
                        "engine restarting its session",
                        extra={"error": repr(exc), "retry_in": backoff},
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(backoff * 2, 2.0)
        finally:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    async def _session(self, stop: asyncio.Event) -> None:
        cfg = self.config
        aio = _redis()
        r = aio.Redis.from_url(
            cfg.redis_url,
            socket_connect_timeout=cfg.connect_timeout,
            socket_timeout=cfg.op_timeout + cfg.block_ms / 1000,
            retry_on_timeout=False,
        )
        self._pipe = _RespPipe(
            cfg.redis_url, timeout=cfg.op_timeout, connect_timeout=cfg.connect_timeout
        )
        # the command stream is read on its own bare connection too (its
        # replies parsed by hiredis alone), while the writes are in flight
        self._rpipe = _RespPipe(
            cfg.redis_url,
            timeout=cfg.op_timeout + cfg.block_ms / 1000,
            connect_timeout=cfg.connect_timeout,
        )
        try:
            await self._pipe.connect()
            await self._rpipe.connect()
            await self._acquire(r, stop)
            if stop.is_set():
                return
            await self._recover(r)
            self.ready.set()
            _log.info(
                "engine ready",
                extra={"seq": self.runner.seq if self.runner else 0},
            )
            await self._loop(r, stop)
        finally:
            with contextlib.suppress(*_transport_errors()):
                # give the lease up so a successor need not wait it out
                await r.eval(_RELEASE, 1, self.keys.lease, self._token)
            await r.aclose()
            await self._pipe.close()
            await self._rpipe.close()

    # ------------------------------------------------------------ lease

    async def _acquire(self, r: Any, stop: asyncio.Event) -> None:
        waited = False
        while not stop.is_set():
            if await r.set(
                self.keys.lease, self._token, nx=True, px=self.config.lease_ms
            ):
                return
            if not waited:
                _log.info(
                    "waiting for the engine lease", extra={"key": self.keys.lease}
                )
                waited = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)

    async def _renew(self, r: Any) -> None:
        ok = await r.eval(_RENEW, 1, self.keys.lease, self._token, self.config.lease_ms)
        if not ok:
            raise _Rebuild("the engine lease was taken by another engine")

    # --------------------------------------------------------- recovery

    async def _recover(self, r: Any) -> None:
        """Newest readable snapshot + the command stream after it."""
        # What was removed from the head of the command stream: a snapshot
        # is usable only if it consumed at least that many entries (Redis 7.0
        # does not move max-deleted-entry-id on XTRIM, entries-added does
        # count every XADD), and is past max-deleted-entry-id when set.
        cfg, keys = self.config, self.keys
        floor = (0, 0)
        removed = 0
        with contextlib.suppress(_redis_response_error()):
            info = await r.xinfo_stream(keys.cmd)
            floor = _id_tuple(info.get("max-deleted-entry-id", b"0-0"))
            removed = int(info.get("entries-added", 0)) - int(info.get("length", 0))
        candidates: list[tuple[str, bytes]] = []
        blob = await r.get(keys.snapshot)
        if blob is not None:
            candidates.append((keys.snapshot, blob))
        for path in self._local_snapshots():
            with contextlib.suppress(SnapshotError, OSError):
                seq = _SNAP_FMT.snapshot_seq(path.name) or 0
                candidates.append((str(path), _j._read_snapshot(path, seq)))
        runner: EngineRunner | None = None
        position = b"0-0"
        best = -1
        start = 0
        for where, data in candidates:
            try:
                cand, stored = EngineRunner.restore(data)
                pos, consumed = _split_position(stored)
            except SnapshotError as exc:
                _log.warning(
                    "snapshot skipped", extra={"where": where, "error": str(exc)}
                )
                continue
            if _id_tuple(pos) < floor or consumed < removed:
                _log.warning(
                    "snapshot too old for the trimmed stream",
                    extra={"where": where, "position": pos.decode()},
                )
                continue
            if cand.window != cfg.window:
                raise RecoveryError(
                    f"{where} has a dedup window of {cand.window}, config {cfg.window}"
                )
            if cand.seq > best:
                runner, position, best, start = cand, pos, cand.seq, consumed
        if runner is None:
            if floor != (0, 0) or removed > 0:
                raise RecoveryError(
                    f"{keys.cmd} was trimmed ({removed} entries removed) and no "
                    "snapshot covers it"
                )
            runner = EngineRunner(Engine(**cfg.engine_options), window=cfg.window)
            start = 0
        self.runner, self.position, self._consumed = runner, position, start
        self._snap_seq = runner.seq
        last = await r.xrevrange(keys.events, count=1)
        self._events_head = _id_tuple(last[0][0])[0] if last else 0
        _log.info(
            "recovering",
            extra={
                "snapshot_seq": runner.seq,
                "position": position.decode(),
                "events_head": self._events_head,
            },
        )

    def _local_snapshots(self) -> list[Path]:
        if not self.config.data_dir:
            return []
        d = Path(self.config.data_dir)
        for stale in d.glob("*.snap.tmp"):
            stale.unlink()
        return [p for _s, p in reversed(_j._list_dir(d, _SNAP_FMT)[1])]

    # ------------------------------------------------------------- loop

    async def _loop(self, r: Any, stop: asyncio.Event) -> None:
        # Batch N's writes (one round trip that waits for Redis's fsync) are
        # in flight while batch N+1 is read and applied; batch N+1's writes go
        # out only after N's have been answered, on the same connection, so
        # entries, replies and market data keep their order.  A snapshot is
        # taken only with nothing in flight: every entry it covers is written.
        cfg, keys = self.config, self.keys
        runner = self.runner
        assert runner is not None
        renew_every = cfg.lease_ms / 3000
        next_renew = time.monotonic() + renew_every
        rpipe = self._rpipe
        assert rpipe is not None
        read: list[Any] = ["XREAD", "COUNT", cfg.batch, "BLOCK", cfg.block_ms,
                           "STREAMS", keys.cmd, self.position]  # fmt: skip
        # (one task at most, always awaited or cancelled and awaited below:
        # not a TaskGroup, whose ExceptionGroup would hide a transport error
        # from the reconnect logic)
        flushing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                if time.monotonic() >= next_renew:
                    await self._renew(r)
                    next_renew = time.monotonic() + renew_every
                out = _Out()
                n = await self._read_apply(rpipe, read, runner, out)
                if not n:
                    continue
                read[-1] = self.position
                if flushing is not None:
                    await flushing
                flushing = asyncio.create_task(self._flush(r, out, n))
                if runner.seq - self._snap_seq >= cfg.snapshot_every:
                    await flushing
                    flushing = None
                    await self.snapshot(r)
            if flushing is not None:
                await flushing
                flushing = None
        finally:
            if flushing is not None:
                flushing.cancel()
                await asyncio.wait([flushing])
                if not flushing.cancelled():
                    flushing.exception()  # retrieved: the loop's own error wins
        if runner.seq > self._snap_seq:
            await self.snapshot(r)

    async def _read_apply(
        self, rpipe: _RespPipe, read: list[Any], runner: EngineRunner, out: _Out
    ) -> int:
        """One ``XREAD``: apply its entries into ``out``, move the position;
        the number of entries read (0: none came)."""
        if runner.c_ok():
            # the reply's raw bytes, applied in C without hiredis's objects
            raw = await rpipe.reply_raw(tuple(read))
            head = _replay_c.xread_head(raw)
            if head is not None:
                self._apply_raw(runner, raw, head[0], head[1], out)
                self._consumed += head[1]
                return int(head[1])
            resp = _parse(raw)  # nil, an error, another shape
        else:
            (resp,) = await rpipe.execute([tuple(read)])
        if resp is None:
            return 0
        if isinstance(resp, Exception):
            raise _Rebuild(f"reading {self.keys.cmd} failed: {resp!r}")
        batch = resp[0][1]
        self._apply_batch(runner, batch, out)
        self.position = batch[-1][0]
        self._consumed += len(batch)
        return len(batch)

    def _apply_raw(
        self, runner: EngineRunner, raw: bytearray, at: int, count: int, out: _Out
    ) -> None:
        """Apply the ``count`` stream entries of an ``XREAD`` reply's raw
        bytes from ``at``: in C (``EngineRunner.apply_stream_raw``), each one
        it leaves parsed by hiredis and applied by :meth:`_apply_batch`."""
        while count:
            seq = runner.seq
            at, count, last = runner.apply_stream_raw(
                raw, at, count, out.entries, out.md, out.replies
            )
            out.applied(seq, runner.seq)
            if last is not None:
                self.position = last
            if count:
                end = _replay_c.resp_scan(raw, at, 1)[0]
                entry = _parse(raw[at:end])
                self._apply_batch(runner, [entry], out)
                self.position = entry[0]
                at, count = end, count - 1

    def _apply_batch(
        self,
        runner: EngineRunner,
        batch: Sequence[tuple[bytes, list[bytes]]],
        out: _Out,
    ) -> None:
        """Apply one ``XREAD`` batch of command stream entries, in order.

        Entries in the gateways' field layout (``v k c g q``, in that order)
        go to the runner together (:meth:`EngineRunner.apply_encoded`); any
        other entry goes through :meth:`_one` on its own, after the entries
        before it.  Either way each entry's outcome, reply and log line are
        those of :meth:`_one` (the tests compare both paths).
        """
        # Entries the C path takes (runner.apply_stream) are applied and
        # packed there; it stops at the first it cannot take, which goes to
        # the runner with the others of its layout (apply_encoded) or alone
        # through _one, then the C path resumes after it.
        # (sid, gateway, q) of each entry in ``items``
        slots: list[tuple[bytes, bytes, int]] = []
        items: list[tuple[bytes, bytes, int]] = []
        last_ms = b""
        now = 0
        layout = _LAYOUT
        entries, md, replies = out.entries, out.md, out.replies
        i, n = 0, len(batch)
        while i < n:
            seq = runner.seq
            stop = runner.apply_stream(batch, i, entries, md, replies)
            if stop > i:
                out.applied(seq, runner.seq)
                i = stop
                if i == n:
                    break
            sid, flat = batch[i]
            i += 1
            if (
                len(flat) == 10
                and flat[::2] == layout
                and flat[1] == WIRE_VERSION
                and len(flat[3]) <= MAX_KEY_BYTES
            ):
                ms = sid.partition(b"-")[0]
                if ms != last_ms:
                    now = int(ms) * 1_000_000
                    last_ms = ms
                try:
                    q = int(flat[9])
                except ValueError:
                    q = 0
                slots.append((sid, flat[7], q if 0 <= q < _U64_END else 0))
                items.append((flat[5], flat[3], now))
                if runner.c_stream:
                    # one at a time: the C path resumes after it
                    self._outcomes(slots, runner.apply_encoded(items), out)
                    slots, items = [], []
                continue
            if items:
                self._outcomes(slots, runner.apply_encoded(items), out)
                slots, items = [], []
            it = iter(flat)
            self._one(runner, sid, dict(zip(it, it, strict=False)), out)
        if items:
            self._outcomes(slots, runner.apply_encoded(items), out)

    @staticmethod
    def _outcomes(
        slots: list[tuple[bytes, bytes, int]], outcomes: list[Outcome], out: _Out
    ) -> None:
        for (sid, g, q), (status, seq, result, payload, entry) in zip(
            slots, outcomes, strict=True
        ):
            out.reply(g, (q, status, seq, result, payload))
            if status == OK:
                out.entry(seq, entry, payload)
            elif status == MALFORMED:
                _log.warning(
                    "malformed command",
                    extra={"id": sid.decode(), "error": payload.decode()},
                )
            elif status != DUPLICATE:
                _log.info(
                    "command refused",
                    extra={"id": sid.decode(), "error": payload.decode()},
                )

    def _one(
        self, runner: EngineRunner, sid: bytes, fields: dict[bytes, bytes], out: _Out
    ) -> None:
        """Apply one command stream entry, whatever its fields (the general path)."""
        g = fields.get(b"g")
        q = _request_number(fields.get(b"q", b"0"))
        try:
            if fields.get(b"v") != WIRE_VERSION:
                raise _Malformed(
                    f"wire version {fields.get(b'v')!r}, expected {WIRE_VERSION!r}"
                )
            raw = fields.get(b"c")
            key = fields.get(b"k", b"")
            if raw is None:
                raise _Malformed("no command field 'c'")
            if len(key) > MAX_KEY_BYTES:
                raise _Malformed(f"key of {len(key)} bytes")
            try:
                cmd = commands.decode(raw)
            except CommandDecodeError as exc:
                raise _Malformed(str(exc)) from None
            ms = _id_tuple(sid)[0]
            res = runner.apply(cmd, key, now_ns=ms * 1_000_000)
        except _Malformed as exc:
            _log.warning(
                "malformed command", extra={"id": sid.decode(), "error": str(exc)}
            )
            out.reply(g, (q, MALFORMED, 0, 0, str(exc).encode()))
            return
        except (TypeError, ValueError, OverflowError) as exc:
            _log.info("command refused", extra={"id": sid.decode(), "error": str(exc)})
            status = TYPE_ERROR if isinstance(exc, TypeError) else VALUE_ERROR
            out.reply(g, (q, status, 0, 0, str(exc).encode()))
            return
        if isinstance(res, Reply):
            out.reply(g, (q, DUPLICATE, res.seq, res.result, res.events))
            return
        out.entry(res.seq, encode_entry(res), res.events)
        out.reply(g, (q, OK, res.seq, res.result, res.events))

    async def _flush(self, r: Any, out: _Out, n_commands: int) -> None:
        cfg, keys = self.config, self.keys
        ev_key = keys.events
        cmds: list[tuple[Any, ...]] = []
        last = out.first + out.n - 1  # the batch's last entry seq
        # entries a replay re-applied that the event stream already holds
        # are not written again (and Redis would refuse their id)
        if out.n and last > self._events_head:
            # one stream entry for the batch, id = its last seq
            first = max(out.first, self._events_head + 1)
            cmds.append(("XADD", ev_key, f"{last}-0", "e", out.entries_from(first)))
        n = len(cmds)
        for g, replies in out.replies.items():
            rk = keys.reply(g)
            cmds.append(("XADD", rk, "MAXLEN", "~", cfg.reply_keep, "*", "r",
                         replies))  # fmt: skip
            cmds.append(("PEXPIRE", rk, cfg.reply_ttl_ms))
        if cfg.publish:
            for mid, evs in out.md.items():
                cmds.append(("PUBLISH", keys.md(mid), evs))
        if not cmds:
            self.applied += n_commands
            return
        assert self._pipe is not None
        results = await self._pipe.execute(cmds)
        for res in results[:n]:
            if isinstance(res, Exception):
                # the event stream holds something we did not expect: rebuild
                raise _Rebuild(f"writing entries failed: {res!r}")
        if out.n:
            self._events_head = max(self._events_head, last)
        self.applied += n_commands

    # --------------------------------------------------------- snapshots

    async def snapshot(self, r: Any) -> None:
        """Store a runner snapshot (Redis, then the data directory), then trim.

        The command stream is trimmed below the previous snapshot's position
        (one spare), the event stream below the smallest consumer checkpoint
        and ``events_keep`` entries back.
        """
        runner = self.runner
        assert runner is not None
        cfg, keys = self.config, self.keys
        data = runner.snapshot(b"%s %d" % (self.position, self._consumed))
        await r.set(keys.snapshot, data)  # durable before anything is trimmed
        if cfg.data_dir:
            await asyncio.to_thread(self._write_local, runner.seq, data)
        self._snap_seq = runner.seq
        self._snap_positions.append(self.position)
        if len(self._snap_positions) > 2:
            del self._snap_positions[0]
        if len(self._snap_positions) == 2:
            await r.xtrim(
                keys.cmd, minid=self._snap_positions[0].decode(), approximate=True
            )
        floor = runner.seq - cfg.events_keep
        checkpoints = await r.hvals(keys.consumers)
        for v in checkpoints:
            with contextlib.suppress(ValueError):
                floor = min(floor, int(v))
        if floor > 0:
            await r.xtrim(keys.events, minid=f"{floor + 1}-0", approximate=True)
        _log.info("snapshot", extra={"seq": runner.seq, "bytes": len(data)})

    def _write_local(self, seq: int, data: bytes) -> None:
        d = Path(self.config.data_dir or ".")
        _j._write_snapshot(d, seq, data, _SNAP_FMT)
        snaps = _j._list_dir(d, _SNAP_FMT)[1]
        for _s, path in snaps[:-2]:
            path.unlink()


class _Malformed(Exception):
    """A command stream entry that is not a command (error reply, skipped)."""


class _Rebuild(Exception):
    """Start a new session: reconnect, take the lease, recover the state."""


class _Out:
    """What one batch produces: entries, and replies grouped by gateway.

    ``entries`` holds the ``n`` applied entries (seqs ``first``, ``first +
    1``, ...) packed as :func:`pack_entries` packs them; ``md`` their packed
    events by market (:func:`_by_market`, in order); ``replies`` each
    gateway's :func:`pack_replies` records.  The C path
    (``EngineRunner.apply_stream``) appends to the same buffers.
    """

    __slots__ = ("entries", "first", "md", "n", "replies")

    def __init__(self) -> None:
        self.first = 0
        self.n = 0
        self.entries = bytearray()
        self.md: dict[int, bytearray] = {}
        self.replies: dict[bytes, bytearray] = {}

    def entry(self, seq: int, encoded: bytes, events: bytes) -> None:
        if not self.n:
            self.first = seq
        self.n += 1
        self.entries += _U32.pack(len(encoded))
        self.entries += encoded
        if events:
            md = self.md
            for mid, evs in _by_market(events).items():
                group = md.get(mid)
                if group is None:
                    md[mid] = group = bytearray()
                group += b"".join(evs)

    def reply(self, g: bytes | None, rec: tuple[int, int, int, int, bytes]) -> None:
        if g:
            group = self.replies.get(g)
            if group is None:
                self.replies[g] = group = bytearray()
            group += _REPLY.pack(*rec[:4], len(rec[4]))
            group += rec[4]

    def applied(self, before: int, after: int) -> None:
        """Count the entries ``before + 1 .. after`` that the C path packed."""
        if after > before:
            if not self.n:
                self.first = before + 1
            self.n += after - before

    def entries_from(self, seq: int) -> bytearray | memoryview:
        """The packed entries from seq ``seq`` on (``first`` <= seq)."""
        at, data = 0, self.entries
        for _ in range(seq - self.first):
            at += 4 + _U32.unpack_from(data, at)[0]
        return memoryview(data)[at:] if at else data


_LAYOUT = [b"v", b"k", b"c", b"g", b"q"]  # a gateway's fields, in its order
_U64_END = 1 << 64


def _request_number(q: bytes) -> int:
    """A stream entry's ``q`` (0 when it is not a u64 in ASCII)."""
    try:
        n = int(q)
    except ValueError:
        return 0
    return n if 0 <= n < _U64_END else 0


def _by_market(events: bytes | bytearray) -> dict[int, list[bytes | bytearray]]:
    """Packed events grouped by their ``market`` field (events of none, -1,
    left out), in order."""
    md: dict[int, list[bytes | bytearray]] = {}
    if _NATIVE_LE:  # every event's market in one C-level slice
        markets = memoryview(events).cast("i")[_EV_MARKET_AT // 4 :: _EVENT_SIZE // 4]
        mids = markets.tolist()
    else:
        mids = [m for (m,) in _I32.iter_unpack(events)][_EV_MARKET_AT // 4 :: 24]
    first = mids[0]
    if mids.count(first) == len(mids):  # one market (the common case)
        if first >= 0:
            md[first] = [events]
        return md
    at = 0
    for mid in mids:
        if mid >= 0:
            group = md.get(mid)
            if group is None:
                md[mid] = group = []
            group.append(events[at : at + _EVENT_SIZE])
        at += _EVENT_SIZE
    return md


def _time_out(fut: asyncio.Future[tuple[int, int, int, bytes]]) -> None:
    if not fut.done():
        fut.set_result((_TIMED_OUT, 0, 0, b""))


def _redis_response_error() -> type[BaseException]:
    r = require("redis", extra="redis")
    err: type[BaseException] = r.ResponseError
    return err


# Lua: renew the lease if we hold it (or nobody does); 1 if held now.
_RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def run_engine(config: EngineConfig, stop: asyncio.Event | None = None) -> None:
    """Run the engine process of ``config`` until ``stop`` is set (or cancelled)."""
    await RedisEngine(config).run(stop)


# ------------------------------------------------------------------ gateway


@dataclass
class GatewayConfig:
    """How a gateway talks to Redis."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "probo"
    shard: str = "0"
    gateway_id: str | None = None  #: default: a fresh random id per process
    connect_timeout: float = 1.0
    op_timeout: float = 5.0
    max_connections: int = 256
    health_every: float = 0.5  #: how often the engine's lease is checked


class RedisBus:
    """:class:`~probo_engine.adapters.runner.CommandBus` over Redis (a gateway).

    ``submit`` validates the command locally (``TypeError``/``ValueError``,
    nothing sent), checks that Redis and an engine are up (else
    ``UnavailableError`` at once), ``XADD``\\ s it with its key and this
    gateway's reply target, and waits for the engine's reply on this
    gateway's reply stream, at most ``timeout`` seconds.  A command the
    engine refuses as misuse raises ``TypeError``/``ValueError`` as with
    :class:`InProcessBus`.

    Use it as an async context manager: it owns the task that reads the
    reply stream (reconnecting with backoff) and watches the engine's lease.
    """

    def __init__(self, config: GatewayConfig | None = None, **kw: Any) -> None:
        self.config = config or GatewayConfig(**kw)
        self.keys = RedisKeys(self.config.prefix, self.config.shard)
        self.gateway_id = self.config.gateway_id or uuid.uuid4().hex[:16]
        self._reply_key = self.keys.reply(self.gateway_id)
        self._q = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[tuple[int, int, int, bytes]]] = {}
        self._r: Any = None
        self._tg: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()
        self._connected = False
        self._engine_up = False
        self._last_error: str | None = None
        self._last_reply = 0.0
        self._checked = asyncio.Event()  # the first health check has finished
        # commands waiting to be XADDed, and the task that sends them in
        # batches (one round trip, one Redis fsync, for all that queued up)
        self._outbox: list[tuple[int, tuple[Any, ...]]] = []
        self._send_wake = asyncio.Event()

    async def __aenter__(self) -> RedisBus:
        cfg = self.config
        aio = _redis()
        self._r = aio.Redis.from_url(
            cfg.redis_url,
            socket_connect_timeout=cfg.connect_timeout,
            socket_timeout=cfg.op_timeout,
            max_connections=cfg.max_connections,
            retry_on_timeout=False,
        )
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._tg.create_task(self._read_replies(), name="probo-gateway-replies")
        self._tg.create_task(self._send(), name="probo-gateway-send")
        with contextlib.suppress(TimeoutError):  # health known before the first submit
            await asyncio.wait_for(self._checked.wait(), cfg.connect_timeout * 2)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._send_wake.set()
        tg, self._tg = self._tg, None
        try:
            if tg is not None:
                # children end on their own (stop is set); the body's error, if
                # any, propagates unchanged (not wrapped in an ExceptionGroup)
                await tg.__aexit__(None, None, None)
        finally:
            with contextlib.suppress(*_transport_errors()):
                await self._r.delete(self._reply_key)
            await self._r.aclose()

    def health(self) -> dict[str, Any]:
        """``{"redis": bool, "engine": bool, "pending": n, "last_error": str|None}``."""
        return {
            "redis": self._connected,
            "engine": self._engine_up,
            "pending": len(self._waiting),
            "last_error": self._last_error,
            "gateway_id": self.gateway_id,
        }

    async def submit(
        self, cmd: CommandRecord, key: bytes, *, timeout: float = 5.0
    ) -> Reply:
        """See :meth:`probo_engine.adapters.runner.CommandBus.submit`."""
        payload = commands.encode(cmd)
        key = _check_key(key)
        if self._tg is None:
            raise UnavailableError("this RedisBus is not running (use async with)")
        if not self._connected:
            raise UnavailableError(f"redis is unavailable: {self._last_error}")
        if not self._engine_up:
            raise UnavailableError("no engine is running for this shard")
        q = next(self._q)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[int, int, int, bytes]] = loop.create_future()
        self._waiting[q] = fut
        self._outbox.append(
            (q, ("XADD", self.keys.cmd, "*", "v", WIRE_VERSION, "k", key,
                 "c", payload, "g", self.gateway_id, "q", q))
        )  # fmt: skip
        self._send_wake.set()
        # a timer that answers the future (cheaper than asyncio.timeout)
        timer = loop.call_later(timeout, _time_out, fut)
        try:
            status, seq, result, data = await fut
        finally:
            timer.cancel()
            self._waiting.pop(q, None)
        if status == _TIMED_OUT:
            raise UnavailableError(
                f"no reply from the engine in {timeout} s (retry with the same key)"
            )
        if status == _UNSENT:
            raise UnavailableError(f"redis is unavailable: {data.decode()}")
        if status in (OK, DUPLICATE):
            return Reply(seq, result, data, status == DUPLICATE)
        msg = data.decode(errors="replace")
        if status == TYPE_ERROR:
            raise TypeError(msg)
        raise ValueError(msg)

    async def _send(self) -> None:
        cfg = self.config
        pipe: _RespPipe | None = None
        try:
            while not self._stop.is_set():
                await self._send_wake.wait()
                self._send_wake.clear()
                if not self._outbox:
                    continue
                # a submit that already timed out is not sent late
                waiting = self._waiting
                batch = [item for item in self._outbox if item[0] in waiting]
                self._outbox = []
                if not batch:
                    continue
                try:
                    if pipe is None:
                        pipe = _RespPipe(
                            cfg.redis_url,
                            timeout=cfg.op_timeout,
                            connect_timeout=cfg.connect_timeout,
                        )
                        await pipe.connect()
                    results = await pipe.execute([c for _q, c in batch])
                except _transport_errors() as exc:
                    if pipe is not None:
                        await pipe.close()
                        pipe = None
                    self._last_error = repr(exc)
                    results = [exc] * len(batch)
                for (q, _c), res in zip(batch, results, strict=True):
                    if isinstance(res, Exception):
                        fut = self._waiting.get(q)
                        if fut is not None and not fut.done():
                            fut.set_result((_UNSENT, 0, 0, repr(res).encode()))
        finally:
            if pipe is not None:
                await pipe.close()

    async def _read_replies(self) -> None:
        last = b"0-0"
        backoff = 0.05
        next_check = 0.0
        r, cfg = self._r, self.config
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now >= next_check:
                    self._engine_up = bool(await r.exists(self.keys.lease))
                    next_check = now + cfg.health_every
                    self._connected = True
                    self._checked.set()
                resp = await r.xread(
                    {self._reply_key: last},
                    count=256,
                    block=int(cfg.health_every * 1000),
                )
                self._connected = True
                backoff = 0.05
                for _stream, items in resp:
                    for sid, fields in items:
                        last = sid
                        self._dispatch(fields.get(b"r", b""))
            except _transport_errors() as exc:
                self._connected = False
                self._last_error = repr(exc)
                self._checked.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, 2.0)
                next_check = 0.0

    def _dispatch(self, data: bytes) -> None:
        try:
            replies = unpack_replies(data)
        except ValueError as exc:
            _log.error("damaged reply stream entry", extra={"error": str(exc)})
            return
        self._last_reply = time.monotonic()
        for q, status, seq, result, payload in replies:
            fut = self._waiting.get(q)
            if fut is not None and not fut.done():
                fut.set_result((status, seq, result, payload))


# ------------------------------------------------------------ entry source


class RedisEntrySource:
    """:class:`~probo_engine.adapters.entries.EntrySource` over the event stream.

    ``read(after, ...)`` is ``XREAD [BLOCK] STREAMS events <after>-0``: the
    first stream entry returned is the one holding entry ``after + 1`` (ids
    are the last seq of each batch); what a read fetched beyond ``limit`` is
    served from memory by the next read.  If the entry ``after + 1`` is gone
    (the stream was trimmed past it) it raises ``LookupError``; a Redis error
    raises ``UnavailableError``.
    Use it as an async context manager, or pass a ``redis.asyncio.Redis``.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        prefix: str = "probo",
        shard: str = "0",
        client: Any = None,
        op_timeout: float = 5.0,
    ) -> None:
        if (redis_url is None) == (client is None):
            raise ValueError("give a redis_url or a client")
        self.keys = RedisKeys(prefix, shard)
        self._url = redis_url
        self._r = client
        self._own = client is None
        self._op_timeout = op_timeout
        self._head = 0
        self._cache: list[Entry] = []  # the entries of the last read, in order

    async def __aenter__(self) -> RedisEntrySource:
        if self._r is None:
            self._r = _redis().Redis.from_url(
                self._url, socket_timeout=self._op_timeout + 1.0
            )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._own and self._r is not None:
            await self._r.aclose()
            self._r = None

    def head(self) -> int:
        """The newest seq seen so far by this source."""
        return self._head

    async def read(
        self, after: int, limit: int = 1024, timeout: float | None = None
    ) -> list[Entry]:
        if self._r is None:
            raise RuntimeError("use the RedisEntrySource as an async context manager")
        cached = self._cache
        if cached and cached[0].seq <= after + 1 <= cached[-1].seq:
            i = after + 1 - cached[0].seq
            return cached[i : i + limit]
        start = f"{after}-0"
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            block = None if left <= 0 else max(1, int(min(left, 1.0) * 1000))
            try:
                resp = await self._r.xread(
                    {self.keys.events: start}, count=min(limit, 256), block=block
                )
            except _transport_errors() as exc:
                raise UnavailableError(f"redis is unavailable: {exc!r}") from exc
            if resp:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return []
        out: list[Entry] = []
        for sid, fields in resp[0][1]:
            try:
                got = unpack_entries(fields[b"e"])
                if _id_tuple(sid) != (got[-1].seq, 0):
                    raise EntryDecodeError(f"id {sid!r} for entries to {got[-1].seq}")
                if out and got[0].seq != out[-1].seq + 1:
                    raise EntryDecodeError(f"{got[0].seq} after {out[-1].seq}")
            except (KeyError, EntryDecodeError) as exc:
                raise JournalCorruptError(
                    self.keys.events, 0, f"stream entry {sid!r}: {exc}"
                ) from None
            out += got
        if out[0].seq > after + 1:
            raise LookupError(
                f"entries after {after} were trimmed (next is {out[0].seq})"
            )
        self._head = max(self._head, out[-1].seq)
        out = out[after + 1 - out[0].seq :]
        self._cache = out
        return out[:limit]

    async def set_checkpoint(self, name: str, seq: int) -> None:
        """Record that consumer ``name`` has processed up to ``seq``.

        The engine never trims the event stream past the smallest checkpoint.
        """
        await self._r.hset(self.keys.consumers, name, str(seq))


# ---------------------------------------------------------------- the CLI


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and extras."""

    _SKIP = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in self._SKIP:
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _env(name: str, default: str | None) -> str | None:
    return os.environ.get(f"PROBO_{name}", default)


def main(argv: list[str] | None = None) -> int:
    """``python -m probo_engine.adapters.redis engine --redis URL --data DIR``."""
    p = argparse.ArgumentParser(prog="python -m probo_engine.adapters.redis")
    sub = p.add_subparsers(dest="what", required=True)
    e = sub.add_parser("engine", help="run the engine process of one shard")
    e.add_argument("--redis", default=_env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    e.add_argument("--data", default=_env("DATA", None), help="local snapshot copies")
    e.add_argument("--prefix", default=_env("PREFIX", "probo"))
    e.add_argument("--shard", default=_env("SHARD", "0"))
    e.add_argument("--batch", type=int, default=1024)
    e.add_argument("--snapshot-every", type=int, default=100_000)
    e.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    e.add_argument("--lease-ms", type=int, default=5_000)
    e.add_argument("--no-publish", action="store_true")
    e.add_argument("--log-level", default=_env("LOG_LEVEL", "info"))
    args = p.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    config = EngineConfig(
        redis_url=args.redis,
        data_dir=args.data,
        prefix=args.prefix,
        shard=args.shard,
        batch=args.batch,
        snapshot_every=args.snapshot_every,
        window=args.window,
        lease_ms=args.lease_ms,
        publish=not args.no_publish,
    )

    async def go() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_engine(config, stop)

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
