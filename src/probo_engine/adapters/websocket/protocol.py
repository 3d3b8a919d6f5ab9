"""The market-data WebSocket protocol, version 1 (``docs/websocket.md``).

Everything that crosses the wire is defined here: the client's requests
(parsed and validated by :func:`parse_request`), the server's messages
(built by the ``*_message`` helpers and encoded **once** by :func:`encode`,
so a frame shared by many subscribers is serialised a single time), error and
close codes, channel names, and the **book checksum** (:func:`book_checksum`,
version :data:`CHECKSUM_VERSION`) with the exact text it hashes.

JSON text frames, UTF-8, compact (``separators=(",", ":")``).  Only the
standard library is used (:mod:`json`, :mod:`zlib`), so a client needs no
third-party package to speak the protocol; the server and the Python client
share these functions, which makes this module the reference implementation.

Numbers are integers: prices in the market's minor unit on its grid,
quantities in shares, ``seq`` the engine's global **event** sequence number.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CHECKSUM_VERSION",
    "PROTOCOL_VERSION",
    "Close",
    "ErrorCode",
    "ProtocolError",
    "Request",
    "book_channel",
    "book_checksum",
    "checksum_text",
    "diff_levels",
    "encode",
    "error_message",
    "parse_request",
]

PROTOCOL_VERSION: Final = 1
#: Version of :func:`book_checksum` (``hello.cv``, a book snapshot's ``cv``);
#: the hashed text never changes within a version.
CHECKSUM_VERSION: Final = 1

CHANNELS: Final = ("book", "trades", "ticker", "user")
VIEWS: Final = ("yes", "no")

Level = tuple[int, int, int]  # price, total qty, order count (the view's terms)


class ErrorCode:
    """The ``code`` of an ``{"type": "error"}`` message (a string, stable)."""

    BAD_REQUEST = "bad_request"  #: not JSON, not an object, a field is wrong
    UNKNOWN_OP = "unknown_op"  #: ``op`` is not one of the protocol's
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_MARKET = "unknown_market"
    UNKNOWN_USER = "unknown_user"  #: authenticated, but no such engine user
    NOT_SUBSCRIBED = "not_subscribed"  #: unsubscribe from a channel not held
    UNAUTHENTICATED = "unauthenticated"  #: private channel without credentials
    FORBIDDEN = "forbidden"  #: another user's private channel
    AUTH_FAILED = "auth_failed"  #: ``auth`` with credentials that do not verify
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    TOO_MANY_CONNECTIONS = "too_many_connections"  #: per IP or per key
    RATE_LIMITED = "rate_limited"  #: more requests than the per-connection rate
    SLOW_CONSUMER = "slow_consumer"  #: updates were dropped; snapshots follow
    FRAME_TOO_LARGE = "frame_too_large"
    IDLE = "idle"  #: no message from the client within the idle timeout
    SHUTDOWN = "shutdown"


class Close:
    """WebSocket close codes the server uses (RFC 6455 and 4000-4999)."""

    NORMAL = 1000
    GOING_AWAY = 1001  #: server shutdown
    POLICY = 1008
    TOO_BIG = 1009  #: a client frame above ``max_frame`` bytes
    IDLE = 4000  #: no client message (heartbeat) within ``idle_timeout``
    SLOW_CONSUMER = 4008  #: send queue over its limit for too long
    RATE_LIMITED = 4029  #: flood: too many requests over the rate limit
    TOO_MANY_CONNECTIONS = 4429  #: per-IP or per-key connection limit


class ProtocolError(ValueError):
    """A request that breaks the protocol; ``code`` is an :class:`ErrorCode`."""

    def __init__(self, code: str, message: str, req_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.req_id = req_id


def encode(msg: Mapping[str, Any]) -> bytes:
    """The UTF-8 JSON text of a server message (compact, keys as given)."""
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()


def error_message(
    code: str, message: str, req_id: int | None = None, **extra: Any
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if req_id is not None:
        msg["id"] = req_id
    msg.update(extra)
    return msg


# ------------------------------------------------------------------ channels


def book_channel(mid: int, view: str, depth: int) -> str:
    """``"book:<mid>:<view>:<depth>"``, the canonical name of a book channel."""
    return f"book:{mid}:{view}:{depth}"


def trades_channel(mid: int) -> str:
    return f"trades:{mid}"


def ticker_channel(mid: int) -> str:
    return f"ticker:{mid}"


def user_channel(uid: int) -> str:
    """Private; the wire shows it as ``"user"`` (each connection sees its own)."""
    return f"user:{uid}"


# ------------------------------------------------------------------ checksum


def checksum_text(bids: Iterable[Level], asks: Iterable[Level]) -> str:
    """The text :func:`book_checksum` hashes (checksum version 1).

    Levels in the channel's view, best first, exactly the levels the channel
    holds (at most its depth), each ``price:qty:count`` in decimal, joined by
    ``,``; the bids, then ``|``, then the asks.  An empty book is ``"|"``.

    >>> checksum_text([(600, 10, 1), (550, 5, 2)], [(650, 3, 1)])
    '600:10:1,550:5:2|650:3:1'
    """
    b = ",".join(f"{p}:{q}:{n}" for p, q, n in bids)
    a = ",".join(f"{p}:{q}:{n}" for p, q, n in asks)
    return f"{b}|{a}"


def book_checksum(bids: Iterable[Level], asks: Iterable[Level]) -> int:
    """CRC-32 (IEEE 802.3, :func:`zlib.crc32`) of :func:`checksum_text` as ASCII.

    Unsigned, 0..2**32-1.  It depends only on the levels of the channel at the
    update's ``seq``: never on later trades, on other channels, or on anything
    but the view and depth the channel was subscribed with.

    >>> book_checksum([(600, 10, 1), (550, 5, 2)], [(650, 3, 1)])
    1863953580
    >>> book_checksum([], [])
    2343686810
    """
    return zlib.crc32(checksum_text(bids, asks).encode("ascii"))


def view_levels(
    yes_bids: Sequence[Level], yes_asks: Sequence[Level], view: str, payout: int
) -> tuple[list[Level], list[Level]]:
    """Levels in ``view``'s terms from the YES book (``Core.depth`` output).

    The NO view mirrors: a NO bid at ``payout - a`` for every YES ask ``a``,
    a NO ask at ``payout - b`` for every YES bid ``b`` (best first in both).
    """
    if view == "yes":
        return [tuple(b) for b in yes_bids], [tuple(a) for a in yes_asks]  # type: ignore[misc]
    return (
        [(payout - p, q, n) for p, q, n in yes_asks],
        [(payout - p, q, n) for p, q, n in yes_bids],
    )


def diff_levels(old: Sequence[Level], new: Sequence[Level]) -> list[list[int]]:
    """Changes that turn ``old`` into ``new``: ``[price, qty, count]`` rows.

    A row sets the level at ``price``; ``qty == 0`` (and count 0) removes it.
    Rows are in ascending price order.  ``[]`` when nothing changed.

    >>> diff_levels([(600, 10, 1), (550, 5, 1)], [(600, 7, 1), (500, 2, 1)])
    [[500, 2, 1], [550, 0, 0], [600, 7, 1]]
    """
    before = {p: (q, n) for p, q, n in old}
    after = {p: (q, n) for p, q, n in new}
    out: list[list[int]] = []
    for p in sorted(before.keys() | after.keys()):
        b, a = before.get(p), after.get(p)
        if a is None:
            out.append([p, 0, 0])
        elif a != b:
            out.append([p, a[0], a[1]])
    return out


def apply_changes(
    bids: dict[int, tuple[int, int]],
    asks: dict[int, tuple[int, int]],
    bid_changes: Iterable[Sequence[int]],
    ask_changes: Iterable[Sequence[int]],
) -> None:
    """Apply an update's rows to a client's book (``price -> (qty, count)``)."""
    for side, rows in ((bids, bid_changes), (asks, ask_changes)):
        for p, q, n in rows:
            if q == 0:
                side.pop(p, None)
            else:
                side[p] = (q, n)


def sorted_levels(
    bids: Mapping[int, tuple[int, int]], asks: Mapping[int, tuple[int, int]]
) -> tuple[list[Level], list[Level]]:
    """A client's book as best-first level lists (what the checksum reads)."""
    return (
        [(p, *bids[p]) for p in sorted(bids, reverse=True)],
        [(p, *asks[p]) for p in sorted(asks)],
    )


# ------------------------------------------------------------------ requests


@dataclass(frozen=True, slots=True)
class Request:
    """One validated client request.

    ``op`` is ``subscribe``, ``unsubscribe``, ``ping``, ``auth``, or for the
    seed's messages ``seed_subscribe`` / ``seed_leave``.
    """

    op: str
    id: int | None = None
    channel: str | None = None
    market: int | str | None = None
    view: str = "yes"
    depth: int = 10
    user: int | str | None = None  #: ``user`` channel: must be oneself if given
    credentials: Mapping[str, Any] | None = None  #: ``auth``: the whole message
    symbol: str | None = None  #: seed ``eventId``


def _int(obj: Mapping[str, Any], key: str, default: int | None, req_id: Any) -> Any:
    v = obj.get(key, default)
    if v is None:
        return None
    if type(v) is not int:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{key} must be an integer", req_id)
    return v


def parse_request(data: str | bytes, *, max_depth: int = 100) -> Request:
    """Validate one client frame; :class:`ProtocolError` if it is not a request.

    Version 1 requests carry ``"op"``; the seed's carry ``"type"`` (``subscribe``
    with ``params.eventId``, ``leave``).  Integers must be JSON integers
    (``true``, ``1.0`` and ``"1"`` are refused).
    """
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "a request is a JSON object")
    if "op" not in obj and "type" in obj:
        return _parse_seed(obj)
    req_id = obj.get("id")
    if req_id is not None and (type(req_id) is not int or not 0 <= req_id < 2**53):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "id must be an integer")
    op = obj.get("op")
    if op == "ping":
        return Request("ping", req_id)
    if op == "auth":
        return Request("auth", req_id, credentials=obj)
    if op not in ("subscribe", "unsubscribe"):
        raise ProtocolError(ErrorCode.UNKNOWN_OP, f"unknown op {op!r}", req_id)
    channel = obj.get("channel")
    if channel not in CHANNELS:
        raise ProtocolError(
            ErrorCode.UNKNOWN_CHANNEL, f"unknown channel {channel!r}", req_id
        )
    if channel == "user":
        user = obj.get("user")
        if user is not None and (
            type(user) not in (int, str) or (isinstance(user, str) and not user)
        ):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "bad user", req_id)
        return Request(op, req_id, channel, user=user)
    market = obj.get("market")
    if not ((type(market) is int and market >= 0) or (market and type(market) is str)):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, "market must be a symbol or an id", req_id
        )
    if channel != "book":
        return Request(op, req_id, channel, market)
    view = obj.get("view", "yes")
    if view not in VIEWS:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "view must be yes or no", req_id)
    depth = _int(obj, "depth", 10, req_id)
    if not 1 <= depth <= max_depth:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"depth must be 1..{max_depth}", req_id
        )
    return Request(op, req_id, channel, market, view, depth)


def _parse_seed(obj: Mapping[str, Any]) -> Request:
    kind = obj["type"]
    if kind == "leave":
        return Request("seed_leave")
    if kind == "subscribe":
        params = obj.get("params")
        event = params.get("eventId") if isinstance(params, dict) else None
        if not isinstance(event, str) or not event:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "params.eventId is required")
        return Request("seed_subscribe", symbol=event)
    raise ProtocolError(ErrorCode.UNKNOWN_OP, f"unknown type {kind!r}")
