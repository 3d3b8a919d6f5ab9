"""Order requests: the JSON schema, its cross-field rules, and replies from events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from probo_engine.adapters.entries import iter_events
from probo_engine.commands import Place, PlaceMarket
from probo_engine.types import CancelReason, EventKind, FillKind, RejectReason

__all__ = ["NAME_PATTERN", "OrderIn", "order_command", "order_summary"]

INT64_MAX = 2**63 - 1
Qty = Annotated[int, msgspec.Meta(ge=1, le=10**9)]
Price = Annotated[int, msgspec.Meta(ge=1, le=10**9)]
#: user names and market symbols: 1..64 of [A-Za-z0-9_.-] (the lookahead
#: refuses a trailing newline, which ``$`` alone would let through)
NAME_PATTERN = r"^(?!.*\n)[A-Za-z0-9_.-]{1,64}$"
Symbol = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
ClientId = Annotated[int, msgspec.Meta(ge=1, le=2**32 - 1)]

SIDES = {"buy": 0, "sell": 1}
OUTCOMES = {"yes": 0, "no": 1}
TIFS = {"gtc": 0, "ioc": 1, "fok": 2, "gtd": 3}
STPS = {"cancel_maker": 0, "cancel_taker": 1, "cancel_both": 2}


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """One order.  Prices are in the order's own outcome's terms, on the
    market's grid (default 50..950 step 50, paise); ``expire_ts`` is Unix
    nanoseconds (GTD only)."""

    market: Symbol
    side: Literal["buy", "sell"]
    outcome: Literal["yes", "no"]
    qty: Qty
    type: Literal["limit", "market"] = "limit"
    price: Price | None = None
    tif: Literal["gtc", "ioc", "fok", "gtd"] = "gtc"
    expire_ts: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)] | None = None
    post_only: bool = False
    client_order_id: ClientId | None = None
    stp: Literal["cancel_maker", "cancel_taker", "cancel_both"] = "cancel_maker"
    #: budget of a market buy, paise (cash including fees)
    max_cost: Annotated[int, msgspec.Meta(ge=1, le=2**62)] | None = None


def check_order(o: OrderIn) -> str | None:
    """The first cross-field rule ``o`` breaks, or ``None``."""
    if o.type == "limit":
        if o.price is None:
            return "a limit order needs a price"
        if o.max_cost is not None:
            return "max_cost is for market orders"
        if (o.tif == "gtd") != (o.expire_ts is not None):
            return "expire_ts is required with tif gtd and only allowed with it"
        if o.post_only and o.tif not in ("gtc", "gtd"):
            return "post_only needs tif gtc or gtd"
        return None
    if o.price is not None:
        return "a market order has no price (use a limit IOC order)"
    if o.tif not in ("ioc", "fok"):
        return "a market order's tif is ioc (default for market orders) or fok"
    if o.post_only or o.expire_ts is not None:
        return "post_only and expire_ts are for limit orders"
    if o.max_cost is not None and o.side != "buy":
        return "max_cost is for market buys"
    return None


def order_command(o: OrderIn, uid: int, mid: int) -> tuple[int, ...]:
    """The command record of a checked order."""
    cid = o.client_order_id or 0
    if o.type == "market":
        return PlaceMarket(
            uid,
            mid,
            SIDES[o.side],
            OUTCOMES[o.outcome],
            o.qty,
            o.max_cost or 0,
            o.tif == "fok",
            STPS[o.stp],
            0,
            cid,
        )
    assert o.price is not None
    return Place(
        uid,
        mid,
        SIDES[o.side],
        OUTCOMES[o.outcome],
        o.price,
        o.qty,
        TIFS[o.tif],
        STPS[o.stp],
        0,
        o.post_only,
        cid,
        o.expire_ts or 0,
    )


def order_summary(result: int, events: bytes, qty: int) -> dict[str, Any]:
    """What happened to a placed order, from its command's result and events.

    ``status`` is ``rejected``, ``filled``, ``resting`` (all or part),
    ``canceled`` (nothing filled) or ``partially_filled`` (the rest canceled).
    """
    if result < 0:
        try:
            reason = RejectReason(-result).name.lower()
        except ValueError:
            reason = str(-result)
        return {"status": "rejected", "reason": reason, "order_id": None}
    fills = []
    filled = canceled = 0
    cancel_reason = None
    for e in iter_events(events):
        if e.oid != result:
            continue
        if e.kind == EventKind.FILL:
            fills.append(
                {
                    "price": e.price2,
                    "yes_price": e.price,
                    "qty": e.qty,
                    "kind": FillKind(e.code).name.lower(),
                    "fee": e.fee,
                    "maker_order_id": e.oid2,
                }
            )
            filled += e.qty
        elif e.kind == EventKind.CANCELED:
            canceled += e.qty
            cancel_reason = CancelReason(e.code).name.lower()
    resting = qty - filled - canceled
    if resting > 0:
        status = "resting"
    elif canceled == 0:
        status = "filled"
    elif filled:
        status = "partially_filled"
    else:
        status = "canceled"
    return {
        "status": status,
        "order_id": result,
        "filled": filled,
        "resting": resting,
        "canceled": canceled,
        "cancel_reason": cancel_reason,
        "fills": fills,
    }
