"""Replaying journal records into an engine: the C path and the Python path.

When the engine is a ``Core`` (``Engine`` is one) whose batchable methods are
the Core's own, :class:`~probo_engine._replay.Replayer` parses, checks and
applies records in C through ``Core.run_batch``.  Any record it stops at goes
through :func:`replay_py`, which either applies it (then C resumes) or stops
there, keeping all of the error reporting in one place.  The Python path has
its own fast loop for sound records of the current layouts (no intermediate
record object), and decodes anything else with :func:`probo_engine.commands.decode`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from probo_engine.commands import (
    COMMANDS,
    FORMAT_VERSION,
    CommandDecodeError,
    CommandSpec,
    call,
    decode,
)
from probo_engine.errors import JournalCorruptError
from probo_engine.journal.format import (
    PAYLOAD_AT,
    REC_HDR,
    REC_HEAD,
    SEG_HDR,
    TRAILER,
    U32,
    record_at,
)

try:
    from probo_engine import _replay as _replay_c
except ImportError:  # pragma: no cover - a build without it: Python replay
    _replay_c = None  # type: ignore[assignment]

__all__ = [
    "BATCHED",
    "C_REPLAY",
    "ProgressCallback",
    "ReplayEntry",
    "SegmentProgress",
    "c_batchable",
    "c_replayer",
    "replay_segment",
    "replay_table",
]

ProgressCallback = Callable[[int, int, int], None]

#: Use the C replay path (``_replay``) when the engine allows it; the tests
#: turn it off to compare it with the Python path.
C_REPLAY = True
#: The Core methods that the C path runs through ``Core.run_batch``: an
#: engine class that overrides any of them is replayed in Python.
BATCHED = (
    "place",
    "place_market",
    "cancel",
    "cancel_client",
    "amend",
    "cancel_all",
    "deposit",
    "withdraw",
    "mint",
    "merge",
    "halt",
    "resume",
    "close",
    "resolve",
    "expire",
)

# Where a command payload's bytes sit in a record: the payload starts with its
# command format version, then its type code (probo_engine.commands).
_VERSION_AT = PAYLOAD_AT
_CODE_AT = PAYLOAD_AT + 1
_MIN_RECORD = PAYLOAD_AT + 2 + TRAILER  # header, smallest command, CRC
_PROGRESS_EVERY = 0xFFFF  # Python path: tell progress every 65,536 commands


class ReplayEntry(NamedTuple):
    """How the Python path applies one command type (a row of :func:`replay_table`)."""

    #: payload size the fast loop accepts (-1: commands with names, never
    #: on the fast loop: they are decoded)
    size: int
    unpack: Callable[[bytes, int], tuple[Any, ...]]  #: the fields, from the payload
    method: Callable[..., Any]  #: the engine's bound method
    spec: CommandSpec
    bool_offsets: tuple[int, ...]  #: payload offsets of bool bytes (0 or 1 only)


def replay_table(engine: Any) -> list[ReplayEntry | None]:
    """The Python path's table for ``engine``, indexed by type code."""
    table: list[ReplayEntry | None] = [None] * 256
    for code, spec in COMMANDS.items():
        table[code] = ReplayEntry(
            -1 if spec.names else spec.size,
            spec.body.unpack_from,
            getattr(engine, spec.method),
            spec,
            spec.bool_offsets,
        )
    return table


def c_replayer(engine: Any) -> Any:
    """A ``_replay.Replayer`` for ``engine``, or None (replay in Python)."""
    if not C_REPLAY or not c_batchable(engine):
        return None
    return _replay_c.Replayer(engine, FORMAT_VERSION)


def c_batchable(engine: Any) -> bool:
    """Whether ``_replay`` may run ``engine``'s :data:`BATCHED` commands in C
    (the core's own code, not the per-call methods): the module is built,
    the host little-endian and no method of :data:`BATCHED` overridden but by
    :class:`~probo_engine.Engine` itself."""
    if _replay_c is None or not _replay_c.LITTLE_ENDIAN:
        return False
    from probo_engine._book import Core

    cls = type(engine)
    # Engine's own overrides only add names to the ids of Core's methods (the
    # journal holds ids), so they replay in C too.
    from probo_engine.engine import Engine

    return isinstance(engine, Core) and not any(
        getattr(cls, name, None) not in (getattr(Core, name), Engine.__dict__.get(name))
        for name in BATCHED
    )


@dataclass
class SegmentProgress:
    """Where one segment's replay stands in the whole recovery, for ``callback``.

    ``callback(bytes_done, bytes_total, commands_replayed)`` counts from
    ``done_bytes`` and ``replayed`` (the segments before this one).
    """

    callback: ProgressCallback | None
    done_bytes: int
    total_bytes: int
    replayed: int


class _CallerError(Exception):
    """Carries an exception of the caller's progress callback through the
    replay loop, which reports every other exception as corruption."""


def replay_segment(
    buf: bytes,
    path: Path,
    seq: int,
    skip_to: int,
    table: list[ReplayEntry | None],
    progress: SegmentProgress,
    fast: Any = None,
) -> tuple[int, int, int, int]:
    """Apply the sound records of one segment; stop at the first anomaly.

    ``seq`` is the seq expected first; records with seq ``<= skip_to`` are
    checked but not applied.  ``fast`` (a ``_replay.Replayer``, or None)
    applies every record it can in C; each record it stops at goes through
    :func:`replay_py`, which either applies it (then C resumes) or stops.

    Returns ``(offset reached, next expected seq, commands applied, of which
    in C)``.  The caller diagnoses an offset short of the end.  The progress
    callback (if any) is told every 65,536 commands in Python, every C chunk
    in C.
    """
    off = SEG_HDR.size
    applied = in_c = 0
    callback = progress.callback
    while True:
        if fast is not None:
            on_chunk = None
            if callback is not None:

                def on_chunk(
                    o: int,
                    k: int,
                    cb: ProgressCallback = callback,
                    done: int = progress.done_bytes,
                    total: int = progress.total_bytes,
                    base: int = progress.replayed + applied,
                ) -> None:
                    cb(done + o, total, base + k)

            off, seq, k, ok = fast.replay(buf, off, seq, skip_to, path, on_chunk)
            applied += k
            in_c += k
            if not ok:  # run_batch refused a chunk: Python does the rest
                fast = None
        o, seq, k = replay_py(
            buf, path, off, seq, skip_to, table, progress, applied,
            1 if fast is not None else -1,
        )  # fmt: skip
        applied += k
        if o == off:  # not a record Python applies either: stop here
            return off, seq, applied, in_c
        off = o


def replay_py(
    buf: bytes,
    path: Path,
    off: int,
    seq: int,
    skip_to: int,
    table: list[ReplayEntry | None],
    progress: SegmentProgress,
    applied_before: int,
    limit: int,
) -> tuple[int, int, int]:
    """The Python path of :func:`replay_segment`: at most ``limit`` records
    (-1: all) from ``off``; ``applied_before`` commands of this segment are
    already applied (for the progress count).

    Returns ``(offset reached, next expected seq, commands applied)``.
    """
    mv = memoryview(buf)
    crc32 = zlib.crc32
    head = REC_HDR.unpack_from
    u32 = U32.unpack_from
    hlen = REC_HEAD.size  # the header CRC covers these bytes
    end = len(buf)
    applied = 0
    callback = progress.callback
    replayed = progress.replayed + applied_before
    try:
        while limit:
            # The fast loop: a sound record of a known type in the current
            # layout, checked and applied with no intermediate record object.
            while off + _MIN_RECORD <= end:
                n, s, h = head(buf, off)
                start = off + PAYLOAD_AT
                rend = start + n
                if s != seq or rend + TRAILER > end:
                    break
                entry = table[buf[off + _CODE_AT]]
                if (
                    entry is None
                    or entry.size != n
                    or not 1 <= buf[off + _VERSION_AT] <= FORMAT_VERSION  # 1, 2 alike
                    or crc32(mv[off : off + hlen]) != h
                    or crc32(mv[off:rend]) != u32(buf, rend)[0]
                ):
                    break
                # bool bytes are 0 or 1 (struct's "?" would take any as True):
                # anything else goes to decode() below, which refuses it
                bools = entry.bool_offsets
                if bools and any(buf[start + b] > 1 for b in bools):
                    break
                if seq > skip_to:
                    entry.method(*entry.unpack(buf, start))
                    applied += 1
                    if not applied & _PROGRESS_EVERY and callback is not None:
                        try:
                            callback(
                                progress.done_bytes + off,
                                progress.total_bytes,
                                replayed + applied,
                            )
                        except Exception as exc:
                            raise _CallerError(exc) from None
                seq += 1
                off = rend + TRAILER
                limit -= 1
                if not limit:
                    return off, seq, applied
            # Anything else, one record at a time: an older layout, an unknown
            # type or version (errors), or the end of the sound records.
            rend = record_at(buf, off)
            if rend < 0 or REC_HDR.unpack_from(buf, off)[1] != seq:
                break
            payload = mv[off + PAYLOAD_AT : rend - TRAILER]
            if not 1 <= payload[0] <= FORMAT_VERSION:
                raise JournalCorruptError(
                    path,
                    off,
                    f"command format version {payload[0]}, "
                    f"this library reads 1..{FORMAT_VERSION}",
                )
            try:
                cmd = decode(payload)
            except CommandDecodeError as exc:
                raise JournalCorruptError(path, off, str(exc)) from None
            if seq > skip_to:
                found = table[payload[1]]
                assert found is not None  # decode() knows the type
                call(found.method, found.spec, cmd)
                applied += 1
            seq += 1
            off = rend
            limit -= 1
    except JournalCorruptError:
        raise
    except _CallerError as exc:
        raise exc.args[0] from None  # the progress callback's own error, unchanged
    except Exception as exc:
        raise JournalCorruptError(
            path, off, f"replaying command seq {seq} raised {exc!r}"
        ) from exc
    finally:
        mv.release()
    return off, seq, applied
