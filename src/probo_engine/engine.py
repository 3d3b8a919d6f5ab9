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
import operator
import struct
import zlib
from typing import TYPE_CHECKING, Any, Literal, SupportsIndex

from probo_engine import views
from probo_engine._book import Core
from probo_engine.commands import _bad_name
from probo_engine.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    SnapshotError,
    UnknownMarketError,
    UnknownUserError,
)
from probo_engine.types import (
    BookSide,
    CancelReason,
    Depth,
    Event,
    EventKind,
    FeeMode,
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

    Every method takes a user by id or name and a market by id or symbol
    (docs/semantics.md, "Errors and unknown ids").  Commands report an
    unknown user or market as a refusal (result ``-101``/``-102``, or the
    ``status`` of an :class:`OrderResult`), as :class:`Core` does; queries
    raise :class:`UnknownUserError`/:class:`UnknownMarketError`.  Queries
    return named records (:class:`Top`, :class:`MarketInfo`,
    :class:`Position`, :class:`OrderInfo`; tuples, so they still compare
    and unpack as the core's plain tuples do).
    """

    def __init__(
        self,
        *,
        max_qty: int = 10**9,
        max_open_orders: int = 0,
        max_balance: int = 0,
        max_levels: int = 100_000,
        self_trade: SelfTrade | int = SelfTrade.CANCEL_MAKER,
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
        self._stp_default = self_trade
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
        # the snapshot, and the self-trade default (not part of a snapshot)
        return (_unpickle, (type(self), self.snapshot(), int(self._stp_default)))

    # ---------------------------------------------------------------- names

    def create_user(self, *, name: str | None = None) -> int:
        """Create a user, optionally under a unique ``name``; return its id.

        A name is a non-empty ``str`` of at most 65,535 bytes of UTF-8 (the
        rule the journal's encoding has, so a name this accepts is one
        ``DurableEngine`` accepts too): ``TypeError``/``ValueError`` otherwise.
        """
        if name is not None:
            _check_name("name", name)
            if name in self._user_ids:
                raise InvalidArgumentError(f"name: user {name!r} already exists")
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
            _check_name("symbol", symbol)
            if symbol in self._market_ids:
                raise InvalidArgumentError(f"symbol: market {symbol!r} already exists")
        mid: int = super().create_market(
            payout, tick, ts, taker_fee, maker_fee, fee_mode, min_qty, cancel_on_halt
        )
        if symbol is not None:
            self._market_ids[symbol] = mid
            self._market_names[mid] = symbol
        return mid

    def user_id(self, user: UserKey) -> int:
        """The id of a user given by id or name (``UnknownUserError`` if none)."""
        uid = self._uid_arg(user, "user")
        if not 0 <= uid < self.totals()[1]:
            raise UnknownUserError(f"user: unknown user {user!r}")
        return uid

    def market_id(self, market: MarketKey) -> int:
        """The id of a market given by id or symbol (``UnknownMarketError`` if none)."""
        mid = self._mid_arg(market, "market")
        if not 0 <= mid < self.totals()[2]:
            raise UnknownMarketError(f"market: unknown market {market!r}")
        return mid

    def _uid_arg(self, user: Any, arg: str) -> int:
        # A user argument as an int id: a name maps to its id or -1 (not a
        # user: commands then refuse it with 101, queries raise); an id is
        # returned as is for the core to check.
        if isinstance(user, str):
            return self._user_ids.get(user, -1)
        return _index(user, arg, "an int id or a str name")

    def _mid_arg(self, market: Any, arg: str) -> int:
        if isinstance(market, str):
            return self._market_ids.get(market, -1)
        return _index(market, arg, "an int id or a str symbol")

    @property
    def self_trade(self) -> SelfTrade:
        """The self-trade mode of orders placed without one (``stp`` not
        given to :meth:`submit`, :meth:`submit_market`, :meth:`place`,
        :meth:`place_market`); ``SelfTrade.CANCEL_MAKER`` unless the
        constructor's ``self_trade`` (or this setter) says otherwise.

        Each order keeps the mode it was placed with (an amend reuses it), and
        a journal records every order's mode, so this is a default for new
        orders only.  It is not part of a snapshot: set it again after
        :meth:`restore` (pickling an ``Engine`` keeps it).
        """
        stp: SelfTrade = self._stp_default
        return stp

    @self_trade.setter
    def self_trade(self, stp: SelfTrade | int) -> None:
        self._stp_default = stp

    def user_name(self, uid: int) -> str | None:
        return self._user_names.get(uid)

    def market_symbol(self, mid: int) -> str | None:
        return self._market_names.get(mid)

    # --------------------------------------------------------------- orders

    if TYPE_CHECKING:

        def submit(
            self,
            user: UserKey,
            market: MarketKey,
            side: Side | Literal[0, 1],
            outcome: Outcome | Literal[0, 1],
            price: SupportsIndex,
            qty: SupportsIndex,
            *,
            tif: TimeInForce | Literal[0, 1, 2, 3] = TimeInForce.GTC,
            stp: SelfTrade | Literal[0, 1, 2, 3] | None = None,
            ts: SupportsIndex = 0,
            post_only: bool = False,
            client_id: SupportsIndex = 0,
            expire_ts: SupportsIndex = 0,
        ) -> OrderResult:
            """Place a limit order; return its :class:`OrderResult`."""

        def cancel(  # type: ignore[override]
            self, uid: UserKey, oid: SupportsIndex, ts: SupportsIndex = 0
        ) -> int:
            """:meth:`Core.cancel` with a user name or id."""

    else:
        # Both run in C (``Core._submit``/``Core._cancel_key`` in _book.pyx,
        # with their docstrings): names are resolved through ``_uid_arg``/
        # ``_mid_arg`` below, only when the argument is not an int.
        submit = Core._submit
        cancel = Core._cancel_key

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
        stp: SelfTrade | Literal[0, 1, 2, 3] | None = None,
        ts: int = 0,
        client_id: int = 0,
    ) -> OrderResult:
        """Place a market order (see :meth:`Core.place_market`); return its
        result (refusals, unknown users and markets included, in ``status``).
        ``stp=None``: the engine's :attr:`self_trade`."""
        r: int = Core.place_market(
            self,
            self._uid_arg(user, "user"),
            self._mid_arg(market, "market"),
            side,
            outcome,
            qty,
            max_cost,
            fok,
            self._stp_default if stp is None else stp,
            ts,
            client_id,
        )
        return self._order_result(r, qty)

    # ----------------------------------------- commands: names or ids
    # Each is the Core command of the same name (same arguments, result and
    # events) with ``uid``/``mid`` also accepted as a name/symbol; an unknown
    # one is refused with -101/-102 as an unknown id is.

    def place(  # type: ignore[override]
        self,
        uid: UserKey,
        mid: MarketKey,
        side: Side | Literal[0, 1],
        outcome: Outcome | Literal[0, 1],
        price: SupportsIndex,
        qty: SupportsIndex,
        tif: TimeInForce | Literal[0, 1, 2, 3] = 0,
        stp: SelfTrade | Literal[0, 1, 2, 3] | None = None,
        ts: SupportsIndex = 0,
        post_only: bool = False,
        client_id: SupportsIndex = 0,
        expire_ts: SupportsIndex = 0,
    ) -> int:
        """:meth:`Core.place` with names or ids; ``stp=None``: the engine's
        :attr:`self_trade`."""
        if type(uid) is not int:
            uid = self._uid_arg(uid, "uid")
        if type(mid) is not int:
            mid = self._mid_arg(mid, "mid")
        r: int = Core.place(
            self,
            uid,
            mid,
            side,
            outcome,
            price,
            qty,
            tif,
            self._stp_default if stp is None else stp,
            ts,
            post_only,
            client_id,
            expire_ts,
        )
        return r

    def place_market(  # type: ignore[override]
        self,
        uid: UserKey,
        mid: MarketKey,
        side: Side | Literal[0, 1],
        outcome: Outcome | Literal[0, 1],
        qty: SupportsIndex,
        max_cost: SupportsIndex = 0,
        fok: bool = False,
        stp: SelfTrade | Literal[0, 1, 2, 3] | None = None,
        ts: SupportsIndex = 0,
        client_id: SupportsIndex = 0,
    ) -> int:
        """:meth:`Core.place_market` with names or ids; ``stp=None``: the
        engine's :attr:`self_trade`."""
        r: int = Core.place_market(
            self,
            self._uid_arg(uid, "uid"),
            self._mid_arg(mid, "mid"),
            side,
            outcome,
            qty,
            max_cost,
            fok,
            self._stp_default if stp is None else stp,
            ts,
            client_id,
        )
        return r

    def cancel_client(  # type: ignore[override]
        self, uid: UserKey, client_id: SupportsIndex, ts: SupportsIndex = 0
    ) -> int:
        """:meth:`Core.cancel_client` with a user name or id."""
        r: int = Core.cancel_client(self, self._uid_arg(uid, "uid"), client_id, ts)
        return r

    def amend(  # type: ignore[override]
        self,
        uid: UserKey,
        oid: SupportsIndex,
        price: SupportsIndex,
        qty: SupportsIndex,
        ts: SupportsIndex = 0,
    ) -> int:
        """:meth:`Core.amend` with a user name or id."""
        r: int = Core.amend(self, self._uid_arg(uid, "uid"), oid, price, qty, ts)
        return r

    def cancel_all(  # type: ignore[override]
        self, uid: UserKey, mid: MarketKey = -1, ts: SupportsIndex = 0
    ) -> int:
        """:meth:`Core.cancel_all` with names or ids (``mid=-1``: every market)."""
        r: int = Core.cancel_all(
            self, self._uid_arg(uid, "uid"), self._mid_arg(mid, "mid"), ts
        )
        return r

    def deposit(  # type: ignore[override]
        self, uid: UserKey, amount: SupportsIndex, ts: SupportsIndex = 0
    ) -> int:
        """:meth:`Core.deposit` with a user name or id."""
        r: int = Core.deposit(self, self._uid_arg(uid, "uid"), amount, ts)
        return r

    def withdraw(  # type: ignore[override]
        self, uid: UserKey, amount: SupportsIndex, ts: SupportsIndex = 0
    ) -> int:
        """:meth:`Core.withdraw` with a user name or id."""
        r: int = Core.withdraw(self, self._uid_arg(uid, "uid"), amount, ts)
        return r

    def mint(  # type: ignore[override]
        self, uid: UserKey, mid: MarketKey, qty: SupportsIndex, ts: SupportsIndex = 0
    ) -> int:
        """:meth:`Core.mint` with names or ids."""
        r: int = Core.mint(
            self, self._uid_arg(uid, "uid"), self._mid_arg(mid, "mid"), qty, ts
        )
        return r

    def merge(  # type: ignore[override]
        self, uid: UserKey, mid: MarketKey, qty: SupportsIndex, ts: SupportsIndex = 0
    ) -> int:
        """:meth:`Core.merge` with names or ids."""
        r: int = Core.merge(
            self, self._uid_arg(uid, "uid"), self._mid_arg(mid, "mid"), qty, ts
        )
        return r

    def halt(self, mid: MarketKey, ts: SupportsIndex = 0) -> int:  # type: ignore[override]
        """:meth:`Core.halt` with a market symbol or id."""
        r: int = Core.halt(self, self._mid_arg(mid, "mid"), ts)
        return r

    def resume(self, mid: MarketKey, ts: SupportsIndex = 0) -> int:  # type: ignore[override]
        """:meth:`Core.resume` with a market symbol or id."""
        r: int = Core.resume(self, self._mid_arg(mid, "mid"), ts)
        return r

    def close(self, mid: MarketKey, ts: SupportsIndex = 0) -> int:  # type: ignore[override]
        """:meth:`Core.close` with a market symbol or id."""
        r: int = Core.close(self, self._mid_arg(mid, "mid"), ts)
        return r

    def resolve(  # type: ignore[override]
        self, mid: MarketKey, yes_value: SupportsIndex, ts: SupportsIndex = 0
    ) -> int:
        """:meth:`Core.resolve` with a market symbol or id."""
        r: int = Core.resolve(self, self._mid_arg(mid, "mid"), yes_value, ts)
        return r

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

    def balance(self, uid: UserKey) -> tuple[int, int]:  # type: ignore[override]
        """``(available, locked)`` cash of a user (by id or name)."""
        r: tuple[int, int] = Core.balance(self, self._uid(uid))
        return r

    def user_orders(self, uid: UserKey) -> list[Any]:  # type: ignore[override]
        """:meth:`Core.user_orders` of a user by id or name."""
        r: list[Any] = Core.user_orders(self, self._uid(uid))
        return r

    def order_by_client_id(  # type: ignore[override]
        self, uid: UserKey, client_id: SupportsIndex
    ) -> OrderInfo | None:
        """A user's live order by client id, or ``None``; an unknown user
        raises ``UnknownUserError`` (the rule of every query)."""
        t = Core.order_by_client_id(self, self.user_id(uid), client_id)
        return None if t is None else _info(t)

    def last_price(self, mid: MarketKey) -> int:  # type: ignore[override]
        """:meth:`Core.last_price` of a market by id or symbol."""
        r: int = Core.last_price(self, self._mid(mid))
        return r

    def market_config(self, mid: MarketKey) -> tuple[Any, ...]:  # type: ignore[override]
        """:meth:`Core.market_config` of a market by id or symbol."""
        r: tuple[Any, ...] = Core.market_config(self, self._mid(mid))
        return r

    def depth(  # type: ignore[override]
        self, mid: MarketKey, n: SupportsIndex = 10
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """:meth:`Core.depth` of a market by id or symbol."""
        r: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]
        r = Core.depth(self, self._mid(mid), n)
        return r

    def book_orders(self, mid: MarketKey) -> list[Any]:  # type: ignore[override]
        """:meth:`Core.book_orders` of a market by id or symbol."""
        r: list[Any] = Core.book_orders(self, self._mid(mid))
        return r

    def open_orders(self, user: UserKey) -> list[OrderInfo]:
        """A user's live orders, oldest first."""
        return [_info(t) for t in Core.user_orders(self, self.user_id(user))]

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
        avail, locked = Core.balance(self, self.user_id(user))
        return {"available": avail, "locked": locked}


def _unpickle(cls: type[Engine], data: bytes, self_trade: int) -> Engine:
    eng = cls.restore(data)
    eng._stp_default = self_trade
    return eng


def _index(x: Any, arg: str, what: str) -> int:
    # an id given as an int (or anything with __index__, e.g. numpy ints);
    # bool and float are misuse, as everywhere in the core
    if type(x) is int:
        return x
    if not isinstance(x, (bool, float)):
        try:
            return operator.index(x)
        except TypeError:
            pass
    raise ArgumentTypeError(f"{arg} must be {what}, not {type(x).__name__}")


def _check_name(arg: str, name: Any) -> None:
    bad = _bad_name(arg, name)
    if bad is None:
        return
    cls = ArgumentTypeError if isinstance(bad, TypeError) else InvalidArgumentError
    raise cls(str(bad))


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
