"""Cancel cost against queue depth (DESIGN.md section 6: "cancel O(1) whatever
the queue depth").

For each depth D in 10, 100, 1,000, 10,000 (and 100,000, to tell an O(1)
cancel that slows down as the queue outgrows the CPU caches from an O(D) one):
one price level holding D resting orders (buy YES @ 50 x 1, one user, nothing
else in the book).

**Per call** (every implementation): ``samples`` times, cancel the order in the
middle of the queue (position D // 2), timed alone with
``time.perf_counter_ns()`` around exactly the cancel call, then place a fresh
order at the back (untimed) so the queue stays at D.  Reported: the median ns
per cancel (it includes the timer's own ~30-80 ns and, for the Core, the Python
call).  Sampling stops early after 1 s per (implementation, depth) once 25
samples are in (only an O(D) cancel gets there).

**In C** (Core only, through the batch API, events on, no Python call per
cancel): the same queue of D, and one ``run`` call of 2,000 pairs (cancel the
middle order, place a new one at the back) -- the ids are assigned 1, 2, 3, ...
so the victims are worked out up front -- timed as a whole: ns per *pair*.  A
first, untimed batch of 2,000 pairs grows the core's event buffer so the timed
one does not pay for that.  Placing at the back of a level is O(1), so a flat
pair cost means a flat cancel cost.  (Subtracting a batch of places alone does
not work: those take fresh order slots and grow the arena, while the pairs
reuse the slots the cancels free.)  Median of ``rounds`` fresh cores; on a
loaded machine a whole batch is now and then preempted, which shows as a round
several times slower than the others, hence many short rounds.

A cancel is O(1) when the ns per cancel stays flat from D = 10 to D = 10,000.

Usage::

    python benchmarks/bench_cancel.py [--samples 2000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

DEPTHS = (10, 100, 1_000, 10_000, 100_000)
PRICE = 50
BUDGET_S = 1.0  # per (implementation, depth): stop sampling after this ...
MIN_SAMPLES = 25  # ... once this many samples are in


def _median_ns(
    depth: int,
    samples: int,
    place: Callable[[], Any],
    cancel: Callable[[Any], Any],
) -> int:
    """Median ns of ``cancel(handle)`` on the middle of a queue of ``depth``."""
    queue = [place() for _ in range(depth)]
    pc = time.perf_counter_ns
    lat: list[int] = []
    deadline = pc() + int(BUDGET_S * 1e9)
    gc.collect()
    gc.disable()
    try:
        for _ in range(samples):
            h = queue.pop(depth // 2)
            t0 = pc()
            cancel(h)
            t1 = pc()
            lat.append(t1 - t0)
            queue.append(place())
            if t1 > deadline and len(lat) >= MIN_SAMPLES:
                break
    finally:
        gc.enable()
    return int(statistics.median(lat))


def percall_core(depth: int, samples: int) -> int:
    from probo_engine._book import Core

    core = Core()
    mid = core.create_market(100, 1)
    uid = core.create_user()
    core.deposit(uid, 10**15)
    place, cancel = core.place, core.cancel

    def add() -> int:
        return place(uid, mid, 0, 0, PRICE, 1)

    def rm(oid: int) -> int:
        return cancel(uid, oid)

    return _median_ns(depth, samples, add, rm)


def percall_pybook(depth: int, samples: int) -> int:
    from pybook import BID, OrderBook

    book = OrderBook()
    counter = iter(range(1, 10**9))
    add_, cancel = book.add, book.cancel

    def add() -> int:
        oid = next(counter)
        add_(oid, 0, BID, PRICE, 1)
        return oid

    return _median_ns(depth, samples, add, cancel)


def percall_liquibook(depth: int, samples: int) -> int:
    from competitors import LiquibookBook

    lb = LiquibookBook("count")
    order, add_ = lb.lb.SimpleOrder, lb.book.add

    def add() -> Any:
        o = order(True, PRICE, 1)
        add_(o)
        return o

    return _median_ns(depth, samples, add, lb.book.cancel)


def percall_lob(depth: int, samples: int) -> int:
    from competitors import KautenjaBook

    book = KautenjaBook().book
    counter = iter(range(1, 10**9))
    buy = book.limit_buy

    def add() -> int:
        oid = next(counter)
        buy(oid, 1, PRICE)
        return oid

    return _median_ns(depth, samples, add, book.cancel)


def percall_cob(depth: int, samples: int) -> int:
    from decimal import Decimal

    from competitors import CythonOBBook

    b = CythonOBBook()
    order, bid, price = b.mod.Order, b.mod.OrderSide.BID, Decimal(PRICE)
    add_ = b.book.add_limit_order

    def add() -> str:
        o = order(bid, 1, price)
        add_(o)
        return o.order_id

    return _median_ns(depth, samples, add, b.book.cancel_order)


PERCALL: dict[str, Callable[[int, int], int]] = {
    "pybook": percall_pybook,
    "Core": percall_core,
    "liquibook": percall_liquibook,
    "limit-order-book": percall_lob,
    "cython-orderbook": percall_cob,
}


def in_c_core(depth: int, rounds: int, pairs: int = 2_000) -> int:
    """Core through the batch API: median ns per (cancel, place) pair (see
    the module docstring)."""
    import numpy as np

    from probo_engine._book import Core
    from probo_engine.batch import CANCEL, COMMAND_DTYPE, PLACE, run

    # The queue after each (cancel middle, place at back) pair: ids are
    # assigned 1, 2, 3, ... so the victims can be worked out up front.  Two
    # batches of `pairs` pairs: the first (untimed) grows the core's event
    # buffer to the size the second (timed) needs.
    queue = list(range(1, depth + 1))
    victims = []
    nxt = depth + 1
    for _ in range(2 * pairs):
        victims.append(queue.pop(depth // 2))
        queue.append(nxt)
        nxt += 1

    def places(n: int, uid: int, mid: int) -> Any:
        cmds = np.zeros(n, COMMAND_DTYPE)
        cmds["kind"] = PLACE
        cmds["uid"] = uid
        cmds["mid"] = mid
        cmds["price"] = PRICE
        cmds["qty"] = 1
        return cmds

    def with_cancels(half: int, uid: int, mid: int) -> Any:
        cmds = np.zeros(2 * pairs, COMMAND_DTYPE)
        cmds[1::2] = places(pairs, uid, mid)
        cmds["kind"][0::2] = CANCEL
        cmds["uid"][0::2] = uid
        cmds["oid"][0::2] = victims[half * pairs : (half + 1) * pairs]
        return cmds

    pair_ns = []
    for _ in range(rounds):
        core = Core()
        mid = core.create_market(100, 1)
        uid = core.create_user()
        core.deposit(uid, 10**15)
        run(core, places(depth, uid, mid), events=False)
        warm, timed = (with_cancels(h, uid, mid) for h in (0, 1))
        run(core, warm, events=True)
        gc.collect()
        t0 = time.perf_counter_ns()
        out = run(core, timed, events=True)
        pair_ns.append((time.perf_counter_ns() - t0) / pairs)
        if not (out.results[0::2] == 0).all():
            raise RuntimeError("a cancel failed: victims miscomputed")
    return int(statistics.median(pair_ns))


def measure(
    samples: int = 2_000,
    rounds: int = 15,
    skip: dict[str, str] | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, dict[int, int]]:
    """``{row: {depth: median ns per cancel}}``; rows in ``skip`` are left out."""
    skip = skip or {}
    out: dict[str, dict[int, int]] = {}
    for name, fn in PERCALL.items():
        if name in skip:
            continue
        out[f"{name}, per call"] = {}
        for d in DEPTHS:
            out[f"{name}, per call"][d] = fn(d, samples)
        log(f"  cancel: {name} {out[f'{name}, per call']}")
    res = {d: in_c_core(d, rounds) for d in DEPTHS}
    out["Core in C (batch): cancel + re-place pair"] = res
    log(f"  cancel: Core in C {res}")
    return out


def main(argv: list[str] | None = None) -> int:
    import competitors as cp

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    skip = {n: why for n in cp.PACKAGES if (why := cp.unavailable(n))}
    for why in skip.values():
        print(f"skipped: {why}")
    res = measure(args.samples, args.rounds, skip)
    print(f"{'ns per cancel (median)':38}" + "".join(f"{d:>10,}" for d in DEPTHS))
    for name, row in res.items():
        print(f"{name:38}" + "".join(f"{row[d]:>10,}" for d in DEPTHS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
