"""Durable commands/s: each command on disk before its caller is answered.

Rows (each a median over ``--runs`` timed windows of ``--seconds``):

* ``execute_async``, 1 / 8 / 64 concurrent callers: asyncio coroutines in one
  event loop, each awaiting ``DurableEngine.execute_async`` in a loop (group
  commit: one ``fdatasync`` covers every command that arrived during the
  previous one);
* ``execute_async in loop``, 1 / 64 callers: the same with
  ``DurableEngine.open(..., sync_in_loop=True)`` (the sync blocks the loop's
  thread instead of running in the sync thread: no thread wake-ups);
* ``execute_durable``, 1 caller: the blocking call (one sync per command);
* ``execute policy=fsync``, 1 caller: the same guarantee via the policy.

The work per caller (``--work order``, the default) alternates a resting
limit order and its cancel, in its own user (so nothing is refused for lack
of funds); ``--work deposit`` deposits 1 again and again (the cheapest
command: what the journal and the group commit cost).  The data directory is a
fresh temp dir (``--dir`` to put it on another disk; ``--dir /dev/shm`` makes
the sync nearly free, which leaves the CPU and the thread hand-overs).

Each row prints the median rate and, beside it, the median CPU time per
command: the whole process's (``time.process_time``: the event loop's
thread, the sync thread, and the kernel's work for the syncs) and the
calling thread's alone (``time.thread_time``).  CPU time is far less
sensitive than the rate to other load on the machine.

``--sync-delay-us N`` adds N us of sleep to each ``execute_async`` sync: on
``/dev/shm`` that is a disk whose sync takes a known time, so that trees can
be compared under load without the real disk's spread.

``--compare SRC [SRC ...]`` measures other source trees too (each a ``src``
directory holding a built ``probo_engine``, e.g. ``/path/to/main/src``): every
timed window runs in a fresh process, the trees taking turns run by run, so
that a change in the machine's load falls on all of them alike.

    python benchmarks/bench_durable_async.py [--quick] [--seconds 3] [--runs 3]
        [--work order|deposit] [--dir DIR] [--compare SRC ...] [--rows TEXT]
        [--sync-delay-us N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


#: (commands/s, process CPU us per command, calling thread's CPU us per command)
Sample = tuple[float, float, float]


class _Clock:
    """Wall, process and thread clocks from :meth:`start` to :meth:`sample`."""

    def start(self) -> None:
        self.t = (time.perf_counter(), time.process_time(), time.thread_time())

    def sample(self, done: int) -> Sample:
        wall, cpu, thread = (
            b - a
            for a, b in zip(
                self.t,
                (time.perf_counter(), time.process_time(), time.thread_time()),
                strict=True,
            )
        )
        return done / wall, cpu / done * 1e6, thread / done * 1e6


def run_async(
    directory: Path, callers: int, seconds: float, work: str, in_loop: bool = False
) -> Sample:
    async def main() -> Sample:
        opts = {"sync_in_loop": True} if in_loop else {}  # (older trees lack it)
        db = DurableEngine.open(directory, policy="group", **opts)
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

        clock = _Clock()
        clock.start()
        async with db, asyncio.TaskGroup() as tg:
            for u in range(callers):
                tg.create_task(caller(u))
        return clock.sample(done)

    return asyncio.run(main())


def run_blocking(directory: Path, policy: str, seconds: float, work: str) -> Sample:
    with DurableEngine.open(directory, policy=policy) as db:
        _setup(db, 1)
        call = db.execute_durable if policy == "group" else db.execute
        done = i = 0
        clock = _Clock()
        clock.start()
        stop = time.perf_counter() + seconds
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
        return clock.sample(done)


ROWS: dict[str, Callable[[Path, float, str], Sample]] = {
    **{
        f"execute_async, {c} callers": (
            lambda d, secs, work, c=c: run_async(d, c, secs, work)
        )
        for c in (1, 8, 64)
    },
    **{
        f"execute_async in loop, {c} callers": (
            lambda d, secs, work, c=c: run_async(d, c, secs, work, in_loop=True)
        )
        for c in (1, 64)
    },
    "execute_durable, 1 caller": lambda d, s, w: run_blocking(d, "group", s, w),
    "execute policy=fsync, 1 caller": lambda d, s, w: run_blocking(d, "fsync", s, w),
}


def _delay_syncs(delay: float) -> None:
    """Make execute_async's syncs take ``delay`` s longer (``datasync`` is the
    group commit module's global in every tree that has execute_async)."""
    from probo_engine.journal import groupcommit

    real = groupcommit.datasync

    def slower(fd: int) -> None:
        real(fd)
        time.sleep(delay)

    groupcommit.datasync = slower


def one_window(row: str, seconds: float, work: str, parent: str | None) -> Sample:
    with tempfile.TemporaryDirectory(dir=parent) as d:
        return ROWS[row](Path(d), seconds, work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="parent of the temp data dirs")
    ap.add_argument("--work", choices=("order", "deposit"), default="order")
    ap.add_argument("--quick", action="store_true", help="1 s windows, 1 run")
    ap.add_argument(
        "--compare", nargs="+", default=[], metavar="SRC", help="other src dirs"
    )
    ap.add_argument(
        "--rows", default="", help="only the rows whose name contains this text"
    )
    ap.add_argument(
        "--sync-delay-us",
        type=float,
        default=0.0,
        help="sleep this long after each execute_async fdatasync (with --dir "
        "/dev/shm: a disk of known sync time, whatever the machine's load)",
    )
    ap.add_argument("--window", help=argparse.SUPPRESS)  # one window, JSON out
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.runs = 1.0, 1
    if args.sync_delay_us:
        _delay_syncs(args.sync_delay_us / 1e6)
    if args.window is not None:
        print(json.dumps(one_window(args.window, args.seconds, args.work, args.dir)))
        return
    trees: list[str | None] = [None, *args.compare]

    def window(row: str, src: str | None) -> Sample | None:
        if src is None and not args.compare:
            return one_window(row, args.seconds, args.work, args.dir)
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = src
        cmd = [sys.executable, __file__, "--window", row, "--work", args.work]
        cmd += ["--seconds", str(args.seconds)]
        cmd += ["--sync-delay-us", str(args.sync_delay_us)]
        if args.dir is not None:
            cmd += ["--dir", args.dir]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode != 0:  # e.g. an older tree without sync_in_loop
            return None
        rate, cpu, thread = json.loads(out.stdout)
        return rate, cpu, thread

    here = os.environ.get("PYTHONPATH") or "(importable probo_engine)"
    label = {src: f"[{chr(65 + i)}]" for i, src in enumerate(trees)}
    print(f"work: {args.work}; median of {args.runs} x {args.seconds:g} s windows")
    if args.compare:
        for src in trees:
            print(f"{label[src]} {src or here}")
    print(f"{'':<34} {'commands/s':>12} {'CPU us/cmd':>11} {'loop thread':>12}")
    for row in (r for r in ROWS if args.rows in r):
        samples: dict[str | None, list[Sample]] = {src: [] for src in trees}
        for _ in range(args.runs):
            for src in trees:  # the trees take turns
                sample = window(row, src)
                if sample is not None:
                    samples[src].append(sample)
        for src in trees:
            name = row if not args.compare else f"{row} {label[src]}"
            if not samples[src]:
                print(f"{name:<34} {'n/a':>12}", flush=True)
                continue
            rate, cpu, thread = (
                statistics.median(col) for col in zip(*samples[src], strict=True)
            )
            print(f"{name:<34} {rate:>12,.0f} {cpu:>11.1f} {thread:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
