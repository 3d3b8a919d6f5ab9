"""Two servers over the same entries; the seed's protocol; the ASGI mount."""

from __future__ import annotations

import asyncio
import json
import random

from websockets.asyncio.client import connect
from wsutil import Primary, caught_up, run, running

from probo_engine import views
from probo_engine.adapters.entries import MemoryEntryLog
from probo_engine.adapters.websocket import Feed, WsConfig, WsServer
from probo_engine.adapters.websocket.client import FeedClient

SUBS = [
    ("book", {"market": "RAIN", "view": "yes", "depth": 10}),
    ("book", {"market": "RAIN", "view": "no", "depth": 2}),
    ("trades", {"market": "RAIN"}),
    ("ticker", {"market": 0}),
]
SKIP = {"heartbeat", "hello", "pong"}


def _stream(client: FeedClient) -> list[str]:
    return [f for f in client.frames if json.loads(f).get("type") not in SKIP]


def test_two_servers_on_the_same_entries_send_identical_frames():
    async def main() -> None:
        log = MemoryEntryLog()
        p = Primary(log)
        p.setup()
        rng = random.Random(21)
        p.random_orders(rng, 200)
        async with running(log) as (s1, u1), running(log) as (s2, u2):
            await caught_up(s1, log)
            await caught_up(s2, log)
            async with (
                FeedClient(u1 + "/v1/ws", record=True) as c1,
                FeedClient(u2 + "/v1/ws", record=True) as c2,
            ):
                for c in (c1, c2):
                    for channel, params in SUBS:
                        await c.subscribe(channel, **params)
                for _ in range(20):
                    p.random_orders(rng, 100)
                    await caught_up(s1, log)
                    await caught_up(s2, log)
                for c, s in ((c1, s1), (c2, s2)):
                    await c.wait(
                        lambda c=c, s=s: max(c.seqs.values()) == s.feed.event_seq, 20
                    )
                f1, f2 = _stream(c1), _stream(c2)
                assert len(f1) > 500
                assert f1 == f2
                # a late subscriber gets the same snapshot from either server
                async with (
                    FeedClient(u1 + "/v1/ws", record=True) as d1,
                    FeedClient(u2 + "/v1/ws", record=True) as d2,
                ):
                    for d in (d1, d2):
                        for channel, params in SUBS:
                            await d.subscribe(channel, **params)
                    assert _stream(d1) == _stream(d2)

    run(main)


def test_seed_protocol_without_user_ids():
    async def main() -> None:
        p = Primary()
        mid = p.setup()
        p.random_orders(random.Random(2), 100)
        async with running(p.log) as (server, url):
            await caught_up(server, p.log)
            conn = await connect(url + "/")
            assert await conn.recv() == "connected"
            await conn.send(json.dumps({"type": "hello-there"}))  # ignored
            await conn.send(
                json.dumps(
                    {"type": "subscribe", "params": {"userId": "x", "eventId": "RAIN"}}
                )
            )
            first = json.loads(await asyncio.wait_for(conn.recv(), 10))
            assert first["EventId"] == "RAIN"
            want = views.orderbook(p.engine, mid, 1)
            for outcome in ("yes", "no"):
                got = first["EventData"][outcome]
                assert list(got) == list(want[outcome])
                for price, lvl in got.items():
                    assert lvl["total"] == want[outcome][price]["total"]
                    assert [o["quantity"] for o in lvl["orders"]] == [
                        o["quantity"] for o in want[outcome][price]["orders"]
                    ]
                    for o in lvl["orders"]:
                        assert set(o) == {"quantity", "type"}  # no userId
                        assert o["type"] in ("buy", "sell")
            p.random_orders(random.Random(3), 20)
            update = json.loads(await asyncio.wait_for(conn.recv(), 10))
            assert update["EventId"] == "RAIN" and set(update["EventData"]) == {
                "yes",
                "no",
            }
            assert "userId" not in json.dumps(update) and '"user"' not in json.dumps(
                update
            )
            await conn.send('{"type":"leave"}')
            await caught_up(server, p.log)
            await asyncio.sleep(0.2)
            while True:  # drain what was sent before the leave
                try:
                    await asyncio.wait_for(conn.recv(), 0.3)
                except TimeoutError:
                    break
            p.random_orders(random.Random(4), 20)
            await caught_up(server, p.log)
            try:
                extra = await asyncio.wait_for(conn.recv(), 0.5)
            except TimeoutError:
                extra = None
            assert extra is None or json.loads(extra)["type"] == "heartbeat"
            await conn.close()

    run(main)


def test_asgi_endpoint_under_uvicorn():
    uvicorn = __import__("pytest").importorskip("uvicorn")
    starlette_routing = __import__("pytest").importorskip("starlette.routing")
    from starlette.applications import Starlette

    async def main() -> None:
        p = Primary()
        mid = p.setup()
        feed = Feed(p.log)
        server = WsServer(feed, WsConfig())
        app = Starlette(
            routes=[
                starlette_routing.WebSocketRoute("/v1/ws", server.asgi_app()),
                starlette_routing.WebSocketRoute("/seed", server.asgi_app(seed=True)),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        web = uvicorn.Server(config)
        async with server.background(), asyncio.TaskGroup() as tg:
            web_task = tg.create_task(web.serve())
            while not web.started:
                await asyncio.sleep(0.01)
            port = web.servers[0].sockets[0].getsockname()[1]
            async with FeedClient(f"ws://127.0.0.1:{port}/v1/ws") as c:
                ch = await c.subscribe("book", market="RAIN", view="no", depth=20)
                p.random_orders(random.Random(8), 1000)
                await c.wait(lambda: c.seqs[ch] == feed._book_seq.get(mid), 30)
                d = p.engine.book(mid, 1, 20)
                assert c.book(ch) == (
                    [tuple(x) for x in d.bids],
                    [tuple(x) for x in d.asks],
                )
                assert c.gaps == 0 and c.bad_checksums == 0
            conn = await connect(f"ws://127.0.0.1:{port}/seed")
            assert await conn.recv() == "connected"
            await conn.close()
            web.should_exit = True
            await web_task

    run(main)
