"""The process the acknowledgement kill test kills.

Usage: ``async_child.py DATA_DIR MODE CALLERS``

MODE ``async``: CALLERS coroutines each deposit 1 into their own user, again
and again, with ``await db.execute_async(...)``; ``async-loop`` the same with
``sync_in_loop=True``.  MODE ``durable``: one loop of
``db.execute_durable(...)``.  MODE ``execute`` (the unsafe control): plain
``db.execute(...)`` under group commit.  After every call returns, the child
prints ``<user> <deposits acknowledged to that user>``: the parent treats each
line as an acknowledgement given to a client, kills the child with SIGKILL at
a random moment, reopens the directory and checks that every acknowledged
deposit is there.
"""

from __future__ import annotations

import asyncio
import sys

from probo_engine.commands import CreateUser, Deposit
from probo_engine.journal import DurableEngine


def main(argv: list[str]) -> int:
    data_dir, mode, callers = argv[0], argv[1], int(argv[2])
    db = DurableEngine.open(
        data_dir, policy="group", group_records=256, sync_in_loop=mode == "async-loop"
    )
    while db.engine.totals()[1] < callers:
        db.execute_durable(CreateUser())  # type: ignore[arg-type]  # str name field
    counts = [db.engine.balance(u)[0] for u in range(callers)]
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    if mode.startswith("async"):

        async def caller(u: int) -> None:
            while True:
                await db.execute_async(Deposit(u, 1))
                counts[u] += 1
                out.write(f"{u} {counts[u]}\n")
                out.flush()

        async def run() -> None:
            async with asyncio.TaskGroup() as tg:
                for u in range(callers):
                    tg.create_task(caller(u))

        asyncio.run(run())
    else:
        call = db.execute_durable if mode == "durable" else db.execute
        u = 0
        while True:
            call(Deposit(u, 1))
            counts[u] += 1
            out.write(f"{u} {counts[u]}\n")
            out.flush()
            u = (u + 1) % callers
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
