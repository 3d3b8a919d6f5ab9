"""A gateway process for the Redis kill tests.

    python gateway_child.py URL PREFIX SEED N G K CLIENTS OUT

Sends the commands ``i`` of ``random_commands(SEED, N)`` with ``i % G == K``
(key ``k<base+i>``, ``base = len(setup_commands())``) from CLIENTS concurrent
tasks through a RedisBus, retrying with the same key on UnavailableError
(Redis or the engine down), and writes ``i seq result duplicate`` lines to OUT
when done.  Exits 3 if it gives up (5 minutes).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from adapters.bus.busstream import random_commands, setup_commands
from probo_engine.adapters.redis import RedisBus
from probo_engine.errors import UnavailableError


async def main(url, prefix, seed, n, g, k, clients, out) -> int:
    cmds = random_commands(seed, n)
    base = len(setup_commands())
    mine = [i for i in range(n) if i % g == k][::-1]
    acks: list[str] = []
    deadline = time.monotonic() + 300
    rng = random.Random(k)

    async with RedisBus(redis_url=url, prefix=prefix) as bus:

        async def client() -> None:
            while mine:
                i = mine.pop()
                while True:
                    if time.monotonic() > deadline:
                        raise SystemExit(3)
                    try:
                        r = await bus.submit(
                            cmds[i], f"k{base + i}".encode(), timeout=5
                        )
                        break
                    except UnavailableError:
                        await asyncio.sleep(rng.uniform(0.02, 0.1))
                acks.append(f"{i} {r.seq} {r.result} {int(r.duplicate)}")

        async with asyncio.TaskGroup() as tg:
            for _ in range(clients):
                tg.create_task(client())
    with open(out, "w") as f:
        f.write("\n".join(acks) + "\n")
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(asyncio.run(main(a[0], a[1], *map(int, a[2:7]), a[7])))
