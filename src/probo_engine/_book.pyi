"""Typing of the compiled core (``_book.pyx``); see docs/semantics.md."""

from typing import Any, Literal, Self, SupportsIndex

from probo_engine.types import (
    FeeMode,
    OrderResult,
    Outcome,
    SelfTrade,
    Side,
    TimeInForce,
)

_Int = SupportsIndex
# Each enum argument takes its own IntEnum or a literal value, never another
# kind's member (the core refuses Outcome.NO as a side at run time too).
_Side = Side | Literal[0, 1]
_Outcome = Outcome | Literal[0, 1]
_Tif = TimeInForce | Literal[0, 1, 2, 3]
_Stp = SelfTrade | Literal[0, 1, 2, 3]
_FeeMode = FeeMode | Literal[0, 1]

__test__: dict[str, str]
CONSTANTS: dict[str, int]
EVENT_FIELDS: tuple[str, ...]
EVENT_LAYOUT: tuple[tuple[str, str, int], ...]
EVENT_SIZE: int
COMMAND_FIELDS: tuple[str, ...]
SNAPSHOT_MAGIC: bytes
SNAPSHOT_VERSION: int
DEBUG: bool

_EventTuple = tuple[
    int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, int
]
_OrderTuple = tuple[int, int, int, int, int, int, int, int, int, int, int, int]
_BookOrderTuple = tuple[int, int, int, int, int, int, int, int]
_LevelTuple = tuple[int, int, int]

class Core:
    def __init__(
        self,
        *,
        max_qty: _Int = ...,
        max_open_orders: _Int = ...,
        max_balance: _Int = ...,
        max_levels: _Int = ...,
    ) -> None: ...
    # commands
    def create_user(self) -> int: ...
    def create_market(
        self,
        payout: _Int = 1000,
        tick: _Int = 50,
        ts: _Int = 0,
        taker_fee: _Int = 0,
        maker_fee: _Int = 0,
        fee_mode: _FeeMode = 0,
        min_qty: _Int = 1,
        cancel_on_halt: bool = False,
    ) -> int: ...
    def deposit(self, uid: _Int, amount: _Int, ts: _Int = 0) -> int: ...
    def withdraw(self, uid: _Int, amount: _Int, ts: _Int = 0) -> int: ...
    def place(
        self,
        uid: _Int,
        mid: _Int,
        side: _Side,
        outcome: _Outcome,
        price: _Int,
        qty: _Int,
        tif: _Tif = 0,
        stp: _Stp = 0,
        ts: _Int = 0,
        post_only: bool = False,
        client_id: _Int = 0,
        expire_ts: _Int = 0,
    ) -> int: ...
    def place_market(
        self,
        uid: _Int,
        mid: _Int,
        side: _Side,
        outcome: _Outcome,
        qty: _Int,
        max_cost: _Int = 0,
        fok: bool = False,
        stp: _Stp = 0,
        ts: _Int = 0,
        client_id: _Int = 0,
    ) -> int: ...
    def cancel(self, uid: _Int, oid: _Int, ts: _Int = 0) -> int: ...
    def cancel_client(self, uid: _Int, client_id: _Int, ts: _Int = 0) -> int: ...
    def amend(
        self, uid: _Int, oid: _Int, price: _Int, qty: _Int, ts: _Int = 0
    ) -> int: ...
    def cancel_all(self, uid: _Int, mid: _Int = -1, ts: _Int = 0) -> int: ...
    def mint(self, uid: _Int, mid: _Int, qty: _Int, ts: _Int = 0) -> int: ...
    def merge(self, uid: _Int, mid: _Int, qty: _Int, ts: _Int = 0) -> int: ...
    def halt(self, mid: _Int, ts: _Int = 0) -> int: ...
    def resume(self, mid: _Int, ts: _Int = 0) -> int: ...
    def close(self, mid: _Int, ts: _Int = 0) -> int: ...
    def resolve(self, mid: _Int, yes_value: _Int, ts: _Int = 0) -> int: ...
    def expire(self, ts: _Int) -> int: ...
    # batch
    def run_batch(
        self,
        commands: Any,
        results: Any,
        filled: Any = None,
        record_events: bool = True,
    ) -> int: ...
    @staticmethod
    def check_batch(commands: Any) -> int: ...
    def events_bytes(self) -> bytes: ...
    def events_into(self, out: Any) -> int: ...
    @property
    def last_filled(self) -> int: ...
    def depth_into(self, mid: _Int, out: Any) -> None: ...
    # durability
    def snapshot(self) -> bytes: ...
    def state_hash(self) -> str: ...
    @classmethod
    def restore(cls, data: bytes | bytearray | memoryview) -> Self: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    # events and queries
    def last_events(self) -> list[_EventTuple]: ...
    # fast per-call entry points (one block in _book.pyx after last_events)
    def last_fills(self) -> list[int]: ...
    def fills_into(self, out: Any) -> int: ...
    def place_limit(
        self,
        uid: _Int,
        mid: _Int,
        side: _Side,
        outcome: _Outcome,
        price: _Int,
        qty: _Int,
    ) -> int: ...
    def place_ioc(
        self,
        uid: _Int,
        mid: _Int,
        side: _Side,
        outcome: _Outcome,
        price: _Int,
        qty: _Int,
    ) -> int: ...
    def place_limit_fills(
        self,
        uid: _Int,
        mid: _Int,
        side: _Side,
        outcome: _Outcome,
        price: _Int,
        qty: _Int,
    ) -> tuple[int, tuple[tuple[int, int, int], ...]]: ...
    def _order_result(self, r: int, qty: int) -> OrderResult: ...
    def _uid_arg(self, user: Any, arg: str) -> int: ...
    def _mid_arg(self, market: Any, arg: str) -> int: ...
    def _submit(
        self,
        user: Any,
        market: Any,
        side: _Side,
        outcome: _Outcome,
        price: _Int,
        qty: _Int,
        *,
        tif: _Tif = ...,
        stp: _Stp | None = None,
        ts: _Int = 0,
        post_only: bool = False,
        client_id: _Int = 0,
        expire_ts: _Int = 0,
    ) -> OrderResult: ...
    def _cancel_key(self, uid: Any, oid: _Int, ts: _Int = 0) -> int: ...
    @property
    def _stp_default(self) -> SelfTrade: ...
    @_stp_default.setter
    def _stp_default(self, stp: SelfTrade | int) -> None: ...
    @property
    def n_last_events(self) -> int: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def clock(self) -> int: ...
    def _hold(self) -> int: ...
    def _unhold(self, token: int) -> None: ...
    def balance(self, uid: _Int) -> tuple[int, int]: ...
    def position(self, uid: _Int, mid: _Int) -> tuple[int, int, int, int]: ...
    def market(self, mid: _Int) -> tuple[int, int, int, int]: ...
    def last_price(self, mid: _Int) -> int: ...
    def top(self, mid: _Int) -> tuple[int, int, int, int]: ...
    def depth(
        self, mid: _Int, n: _Int = 10
    ) -> tuple[list[_LevelTuple], list[_LevelTuple]]: ...
    def book_orders(self, mid: _Int) -> list[_BookOrderTuple]: ...
    def user_orders(self, uid: _Int) -> list[_OrderTuple]: ...
    def order(self, oid: _Int) -> _OrderTuple | None: ...
    def order_by_client_id(self, uid: _Int, client_id: _Int) -> _OrderTuple | None: ...
    def market_config(
        self, mid: _Int
    ) -> tuple[int, int, int, int, int, int, bool, int]: ...
    def fees(self) -> int: ...
    def limits(self) -> tuple[int, int, int, int]: ...
    def totals(self) -> tuple[int, int, int, int]: ...
    def check_invariants(self) -> None: ...
