"""Queries on both stores: a worked example with known answers, and past
order books compared with the engine's own books at many points."""

from __future__ import annotations

import asyncio
import random

import pytest
from history_streams import Driver, drive

from probo_engine import commands as C
from probo_engine.adapters.entries import MemoryEntryLog
from probo_engine.adapters.history import Archiver, open_store
from probo_engine.adapters.history import queries as Q

S = 1_000_000_000  # ns


async def _archived(store_url: str, d: Driver):  # type: ignore[no-untyped-def]
    log = MemoryEntryLog()
    for e in d.entries:
        log.append(e)
    store = await open_store(store_url)
    await Archiver(store, log, batch_entries=7).run(until=log.head())
    return store


def _example() -> tuple[Driver, int]:
    d = Driver()
    d.apply(C.CreateMarket(symbol="RAIN", ts=0))
    asha = d.apply(C.CreateUser(name="asha"))
    bilal = d.apply(C.CreateUser(name="bilal"))
    d.apply(C.Deposit(asha, 10_000, 0))
    d.apply(C.Deposit(bilal, 10_000, 0))
    oid = d.apply(C.Place(asha, 0, 0, 0, 600, 10, ts=1 * S))  # buy YES @ 600 x10
    d.apply(C.Place(bilal, 0, 0, 1, 400, 4, ts=2 * S))  # buy NO @ 400: mint 4
    d.apply(C.Place(bilal, 0, 0, 1, 450, 3, ts=61 * S))  # buy NO @ 450: 3 @ 600
    d.apply(C.Cancel(asha, oid, 62 * S))
    return d, oid


def test_worked_example(store_url):
    d, oid = _example()
    asha, bilal = 0, 1

    async def main() -> None:
        store = await _archived(store_url, d)
        try:
            trades = await Q.trades(store, 0)
            assert [(t.yes_price, t.qty, t.kind) for t in trades] == [
                (600, 4, 1),
                (600, 3, 1),
            ]
            assert trades[0].maker_user == asha and trades[0].taker_user == bilal
            assert trades[0].taker_price == 400 and trades[0].maker_price == 600
            assert [t.qty for t in await Q.trades(store, 0, start_ts=60 * S)] == [3]
            assert [t.qty for t in await Q.trades(store, 0, end_ts=60 * S)] == [4]
            assert await Q.trades(store, 0, after_seq=trades[1].seq) == []
            assert await Q.trades(store, 1) == []

            candles = await Q.candles(store, 0, 60 * S)
            assert candles == [
                Q.Candle(0, 600, 600, 600, 600, 4, 1),
                Q.Candle(60 * S, 600, 600, 600, 600, 3, 1),
            ]
            no = await Q.candles(store, 0, 60 * S, outcome=1)
            assert [(c.open, c.close, c.volume) for c in no] == [
                (400, 400, 4),
                (400, 400, 3),
            ]

            (order,) = await Q.user_orders(store, asha)
            assert (order.oid, order.qty, order.filled, order.remaining) == (
                oid,
                10,
                7,
                0,
            )
            assert order.status == "canceled" and order.price == 600
            assert [o.status for o in await Q.user_orders(store, bilal)] == [
                "filled",
                "filled",
            ]
            hist = await Q.order_history(store, asha, oid)
            assert [(h.kind, h.qty, h.remaining) for h in hist] == [
                ("accepted", 10, 10),
                ("fill", 4, 6),
                ("fill", 3, 3),
                ("canceled", 3, 0),
            ]
            assert await Q.order_history(store, bilal, oid) == []  # not bilal's

            fills = await Q.user_fills(store, bilal)
            assert [(f.role, f.outcome, f.price, f.qty) for f in fills] == [
                ("taker", 1, 400, 4),
                ("taker", 1, 400, 3),
            ]
            assert [f.role for f in await Q.user_fills(store, asha)] == ["maker"] * 2
            assert await Q.user_fills(store, asha, market=1) == []

            cash = await Q.balance_history(store, asha, market=-1)
            assert [(b.available, b.locked) for b in cash] == [
                (10_000, 0),
                (4_000, 6_000),
                (4_000, 3_600),
                (4_000, 1_800),
                (5_800, 0),
            ]
            shares = await Q.balance_history(store, asha, market=0)
            assert [(b.asset, b.available) for b in shares] == [(1, 4), (1, 7)]
            later = await Q.balance_history(store, asha, after_seq=cash[2].seq)
            assert [(b.available, b.locked) for b in later if b.asset == 0] == [
                (4_000, 1_800),
                (5_800, 0),
            ]

            book = await Q.book_at(store, 0, ts=61 * S)
            assert [(o.oid, o.qty, o.yes_price) for o in book.orders] == [(oid, 3, 600)]
            assert book.depth() == ([(600, 3, 1)], [])
            assert (await Q.book_at(store, 0, ts=62 * S)).orders == []
            assert (await Q.book_at(store, 0, ts=0)).orders == []

            (m,) = await Q.markets(store)
            assert (m.symbol, m.payout, m.tick, m.status) == ("RAIN", 1000, 50, 0)
            assert [e.status for e in await Q.market_history(store, 0)] == [0]
        finally:
            await store.close()

    asyncio.run(main())


def test_user_is_required_and_arguments_are_checked(store_url):
    d, _ = _example()

    async def main() -> None:
        store = await _archived(store_url, d)
        try:
            for fn in (Q.user_orders, Q.user_fills, Q.balance_history):
                with pytest.raises(TypeError, match="user"):
                    await fn(store, None)  # type: ignore[arg-type]
                with pytest.raises(TypeError, match="user"):
                    await fn(store, "0")  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await Q.user_orders(store)  # type: ignore[call-arg]
            with pytest.raises(TypeError, match="exactly one"):
                await Q.book_at(store, 0)
            with pytest.raises(TypeError, match="exactly one"):
                await Q.book_at(store, 0, seq=1, ts=1)
            with pytest.raises(ValueError, match="not archived"):
                await Q.book_at(store, 0, seq=10**6)
            with pytest.raises(ValueError, match="interval"):
                await Q.candles(store, 0, 0)
            with pytest.raises(ValueError, match="limit"):
                await Q.trades(store, 0, limit=-1)
        finally:
            await store.close()

    asyncio.run(main())


class RecordingDriver(Driver):
    """Records every market's L3 book after each command, by last event seq."""

    def __init__(self) -> None:
        super().__init__()
        self.books: dict[int, list[list[tuple[int, ...]]]] = {}
        self.spans: list[tuple[int, int, int]] = []  # (cmd seq, first, last event)
        self.by_ts: dict[int, int] = {}  # ts -> last event seq of the last command

    def apply(self, cmd):  # type: ignore[no-untyped-def]
        res = super().apply(cmd)
        e = self.entries[-1]
        if e.events:
            n = self.engine.totals()[2]
            self.books[e.last_event_seq] = [
                [tuple(o) for o in self.engine.book_orders(m)] for m in range(min(n, 6))
            ]
            self.spans.append((e.seq, e.first_event_seq, e.last_event_seq))
            ts = getattr(C.decode(e.command), "ts", None)
            if ts is not None:
                self.by_ts[ts] = e.last_event_seq
        return res


def test_book_at_any_past_seq_or_time_is_the_engines_book(store_url):
    d = RecordingDriver()
    drive(5, 1500, driver=d)
    rng = random.Random(1)

    async def main() -> None:
        store = await _archived(store_url, d)
        try:
            spans = rng.sample(d.spans, 40) + d.spans[-3:]
            for cmd_seq, first, last in spans:
                probe = rng.randint(first, last)  # any event of the command
                for mid in range(len(d.books[last])):
                    book = await Q.book_at(store, mid, seq=probe)
                    assert (book.seq, book.cmd_seq) == (last, cmd_seq)
                    assert [tuple(o) for o in book.orders] == d.books[last][mid]
            for ts in rng.sample(sorted(d.by_ts), 20):
                last = d.by_ts[ts]
                for mid in range(len(d.books[last])):
                    book = await Q.book_at(store, mid, ts=ts)
                    assert [tuple(o) for o in book.orders] == d.books[last][mid]
            # times between commands' (book_at(ts=) searches the commands by seq)
            stamps = sorted(d.by_ts)
            for ts in rng.sample(stamps, 10):
                between = ts + 1
                if between in d.by_ts:
                    continue
                last = d.by_ts[max(t for t in stamps if t <= between)]
                book = await Q.book_at(store, 0, ts=between)
                assert book.seq == last
                assert [tuple(o) for o in book.orders] == d.books[last][0]
            assert (await Q.book_at(store, 0, ts=stamps[0] - 1)).seq == 0
            # depth() agrees with the engine's own depth now
            for mid in range(4):
                book = await Q.book_at(store, mid, seq=d.n_events)
                bids, asks = d.engine.depth(mid, 10**6)
                assert book.depth() == (
                    [tuple(b) for b in bids],
                    [tuple(a) for a in asks],
                )
        finally:
            await store.close()

    asyncio.run(main())


def test_market_history_and_resolution(store_url):
    d, _ = _example()
    d.apply(C.Halt(0, 70 * S))
    d.apply(C.Resume(0, 71 * S))
    d.apply(C.Resolve(0, 1000, 72 * S))

    async def main() -> None:
        store = await _archived(store_url, d)
        try:
            hist = await Q.market_history(store, 0)
            assert [(e.status, e.yes_value, e.ts) for e in hist] == [
                (0, 0, 0),
                (1, 0, 70 * S),
                (0, 0, 71 * S),
                (3, 1000, 72 * S),
            ]
            (m,) = await Q.markets(store)
            assert (m.status, m.yes_value) == (3, 1000)
            # asha held 7 YES: paid 7 * 1000 at resolution, the shares burned
            rows = await Q.balance_history(store, 0)
            assert (rows[-2].asset, rows[-2].available) == (0, 5_800 + 7_000)
            assert (rows[-1].asset, rows[-1].available) == (1, 0)
        finally:
            await store.close()

    asyncio.run(main())


def test_balance_history_ends_at_the_engines_balances(store_url):
    d = drive(9, 800)

    async def main() -> None:
        store = await _archived(store_url, d)
        try:
            for uid in (0, 3, 7):
                rows = await Q.balance_history(store, uid, limit=10**6)
                last: dict[tuple[int, int], tuple[int, int]] = {}
                for r in rows:
                    last[(r.market, r.asset)] = (r.available, r.locked)
                assert last[(-1, 0)] == d.engine.balance(uid)
                for mid in range(d.engine.totals()[2]):
                    ya, yl, na, nl = d.engine.position(uid, mid)
                    assert last.get((mid, 1), (0, 0)) == (ya, yl)
                    assert last.get((mid, 2), (0, 0)) == (na, nl)
        finally:
            await store.close()

    asyncio.run(main())
