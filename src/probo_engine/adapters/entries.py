"""Entries: what the engine runner writes and every service component reads.

An :class:`Entry` is one applied command with everything a consumer needs:
its command sequence number, the idempotency key it came with, the command
record itself (:mod:`probo_engine.commands` binary codec, so names and market
configuration travel with it), the engine's result, and the packed events it
produced (``Core.events_bytes()``: ``EVENT_SIZE`` bytes an event, global
gap-free event sequence numbers).

The same entries flow through both transports:

* embedded mode: the engine runner appends them to a local, durable entry log
  and to an in-memory tail; the archiver and the WebSocket feed read them;
* distributed mode: the engine appends them to the Redis event stream (entry
  id derived from the sequence number, so a replay cannot write one twice);
  archivers and WebSocket servers read the stream.

Consumers see entries through :class:`EntrySource` and resume from the last
command sequence number they processed; they never see a gap or a repeat.
:class:`MemoryEntryLog` is the in-process implementation (and the one tests
use).  Nothing here imports a third-party module.

Binary layout of an entry (little-endian, version 1)::

    u8 version | u64 seq | i64 result | u16 key length | key
    | u32 command length | command | events (a whole number of events)
"""

from __future__ import annotations

import asyncio
import operator
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from probo_engine._book import EVENT_FIELDS, EVENT_LAYOUT, EVENT_SIZE
from probo_engine.types import Event

__all__ = [
    "ENTRY_VERSION",
    "Entry",
    "EntryDecodeError",
    "EntrySource",
    "MemoryEntryLog",
    "decode_entry",
    "encode_entry",
    "iter_events",
    "unpack_events",
]

ENTRY_VERSION = 1
_HEAD = struct.Struct("<BQqH")
_U32 = struct.Struct("<I")
_FMT = {"i2": "h", "i4": "i", "i8": "q"}


def _event_struct() -> tuple[struct.Struct, tuple[int, ...]]:
    # One struct for the whole 96-byte record, fields in offset order, then a
    # permutation back to EVENT_FIELDS order (the order of ``Event``).
    by_offset = sorted(EVENT_LAYOUT, key=lambda f: f[2])
    fmt, at = "<", 0
    for _name, np_fmt, offset in by_offset:
        if offset > at:
            fmt += f"{offset - at}x"
        fmt += _FMT[np_fmt.lstrip("<")]
        at = offset + int(np_fmt.lstrip("<")[1:])
    if at < EVENT_SIZE:
        fmt += f"{EVENT_SIZE - at}x"
    names = [f[0] for f in by_offset]
    order = tuple(names.index(n) for n in EVENT_FIELDS)
    s = struct.Struct(fmt)
    assert s.size == EVENT_SIZE, (fmt, s.size)
    return s, order


_EVENT, _ORDER = _event_struct()
#: one unpacked record -> the Event fields' values, in Event's order (C speed)
_PICK = operator.itemgetter(*_ORDER)
_SEQ_AT = dict((n, o) for n, _, o in EVENT_LAYOUT)["seq"]
_Q = struct.Struct("<q")


class EntryDecodeError(ValueError):
    """Bytes that are not an entry of a known version."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One applied command and its events (see the module docstring)."""

    seq: int  #: command sequence number, 1, 2, ... gap-free per engine
    key: bytes  #: idempotency key the command came with (b"" for none)
    command: bytes  #: the command record, ``commands.encode`` binary codec
    result: int  #: what the engine method returned (an id, a count, 0; -code: refused)
    events: bytes  #: packed events, ``EVENT_SIZE`` bytes each, in seq order

    @property
    def n_events(self) -> int:
        return len(self.events) // EVENT_SIZE

    @property
    def first_event_seq(self) -> int:
        """Sequence number of the first event (0 if the command had none)."""
        if not self.events:
            return 0
        return int(_Q.unpack_from(self.events, _SEQ_AT)[0])

    @property
    def last_event_seq(self) -> int:
        """Sequence number of the last event (0 if the command had none)."""
        if not self.events:
            return 0
        at = len(self.events) - EVENT_SIZE + _SEQ_AT
        return int(_Q.unpack_from(self.events, at)[0])

    def iter_events(self) -> Iterator[Event]:
        return iter_events(self.events)


def iter_events(events: bytes | bytearray | memoryview) -> Iterator[Event]:
    """The packed events as :class:`~probo_engine.types.Event` records."""
    # tuple.__new__ builds the NamedTuple without its Python-level __new__
    # (the hot path of every in-process consumer: several times faster)
    pick, new = _PICK, tuple.__new__
    for raw in _EVENT.iter_unpack(events):
        yield new(Event, pick(raw))


def unpack_events(events: bytes | bytearray | memoryview) -> list[Event]:
    return list(iter_events(events))


def encode_entry(entry: Entry) -> bytes:
    return b"".join(
        (
            _HEAD.pack(ENTRY_VERSION, entry.seq, entry.result, len(entry.key)),
            entry.key,
            _U32.pack(len(entry.command)),
            entry.command,
            entry.events,
        )
    )


def decode_entry(data: bytes | bytearray | memoryview) -> Entry:
    """Inverse of :func:`encode_entry`; :class:`EntryDecodeError` on bad input."""
    view = memoryview(data).cast("B")
    try:
        version, seq, result, n_key = _HEAD.unpack_from(view)
        if version != ENTRY_VERSION:
            raise EntryDecodeError(f"unknown entry version {version}")
        at = _HEAD.size
        key = bytes(view[at : at + n_key])
        at += n_key
        (n_cmd,) = _U32.unpack_from(view, at)
        at += 4
        command = bytes(view[at : at + n_cmd])
        at += n_cmd
    except struct.error as exc:
        raise EntryDecodeError(f"truncated entry: {exc}") from None
    if len(key) != n_key or len(command) != n_cmd or (len(view) - at) % EVENT_SIZE:
        raise EntryDecodeError("entry length does not add up")
    return Entry(seq, key, command, result, bytes(view[at:]))


class EntrySource(Protocol):
    """Where consumers read entries from, in order, resuming after a seq."""

    async def read(
        self, after: int, limit: int = 1024, timeout: float | None = None
    ) -> Sequence[Entry]:
        """Entries with ``seq > after``, oldest first, at most ``limit``.

        Waits up to ``timeout`` seconds (``None``: forever) for the first one;
        returns an empty list on timeout.  Never skips an entry.
        """
        ...

    def head(self) -> int:
        """The newest seq available to read (0 if none)."""
        ...


class MemoryEntryLog:
    """An in-memory :class:`EntrySource` that the engine appends to.

    Keeps every entry (or, with ``keep``, the newest ``keep``; a read further
    back raises ``LookupError`` so a consumer knows to resync from a durable
    source).  Appends must be in sequence order.  Not thread-safe: use it from
    one event loop.
    """

    def __init__(self, keep: int | None = None, first_seq: int = 1) -> None:
        self._entries: list[Entry] = []
        self._base = first_seq  # seq of self._entries[0]
        self._keep = keep
        self._grew: asyncio.Event | None = None  # set (and replaced) on append

    def head(self) -> int:
        return self._base + len(self._entries) - 1

    def append(self, entry: Entry) -> None:
        if entry.seq != self.head() + 1:
            raise ValueError(f"entry {entry.seq} appended after {self.head()}")
        self._entries.append(entry)
        if self._keep is not None and len(self._entries) > 2 * self._keep:
            drop = len(self._entries) - self._keep
            del self._entries[:drop]
            self._base += drop
        if self._grew is not None:
            self._grew.set()
            self._grew = None

    async def read(
        self, after: int, limit: int = 1024, timeout: float | None = None
    ) -> Sequence[Entry]:
        if after + 1 < self._base:
            raise LookupError(f"entries after {after} are no longer in memory")
        if self.head() <= after:
            if self._grew is None:
                self._grew = asyncio.Event()
            try:
                await asyncio.wait_for(self._grew.wait(), timeout)
            except TimeoutError:
                return []
        start = after + 1 - self._base
        return self._entries[start : start + limit]
