"""Latency per call: p50/p99 of a sample of individual calls.

Every ``EVERY``-th command of the (timed part of the) stream is timed on its
own with ``time.perf_counter_ns()`` around exactly the library call -- not the
loop, the tuple unpacking or the id bookkeeping; the other commands run
untimed, so the sampling costs little.  The figures include the timer's own
cost (``timer_overhead_ns()``, reported next to the table, ~30-80 ns here) and
whatever else the machine was doing at that instant, which is what p99
captures.

Each sample is labelled with the command's class -- resting place, crossing
place (it filled something), cancel -- taken from the baseline book, so the
driver can report p50/p99 per class as well as over all commands.

The batch path has no per-command latency: ``bench_batch.chunk_latencies``
times each ``run`` call (one chunk) instead.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import stream as st
from pybook import OrderBook

PLACE = st.PLACE
BID = 0
EVERY = 8
REST, CROSS, CANCEL = 0, 1, 2
CLASS_NAMES = ("resting place", "crossing place", "cancel")


def classes(stream: list[st.Item]) -> bytearray:
    """Class (REST/CROSS/CANCEL) of every command, from the baseline book."""
    book = OrderBook()
    out = bytearray(len(stream))
    for i, (op, _u, _s, _o, _p, qty, bside, yes_price, ref) in enumerate(stream):
        if op == PLACE:
            out[i] = CROSS if book.add(ref, 0, bside, yes_price, qty) else REST
        else:
            book.cancel(ref)
            out[i] = CANCEL
    return out


def timer_overhead_ns(n: int = 200_000) -> int:
    """Median of back-to-back ``perf_counter_ns()`` pairs."""
    pc = time.perf_counter_ns
    lat = []
    for _ in range(n):
        t0 = pc()
        lat.append(pc() - t0)
    lat.sort()
    return lat[len(lat) // 2]


def percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    k = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[k]


Samples = list[tuple[int, int]]  # (command index, ns)


def sample_pybook(stream: list[st.Item], n_places: int, warm: int = 0) -> Samples:
    book = OrderBook()
    add = book.add
    cancel = book.cancel
    ids = [0] * n_places
    pc = time.perf_counter_ns
    out: Samples = []
    next_oid = 1
    gc.collect()
    for i, (op, user, _s, _o, _p, qty, bside, yes_price, ref) in enumerate(stream):
        timed = i >= warm and not i % EVERY
        if op == PLACE:
            ids[ref] = next_oid
            if timed:
                t0 = pc()
                add(next_oid, user, bside, yes_price, qty)
                out.append((i, pc() - t0))
            else:
                add(next_oid, user, bside, yes_price, qty)
            next_oid += 1
        elif timed:
            oid = ids[ref]
            t0 = pc()
            cancel(oid)
            out.append((i, pc() - t0))
        else:
            cancel(ids[ref])
    return out


def sample_core(
    stream: list[st.Item],
    n_places: int,
    make: Callable[[], Any],
    n_users: int,
    warm: int = 0,
    *,
    read_events: bool = False,
) -> Samples:
    """Core per call; with ``read_events`` the timed region also includes
    ``last_events()`` (what a consumer of the event stream pays)."""
    core = make()
    mid = st.setup_engine(core, n_users)
    place = core.place
    cancel = core.cancel
    last_events = core.last_events
    ids = [0] * n_places
    pc = time.perf_counter_ns
    out: Samples = []
    gc.collect()
    for i, (op, user, side, outcome, price, qty, _b, _y, ref) in enumerate(stream):
        timed = i >= warm and not i % EVERY
        if op == PLACE:
            if timed:
                t0 = pc()
                ids[ref] = place(user, mid, side, outcome, price, qty)
                if read_events:
                    last_events()
                out.append((i, pc() - t0))
            else:
                ids[ref] = place(user, mid, side, outcome, price, qty)
        elif timed:
            oid = ids[ref]
            t0 = pc()
            cancel(user, oid)
            if read_events:
                last_events()
            out.append((i, pc() - t0))
        else:
            cancel(user, ids[ref])
    return out


def sample_liquibook(stream: list[st.Item], n_places: int, warm: int = 0) -> Samples:
    from competitors import LiquibookBook

    lb = LiquibookBook("count")
    book = lb.book
    add = book.add
    cancel = book.cancel
    order = lb.lb.SimpleOrder
    orders: list[Any] = [None] * n_places
    pc = time.perf_counter_ns
    out: Samples = []
    gc.collect()
    for i, (op, _u, _s, _o, _p, qty, bside, yes_price, ref) in enumerate(stream):
        timed = i >= warm and not i % EVERY
        if op == PLACE:
            o = orders[ref] = order(bside == BID, yes_price, qty)
            if timed:
                t0 = pc()
                add(o)
                out.append((i, pc() - t0))
            else:
                add(o)
        elif timed:
            o = orders[ref]
            t0 = pc()
            cancel(o)
            out.append((i, pc() - t0))
        else:
            cancel(orders[ref])
    return out


def sample_lob(stream: list[st.Item], n_places: int, warm: int = 0) -> Samples:
    from competitors import KautenjaBook

    book = KautenjaBook().book
    buy = book.limit_buy
    sell = book.limit_sell
    cancel = book.cancel
    ids = [0] * n_places
    pc = time.perf_counter_ns
    out: Samples = []
    next_oid = 1
    gc.collect()
    for i, (op, _u, _s, _o, _p, qty, bside, yes_price, ref) in enumerate(stream):
        timed = i >= warm and not i % EVERY
        if op == PLACE:
            ids[ref] = next_oid
            fn = buy if bside == BID else sell
            if timed:
                t0 = pc()
                fn(next_oid, qty, yes_price)
                out.append((i, pc() - t0))
            else:
                fn(next_oid, qty, yes_price)
            next_oid += 1
        elif timed:
            oid = ids[ref]
            t0 = pc()
            cancel(oid)
            out.append((i, pc() - t0))
        else:
            cancel(ids[ref])
    return out


def sample_cob(stream: list[st.Item], n_places: int, warm: int = 0) -> Samples:
    from competitors import CythonOBBook, _cob_prices

    b = CythonOBBook()
    book = b.book
    order = b.mod.Order
    sides = (b.mod.OrderSide.BID, b.mod.OrderSide.ASK)
    add = book.add_limit_order
    cancel = book.cancel_order
    prices = _cob_prices()
    ids: list[Any] = [None] * n_places
    log = book.trade_log
    pc = time.perf_counter_ns
    out: Samples = []
    gc.collect()
    for i, (op, _u, _s, _o, _p, qty, bside, yes_price, ref) in enumerate(stream):
        timed = i >= warm and not i % EVERY
        if op == PLACE:
            o = order(sides[bside], qty, prices[yes_price])
            ids[ref] = o.order_id
            if timed:
                t0 = pc()
                add(o)
                out.append((i, pc() - t0))
            else:
                add(o)
        elif timed:
            oid = ids[ref]
            t0 = pc()
            cancel(oid)
            out.append((i, pc() - t0))
        else:
            cancel(ids[ref])
        if len(log) > 100_000:
            log.clear()
    return out


def summarize(samples: Samples, cls: bytearray) -> dict[str, tuple[int, int, int]]:
    """``{"all"|class name: (p50, p99, count)}`` in ns."""
    groups: dict[str, list[int]] = {"all": []}
    for name in CLASS_NAMES:
        groups[name] = []
    for i, ns in samples:
        groups["all"].append(ns)
        groups[CLASS_NAMES[cls[i]]].append(ns)
    out = {}
    for name, values in groups.items():
        values.sort()
        out[name] = (percentile(values, 0.50), percentile(values, 0.99), len(values))
    return out
