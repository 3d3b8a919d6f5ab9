"""Two WebSocket servers fed from one Redis event stream (distributed mode)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random

import pytest

from childenv import child_env
from probo_engine.adapters.websocket import Feed, WsConfig, WsServer
from probo_engine.adapters.websocket.client import FeedClient, FeedClientError
from probo_engine.commands import CreateMarket, CreateUser, Deposit, Mint, Place
from probo_engine.types import Outcome

from .wsutil import run

redis_mod = pytest.importorskip("probo_engine.adapters.redis")
from bus.redis_util import delete_prefix, engine_task  # noqa: E402 (after the skip)

pytestmark = pytest.mark.redis

SKIP = {"heartbeat", "hello", "pong"}


@contextlib.asynccontextmanager
async def _ws_server(url: str, prefix: str):
    async with redis_mod.RedisEntrySource(url, prefix=prefix) as src:
        server = WsServer(Feed(src), WsConfig(port=0))
        async with server.serve() as port:
            yield server, f"ws://127.0.0.1:{port}/v1/ws"


@pytest.mark.slow  # two server processes
def test_two_servers_behind_redis_deliver_identical_sequences(
    redis_url, redis_prefix, tmp_path
):
    config = redis_mod.EngineConfig(
        redis_url=redis_url,
        prefix=redis_prefix,
        data_dir=str(tmp_path / "engine"),
        lease_ms=1_000,
        block_ms=20,
    )

    async def main() -> None:
        async with (
            engine_task(config) as eng,
            redis_mod.RedisBus(redis_url=redis_url, prefix=redis_prefix) as bus,
        ):
            n = 0

            async def do(cmd):
                nonlocal n
                n += 1
                return await bus.submit(cmd, f"k{n}".encode(), timeout=30)

            await do(CreateMarket(symbol="RAIN"))
            for i in range(4):
                await do(CreateUser(name=f"u{i}"))
                await do(Deposit(i, 10**9))
                await do(Mint(i, 0, 10**5))
            async with (
                _ws_server(redis_url, redis_prefix) as (s1, u1),
                _ws_server(redis_url, redis_prefix) as (s2, u2),
                FeedClient(u1, record=True) as c1,
                FeedClient(u2, record=True) as c2,
            ):
                for s in (s1, s2):  # the market exists once a feed caught up
                    async with asyncio.timeout(30):
                        while s.feed.entry_seq < eng.runner.seq:
                            await asyncio.sleep(0.02)
                for c in (c1, c2):
                    await c.subscribe("book", market="RAIN", view="no", depth=10)
                    await c.subscribe("trades", market="RAIN")
                rng = random.Random(9)
                for _ in range(400):
                    await do(
                        Place(
                            rng.randrange(4),
                            0,
                            rng.randrange(2),
                            rng.randrange(2),
                            50 * rng.randint(1, 19),
                            rng.randint(1, 20),
                        )
                    )
                last = eng.runner.seq
                for s in (s1, s2):
                    async with asyncio.timeout(30):
                        while s.feed.entry_seq < last:
                            await asyncio.sleep(0.02)
                for c, s in ((c1, s1), (c2, s2)):
                    await c.wait(
                        lambda c=c, s=s: c.seqs["book:0:no:10"] == s.feed._book_seq[0],
                        20,
                    )
                f1 = [f for f in c1.frames if json.loads(f)["type"] not in SKIP]
                f2 = [f for f in c2.frames if json.loads(f)["type"] not in SKIP]
                assert len(f1) > 300 and f1 == f2
                d = eng.runner.engine.book(0, Outcome.NO, 10)
                want = ([tuple(x) for x in d.bids], [tuple(x) for x in d.asks])
                assert c1.book("book:0:no:10") == want == c2.book("book:0:no:10")

    try:
        run(main)
    finally:
        asyncio.run(delete_prefix(redis_url, redis_prefix))


def test_standalone_server_process_over_redis(redis_url, redis_prefix, tmp_path):
    """``python -m probo_engine.adapters.websocket`` (run_ws) in its own process."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = redis_mod.EngineConfig(
        redis_url=redis_url,
        prefix=redis_prefix,
        data_dir=str(tmp_path / "engine"),
        lease_ms=1_000,
        block_ms=20,
    )
    errlog = open(tmp_path / "ws.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "probo_engine.adapters.websocket",
            "--redis",
            redis_url,
            "--prefix",
            redis_prefix,
            "--port",
            str(port),
        ],
        env=child_env(),
        stderr=errlog,
    )

    async def main() -> None:
        async with (
            engine_task(config) as eng,
            redis_mod.RedisBus(redis_url=redis_url, prefix=redis_prefix) as bus,
        ):
            await bus.submit(CreateMarket(symbol="RAIN"), b"m", timeout=30)
            for i in range(2):
                await bus.submit(CreateUser(name=f"u{i}"), f"u{i}".encode(), timeout=30)
                await bus.submit(Deposit(i, 10**6), f"d{i}".encode(), timeout=30)
            url = f"ws://127.0.0.1:{port}/v1/ws"
            async with asyncio.timeout(30):
                while True:  # the process is up and its feed has the market
                    try:
                        async with FeedClient(url, reconnect=False) as c:
                            ch = await c.subscribe("book", market="RAIN", depth=5)
                            break
                    except (OSError, TimeoutError, FeedClientError):
                        await asyncio.sleep(0.2)
            async with FeedClient(url) as c:
                ch = await c.subscribe("book", market="RAIN", depth=5)
                await bus.submit(Place(0, 0, 0, 0, 600, 7), b"p1", timeout=30)
                await c.wait(lambda: c.book(ch) == ([(600, 7, 1)], []), 20)
                del eng

    try:
        run(main)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
            errlog.close()
            assert code == 0, (tmp_path / "ws.log").read_text()
        finally:
            proc.kill()
            errlog.close()
            asyncio.run(delete_prefix(redis_url, redis_prefix))
