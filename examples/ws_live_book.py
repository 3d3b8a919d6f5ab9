"""Watch a market live over WebSocket: book (NO view), trades and your fills.

Runs everything in one process: an engine whose entries feed a WebSocket
server on a free port, a bot that trades, and a :class:`FeedClient` that
keeps the book from snapshot + deltas (checksum-verified) and prints it.

    pip install 'probo-engine[ws]'
    python examples/ws_live_book.py --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import random

from probo_engine import Engine, commands
from probo_engine.adapters.entries import Entry, MemoryEntryLog
from probo_engine.adapters.websocket import Feed, TokenAuth, WsConfig, WsServer
from probo_engine.adapters.websocket.client import FeedClient


class Exchange:
    """A stand-in for the engine runner: apply a command, append its entry."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.log = MemoryEntryLog()

    def do(self, cmd: commands.CommandRecord) -> int:
        result = int(commands.apply(self.engine, cmd))
        seq = self.log.head() + 1
        entry = Entry(
            seq, b"", commands.encode(cmd), result, self.engine.events_bytes()
        )
        self.log.append(entry)
        return result


async def trade(ex: Exchange, seconds: float) -> None:
    rng = random.Random(1)
    for _ in range(int(seconds * 20)):
        uid = rng.randrange(3)
        side, outcome = rng.randrange(2), rng.randrange(2)
        price = 50 * rng.randint(8, 12)
        ex.do(commands.Place(uid, 0, side, outcome, price, rng.randint(1, 10)))
        await asyncio.sleep(0.05)


async def main(seconds: float) -> None:
    ex = Exchange()
    ex.do(commands.CreateMarket(symbol="RAIN-TOMORROW"))
    for name in ("asha", "bilal", "chen"):
        uid = ex.do(commands.CreateUser(name=name))
        ex.do(commands.Deposit(uid, 1_000_000))
        ex.do(commands.Mint(uid, 0, 1_000))
    auth = TokenAuth({"asha-token": "asha"})
    server = WsServer(Feed(ex.log), WsConfig(port=0), auth)
    async with server.serve() as port:
        url = f"ws://127.0.0.1:{port}/v1/ws"
        async with FeedClient(url, headers={"Authorization": "Bearer asha-token"}) as c:
            book = await c.subscribe("book", market="RAIN-TOMORROW", view="no", depth=5)
            trades = await c.subscribe("trades", market="RAIN-TOMORROW")
            await c.subscribe("user")
            async with asyncio.TaskGroup() as tg:
                tg.create_task(trade(ex, seconds))
                for _ in range(int(seconds)):
                    await asyncio.sleep(1)
                    bids, asks = c.book(book)
                    print(
                        f"NO book @ seq {c.seqs[book]} (checksum ok: "
                        f"{c.books[book].verify()})"
                    )
                    print("   bids", bids)
                    print("   asks", asks)
            assert c.user is not None
            fills = [e for e in c.user["events"] if e["kind"] == "fill"]
            print(
                f"{len(c.trades[trades])} trades seen; asha's fills: {len(fills)}; "
                f"gaps {c.gaps}, resyncs {c.resyncs}"
            )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    asyncio.run(main(ap.parse_args().seconds))
