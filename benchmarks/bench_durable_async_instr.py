"""Instructions per durable command of ``execute_async``, counted by callgrind.

The wall-clock figure of ``bench_durable_async.py`` (64 callers) is bound by
the event loop's thread once the disk syncs fast, and timings on a shared
machine spread widely; callgrind counts instructions, which repeat.  Each
source tree is run twice under ``valgrind --tool=callgrind``: 64 concurrent
(``--callers``) ``execute_async`` callers doing ``N1`` and then ``N2`` rounds of place +
cancel (two durable commands a round) on a data directory in ``--dir``
(``/dev/shm`` by default, so that the sync is cheap and the count is the
CPU's); the difference divided by the extra commands is the cost of one
durable command: coroutine, encode, group commit, wake-up, and the engine.

    python benchmarks/bench_durable_async_instr.py [SRC ...] [--n1 20 --n2 60]
        [--callers 64]

With one caller every command is its own sync, so that count includes a
whole round trip to the sync thread (both threads' instructions).

Each ``SRC`` is a ``src`` directory holding a built ``probo_engine`` (e.g. a
``git archive`` of an older revision with the ``.so`` files copied in); the
importable ``probo_engine`` is always measured.  Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

DRIVER = """
import asyncio, sys, tempfile
from pathlib import Path
from probo_engine.commands import Cancel, CreateMarket, CreateUser, Deposit, Place
from probo_engine.journal import DurableEngine

async def main(d, rounds):
    db = DurableEngine.open(d, policy="group")
    db.execute(CreateMarket())
    for u in range({callers}):
        db.execute(CreateUser())
        db.execute(Deposit(u, 10**12))
    db.sync()

    async def caller(u):
        for i in range(rounds):
            p = Place(u, 0, 0, 0, 50 * (1 + i % 9), 1, 0, 0, 0, False, 0, 0)
            oid = await db.execute_async(p)
            await db.execute_async(Cancel(u, oid, 0))

    async with db, asyncio.TaskGroup() as tg:
        for u in range({callers}):
            tg.create_task(caller(u))

with tempfile.TemporaryDirectory(dir={parent!r}) as d:
    asyncio.run(main(Path(d), {rounds}))
"""


def count(
    python: str, src: str | None, rounds: int, parent: str, tmp: str, callers: int
) -> int:
    """Total instructions of one driver process (callgrind's "Collected")."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={tmp}/cg.out",
            python,
            "-c",
            DRIVER.format(parent=parent, rounds=rounds, callers=callers),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise RuntimeError(proc.stderr[-2000:])
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="*", help="other src directories to measure")
    ap.add_argument("--n1", type=int, default=20)
    ap.add_argument("--n2", type=int, default=60)
    ap.add_argument("--dir", default="/dev/shm", help="parent of the data dir")
    ap.add_argument("--callers", type=int, default=64)
    args = ap.parse_args()
    python = os.path.realpath(sys._base_executable)  # valgrind: no venv launcher
    extra = args.callers * 2 * (args.n2 - args.n1)
    with tempfile.TemporaryDirectory() as tmp:
        for src in [None, *args.src]:
            low = count(python, src, args.n1, args.dir, tmp, args.callers)
            high = count(python, src, args.n2, args.dir, tmp, args.callers)
            name = src or os.environ.get("PYTHONPATH", "(importable probo_engine)")
            print(f"{(high - low) / extra:>10,.0f} instructions/command  {name}")


if __name__ == "__main__":
    main()
