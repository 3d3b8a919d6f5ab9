"""Gaps, slow consumers and silent feeds: the client always ends exact."""

from __future__ import annotations

import random

from probo_engine.adapters.websocket.client import FeedClient
from probo_engine.types import Outcome

from .wsutil import Primary, caught_up, run, running


def _want(p, mid, view, depth):
    d = p.engine.book(mid, Outcome.YES if view == "yes" else Outcome.NO, depth)
    return [tuple(x) for x in d.bids], [tuple(x) for x in d.asks]


def test_injected_gap_is_detected_and_resynced_to_the_right_state():
    dropped = []

    def drop(msg):  # lose the 40th and 41st book updates and one trades update
        if msg.get("type") in ("book", "trades"):
            drop.n += 1
            if drop.n in (40, 41, 90):
                dropped.append(msg["seq"])
                return True
        return False

    drop.n = 0

    async def main() -> None:
        p = Primary()
        mid = p.setup()
        rng = random.Random(7)
        async with (
            running(p.log) as (server, url),
            FeedClient(url + "/v1/ws", drop=drop) as c,
        ):
            b = await c.subscribe("book", market="RAIN", view="no", depth=10)
            t = await c.subscribe("trades", market="RAIN")
            for _ in range(20):
                p.random_orders(rng, 100)
                await caught_up(server, p.log)
            feed = server.feed
            await c.wait(
                lambda: (
                    c.seqs.get(b) == feed._book_seq[mid]
                    and c.seqs.get(t) == feed._trade_seq[mid]
                ),
                30,
            )
            assert len(dropped) == 3
            assert c.gaps >= 2 and c.resyncs >= 2 and c.snapshots >= 4
            assert c.bad_checksums == 0
            assert c.book(b) == _want(p, mid, "no", 10)

    run(main)


def _slow_test(policy: str) -> None:
    async def main() -> None:
        p = Primary()
        mid = p.setup()
        rng = random.Random(11)
        cfg = dict(
            max_buffer=32 * 1024,
            resume_buffer=4 * 1024,
            send_buffer=4096,
            slow_policy=policy,
            slow_timeout=60.0,
        )
        async with (
            running(p.log, **cfg) as (server, url),
            FeedClient(url + "/v1/ws") as fast,
            FeedClient(url + "/v1/ws", rcvbuf=4096) as slow,
        ):
            chans = {}
            for c in (fast, slow):
                chans[c] = await c.subscribe(
                    "book", market="RAIN", view="yes", depth=100
                )
            slow.pause()
            feed = server.feed
            for _ in range(40):
                p.random_orders(rng, 100)
                await caught_up(server, p.log)
                # the fast client keeps up while the slow one is stuck
                await fast.wait(
                    lambda: fast.seqs[chans[fast]] == feed._book_seq[mid], 30
                )
            assert fast.gaps == 0 and fast.resyncs == 0
            assert fast.book(chans[fast]) == _want(p, mid, "yes", 100)
            if policy == "resync":
                behind = [s.sub for s in server.sessions if s.sub.dropped]
                assert len(behind) == 1 and behind[0].behind
            else:
                # the slow one was cut (its session ends once the socket does)
                assert sum(not s.sub.closed for s in server.sessions) == 1
            slow.resume()
            await slow.wait(
                lambda: (
                    chans[slow] in slow.seqs
                    and slow.seqs[chans[slow]] == feed._book_seq[mid]
                    and chans[slow] in slow.books
                ),
                30,
            )
            assert slow.book(chans[slow]) == _want(p, mid, "yes", 100)
            assert slow.bad_checksums == 0
            if policy == "resync":
                codes = [e["code"] for e in slow.errors]
                assert "slow_consumer" in codes and slow.connects == 1
                assert [s.sub.resyncs for s in server.sessions] in ([0, 1], [1, 0])
            else:
                assert slow.connects == 2 and slow.closed_code in (4008, 1006)

    run(main)


def test_slow_consumer_is_resynced_while_a_fast_one_keeps_up():
    _slow_test("resync")


def test_slow_consumer_is_cut_off_reconnects_and_resyncs():
    _slow_test("cut")


def test_a_silent_server_is_detected_by_the_client():
    """A server whose socket stays open but sends nothing (not even pongs)."""
    from websockets.asyncio.server import serve

    async def mute(conn) -> None:  # says hello, then never a word
        await conn.send('{"type":"hello","v":1,"heartbeat":0.2}')
        await conn.wait_closed()

    async def main() -> None:
        async with serve(mute, "127.0.0.1", 0, ping_interval=None) as srv:
            port = srv.sockets[0].getsockname()[1]
            url = f"ws://127.0.0.1:{port}/v1/ws"
            async with FeedClient(url, heartbeat=0.2, silence=0.6) as c:
                await c.wait(lambda: c.connects >= 2, 10)
                assert c.closed_code == 4000
            srv.close()

    run(main)
