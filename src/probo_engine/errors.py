"""Every exception probo_engine raises.

Each also subclasses the builtin a caller would naturally catch.  Expected
refusals (not enough cash, unknown order, FOK not fillable, ...) are *not*
exceptions: they are :class:`probo_engine.RejectReason` result codes.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ArgumentOverflowError",
    "ArgumentTypeError",
    "CommandDecodeError",
    "ConcurrentUseError",
    "InvalidArgumentError",
    "InvalidOrderError",
    "InvariantError",
    "JournalCorruptError",
    "JournalError",
    "ProboError",
    "SnapshotError",
    "UnavailableError",
    "UnknownMarketError",
    "UnknownUserError",
]


class ProboError(Exception):
    """Base class of every probo_engine exception."""


class ArgumentTypeError(ProboError, TypeError):
    """An argument of the wrong type (a ``str`` id, a ``float`` price, an
    enum of the wrong kind, ...): misuse, raised before anything changes.
    The message names the argument."""


class InvalidArgumentError(ProboError, ValueError):
    """An argument of the right type but outside what it may be (an enum
    value out of range, a buffer too short, ...): misuse, raised before
    anything changes.  The message names the argument."""


class ArgumentOverflowError(InvalidArgumentError, OverflowError):
    """An integer argument too large (or too small) for the engine's 64-bit
    fields; also an ``OverflowError``, as before.  The message names the
    argument."""


class InvalidOrderError(ProboError, ValueError):
    """An order or command that can never be valid (misuse, not a refusal)."""


class UnknownMarketError(ProboError, KeyError):
    """A market id or symbol that does not exist."""


class UnknownUserError(ProboError, KeyError):
    """A user id or name that does not exist."""


class SnapshotError(ProboError, ValueError):
    """A snapshot that is corrupt, truncated or of an unknown format."""


class ConcurrentUseError(ProboError, RuntimeError):
    """A second thread called a :class:`~probo_engine.Core` (or an engine
    built on one) while a call that runs with the GIL released
    (``run_batch``, ``snapshot``, ``depth_into``) was still running on it.

    Nothing was changed by the refused call.  An engine is single-threaded:
    share one between threads only behind a lock (docs/semantics.md,
    "Threads")."""


class InvariantError(ProboError, RuntimeError):
    """An internal invariant is broken: a bug, never the caller's fault."""


class CommandDecodeError(ProboError, ValueError):
    """Bytes or JSON that are not a valid encoded command.

    Raised for a wrong length, a bad format version, an unknown type code or
    name, a missing or unknown field, a value that is not an integer or does not
    fit in int64, or text that is not JSON at all.
    """


class JournalError(ProboError, RuntimeError):
    """The journal cannot be used: closed, locked by another process, or failed.

    After an I/O error while appending or syncing, the ``DurableEngine``
    refuses further commands (its engine may be ahead of the journal); reopen
    the directory to recover the last durable state.
    """


class JournalCorruptError(ProboError, ValueError):
    """A journal or snapshot that is damaged in a way a crash cannot explain.

    ``path`` and ``offset`` locate the first bad byte range.
    """

    def __init__(self, path: str | os.PathLike[str], offset: int, reason: str):
        self.path = str(path)
        self.offset = offset
        self.reason = reason
        super().__init__(f"{self.path} at offset {offset}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.offset, self.reason))


class UnavailableError(ProboError, ConnectionError):
    """A service the call needs (the engine, Redis, a database) is down or did
    not answer in time.  Raised fast, never after an unbounded wait: the
    command may or may not have been applied, and a retry with the same
    idempotency key tells which."""
