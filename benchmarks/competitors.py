"""The order books a Python user would otherwise install from PyPI, on our stream.

Each competitor is adapted to the stream of ``benchmarks/stream.py`` through its
own public API, and checked against the baseline book (``pybook.OrderBook``) in
an untimed pass before it is timed.  Install them with the ``[bench]`` extra::

    pip install -e '.[bench]'

A competitor that does not install or import here is skipped and the exact
reason is printed (``unavailable()``).

What each one is and what can be compared:

``liquibook`` (PyPI ``liquibook``, a SWIG wrapper of the C++ Liquibook engine)
    ``DepthOrderBook`` with ``SimpleOrder(is_buy, price, qty)`` objects; fills
    come back through a Python ``OrderListener.on_fill(aggressor, passive, qty,
    price)`` callback (a SWIG director: C++ calls into Python per fill).  The
    timed loop keeps every fill as a ``(taker, maker, price, qty)`` tuple, like
    the baseline's ``add`` does.  The order objects are kept (slot -> order) so
    a cancel can name them.  Fills are compared exactly: same sequence of
    (taker slot, maker slot, price, qty) as the baseline.

``limit-order-book`` (PyPI ``limit-order-book``, Kautenja; C++ through ctypes)
    ``LimitOrderBook.limit_buy/limit_sell(order_id, qty, price)`` and
    ``cancel(order_id)``.  It reports **no fills** at all (no callback, no
    return value), so its timed loop does less work than the others.  The
    comparison uses what can be observed: the quantity each command filled
    (from the change of the book's total volume: ``filled = (V_before + qty -
    V_after) / 2``), the set of live orders at the end (``has``) and the
    volume/count at every price at the end.  It cannot show *which* maker an
    order hit; given identical per-command fills and live sets, price-time
    priority is the only consistent explanation, but it is not proven.

``cython-orderbook`` (PyPI ``cython-orderbook``; information)
    ``OrderBook.add_limit_order(Order(side, qty, Decimal price))``, string ids
    from a module counter, a ``Trade`` object per fill kept in
    ``book.trade_log`` (it is cleared between runs).  Fills are compared
    exactly via the trade log.

All of them are one-instrument books with no ledger, no balance checks and no
events: the same job as the baseline, less than the probo_engine ``Core``.
"""

from __future__ import annotations

import gc
import importlib
import time
from collections.abc import Callable
from typing import Any

import stream as st
from bench_percall import Counts

PLACE = st.PLACE
BID = 0

#: name -> (PyPI distribution, import name)
PACKAGES = {
    "liquibook": ("liquibook", "liquibook"),
    "limit-order-book": ("limit-order-book", "limit_order_book"),
    "cython-orderbook": ("cython-orderbook", "cython_orderbook"),
}


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return "?"


def unavailable(name: str) -> str:
    """Empty string if competitor ``name`` imports and works here, else the
    exact reason it is skipped."""
    dist, mod = PACKAGES[name]
    try:
        importlib.import_module(mod)
    except Exception as exc:  # noqa: BLE001 - report any import failure
        return (
            f"{name}: `import {mod}` failed ({type(exc).__name__}: {exc}); "
            f"install with `pip install {dist}` (the [bench] extra)"
        )
    try:  # smoke test: one cross
        book = make_book(name)
        book.smoke()
    except Exception as exc:  # noqa: BLE001
        return f"{name}: smoke test failed ({type(exc).__name__}: {exc})"
    return ""


def version_of(name: str) -> str:
    return _version(PACKAGES[name][0])


# ----------------------------------------------------------------- liquibook


class _LiquibookFills:
    """Builds the ``OrderListener`` subclasses lazily (liquibook may be absent)."""

    classes: dict[str, Any] = {}

    @classmethod
    def make(cls, keep: bool) -> Any:
        import liquibook

        if not cls.classes:

            class Base(liquibook.OrderListener):
                # All pure virtual in C++: a Python listener must define every
                # one, so each accept/cancel calls into Python too.
                def __init__(self) -> None:
                    liquibook.OrderListener.__init__(self)
                    self.n = 0
                    self.out: list[Any] = []

                def on_accept(self, order: Any) -> None:
                    pass

                def on_reject(self, order: Any, reason: str) -> None:
                    pass

                def on_cancel(self, order: Any) -> None:
                    pass

                def on_cancel_reject(self, order: Any, reason: str) -> None:
                    pass

                def on_replace(self, order: Any, delta: int, price: int) -> None:
                    pass

                def on_replace_reject(self, order: Any, reason: str) -> None:
                    pass

                def on_trigger_stop(self, order: Any) -> None:
                    pass

            class Count(Base):
                def on_fill(self, order: Any, matched: Any, qty: int, price: int):
                    self.n += 1

            class Keep(Base):
                def on_fill(self, order: Any, matched: Any, qty: int, price: int):
                    # Liquibook passes the incoming order first, then the
                    # resting one (checked in the smoke test).
                    self.out.append((order, matched, price, qty))

            cls.classes.update(count=Count, keep=Keep)
        return cls.classes["keep" if keep else "count"]()


class LiquibookBook:
    """``listener``: "keep" (every fill as a tuple, for checking), "count"
    (the timed default: each fill is delivered to a Python ``on_fill`` that
    counts it) or "none" (no listener: fills are not reported at all)."""

    name = "liquibook"

    def __init__(self, listener: str = "keep") -> None:
        import liquibook

        self.lb = liquibook
        self.book = liquibook.DepthOrderBook()
        self.book.set_symbol("X")
        self.listener = None
        if listener != "none":
            self.listener = _LiquibookFills.make(listener == "keep")
            self.book.set_order_listener(self.listener)

    @property
    def fills(self) -> list[Any]:
        return self.listener.out if self.listener is not None else []

    def smoke(self) -> None:
        lb = self.lb
        a = lb.SimpleOrder(True, 50, 10)
        b = lb.SimpleOrder(False, 49, 4)
        self.book.add(a)
        self.book.add(b)
        f = self.fills
        if len(f) != 1 or f[0][0].order_id_ != b.order_id_ or f[0][2:] != (50, 4):
            raise RuntimeError(f"unexpected fill report {f!r}")


def _liquibook_loop(
    part: list[st.Item], add: Any, cancel: Any, order: Any, orders: list[Any]
) -> None:
    for op, _u, _s, _o, _p, qty, bside, yes_price, ref in part:
        if op == PLACE:
            o = orders[ref] = order(bside == BID, yes_price, qty)
            add(o)
        else:
            cancel(orders[ref])


def time_liquibook(
    stream: list[st.Item], n_places: int, warm: int = 0, *, listener: bool = True
) -> tuple[float, int]:
    """One timed run.  ``listener``: fills go to a Python ``on_fill`` (counted);
    without it nothing is reported (information row)."""
    lb = LiquibookBook("count" if listener else "none")
    book = lb.book
    orders: list[Any] = [None] * n_places
    args = (book.add, book.cancel, lb.lb.SimpleOrder, orders)
    _liquibook_loop(stream[:warm], *args)
    part = stream[warm:] if warm else stream
    if lb.listener is not None:
        lb.listener.n = 0
    gc.collect()
    t0 = time.perf_counter()
    _liquibook_loop(part, *args)
    secs = time.perf_counter() - t0
    return secs, lb.listener.n if lb.listener is not None else 0


def count_liquibook(stream: list[st.Item], n_places: int) -> Counts:
    c = Counts()
    lb = LiquibookBook()
    book = lb.book
    orders: list[Any] = [None] * n_places
    slot_of: dict[int, int] = {}
    fills = lb.fills
    for op, _u, _s, _o, _p, qty, bside, yes_price, ref in stream:
        if op == PLACE:
            o = orders[ref] = lb.lb.SimpleOrder(bside == BID, yes_price, qty)
            slot_of[o.order_id_] = ref
            book.add(o)
            for taker, maker, price, q in fills:
                c.seq.append(
                    (slot_of[taker.order_id_], slot_of[maker.order_id_], price, q)
                )
                c.filled_qty += q
            fills.clear()
        else:
            book.cancel(orders[ref])
            c.cancel_ok += 1  # liquibook reports cancel results by callback only
    c.fills = len(c.seq)
    return c


# ---------------------------------------------------------- limit-order-book


class KautenjaBook:
    name = "limit-order-book"

    def __init__(self) -> None:
        from limit_order_book import LimitOrderBook

        self.book = LimitOrderBook()

    def smoke(self) -> None:
        b = self.book
        b.limit_buy(1, 10, 50)
        b.limit_sell(2, 4, 49)
        if (b.volume(), b.has(1), b.has(2)) != (6, True, False):
            raise RuntimeError("unexpected matching result")


def _lob_loop(
    part: list[st.Item],
    buy: Any,
    sell: Any,
    cancel: Any,
    ids: list[int],
    next_oid: int,
) -> int:
    for op, _u, _s, _o, _p, qty, bside, yes_price, ref in part:
        if op == PLACE:
            ids[ref] = next_oid
            if bside == BID:
                buy(next_oid, qty, yes_price)
            else:
                sell(next_oid, qty, yes_price)
            next_oid += 1
        else:
            cancel(ids[ref])
    return next_oid


def time_lob(stream: list[st.Item], n_places: int, warm: int = 0) -> tuple[float, int]:
    """One timed run; ids 1, 2, 3, ... like the engine's.  No fills reported."""
    book = KautenjaBook().book
    ids = [0] * n_places
    args = (book.limit_buy, book.limit_sell, book.cancel, ids)
    next_oid = _lob_loop(stream[:warm], *args, 1)
    part = stream[warm:] if warm else stream
    gc.collect()
    t0 = time.perf_counter()
    _lob_loop(part, *args, next_oid)
    return time.perf_counter() - t0, 0


def check_lob(stream: list[st.Item], n_places: int) -> list[str]:
    """Compare with the baseline what limit-order-book lets us observe."""
    from pybook import OrderBook

    book = KautenjaBook().book
    base = OrderBook()
    bad: list[str] = []
    for i, (op, _u, _s, _o, _p, qty, bside, yes_price, ref) in enumerate(stream):
        if op == PLACE:
            v0 = book.volume()
            if bside == BID:
                book.limit_buy(ref + 1, qty, yes_price)
            else:
                book.limit_sell(ref + 1, qty, yes_price)
            got = (v0 + qty - book.volume()) // 2
            want = sum(f[2] for f in base.add(ref + 1, 0, bside, yes_price, qty))
            if got != want and len(bad) < 3:
                bad.append(f"command {i}: filled {got}, baseline {want}")
        else:
            book.cancel(ref + 1)
            base.cancel(ref + 1)
    live = sorted(base.orders)
    if [o for o in range(1, n_places + 1) if book.has(o)] != live:
        bad.append("live orders at the end differ from the baseline's")
    for side, levels in zip((True, False), base.depth(10**6), strict=True):
        for price, qty, count in levels:
            vol = book.volume_buy(price) if side else book.volume_sell(price)
            if (vol, book.count_at(price)) != (qty, count):
                bad.append(
                    f"level {price}: {vol}/{book.count_at(price)} vs {qty}/{count}"
                )
                break
    return bad


# ---------------------------------------------------------- cython-orderbook


class CythonOBBook:
    name = "cython-orderbook"

    def __init__(self) -> None:
        import cython_orderbook

        self.mod = cython_orderbook
        self.book = cython_orderbook.OrderBook()

    def smoke(self) -> None:
        from decimal import Decimal

        m = self.mod
        self.book.add_limit_order(m.Order(m.OrderSide.BID, 10, Decimal(50)))
        self.book.add_limit_order(m.Order(m.OrderSide.ASK, 4, Decimal(49)))
        if len(self.book.trade_log) != 1:
            raise RuntimeError("unexpected matching result")


def _cob_prices() -> list[Any]:
    from decimal import Decimal

    return [Decimal(p) for p in range(st.PAYOUT + 1)]


def _cob_loop(
    part: list[st.Item],
    add: Any,
    cancel: Any,
    order: Any,
    sides: tuple[Any, Any],
    prices: list[Any],
    ids: list[Any],
) -> None:
    for op, _u, _s, _o, _p, qty, bside, yes_price, ref in part:
        if op == PLACE:
            o = order(sides[bside], qty, prices[yes_price])
            ids[ref] = o.order_id
            add(o)
        else:
            cancel(ids[ref])


def time_cob(stream: list[st.Item], n_places: int, warm: int = 0) -> tuple[float, int]:
    """One timed run; prices as ``Decimal`` (pre-built, not timed); the
    library keeps a ``Trade`` per fill in ``book.trade_log`` (its report)."""
    b = CythonOBBook()
    book = b.book
    sides = (b.mod.OrderSide.BID, b.mod.OrderSide.ASK)
    ids: list[Any] = [None] * n_places
    args = (book.add_limit_order, book.cancel_order, b.mod.Order, sides)
    _cob_loop(stream[:warm], *args, _cob_prices(), ids)
    part = stream[warm:] if warm else stream
    book.trade_log.clear()
    gc.collect()
    t0 = time.perf_counter()
    _cob_loop(part, *args, _cob_prices(), ids)
    secs = time.perf_counter() - t0
    return secs, len(book.trade_log)


def count_cob(stream: list[st.Item], n_places: int) -> Counts:
    c = Counts()
    b = CythonOBBook()
    book = b.book
    sides = (b.mod.OrderSide.BID, b.mod.OrderSide.ASK)
    prices = _cob_prices()
    ids: list[Any] = [None] * n_places
    slot_of: dict[str, int] = {}
    log = book.trade_log
    for op, _u, _s, _o, _p, qty, bside, yes_price, ref in stream:
        if op == PLACE:
            o = b.mod.Order(sides[bside], qty, prices[yes_price])
            ids[ref] = o.order_id
            slot_of[o.order_id] = ref
            book.add_limit_order(o)
            for t in log:
                q = t.quantity_filled
                c.seq.append(
                    (slot_of[t.aggressor_id], slot_of[t.filler_id], int(t.price), q)
                )
                c.filled_qty += q
            log.clear()
        elif book.cancel_order(ids[ref]):
            c.cancel_ok += 1
        else:
            c.cancel_codes[302] = c.cancel_codes.get(302, 0) + 1
    c.fills = len(c.seq)
    return c


# ------------------------------------------------------------------ registry


def make_book(name: str) -> Any:
    return {
        "liquibook": LiquibookBook,
        "limit-order-book": KautenjaBook,
        "cython-orderbook": CythonOBBook,
    }[name]()


TIMERS: dict[str, Callable[..., tuple[float, int]]] = {
    "liquibook": time_liquibook,
    "limit-order-book": time_lob,
    "cython-orderbook": time_cob,
}
