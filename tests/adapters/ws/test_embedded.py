"""Embedded mode: the feed reads the InProcessBus's source (a LocalEntryLog)."""

from __future__ import annotations

import random

from probo_engine.adapters.locallog import open_bus
from probo_engine.adapters.websocket import Feed, TokenAuth, WsConfig, WsServer
from probo_engine.adapters.websocket.client import FeedClient
from probo_engine.commands import CreateMarket, CreateUser, Deposit, Place
from probo_engine.types import Outcome

from .wsutil import run


def test_feed_over_an_in_process_bus_on_a_local_entry_log(tmp_path):
    bus = open_bus(tmp_path / "data", snapshot_every=None)

    async def main() -> None:
        async with bus:
            n = 0

            async def do(cmd):
                nonlocal n
                n += 1
                return await bus.submit(cmd, f"k{n}".encode(), timeout=10)

            await do(CreateMarket(symbol="RAIN"))
            for i in range(3):
                await do(CreateUser(name=f"u{i}"))
                await do(Deposit(i, 10**8))
            server = WsServer(
                Feed(bus.source), WsConfig(port=0), TokenAuth({"t": "u1"})
            )
            async with server.serve() as port:
                url = f"ws://127.0.0.1:{port}/v1/ws"
                async with FeedClient(url, token="t") as c:
                    await c.wait(lambda: server.feed.entry_seq == n, 10)
                    ch = await c.subscribe("book", market="RAIN", view="no", depth=20)
                    await c.subscribe("user")
                    rng = random.Random(4)
                    for _ in range(300):
                        await do(
                            Place(
                                rng.randrange(3),
                                0,
                                0,
                                rng.randrange(2),
                                50 * rng.randint(1, 19),
                                rng.randint(1, 9),
                            )
                        )
                    eng = bus.runner.engine
                    await c.wait(lambda: server.feed.entry_seq == n, 20)
                    await c.wait(lambda: c.seqs[ch] == server.feed._book_seq[0], 20)
                    d = eng.book(0, Outcome.NO, 20)
                    assert c.book(ch) == (
                        [tuple(x) for x in d.bids],
                        [tuple(x) for x in d.asks],
                    )
                    assert server.feed.engine.state_hash() == eng.state_hash()
                    await c.wait(lambda: c.seqs["user"] == server.feed._user_seq[1], 20)
                    assert c.user is not None and c.user["events"]
        bus.log.close()

    run(main)
