"""probo_engine: a matching engine for binary-outcome (YES/NO) opinion markets.

``import probo_engine`` loads only the compiled core and pure-Python modules:
no numpy, redis, database or web packages.
"""

from probo_engine._book import Core
from probo_engine._version import __version__
from probo_engine.engine import Engine
from probo_engine.errors import (
    CommandDecodeError,
    ConcurrentUseError,
    InvalidOrderError,
    InvariantError,
    JournalCorruptError,
    JournalError,
    ProboError,
    SnapshotError,
    UnknownMarketError,
    UnknownUserError,
)
from probo_engine.journal import DurableEngine, SyncPolicy
from probo_engine.types import (
    BookSide,
    CancelReason,
    Command,
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

__all__ = [
    "BookSide",
    "CancelReason",
    "Command",
    "CommandDecodeError",
    "ConcurrentUseError",
    "Core",
    "Depth",
    "DurableEngine",
    "Engine",
    "Event",
    "EventKind",
    "FeeMode",
    "Fill",
    "FillKind",
    "InvalidOrderError",
    "InvariantError",
    "JournalCorruptError",
    "JournalError",
    "Level",
    "MarketInfo",
    "MarketStatus",
    "OrderInfo",
    "OrderResult",
    "Outcome",
    "Position",
    "ProboError",
    "RejectReason",
    "SelfTrade",
    "Side",
    "SnapshotError",
    "SyncPolicy",
    "TimeInForce",
    "Top",
    "UnknownMarketError",
    "UnknownUserError",
    "__version__",
]
