"""Per-call throughput: the Cython core against the pure-Python baseline book.

DESIGN.md section 6 target: ``probo_engine._book.Core`` called once per command
from Python must do >= 3x the events/s of a plain pure-Python sortedcontainers
book (``benchmarks/pybook.py``), in the same process, on the same stream
(``benchmarks/stream.py``: 60% resting, 25% crossing, 15% cancels, prices 1..99).

Rows:

* ``pybook`` -- the baseline: one ``add``/``cancel`` per command, fills returned
  as a list of tuples.  No ledger.
* ``Core`` -- ``probo_engine._book.Core``, one ``place``/``cancel`` per command,
  with the ledger, locks and events on (events are kept in the core, not read).
* ``Core + last_events()`` (information) -- the same, also materialising every
  command's events as Python tuples, which is what a consumer of the event
  stream pays per call.
* ``ReferenceEngine`` (information) -- the slow pure-Python oracle
  ``tests/reference.py``, on a prefix of the stream (``--ref-n``).

**Events** = one per command + one per fill, the same count for every row (the
fills of the stream are counted in an untimed verification pass; they must be
identical in all implementations, which is checked: number of fills, filled
quantity and the exact sequence of (taker, maker, YES price, qty)).  Each timed
run starts from a fresh book/core; the engine's setup (users, deposits, minting
inventory) is not timed.  Runs are interleaved (baseline, Core, ...) so drift
hits all rows alike; the table shows the median.  Throughput ratio =
median events/s of the row / median events/s of the baseline.

Both drivers do the same bookkeeping in the timed loop: unpack the stream tuple,
store the new order id in a preallocated ``ids`` table (slot -> id), and look it
up for cancels.  The baseline has no id allocator of its own, so its driver
numbers orders 1, 2, 3, ... exactly as the engine does.

Usage::

    python benchmarks/bench_percall.py                    # 1M commands, 5 runs
    python benchmarks/bench_percall.py --n 200000 --runs 3 --markdown
    python benchmarks/bench_percall.py --core mymod:Core  # another Core-like class

Exit status 1 if the implementations disagree on the fills.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import stream as st  # noqa: E402
from pybook import OrderBook  # noqa: E402

PLACE = st.PLACE
EV_FILL = 3  # EventKind.FILL
F_KIND, F_OID, F_QTY, F_CODE, F_OID2, F_PRICE = 1, 5, 9, 10, 12, 8  # event fields

# Set to True when the FILL-COUNT line in ``time_core`` counts fills in the loop.
CORE_COUNTS_FILLS_IN_LOOP = False


# --------------------------------------------------------------------- timed loops


def _pybook_loop(
    part: list[st.Item], add: Any, cancel: Any, ids: list[int], next_oid: int
) -> int:
    for op, user, _side, _outcome, _price, qty, bside, yes_price, ref in part:
        if op == PLACE:
            ids[ref] = next_oid
            fills = add(next_oid, user, bside, yes_price, qty)
            next_oid += 1
            # FILL-COUNT (baseline): fills are counted in the untimed pass, like
            # the Core's; to count here instead: nfills += len(fills)
            del fills
        else:
            cancel(ids[ref])
    return next_oid


def time_pybook(
    stream: list[st.Item], n_places: int, warm: int = 0
) -> tuple[float, int]:
    """One run of the baseline book; returns (seconds, fills counted in loop).

    ``warm``: the first ``warm`` commands are run untimed first (held-book
    variants of ``stream.make_variant``)."""
    book = OrderBook()
    add = book.add
    cancel = book.cancel
    ids = [0] * n_places
    next_oid = _pybook_loop(stream[:warm], add, cancel, ids, 1)
    part = stream[warm:] if warm else stream
    nfills = 0
    gc.collect()
    t0 = time.perf_counter()
    _pybook_loop(part, add, cancel, ids, next_oid)
    return time.perf_counter() - t0, nfills


def _core_loop(
    part: list[st.Item], place: Any, cancel: Any, ids: list[int], mid: int
) -> int:
    nfills = 0
    for op, user, side, outcome, price, qty, _bside, _yes_price, ref in part:
        if op == PLACE:
            ids[ref] = place(user, mid, side, outcome, price, qty)
            # >>> FILL-COUNT: the one line to swap once the Core has a cheap
            # per-call fill count (bind it to a local above the loop and set
            # CORE_COUNTS_FILLS_IN_LOOP = True), e.g.  nfills += last_nfills()
            # Until then fills are counted in the untimed verification pass
            # (core.n_last_events() exists but counts every event kind).
        else:
            cancel(user, ids[ref])
    return nfills


def time_core(
    stream: list[st.Item],
    n_places: int,
    make: Callable[[], Any],
    n_users: int,
    warm: int = 0,
) -> tuple[float, int]:
    """One run of a Core-like engine, one Python call per command."""
    core = make()
    mid = st.setup_engine(core, n_users)
    place = core.place
    cancel = core.cancel
    ids = [0] * n_places
    _core_loop(stream[:warm], place, cancel, ids, mid)
    part = stream[warm:] if warm else stream
    gc.collect()
    t0 = time.perf_counter()
    nfills = _core_loop(part, place, cancel, ids, mid)
    return time.perf_counter() - t0, nfills


def _core_events_loop(
    part: list[st.Item],
    place: Any,
    cancel: Any,
    last_events: Any,
    ids: list[int],
    mid: int,
) -> int:
    nevents = 0
    for op, user, side, outcome, price, qty, _bside, _yes_price, ref in part:
        if op == PLACE:
            ids[ref] = place(user, mid, side, outcome, price, qty)
        else:
            cancel(user, ids[ref])
        nevents += len(last_events())
    return nevents


def time_core_events(
    stream: list[st.Item],
    n_places: int,
    make: Callable[[], Any],
    n_users: int,
    warm: int = 0,
) -> tuple[float, int]:
    """Like ``time_core`` but also fetches ``last_events()`` after every command
    (information: the cost of reading the full event stream per call)."""
    core = make()
    mid = st.setup_engine(core, n_users)
    place = core.place
    cancel = core.cancel
    last_events = core.last_events
    ids = [0] * n_places
    _core_events_loop(stream[:warm], place, cancel, last_events, ids, mid)
    part = stream[warm:] if warm else stream
    gc.collect()
    t0 = time.perf_counter()
    nevents = _core_events_loop(part, place, cancel, last_events, ids, mid)
    return time.perf_counter() - t0, nevents


# ------------------------------------------------------------ verification passes


class Counts:
    """What a pass over the stream produced, for comparing implementations."""

    def __init__(self) -> None:
        self.fills = 0
        self.filled_qty = 0
        self.seq: list[tuple[int, int, int, int]] = []  # (taker, maker, yes px, qty)
        self.rejected: dict[int, int] = {}  # place code -> count
        self.cancel_ok = 0
        self.cancel_codes: dict[int, int] = {}  # cancel code (!= 0) -> count
        self.kinds = [0, 0, 0]  # transfer, mint, merge
        self.depth: Any = None
        self.engine_events = 0
        self.note = ""


def count_pybook(stream: list[st.Item]) -> Counts:
    """Untimed baseline pass; order slots double as ids."""
    c = Counts()
    book = OrderBook()
    seq = c.seq
    for op, user, _s, _o, _p, qty, bside, yes_price, ref in stream:
        if op == PLACE:
            for maker, price, q in book.add(ref, user, bside, yes_price, qty):
                seq.append((ref, maker, price, q))
                c.filled_qty += q
        elif book.cancel(ref):
            c.cancel_ok += 1
        else:
            c.cancel_codes[302] = c.cancel_codes.get(302, 0) + 1
    c.fills = len(seq)
    c.depth = book.depth(200)
    return c


def count_engine(
    stream: list[st.Item], make: Callable[[], Any], n_users: int
) -> Counts:
    """Untimed engine pass reading ``last_events()`` after every command; fills
    are mapped back to stream slots."""
    c = Counts()
    core = make()
    mid = st.setup_engine(core, n_users)
    ids = [0] * st.n_places(stream)
    slot_of: dict[int, int] = {}
    seq = c.seq
    for op, user, side, outcome, price, qty, _b, _y, ref in stream:
        if op == PLACE:
            r = core.place(user, mid, side, outcome, price, qty)
            ids[ref] = r
            if r > 0:
                slot_of[r] = ref
            else:
                c.rejected[-r] = c.rejected.get(-r, 0) + 1
            events = core.last_events()
            c.engine_events += len(events)
            for e in events:
                if e[F_KIND] == EV_FILL:
                    seq.append(
                        (slot_of[e[F_OID]], slot_of[e[F_OID2]], e[F_PRICE], e[F_QTY])
                    )
                    c.filled_qty += e[F_QTY]
                    c.kinds[e[F_CODE]] += 1
        else:
            code = core.cancel(user, ids[ref])
            c.engine_events += len(core.last_events())
            if code == 0:
                c.cancel_ok += 1
            else:
                c.cancel_codes[-code] = c.cancel_codes.get(-code, 0) + 1  # -code
    c.fills = len(seq)
    if hasattr(core, "depth"):
        c.depth = tuple([tuple(lv) for lv in side] for side in core.depth(mid, 200))
    if hasattr(core, "check_invariants"):
        try:
            core.check_invariants()
        except Exception as exc:  # report, don't crash the benchmark
            c.note = f"check_invariants failed: {exc!r}"
    return c


def compare(name: str, base: Counts, other: Counts) -> list[str]:
    """Differences between the baseline pass and an engine pass (empty = agree)."""
    bad = []
    if other.rejected:
        bad.append(f"{name}: rejected places {other.rejected} (setup inventory/cash?)")
    if (base.fills, base.filled_qty) != (other.fills, other.filled_qty):
        bad.append(
            f"{name}: fills {other.fills:,} / qty {other.filled_qty:,}, baseline "
            f"{base.fills:,} / {base.filled_qty:,}"
        )
    if base.seq != other.seq:
        pairs = zip(base.seq, other.seq, strict=False)
        i = next(
            (k for k, (a, b) in enumerate(pairs) if a != b),
            min(len(base.seq), len(other.seq)),
        )
        a = base.seq[i] if i < len(base.seq) else None
        b = other.seq[i] if i < len(other.seq) else None
        bad.append(f"{name}: fill #{i} differs: baseline {a}, {name} {b}")
    if (base.cancel_ok, base.cancel_codes) != (other.cancel_ok, other.cancel_codes):
        bad.append(
            f"{name}: cancels ok {other.cancel_ok:,} {other.cancel_codes}, baseline "
            f"{base.cancel_ok:,} {base.cancel_codes}"
        )
    if other.depth is not None and tuple(base.depth) != tuple(other.depth):
        bad.append(f"{name}: final book depth differs from the baseline's")
    if other.note:
        bad.append(f"{name}: {other.note}")
    return bad


# ------------------------------------------------------------------------ helpers


def load_class(spec: str) -> Any:
    """``module:attr``; retries with ``<repo>/src`` on sys.path (in-place build)."""
    module, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError:
        src = os.path.join(ROOT, "src")
        if src in sys.path:
            raise
        sys.path.insert(0, src)
        mod = importlib.import_module(module)
    return getattr(mod, attr or "Core")


def load_reference() -> Any:
    tests = os.path.join(ROOT, "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from reference import ReferenceEngine  # type: ignore[import-not-found]

    return ReferenceEngine


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    import sortedcontainers

    return (
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({platform.system()} {platform.machine()}), cpu_count={os.cpu_count()} "
        f"(usable {usable}), CPU: {cpu}; "
        f"sortedcontainers {sortedcontainers.__version__}"
    )


def git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", ROOT, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or "(no commit yet)"
    except (OSError, subprocess.SubprocessError):
        return "(git unavailable)"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="stream length (commands)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--users", type=int, default=100, help="number of users (even)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per implementation")
    ap.add_argument("--core", default="probo_engine._book:Core", help="module:Class")
    ap.add_argument(
        "--no-events-row",
        action="store_true",
        help="skip the informational Core + last_events() row",
    )
    ap.add_argument("--no-ref", action="store_true", help="skip the reference oracle")
    ap.add_argument(
        "--ref-n",
        type=int,
        default=100_000,
        help="commands (prefix of the stream) for the reference oracle",
    )
    ap.add_argument("--ref-runs", type=int, default=1)
    ap.add_argument(
        "--no-gc", action="store_true", help="disable the cyclic GC during timed loops"
    )
    ap.add_argument("--markdown", action="store_true", help="print a markdown report")
    args = ap.parse_args(argv)

    cmdline = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(argv)
    md = args.markdown

    # -- implementations
    core_cls = None
    core_err = ""
    try:
        core_cls = load_class(args.core)
    except Exception as exc:  # noqa: BLE001 - any import failure just skips the row
        core_err = f"{args.core} not importable ({type(exc).__name__}: {exc})"
    ref_cls = None
    ref_err = ""
    if not args.no_ref:
        try:
            ref_cls = load_reference()
        except Exception as exc:  # noqa: BLE001
            ref_err = f"tests/reference.py not importable ({type(exc).__name__}: {exc})"

    # -- stream and verification
    log(f"generating {args.n:,} commands (seed {args.seed}, {args.users} users) ...")
    t = time.perf_counter()
    stream = st.generate(args.n, args.users, args.seed)
    n_places = st.n_places(stream)
    info = st.describe(stream)
    log(f"  {time.perf_counter() - t:.1f}s")
    base = count_pybook(stream)
    problems: list[str] = []
    notes: list[str] = []
    if core_cls is not None:
        log("verifying the Core against the baseline (untimed) ...")
        cc = count_engine(stream, core_cls, args.users)
        problems += compare("Core", base, cc)
        kinds = cc.kinds
        notes.append(
            f"Core fills by kind: transfer {kinds[0]:,}, mint {kinds[1]:,}, "
            f"merge {kinds[2]:,}; Core events emitted {cc.engine_events:,} "
            f"({cc.engine_events / args.n:.2f} per command)"
        )
    elif core_err:
        notes.append(f"Core row skipped: {core_err}")
    ref_stream = stream[: args.ref_n]
    ref_base = None
    if ref_cls is not None:
        log(f"verifying the reference oracle on {len(ref_stream):,} commands ...")
        ref_base = count_pybook(ref_stream)
        problems += compare(
            "ReferenceEngine", ref_base, count_engine(ref_stream, ref_cls, args.users)
        )
    elif ref_err:
        notes.append(f"reference row skipped: {ref_err}")

    events = args.n + base.fills

    # -- timed runs, interleaved
    rows: list[tuple[str, Callable[[], tuple[float, int]], int, int, bool]] = [
        (
            "pybook (baseline, sortedcontainers)",
            lambda: time_pybook(stream, n_places),
            args.n,
            events,
            False,
        ),
    ]
    if core_cls is not None:
        rows.append(
            (
                "Core, one call per command",
                lambda: time_core(stream, n_places, core_cls, args.users),
                args.n,
                events,
                False,
            )
        )
        if not args.no_events_row:
            rows.append(
                (
                    "Core + last_events() per command (info)",
                    lambda: time_core_events(stream, n_places, core_cls, args.users),
                    args.n,
                    events,
                    True,
                )
            )
    times: dict[str, list[float]] = {r[0]: [] for r in rows}
    if args.no_gc:
        gc.disable()
    try:
        for run in range(args.runs):
            for name, fn, _n, _ev, _info in rows:
                secs, counted = fn()
                times[name].append(secs)
                if (
                    CORE_COUNTS_FILLS_IN_LOOP
                    and name.startswith("Core,")
                    and (counted != base.fills)
                ):
                    problems.append(
                        f"{name}: counted {counted:,} fills in the loop, "
                        f"verification pass {base.fills:,}"
                    )
                log(f"  run {run + 1}/{args.runs} {name}: {secs:.3f}s")
        if ref_cls is not None and ref_base is not None:
            name = f"ReferenceEngine (oracle, info; first {len(ref_stream):,} commands)"
            ref_places = st.n_places(ref_stream)
            rows.append(
                (
                    name,
                    lambda: (0.0, 0),
                    len(ref_stream),
                    len(ref_stream) + ref_base.fills,
                    True,
                )
            )
            times[name] = []
            for run in range(args.ref_runs):
                secs, _ = time_core(ref_stream, ref_places, ref_cls, args.users)
                times[name].append(secs)
                log(f"  run {run + 1}/{args.ref_runs} {name}: {secs:.3f}s")
    finally:
        gc.enable()

    # -- report
    base_rate = events / statistics.median(times[rows[0][0]])
    table = []
    for name, _fn, n_cmd, n_ev, _info in rows:
        med = statistics.median(times[name])
        rate = n_ev / med
        table.append(
            (
                name,
                f"{n_cmd:,}",
                f"{n_ev:,}",
                f"{med:.3f}",
                f"{min(times[name]):.3f}",
                f"{rate / 1e6:.3f}M",
                f"{rate / base_rate:.2f}x",
            )
        )
    header = (
        "implementation",
        "commands",
        "events",
        "median s",
        "min s",
        "events/s",
        "vs baseline",
    )

    per_cross = base.fills / max(info["crossing"], 1)
    stream_line = (
        f"{info['commands']:,} commands (seed {args.seed}, {args.users} users, "
        f"payout 100 tick 1): {info['resting']:,} resting "
        f"({info['resting'] / args.n:.0%}), "
        f"{info['crossing']:,} crossing ({info['crossing'] / args.n:.0%}), "
        f"{info['cancels']:,} cancels ({info['cancels'] / args.n:.0%}); "
        f"{base.fills:,} fills ({per_cross:.2f} per crossing order), "
        f"filled qty {base.filled_qty:,}; events = commands + fills = {events:,}; "
        f"live orders at end {info['live_at_end']:,} (max {info['max_live']:,}) on "
        f"{info['levels_at_end']} levels"
    )
    runs_line = (
        f"{args.runs} interleaved runs per row"
        + (f" (reference: {args.ref_runs})" if ref_cls is not None else "")
        + f", median; GC {'disabled' if args.no_gc else 'enabled'} in timed loops"
    )
    if not problems:
        checked = [
            n for n, ok in (("Core", core_cls), ("ReferenceEngine", ref_cls)) if ok
        ]
        if checked:
            notes.append(
                f"verified: {' and '.join(checked)} fills (count, qty, exact "
                "sequence of taker/maker/price/qty), cancel results and final book "
                "equal the baseline's"
            )
    if md:
        print(f"Command: `{cmdline}`  ")
        print(f"Machine: {machine()}  ")
        print(f"Revision: {git_rev()}  ")
        print(f"Stream: {stream_line}  ")
        print(f"Runs: {runs_line}")
        print()
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in table:
            print("| " + " | ".join(row) + " |")
        if notes or problems:
            print()
        for line in notes:
            print(f"- {line}")
        for line in problems:
            print(f"- **MISMATCH** {line}")
    else:
        print(f"$ {cmdline}")
        print(f"machine:  {machine()}")
        print(f"revision: {git_rev()}")
        print(f"stream:   {stream_line}")
        print(f"runs:     {runs_line}")
        print()
        widths = [
            max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))
        ]
        for k, row in enumerate([header, *table]):
            cells = [row[0].ljust(widths[0])]
            cells += [str(c).rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
            print("  ".join(cells))
            if k == 0:
                print("  ".join("-" * w for w in widths))
        print()
        for line in notes:
            print(f"note: {line}")
        for line in problems:
            print(f"MISMATCH: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
