"""Migrations: an empty database gets the schema, again is a no-op, newer is refused."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import pytest

from probo_engine.adapters.history import (
    SCHEMA_VERSION,
    SchemaVersionError,
    open_store,
)
from probo_engine.adapters.history.schema import TABLES, statements
from probo_engine.adapters.history.store import sqlite_path

TABLE_NAMES = {t.name for t in TABLES} | {"checkpoint", "schema_version"}


async def _tables(store) -> set[str]:  # type: ignore[no-untyped-def]
    if store.dialect == "sqlite":
        rows = await store.fetch("SELECT name FROM sqlite_master WHERE type='table'")
    else:
        rows = await store.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
    return {r[0] for r in rows}


def test_migrations_apply_to_an_empty_database_and_are_idempotent(store_url):
    async def main() -> None:
        store = await open_store(store_url)
        try:
            assert await store.schema_version() == SCHEMA_VERSION
            assert await _tables(store) >= TABLE_NAMES
            assert tuple(await store.checkpoint()) == (0, 0)
            assert await store.migrate() == SCHEMA_VERSION  # again: nothing to do
            rows = await store.fetch("SELECT version FROM schema_version")
            assert sorted(r[0] for r in rows) == list(range(1, SCHEMA_VERSION + 1))
        finally:
            await store.close()
        again = await open_store(store_url)  # a second open migrates nothing
        try:
            assert await again.schema_version() == SCHEMA_VERSION
            rows = await again.fetch("SELECT COUNT(*) FROM schema_version")
            assert rows[0][0] == SCHEMA_VERSION
        finally:
            await again.close()

    asyncio.run(main())


def test_unmigrated_database_is_refused_without_migrate(store_url):
    async def main() -> None:
        with pytest.raises(SchemaVersionError, match="migrate it first"):
            await open_store(store_url, migrate=False)

    asyncio.run(main())


async def _raw_fetch(url: str, sql: str) -> list[tuple]:
    """Read the database without the store (which refuses it)."""
    path = sqlite_path(url)
    if path is not None:
        with closing(sqlite3.connect(path)) as db, db:
            return list(db.execute(sql).fetchall())
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def _raw_execute(url: str, sql: str) -> None:
    path = sqlite_path(url)
    if path is not None:
        with closing(sqlite3.connect(path)) as db, db:
            db.execute(sql)
        return
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def test_newer_schema_version_is_refused_and_nothing_changes(store_url):
    async def main() -> None:
        store = await open_store(store_url)
        await store.close()
        newer = SCHEMA_VERSION + 1
        await _raw_execute(
            store_url, f"INSERT INTO schema_version VALUES ({newer}, 'future')"
        )
        before = await _raw_fetch(store_url, "SELECT * FROM schema_version")
        for migrate in (True, False):
            with pytest.raises(SchemaVersionError) as err:
                await open_store(store_url, migrate=migrate)
            msg = str(err.value)
            assert f"schema version {newer}" in msg
            assert "upgrade probo-engine" in msg
        assert await _raw_fetch(store_url, "SELECT * FROM schema_version") == before

    asyncio.run(main())


def test_statements_drop_comments_and_split():
    sql = "CREATE TABLE a (x INT); -- one; two\nINSERT INTO a VALUES (1);\n\n"
    assert statements(sql) == ["CREATE TABLE a (x INT)", "INSERT INTO a VALUES (1)"]


def test_sqlite_urls():
    assert sqlite_path("sqlite:///tmp/h.db") == "/tmp/h.db"
    assert sqlite_path("sqlite:data/h.db") == "data/h.db"
    assert sqlite_path("sqlite::memory:") == ":memory:"
    assert sqlite_path("postgresql://x/y") is None
    with pytest.raises(ValueError):
        sqlite_path("sqlite://host/h.db")


def test_unknown_url_is_refused():
    with pytest.raises(ValueError, match="unknown history store URL"):
        asyncio.run(open_store("mysql://x/y"))


def test_a_failing_migration_changes_nothing(store_url, monkeypatch):
    from probo_engine.adapters.history import schema

    async def main() -> None:
        store = await open_store(store_url)
        await store.close()
        monkeypatch.setitem(
            schema.MIGRATIONS,
            SCHEMA_VERSION + 1,
            "CREATE TABLE extra (x BIGINT);\nINSERT INTO no_such_table VALUES (1);",
        )
        monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        with pytest.raises(Exception, match="no_such_table"):
            await open_store(store_url)
        versions = await _raw_fetch(store_url, "SELECT version FROM schema_version")
        assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
        if sqlite_path(store_url) is not None:
            sql = "SELECT name FROM sqlite_master WHERE name = 'extra'"
        else:
            sql = "SELECT tablename FROM pg_tables WHERE tablename = 'extra'"
        assert await _raw_fetch(store_url, sql) == []  # rolled back with the rest

    asyncio.run(main())


def test_migration_2_keeps_every_row_of_a_version_1_database(store_url):
    # A database written by the version-1 archiver (an order's acceptance in
    # orders, order_updates and ledger) migrated to version 2: the stored
    # tables hold what the version-2 archiver writes, the order_updates and
    # ledger views give back every version-1 row, reconciliation is exact.
    from history_streams import drive

    from probo_engine.adapters.history import Checkpoint, Deriver, reconcile
    from probo_engine.adapters.history.derive import ledger_rows, order_update_rows
    from probo_engine.adapters.history.schema import MIGRATIONS, VERSION_TABLE

    d = drive(21, 1200)
    batch = Deriver().derive(d.entries, Checkpoint(0, 0))
    rows = batch.rows
    v1 = {
        **rows,
        "orders": [r[:16] for r in rows["orders"]],
        "order_updates": order_update_rows(rows),
        "ledger": ledger_rows(rows),
    }
    del v1["order_changes"], v1["ledger_moves"]
    setup = [VERSION_TABLE, *statements(MIGRATIONS[1])]
    setup.append("INSERT INTO schema_version VALUES (1, 'v1')")
    cp = f"UPDATE checkpoint SET cmd_seq = {batch.upto[0]}, event_seq = {batch.upto[1]}"

    async def write_v1() -> None:
        path = sqlite_path(store_url)
        if path is not None:
            with closing(sqlite3.connect(path)) as db, db:
                for stmt in setup:
                    db.execute(stmt)
                for name, r in v1.items():
                    if r:
                        marks = ", ".join("?" * len(r[0]))
                        db.executemany(f"INSERT INTO {name} VALUES ({marks})", r)
                db.execute(cp)
            return
        import asyncpg

        conn = await asyncpg.connect(store_url)
        try:
            async with conn.transaction():
                for stmt in setup:
                    await conn.execute(stmt)
                for name, r in v1.items():
                    if r:
                        await conn.copy_records_to_table(name, records=r)
                await conn.execute(cp)
        finally:
            await conn.close()

    async def main() -> None:
        await write_v1()
        store = await open_store(store_url)
        try:
            assert await store.schema_version() == SCHEMA_VERSION
            for t in TABLES:
                got = await store.fetch(f"SELECT {', '.join(t.columns)} FROM {t.name}")
                assert sorted(map(tuple, got)) == sorted(rows[t.name]), t.name
            for view, cols in (("order_updates", 15), ("ledger", 10)):
                got = await store.fetch(f"SELECT * FROM {view}")
                assert all(len(r) == cols for r in got)
                assert sorted(map(tuple, got)) == sorted(v1[view]), view
            assert await reconcile(store, d.engine, batch.upto.cmd_seq) == []
        finally:
            await store.close()

    asyncio.run(main())
