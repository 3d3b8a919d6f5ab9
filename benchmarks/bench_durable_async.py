"""Durable commands/s: each command on disk before its caller is answered.

Rows (each a median over ``--runs`` timed windows of ``--seconds``):

* ``execute_async``, 1 / 8 / 64 concurrent callers: asyncio coroutines in one
  event loop, each awaiting ``DurableEngine.execute_async`` in a loop (group
  commit: one ``fdatasync`` covers every command that arrived during the
  previous one);
* ``execute_durable``, 1 caller: the blocking call (one sync per command);
* ``execute policy=fsync``, 1 caller: the same guarantee via the policy.

The work per caller (``--work order``, the default) alternates a resting
limit order and its cancel, in its own user (so nothing is refused for lack
of funds); ``--work deposit`` deposits 1 again and again (the cheapest
command: what the journal and the group commit cost).  The data directory is a
fresh temp dir (``--dir`` to put it on another disk).

    python benchmarks/bench_durable_async.py [--quick] [--seconds 3] [--runs 3]
        [--work order|deposit]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from probo_engine.commands import Cancel, CreateMarket, CreateUser, Deposit, Place
from probo_engine.journal import DurableEngine


def _setup(db: DurableEngine, callers: int) -> None:
    # (commands.CommandRecord is typed tuple[int, ...]; the name fields are str)
    db.execute(CreateMarket())  # type: ignore[arg-type]
    for u in range(callers):
        db.execute(CreateUser())  # type: ignore[arg-type]
        db.execute(Deposit(u, 10**12))
    db.sync()


def _place(u: int, i: int) -> Place:
    return Place(u, 0, 0, 0, 50 * (1 + i % 9), 1, 0, 0, 0, False, 0, 0)


def run_async(directory: Path, callers: int, seconds: float, work: str) -> float:
    async def main() -> float:
        db = DurableEngine.open(directory, policy="group")
        _setup(db, callers)
        done = 0
        stop = time.perf_counter() + seconds

        async def caller(u: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < stop:
                if work == "deposit":
                    await db.execute_async(Deposit(u, 1))
                    done += 1
                    continue
                oid = await db.execute_async(_place(u, i))
                await db.execute_async(Cancel(u, oid, 0))
                done += 2
                i += 1

        t0 = time.perf_counter()
        async with db, asyncio.TaskGroup() as tg:
            for u in range(callers):
                tg.create_task(caller(u))
        return done / (time.perf_counter() - t0)

    return asyncio.run(main())


def run_blocking(directory: Path, policy: str, seconds: float, work: str) -> float:
    with DurableEngine.open(directory, policy=policy) as db:
        _setup(db, 1)
        call = db.execute_durable if policy == "group" else db.execute
        done = i = 0
        t0 = time.perf_counter()
        stop = t0 + seconds
        while time.perf_counter() < stop:
            if work == "deposit":
                call(Deposit(0, 1))
                done += 1
                continue
            oid = call(_place(0, i))
            call(Cancel(0, oid, 0))
            done += 2
            i += 1
        assert db.acked_seq == db.appended_seq
        return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="parent of the temp data dirs")
    ap.add_argument("--work", choices=("order", "deposit"), default="order")
    ap.add_argument("--quick", action="store_true", help="1 s windows, 1 run")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.runs = 1.0, 1
    rows: list[tuple[str, float]] = []

    def measure(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        rates = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(dir=args.dir) as d:
                rates.append(fn(Path(d)))
        rows.append((name, statistics.median(rates)))
        rate = statistics.median(rates)
        print(f"{name:<36} {rate:>12,.0f} durable commands/s ({args.work})", flush=True)

    for callers in (1, 8, 64):
        measure(
            f"execute_async, {callers} callers",
            lambda d, c=callers: run_async(d, c, args.seconds, args.work),
        )
    secs, work = args.seconds, args.work
    measure("execute_durable, 1 caller", lambda d: run_blocking(d, "group", secs, work))
    measure(
        "execute policy=fsync, 1 caller", lambda d: run_blocking(d, "fsync", secs, work)
    )


if __name__ == "__main__":
    main()
