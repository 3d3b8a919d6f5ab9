"""Limits and private channels: refused with codes, nothing leaks."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from wsutil import Primary, caught_up, run, running

from probo_engine.adapters.websocket import TokenAuth
from probo_engine.adapters.websocket.client import FeedClient, FeedClientError
from probo_engine.types import EventKind

AUTH = TokenAuth({"tok-a": "u0", "tok-b": "u1", "tok-c": 2})


async def _frames_until_closed(conn, limit: int = 1000) -> list[dict]:
    out = []
    try:
        for _ in range(limit):
            out.append(json.loads(await conn.recv()))
    except ConnectionClosed:
        pass
    return out


def test_too_many_connections_per_ip_and_per_key():
    async def main() -> None:
        p = Primary()
        p.setup()
        async with running(p.log, authenticate=AUTH, max_per_ip=3, max_per_key=2) as (
            server,
            url,
        ):
            hdr = {"Authorization": "Bearer tok-a"}
            conns = [
                await connect(url + "/v1/ws", additional_headers=hdr) for _ in range(2)
            ]
            # a third connection of the same user: refused, code 4429
            extra = await connect(url + "/v1/ws", additional_headers=hdr)
            frames = await _frames_until_closed(extra)
            assert frames[-1]["code"] == "too_many_connections"
            assert extra.close_code == 4429
            conns.append(await connect(url + "/v1/ws"))  # third from this IP: fine
            extra = await connect(url + "/v1/ws")  # fourth: refused
            frames = await _frames_until_closed(extra)
            assert frames[-1]["code"] == "too_many_connections"
            assert extra.close_code == 4429
            assert server.refused == 2 and len(server.sessions) == 3
            for c in conns:
                await c.close()

    run(main)


def test_too_many_subscriptions_oversized_frames_and_malformed_requests():
    async def main() -> None:
        p = Primary()
        p.setup()
        async with (
            running(p.log, max_subscriptions=3, max_frame=1024) as (_, url),
            FeedClient(url + "/v1/ws", reconnect=False) as c,
        ):
            chans = [
                await c.subscribe("book", market="RAIN", depth=d) for d in (1, 2, 3)
            ]
            with pytest.raises(FeedClientError) as err:
                await c.subscribe("book", market="RAIN", depth=4)
            assert err.value.code == "too_many_subscriptions"
            # subscribing again to a held channel is a resync, not a new one
            await c.subscribe("book", market="RAIN", depth=3)
            bad = [
                ("nope", "bad_request"),
                ("[1]", "bad_request"),
                ('{"op":"dance"}', "unknown_op"),
                (
                    '{"op":"subscribe","channel":"moon","market":0}',
                    "unknown_channel",
                ),
                (
                    '{"op":"subscribe","channel":"book","market":"NOPE"}',
                    "unknown_market",
                ),
                (
                    '{"op":"subscribe","channel":"book","market":0,"depth":1.0}',
                    "bad_request",
                ),
                (
                    '{"op":"subscribe","channel":"book","market":0,"depth":true}',
                    "bad_request",
                ),
                (
                    '{"op":"subscribe","channel":"book","market":0,"depth":101}',
                    "bad_request",
                ),
                (
                    '{"op":"subscribe","channel":"book","market":0,"view":"maybe"}',
                    "bad_request",
                ),
                ('{"op":"subscribe","channel":"book","market":-1}', "bad_request"),
                (
                    '{"op":"unsubscribe","channel":"ticker","market":0}',
                    "not_subscribed",
                ),
                ('{"op":"subscribe","channel":"user"}', "unauthenticated"),
                ('{"op":"ping","id":"x"}', "bad_request"),
            ]
            for text, _ in bad:
                await c.send_raw(text)
            await c.wait(lambda: len(c.errors) >= len(bad) + 1, 10)
            assert [e["code"] for e in c.errors[1:]] == [code for _, code in bad]
            # still connected and served after all of that
            await c.unsubscribe(chans[0])
            await c.subscribe("ticker", market="RAIN")
            await c.send_raw("x" * 2000)  # over max_frame: closed with 1009
            await c.wait(lambda: c.closed_code is not None, 10)
            assert c.closed_code == 1009

    run(main)


def test_a_flood_is_rate_limited_then_closed():
    async def main() -> None:
        p = Primary()
        p.setup()
        async with running(p.log, rate=5.0, burst=5, flood_close=10) as (_, url):
            conn = await connect(url + "/v1/ws")
            for _ in range(60):
                try:
                    await conn.send('{"op":"ping"}')
                except ConnectionClosed:
                    break
            frames = await _frames_until_closed(conn)
            codes = [f.get("code") for f in frames if f["type"] == "error"]
            assert codes.count("rate_limited") == 10
            assert sum(f["type"] == "pong" for f in frames) >= 5
            assert conn.close_code == 4029

    run(main)


def test_requests_within_the_rate_are_all_served():
    async def main() -> None:
        p = Primary()
        p.setup()
        async with running(p.log, rate=50.0, burst=10) as (_, url):
            conn = await connect(url + "/v1/ws")
            await conn.recv()  # hello
            for i in range(60):  # 20 a second for 3 s: more than the burst
                await conn.send(json.dumps({"op": "ping", "id": i}))
                reply = json.loads(await asyncio.wait_for(conn.recv(), 10))
                assert reply == {"type": "pong", "id": i, "seq": reply["seq"]}
                await asyncio.sleep(0.05)
            await conn.close()

    run(main)


def test_idle_client_is_closed():
    async def main() -> None:
        p = Primary()
        p.setup()
        async with running(p.log, heartbeat=0.2, idle_timeout=0.5) as (_, url):
            conn = await connect(url + "/v1/ws")
            frames = await _frames_until_closed(conn)
            assert any(f["type"] == "heartbeat" for f in frames)
            assert frames[-1]["code"] == "idle" and conn.close_code == 4000

    run(main)


def test_private_channel_only_for_its_authenticated_owner():
    async def main() -> None:
        p = Primary()
        p.setup()
        owner: dict[int, int] = {}  # oid -> uid
        async with running(p.log, authenticate=AUTH) as (server, url):
            ws = url + "/v1/ws"
            async with (
                FeedClient(
                    ws, headers={"Authorization": "Bearer tok-a"}, record=True
                ) as a,
                FeedClient(ws, token="tok-b", record=True) as b,
                FeedClient(ws, record=True) as anon,
                FeedClient(
                    ws, headers={"Authorization": "Bearer forged"}, record=True
                ) as x,
            ):
                await a.subscribe("user")
                await b.subscribe("user", user="u1")
                for who, kw in (
                    (anon, {}),
                    (x, {}),
                    (b, {"user": "u0"}),
                    (b, {"user": 0}),
                ):
                    with pytest.raises(FeedClientError) as err:
                        await who.subscribe("user", **kw)
                    assert err.value.code in ("unauthenticated", "forbidden")
                with pytest.raises(FeedClientError) as err:
                    await x.request({"op": "auth", "token": "nope"})
                assert err.value.code == "auth_failed"
                before = p.seq
                p.random_orders(random.Random(5), 600)
                fills = {0: 0, 1: 0}
                for e in p.log._entries:
                    for ev in e.iter_events():
                        if ev.kind == EventKind.ACCEPTED:
                            owner[ev.oid] = ev.user
                        elif ev.kind == EventKind.FILL and e.seq > before:
                            for u in (ev.user, ev.user2):
                                if u in fills:
                                    fills[u] += 1
                await caught_up(server, p.log)
                feed = server.feed
                await a.wait(lambda: a.seqs["user"] == feed._user_seq[0], 20)
                await b.wait(lambda: b.seqs["user"] == feed._user_seq[1], 20)
                for client, uid in ((a, 0), (b, 1)):
                    events = client.user["events"]
                    assert len(events) > 50
                    for ev in events:  # every order event is one of its own
                        if "oid" in ev:
                            assert owner[ev["oid"]] == uid, ev
                    got = sum(ev["kind"] == "fill" for ev in events)
                    assert got == fills[uid] > 0  # and all of its fills
                    snaps = [json.loads(f) for f in client.frames]
                    assert [
                        m["user"] for m in snaps if m.get("type") == "snapshot"
                    ] == [uid]
                for client in (anon, x):
                    kinds = {json.loads(f).get("type") for f in client.frames}
                    assert "user" not in kinds and "snapshot" not in kinds

    run(main)
