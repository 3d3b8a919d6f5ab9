"""The archiver on both stores: exact history, resume, outages, back-pressure."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

import pytest
from history_streams import Driver, drive

from probo_engine.adapters.entries import Entry, MemoryEntryLog
from probo_engine.adapters.history import (
    Archiver,
    ArchiverConfig,
    ArchiverStats,
    Checkpoint,
    CheckpointConflictError,
    DeriveError,
    Deriver,
    engine_at,
    open_store,
    reconcile,
    run_archiver,
)
from probo_engine.adapters.history.archiver import FIRST_BATCH
from probo_engine.adapters.history.schema import TABLES
from probo_engine.errors import UnavailableError

N_COMMANDS = 3000


def _log(d: Driver) -> MemoryEntryLog:
    log = MemoryEntryLog()
    for e in d.entries:
        log.append(e)
    return log


async def _counts(store) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        t.name: (await store.fetch(f"SELECT COUNT(*) FROM {t.name}"))[0][0]
        for t in TABLES
    }


def _expected_counts(entries: Sequence[Entry]) -> dict[str, int]:
    batch = Deriver().derive(entries, Checkpoint(0, 0))
    return {name: len(rows) for name, rows in batch.rows.items()}


@pytest.fixture(scope="module")
def driver() -> Driver:
    return drive(11, N_COMMANDS)


def test_archive_reconciles_exactly_at_every_checkpoint(store_url, driver):
    log = _log(driver)
    head = log.head()

    async def main() -> None:
        store = await open_store(store_url)
        try:
            stats = ArchiverStats()
            arch = Archiver(store, log, batch_entries=500, stats=stats)
            cp = await arch.run(until=head)
            assert cp.cmd_seq == head and cp.event_seq == driver.n_events
            assert stats.cmd_seq == head and stats.lag == 0
            assert stats.entries == head and stats.events == driver.n_events
            assert await _counts(store) == _expected_counts(driver.entries)
            assert await reconcile(store, driver.engine, head) == []
            # the history up to an earlier seq agrees with the engine at it
            for n in (1, 37, head // 3, head - 1):
                eng = await engine_at(log, n)
                assert await reconcile(store, eng, n) == [], n
        finally:
            await store.close()

    asyncio.run(main())


def test_resume_after_stopping_writes_each_row_once(store_url, driver):
    log = _log(driver)
    head = log.head()

    async def main() -> None:
        for until in (head // 4, head // 2 + 3, head):
            store = await open_store(store_url)
            try:
                cp = await Archiver(store, log, batch_entries=333).run(until=until)
                assert cp.cmd_seq >= until
            finally:
                await store.close()
        store = await open_store(store_url)
        try:
            assert await _counts(store) == _expected_counts(driver.entries)
            assert await reconcile(store, driver.engine, head) == []
        finally:
            await store.close()

    asyncio.run(main())


class FlakyStore:
    """A store whose writes fail now and then: before committing, or after
    (the commit landed but the archiver hears it failed)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.dialect = inner.dialect
        self.n = 0
        self.lost_before = self.lost_after = self.checkpoint_failures = 0
        self.committed = 0  # cmd seq of the last batch committed

    async def write(self, batch) -> None:  # type: ignore[no-untyped-def]
        self.n += 1
        if self.n % 3 == 1:
            self.lost_before += 1
            raise UnavailableError("injected: connection lost before COMMIT")
        await self.inner.write(batch)
        self.committed = batch.upto.cmd_seq
        if self.n % 3 == 2:
            self.lost_after += 1
            raise UnavailableError("injected: connection lost after COMMIT")

    async def checkpoint(self):  # type: ignore[no-untyped-def]
        if self.n % 7 == 3 and self.checkpoint_failures < 5:
            self.checkpoint_failures += 1
            raise UnavailableError("injected: checkpoint read failed")
        return await self.inner.checkpoint()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_outages_before_and_after_commit_lose_and_duplicate_nothing(store_url, driver):
    log = _log(driver)
    head = log.head()

    async def main() -> None:
        inner = await open_store(store_url)
        try:
            store = FlakyStore(inner)
            stats = ArchiverStats()
            arch = Archiver(
                store, log, batch_entries=200, retry_initial=0.001, stats=stats
            )
            cp = await asyncio.wait_for(arch.run(until=head), 120)
            assert cp.cmd_seq == head
            assert store.lost_before > 3 and store.lost_after > 3
            assert stats.retries >= store.lost_before + store.lost_after
            assert await _counts(inner) == _expected_counts(driver.entries)
            assert await reconcile(inner, driver.engine, head) == []
        finally:
            await inner.close()

    asyncio.run(main())


class CountingSource:
    """An EntrySource that counts the reads after each command seq, and
    those made ahead of the store's committed checkpoint."""

    def __init__(self, log: MemoryEntryLog, store: FlakyStore) -> None:
        self.log, self.store = log, store
        self.reads_after: dict[int, int] = {}
        self.ahead: set[int] = set()

    async def read(self, after, limit=1024, timeout=None):  # type: ignore[no-untyped-def]
        self.reads_after[after] = self.reads_after.get(after, 0) + 1
        if after > self.store.committed:
            self.ahead.add(after)
        return await self.log.read(after, limit, timeout)

    def head(self) -> int:
        return self.log.head()


def test_a_batch_derived_ahead_of_a_failed_write_is_derived_again(store_url, driver):
    # Every third write fails before COMMIT, every third after it, while the
    # next batch is already read and derived: that batch is dropped, the
    # checkpoint is read again and the batch after it derived anew.
    log = _log(driver)
    head = log.head()

    async def main() -> None:
        inner = await open_store(store_url)
        try:
            store = FlakyStore(inner)
            source = CountingSource(log, store)
            arch = Archiver(store, source, batch_entries=150, retry_initial=0.001)
            cp = await asyncio.wait_for(arch.run(until=head), 120)
            assert cp.cmd_seq == head
            # read ahead of a write that then failed, and read again
            assert sum(source.reads_after[a] > 1 for a in source.ahead) > 3
            assert await _counts(inner) == _expected_counts(driver.entries)
            assert await reconcile(inner, driver.engine, head) == []
        finally:
            await inner.close()

    asyncio.run(main())


class WatchedSource:
    """An EntrySource that records, at each read, how far past the store's
    committed checkpoint it reads and whether a write was in flight."""

    def __init__(self, log: MemoryEntryLog) -> None:
        self.log = log
        self.writing = False
        self.committed = 0  # the store's checkpoint (cmd seq)
        self.reads_during_write = 0
        self.reads = 0
        self.most_ahead = 0  # entries read before the read, not yet committed
        self.limits: list[int] = []  # the limit of each read

    async def read(self, after, limit=1024, timeout=None):  # type: ignore[no-untyped-def]
        self.reads += 1
        self.limits.append(limit)
        if self.writing:
            self.reads_during_write += 1
        self.most_ahead = max(self.most_ahead, after - self.committed)
        return await self.log.read(after, limit, timeout)

    def head(self) -> int:
        return self.log.head()


class SlowStore:
    def __init__(self, inner, source: WatchedSource) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.source = inner, source
        self.dialect = inner.dialect
        self.lags: list[int] = []
        self.stats: ArchiverStats | None = None

    async def write(self, batch) -> None:  # type: ignore[no-untyped-def]
        self.source.writing = True
        try:
            await asyncio.sleep(0.01)  # a slow database
            await self.inner.write(batch)
            self.source.committed = batch.upto.cmd_seq
        finally:
            self.source.writing = False
        if self.stats is not None:
            self.lags.append(self.stats.lag)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_back_pressure_reads_one_batch_ahead_at_most_and_reports_lag(store_url, driver):
    log = MemoryEntryLog()
    entries = driver.entries
    batch = 100

    async def main() -> None:
        inner = await open_store(store_url)
        try:
            source = WatchedSource(log)
            store = SlowStore(inner, source)
            stats = ArchiverStats()
            store.stats = stats
            arch = Archiver(store, source, batch_entries=batch, stats=stats)

            async def produce() -> None:
                for i in range(0, len(entries), 250):  # faster than it archives
                    for e in entries[i : i + 250]:
                        log.append(e)
                    await asyncio.sleep(0.005)

            async with asyncio.TaskGroup() as tg:
                tg.create_task(produce())
                done = tg.create_task(arch.run(until=len(entries)))
            assert done.result().cmd_seq == len(entries)
            # pipelined: the next batch is read while one is being written...
            assert source.reads_during_write > 10
            # ... but never more than one batch past the committed checkpoint
            assert source.most_ahead == batch
            assert max(store.lags) > 100  # the lag grew while the store was slow
            assert stats.lag == 0
            assert await reconcile(inner, driver.engine, len(entries)) == []
        finally:
            await inner.close()

    asyncio.run(main())


def test_first_batches_after_a_start_are_smaller(store_url, driver):
    # The first batch is small so that its write starts soon, and the batch
    # after it is derived alongside; then four times more each, up to the
    # configured size.  A restart begins small again.
    log = _log(driver)

    async def main() -> None:
        store = await open_store(store_url)
        try:
            assert len(driver.entries) > 5 * FIRST_BATCH + 1500
            source = WatchedSource(log)
            await Archiver(store, source, batch_entries=1500).run(until=FIRST_BATCH + 1)
            assert source.limits == [FIRST_BATCH, 4 * FIRST_BATCH]  # one ahead
            source = WatchedSource(log)  # a restart
            await Archiver(store, source, batch_entries=1500).run(until=log.head())
            assert source.limits[:3] == [FIRST_BATCH, 4 * FIRST_BATCH, 1500]
            assert set(source.limits[3:]) <= {1500}
            assert await reconcile(store, driver.engine, len(driver.entries)) == []
        finally:
            await store.close()

    asyncio.run(main())


def test_a_batch_that_does_not_follow_the_checkpoint_changes_nothing(store_url, driver):
    entries = driver.entries[:400]

    async def main() -> None:
        store = await open_store(store_url)
        try:
            first = Deriver().derive(entries[:200], Checkpoint(0, 0))
            await store.write(first)
            counts = await _counts(store)
            with pytest.raises(CheckpointConflictError):
                await store.write(first)  # the same batch again
            stale = Deriver().derive(entries[:300], Checkpoint(0, 0))
            with pytest.raises(CheckpointConflictError):
                await store.write(stale)  # a second archiver that started at 0
            assert await _counts(store) == counts
            assert await store.checkpoint() == first.upto
        finally:
            await store.close()

    asyncio.run(main())


def test_two_stores_racing_for_one_checkpoint_write_once(store_url, driver):
    # Two archivers on one database writing the same batch at the same time:
    # one commits, the other is refused (PostgreSQL: its checkpoint UPDATE
    # waits for the first's row lock, then matches no row), rows stored once.
    entries = driver.entries[:400]

    async def main() -> None:
        a = await open_store(store_url)
        b = await open_store(store_url)
        try:
            batch = Deriver().derive(entries, Checkpoint(0, 0))
            for _ in a.prepare(batch):
                pass
            got = await asyncio.gather(
                a.write(batch), b.write(batch), return_exceptions=True
            )
            assert sorted(type(g).__name__ for g in got) == [
                "CheckpointConflictError",
                "NoneType",
            ]
            assert await a.checkpoint() == batch.upto
            assert await _counts(b) == {t.name: len(batch.rows[t.name]) for t in TABLES}
            nxt = Deriver(await b.load_markets()).derive(
                driver.entries[400:500], batch.upto
            )
            await b.write(nxt)  # the loser goes on from the checkpoint
            assert await a.checkpoint() == nxt.upto
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_rows_written_twice_are_stored_once(store_url, driver):
    entries = driver.entries[:500]

    async def main() -> None:
        store = await open_store(store_url)
        try:
            batch = Deriver().derive(entries, Checkpoint(0, 0))
            await store.write(batch)
            counts = await _counts(store)
            # an operator moved the checkpoint back: the rows come again
            if store.dialect == "sqlite":
                await store._run(  # type: ignore[attr-defined]
                    lambda: store._conn().execute(  # type: ignore[attr-defined]
                        "UPDATE checkpoint SET cmd_seq = 0, event_seq = 0"
                    )
                )
            else:
                conn = await store._writer_conn()  # type: ignore[attr-defined]
                await conn.execute("UPDATE checkpoint SET cmd_seq = 0, event_seq = 0")
            await store.write(batch)
            assert await _counts(store) == counts
            assert await store.checkpoint() == batch.upto
            if store.dialect == "postgres":  # the direct COPY fell back to merge
                assert store.fallbacks == 1  # type: ignore[attr-defined]
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.postgres
def test_postgres_always_staged_path_is_exact_too(pg_dsn, driver):
    log = _log(driver)
    head = log.head()

    async def main() -> None:
        store = await open_store(pg_dsn)
        try:
            store.direct_copy = False  # type: ignore[attr-defined]
            await Archiver(store, log, batch_entries=700).run(until=head)
            assert store.fallbacks == 0  # type: ignore[attr-defined]
            assert await _counts(store) == _expected_counts(driver.entries)
            assert await reconcile(store, driver.engine, head) == []
        finally:
            await store.close()

    asyncio.run(main())


def test_entries_with_a_gap_are_refused(driver):
    d = Deriver()
    with pytest.raises(DeriveError, match="does not follow"):
        d.derive(driver.entries[5:10], Checkpoint(0, 0))
    e = driver.entries[0]
    with pytest.raises(DeriveError, match="does not follow"):
        d.derive([e, e], Checkpoint(0, 0))
    first_events = next(x for x in driver.entries if x.events)
    with pytest.raises(DeriveError, match="first event"):
        d.derive([first_events], Checkpoint(first_events.seq - 1, 99))


def test_reconcile_reports_what_was_lost_or_changed(store_url, driver):
    log = _log(driver)
    head = log.head()

    async def main() -> None:
        store = await open_store(store_url)
        try:
            await Archiver(store, log).run(until=head)
            assert await reconcile(store, driver.engine, head) == []
            # lose one ledger movement, one order change and one command
            uid, seq, idx = (
                await store.fetch(
                    "SELECT uid, seq, idx FROM ledger WHERE uid >= 0 AND reason = 3 "
                    "ORDER BY seq DESC LIMIT 1"
                )
            )[0]
            (oid_row,) = await store.fetch(
                "SELECT c.seq, c.oid, c.mid FROM order_changes c WHERE c.remaining > 0 "
                "AND c.seq = (SELECT MAX(x.seq) FROM order_changes x "
                "WHERE x.oid = c.oid) ORDER BY c.seq DESC LIMIT 1"
            )
            await _execute(
                store, f"DELETE FROM ledger_moves WHERE seq = {seq} AND idx = {idx}"
            )
            await _execute(
                store,
                f"DELETE FROM order_changes WHERE seq = {oid_row[0]} "
                f"AND oid = {oid_row[1]}",
            )
            await _execute(store, "DELETE FROM commands WHERE seq = 5")
            diffs = await reconcile(store, driver.engine, head)
            kinds = {d.what for d in diffs}
            assert "commands" in kinds
            assert any(d.what in ("cash", "shares") and d.key[0] == uid for d in diffs)
            if driver.engine.order(oid_row[1]) is not None:
                assert any(d.what == "book" and d.key == (oid_row[2],) for d in diffs)
            with pytest.raises(ValueError, match="reaches command"):
                await reconcile(store, driver.engine, head + 1)
        finally:
            await store.close()

    asyncio.run(main())


async def _execute(store, sql: str) -> None:  # type: ignore[no-untyped-def]
    if store.dialect == "sqlite":
        await store._run(lambda: store._conn().execute(sql))
    else:
        conn = await store._writer_conn()
        await conn.execute(sql)


def test_run_archiver_from_a_config_until_stopped(store_url, driver):
    log = _log(driver)
    head = log.head()

    async def main() -> None:
        stop = asyncio.Event()
        stats = ArchiverStats()
        config = ArchiverConfig(store_url, log, batch_entries=400, read_timeout=0.05)

        async def stopper() -> None:
            while stats.cmd_seq < head:
                await asyncio.sleep(0.01)
            stop.set()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(stopper())
            task = tg.create_task(run_archiver(config, stop=stop, stats=stats))
        assert task.result() == (head, driver.n_events)
        store = await open_store(store_url, migrate=False)
        try:
            assert await reconcile(store, driver.engine, head) == []
        finally:
            await store.close()

    asyncio.run(asyncio.wait_for(main(), 120))


def test_config_is_validated():
    log = MemoryEntryLog()
    with pytest.raises(ValueError, match="batch_entries"):
        ArchiverConfig("sqlite::memory:", log, batch_entries=0)
    with pytest.raises(ValueError, match="read_timeout"):
        ArchiverConfig("sqlite::memory:", log, read_timeout=0)


def test_sqlite_queries_do_not_wait_for_a_write_in_progress(tmp_path):
    import threading

    async def main() -> None:
        store = await open_store(f"sqlite:///{tmp_path / 'h.db'}")
        gate = threading.Event()

        def hold_a_write_transaction() -> None:
            db = store._conn()  # type: ignore[attr-defined]
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE checkpoint SET cmd_seq = 5")
            gate.wait(30)
            db.execute("COMMIT")

        try:
            async with asyncio.TaskGroup() as tg:
                writing = tg.create_task(store._run(hold_a_write_transaction))  # type: ignore[attr-defined]
                # a query returns while the writer thread is inside its transaction
                rows = await asyncio.wait_for(
                    store.fetch("SELECT cmd_seq FROM checkpoint"), 10
                )
                assert rows == [(0,)] and not writing.done()
                gate.set()
            assert (await store.fetch("SELECT cmd_seq FROM checkpoint")) == [(5,)]
        finally:
            gate.set()
            await store.close()

    asyncio.run(main())


def test_run_reconcile_rebuilds_the_engine_from_the_entries(store_url, driver):
    from probo_engine import Engine
    from probo_engine.adapters.history import ReconcileConfig, run_reconcile

    log = _log(driver)
    head = log.head()

    async def main() -> None:
        store = await open_store(store_url)
        try:
            await Archiver(store, log).run(until=head)
        finally:
            await store.close()
        assert await run_reconcile(ReconcileConfig(store_url, log)) == (head, [])
        half = ReconcileConfig(store_url, log, seq=head // 2)
        assert await run_reconcile(half) == (head // 2, [])
        used = Engine()
        used.create_user()
        with pytest.raises(ValueError, match="fresh engine"):
            await engine_at(log, 10, engine=used)
        # an engine with other limits does not replay the same results
        with pytest.raises(ValueError, match="the entry says"):
            await engine_at(log, head, engine=Engine(max_qty=5))
        with pytest.raises(ValueError, match="ends at"):
            await engine_at(log, head + 1, timeout=0.01)
        # snapshot plus journal: the engine restored at k, then k+1..head
        k = head // 3
        snap = (await engine_at(log, k)).snapshot()
        eng = await engine_at(log, head, engine=Engine.restore(snap), after=k)
        assert eng.state_hash() == driver.engine.state_hash()
        store = await open_store(store_url)
        try:
            assert await reconcile(store, eng, head) == []
        finally:
            await store.close()
        with pytest.raises(ValueError, match="needs the engine"):
            await engine_at(log, head, after=k)

    asyncio.run(main())


@pytest.mark.postgres
def test_postgres_rows_encoded_ahead_are_the_rows_asyncpg_writes(pg_dsn, driver):
    # The archiver prepares each batch (binary COPY data for the all-integer
    # tables) while the previous one is written: every column of every row
    # must be what asyncpg's own encoding of the same rows stores, on the
    # direct path and on the staged merge.
    log = _log(driver)
    head = log.head()
    expected = Deriver().derive(driver.entries, Checkpoint(0, 0)).rows

    async def main() -> None:
        store = await open_store(pg_dsn)
        try:
            await Archiver(store, log, batch_entries=400).run(until=head)
            assert store.copied_encoded > 20  # type: ignore[attr-defined]
            for t in TABLES:
                cols = ", ".join(t.columns)
                got = await store.fetch(f"SELECT {cols} FROM {t.name}")
                assert sorted(map(tuple, got)) == sorted(expected[t.name]), t.name
            # the staged merge of prepared rows (checkpoint moved back by hand)
            batch = Deriver().derive(driver.entries[:300], Checkpoint(0, 0))
            for _ in store.prepare(batch):
                pass
            assert set(batch.encoded) >= {
                "commands",  # bytea columns and a nullable one
                "ledger_moves",
                "order_changes",
                "orders",
            }
            conn = await store._writer_conn()  # type: ignore[attr-defined]
            await conn.execute("UPDATE checkpoint SET cmd_seq = 0, event_seq = 0")
            counts = await _counts(store)
            await store.write(batch)
            assert store.fallbacks == 1  # type: ignore[attr-defined]
            assert await _counts(store) == counts
            # a value that does not fit its column: that table is left to
            # asyncpg (which refuses it when written), the others are encoded
            bad = Deriver().derive(driver.entries[:300], Checkpoint(0, 0))
            assert bad.rows["rejects"]
            r0 = bad.rows["rejects"][0]
            bad.rows["rejects"][0] = (*r0[:6], 99_999, *r0[7:])  # code: SMALLINT
            for _ in store.prepare(bad):
                pass
            assert "rejects" not in bad.encoded and "ledger_moves" in bad.encoded
            store.encode_ahead = False  # type: ignore[attr-defined]
            again = Deriver().derive(driver.entries[:300], Checkpoint(0, 0))
            assert list(store.prepare(again)) == [] and again.encoded == {}
        finally:
            await store.close()

    asyncio.run(main())


def test_postgres_row_encoder_refuses_what_it_cannot_pack():
    from probo_engine.adapters.history.postgres import row_encoder

    enc = row_encoder(["integer", "smallint"])
    assert enc is not None
    assert enc([(1, 2)]) == bytes.fromhex("00020000000400000001000000020002")
    both = enc([(1, 2), (-(2**31), -1)])
    assert both == struct.pack(">" + "hiiih" * 2, 2, 4, 1, 2, 2, 2, 4, -(2**31), 2, -1)
    assert enc([]) == b""
    # what prepare leaves to asyncpg (which refuses it when the batch is written)
    for bad, error in (
        ((1, 40000), OverflowError),  # does not fit a smallint
        ((2**31, 0), OverflowError),  # nor an integer
        ((1.0, 2), TypeError),  # not an int (C would truncate a float)
        ((None, 2), TypeError),  # NOT NULL
        ((1, b"2"), TypeError),
        ((1, 2, 3), ValueError),  # not the column count
    ):
        with pytest.raises(error):
            enc([(1, 2), bad])
    big = row_encoder(["bigint"])
    assert big is not None
    assert big([(2**63 - 1,), (-(2**63),)]) == struct.pack(
        ">hiqhiq", 1, 8, 2**63 - 1, 1, 8, -(2**63)
    )
    with pytest.raises(OverflowError):
        big([(2**63,)])
    # a commands row: a nullable bigint, bytea; None and a bytearray refused
    cmd = row_encoder(["bigint", "bytea"], [True, False])
    assert cmd is not None
    assert cmd([(None, b""), (5, b"xy")]) == struct.pack(
        ">hiihiqi2s", 2, -1, 0, 2, 8, 5, 2, b"xy"
    )
    for bad in ((1, None), (1, bytearray(b"x")), (1, "x")):
        with pytest.raises(TypeError):
            cmd([bad])
    with pytest.raises(ValueError, match="nullable"):
        row_encoder(["bigint", "bytea"], [True])
    assert row_encoder(["bigint", "text"]) is None
