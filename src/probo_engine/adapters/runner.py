"""The single writer: an engine, its command sequence and its dedup window.

:class:`EngineRunner` is the one place where commands change the engine in the
service.  It stamps each command's time, looks its idempotency key up in the
dedup window, applies it to an :class:`~probo_engine.Engine` (as
:func:`probo_engine.commands.apply` does), and returns an
:class:`~probo_engine.adapters.entries.Entry`: the command seq, the key, the
stamped command record, the result and the packed events.  Both transports
are built on it: :class:`InProcessBus` here (embedded mode) and the Redis
engine process (``adapters/redis.py``).

:class:`Replica` keeps a read-only copy of the engine in step by applying the
entries' commands in order (what gateways and WebSocket servers query), and
:class:`CommandBus` is the interface the server submits commands through.

Nothing here imports a third-party module.  See ``docs/bus.md``.

Time.  Every command record field named ``ts`` is set by the runner to the
``now_ns`` it is given (integer nanoseconds), kept monotonic: a ``now_ns``
smaller than the last one stamped is raised to it.  ``expire_ts`` (GTD) is the
caller's and is left alone; an ``Expire`` command expires what is due at the
stamped time.  The stamped record is what the entry carries, so replaying
entries needs no clock.

Dedup window.  The keys of the most recent ``window`` applied commands that
had a key (empty key: no dedup), with the seq, result and events of each.  It
is counted in commands, not seconds, so it depends only on the sequence of
commands: it is part of the runner's snapshot and rebuilt when entries are
replayed.  A command whose key is in the window is not applied; the original
reply comes back with ``duplicate=True``.  A hit does not refresh the key's
place in the window (a duplicate leaves no entry, so a replay could not see
it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from probo_engine import commands
from probo_engine.adapters.entries import (
    ENTRY_VERSION,
    Entry,
    EntrySource,
    MemoryEntryLog,
    encode_entry,
)
from probo_engine.commands import CommandRecord
from probo_engine.engine import Engine
from probo_engine.errors import (
    CommandDecodeError,
    InvariantError,
    SnapshotError,
    UnavailableError,
)
from probo_engine.journal.replay import c_batchable

try:
    from probo_engine import _replay as _replay_c
except ImportError:  # pragma: no cover - a build without it: the Python path
    _replay_c = None  # type: ignore[assignment]

__all__ = [
    "APPLIED",
    "DEFAULT_WINDOW",
    "DUPLICATE",
    "MALFORMED",
    "TYPE_ERROR",
    "VALUE_ERROR",
    "MAX_KEY_BYTES",
    "CommandBus",
    "DurableEntryLog",
    "EngineRunner",
    "InProcessBus",
    "Replica",
    "Reply",
]

#: Default size of the dedup window, in keyed commands.  At 10,000 commands/s
#: it remembers the last 10 s of keys; each slot holds the key, the seq, the
#: result and the events (typically 100-400 bytes in all).
DEFAULT_WINDOW = 100_000
#: Longest idempotency key accepted (docs/service.md).
MAX_KEY_BYTES = 64

_RUN_MAGIC = b"PROBORUN"
_RUN_VERSION = 1
# magic, version, reserved, next seq, last ts, window, keys in window,
# position length, engine snapshot length
_RUN_HEAD = struct.Struct("<8sHHQqIIIQ")
_SLOT = struct.Struct("<HQqI")  # key length, seq, result, events length
_U32 = struct.Struct("<I")
_ENTRY_HEAD = struct.Struct("<BQqH")  # entries.encode_entry's head
_I64 = struct.Struct("<q")
_I64_MAX = 2**63 - 1
_log = logging.getLogger("probo_engine.bus")

#: Outcome statuses of :meth:`EngineRunner.apply_encoded` (the Redis reply
#: statuses use the same numbers): applied, a key already in the dedup window,
#: misuse refused with ``TypeError``, with ``ValueError``/``OverflowError``,
#: and bytes that are not a command (``CommandDecodeError``).
APPLIED, DUPLICATE, TYPE_ERROR, VALUE_ERROR, MALFORMED = 0, 1, 2, 3, 4

#: One outcome of :meth:`EngineRunner.apply_encoded`: ``(status, seq, result,
#: payload, entry)``; ``payload`` is the events (APPLIED, DUPLICATE) or the
#: UTF-8 error message, ``entry`` the ``encode_entry`` bytes (APPLIED) or b"".
Outcome = tuple[int, int, int, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Reply:
    """What :meth:`CommandBus.submit` returns (docs/service.md).

    ``duplicate`` is true when the key was already in the dedup window: then
    ``seq``, ``result`` and ``events`` are the original command's and nothing
    was applied.
    """

    seq: int  #: the command's entry seq
    result: int  #: what the engine method returned (an id, an oid, -code, code)
    events: bytes  #: packed events (``EVENT_SIZE`` bytes each)
    duplicate: bool = False

    @classmethod
    def of(cls, entry: Entry) -> Reply:
        return cls(entry.seq, entry.result, entry.events, False)


class CommandBus(Protocol):
    """How the server hands commands to the single writer, whatever the mode."""

    async def submit(
        self, cmd: CommandRecord, key: bytes, *, timeout: float = 5.0
    ) -> Reply:
        """Apply ``cmd`` once (per ``key``) and return once it is durable.

        Raises ``UnavailableError`` within ``timeout`` seconds when the engine
        or its log cannot answer (the command may or may not have been
        applied: retry with the same key to learn which), and
        ``TypeError``/``ValueError`` for a command the engine refuses as
        misuse (nothing applied).
        """
        ...


class _Kind:
    """Per command class: what the runner needs on the hot path."""

    __slots__ = ("cls", "spec", "ts_at")

    def __init__(self, spec: commands.CommandSpec) -> None:
        self.cls = spec.cls
        self.spec = spec
        self.ts_at = spec.fields.index("ts") if "ts" in spec.fields else -1


_KINDS: dict[type, _Kind] = {}


def _kind(cmd: object) -> _Kind:
    k = _KINDS.get(type(cmd))
    if k is None:
        spec = commands.spec_of(cmd)  # TypeError for anything else
        if not isinstance(cmd, tuple) or isinstance(cmd, type):
            raise TypeError(f"not a command record: {cmd!r}")
        k = _KINDS[spec.cls] = _Kind(spec)
    return k


def _check_key(key: object) -> bytes:
    if type(key) is not bytes:
        if isinstance(key, (bytearray, memoryview)):
            key = bytes(key)
        else:
            raise TypeError(f"an idempotency key must be bytes, not {key!r}")
    if len(key) > MAX_KEY_BYTES:
        raise ValueError(
            f"idempotency key of {len(key)} bytes, more than {MAX_KEY_BYTES}"
        )
    return key


def _check_int(name: str, v: object, lo: int = 0) -> int:
    if type(v) is not int or v < lo:
        raise TypeError(f"{name} must be an int >= {lo}, not {v!r}")
    return v


_FORMAT_VERSION = commands.FORMAT_VERSION
#: Let :meth:`EngineRunner.apply_stream` use the C path when it can (the
#: tests turn it off to compare it with the Python path).
C_STREAM = True
# header bytes -> (body struct, size, byte offset of ts or 0, the current
# header, u32 size, bound method, byte offset of its bool or 0) of a command
# without names (apply_encoded's fast path)
_Fast = tuple[struct.Struct, int, int, bytes, bytes, Callable[..., int], int]


def _fast_table(engine: Engine) -> dict[bytes, _Fast]:
    table: dict[bytes, _Fast] = {}
    for spec in commands.COMMANDS.values():
        if spec.names or len(spec.bool_offsets) > 1:
            continue  # (none has two bools: apply() would take it)
        # byte offsets: 2 header bytes, then 8 per int and 1 per bool field
        at, ts_at = 2, 0
        for name, kind in zip(spec.fields, spec.kinds, strict=True):
            if name == "ts":
                ts_at = at
            at += 1 if kind is bool else 8
        assert at == spec.size, spec
        hdr = bytes((_FORMAT_VERSION, spec.code))
        entry = (
            spec.body, spec.size, ts_at, hdr, _U32.pack(spec.size),
            getattr(engine, spec.method),
            spec.bool_offsets[0] if spec.bool_offsets else 0,
        )  # fmt: skip
        for version in range(1, _FORMAT_VERSION + 1):
            table[bytes((version, spec.code))] = entry
    return table


class EngineRunner:
    """An :class:`~probo_engine.Engine`, the next command seq and the dedup window.

    Parameters
    ----------
    engine : Engine, optional
        The engine to drive (a new, empty ``Engine()`` by default).  Change it
        only through the runner from now on.
    window : int
        Size of the dedup window in keyed commands (0: no dedup).
    next_seq : int
        Seq of the next command (1 for a new engine).
    last_ts : int
        The latest ``ts`` stamped so far (time is kept monotonic from it).

    >>> from probo_engine.commands import CreateMarket, CreateUser, Deposit
    >>> r = EngineRunner()
    >>> r.apply(CreateMarket(), b"m-1", now_ns=10).seq
    1
    >>> e = r.apply(CreateUser(name="asha"), b"req-1", now_ns=20)
    >>> e.seq, e.result
    (2, 0)
    >>> commands.decode(r.apply(Deposit(0, 500), b"req-2", now_ns=5).command)
    Deposit(uid=0, amount=500, ts=10)
    >>> r.apply(CreateUser(name="asha"), b"req-1")   # a retry: not applied
    Reply(seq=2, result=0, events=b'', duplicate=True)
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        next_seq: int = 1,
        last_ts: int = 0,
    ) -> None:
        self._engine: Engine = Engine() if engine is None else engine
        self._window_size = _check_int("window", window)
        self._next = _check_int("next_seq", next_seq, 1)
        self._last_ts = _check_int("last_ts", last_ts)
        # key -> (seq, result, events), oldest first
        self._window: OrderedDict[bytes, tuple[int, int, bytes]] = OrderedDict()
        self._fast: dict[bytes, _Fast] | None = None  # for apply_encoded
        self._c: bool | None = None  # apply_stream runs in C (None: not known yet)

    # ------------------------------------------------------------ state

    @property
    def engine(self) -> Engine:
        """The engine (query it; change it only through :meth:`apply`)."""
        return self._engine

    @property
    def seq(self) -> int:
        """Seq of the last command applied (0: none)."""
        return self._next - 1

    @property
    def last_ts(self) -> int:
        """The latest ``ts`` stamped on a command."""
        return self._last_ts

    @property
    def window(self) -> int:
        """Size of the dedup window (keyed commands)."""
        return self._window_size

    def window_keys(self) -> list[bytes]:
        """The keys in the dedup window, oldest first."""
        return list(self._window)

    def lookup(self, key: bytes) -> Reply | None:
        """The original reply of ``key`` if it is in the window, else None."""
        hit = self._window.get(key) if key else None
        return None if hit is None else Reply(hit[0], hit[1], hit[2], True)

    # --------------------------------------------------------- commands

    def stamp(self, cmd: CommandRecord, now_ns: int) -> CommandRecord:
        """``cmd`` with its ``ts`` field (if any) set to ``max(now_ns, last_ts)``.

        Changes nothing in the runner.
        """
        k = _kind(cmd)
        if k.ts_at < 0:
            return cmd
        ts = max(now_ns, self._last_ts)
        i = k.ts_at
        return tuple.__new__(k.cls, (*cmd[:i], ts, *cmd[i + 1 :]))

    def apply(
        self, cmd: CommandRecord, key: bytes = b"", *, now_ns: int | None = None
    ) -> Entry | Reply:
        """Apply one command; return its :class:`Entry` (or the original reply).

        ``now_ns`` is the time to stamp (default: the wall clock,
        ``time.time_ns()``); see the module docstring.

        Returns
        -------
        Entry
            The command was applied with seq :attr:`seq`.
        Reply
            ``key`` was in the dedup window: the original command's reply,
            with ``duplicate=True``; nothing was applied.

        Raises
        ------
        TypeError, ValueError, OverflowError
            Misuse: not a command record, a field of the wrong kind, a key that
            is not bytes or is longer than :data:`MAX_KEY_BYTES`, or arguments
            the engine refuses as misuse (an enum out of range, a bad market
            grid, a name taken).  Nothing was applied and no seq was used.
        """
        k = _KINDS.get(type(cmd)) or _kind(cmd)
        if now_ns is None:
            now_ns = time.time_ns()
        elif type(now_ns) is not int or now_ns < 0:
            raise TypeError(f"now_ns must be an int >= 0, not {now_ns!r}")
        if type(key) is not bytes or len(key) > MAX_KEY_BYTES:
            key = _check_key(key)
        if k.ts_at >= 0:
            ts = now_ns if now_ns > self._last_ts else self._last_ts
            i = k.ts_at
            cmd = tuple.__new__(k.cls, (*cmd[:i], ts, *cmd[i + 1 :]))
        # encode() checks every field's kind and range (TypeError/ValueError)
        payload = commands.encode(cmd)
        if key:
            hit = self._window.get(key)
            if hit is not None:
                return Reply(hit[0], hit[1], hit[2], True)
        return self._apply(k, cmd, payload, key, verify=None)

    def apply_encoded(self, items: Iterable[tuple[bytes, bytes, int]]) -> list[Outcome]:
        """Apply encoded commands in order: the batched form of :meth:`apply`.

        Each item is ``(command bytes, key, now_ns)``; its outcome is exactly
        what ``apply(commands.decode(command), key, now_ns=now_ns)`` would
        give, as an :data:`Outcome` ``(status, seq, result, payload, entry)``:

        * ``APPLIED``: the command got ``seq``; ``payload`` is its events and
          ``entry`` the :func:`~probo_engine.adapters.entries.encode_entry`
          bytes of its :class:`Entry`;
        * ``DUPLICATE``: the key was in the window (also when an earlier item
          of the same call put it there): the original seq, result, events;
        * ``TYPE_ERROR`` / ``VALUE_ERROR``: misuse (what :meth:`apply` raises;
          ``OverflowError`` counts as ``VALUE_ERROR``), nothing applied,
          ``payload`` the message;
        * ``MALFORMED``: the bytes do not decode (``CommandDecodeError``).

        Commands without names (every command but the two that create), as
        ``bytes`` of their full length, are stamped in their bytes, unpacked
        with one ``struct`` call and applied without building a record or an
        :class:`Entry`; the others go through :meth:`apply` itself.  The
        tests run random streams both ways and compare every outcome, entry
        and the final state.  O(1) per command (plus the core's own work).

        >>> from probo_engine.commands import CreateMarket, Deposit, encode
        >>> r = EngineRunner()
        >>> m = encode(CreateMarket())
        >>> out = r.apply_encoded([(m, b"m", 1), (m, b"m", 2), (b"junk", b"", 3)])
        >>> [o[:3] for o in out]  # applied, a retry of key b"m", not a command
        [(0, 1, 0), (1, 1, 0), (4, 0, 0)]
        >>> out[2][3]
        b'command format version 106 (this library reads 1..2)'
        """
        fast = self._fast
        if fast is None:
            fast = self._fast = _fast_table(self._engine)
        engine = self._engine
        window, wsize = self._window, self._window_size
        head, q8 = _ENTRY_HEAD.pack, _I64.pack
        events_bytes = engine.events_bytes
        seq, last_ts = self._next, self._last_ts
        out: list[Outcome] = []
        append = out.append
        for raw, key, now in items:
            f = fast.get(raw[:2]) if type(raw) is bytes else None
            if (
                f is None
                or len(raw) != f[1]
                or type(key) is not bytes
                or len(key) > MAX_KEY_BYTES
                or type(now) is not int
                or not 0 <= now <= _I64_MAX
            ):
                self._next, self._last_ts = seq, last_ts
                append(self._apply_one_encoded(raw, key, now))
                seq, last_ts = self._next, self._last_ts
                continue
            body, _size, ts_at, hdr, size_u32, method, bool_at = f
            if bool_at and raw[bool_at] > 1:
                self._next, self._last_ts = seq, last_ts
                append(self._apply_one_encoded(raw, key, now))  # MALFORMED
                seq, last_ts = self._next, self._last_ts
                continue
            # the stamped command in its current binary form, then its fields
            if ts_at:
                ts = now if now > last_ts else last_ts
                payload = b"".join((hdr, raw[2:ts_at], q8(ts), raw[ts_at + 8 :]))
            elif raw[0] == _FORMAT_VERSION:
                payload = raw
            else:
                payload = hdr + raw[2:]
            if key:
                hit = window.get(key)
                if hit is not None:
                    append((DUPLICATE, hit[0], hit[1], hit[2], b""))
                    continue
            try:
                result = method(*body.unpack(payload))
            except TypeError as exc:
                append((TYPE_ERROR, 0, 0, str(exc).encode(), b""))
                continue
            except (ValueError, OverflowError) as exc:
                append((VALUE_ERROR, 0, 0, str(exc).encode(), b""))
                continue
            events = events_bytes() if engine.n_last_events else b""
            entry = b"".join(
                (head(ENTRY_VERSION, seq, result, len(key)), key, size_u32, payload,
                 events)
            )  # fmt: skip
            if ts_at and ts > last_ts:
                last_ts = ts
            if key and wsize:
                window[key] = (seq, result, events)
                if len(window) > wsize:
                    window.popitem(last=False)
            append((APPLIED, seq, result, events, entry))
            seq += 1
        self._next, self._last_ts = seq, last_ts
        return out

    @property
    def c_stream(self) -> bool:
        """Whether :meth:`apply_stream` has run in C (False until called)."""
        return bool(self._c)

    def c_ok(self) -> bool:
        """Whether :meth:`apply_stream` and :meth:`apply_stream_raw` run in C
        for this engine (else they apply nothing)."""
        if self._c is None:
            self._c = C_STREAM and _replay_c is not None and c_batchable(self._engine)
        return self._c

    def apply_stream_raw(
        self,
        buf: bytes | bytearray,
        at: int,
        count: int,
        entries: bytearray,
        md: dict[int, bytearray],
        replies: dict[bytes, bytearray],
    ) -> tuple[int, int, bytes | None]:
        """:meth:`apply_stream` on the raw RESP bytes of an ``XREAD`` reply.

        ``buf[at:]`` holds the reply's last ``count`` stream entries
        (``_replay.xread_head`` finds the first).  Returns ``(at, count, last
        id)``: the offset of the first entry not applied and the entries left
        from there (0: done; that entry changed nothing: apply it the general
        way, it ends at ``_replay.resp_scan(buf, at, 1)[0]``), and the id of
        the last entry applied here (None: none).  Applies nothing when
        :meth:`c_ok` is False.
        """
        if not self.c_ok() or count <= 0:
            return at, count, None
        at, count, self._next, self._last_ts, last = _replay_c.apply_stream_raw(
            self._engine, buf, at, count, self._next, self._last_ts, self._window,
            self._window_size, _FORMAT_VERSION, entries, md, replies,
        )  # fmt: skip
        return at, count, last

    def apply_stream(
        self,
        batch: Sequence[Any],
        start: int,
        entries: bytearray,
        md: dict[int, bytearray],
        replies: dict[bytes, bytearray],
    ) -> int:
        """Apply Redis command stream entries ``batch[start:]`` in C, packed.

        ``batch`` is the entries of an ``XREAD`` reply as hiredis parses them
        (``[id, [b"v", b"1", b"k", key, b"c", command, b"g", gateway, b"q",
        q]]``, adapters/redis.py).  Each entry in that layout whose command
        has no name is applied as :meth:`apply_encoded` applies ``(command,
        key, id milliseconds * 10**6)``; its ``pack_entries`` record goes to
        ``entries``, its events to ``md[market]`` (each event to its market's
        bytearray, none for events of no market) and its ``pack_replies``
        record (APPLIED or DUPLICATE, request number ``q``) to
        ``replies[gateway]`` (a bytearray).
        Returns the index of the first entry it did not apply (that entry
        changed nothing; ``len(batch)`` when done): the caller applies it the
        general way, then calls again after it.  Returns ``start`` at once
        when the C path cannot drive this engine (``_replay`` not built, a
        big-endian host, an engine class that overrides a command method).
        """
        if not self.c_ok() or start >= len(batch) or type(batch) is not list:
            return start
        stop, self._next, self._last_ts = _replay_c.apply_stream(
            self._engine, batch, start, self._next, self._last_ts, self._window,
            self._window_size, _FORMAT_VERSION, entries, md, replies,
        )  # fmt: skip
        return int(stop)

    def _apply_one_encoded(self, raw: bytes, key: bytes, now: int) -> Outcome:
        """:meth:`apply_encoded` for one item, the general way."""
        try:
            cmd = commands.decode(raw)
        except CommandDecodeError as exc:
            return (MALFORMED, 0, 0, str(exc).encode(), b"")
        try:
            res = self.apply(cmd, key, now_ns=now)
        except TypeError as exc:
            return (TYPE_ERROR, 0, 0, str(exc).encode(), b"")
        except (ValueError, OverflowError) as exc:
            return (VALUE_ERROR, 0, 0, str(exc).encode(), b"")
        if isinstance(res, Reply):
            return (DUPLICATE, res.seq, res.result, res.events, b"")
        return (APPLIED, res.seq, res.result, res.events, encode_entry(res))

    def apply_entry(self, entry: Entry, *, verify: bool = True) -> None:
        """Re-apply a logged entry (recovery): its command as recorded, no stamping.

        The entry must be the next one (``entry.seq == seq + 1``).  Its key
        enters the window as it did the first time.  With ``verify``, the
        result and events the engine produces must equal the entry's.

        Raises
        ------
        ValueError
            The entry is not the next one, or its command does not decode.
        InvariantError
            ``verify`` is on and the engine's result or events differ from the
            entry's (the engine is then ahead of the runner: discard it).
        """
        if entry.seq != self._next:
            raise ValueError(f"entry seq {entry.seq}, expected {self._next}")
        cmd = commands.decode(entry.command)
        check = entry if verify else None
        self._apply(_kind(cmd), cmd, entry.command, entry.key, verify=check)

    def _apply(
        self,
        k: _Kind,
        cmd: CommandRecord,
        payload: bytes,
        key: bytes,
        verify: Entry | None,
    ) -> Entry:
        engine = self._engine
        spec = k.spec
        # misuse raises before any change (commands.apply, without its lookup)
        if spec.names:
            result = commands.call(getattr(engine, spec.method), spec, cmd)
        else:
            result = getattr(engine, spec.method)(*cmd)
        events = engine.events_bytes() if engine.n_last_events else b""
        seq = self._next
        if verify is not None and (verify.result != result or verify.events != events):
            raise InvariantError(
                f"replaying entry {seq} gave result {result} and "
                f"{len(events)} bytes of events, the log has {verify.result} and "
                f"{len(verify.events)} bytes: the log does not match this engine"
            )
        self._next = seq + 1
        if k.ts_at >= 0:
            ts = cmd[k.ts_at]
            if ts > self._last_ts:
                self._last_ts = ts
        if key and self._window_size:
            window = self._window
            window[key] = (seq, result, events)
            if len(window) > self._window_size:
                window.popitem(last=False)
        return Entry(seq, key, payload, result, events)

    # --------------------------------------------------------- snapshots

    def snapshot(self, position: bytes = b"") -> bytes:
        """The runner's state as bytes: engine, dedup window, next seq, time.

        ``position`` is an opaque caller value stored with it (the Redis
        engine stores the last applied command stream id).  Layout
        (little-endian)::

            magic "PROBORUN" | u16 version 1 | u16 0 | u64 next seq
            | i64 last ts | u32 window size | u32 keys | u32 position length
            | u64 engine snapshot length | position | engine snapshot
            | keys, oldest first: u16 key length, u64 seq, i64 result,
              u32 events length, key, events
            | u32 CRC32 of everything before
        """
        if type(position) is not bytes:
            raise TypeError(f"position must be bytes, not {position!r}")
        eng = self._engine.snapshot()
        parts = [
            _RUN_HEAD.pack(
                _RUN_MAGIC,
                _RUN_VERSION,
                0,
                self._next,
                self._last_ts,
                self._window_size,
                len(self._window),
                len(position),
                len(eng),
            ),
            position,
            eng,
        ]
        for key, (seq, result, events) in self._window.items():
            parts += (_SLOT.pack(len(key), seq, result, len(events)), key, events)
        body = b"".join(parts)
        return body + _U32.pack(zlib.crc32(body))

    @classmethod
    def restore(
        cls, data: bytes | bytearray | memoryview, *, engine_cls: type[Engine] = Engine
    ) -> tuple[EngineRunner, bytes]:
        """A runner from :meth:`snapshot` bytes, and the position stored with it.

        Raises
        ------
        SnapshotError
            Damaged, truncated or of an unknown version (nothing is built).
        """
        view = memoryview(data).cast("B")
        try:
            if len(view) < _RUN_HEAD.size + 4:
                raise SnapshotError(f"runner snapshot too short ({len(view)} bytes)")
            if zlib.crc32(view[:-4]) != _U32.unpack_from(view, len(view) - 4)[0]:
                raise SnapshotError("runner snapshot checksum mismatch")
            magic, version, _r, nxt, last_ts, wsize, nkeys, npos, neng = (
                _RUN_HEAD.unpack_from(view)
            )
            if magic != _RUN_MAGIC:
                raise SnapshotError("not a runner snapshot (bad magic)")
            if version != _RUN_VERSION:
                raise SnapshotError(f"unknown runner snapshot version {version}")
            if nxt < 1 or last_ts < 0 or nkeys > wsize:
                raise SnapshotError("runner snapshot header out of range")
            at = _RUN_HEAD.size
            end = len(view) - 4
            if at + npos + neng > end:
                raise SnapshotError("runner snapshot length does not add up")
            position = bytes(view[at : at + npos])
            at += npos
            engine = engine_cls.restore(view[at : at + neng])
            at += neng
            window: OrderedDict[bytes, tuple[int, int, bytes]] = OrderedDict()
            prev = 0
            for _ in range(nkeys):
                nk, seq, result, nev = _SLOT.unpack_from(view, at)
                at += _SLOT.size
                key = bytes(view[at : at + nk])
                at += nk
                events = bytes(view[at : at + nev])
                at += nev
                if (
                    at > end
                    or not 0 < nk <= MAX_KEY_BYTES
                    or not prev < seq < nxt
                    or key in window
                ):
                    raise SnapshotError("runner snapshot dedup window is damaged")
                prev = seq
                window[key] = (seq, result, events)
            if at != end:
                raise SnapshotError("runner snapshot length does not add up")
        except struct.error as exc:
            raise SnapshotError(f"truncated runner snapshot: {exc}") from None
        finally:
            view.release()
        runner = cls(engine, window=wsize, next_seq=nxt, last_ts=last_ts)
        runner._window = window
        return runner, position


class Replica:
    """A read-only copy of the engine, kept in step by applying entries.

    ``apply_entry(entry)`` does ``commands.apply(engine,
    commands.decode(entry.command))`` for the next entry; the replica's state
    after entry N equals the writer's after entry N (same ``state_hash()``).
    Query :attr:`engine`; never change it directly.  Use it from one event
    loop (or one thread).

    Parameters
    ----------
    engine : Engine, optional
        The engine at entry ``seq`` (a new, empty ``Engine()`` at 0 by default).
    seq : int
        The last entry already reflected by ``engine``.
    verify : bool
        Compare each entry's result and events with what the replica's engine
        produces, and raise ``InvariantError`` on a difference (cheap: one
        bytes comparison).
    """

    def __init__(
        self, engine: Engine | None = None, seq: int = 0, *, verify: bool = True
    ) -> None:
        self._engine: Engine = Engine() if engine is None else engine
        self._seq = _check_int("seq", seq)
        self._verify = verify
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @classmethod
    def from_snapshot(
        cls, data: bytes | bytearray | memoryview, *, verify: bool = True
    ) -> Replica:
        """A replica at the state of a runner snapshot (``SnapshotError`` if bad)."""
        runner, _ = EngineRunner.restore(data)
        return cls(runner.engine, runner.seq, verify=verify)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def seq(self) -> int:
        """The last entry applied (0: none)."""
        return self._seq

    def apply_entry(self, entry: Entry) -> bool:
        """Apply the next entry; False (and nothing done) if already applied.

        Raises
        ------
        ValueError
            A gap: ``entry.seq > seq + 1`` (an entry is missing), or a command
            that does not decode.
        InvariantError
            With ``verify``: the engine's result or events differ from the
            entry's (the replica has diverged; rebuild it).
        """
        if entry.seq <= self._seq:
            return False
        if entry.seq != self._seq + 1:
            raise ValueError(
                f"entry {entry.seq} after {self._seq}: entries "
                f"{self._seq + 1}..{entry.seq - 1} are missing"
            )
        engine = self._engine
        result = commands.apply(engine, commands.decode(entry.command))
        if self._verify:
            events = engine.events_bytes() if engine.n_last_events else b""
            if result != entry.result or events != entry.events:
                raise InvariantError(
                    f"replica diverged at entry {entry.seq}: result {result}, "
                    f"log {entry.result}"
                )
        self._seq = entry.seq
        return True

    def apply_entries(self, entries: Sequence[Entry]) -> int:
        """Apply entries in order; return the seq reached (wakes waiters)."""
        for entry in entries:
            self.apply_entry(entry)
        self._wake()
        return self._seq

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and waiters[0][0] <= self._seq:
            fut = waiters.popleft()[1]
            if not fut.done():
                fut.set_result(None)

    async def wait_for(self, seq: int, timeout: float) -> bool:
        """Wait until the replica reflects entry ``seq``; False on timeout."""
        if self._seq >= seq:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        # keep the deque sorted by seq (waiters mostly arrive in seq order)
        i = len(waiters)
        while i and waiters[i - 1][0] > seq:
            i -= 1
        waiters.insert(i, (seq, fut))
        done, _ = await asyncio.wait([fut], timeout=timeout)
        if not done:
            fut.cancel()
            with contextlib.suppress(ValueError):
                waiters.remove((seq, fut))
        return self._seq >= seq

    async def follow(
        self,
        source: EntrySource,
        *,
        batch: int = 1024,
        poll: float = 1.0,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Apply entries from ``source`` as they come, until ``stop`` is set
        (checked at least every ``poll`` seconds) or the task is cancelled.

        Errors of :meth:`apply_entry` and of the source propagate.
        """
        while stop is None or not stop.is_set():
            entries = await source.read(self._seq, batch, poll)
            if entries:
                self.apply_entries(entries)


class DurableEntryLog(Protocol):
    """The durable log :class:`InProcessBus` writes entries to.

    ``append`` is called on the event loop's thread and must only buffer;
    ``commit`` runs in a worker thread (one at a time) while the loop keeps
    appending, and makes durable at least everything appended before it was
    called.  ``adapters/locallog.py`` implements it on local files.
    """

    def append(self, entry: Entry) -> None:
        """Buffer ``entry`` (the next seq) to be written by the next commit."""
        ...

    def commit(self) -> int:
        """Write and sync what is buffered; return the last durable seq."""
        ...

    def write_snapshot(self, seq: int, data: bytes) -> None:
        """Store a runner snapshot taken at entry ``seq`` (already durable)."""
        ...


class InProcessBus:
    """:class:`CommandBus` for embedded mode: the runner in this event loop.

    ``submit`` applies the command through the runner at once (the loop is
    the single writer), appends the entry to ``log`` (buffered) and returns
    when the entry is durable.  One commit task syncs the log in a worker
    thread (``asyncio.to_thread``); entries submitted while a sync runs go
    together into the next one (group commit).  Once durable, entries are
    appended to :attr:`tail` (a :class:`MemoryEntryLog`) in order, which is
    what in-process consumers read: a consumer never sees an entry that a
    crash could take back.

    With ``log=None`` nothing is written anywhere: entries are "durable" as
    soon as they are applied (tests, simulations; a crash loses everything).

    Use it as an async context manager (it owns the commit task)::

        async with InProcessBus(EngineRunner(), log=log) as bus:
            reply = await bus.submit(cmd, b"req-1")

    If the log fails (an I/O error), the engine is ahead of the log: the bus
    refuses every later command with ``UnavailableError``; restart the
    process to recover the durable state.

    Parameters
    ----------
    runner : EngineRunner
        The single writer (recovered, e.g. ``LocalEntryLog.open(d).runner``).
    log : DurableEntryLog, optional
        Where entries are made durable (``LocalEntryLog``); None: nowhere.
    tail : MemoryEntryLog, optional
        The in-memory tail to append durable entries to (default: a new one
        starting after ``runner.seq``, keeping the newest ``keep`` entries).
    clock : callable
        Integer nanoseconds for time stamping (``time.time_ns``).
    snapshot_every : int, optional
        Write a runner snapshot to ``log`` every so many entries.
    """

    def __init__(
        self,
        runner: EngineRunner,
        *,
        log: DurableEntryLog | None = None,
        tail: MemoryEntryLog | None = None,
        clock: Callable[[], int] = time.time_ns,
        keep: int | None = 100_000,
        snapshot_every: int | None = None,
    ) -> None:
        if snapshot_every is not None and (snapshot_every < 1 or log is None):
            raise ValueError("snapshot_every needs a log and must be >= 1")
        self._runner = runner
        self._log = log
        self._snapshot_every = snapshot_every
        # entries since the last snapshot count across restarts
        self._snap_seq = int(getattr(log, "snapshot_seq", runner.seq))
        self._tail = (
            MemoryEntryLog(keep=keep, first_seq=runner.seq + 1)
            if tail is None
            else tail
        )
        if self._tail.head() != runner.seq:
            raise ValueError(
                f"the tail ends at {self._tail.head()}, the runner at {runner.seq}"
            )
        self._clock = clock
        self._durable = runner.seq
        self._pending: deque[Entry] = deque()  # applied, not yet durable
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self._failed: BaseException | None = None
        self._running = False
        self._closing = False
        self._tg: asyncio.TaskGroup | None = None

    # ------------------------------------------------------------ lifetime

    async def __aenter__(self) -> InProcessBus:
        if self._tg is not None:
            raise RuntimeError("this InProcessBus is already running")
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._running = True
        if self._log is not None:
            self._tg.create_task(self._commit_loop(), name="probo-bus-commit")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self._running = False
        self._closing = True
        self._wake.set()
        tg, self._tg = self._tg, None
        if tg is not None:
            # children end on their own (stop is set); the body's error, if
            # any, propagates unchanged (not wrapped in an ExceptionGroup)
            await tg.__aexit__(None, None, None)

    # ------------------------------------------------------------ commands

    @property
    def runner(self) -> EngineRunner:
        return self._runner

    @property
    def log(self) -> DurableEntryLog | None:
        return self._log

    @property
    def tail(self) -> MemoryEntryLog:
        """The newest durable entries, in memory (an :class:`EntrySource`)."""
        return self._tail

    @property
    def source(self) -> EntrySource:
        """Every durable entry: the tail, and the log's files for older ones.

        Consumers read this: it wakes them as soon as an entry is durable and
        reaches back past the tail when the log can be read (``LocalEntryLog``).
        """
        return _TailSource(self._tail, self._log)

    @property
    def durable_seq(self) -> int:
        """Every entry up to this seq is durable."""
        return self._durable

    def health(self) -> dict[str, Any]:
        return {
            "running": self._running,
            "failed": None if self._failed is None else repr(self._failed),
            "seq": self._runner.seq,
            "durable_seq": self._durable,
        }

    async def submit(
        self, cmd: CommandRecord, key: bytes, *, timeout: float = 5.0
    ) -> Reply:
        """See :meth:`CommandBus.submit`."""
        if not self._running or self._failed is not None:
            raise UnavailableError(self._why_down())
        out = self._runner.apply(cmd, key, now_ns=self._clock())
        if isinstance(out, Reply):
            reply = out  # a retry: answer once the original is durable
        else:
            reply = Reply(out.seq, out.result, out.events, False)
            if self._log is None:
                self._durable = out.seq
                self._tail.append(out)
                return reply
            try:
                self._log.append(out)
            except BaseException as exc:
                self._fail(exc)
                raise UnavailableError(self._why_down()) from exc
            self._pending.append(out)
            self._wake.set()
        await self._wait_durable(reply.seq, timeout)
        return reply

    async def submit_many(
        self,
        items: Sequence[tuple[CommandRecord, bytes]],
        *,
        timeout: float = 5.0,
    ) -> list[Reply | Exception]:
        """Apply ``(command, key)`` pairs in order; answer them together.

        The same as one :meth:`submit` per item, in order, except that it
        waits once, for the newest entry to be durable (they are committed
        together), instead of once per command.  Each item's outcome is its
        :class:`Reply` (``duplicate=True`` for a key in the window), or the
        ``TypeError``/``ValueError``/``OverflowError`` that ``submit`` would
        have raised for it (nothing applied for that item; the others are).

        Raises
        ------
        UnavailableError
            The bus is down or the log failed, or the entries were not
            durable within ``timeout`` (as :meth:`submit`).
        """
        if not self._running or self._failed is not None:
            raise UnavailableError(self._why_down())
        out: list[Reply | Exception] = []
        last = 0
        for cmd, key in items:
            try:
                applied = self._runner.apply(cmd, key, now_ns=self._clock())
            except (TypeError, ValueError, OverflowError) as exc:
                out.append(exc)
                continue
            if isinstance(applied, Reply):
                reply = applied
            else:
                reply = Reply(applied.seq, applied.result, applied.events, False)
                if self._log is None:
                    self._durable = applied.seq
                    self._tail.append(applied)
                else:
                    try:
                        self._log.append(applied)
                    except BaseException as exc:
                        self._fail(exc)
                        raise UnavailableError(self._why_down()) from exc
                    self._pending.append(applied)
            last = max(last, reply.seq)
            out.append(reply)
        if self._pending:
            self._wake.set()
        if last:
            await self._wait_durable(last, timeout)
        return out

    async def _wait_durable(self, seq: int, timeout: float) -> None:
        if self._durable < seq:
            fut = self._waiters.get(seq)
            if fut is None:
                fut = self._waiters[seq] = asyncio.get_running_loop().create_future()
            await asyncio.wait([fut], timeout=timeout)  # never cancels fut
        if self._durable < seq:
            if self._failed is not None:
                raise UnavailableError(self._why_down())
            raise UnavailableError(
                f"entry {seq} not durable after {timeout} s (it will be: "
                "retry with the same key)"
            )

    def _why_down(self) -> str:
        if self._failed is not None:
            return f"the engine's entry log failed: {self._failed!r}"
        return "the engine is not running"

    def _fail(self, exc: BaseException) -> None:
        self._failed = exc
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def _commit_loop(self) -> None:
        assert self._log is not None
        log = self._log
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            try:
                durable = await asyncio.to_thread(log.commit)
            except Exception as exc:  # the log is broken: refuse everything
                self._fail(exc)
                return
            self._release(durable)
            every = self._snapshot_every
            due = every is not None and self._runner.seq - self._snap_seq >= every
            if due and not await self._auto_snapshot(log):
                return  # the log failed: _fail() told everyone

    async def _auto_snapshot(self, log: DurableEntryLog) -> bool:
        # Taken now, on the loop; the entries it covers are all appended to
        # the log already, so one commit makes them durable before it is
        # written.  A failure to write it is logged, not fatal: snapshots
        # only shorten recovery.
        seq = self._runner.seq
        data = self._runner.snapshot()
        self._snap_seq = seq
        try:
            if self._durable < seq:
                self._release(await asyncio.to_thread(log.commit))
            await asyncio.to_thread(log.write_snapshot, seq, data)
        except Exception as exc:
            if self._durable < seq:  # the commit failed: the log is broken
                self._fail(exc)
                return False
            _log.error("runner snapshot at entry %d not written: %r", seq, exc)
        return True

    def _release(self, durable: int) -> None:
        pending, tail, waiters = self._pending, self._tail, self._waiters
        while pending and pending[0].seq <= durable:
            entry = pending.popleft()
            tail.append(entry)
            self._durable = entry.seq
            fut = waiters.pop(entry.seq, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def snapshot(self) -> int:
        """Write a runner snapshot to the log; return the seq it covers.

        The snapshot is taken now (on the loop), then written once every
        entry it covers is durable.
        """
        if self._log is None:
            raise ValueError("this bus has no log to snapshot to")
        if not self._running or self._failed is not None:
            raise UnavailableError(self._why_down())
        seq = self._runner.seq
        data = self._runner.snapshot()
        await self._wait_durable(seq, 60.0)
        await asyncio.to_thread(self._log.write_snapshot, seq, data)
        self._snap_seq = max(self._snap_seq, seq)
        return seq


class _TailSource:
    """An EntrySource: a bus's in-memory tail, falling back on its log."""

    def __init__(self, tail: MemoryEntryLog, log: Any) -> None:
        self._tail = tail
        self._older = log if callable(getattr(log, "read", None)) else None

    def head(self) -> int:
        return self._tail.head()

    async def read(
        self, after: int, limit: int = 1024, timeout: float | None = None
    ) -> Sequence[Entry]:
        try:
            return await self._tail.read(after, limit, timeout)
        except LookupError:
            if self._older is None:
                raise
        entries: Sequence[Entry] = await self._older.read(after, limit, 0)
        return entries
