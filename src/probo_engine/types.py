"""Enumerations and result records of the public API.

The IntEnums mirror the C enums of ``_book.pxd`` value for value (a test
checks this); the records are small immutable tuples built on demand, never on
the matching hot path.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "BookSide",
    "CancelReason",
    "Command",
    "Depth",
    "Event",
    "EventKind",
    "Fill",
    "FeeMode",
    "FillKind",
    "Level",
    "MarketInfo",
    "MarketStatus",
    "OrderInfo",
    "OrderResult",
    "Outcome",
    "Position",
    "RejectReason",
    "SelfTrade",
    "Side",
    "TimeInForce",
    "Top",
]


class Side(IntEnum):
    """What an order does: buy or sell shares of its outcome."""

    BUY = 0
    SELL = 1


class Outcome(IntEnum):
    """The outcome a share pays on."""

    YES = 0
    NO = 1


class BookSide(IntEnum):
    """Where an order rests on its market's single YES-price book."""

    BID = 0  #: buy YES, sell NO
    ASK = 1  #: sell YES, buy NO


class TimeInForce(IntEnum):
    """How long an order may rest."""

    GTC = 0  #: good till canceled
    IOC = 1  #: immediate or cancel: fill what crosses, cancel the rest
    FOK = 2  #: fill or kill: fill all at once or reject with FOK_NOT_FILLABLE
    GTD = 3  #: good till a caller-supplied time (``expire_ts``)


class SelfTrade(IntEnum):
    """What happens when an order would match its own user's resting order."""

    CANCEL_MAKER = 0  #: default: cancel the resting order, keep matching
    CANCEL_TAKER = 1  #: stop; cancel the incoming order's remainder
    CANCEL_BOTH = 2  #: cancel the resting order and the incoming remainder
    NONE = 3  #: no prevention: own orders match (simulations, one trader both sides)


class FillKind(IntEnum):
    """What a fill does to the supply of shares."""

    TRANSFER = 0  #: shares change hands
    MINT = 1  #: buy YES x buy NO: a new YES+NO pair is created
    MERGE = 2  #: sell YES x sell NO: a pair is burned and paid out


class CancelReason(IntEnum):
    """Why an order left the book without filling."""

    USER = 1  #: cancel or cancel_all
    IOC = 2  #: remainder of an IOC or market order
    SELF_TRADE = 3  #: self-trade prevention
    EXPIRED = 4  #: GTD time reached
    HALTED = 5  #: market halted with cancel_on_halt
    CLOSED = 6  #: market closed
    RESOLVED = 7  #: market resolved


class MarketStatus(IntEnum):
    """Lifecycle: OPEN <-> HALTED -> CLOSED -> RESOLVED."""

    OPEN = 0
    HALTED = 1
    CLOSED = 2
    RESOLVED = 3


class FeeMode(IntEnum):
    """How a market's fee rates (basis points) apply to a fill."""

    BPS = 0  #: ``ceil(rate * qty * price / 10000)``
    CURVE = 1  #: ``ceil(rate * qty * p * (payout - p) / (payout * 10000))``


class EventKind(IntEnum):
    ACCEPTED = 1
    REJECTED = 2
    FILL = 3
    CANCELED = 4
    LEVEL = 5
    MARKET = 6
    CASH = 7
    AMENDED = 8
    PAIR = 9  #: mint or merge command
    SETTLEMENT = 10


class Command(IntEnum):
    """The command a REJECTED event refers to (its ``aux`` field)."""

    PLACE = 1
    CANCEL = 2
    DEPOSIT = 3
    WITHDRAW = 4
    AMEND = 5
    CANCEL_ALL = 6
    MINT = 7
    MERGE = 8
    HALT = 9
    RESUME = 10
    CLOSE = 11
    RESOLVE = 12
    PLACE_MARKET = 13  #: batch records only (its rejections say PLACE)
    EXPIRE = 14  #: batch records only
    CANCEL_CLIENT = 15  #: cancel by client order id
    CREATE_USER = 32  #: journal records only
    CREATE_MARKET = 33  #: journal records only


class RejectReason(IntEnum):
    """Result codes: 0 is success; 1xx validation, 2xx funds and limits,
    3xx matching, 4xx market status."""

    OK = 0
    UNKNOWN_USER = 101
    UNKNOWN_MARKET = 102
    PRICE_OFF_GRID = 103
    INVALID_QTY = 104
    INVALID_AMOUNT = 105
    DUPLICATE_CLIENT_ID = 106
    INVALID_EXPIRY = 107
    BELOW_MIN_QTY = 108
    STALE_TIME = 109  #: ts before the engine's clock (time may not go backwards)
    INSUFFICIENT_FUNDS = 201
    INSUFFICIENT_SHARES = 202
    CASH_LIMIT = 203
    TOO_MANY_ORDERS = 204
    FOK_NOT_FILLABLE = 301
    UNKNOWN_ORDER = 302
    POST_ONLY_WOULD_CROSS = 303
    MARKET_NOT_OPEN = 401
    INVALID_TRANSITION = 402
    INVALID_SETTLEMENT = 403


class Event(NamedTuple):
    """One event; which fields a kind uses is tabled in docs/semantics.md.

    From :meth:`Engine.events`, ``kind`` is an :class:`EventKind` and
    ``code`` the enum of its kind where there is one (``RejectReason`` for
    REJECTED, ``CancelReason`` for CANCELED, ``FillKind`` for FILL,
    ``MarketStatus`` for MARKET, ``TimeInForce`` for ACCEPTED), else an int.
    ``price`` is the YES price for FILL, LEVEL and the own-outcome price
    for orders, as tabled.
    """

    seq: int
    kind: EventKind
    ts: int
    market: int
    user: int
    oid: int
    side: int
    outcome: int
    price: int
    qty: int
    code: int
    user2: int
    oid2: int
    price2: int
    aux: int
    fee: int
    fee2: int


class Fill(NamedTuple):
    """One fill of an order, seen from the taker."""

    maker_oid: int
    maker_user: int
    taker_price: int  #: in the taker's own outcome terms (the FILL event's price2)
    yes_price: int  #: the same trade in YES terms (the FILL event's price)
    qty: int
    kind: FillKind
    fee: int  #: paid by the taker
    maker_fee: int  #: paid by the maker (negative: a rebate)


class OrderResult(NamedTuple):
    """What happened to an order placed with :meth:`Engine.submit`."""

    status: RejectReason
    oid: int  #: 0 when rejected
    filled: int
    resting: int
    canceled: int
    fills: tuple[Fill, ...]

    @property
    def ok(self) -> bool:
        return self.status == RejectReason.OK


class OrderInfo(NamedTuple):
    """A live order."""

    market: int
    oid: int
    user: int
    side: Side
    outcome: Outcome
    price: int  #: own-outcome terms
    qty: int  #: remaining
    yes_price: int
    book_side: BookSide
    tif: TimeInForce
    client_id: int  #: 0 = none
    expire_ts: int  #: GTD only


class Top(NamedTuple):
    """Best bid and ask of a market's YES book (0, 0 for an empty side)."""

    bid_price: int  #: YES terms
    bid_qty: int
    ask_price: int  #: YES terms
    ask_qty: int


class MarketInfo(NamedTuple):
    """A market's grid, status and open interest."""

    payout: int
    tick: int
    status: MarketStatus
    outstanding_pairs: int  #: YES (= NO) shares in existence


class Position(NamedTuple):
    """A user's shares in one market."""

    yes_available: int
    yes_locked: int  #: held by resting sells of YES
    no_available: int
    no_locked: int  #: held by resting sells of NO


class Level(NamedTuple):
    price: int
    qty: int
    orders: int


class Depth(NamedTuple):
    """Aggregated depth, best first, in the requested outcome's terms."""

    bids: list[Level]
    asks: list[Level]
