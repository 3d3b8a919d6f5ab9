"""Fair per-call benchmark: every row hands the caller each fill (issue 10).

1,000,000 commands on one payout-100 / tick-1 market: about 60% limit orders
that rest near a drifting price, 25% limit orders that cross the best
opposite price, 15% cancels of live orders; prices 1..99, quantities 1..100.
Two shapes of the same mix:

* ``deep`` -- resting and crossing quantities uniform in 1..100: the book
  grows to ~200,000+ resting orders (printed);
* ``small`` -- resting quantities skewed low (``1 + int(99 * u**6)``, mean
  ~15) against uniform crossing quantities, crossing orders may sweep up to
  3 ticks past the best price, and cancels take the oldest live order: the
  book stays at a few hundred orders.

Every row -- the baseline and ours -- gets each fill's ``(maker order id, YES
price, qty)`` from the call, inside the timed loop, and reads it (``acc +=
qty``); commands/s counts commands only, never events or fills.  Rows:

* ``pybook`` -- the pure-Python sortedcontainers book (benchmarks/pybook.py):
  ``add`` returns a list of ``(maker_oid, price, qty)`` tuples.  The yardstick.
* ``Core.place + last_events()`` -- what per-call callers had before: every
  event of the command as a 17-int tuple, filtered for FILLs.
* ``Core.place_limit + last_fills()`` -- the flat fills list (3 ints per fill).
* ``Core.place_limit + fills_into(buf)`` -- fills into a reused int64 buffer.
* ``Core.place_limit_fills`` -- one call: ``(oid, fills)``, the fills a tuple
  of ``(maker_oid, yes_price, qty)`` tuples, as pybook's ``add`` gives them.
* ``Engine.submit`` (ids, and names) -- the README's path: an ``OrderResult``
  whose ``fills`` are ``Fill`` records; cancels through ``Engine.cancel``.
* ``batch.run`` -- 4,096-command chunks with events on, the fills read from
  the event array (numpy columns ``oid2``, ``price``, ``qty`` of the FILL
  rows).  Not per call: information.
* ``batch.run ... fills=buf`` -- the same, events still on (copied into a
  reused event array), the fills written by the core into a reused int64
  buffer (``fills=``) and read as its ``(k, 3)`` view: no numpy filtering
  of the event array.

Each pass builds a fresh book/engine (set-up untimed: users, deposits) and
runs the whole stream; passes are interleaved (every row once per pass), the
table shows the median of ``--runs`` passes and the ratio of medians to
``pybook``.  The garbage collector stays on (as callers have it), after a
``gc.collect()`` before each pass; the stream itself is ``gc.freeze()``-d, so
that collections (which every row triggers) do not also traverse a million
stream tuples.  p50/p99 per call come from one extra
pass per row that times each command (its fill reading included) with
``perf_counter_ns``; the timer's own cost, measured on an empty loop, is
printed and not subtracted.

Before timing, every row runs the stream once collecting its fills, and they
must equal the baseline's fill for fill (same maker, price, qty, order):
exit status 1 otherwise.

    python benchmarks/bench_fair.py                       # 1M, 5 passes
    python benchmarks/bench_fair.py --n 100000 --runs 3   # quick
    python benchmarks/bench_fair.py --shapes small --no-latency
"""

from __future__ import annotations

import argparse
import array
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from probo_engine import Core, Engine  # noqa: E402
from pybook import OrderBook  # noqa: E402

# A stream item: (is_cancel, uid, outcome, own_price, yes_price, qty, oid).
# Every order is a buy: buy YES @ p is a bid at p; buy NO @ (100 - p) an ask
# at p.  Bids come from even users, asks from odd ones, so no self-trade
# prevention can fire and the baseline (which has none) sees the same fills.
Item = tuple[int, int, int, int, int, int, int]
PAYOUT = 100
USERS = 100
FILL = 3  # EventKind.FILL
CHUNK = 4096


# ------------------------------------------------------------------ stream


def make_stream(n: int, shape: str, seed: int) -> tuple[list[Item], int]:
    """The command stream and the book size it ends with (generated against
    the baseline book, which knows the live orders and best prices)."""
    rng = random.Random(seed)
    rand = rng.random
    randint = rng.randint
    book = OrderBook()
    live: list[int] = []  # oids that may be live (checked on use)
    owner: dict[int, int] = {}
    out: list[Item] = []
    mid = 50.0
    next_oid = 1
    head = 0  # small: live[head:] are the candidates, oldest first
    small = shape == "small"
    sweep = 3 if small else 0
    while len(out) < n:
        mid = min(85.0, max(15.0, mid + rng.gauss(0.0, 0.05)))
        r = rand()
        if r < 0.15 and len(live) > head:
            # cancel a random live order (lazily drop dead ones from the list)
            while live:
                if small:  # the oldest live order
                    oid = live[head]
                    head += 1
                    if head > 65536:
                        del live[:head]
                        head = 0
                    if head >= len(live):
                        live.clear()
                        head = 0
                else:  # a random live order
                    k = randint(0, len(live) - 1)
                    oid = live[k]
                    live[k] = live[-1]
                    live.pop()
                if oid in book.orders:
                    book.cancel(oid)
                    out.append((1, owner.pop(oid), 0, 0, 0, 0, oid))
                    break
            continue
        bside = randint(0, 1)
        best_bid, best_ask = book.best_bid(), book.best_ask()
        if r < 0.40 and (best_ask if bside == 0 else best_bid):
            # crossing: at the best opposite price, or up to `sweep` past it
            if bside == 0:
                price = min(99, best_ask + randint(0, sweep))
            else:
                price = max(1, best_bid - randint(0, sweep))
            qty = randint(1, 100)
        else:
            # resting: near the drifting price, never crossing
            off = int(rng.expovariate(0.25))
            if bside == 0:
                price = int(mid) - off
                if best_ask:
                    price = min(price, best_ask - 1)
            else:
                price = int(mid) + 1 + off
                if best_bid:
                    price = max(price, best_bid + 1)
            if not 1 <= price <= 99:
                continue
            qty = 1 + int(99 * rand() ** 6) if small else randint(1, 100)
        uid = 2 * randint(0, USERS // 2 - 1) + bside
        oid = next_oid
        next_oid += 1
        for mo, _p, _q in book.add(oid, uid, bside, price, qty):
            if mo not in book.orders:
                owner.pop(mo, None)
        if oid in book.orders:
            live.append(oid)
            owner[oid] = uid
        own = price if bside == 0 else PAYOUT - price
        out.append((0, uid, bside, own, price, qty, oid))
    return out, len(book)


# ------------------------------------------------------------ set-up


def new_core(cls: type[Core]) -> tuple[Any, int]:
    core = cls()
    m = core.create_market(PAYOUT, 1)
    for _ in range(USERS):
        u = core.create_user()
        core.deposit(u, 10**12)
    return core, m


def new_engine_named() -> tuple[Engine, list[str], str]:
    eng = Engine()
    eng.create_market(PAYOUT, 1, symbol="M")
    names = [f"user{i}" for i in range(USERS)]
    for name in names:
        eng.create_user(name=name)
        eng.deposit(name, 10**12)
    return eng, names, "M"


# ------------------------------------------------------------ rows
# Each row: run(stream, collect) -> (seconds, acc, fills or None).  With
# collect, every fill is appended as (maker_oid, yes_price, qty) for the
# cross-check (not timed).


def row_pybook(stream: list[Item], collect: list[Any] | None) -> tuple[float, int]:
    book = OrderBook()
    add, cancel = book.add, book.cancel
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    if collect is None:
        for is_cancel, uid, bside, _own, price, qty, oid in stream:
            if is_cancel:
                cancel(oid)
            else:
                for _mo, _p, q in add(oid, uid, bside, price, qty):
                    acc += q
    else:
        for is_cancel, uid, bside, _own, price, qty, oid in stream:
            if is_cancel:
                cancel(oid)
            else:
                for f in add(oid, uid, bside, price, qty):
                    collect.append(f)
    return time.perf_counter() - t0, acc


def row_core_events(stream: list[Item], collect: list[Any] | None) -> tuple[float, int]:
    core, m = new_core(Core)
    place, cancel, last_events = core.place, core.cancel, core.last_events
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    for is_cancel, uid, outcome, own, _price, qty, oid in stream:
        if is_cancel:
            cancel(uid, oid)
        else:
            place(uid, m, 0, outcome, own, qty)
            for e in last_events():
                if e[1] == FILL:
                    _mo, _p, q = e[12], e[8], e[9]
                    acc += q
                    if collect is not None:
                        collect.append((_mo, _p, q))
    return time.perf_counter() - t0, acc


def row_core_fills(stream: list[Item], collect: list[Any] | None) -> tuple[float, int]:
    core, m = new_core(Core)
    place, cancel, last_fills = core.place_limit, core.cancel, core.last_fills
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    if collect is None:
        for is_cancel, uid, outcome, own, _price, qty, oid in stream:
            if is_cancel:
                cancel(uid, oid)
            else:
                place(uid, m, 0, outcome, own, qty)
                f = last_fills()
                if f:
                    it = iter(f)
                    for _mo, _p, q in zip(it, it, it, strict=True):
                        acc += q
    else:
        for is_cancel, uid, outcome, own, _price, qty, oid in stream:
            if is_cancel:
                cancel(uid, oid)
            else:
                place(uid, m, 0, outcome, own, qty)
                it = iter(last_fills())
                collect.extend(zip(it, it, it, strict=True))
    return time.perf_counter() - t0, acc


def row_core_buffer(stream: list[Item], collect: list[Any] | None) -> tuple[float, int]:
    core, m = new_core(Core)
    place, cancel, fills_into = core.place_limit, core.cancel, core.fills_into
    buf = array.array("q", bytes(8 * 3 * 4096))
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    for is_cancel, uid, outcome, own, _price, qty, oid in stream:
        if is_cancel:
            cancel(uid, oid)
        else:
            place(uid, m, 0, outcome, own, qty)
            n = fills_into(buf)
            for i in range(0, 3 * n, 3):
                _mo, _p, q = buf[i], buf[i + 1], buf[i + 2]
                acc += q
                if collect is not None:
                    collect.append((_mo, _p, q))
    return time.perf_counter() - t0, acc


def row_core_place_fills(
    stream: list[Item], collect: list[Any] | None
) -> tuple[float, int]:
    core, m = new_core(Core)
    place, cancel = core.place_limit_fills, core.cancel
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    for is_cancel, uid, outcome, own, _price, qty, oid in stream:
        if is_cancel:
            cancel(uid, oid)
        else:
            _oid, fills = place(uid, m, 0, outcome, own, qty)
            for _mo, _p, q in fills:
                acc += q
                if collect is not None:
                    collect.append((_mo, _p, q))
    return time.perf_counter() - t0, acc


def row_engine(stream: list[Item], collect: list[Any] | None) -> tuple[float, int]:
    eng, m = new_core(Engine)
    submit, cancel = eng.submit, eng.cancel
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    for is_cancel, uid, outcome, own, _price, qty, oid in stream:
        if is_cancel:
            cancel(uid, oid)
        else:
            for f in submit(uid, m, 0, outcome, own, qty).fills:
                acc += f.qty
                if collect is not None:
                    collect.append((f.maker_oid, f.yes_price, f.qty))
    return time.perf_counter() - t0, acc


_NAMED: dict[int, list[tuple[Any, ...]]] = {}  # id(stream) -> the stream by name


def named_stream(stream: list[Item]) -> list[tuple[Any, ...]]:
    """The stream with user names (``user<i>``) for the by-name rows."""
    if id(stream) not in _NAMED:
        names = [f"user{i}" for i in range(USERS)]
        _NAMED[id(stream)] = [(c, names[u], *rest) for c, u, *rest in stream]
    return _NAMED[id(stream)]


def row_engine_names(
    stream: list[Item], collect: list[Any] | None
) -> tuple[float, int]:
    eng, _names, sym = new_engine_named()
    submit, cancel = eng.submit, eng.cancel
    named = named_stream(stream)
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    for is_cancel, user, outcome, own, _price, qty, oid in named:
        if is_cancel:
            cancel(user, oid)
        else:
            for f in submit(user, sym, 0, outcome, own, qty).fills:
                acc += f.qty
                if collect is not None:
                    collect.append((f.maker_oid, f.yes_price, f.qty))
    return time.perf_counter() - t0, acc


def batch_commands(stream: list[Item], m: int) -> Any:
    """The stream as a ``COMMAND_DTYPE`` array (set-up of the batch rows)."""
    import numpy as np

    from probo_engine import batch

    a = np.zeros(len(stream), batch.COMMAND_DTYPE)
    cols = np.array(stream, dtype=np.int64)
    cancel = cols[:, 0] == 1
    a["kind"] = np.where(cancel, batch.CANCEL, batch.PLACE)
    a["uid"] = cols[:, 1]
    a["mid"] = np.where(cancel, 0, m)
    a["outcome"] = np.where(cancel, 0, cols[:, 2])
    a["price"] = np.where(cancel, 0, cols[:, 3])
    a["qty"] = np.where(cancel, 0, cols[:, 5])
    a["oid"] = np.where(cancel, cols[:, 6], 0)
    return a


def row_batch(stream: list[Item], collect: list[Any] | None) -> tuple[float, int]:
    import numpy as np

    from probo_engine import batch

    core, m = new_core(Core)
    a = batch_commands(stream, m)
    results = np.empty(CHUNK, np.int64)
    filled = np.empty(CHUNK, np.int64)
    evbuf = np.empty(8 * CHUNK, batch.EVENT_DTYPE)
    run = batch.run
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    for i in range(0, len(a), CHUNK):
        ev = run(core, a[i : i + CHUNK], out=(results, filled, evbuf)).events
        fills = ev[ev["kind"] == FILL]
        mo, p, q = fills["oid2"], fills["price"], fills["qty"]
        acc += int(q.sum())
        if collect is not None:
            collect.extend(zip(mo.tolist(), p.tolist(), q.tolist(), strict=True))
    return time.perf_counter() - t0, acc


def row_batch_fills(stream: list[Item], collect: list[Any] | None) -> tuple[float, int]:
    import numpy as np

    from probo_engine import batch

    core, m = new_core(Core)
    a = batch_commands(stream, m)
    results = np.empty(CHUNK, np.int64)
    filled = np.empty(CHUNK, np.int64)
    evbuf = np.empty(8 * CHUNK, batch.EVENT_DTYPE)
    fbuf = np.empty(3 * 8 * CHUNK, np.int64)
    run = batch.run
    acc = 0
    gc.collect()
    t0 = time.perf_counter()
    for i in range(0, len(a), CHUNK):
        f = run(core, a[i : i + CHUNK], out=(results, filled, evbuf), fills=fbuf).fills
        mo, p, q = f[:, 0], f[:, 1], f[:, 2]
        acc += int(q.sum())
        if collect is not None:
            collect.extend(zip(mo.tolist(), p.tolist(), q.tolist(), strict=True))
    return time.perf_counter() - t0, acc


ROWS: list[tuple[str, Callable[..., tuple[float, int]], bool]] = [
    # (label, run, per call)
    ("pybook (baseline): add -> list of fill tuples", row_pybook, True),
    ("Core.place + last_events() (before)", row_core_events, True),
    ("Core.place_limit + last_fills()", row_core_fills, True),
    ("Core.place_limit + fills_into(buf)", row_core_buffer, True),
    ("Core.place_limit_fills -> (oid, fills)", row_core_place_fills, True),
    ("Engine.submit -> OrderResult (ids)", row_engine, True),
    ("Engine.submit -> OrderResult (names)", row_engine_names, True),
    ("batch.run, 4,096/chunk, fills from events", row_batch, False),
    ("batch.run, 4,096/chunk, events + fills=buf", row_batch_fills, False),
]


#: short keys of the rows (callgrind_fair.py), in ROWS order
ROWS_BY_KEY: list[tuple[str, Callable[..., tuple[float, int]]]] = [
    ("pybook", row_pybook),
    ("core_last_events", row_core_events),
    ("core_last_fills", row_core_fills),
    ("core_fills_into", row_core_buffer),
    ("core_place_limit_fills", row_core_place_fills),
    ("engine_submit_ids", row_engine),
    ("engine_submit_names", row_engine_names),
    ("batch", row_batch),
    ("batch_fills", row_batch_fills),
]


# ------------------------------------------------------------ latency


def latency(label: str, stream: list[Item]) -> tuple[float, float]:
    """p50, p99 in ns of one command (its fills read), for a per-call row."""
    ns = time.perf_counter_ns
    out = array.array("q", bytes(8 * len(stream)))
    gc.collect()
    if label.startswith("pybook"):
        book = OrderBook()
        add, cancel = book.add, book.cancel
        for k, (is_cancel, uid, bside, _own, price, qty, oid) in enumerate(stream):
            t = ns()
            if is_cancel:
                cancel(oid)
            else:
                for _mo, _p, _q in add(oid, uid, bside, price, qty):
                    pass
            out[k] = ns() - t
    elif "last_events" in label:
        core, m = new_core(Core)
        place, ccancel, last_events = core.place, core.cancel, core.last_events
        for k, (is_cancel, uid, outcome, own, _price, qty, oid) in enumerate(stream):
            t = ns()
            if is_cancel:
                ccancel(uid, oid)
            else:
                place(uid, m, 0, outcome, own, qty)
                for e in last_events():
                    if e[1] == FILL:
                        _mo, _p, _q = e[12], e[8], e[9]
            out[k] = ns() - t
    elif "last_fills" in label:
        core, m = new_core(Core)
        plimit, ccancel, last_fills = core.place_limit, core.cancel, core.last_fills
        for k, (is_cancel, uid, outcome, own, _price, qty, oid) in enumerate(stream):
            t = ns()
            if is_cancel:
                ccancel(uid, oid)
            else:
                plimit(uid, m, 0, outcome, own, qty)
                f = last_fills()
                if f:
                    it = iter(f)
                    for _mo, _p, _q in zip(it, it, it, strict=True):
                        pass
            out[k] = ns() - t
    elif "fills_into" in label:
        core, m = new_core(Core)
        plimit, ccancel, fills_into = core.place_limit, core.cancel, core.fills_into
        buf = array.array("q", bytes(8 * 3 * 4096))
        for k, (is_cancel, uid, outcome, own, _price, qty, oid) in enumerate(stream):
            t = ns()
            if is_cancel:
                ccancel(uid, oid)
            else:
                plimit(uid, m, 0, outcome, own, qty)
                for i in range(0, 3 * fills_into(buf), 3):
                    _mo, _p, _q = buf[i], buf[i + 1], buf[i + 2]
            out[k] = ns() - t
    elif "place_limit_fills" in label:
        core, m = new_core(Core)
        pfills, ccancel = core.place_limit_fills, core.cancel
        for k, (is_cancel, uid, outcome, own, _price, qty, oid) in enumerate(stream):
            t = ns()
            if is_cancel:
                ccancel(uid, oid)
            else:
                _oid, fills = pfills(uid, m, 0, outcome, own, qty)
                for _mo, _p, _q in fills:
                    pass
            out[k] = ns() - t
    elif "names" in label:
        eng, _names, sym = new_engine_named()
        submit, ecancel = eng.submit, eng.cancel
        named = named_stream(stream)
        for k, (is_cancel, user, outcome, own, _price, qty, oid) in enumerate(named):
            t = ns()
            if is_cancel:
                ecancel(user, oid)
            else:
                for f in submit(user, sym, 0, outcome, own, qty).fills:
                    _q = f.qty
            out[k] = ns() - t
    else:
        eng, m = new_core(Engine)
        submit, ecancel = eng.submit, eng.cancel
        for k, (is_cancel, uid, outcome, own, _price, qty, oid) in enumerate(stream):
            t = ns()
            if is_cancel:
                ecancel(uid, oid)
            else:
                for f in submit(uid, m, 0, outcome, own, qty).fills:
                    _q = f.qty
            out[k] = ns() - t
    s = sorted(out)
    return float(s[len(s) // 2]), float(s[min(len(s) - 1, int(len(s) * 0.99))])


def timer_cost() -> float:
    ns = time.perf_counter_ns
    best = []
    for _ in range(5):
        t0 = ns()
        for _ in range(100_000):
            t = ns()
            _ = ns() - t
        best.append((ns() - t0) / 100_000)
    return min(best)


# ------------------------------------------------------------ main


def bench_shape(shape: str, args: argparse.Namespace) -> bool:
    t = time.perf_counter()
    stream, book_size = make_stream(args.n, shape, args.seed)
    kinds = sum(1 for s in stream if s[0]), len(stream)
    print(
        f"\n## {shape} book: {len(stream):,} commands ({kinds[0]:,} cancels), "
        f"book at the end: {book_size:,} resting orders "
        f"(stream made in {time.perf_counter() - t:.1f} s)",
        flush=True,
    )
    rows = [
        r
        for r in ROWS
        if r is ROWS[0] or args.rows is None or any(k in r[0] for k in args.rows)
    ]
    named_stream(stream)
    # The stream is input, not state of any book: freeze it (and everything
    # made so far) out of the collector's reach, so that no row's collections
    # pay for traversing a million stream tuples.
    gc.collect()
    gc.freeze()
    # correctness cross-check (untimed): every row's fills equal the baseline's
    want: list[Any] = []
    row_pybook(stream, want)
    ok = True
    for label, run, _ in rows[1:]:
        got: list[Any] = []
        run(stream, got)
        if got != want:
            ok = False
            bad = next(
                (i for i, (x, y) in enumerate(zip(got, want, strict=False)) if x != y),
                min(len(got), len(want)),
            )
            print(f"MISMATCH {label}: {len(got)} fills vs {len(want)}, first at {bad}")
    print(f"cross-check: {len(want):,} fills, every row equal: {ok}", flush=True)
    times: dict[str, list[float]] = {r[0]: [] for r in rows}
    for p in range(args.runs):
        for label, run, _ in rows:
            dt, _acc = run(stream, None)
            times[label].append(dt)
        print(
            f"pass {p + 1}/{args.runs} done; load {os.getloadavg()[0]:.2f}", flush=True
        )
    base = statistics.median(times[rows[0][0]])
    lat: dict[str, tuple[float, float]] = {}
    if not args.no_latency:
        for label, _, per_call in rows:
            if per_call:
                lat[label] = latency(label, stream)
    print()
    print("| path | commands/s (median) | × pybook | p50 ns | p99 ns |")
    print("|---|---:|---:|---:|---:|")
    for label, _, _per_call in rows:
        med = statistics.median(times[label])
        p50, p99 = lat.get(label, (float("nan"), float("nan")))
        lat_s = f"{p50:,.0f} | {p99:,.0f}" if label in lat else "– | –"
        print(f"| {label} | {len(stream) / med:,.0f} | {base / med:.2f}× | {lat_s} |")
    _NAMED.clear()
    gc.unfreeze()
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="commands per stream")
    ap.add_argument("--runs", type=int, default=5, help="interleaved timed passes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shapes", nargs="+", default=["deep", "small"])
    ap.add_argument(
        "--rows", nargs="+", default=None, help="only rows whose label has one of these"
    )
    ap.add_argument("--no-latency", action="store_true", help="skip p50/p99 passes")
    args = ap.parse_args(argv)
    print(
        f"python {sys.version.split()[0]}; load average at start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"timer cost {timer_cost():.0f} ns per timed call (in p50/p99)"
    )
    ok = True
    for shape in args.shapes:
        ok = bench_shape(shape, args) and ok
    print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
