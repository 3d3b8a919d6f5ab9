"""The batch path: the same stream as ``COMMAND_DTYPE`` records through
``probo_engine.batch.run``, in chunks, with the GIL released.

DESIGN.md section 6 target: >= 10x the events/s of the pure-Python baseline book
(``benchmarks/pybook.py``), with the ledger, locks and events on.

* **Ids.** Cancels need the engine's order ids.  Ids go 1, 2, 3, ... to accepted
  orders; after ``stream.setup_engine`` every place of the stream is accepted
  (funded users, minted inventory, no self-trades), so stream slot ``s`` gets id
  ``stream.first_order_id(n_users) + s`` and ``stream.to_records`` writes the
  cancels' ids up front.  ``verify_batch`` checks that each place returned
  exactly that id.
* **Input.** Building the records from the stream is not timed (the records
  *are* the batch's input format, as the list of tuples is the per-call
  drivers').
* **Timed loop.** ``run(core, records[i:i + chunk], events=..., out=(results,
  filled, events))`` per chunk: the result and event arrays are reused
  (``out=``) and the events of each chunk are copied into that ``EVENT_DTYPE``
  buffer, where Python has them as a numpy array.  The loop does not read
  them, as the per-call Core row leaves its events unread in the core; fills
  are counted in the untimed verification pass for every row.  (Until
  2026-11-25 this loop also counted the ``FILL`` events of each chunk with
  numpy: about 24 us of a 4,096-command chunk's ~420 us.)  With
  ``events=False`` the core still advances sequence numbers but stores no
  event (information row).
* **Verification** (``verify_batch``): the stream runs through a per-call Core
  and a batch Core side by side, chunk by chunk; per command the results, the
  filled quantity and the packed events (``events_bytes()`` after each call vs.
  the batch's event buffer, byte for byte, ``seq`` included) must be equal, and
  so must the final ``state_hash()``; the batch's fills, mapped back to stream
  slots, must equal the baseline book's fill sequence.

Usage::

    python benchmarks/bench_batch.py --n 1000000 --runs 3 [--variant deep]
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

import stream as st  # noqa: E402
from bench_percall import Counts, count_pybook, load_class, time_pybook  # noqa: E402

CHUNK = 4_096  # commands per run() call; see the chunk sweep in BENCHMARKS.md
EV_FILL = 3


def prepare(make: Callable[[], Any], n_users: int) -> tuple[Any, int, int]:
    """A fresh core set up for the stream: ``(core, mid, first_oid)``."""
    core = make()
    mid = st.setup_engine(core, n_users)
    return core, mid, st.first_order_id(n_users)


def records_for(stream: list[st.Item], make: Callable[[], Any], n_users: int) -> Any:
    """The stream's records, with the mid and ids a fresh ``prepare`` gives."""
    core, mid, first = prepare(make, n_users)
    del core
    return st.to_records(stream, mid, first)


def _run_chunks(
    core: Any,
    recs: Any,
    start: int,
    stop: int,
    chunk: int,
    events: bool,
    out: Any,
    count: bool = False,
) -> int:
    """Run ``recs[start:stop]`` chunk by chunk; with ``count``, also count the
    FILL events.  The timed loops do not count: like the per-call rows (whose
    fills are counted in the untimed verification pass), the batch row does the
    engine's work and leaves the events in the reused buffer, unread."""
    from probo_engine.batch import run

    nfills = 0
    for i in range(start, stop, chunk):
        r = run(core, recs[i : min(i + chunk, stop)], events=events, out=out)
        if count and events:
            nfills += int((r.events["kind"] == EV_FILL).sum())
    return nfills


def time_batch(
    stream: list[st.Item],
    n_places: int,
    make: Callable[[], Any],
    n_users: int,
    warm: int = 0,
    *,
    records: Any = None,
    events: bool = True,
    chunk: int = CHUNK,
) -> tuple[float, int]:
    """One timed run of the batch path; returns (seconds, 0): fills are not
    counted in the timed loop (see ``_run_chunks``)."""
    import numpy as np

    from probo_engine.batch import EVENT_DTYPE

    recs = records if records is not None else records_for(stream, make, n_users)
    core, _mid, _first = prepare(make, n_users)
    out = (
        np.empty(chunk, np.int64),
        np.empty(chunk, np.int64),
        np.empty(8 * chunk, EVENT_DTYPE),
    )  # reused, as a batch loop would
    _run_chunks(core, recs, 0, warm, chunk, events, out)
    gc.collect()
    t0 = time.perf_counter()
    nfills = _run_chunks(core, recs, warm, len(recs), chunk, events, out)
    return time.perf_counter() - t0, nfills


def chunk_latencies(
    stream: list[st.Item],
    make: Callable[[], Any],
    n_users: int,
    warm: int = 0,
    *,
    records: Any = None,
    events: bool = True,
    chunk: int = CHUNK,
) -> list[int]:
    """Nanoseconds per ``run`` call (one chunk each), for the latency table."""
    import numpy as np

    from probo_engine.batch import EVENT_DTYPE, run

    recs = records if records is not None else records_for(stream, make, n_users)
    core, _mid, _first = prepare(make, n_users)
    out = (
        np.empty(chunk, np.int64),
        np.empty(chunk, np.int64),
        np.empty(8 * chunk, EVENT_DTYPE),
    )  # reused, as a batch loop would
    _run_chunks(core, recs, 0, warm, chunk, events, out)
    pc = time.perf_counter_ns
    lat = []
    for i in range(warm, len(recs), chunk):
        part = recs[i : i + chunk]
        t0 = pc()
        run(core, part, events=events, out=out)
        lat.append(pc() - t0)
    return lat


def verify_batch(
    stream: list[st.Item],
    make: Callable[[], Any],
    n_users: int,
    base: Counts | None = None,
    *,
    chunk: int = CHUNK,
) -> list[str]:
    """Per-call vs. batch, chunk by chunk (see the module docstring); returns
    the differences found (empty = identical)."""
    import numpy as np

    from probo_engine.batch import EVENT_DTYPE, run

    bad: list[str] = []
    recs = records_for(stream, make, n_users)
    a, mid, first = prepare(make, n_users)  # per call
    b, _mid, _first = prepare(make, n_users)  # batch
    if a.state_hash() != b.state_hash():
        return ["the two prepared cores differ before the stream"]
    is_place = recs["kind"] == 1
    want_ids = first + np.cumsum(is_place) - 1
    seq: list[Any] = []
    for i in range(0, len(stream), chunk):
        part = stream[i : i + chunk]
        res = np.empty(len(part), np.int64)
        fil = np.empty(len(part), np.int64)
        evs: list[bytes] = []
        place, cancel, ev_bytes = a.place, a.cancel, a.events_bytes
        ids = want_ids  # the per-call run uses the ids it is given back
        for k, (op, user, side, outcome, price, qty, _b, _y, ref) in enumerate(part):
            if op == st.PLACE:
                res[k] = place(user, mid, side, outcome, price, qty)
            else:
                res[k] = cancel(user, first + ref)
            fil[k] = a.last_filled
            evs.append(ev_bytes())
        r = run(b, recs[i : i + chunk])
        if not np.array_equal(r.results, res):
            k = int(np.argmax(r.results != res))
            bad.append(
                f"command {i + k}: batch result {r.results[k]}, per call {res[k]}"
            )
        if not np.array_equal(r.filled, fil):
            k = int(np.argmax(r.filled != fil))
            bad.append(
                f"command {i + k}: batch filled {r.filled[k]}, per call {fil[k]}"
            )
        pc_events = b"".join(evs)
        if r.events.tobytes() != pc_events:
            other = np.frombuffer(pc_events, EVENT_DTYPE)
            n = min(len(other), len(r.events))
            diff = np.nonzero(r.events[:n] != other[:n])[0]
            at = int(diff[0]) if len(diff) else n
            bad.append(
                f"chunk at {i}: events differ (batch {len(r.events):,}, per call "
                f"{len(other):,}; first difference at event {at})"
            )
        placed = is_place[i : i + chunk]
        if not np.array_equal(r.results[placed], ids[i : i + chunk][placed]):
            bad.append(f"chunk at {i}: a place did not get its precomputed id")
        if not np.all(r.results[~placed] == 0):
            bad.append(f"chunk at {i}: a cancel failed")
        ev = r.events[r.events["kind"] == EV_FILL]
        seq.append(
            np.stack([ev["oid"] - first, ev["oid2"] - first, ev["price"], ev["qty"]], 1)
        )
        if len(bad) > 5:
            break
    if a.state_hash() != b.state_hash():
        bad.append("final state_hash differs between per-call and batch")
    try:
        b.check_invariants()
    except Exception as exc:  # noqa: BLE001
        bad.append(f"batch core: check_invariants failed: {exc!r}")
    if base is not None:
        got = np.concatenate(seq) if seq else np.zeros((0, 4), np.int64)
        want = np.array(base.seq, np.int64).reshape(-1, 4)
        if got.shape != want.shape or not np.array_equal(got, want):
            bad.append(
                f"batch fills ({len(got):,}) differ from the baseline's ({len(want):,})"
            )
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=CHUNK)
    ap.add_argument("--variant", default="default", choices=sorted(st.VARIANTS))
    ap.add_argument("--core", default="probo_engine._book:Core")
    args = ap.parse_args(argv)
    make = load_class(args.core)
    stream, warm = st.make_variant(args.variant, args.n, args.users, args.seed)
    n_places = st.n_places(stream)
    base = count_pybook(stream)
    bad = verify_batch(stream, make, args.users, base, chunk=args.chunk)
    for line in bad:
        print(f"MISMATCH: {line}")
    info = st.describe(stream, warm)
    events = info["events"]
    recs = records_for(stream, make, args.users)
    rows: dict[str, list[float]] = {"pybook": [], "batch": [], "batch, no events": []}
    for _ in range(args.runs):
        rows["pybook"].append(time_pybook(stream, n_places, warm)[0])
        kw = {"records": recs, "chunk": args.chunk}
        rows["batch"].append(
            time_batch(stream, n_places, make, args.users, warm, **kw)[0]
        )
        rows["batch, no events"].append(
            time_batch(stream, n_places, make, args.users, warm, events=False, **kw)[0]
        )
    base_rate = events / statistics.median(rows["pybook"])
    print(f"{args.variant}: {args.n:,} commands, {events:,} events")
    for name, t in rows.items():
        rate = events / statistics.median(t)
        print(f"  {name:18} {rate / 1e6:7.3f}M events/s  {rate / base_rate:6.2f}x")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
