# cython: language_level=3
"""The core's Python-level tables: constants, event and command layouts.

Everything here is derived at import from the C declarations (the enums of
_types.pxd, the limits of _c/bits.h, the compiled ``Event`` struct and the
snapshot constants of _snapshot.pxd), so the Python names cannot drift from
what the core compiles.  ``probo_engine._book`` re-exports every name, which
is where the rest of the package imports them from.
"""

from probo_engine._clib cimport MAX_LEVELS, MAX_PAYOUT, MAX_QTY, MAX_TOTAL_CASH
from probo_engine._snapshot cimport SNAP_VERSION, SNAPSHOT_MAGIC_C
from probo_engine._types cimport *

#: Every value-carrying enum of _types.pxd and the limits of _c/bits.h, by
#: name (tests/unit/test_constants_source.py checks it against both).
CONSTANTS = {
    "SIDE_BUY": SIDE_BUY, "SIDE_SELL": SIDE_SELL,
    "OUTCOME_YES": OUTCOME_YES, "OUTCOME_NO": OUTCOME_NO,
    "BOOK_BID": BOOK_BID, "BOOK_ASK": BOOK_ASK,
    "TIF_GTC": TIF_GTC, "TIF_IOC": TIF_IOC, "TIF_FOK": TIF_FOK,
    "TIF_GTD": TIF_GTD,
    "STP_CANCEL_MAKER": STP_CANCEL_MAKER, "STP_CANCEL_TAKER": STP_CANCEL_TAKER,
    "STP_CANCEL_BOTH": STP_CANCEL_BOTH,
    "FILL_TRANSFER": FILL_TRANSFER, "FILL_MINT": FILL_MINT,
    "FILL_MERGE": FILL_MERGE,
    "CANCEL_USER": CANCEL_USER, "CANCEL_IOC": CANCEL_IOC,
    "CANCEL_SELF_TRADE": CANCEL_SELF_TRADE, "CANCEL_EXPIRED": CANCEL_EXPIRED,
    "CANCEL_HALTED": CANCEL_HALTED, "CANCEL_CLOSED": CANCEL_CLOSED,
    "CANCEL_RESOLVED": CANCEL_RESOLVED,
    "MARKET_OPEN": MARKET_OPEN, "MARKET_HALTED": MARKET_HALTED,
    "MARKET_CLOSED": MARKET_CLOSED, "MARKET_RESOLVED": MARKET_RESOLVED,
    "FEE_BPS": FEE_BPS, "FEE_CURVE": FEE_CURVE,
    "EV_ACCEPTED": EV_ACCEPTED, "EV_REJECTED": EV_REJECTED, "EV_FILL": EV_FILL,
    "EV_CANCELED": EV_CANCELED, "EV_LEVEL": EV_LEVEL, "EV_MARKET": EV_MARKET,
    "EV_CASH": EV_CASH, "EV_AMENDED": EV_AMENDED, "EV_PAIR": EV_PAIR,
    "EV_SETTLEMENT": EV_SETTLEMENT,
    "CMD_PLACE": CMD_PLACE, "CMD_CANCEL": CMD_CANCEL,
    "CMD_DEPOSIT": CMD_DEPOSIT, "CMD_WITHDRAW": CMD_WITHDRAW,
    "CMD_AMEND": CMD_AMEND, "CMD_CANCEL_ALL": CMD_CANCEL_ALL,
    "CMD_MINT": CMD_MINT, "CMD_MERGE": CMD_MERGE, "CMD_HALT": CMD_HALT,
    "CMD_RESUME": CMD_RESUME, "CMD_CLOSE": CMD_CLOSE,
    "CMD_RESOLVE": CMD_RESOLVE, "CMD_PLACE_MARKET": CMD_PLACE_MARKET,
    "CMD_EXPIRE": CMD_EXPIRE, "CMD_CREATE_USER": CMD_CREATE_USER,
    "CMD_CREATE_MARKET": CMD_CREATE_MARKET,
    "REJ_OK": REJ_OK, "REJ_UNKNOWN_USER": REJ_UNKNOWN_USER,
    "REJ_UNKNOWN_MARKET": REJ_UNKNOWN_MARKET,
    "REJ_PRICE_OFF_GRID": REJ_PRICE_OFF_GRID,
    "REJ_INVALID_QTY": REJ_INVALID_QTY,
    "REJ_INVALID_AMOUNT": REJ_INVALID_AMOUNT,
    "REJ_DUPLICATE_CLIENT_ID": REJ_DUPLICATE_CLIENT_ID,
    "REJ_INVALID_EXPIRY": REJ_INVALID_EXPIRY,
    "REJ_BELOW_MIN_QTY": REJ_BELOW_MIN_QTY, "REJ_STALE_TIME": REJ_STALE_TIME,
    "REJ_INSUFFICIENT_FUNDS": REJ_INSUFFICIENT_FUNDS,
    "REJ_INSUFFICIENT_SHARES": REJ_INSUFFICIENT_SHARES,
    "REJ_CASH_LIMIT": REJ_CASH_LIMIT,
    "REJ_TOO_MANY_ORDERS": REJ_TOO_MANY_ORDERS,
    "REJ_FOK_NOT_FILLABLE": REJ_FOK_NOT_FILLABLE,
    "REJ_UNKNOWN_ORDER": REJ_UNKNOWN_ORDER,
    "REJ_POST_ONLY_WOULD_CROSS": REJ_POST_ONLY_WOULD_CROSS,
    "REJ_MARKET_NOT_OPEN": REJ_MARKET_NOT_OPEN,
    "REJ_INVALID_TRANSITION": REJ_INVALID_TRANSITION,
    "REJ_INVALID_SETTLEMENT": REJ_INVALID_SETTLEMENT,
    "MAX_QTY": MAX_QTY, "MAX_PAYOUT": MAX_PAYOUT, "MAX_LEVELS": MAX_LEVELS,
    "MAX_TOTAL_CASH": MAX_TOTAL_CASH,
    "STP_NONE": STP_NONE, "CMD_CANCEL_CLIENT": CMD_CANCEL_CLIENT,
}

# Snapshot format constants: _snapshot.pxd (the codec is _snapshot.pyx).
SNAPSHOT_MAGIC = SNAPSHOT_MAGIC_C[:8]
SNAPSHOT_VERSION = SNAP_VERSION

EVENT_FIELDS = (
    "seq", "kind", "ts", "market", "user", "oid", "side", "outcome", "price",
    "qty", "code", "user2", "oid2", "price2", "aux", "fee", "fee2",
)


cdef tuple _event_layout():
    # (name, numpy format, byte offset) of every Event field, in EVENT_FIELDS
    # order, taken from the compiled struct itself.
    cdef Event ev
    cdef char* base = <char*>&ev
    cdef dict where = {
        "seq": (<char*>&ev.seq - base, sizeof(ev.seq)),
        "kind": (<char*>&ev.kind - base, sizeof(ev.kind)),
        "ts": (<char*>&ev.ts - base, sizeof(ev.ts)),
        "market": (<char*>&ev.market - base, sizeof(ev.market)),
        "user": (<char*>&ev.user - base, sizeof(ev.user)),
        "oid": (<char*>&ev.oid - base, sizeof(ev.oid)),
        "side": (<char*>&ev.side - base, sizeof(ev.side)),
        "outcome": (<char*>&ev.outcome - base, sizeof(ev.outcome)),
        "price": (<char*>&ev.price - base, sizeof(ev.price)),
        "qty": (<char*>&ev.qty - base, sizeof(ev.qty)),
        "code": (<char*>&ev.code - base, sizeof(ev.code)),
        "user2": (<char*>&ev.user2 - base, sizeof(ev.user2)),
        "oid2": (<char*>&ev.oid2 - base, sizeof(ev.oid2)),
        "price2": (<char*>&ev.price2 - base, sizeof(ev.price2)),
        "aux": (<char*>&ev.aux - base, sizeof(ev.aux)),
        "fee": (<char*>&ev.fee - base, sizeof(ev.fee)),
        "fee2": (<char*>&ev.fee2 - base, sizeof(ev.fee2)),
    }
    return tuple((name, f"<i{where[name][1]}", where[name][0])
                 for name in EVENT_FIELDS)


#: ``(name, numpy format, byte offset)`` of each event field, in
#: ``EVENT_FIELDS`` order; ``EVENT_SIZE`` bytes per packed event.
EVENT_LAYOUT = _event_layout()

#: Bytes per packed event (``Core.events_bytes``).
EVENT_SIZE = sizeof(Event)

#: The fields of a packed command record (``CmdRec``, 16 little-endian int64s).
COMMAND_FIELDS = (
    "kind", "uid", "mid", "side", "outcome", "price", "qty", "oid", "tif", "stp",
    "ts", "post_only", "client_id", "expire_ts", "max_cost", "reserved",
)
