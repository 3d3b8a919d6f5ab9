"""End-to-end archiver rate of an older revision of the history package
against the working tree's, interleaved in one process.

The older ``src/probo_engine/adapters/history`` is taken with ``git archive``
into a temporary folder and imported as a second package (its modules import
each other relatively, and the rest of ``probo_engine`` from the working tree,
so the entries, the engine and the stream are the same for both).  Each round
archives the same stream once with each revision, alternating which goes
first, into a fresh store (SQLite file or PostgreSQL database); the figures
are medians, and the ratio cancels most of the drift of a shared machine::

    python benchmarks/compare_history.py 3eddf17 [--store postgres|sqlite]
        [--rounds 6] [--events 100000] [--quick]

Reported per revision: events/s end to end, CPU seconds of this process and
(PostgreSQL on this machine) of the writer's server process.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests" / "adapters" / "history"))
sys.path.insert(0, str(Path(__file__).parent))

from history_streams import Driver, entries_for_events  # noqa: E402

import probo_engine.adapters.history as current  # noqa: E402
from bench_history import PG_ADMIN, _backend_pid, _proc_cpu  # noqa: E402
from probo_engine.adapters.entries import MemoryEntryLog  # noqa: E402

PKG = "src/probo_engine/adapters/history"


def load_revision(rev: str, where: str) -> ModuleType:
    """The history package of ``rev``, importable as ``history_at_rev``."""
    archive = os.path.join(where, "history.tar")
    with open(archive, "wb") as f:
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, PKG], stdout=f, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    os.rename(os.path.join(where, PKG), os.path.join(where, "history_at_rev"))
    sys.path.insert(0, where)
    return importlib.import_module("history_at_rev")


async def once(mod: Any, kind: str, d: Driver, pg: str) -> tuple[float, float, float]:
    """(events/s, this process's CPU s, server CPU s) for one archive run."""
    asyncpg: Any = importlib.import_module("asyncpg")

    log = MemoryEntryLog()
    for e in d.entries:
        log.append(e)
    tmp = name = None
    if kind == "sqlite":
        tmp = tempfile.mkdtemp()
        store = await mod.open_store(f"sqlite:///{tmp}/history.db")
    else:
        name = f"probobench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(pg, timeout=10)
        try:
            await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()
        store = await mod.open_store(pg.rsplit("/", 1)[0] + "/" + name)
    try:
        pid = await _backend_pid(store)
        s0 = _proc_cpu(pid) if pid else None
        c0, t0 = time.process_time(), time.perf_counter()
        await mod.Archiver(store, log, batch_entries=5000).run(until=log.head())
        rate = d.n_events / (time.perf_counter() - t0)
        cpu = time.process_time() - c0
        s1 = _proc_cpu(pid) if pid else None
        srv = s1 - s0 if s0 is not None and s1 is not None else 0.0
        return rate, cpu, srv
    finally:
        await store.close()
        if tmp is not None:
            shutil.rmtree(tmp)
        if name is not None:
            admin = await asyncpg.connect(pg, timeout=10)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            finally:
                await admin.close()


async def compare(old: Any, args: argparse.Namespace, d: Driver) -> None:
    runs: dict[str, list[tuple[float, float, float]]] = {"old": [], "new": []}
    load0 = os.getloadavg()[0]
    for i in range(args.rounds):
        order = [("old", old), ("new", current)]
        for label, mod in order if i % 2 == 0 else order[::-1]:
            runs[label].append(await once(mod, args.store, d, args.pg))
    med = statistics.median
    per = 100_000 / d.n_events
    for label, rev in (("old", args.rev), ("new", "working tree")):
        r = runs[label]
        print(
            f"{args.store:8} {rev:>12}: {med(x[0] for x in r):>9,.0f} events/s; "
            f"CPU per 100k events: archiver {med(x[1] for x in r) * per:.2f} s, "
            f"server {med(x[2] for x in r) * per:.2f} s"
        )
    ratio = med(x[0] for x in runs["new"]) / med(x[0] for x in runs["old"])
    print(
        f"SUMMARY {args.store}: working tree / {args.rev} = x{ratio:.2f} end to end "
        f"({args.rounds} rounds, medians; load average {load0:.1f} -> "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("rev", help="the older revision (a commit, tag or branch)")
    p.add_argument("--store", choices=("sqlite", "postgres"), default="postgres")
    p.add_argument("--pg", default=PG_ADMIN, help="admin DSN to create databases")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--quick", action="store_true", help="a short run")
    args = p.parse_args()
    if args.quick:
        args.events, args.rounds = 30_000, 2
    d = entries_for_events(3, args.events)
    with tempfile.TemporaryDirectory() as where:
        old = load_revision(args.rev, where)
        asyncio.run(compare(old, args, d))


if __name__ == "__main__":
    main()
