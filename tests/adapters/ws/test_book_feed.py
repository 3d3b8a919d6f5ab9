"""Books rebuilt by real clients from snapshot + deltas equal the engine's."""

from __future__ import annotations

import random

import pytest

from probo_engine.adapters.websocket.client import FeedClient
from probo_engine.types import EventKind, Outcome

from .wsutil import Primary, caught_up, run, running

CHANNELS = [("yes", 100), ("no", 100), ("yes", 5), ("no", 3)]


def _levels(depth):
    return [tuple(x) for x in depth.bids], [tuple(x) for x in depth.asks]


@pytest.mark.slow  # 10,000 orders
def test_book_from_snapshot_and_deltas_after_10000_orders_in_both_views():
    async def main() -> None:
        p = Primary()
        mid = p.setup()
        rng = random.Random(14)
        p.random_orders(rng, 300)  # a book exists before anyone subscribes
        fills: list[int] = []
        async with (
            running(p.log) as (server, url),
            FeedClient(url + "/v1/ws") as c,
        ):
            chans = [
                await c.subscribe("book", market="RAIN", view=v, depth=d)
                for v, d in CHANNELS
            ]
            tr = await c.subscribe("trades", market=mid)
            tk = await c.subscribe("ticker", market="RAIN")
            start = p.engine.totals()
            for _ in range(100):  # 10,000 orders in chunks, feed running
                before = p.seq
                p.random_orders(rng, 100)
                for e in p.log._entries[before:]:
                    fills += [
                        ev.seq for ev in e.iter_events() if ev.kind == EventKind.FILL
                    ]
                await caught_up(server, p.log)
            feed = server.feed
            await c.wait(
                lambda: (
                    all(c.seqs[ch] == feed._book_seq[mid] for ch in chans)
                    and c.seqs[tr] == feed._trade_seq[mid]
                    and c.seqs[tk] == feed._ticker_seq[mid]
                ),
                30,
            )
            assert p.engine.totals()[3] > 0 and start != p.engine.totals()
            for ch, (view, depth) in zip(chans, CHANNELS, strict=True):
                outcome = Outcome.YES if view == "yes" else Outcome.NO
                want = _levels(p.engine.book(mid, outcome, depth))
                assert c.book(ch) == want, ch
                assert c.books[ch].verify()
            assert c.gaps == 0 and c.bad_checksums == 0 and c.resyncs == 0
            assert c.updates > 1000
            # trades: every fill, in seq order (the client keeps 1000)
            seqs = [t["seq"] for t in c.trades[tr]]
            assert len(fills) > 1000 and seqs == fills[-1000:]
            bid, bid_qty, ask, ask_qty = p.engine.top(mid)
            t = c.tickers[tk]
            assert (t["bid"], t["bid_qty"], t["ask"], t["ask_qty"]) == (
                bid,
                bid_qty,
                ask,
                ask_qty,
            )
            assert t["last"] == p.engine.last_price(mid)

    run(main)


def test_no_view_mirrors_yes_view_exactly():
    async def main() -> None:
        p = Primary()
        mid = p.setup()
        p.random_orders(random.Random(3), 500)
        async with running(p.log) as (server, url):
            await caught_up(server, p.log)
            async with FeedClient(url + "/v1/ws") as c:
                y = await c.subscribe("book", market=mid, view="yes", depth=100)
                n = await c.subscribe("book", market=mid, view="no", depth=100)
                yb, ya = c.book(y)
                nb, na = c.book(n)
                assert nb == [(1000 - q, s, k) for q, s, k in ya]
                assert na == [(1000 - q, s, k) for q, s, k in yb]
                assert yb and ya

    run(main)
