"""The fan-out hub: entries in, channel updates out, one encoding per channel.

:class:`Feed` reads :class:`~probo_engine.adapters.entries.Entry` records in
order from any :class:`~probo_engine.adapters.entries.EntrySource` and keeps a
**read replica** of the engine (:class:`~probo_engine.adapters.runner.Replica`:
an :class:`~probo_engine.Engine` to which each entry's command is applied,
its result and events checked against the entry's).  After
each entry it turns the entry's events into channel updates (``book``,
``trades``, ``ticker``, ``user`` and the seed's whole-book message), encodes
each update **once** (:func:`protocol.encode`) and hands the same bytes to
every subscriber of that channel.

Sequence numbers (``docs/websocket.md``): an update's ``seq`` is the last
event seq of the entry that produced it, so the state it describes is the
engine's state at that event seq; ``prev_seq`` is the ``seq`` of the previous
update of the same chain.  The chains are per market (book, trades, ticker)
and per user, kept for **every** market and user from the feed's start
whether or not anyone subscribes, so two feeds that consumed the same entries
produce identical frames.  All book channels of a market share the market's
chain: an update is sent on every entry that changed a level of the market,
with no rows when the change is deeper than the channel's depth.

Subscribers are transport-neutral (:class:`Sink`): writes never wait.  A
subscriber whose sink holds more than ``max_buffer`` bytes is *behind*: it gets
no updates until its sink drains below ``resume_buffer``, then an
``error`` ``slow_consumer`` message and fresh snapshots of all its channels
(policy ``"resync"``), or it is closed with code 4008 at once (policy
``"cut"``), and in both policies when it stays behind ``slow_timeout``
seconds.  A slow subscriber therefore never delays the others: publishing is
one synchronous pass over the channel's subscribers.

Everything here runs on one event loop; apply, subscribe and snapshot happen
between entries, so a snapshot is exact at its ``seq``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from probo_engine.adapters.entries import Entry, EntrySource
from probo_engine.adapters.runner import Replica
from probo_engine.adapters.websocket import protocol as P
from probo_engine.engine import Engine
from probo_engine.errors import (
    InvariantError,
    UnavailableError,
    UnknownMarketError,
    UnknownUserError,
)
from probo_engine.types import CancelReason, Event, EventKind, FillKind, MarketStatus

__all__ = ["Channel", "Feed", "FeedError", "Sink", "Subscriber"]

log = logging.getLogger(__name__)

_SIDE = ("buy", "sell")
_OUTCOME = ("yes", "no")
_FILL_KIND = {k.value: k.name.lower() for k in FillKind}
_CANCEL = {k.value: k.name.lower() for k in CancelReason}
_STATUS = {k.value: k.name.lower() for k in MarketStatus}
_USER_KINDS = frozenset(
    {
        EventKind.ACCEPTED,
        EventKind.REJECTED,
        EventKind.CANCELED,
        EventKind.AMENDED,
        EventKind.CASH,
        EventKind.PAIR,
        EventKind.SETTLEMENT,
    }
)


class FeedError(RuntimeError):
    """The entries do not fit the replica (a gap, or a result that differs)."""


class Sink(Protocol):
    """A connection's outgoing side, as the hub sees it.  Nothing here waits."""

    def write(self, frame: bytes) -> None:
        """Queue one text frame (UTF-8 JSON) for sending; drop it if closed."""

    def buffered(self) -> int:
        """Bytes queued and not yet handed to the kernel."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Start closing the connection with ``code`` (returns at once)."""


@dataclass(eq=False)
class Subscriber:
    """One connection's subscriptions and send state."""

    sink: Sink
    uid: int | None = None  #: the authenticated engine user, if any
    channels: dict[str, Channel] = field(default_factory=dict)
    behind: bool = False
    behind_since: float = 0.0
    closed: bool = False
    dropped: int = 0  #: updates not sent because the subscriber was behind
    resyncs: int = 0  #: times it was brought back with fresh snapshots

    def __hash__(self) -> int:
        return id(self)


@dataclass(eq=False)
class Channel:
    """One channel and its subscribers (insertion order: deterministic)."""

    key: str  #: canonical name, e.g. ``book:0:yes:10``
    kind: str  #: book, trades, ticker, user, seed
    mid: int = -1
    view: str = "yes"
    depth: int = 0
    uid: int = -1
    symbol: str = ""
    wire: str = ""  #: the ``ch`` the client sees
    bids: list[P.Level] = field(default_factory=list)
    asks: list[P.Level] = field(default_factory=list)
    subscribers: dict[Subscriber, None] = field(default_factory=dict)


class Feed:
    """Replica + channels + fan-out (see the module docstring).

    ``engine`` is the replica's starting state (a fresh :class:`Engine` by
    default) and ``after`` the entry seq it reflects.  ``max_buffer`` and
    ``resume_buffer`` are bytes; ``slow_policy`` is ``"resync"`` or ``"cut"``.
    ``trades_kept`` recent trades per market are kept for ``trades``
    snapshots.  ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(
        self,
        source: EntrySource | None = None,
        *,
        engine: Engine | None = None,
        after: int = 0,
        max_buffer: int = 256 * 1024,
        resume_buffer: int = 16 * 1024,
        slow_policy: str = "resync",
        slow_timeout: float = 30.0,
        trades_kept: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if slow_policy not in ("resync", "cut"):
            raise ValueError("slow_policy must be 'resync' or 'cut'")
        if not 0 <= resume_buffer <= max_buffer:
            raise ValueError("need 0 <= resume_buffer <= max_buffer")
        self.source = source
        #: the read replica (``adapters.runner.Replica``: applies each entry's
        #: command and checks the result and events against the entry's)
        self.replica = Replica(engine, after)
        self.engine: Engine = self.replica.engine
        self.entry_seq = after  #: last entry applied to the replica
        self.event_seq = 0  #: last event seq applied (0 before any)
        self._base = 0  # chain start for markets/users not seen since start
        self.max_buffer = max_buffer
        self.resume_buffer = resume_buffer
        self.slow_policy = slow_policy
        self.slow_timeout = slow_timeout
        self.trades_kept = trades_kept
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.subscribers: dict[Subscriber, None] = {}
        self._books: dict[int, dict[str, Channel]] = {}
        self._seed: dict[str, Channel] = {}
        self._book_seq: dict[int, int] = {}
        self._trade_seq: dict[int, int] = {}
        self._ticker_seq: dict[int, int] = {}
        self._ticker: dict[int, tuple[int, ...]] = {}
        self._trades: dict[int, deque[dict[str, Any]]] = {}
        self._user_seq: dict[int, int] = {}
        self._behind: dict[Subscriber, None] = {}
        self.frames_encoded = 0  #: updates encoded (once per channel update)
        self.frames_sent = 0  #: frames handed to sinks

    # ------------------------------------------------------------ entries

    async def run(self, *, poll: float = 1.0, batch: int = 1024) -> None:
        """Read entries from ``source`` for ever and apply them.

        A transport error (``UnavailableError``) is retried with a capped
        backoff; a gap or a diverging result raises :class:`FeedError`.
        """
        if self.source is None:
            raise ValueError("this feed has no entry source")
        backoff = 0.05
        while True:
            try:
                entries = await self.source.read(self.entry_seq, batch, poll)
            except UnavailableError as exc:
                log.warning("entry source unavailable: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            for entry in entries:
                self.apply(entry)
            self.service()

    def apply(self, entry: Entry) -> None:
        """Apply one entry to the replica and publish its updates.

        :class:`FeedError` for an entry that is not the next one (nothing
        changes) or whose result or events differ from the replica's (the
        replica has diverged: fatal, build a new feed).
        """
        if entry.seq != self.entry_seq + 1:
            raise FeedError(f"entry {entry.seq} after {self.entry_seq}: gap")
        try:
            self.replica.apply_entry(entry)
        except (ValueError, InvariantError) as exc:
            raise FeedError(f"entry {entry.seq}: {exc}") from exc
        self.entry_seq = entry.seq
        if not entry.events:
            return
        if self.event_seq == 0:
            self._base = entry.first_event_seq - 1
        seq = entry.last_event_seq
        self.event_seq = seq
        self._publish_events(seq, entry.iter_events())

    def _publish_events(self, seq: int, events: Iterable[Event]) -> None:
        books: dict[int, None] = {}
        fills: dict[int, list[Event]] = {}
        touched: dict[int, None] = {}
        users: dict[int, list[Event]] = {}
        n_users = self.engine.totals()[1]
        for ev in events:
            k = ev.kind
            if k == EventKind.LEVEL:
                books[ev.market] = None
            elif k == EventKind.FILL:
                fills.setdefault(ev.market, []).append(ev)
                users.setdefault(ev.user, []).append(ev)
                users.setdefault(ev.user2, []).append(ev)
            elif k == EventKind.MARKET:
                touched[ev.market] = None
            elif k in _USER_KINDS and 0 <= ev.user < n_users:
                users.setdefault(ev.user, []).append(ev)
        for mid in books:
            self._book_update(mid, seq)
            touched[mid] = None
        for mid, evs in fills.items():
            self._trades_update(mid, seq, evs)
            touched[mid] = None
        for mid in touched:
            self._ticker_update(mid, seq)
        for uid, evs in users.items():
            self._user_update(uid, seq, evs)

    def _book_update(self, mid: int, seq: int) -> None:
        prev = self._book_seq.get(mid, self._base)
        self._book_seq[mid] = seq
        chans = self._books.get(mid)
        if chans:
            for ch in chans.values():
                bids, asks = self._levels(mid, ch.view, ch.depth)
                msg = {
                    "type": "book",
                    "ch": ch.wire,
                    "seq": seq,
                    "prev_seq": prev,
                    "bids": P.diff_levels(ch.bids, bids),
                    "asks": P.diff_levels(ch.asks, asks),
                    "checksum": P.book_checksum(bids, asks),
                }
                ch.bids, ch.asks = bids, asks
                self._publish(ch, msg)
        symbol = self.engine.market_symbol(mid)
        seed = self._seed.get(symbol if symbol is not None else str(mid))
        if seed is not None and seed.subscribers:
            self._publish(seed, self._seed_message(mid, seed.symbol))

    def _trades_update(self, mid: int, seq: int, evs: list[Event]) -> None:
        prev = self._trade_seq.get(mid, self._base)
        self._trade_seq[mid] = seq
        trades = [_trade(ev) for ev in evs]
        ring = self._trades.get(mid)
        if ring is None:
            ring = self._trades[mid] = deque(maxlen=self.trades_kept)
        ring.extend(trades)
        ch = self.channels.get(P.trades_channel(mid))
        if ch is not None:
            msg = {
                "type": "trades",
                "ch": ch.wire,
                "seq": seq,
                "prev_seq": prev,
                "trades": trades,
            }
            self._publish(ch, msg)

    def _ticker_update(self, mid: int, seq: int) -> None:
        t = self._ticker_now(mid)
        if self._ticker.get(mid) == t:
            return
        self._ticker[mid] = t
        prev = self._ticker_seq.get(mid, self._base)
        self._ticker_seq[mid] = seq
        ch = self.channels.get(P.ticker_channel(mid))
        if ch is not None:
            msg = {"type": "ticker", "ch": ch.wire, "seq": seq, "prev_seq": prev}
            msg.update(_ticker_fields(t))
            self._publish(ch, msg)

    def _user_update(self, uid: int, seq: int, evs: list[Event]) -> None:
        prev = self._user_seq.get(uid, self._base)
        self._user_seq[uid] = seq
        ch = self.channels.get(P.user_channel(uid))
        if ch is not None:
            msg = {
                "type": "user",
                "ch": "user",
                "seq": seq,
                "prev_seq": prev,
                "events": [_user_event(ev, uid) for ev in evs],
            }
            self._publish(ch, msg)

    # ------------------------------------------------------------ fan-out

    def _publish(self, ch: Channel, msg: dict[str, Any]) -> None:
        if not ch.subscribers:
            return
        frame = P.encode(msg)
        self.frames_encoded += 1
        for sub in ch.subscribers:
            self.send(sub, frame)

    def send(self, sub: Subscriber, frame: bytes) -> None:
        """Write ``frame`` to ``sub`` unless it is behind (then count a drop)."""
        if sub.closed:
            return
        if sub.behind:
            sub.dropped += 1
            return
        sink = sub.sink
        if sink.buffered() + len(frame) > self.max_buffer:
            sub.dropped += 1
            if self.slow_policy == "cut":
                self._cut(sub)
            else:
                sub.behind = True
                sub.behind_since = self.clock()
                self._behind[sub] = None
            return
        sink.write(frame)
        self.frames_sent += 1

    def broadcast(self, frame: bytes) -> None:
        """The same frame to every subscriber (heartbeats, shutdown notices)."""
        for sub in self.subscribers:
            self.send(sub, frame)

    def heartbeat(self) -> bytes:
        """The heartbeat frame: the feed's position and the wall clock (ms)."""
        return P.encode(
            {
                "type": "heartbeat",
                "seq": self.event_seq,
                "entry": self.entry_seq,
                "ts": time.time_ns() // 1_000_000,
            }
        )

    def service(self) -> None:
        """Resync subscribers that have drained, cut those behind too long."""
        if not self._behind:
            return
        now = self.clock()
        for sub in list(self._behind):
            if sub.closed:
                del self._behind[sub]
            elif sub.sink.buffered() <= self.resume_buffer:
                del self._behind[sub]
                sub.behind = False
                sub.resyncs += 1
                self.send(
                    sub,
                    P.encode(
                        P.error_message(
                            P.ErrorCode.SLOW_CONSUMER,
                            f"{sub.dropped} updates dropped; fresh snapshots follow",
                        )
                    ),
                )
                for ch in list(sub.channels.values()):
                    snap = self.snapshot(ch)
                    if snap is not None:
                        self.send(sub, P.encode(snap))
            elif now - sub.behind_since >= self.slow_timeout:
                del self._behind[sub]
                self._cut(sub)

    def _cut(self, sub: Subscriber) -> None:
        # Only marked here (we may be iterating a channel's subscribers): the
        # connection's session detaches it when its connection has closed.
        log.info("closing a slow consumer (%d bytes queued)", sub.sink.buffered())
        sub.closed = True
        self._behind.pop(sub, None)
        sub.sink.close(P.Close.SLOW_CONSUMER, "slow consumer")

    # ------------------------------------------------------- subscriptions

    def attach(self, sink: Sink, uid: int | None = None) -> Subscriber:
        sub = Subscriber(sink, uid)
        self.subscribers[sub] = None
        return sub

    def detach(self, sub: Subscriber) -> None:
        """Forget a subscriber (its connection closed); idempotent."""
        sub.closed = True
        for ch in list(sub.channels.values()):
            self._leave(sub, ch)
        self.subscribers.pop(sub, None)
        self._behind.pop(sub, None)

    def market_id(self, market: int | str) -> int:
        try:
            return self.engine.market_id(market)
        except (UnknownMarketError, TypeError):
            raise P.ProtocolError(
                P.ErrorCode.UNKNOWN_MARKET, f"unknown market {market!r}"
            ) from None

    def user_id(self, user: int | str) -> int:
        try:
            return self.engine.user_id(user)
        except (UnknownUserError, TypeError):
            raise P.ProtocolError(
                P.ErrorCode.UNKNOWN_USER, f"unknown user {user!r}"
            ) from None

    def channel_key(self, req: P.Request, uid: int | None = None) -> str:
        """The canonical name of the channel a request names (nothing made)."""
        if req.channel == "user":
            if uid is None:
                raise P.ProtocolError(P.ErrorCode.UNAUTHENTICATED, "auth first")
            return P.user_channel(uid)
        assert req.market is not None
        mid = self.market_id(req.market)
        if req.channel == "book":
            return P.book_channel(mid, req.view, req.depth)
        if req.channel == "trades":
            return P.trades_channel(mid)
        return P.ticker_channel(mid)

    def channel(self, req: P.Request, uid: int | None = None) -> Channel:
        """The channel a ``subscribe``/``unsubscribe`` names (made if new)."""
        if req.channel == "user":
            if uid is None:
                raise P.ProtocolError(P.ErrorCode.UNAUTHENTICATED, "auth first")
            key = P.user_channel(uid)
            ch = self.channels.get(key)
            return ch or self._new(Channel(key, "user", uid=uid, wire="user"))
        assert req.market is not None
        mid = self.market_id(req.market)
        if req.channel == "book":
            key = P.book_channel(mid, req.view, req.depth)
            ch = self.channels.get(key)
            if ch is None:
                ch = Channel(key, "book", mid, req.view, req.depth, wire=key)
                ch.bids, ch.asks = self._levels(mid, req.view, req.depth)
                self._books.setdefault(mid, {})[key] = self._new(ch)
            return ch
        key = (P.trades_channel if req.channel == "trades" else P.ticker_channel)(mid)
        ch = self.channels.get(key)
        return ch or self._new(Channel(key, str(req.channel), mid, wire=key))

    def seed_channel(self, symbol: str) -> Channel:
        ch = self._seed.get(symbol)
        if ch is None:
            ch = Channel(f"seed:{symbol}", "seed", symbol=symbol)
            self._seed[symbol] = self._new(ch)
        return ch

    def _new(self, ch: Channel) -> Channel:
        self.channels[ch.key] = ch
        return ch

    def join(self, sub: Subscriber, ch: Channel) -> dict[str, Any] | None:
        """Add ``sub`` to ``ch`` and return its snapshot message.

        Joining a channel already held only returns a fresh snapshot: that is
        how a client resyncs.  The seed's channel returns ``None`` for a
        market that does not exist yet (its updates start when it does).
        """
        sub.channels[ch.key] = ch
        ch.subscribers[sub] = None
        return self.snapshot(ch)

    def leave(self, sub: Subscriber, key: str) -> bool:
        ch = sub.channels.get(key)
        if ch is None:
            return False
        self._leave(sub, ch)
        return True

    def _leave(self, sub: Subscriber, ch: Channel) -> None:
        sub.channels.pop(ch.key, None)
        ch.subscribers.pop(sub, None)
        if not ch.subscribers:
            del self.channels[ch.key]
            if ch.kind == "book":
                books = self._books[ch.mid]
                del books[ch.key]
                if not books:
                    del self._books[ch.mid]
            elif ch.kind == "seed":
                del self._seed[ch.symbol]

    # ----------------------------------------------------------- snapshots

    def snapshot(self, ch: Channel) -> dict[str, Any] | None:
        """The channel's snapshot message at the replica's current state."""
        eng = self.engine
        if ch.kind == "seed":
            try:
                mid = eng.market_id(ch.symbol)
            except UnknownMarketError:
                return None
            return self._seed_message(mid, ch.symbol)
        if ch.kind == "user":
            return self._user_snapshot(ch.uid)
        mid = ch.mid
        payout, tick, status, _ = eng.market(mid)
        msg: dict[str, Any] = {"type": "snapshot", "ch": ch.wire}
        if ch.kind == "book":
            msg["seq"] = self._book_seq.get(mid, self._base)
            msg.update(
                market=mid,
                symbol=eng.market_symbol(mid),
                view=ch.view,
                depth=ch.depth,
                payout=payout,
                tick=tick,
                bids=[list(b) for b in ch.bids],
                asks=[list(a) for a in ch.asks],
                checksum=P.book_checksum(ch.bids, ch.asks),
                cv=P.CHECKSUM_VERSION,
            )
        elif ch.kind == "trades":
            msg["seq"] = self._trade_seq.get(mid, self._base)
            msg.update(market=mid, trades=list(self._trades.get(mid, ())))
        else:
            msg["seq"] = self._ticker_seq.get(mid, self._base)
            t = self._ticker.get(mid)
            if t is None:  # not touched since the feed started
                t = self._ticker[mid] = self._ticker_now(mid)
            msg.update(market=mid, payout=payout, tick=tick)
            msg.update(_ticker_fields(t))
        return msg

    def book_levels(
        self, mid: int, view: str, depth: int
    ) -> tuple[int, list[P.Level], list[P.Level], int]:
        """``(seq, bids, asks, checksum)`` of a book now, as the feed serves it.

        For an HTTP API in the same process, so REST and WebSocket agree.
        """
        bids, asks = self._levels(mid, view, depth)
        seq = self._book_seq.get(mid, self._base)
        return seq, bids, asks, P.book_checksum(bids, asks)

    def _levels(
        self, mid: int, view: str, depth: int
    ) -> tuple[list[P.Level], list[P.Level]]:
        yes_bids, yes_asks = self.engine.depth(mid, depth)
        return P.view_levels(yes_bids, yes_asks, view, self.engine.market(mid)[0])

    def _ticker_now(self, mid: int) -> tuple[int, ...]:
        eng = self.engine
        bid, bid_qty, ask, ask_qty = eng.top(mid)
        payout, _, status, pairs = eng.market(mid)
        return (payout, bid, bid_qty, ask, ask_qty, eng.last_price(mid), status, pairs)

    def _user_snapshot(self, uid: int) -> dict[str, Any]:
        eng = self.engine
        avail, locked = eng.balance(uid)
        orders = [
            {
                "market": m,
                "oid": o,
                "side": _SIDE[s],
                "outcome": _OUTCOME[oc],
                "price": p,
                "qty": q,
                "tif": tif,
                "client_id": cid,
                "expire_ts": exp,
            }
            for m, o, _u, s, oc, p, q, _yp, _bs, tif, cid, exp in eng.user_orders(uid)
        ]
        positions = []
        for mid in range(eng.totals()[2]):
            ya, yl, na, nl = eng.position(uid, mid)
            if ya or yl or na or nl:
                positions.append(
                    {
                        "market": mid,
                        "yes": ya,
                        "yes_locked": yl,
                        "no": na,
                        "no_locked": nl,
                    }
                )
        return {
            "type": "snapshot",
            "ch": "user",
            "seq": self._user_seq.get(uid, self._base),
            "user": uid,
            "cash": {"available": avail, "locked": locked},
            "orders": orders,
            "positions": positions,
        }

    def _seed_message(self, mid: int, symbol: str) -> dict[str, Any]:
        """The seed's ``{"EventId", "EventData"}``, without any user id."""
        payout = self.engine.market(mid)[0]
        books: dict[str, dict[int, dict[str, Any]]] = {"yes": {}, "no": {}}
        for (
            _oid,
            _uid,
            side,
            _oc,
            _p,
            qty,
            yes_price,
            book_side,
        ) in self.engine.book_orders(mid):
            # YES book: asks (sell YES; buy NO shown as its complement).
            shown, price = (
                ("yes", yes_price) if book_side == 1 else ("no", payout - yes_price)
            )
            lvl = books[shown].setdefault(price, {"total": 0, "orders": []})
            lvl["total"] += qty
            lvl["orders"].append({"quantity": qty, "type": _SIDE[side]})
        data = {
            shown: {str(p): levels[p] for p in sorted(levels)}
            for shown, levels in books.items()
        }
        return {"EventId": symbol, "EventData": data}


# ----------------------------------------------------------------- records


def _trade(ev: Event) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "ts": ev.ts,
        "price": ev.price,  # YES terms
        "qty": ev.qty,
        "kind": _FILL_KIND[ev.code],
        "taker_side": _SIDE[ev.side],
        "taker_outcome": _OUTCOME[ev.outcome],
    }


def _ticker_fields(t: tuple[int, ...]) -> dict[str, Any]:
    payout, bid, bid_qty, ask, ask_qty, last, status, pairs = t
    return {
        "bid": bid,
        "bid_qty": bid_qty,
        "ask": ask,
        "ask_qty": ask_qty,
        "last": last,
        "status": _STATUS[status],
        "open_interest": pairs,
    }


def _user_event(ev: Event, uid: int) -> dict[str, Any]:
    k = ev.kind
    out: dict[str, Any] = {
        "kind": EventKind(k).name.lower(),
        "seq": ev.seq,
        "ts": ev.ts,
    }
    if k == EventKind.FILL:
        taker = ev.user == uid
        out.update(
            market=ev.market,
            role="taker" if taker else "maker",
            oid=ev.oid if taker else ev.oid2,
            yes_price=ev.price,
            qty=ev.qty,
            fill_kind=_FILL_KIND[ev.code],
            fee=ev.fee if taker else ev.fee2,
        )
        if not taker:
            out["left"] = ev.aux
        return out
    if k == EventKind.CASH:
        out.update(amount=ev.qty, available=ev.aux)
    elif k == EventKind.PAIR:
        out.update(market=ev.market, qty=ev.qty, op="mint" if ev.code == 1 else "merge")
        out["available"] = ev.aux
    elif k == EventKind.SETTLEMENT:
        out.update(market=ev.market, yes_value=ev.price, yes=ev.qty, no=ev.aux)
    else:  # ACCEPTED, REJECTED, CANCELED, AMENDED: an order
        out.update(
            market=ev.market,
            oid=ev.oid,
            side=_SIDE[ev.side] if ev.side in (0, 1) else ev.side,
            outcome=_OUTCOME[ev.outcome] if ev.outcome in (0, 1) else ev.outcome,
            price=ev.price,
            qty=ev.qty,
        )
        if k == EventKind.ACCEPTED:
            out.update(tif=ev.code, client_id=ev.user2)
        elif k == EventKind.REJECTED:
            out.update(reason=ev.code)
        elif k == EventKind.CANCELED:
            out.update(reason=_CANCEL.get(ev.code, ev.code))
        else:
            out.update(priority_kept=bool(ev.code), old_price=ev.price2, old_qty=ev.aux)
    return out
