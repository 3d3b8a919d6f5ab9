"""Helpers of the WebSocket tests: a primary engine that writes entries, and
servers on free ports fed from a :class:`MemoryEntryLog`.

Every test runs real ``websockets`` clients over real sockets against a real
server on 127.0.0.1; each one is a plain function that calls
``asyncio.run`` with a global timeout, so nothing can hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("websockets")

from probo_engine import Engine, commands  # noqa: E402
from probo_engine.adapters.entries import Entry, MemoryEntryLog  # noqa: E402
from probo_engine.adapters.websocket import Feed, WsConfig, WsServer  # noqa: E402
from probo_engine.adapters.websocket.server import Authenticator  # noqa: E402


class Primary:
    """Stands in for the engine runner: applies commands, appends entries."""

    def __init__(self, log: MemoryEntryLog | None = None) -> None:
        self.engine = Engine()
        self.log = log if log is not None else MemoryEntryLog()
        self.seq = 0

    def do(self, cmd: Any) -> Any:
        result = commands.apply(self.engine, cmd)
        self.seq += 1
        self.log.append(
            Entry(
                self.seq,
                b"",
                commands.encode(cmd),
                int(result),
                self.engine.events_bytes(),
            )
        )
        return result

    def setup(self, users: int = 6, symbol: str = "RAIN", cash: int = 10**9) -> int:
        mid = self.do(commands.CreateMarket(symbol=symbol))
        for i in range(users):
            uid = self.do(commands.CreateUser(name=f"u{i}"))
            self.do(commands.Deposit(uid, cash))
            self.do(commands.Mint(uid, mid, 100_000))
        return int(mid)

    def random_orders(
        self, rng: random.Random, n: int, mid: int = 0, users: int = 6
    ) -> None:
        """``n`` random commands: limit orders of every kind, cancels, IOCs."""
        for _ in range(n):
            uid = rng.randrange(users)
            r = rng.random()
            live = self.engine.user_orders(uid)
            if r < 0.2 and live:
                oid = rng.choice(live)[1]
                self.do(commands.Cancel(uid, oid))
            elif r < 0.25 and live:
                o = rng.choice(live)
                self.do(commands.Amend(uid, o[1], o[5], max(1, o[6] // 2)))
            else:
                tif = 1 if rng.random() < 0.1 else 0
                self.do(
                    commands.Place(
                        uid,
                        mid,
                        rng.randrange(2),
                        rng.randrange(2),
                        50 * rng.randint(1, 19),
                        rng.randint(1, 50),
                        tif,
                    )
                )


@contextlib.asynccontextmanager
async def running(
    log: MemoryEntryLog,
    *,
    authenticate: Authenticator | None = None,
    **cfg: Any,
) -> AsyncIterator[tuple[WsServer, str]]:
    """A server on a free port over ``log``; yields it and its base URL."""
    feed_kw = {
        k: cfg[k]
        for k in ("max_buffer", "resume_buffer", "slow_policy", "slow_timeout")
        if k in cfg
    }
    feed = Feed(log, **feed_kw)
    config = WsConfig(port=0, **cfg)
    server = WsServer(feed, config, authenticate)
    async with server.serve() as port:
        yield server, f"ws://127.0.0.1:{port}"


def run(main: Callable[[], Awaitable[None]], timeout: float = 120.0) -> None:
    """``asyncio.run`` with a global timeout."""

    async def bounded() -> None:
        await asyncio.wait_for(main(), timeout)

    asyncio.run(bounded())


async def caught_up(server: WsServer, log: MemoryEntryLog, timeout: float = 30) -> None:
    """Wait until the server's feed has applied every entry of ``log``."""
    async with asyncio.timeout(timeout):
        while server.feed.entry_seq < log.head():
            await asyncio.sleep(0.01)
