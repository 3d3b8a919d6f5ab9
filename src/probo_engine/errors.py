"""Every exception probo_engine raises.

Each also subclasses the builtin a caller would naturally catch.  Expected
refusals (not enough cash, unknown order, FOK not fillable, ...) are *not*
exceptions: they are :class:`probo_engine.RejectReason` result codes.
"""

from __future__ import annotations

__all__ = [
    "InvalidOrderError",
    "InvariantError",
    "ProboError",
    "SnapshotError",
    "UnknownMarketError",
    "UnknownUserError",
]


class ProboError(Exception):
    """Base class of every probo_engine exception."""


class InvalidOrderError(ProboError, ValueError):
    """An order or command that can never be valid (misuse, not a refusal)."""


class UnknownMarketError(ProboError, KeyError):
    """A market id or symbol that does not exist."""


class UnknownUserError(ProboError, KeyError):
    """A user id or name that does not exist."""


class SnapshotError(ProboError, ValueError):
    """A snapshot that is corrupt, truncated or of an unknown format."""


class InvariantError(ProboError, RuntimeError):
    """An internal invariant is broken: a bug, never the caller's fault."""
