"""The :class:`Engine`: the core plus names, enums and result records.

``Engine`` *is* a :class:`probo_engine._book.Core` (a subclass), so the fast
integer methods (``place``, ``cancel``, ``deposit``, ...) are called with no
Python wrapper in between.  What this layer adds is for convenience, off the
hot path: string names for users and markets (the seed app's ``"user1"``),
:class:`OrderResult` records with their fills, and views in either outcome's
terms.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any, Literal, SupportsIndex

from probo_engine import views
from probo_engine._book import Core
from probo_engine.commands import _bad_name
from probo_engine.errors import SnapshotError, UnknownMarketError, UnknownUserError
from probo_engine.types import (
    BookSide,
    CancelReason,
    Depth,
    Event,
    EventKind,
    FeeMode,
    Fill,
    FillKind,
    Level,
    MarketInfo,
    MarketStatus,
    OrderInfo,
    OrderResult,
    Outcome,
    Position,
    RejectReason,
    SelfTrade,
    Side,
    TimeInForce,
    Top,
)

__all__ = ["Engine"]

UserKey = int | str
_ENG_MAGIC = b"PROBOENG"
_ENG_HEAD = struct.Struct("<IQ")
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
MarketKey = int | str


class Engine(Core):
    """A matching engine for YES/NO markets, with a ledger.

    >>> from probo_engine import Engine, Side, Outcome
    >>> eng = Engine()
    >>> m = eng.create_market(symbol="RAIN-TOMORROW")   # payout 1000, tick 50
    >>> a = eng.create_user(name="asha"); b = eng.create_user(name="bilal")
    >>> eng.deposit(a, 10_000), eng.deposit(b, 10_000)
    (0, 0)
    >>> eng.submit("asha", "RAIN-TOMORROW", Side.BUY, Outcome.YES, 600, 10).resting
    10
    >>> r = eng.submit("bilal", "RAIN-TOMORROW", Side.BUY, Outcome.NO, 400, 10)
    >>> r.fills[0].kind.name, r.fills[0].taker_price, r.filled
    ('MINT', 400, 10)
    >>> eng.top("RAIN-TOMORROW")
    Top(bid_price=0, bid_qty=0, ask_price=0, ask_qty=0)

    The queries of this class take a user or market by id or by name and
    return named records (:class:`Top`, :class:`MarketInfo`,
    :class:`Position`, :class:`OrderInfo`; tuples, so they still compare
    and unpack as the core's plain tuples do).  The core's commands
    (``deposit``, ``cancel``, ...) take ids, as :class:`Core` does.
    """

    def __init__(
        self,
        *,
        max_qty: int = 10**9,
        max_open_orders: int = 0,
        max_balance: int = 0,
        max_levels: int = 100_000,
    ) -> None:
        # Core.__cinit__ applied the constructor's limits; Core.__init__
        # applies these if a subclass passes others (or refuses them loudly
        # once the engine has state).
        super().__init__(
            max_qty=max_qty,
            max_open_orders=max_open_orders,
            max_balance=max_balance,
            max_levels=max_levels,
        )
        self._user_ids: dict[str, int] = {}
        self._user_names: dict[int, str] = {}
        self._market_ids: dict[str, int] = {}
        self._market_names: dict[int, str] = {}

    # ------------------------------------------------------------ snapshots

    def snapshot(self) -> bytes:
        """Core snapshot plus the user and market names (docs/snapshot.md).

        Layout: ``b"PROBOENG"``, u32 version, u64 length of the core snapshot,
        the core snapshot, u64 length of the names (canonical JSON), the
        names, CRC32 of everything before.  Without names it is exactly the
        core snapshot, so :meth:`Core.restore` reads it too.
        """
        core: bytes = super().snapshot()
        if not self._user_ids and not self._market_ids:
            return core
        names = json.dumps(
            {
                "users": sorted(self._user_names.items()),
                "markets": sorted(self._market_names.items()),
            },
            separators=(",", ":"),
        ).encode()
        body = b"".join(
            (
                _ENG_MAGIC,
                _ENG_HEAD.pack(1, len(core)),
                core,
                _U64.pack(len(names)),
                names,
            )
        )
        return body + _U32.pack(zlib.crc32(body))

    @classmethod
    def restore(cls, data: bytes | bytearray | memoryview) -> Engine:
        """Rebuild an engine from :meth:`snapshot` bytes (``SnapshotError`` if bad)."""
        view = memoryview(data).cast("B")
        if bytes(view[:8]) != _ENG_MAGIC:
            eng: Engine = super().restore(view)
            return eng
        try:
            if zlib.crc32(view[:-4]) != _U32.unpack(view[-4:])[0]:
                raise SnapshotError("engine snapshot checksum mismatch")
            version, n_core = _ENG_HEAD.unpack_from(view, 8)
            if version != 1:
                raise SnapshotError(f"unknown engine snapshot version {version}")
            start = 8 + _ENG_HEAD.size
            core = view[start : start + n_core]
            (n_names,) = _U64.unpack_from(view, start + n_core)
            names_at = start + n_core + 8
            if names_at + n_names + 4 != len(view):
                raise SnapshotError("engine snapshot length does not add up")
            names = json.loads(bytes(view[names_at : names_at + n_names]))
            users = {int(k): str(v) for k, v in names["users"]}
            markets = {int(k): str(v) for k, v in names["markets"]}
        except (struct.error, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, SnapshotError):
                raise
            raise SnapshotError(f"corrupt engine snapshot: {exc}") from None
        eng = super().restore(core)
        _, n_users, n_markets, _ = eng.totals()
        if (
            any(not 0 <= u < n_users for u in users)
            or any(not 0 <= m < n_markets for m in markets)
            or len(set(users.values())) != len(users)
            or len(set(markets.values())) != len(markets)
        ):
            raise SnapshotError("engine snapshot names do not fit its state")
        eng._user_names, eng._market_names = users, markets
        eng._user_ids = {v: k for k, v in users.items()}
        eng._market_ids = {v: k for k, v in markets.items()}
        return eng

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self).restore, (self.snapshot(),))

    # ---------------------------------------------------------------- names

    def create_user(self, *, name: str | None = None) -> int:
        """Create a user, optionally under a unique ``name``; return its id.

        A name is a non-empty ``str`` of at most 65,535 bytes of UTF-8 (the
        rule the journal's encoding has, so a name this accepts is one
        ``DurableEngine`` accepts too): ``TypeError``/``ValueError`` otherwise.
        """
        if name is not None:
            bad = _bad_name("name", name)
            if bad is not None:
                raise bad
            if name in self._user_ids:
                raise ValueError(f"user {name!r} already exists")
        uid: int = super().create_user()
        if name is not None:
            self._user_ids[name] = uid
            self._user_names[uid] = name
        return uid

    def create_market(
        self,
        payout: SupportsIndex = 1000,
        tick: SupportsIndex = 50,
        ts: SupportsIndex = 0,
        taker_fee: SupportsIndex = 0,
        maker_fee: SupportsIndex = 0,
        fee_mode: FeeMode | Literal[0, 1] = FeeMode.BPS,
        min_qty: SupportsIndex = 1,
        cancel_on_halt: bool = False,
        *,
        symbol: str | None = None,
    ) -> int:
        """Create a market (optionally named ``symbol``); return its id.

        See :meth:`Core.create_market` for the parameters; ``symbol`` follows
        the rule of :meth:`create_user`'s ``name``.
        """
        if symbol is not None:
            bad = _bad_name("symbol", symbol)
            if bad is not None:
                raise bad
            if symbol in self._market_ids:
                raise ValueError(f"market {symbol!r} already exists")
        mid: int = super().create_market(
            payout, tick, ts, taker_fee, maker_fee, fee_mode, min_qty, cancel_on_halt
        )
        if symbol is not None:
            self._market_ids[symbol] = mid
            self._market_names[mid] = symbol
        return mid

    def user_id(self, user: UserKey) -> int:
        """The id of a user given by id or name (``UnknownUserError`` if none)."""
        if isinstance(user, str):
            try:
                return self._user_ids[user]
            except KeyError:
                raise UnknownUserError(f"unknown user {user!r}") from None
        if isinstance(user, bool) or not isinstance(user, int):
            raise TypeError(f"user must be an int id or a str name, not {user!r}")
        if not 0 <= user < self.totals()[1]:
            raise UnknownUserError(f"unknown user {user}")
        return user

    def market_id(self, market: MarketKey) -> int:
        """The id of a market given by id or symbol."""
        if isinstance(market, str):
            try:
                return self._market_ids[market]
            except KeyError:
                raise UnknownMarketError(f"unknown market {market!r}") from None
        if isinstance(market, bool) or not isinstance(market, int):
            raise TypeError(f"market must be an int id or a str symbol, not {market!r}")
        if not 0 <= market < self.totals()[2]:
            raise UnknownMarketError(f"unknown market {market}")
        return market

    def user_name(self, uid: int) -> str | None:
        return self._user_names.get(uid)

    def market_symbol(self, mid: int) -> str | None:
        return self._market_names.get(mid)

    # --------------------------------------------------------------- orders

    def submit(
        self,
        user: UserKey,
        market: MarketKey,
        side: Side | Literal[0, 1],
        outcome: Outcome | Literal[0, 1],
        price: int,
        qty: int,
        *,
        tif: TimeInForce | Literal[0, 1, 2, 3] = TimeInForce.GTC,
        stp: SelfTrade | Literal[0, 1, 2] = SelfTrade.CANCEL_MAKER,
        ts: int = 0,
        post_only: bool = False,
        client_id: int = 0,
        expire_ts: int = 0,
    ) -> OrderResult:
        """Place a limit order and return what happened to it, fills included.

        Same rules as :meth:`Core.place`; users and markets may be names.
        Unknown names raise (``UnknownUserError``/``UnknownMarketError``);
        every other refusal is the result's ``status``.
        """
        uid = self.user_id(user)
        mid = self.market_id(market)
        r: int = self.place(
            uid,
            mid,
            side,
            outcome,
            price,
            qty,
            tif,
            stp,
            ts,
            post_only,
            client_id,
            expire_ts,
        )
        return self._result(r, qty)

    def submit_market(
        self,
        user: UserKey,
        market: MarketKey,
        side: Side | Literal[0, 1],
        outcome: Outcome | Literal[0, 1],
        qty: int,
        *,
        max_cost: int = 0,
        fok: bool = False,
        stp: SelfTrade | Literal[0, 1, 2] = SelfTrade.CANCEL_MAKER,
        ts: int = 0,
        client_id: int = 0,
    ) -> OrderResult:
        """Place a market order (see :meth:`Core.place_market`); return its result."""
        r: int = self.place_market(
            self.user_id(user),
            self.market_id(market),
            side,
            outcome,
            qty,
            max_cost,
            fok,
            stp,
            ts,
            client_id,
        )
        return self._result(r, qty)

    def _result(self, r: int, qty: int) -> OrderResult:
        if r < 0:
            return OrderResult(RejectReason(-r), 0, 0, 0, 0, ())
        fills = []
        filled = canceled = 0
        for e in self.last_events():
            if e[1] == EventKind.FILL and e[5] == r:
                fills.append(
                    Fill(e[12], e[11], e[13], e[8], e[9], FillKind(e[10]), e[15], e[16])
                )
                filled += e[9]
            elif e[1] == EventKind.CANCELED and e[5] == r:
                canceled += e[9]
        resting = int(qty) - filled - canceled
        return OrderResult(RejectReason.OK, r, filled, resting, canceled, tuple(fills))

    def events(self) -> list[Event]:
        """Events of the most recent command as :class:`Event` records, with
        enum-typed ``kind`` and ``code`` (see :class:`Event`)."""
        out = []
        for e in self.last_events():
            kind = EventKind(e[1])
            code_enum = _CODE_ENUM.get(kind)
            code = code_enum(e[10]) if code_enum is not None else e[10]
            out.append(Event(e[0], kind, *e[2:10], code, *e[11:]))
        return out

    # ------------------------------------------------------ named queries

    def top(self, market: MarketKey) -> Top:  # type: ignore[override]
        """Best bid and ask of the YES book (0s for an empty side).  O(1)."""
        return Top._make(Core.top(self, self._mid(market)))

    def market(self, market: MarketKey) -> MarketInfo:  # type: ignore[override]
        """Grid, status and open interest of a market."""
        payout, tick, status, pairs = Core.market(self, self._mid(market))
        return MarketInfo(payout, tick, MarketStatus(status), pairs)

    def position(self, user: UserKey, market: MarketKey) -> Position:  # type: ignore[override]
        """A user's shares in a market (all 0 if it never held any)."""
        return Position._make(Core.position(self, self._uid(user), self._mid(market)))

    def order(self, oid: int) -> OrderInfo | None:  # type: ignore[override]
        """A live order, or ``None`` for any id that is not one."""
        t = Core.order(self, oid)
        return None if t is None else _info(t)

    def _mid(self, market: MarketKey) -> int:
        # an int goes straight to the core, which checks it (UnknownMarketError)
        return market if type(market) is int else self.market_id(market)

    def _uid(self, user: UserKey) -> int:
        return user if type(user) is int else self.user_id(user)

    def open_orders(self, user: UserKey) -> list[OrderInfo]:
        """A user's live orders, oldest first."""
        return [_info(t) for t in self.user_orders(self.user_id(user))]

    def order_info(self, oid: int) -> OrderInfo | None:
        """A live order by id, or ``None`` (the same as :meth:`order`)."""
        return self.order(oid)

    # ---------------------------------------------------------------- views

    def book(
        self,
        market: MarketKey,
        outcome: Outcome | int = Outcome.YES,
        levels: int | None = 10,
    ) -> Depth:
        """L2 depth in ``outcome``'s terms, best first; ``levels=None``: all.

        The NO view mirrors the YES book: a NO bid at ``payout - a`` for every
        YES ask at ``a``, and a NO ask at ``payout - b`` for every YES bid at ``b``.
        """
        mid = self.market_id(market)
        if levels is None:
            levels = Core.market(self, mid)[0]  # more than the grid has prices
        bids, asks = self.depth(mid, levels)
        if Outcome(outcome) == Outcome.YES:
            return Depth([Level(*b) for b in bids], [Level(*a) for a in asks])
        payout = Core.market(self, mid)[0]
        return Depth(
            [Level(payout - p, q, n) for p, q, n in asks],
            [Level(payout - p, q, n) for p, q, n in bids],
        )

    def best_bid(
        self, market: MarketKey, outcome: Outcome | int = Outcome.YES
    ) -> int | None:
        """Best bid price in ``outcome``'s terms, or ``None``."""
        bids = self.book(market, outcome, 1).bids
        return bids[0].price if bids else None

    def best_ask(
        self, market: MarketKey, outcome: Outcome | int = Outcome.YES
    ) -> int | None:
        """Best ask price in ``outcome``'s terms, or ``None``."""
        asks = self.book(market, outcome, 1).asks
        return asks[0].price if asks else None

    def seed_orderbook(self, market: MarketKey, unit: int = 100) -> dict[str, Any]:
        """The seed app's order book shape for one market (see :mod:`views`)."""
        return views.orderbook(self, self.market_id(market), unit, self._display_user)

    def seed_inr_balances(self) -> dict[Any, dict[str, int]]:
        """The seed app's ``INR_BALANCES``: ``{user: {balance, locked}}``."""
        return views.inr_balances(self, self._display_user)

    def seed_stock_balances(self) -> dict[Any, Any]:
        """The seed app's ``STOCK_BALANCES``: ``{user: {symbol: {yes, no}}}``."""
        return views.stock_balances(self, self._display_user, self._display_market)

    def _display_user(self, uid: int) -> str:
        return self._user_names.get(uid, str(uid))

    def _display_market(self, mid: int) -> str:
        return self._market_names.get(mid, str(mid))

    def balances(self, user: UserKey) -> dict[str, int]:
        """``{"available": ..., "locked": ...}`` cash of a user."""
        avail, locked = self.balance(self.user_id(user))
        return {"available": avail, "locked": locked}


def _info(t: tuple[int, ...]) -> OrderInfo:
    m, o, u, s, oc, p, q, yp, bs, tif, cid, exp = t
    return OrderInfo(
        m,
        o,
        u,
        Side(s),
        Outcome(oc),
        p,
        q,
        yp,
        BookSide(bs),
        TimeInForce(tif),
        cid,
        exp,
    )


#: The enum of an event's ``code`` field, by kind (docs/semantics.md "Events").
_CODE_ENUM: dict[EventKind, Any] = {
    EventKind.ACCEPTED: TimeInForce,
    EventKind.REJECTED: RejectReason,
    EventKind.FILL: FillKind,
    EventKind.CANCELED: CancelReason,
    EventKind.MARKET: MarketStatus,
}
