"""The seed opinion-trading app's JSON shapes, derived from engine queries.

The original app keeps three dicts: ``INR_BALANCES`` (``{user: {balance,
locked}}``), ``STOCK_BALANCES`` (``{user: {symbol: {yes: {quantity, locked},
no: {...}}}}``) and ``ORDERBOOK`` (``{symbol: {yes: {price: {total, orders}},
no: {...}}}``), with prices in rupees.  These functions build the same shapes
from any object with the core's query methods (``Core``, ``Engine``, or the
test oracle), so a compatibility HTTP layer only has to serialise them.

Choices the seed app leaves implicit, written down here:

* ``orderbook[outcome]`` lists what a buyer of that outcome can take: real sell
  orders of the outcome *and* buy orders of the other outcome, which the seed
  app shows as "pseudo" sells at ``payout - price`` (``"type": "sell"`` or
  ``"pseudo"``).  Levels are keyed by the price in rupees as a string
  (``"6.5"``), best (cheapest) first.
* ``balance``/``locked`` and ``quantity``/``locked`` are the engine's integers
  (paise and shares); only orderbook prices are converted, by ``unit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["inr_balances", "orderbook", "price_key", "stock_balances"]


class _Queries(Protocol):
    def book_orders(self, mid: int) -> Sequence[tuple[int, ...]]: ...
    def market(self, mid: int) -> tuple[int, int, int, int]: ...
    def balance(self, uid: int) -> tuple[int, int]: ...
    def position(self, uid: int, mid: int) -> tuple[int, int, int, int]: ...
    def totals(self) -> tuple[int, int, int, int]: ...


def price_key(price: int, unit: int = 100) -> str:
    """``650 -> "6.5"``, ``600 -> "6"``: a price in major units as a JSON key."""
    whole, frac = divmod(price, unit)
    if frac == 0:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def orderbook(
    core: _Queries,
    mid: int,
    unit: int = 100,
    name: Callable[[int], Any] = str,
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"yes": {price: {"total", "orders"}}, "no": {...}}`` for one market."""
    payout = core.market(mid)[0]
    books: dict[str, list[tuple[int, dict[str, Any]]]] = {"yes": [], "no": []}
    # book_orders is bids then asks, best first, FIFO within a level.
    for oid, uid, side, _outcome, _price, qty, yes_price, book_side in core.book_orders(
        mid
    ):
        # asks (sell YES, buy NO) are YES offers; bids (buy YES, sell NO) NO offers
        shown = "yes" if book_side == 1 else "no"
        offer = yes_price if shown == "yes" else payout - yes_price
        kind = "sell" if side == 1 else "pseudo"
        books[shown].append(
            (offer, {"id": oid, "user": name(uid), "quantity": qty, "type": kind})
        )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for shown, rows in books.items():
        levels: dict[int, dict[str, Any]] = {}
        for offer, order in rows:
            lvl = levels.setdefault(offer, {"total": 0, "orders": []})
            lvl["total"] += order["quantity"]
            lvl["orders"].append(order)
        out[shown] = {price_key(p, unit): levels[p] for p in sorted(levels)}
    return out


def inr_balances(
    core: _Queries, name: Callable[[int], Any] = str
) -> dict[Any, dict[str, int]]:
    """``{user: {"balance": available, "locked": locked}}`` for every user."""
    out = {}
    for uid in range(core.totals()[1]):
        avail, locked = core.balance(uid)
        out[name(uid)] = {"balance": avail, "locked": locked}
    return out


def stock_balances(
    core: _Queries,
    name: Callable[[int], Any] = str,
    symbol: Callable[[int], Any] = str,
) -> dict[Any, dict[Any, dict[str, dict[str, int]]]]:
    """``{user: {symbol: {"yes": {quantity, locked}, "no": {...}}}}``.

    Only markets where the user holds or has locked shares are listed.
    """
    _, n_users, n_markets, _ = core.totals()
    out: dict[Any, dict[Any, dict[str, dict[str, int]]]] = {}
    for uid in range(n_users):
        mine: dict[Any, dict[str, dict[str, int]]] = {}
        for mid in range(n_markets):
            ya, yl, na, nl = core.position(uid, mid)
            if ya or yl or na or nl:
                mine[symbol(mid)] = {
                    "yes": {"quantity": ya, "locked": yl},
                    "no": {"quantity": na, "locked": nl},
                }
        out[name(uid)] = mine
    return out
