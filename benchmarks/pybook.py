"""Baseline: a plain pure-Python limit order book on ``sortedcontainers``.

This is the yardstick of DESIGN.md section 6 ("a plain pure-Python book on
sortedcontainers"): every speed target of the Cython core is a ratio against it,
measured in the same process on the same order stream.  It is meant to be a
*fair* baseline -- what a competent engineer writes in an afternoon, neither
deliberately slow nor golfed:

* one ``SortedDict`` per side mapping price -> ``Level`` (a FIFO ``deque`` of
  orders plus a count of live orders); the best bid is the last key, the best
  ask the first;
* a ``dict`` oid -> order, so ``cancel`` is O(1) whatever the queue depth: the
  order is marked dead (``qty = 0``) and skipped/popped lazily when matching
  reaches it; a level whose live count drops to zero is removed at once;
* price-time priority, fills at the resting (maker) price, partial fills, the
  unfilled remainder of a limit order rests at the back of its level;
* ``add`` returns the fills as a list of ``(maker_oid, price, qty)`` tuples.

There is no ledger, no validation, no self-trade prevention and no events --
only the book.  Prices and quantities are plain ints; ``side`` is ``BID`` (0)
or ``ASK`` (1).  For a YES/NO market the book is the YES book: buy YES @ p and
sell NO @ (payout - p) are bids at p; sell YES @ p and buy NO @ (payout - p)
are asks at p.
"""

from __future__ import annotations

from collections import deque

from sortedcontainers import SortedDict

BID = 0
ASK = 1


class Order:
    """A resting order.  ``qty`` is what is left; 0 means canceled/filled."""

    __slots__ = ("oid", "uid", "side", "price", "qty")

    def __init__(self, oid: int, uid: int, side: int, price: int, qty: int) -> None:
        self.oid = oid
        self.uid = uid
        self.side = side
        self.price = price
        self.qty = qty


class Level:
    """The FIFO queue at one price.  ``live`` counts orders with ``qty > 0``."""

    __slots__ = ("queue", "live")

    def __init__(self) -> None:
        self.queue: deque[Order] = deque()
        self.live = 0


class OrderBook:
    """A price-time priority limit order book (one instrument)."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()  # price -> Level; best = last key
        self.asks: SortedDict = SortedDict()  # price -> Level; best = first key
        self.orders: dict[int, Order] = {}  # live resting orders by oid

    # ------------------------------------------------------------------ commands

    def add(
        self, oid: int, uid: int, side: int, price: int, qty: int
    ) -> list[tuple[int, int, int]]:
        """Match a limit order, rest what is left; return ``(maker_oid, price, qty)``
        per fill, in execution order."""
        fills: list[tuple[int, int, int]] = []
        orders = self.orders
        if side == BID:
            opposite = self.asks
            # Take from the lowest ask while it is <= our price.
            while opposite:
                level_price, level = opposite.peekitem(0)
                if level_price > price:
                    break
                qty = self._take(level, level_price, qty, fills, orders)
                if not level.live:
                    del opposite[level_price]
                if not qty:
                    return fills
            own = self.bids
        else:
            opposite = self.bids
            # Take from the highest bid while it is >= our price.
            while opposite:
                level_price, level = opposite.peekitem(-1)
                if level_price < price:
                    break
                qty = self._take(level, level_price, qty, fills, orders)
                if not level.live:
                    del opposite[level_price]
                if not qty:
                    return fills
            own = self.asks

        order = Order(oid, uid, side, price, qty)
        orders[oid] = order
        level = own.get(price)
        if level is None:
            level = own[price] = Level()
        level.queue.append(order)
        level.live += 1
        return fills

    @staticmethod
    def _take(
        level: Level,
        price: int,
        qty: int,
        fills: list[tuple[int, int, int]],
        orders: dict[int, Order],
    ) -> int:
        """Fill up to ``qty`` from the front of ``level``; return what is left."""
        queue = level.queue
        while qty and level.live:
            maker = queue[0]
            left = maker.qty
            if not left:  # canceled earlier, dropped lazily here
                queue.popleft()
            elif left <= qty:  # maker filled completely
                qty -= left
                fills.append((maker.oid, price, left))
                maker.qty = 0
                queue.popleft()
                del orders[maker.oid]
                level.live -= 1
            else:  # taker filled completely, maker partially
                maker.qty = left - qty
                fills.append((maker.oid, price, qty))
                return 0
        return qty

    def cancel(self, oid: int) -> bool:
        """Cancel a live order; ``False`` if ``oid`` is not resting."""
        order = self.orders.pop(oid, None)
        if order is None:
            return False
        side = self.bids if order.side == BID else self.asks
        price = order.price
        level = side[price]
        order.qty = 0  # removed from its deque lazily
        level.live -= 1
        if not level.live:
            del side[price]
        return True

    # ------------------------------------------------------------------- queries

    def best_bid(self) -> int:
        """Highest bid price, 0 if none."""
        return self.bids.peekitem(-1)[0] if self.bids else 0

    def best_ask(self) -> int:
        """Lowest ask price, 0 if none."""
        return self.asks.peekitem(0)[0] if self.asks else 0

    def depth(
        self, n: int
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Up to ``n`` levels per side, best first, as ``(price, total_qty, count)``."""

        def levels(items: object) -> list[tuple[int, int, int]]:
            out = []
            for price, level in items:  # type: ignore[attr-defined]
                live = [o.qty for o in level.queue if o.qty]
                out.append((price, sum(live), len(live)))
                if len(out) == n:
                    break
            return out

        return (
            levels(reversed(self.bids.items())),
            levels(iter(self.asks.items())),
        )

    def __len__(self) -> int:
        return len(self.orders)
