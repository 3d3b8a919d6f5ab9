"""History archiver figures: events archived per second on SQLite and
PostgreSQL, and the archiver's lag under a sustained engine load.

Not a test (pytest does not collect it); run it by hand::

    python benchmarks/bench_history.py [--quick] [--store sqlite|postgres|both]

The entries come from the seeded stream of ``tests/adapters/history/history_streams.py``
(orders of every kind, amends, cancels, mints, resolutions, fees), built once.

1. **Throughput**: an empty store, every entry already in a ``MemoryEntryLog``;
   the archiver runs until it has them all.  Reported: events/s end to end,
   and its two halves measured apart: deriving rows (Python, no I/O) and
   writing the pre-derived (and prepared) batches (the store alone, rows/s
   too).  Also the CPU seconds per 100,000 events of the archiver process
   and (PostgreSQL on this machine) of its server process: the archiver
   pipelines the two, so on an idle machine with a core for each the rate
   is about 100,000 divided by the larger.  CPU time is a steadier figure
   than the rate on a shared machine.
2. **Lag**: entries are appended to the log at a fixed event rate (like the
   embedded engine's in-memory tail) while the archiver runs in the same
   event loop; the lag (entries the log has that the store has not) is
   sampled every 50 ms.  Reported: median and maximum lag, in entries and in
   milliseconds of input.

3. **Stages** (``--stages``, PostgreSQL): the CPU seconds per 100,000
   events of each part, measured apart: deriving, encoding the ``COPY`` data
   ahead, and each statement of the writes (per table's ``COPY``, the
   checkpoint, ``COMMIT``; with ``--staged``, the merge path's ``INSERT ...
   ON CONFLICT`` too), as wall time, the server process's CPU and run-queue
   wait (``/proc/<pid>/schedstat``), and this process's CPU.  The writes go
   through the store's own code; only its connection is wrapped to time each
   call (the merge path's ``BEGIN`` and ``COMMIT``, sent by asyncpg's
   transaction object, are not among them).

Each figure is the median of ``--repeat`` runs; the last line (``SUMMARY``)
gives the end-to-end rates, the load average and the core count.
PostgreSQL runs go to a fresh database created through ``--pg`` (default
``$PROBO_TEST_PG`` or ``postgresql://postgres@127.0.0.1:5432/test``) and
dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "adapters" / "history"))

from history_streams import Driver, entries_for_events  # noqa: E402

from probo_engine.adapters.entries import MemoryEntryLog  # noqa: E402
from probo_engine.adapters.history import (  # noqa: E402
    Archiver,
    ArchiverStats,
    Checkpoint,
    Deriver,
    HistoryStore,
    open_store,
)

PG_ADMIN = os.environ.get("PROBO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: PostgresStore.encode_ahead for the stores this benchmark opens
ENCODE_AHEAD = True


@asynccontextmanager
async def fresh_store(kind: str, pg_admin: str) -> AsyncIterator[HistoryStore]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            store = await open_store(f"sqlite:///{tmp}/history.db")
            try:
                yield store
            finally:
                await store.close()
        return
    asyncpg: Any = importlib.import_module("asyncpg")
    name = f"probobench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_admin, timeout=10)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    store = await open_store(pg_admin.rsplit("/", 1)[0] + "/" + name)
    store.encode_ahead = ENCODE_AHEAD  # type: ignore[attr-defined]
    try:
        yield store
    finally:
        await store.close()
        admin = await asyncpg.connect(pg_admin, timeout=10)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


def log_of(d: Driver) -> MemoryEntryLog:
    log = MemoryEntryLog()
    for e in d.entries:
        log.append(e)
    return log


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a local process has used, if readable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backend_pid(store: HistoryStore) -> int | None:
    """The PostgreSQL writer connection's server process (None: SQLite)."""
    if store.dialect != "postgres":
        return None
    conn = await store._writer_conn()  # type: ignore[attr-defined]
    return int(await conn.fetchval("SELECT pg_backend_pid()"))


async def throughput(kind: str, d: Driver, args: argparse.Namespace) -> float:
    """Print the throughput line of one store; return the end-to-end median."""
    end_to_end, derive, write, write_rows = [], [], [], []
    client_cpu: list[float] = []
    server_cpu: list[float] = []
    for _ in range(args.repeat):
        log = log_of(d)
        async with fresh_store(kind, args.pg) as store:
            pid = await _backend_pid(store)
            s0 = _proc_cpu(pid) if pid else None
            c0, t = time.process_time(), time.perf_counter()
            await Archiver(store, log, batch_entries=args.batch).run(until=log.head())
            end_to_end.append(d.n_events / (time.perf_counter() - t))
            client_cpu.append(time.process_time() - c0)
            s1 = _proc_cpu(pid) if pid else None
            if s0 is not None and s1 is not None:
                server_cpu.append(s1 - s0)
        t = time.perf_counter()
        der, cp, batches = Deriver(), Checkpoint(0, 0), []
        for i in range(0, len(d.entries), args.batch):
            b = der.derive(d.entries[i : i + args.batch], cp)
            cp = b.upto
            batches.append(b)
        derive.append(d.n_events / (time.perf_counter() - t))
        async with fresh_store(kind, args.pg) as store:
            await _backend_pid(store)  # (PostgreSQL: connects, reads column types)
            for b in batches:  # as the archiver does before each write
                for _ in store.prepare(b):
                    pass
            t = time.perf_counter()
            for b in batches:
                await store.write(b)
            dt = time.perf_counter() - t
        write.append(d.n_events / dt)
        write_rows.append(sum(b.n_rows for b in batches) / dt)
    med = statistics.median
    print(
        f"{kind:8} archive {med(end_to_end):>9,.0f} events/s   "
        f"(derive alone {med(derive):>9,.0f} events/s; "
        f"write alone {med(write):>9,.0f} events/s = {med(write_rows):>9,.0f} rows/s)"
    )
    # CPU per 100k events does not depend on what else the machine runs (much),
    # unlike the rates above; the archiver overlaps its own CPU (derive, COPY
    # encoding) with the database's, so on an idle machine with a core each
    # the rate is bounded by the larger of the two.
    per = 100_000 / d.n_events
    line = f"{kind:8} CPU per 100k events: archiver {med(client_cpu) * per:.2f} s"
    if server_cpu:
        srv = med(server_cpu) * per
        bound = 100_000 / max(med(client_cpu) * per, srv)
        line += (
            f", PostgreSQL backend {srv:.2f} s; idle-machine bound "
            f"{bound:,.0f} events/s (100k / the larger)"
        )
    print(line)
    return float(med(end_to_end))


def _sched(pid: int) -> tuple[float, float]:
    """(CPU s, run-queue wait s) of a local process (Linux schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            run, wait = f.read().split()[:2]
    except OSError:
        return _proc_cpu(pid) or 0.0, 0.0
    return int(run) / 1e9, int(wait) / 1e9


class _TimedConn:
    """The writer connection, timing each statement or ``COPY`` by label:
    wall s, server CPU s, server run-queue wait s, this process's CPU s."""

    def __init__(self, conn: Any, pid: int) -> None:
        self._conn, self._pid = conn, pid
        self.times: dict[str, list[float]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def _timed(self, label: str, call: Any, *args: Any, **kw: Any) -> Any:
        s0, c0, t0 = _sched(self._pid), time.process_time(), time.perf_counter()
        try:
            return await call(*args, **kw)
        finally:
            s1 = _sched(self._pid)
            add = (
                time.perf_counter() - t0,
                s1[0] - s0[0],
                s1[1] - s0[1],
                time.process_time() - c0,
            )
            acc = self.times.setdefault(label, [0.0] * 4)
            for i, v in enumerate(add):
                acc[i] += v

    async def execute(self, sql: str, *args: Any, **kw: Any) -> Any:
        words = sql.split()
        label = " ".join(words[:3]) if words[0] == "INSERT" else words[0]
        label = "BEGIN + checkpoint" if label.startswith("BEGIN") else label
        return await self._timed(label, self._conn.execute, sql, *args, **kw)

    async def fetchrow(self, sql: str, *args: Any, **kw: Any) -> Any:
        return await self._timed("checkpoint", self._conn.fetchrow, sql, *args, **kw)

    async def copy_to_table(self, table: str, **kw: Any) -> Any:
        call = self._conn.copy_to_table
        return await self._timed(f"COPY {table}", call, table, **kw)

    async def copy_records_to_table(self, table: str, **kw: Any) -> Any:
        call = self._conn.copy_records_to_table
        return await self._timed(f"COPY {table} (asyncpg)", call, table, **kw)


async def stages(d: Driver, args: argparse.Namespace) -> None:
    """Print the CPU per 100k events of each stage (see the module doc)."""
    per = 100_000 / d.n_events
    med = statistics.median
    derive_cpu, encode_cpu, walls = [], [], []
    runs: list[dict[str, list[float]]] = []
    for _ in range(args.repeat):
        c0 = time.process_time()
        der, cp, batches = Deriver(), Checkpoint(0, 0), []
        for i in range(0, len(d.entries), args.batch):
            b = der.derive(d.entries[i : i + args.batch], cp)
            cp = b.upto
            batches.append(b)
        derive_cpu.append(time.process_time() - c0)
        async with fresh_store("postgres", args.pg) as store:
            pid = await _backend_pid(store)
            assert pid is not None
            c0 = time.process_time()
            for b in batches:
                for _ in store.prepare(b):
                    pass
            encode_cpu.append(time.process_time() - c0)
            timed = _TimedConn(await store._writer_conn(), pid)  # type: ignore[attr-defined]
            store._writer = timed  # type: ignore[attr-defined]
            store.direct_copy = not args.staged  # type: ignore[attr-defined]
            t = time.perf_counter()
            for b in batches:
                await store.write(b)
            walls.append(time.perf_counter() - t)
            runs.append(timed.times)
    path = "staged (COPY into staging, then merge)" if args.staged else "direct"
    print(
        f"stages, CPU seconds per 100k events ({path} path; batch {args.batch}; "
        f"medians of {args.repeat}):"
    )
    print(f"  derive (archiver)           {med(derive_cpu) * per:.3f}")
    print(f"  encode COPY data ahead      {med(encode_cpu) * per:.3f}")
    print(
        f"  write, all statements: wall {med(walls) * per:.3f} "
        f"({d.n_events / med(walls):,.0f} events/s)"
    )
    print(f"  {'statement':32} {'wall':>6} {'server':>7} {'(runq)':>7} {'client':>7}")
    tot = [0.0] * 4
    for label in runs[0]:
        v = [med(r.get(label, [0.0] * 4)[i] for r in runs) * per for i in range(4)]
        tot = [a + b for a, b in zip(tot, v, strict=True)]
        print(f"  {label:32} {v[0]:6.3f} {v[1]:7.3f} {v[2]:7.3f} {v[3]:7.3f}")
    print(f"  {'total':32} {tot[0]:6.3f} {tot[1]:7.3f} {tot[2]:7.3f} {tot[3]:7.3f}")


async def lag_once(
    kind: str, d: Driver, args: argparse.Namespace, n: int, entries_per_s: float
) -> list[int]:
    """Feed ``n`` entries at ``entries_per_s``; the lag sampled every 50 ms."""
    log = MemoryEntryLog()
    stats = ArchiverStats()
    samples: list[int] = []

    async def produce() -> None:
        t0 = time.perf_counter()
        at = 0
        while at < n:
            due = min(n, int((time.perf_counter() - t0) * entries_per_s))
            while at < due:
                log.append(d.entries[at])
                at += 1
            await asyncio.sleep(0.002)

    async def sample(done: Callable[[], bool]) -> None:
        while not done():
            await asyncio.sleep(0.05)
            samples.append(max(0, log.head() - stats.cmd_seq))

    async with fresh_store(kind, args.pg) as store:
        archiver = Archiver(
            store, log, batch_entries=args.batch, read_timeout=0.05, stats=stats
        )
        async with asyncio.TaskGroup() as tg:
            prod = tg.create_task(produce())
            tg.create_task(sample(prod.done))
            run = tg.create_task(archiver.run(until=n))
        assert run.result().cmd_seq == n
    return samples


async def lag(kind: str, d: Driver, args: argparse.Namespace) -> None:
    rate = args.rate  # events per second
    entries_per_s = rate / (d.n_events / len(d.entries))
    n = min(len(d.entries), int(entries_per_s * args.seconds))
    medians, maxima = [], []
    for _ in range(args.repeat):
        samples = await lag_once(kind, d, args, n, entries_per_s)
        medians.append(statistics.median(samples))
        maxima.append(max(samples))
    m, x = statistics.median(medians), statistics.median(maxima)
    print(
        f"{kind:8} lag at {rate:,} events/s for {args.seconds:.0f} s: median "
        f"{m:,.0f} entries ({1000 * m / entries_per_s:,.0f} ms), "
        f"max {x:,.0f} entries ({1000 * x / entries_per_s:,.0f} ms)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (CI smoke)")
    p.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--pg", default=PG_ADMIN, help="admin DSN to create databases")
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=5000, help="entries per batch")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rate", type=int, default=20_000, help="lag: events/s fed")
    p.add_argument("--seconds", type=float, default=10.0, help="lag: how long")
    p.add_argument("--no-lag", action="store_true", help="throughput only")
    p.add_argument(
        "--stages", action="store_true", help="PostgreSQL: CPU per stage, then exit"
    )
    p.add_argument(
        "--staged", action="store_true", help="--stages: the merge path (staging)"
    )
    p.add_argument(
        "--no-encode-ahead",
        action="store_true",
        help="PostgreSQL: asyncpg encodes every table during the write",
    )
    args = p.parse_args()
    global ENCODE_AHEAD
    ENCODE_AHEAD = not args.no_encode_ahead
    if args.quick:
        args.events, args.repeat, args.seconds = 30_000, 1, 3.0
    t = time.perf_counter()
    d = entries_for_events(3, args.events)
    rows = Deriver().derive(d.entries, Checkpoint(0, 0)).rows
    print(
        f"stream: {len(d.entries):,} entries, {d.n_events:,} events "
        f"({len(rows['fills']):,} fills, {sum(map(len, rows.values())):,} rows; "
        f"built in {time.perf_counter() - t:.1f} s); batch {args.batch} entries"
    )
    if args.stages:
        asyncio.run(stages(d, args))
        return
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    rates = {kind: asyncio.run(throughput(kind, d, args)) for kind in kinds}
    if not args.no_lag:
        for kind in kinds:
            asyncio.run(lag(kind, d, args))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        "SUMMARY end to end: "
        + ", ".join(f"{k} {v:,.0f} events/s" for k, v in rates.items())
        + f" (target: postgres >= 100,000; batch {args.batch}; "
        f"encode ahead {'on' if ENCODE_AHEAD else 'off'}; "
        f"{args.repeat} runs, median; load average {load:.1f} on "
        f"{os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
