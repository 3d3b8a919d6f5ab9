"""The embedded history store: one SQLite file (standard library ``sqlite3``).

Every call runs on one worker thread that owns the connection, so the event
loop never blocks on the database.  The file is in WAL mode with
``synchronous=FULL``: the log is fsynced at every commit, so a committed
checkpoint survives a power loss too, and whoever trims the entry log up to
it (the embedded server does) never throws away entries the history still
needs.  That is one fsync per batch.  Other processes may read the file while
the archiver writes (WAL readers do not block the writer), and so may this
store's own queries: :meth:`SQLiteStore.fetch` runs on a second thread with a
read-only connection, so a query never waits for a batch being written.
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from probo_engine.errors import UnavailableError

from .derive import Batch, Checkpoint, MarketConfig
from .schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    VERSION_TABLE,
    check_version,
    statements,
)
from .store import CheckpointConflictError

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")
#: errors that waiting (or freeing disk space) may fix
_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
)
_INSERT = {
    t.name: (
        f"INSERT INTO {t.name} ({', '.join(t.columns)}) "
        f"VALUES ({', '.join('?' * len(t.columns))}) ON CONFLICT DO NOTHING"
    )
    for t in TABLES
}


class SQLiteStore:
    """A :class:`~.store.HistoryStore` on a SQLite file (see the module doc)."""

    dialect = "sqlite"

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self._timeout = timeout
        self._exe: ThreadPoolExecutor | None = ThreadPoolExecutor(
            1, thread_name_prefix="probo-history-sqlite"
        )
        self._db: sqlite3.Connection | None = None
        # fetch() runs on a second thread and connection (read-only), so
        # queries do not wait for a batch being written (WAL readers see the
        # last commit); made on first use
        self._rexe: ThreadPoolExecutor | None = None
        self._rdb: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: str, *, timeout: float = 60.0) -> SQLiteStore:
        """Open (creating it if needed) the database file at ``path``."""
        store = cls(path, timeout)
        try:
            await store._run(store._connect)
        except BaseException:
            await store.close()
            raise
        return store

    # ------------------------------------------------------------ plumbing

    async def _run(self, fn: Callable[[], _T], *, read: bool = False) -> _T:
        if self._exe is None:
            raise UnavailableError("the history store is closed")
        exe = self._exe
        if read and self.path != ":memory:":  # (a second :memory: is another db)
            if self._rexe is None:
                self._rexe = ThreadPoolExecutor(
                    1, thread_name_prefix="probo-history-sqlite-read"
                )
            exe = self._rexe
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(exe, fn)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "").startswith(_UNAVAILABLE):
                raise UnavailableError(
                    f"SQLite history store {self.path}: {exc}"
                ) from exc
            raise

    def _connect(self) -> None:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        try:
            if self.path != ":memory:":
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise UnavailableError(f"{self.path}: cannot use WAL ({mode})")
            db.execute("PRAGMA synchronous=FULL")
        except BaseException:
            db.close()
            raise
        self._db = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise UnavailableError("the history store is closed")
        return self._db

    def _in_tx(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")  # the write lock now: no upgrade deadlock
        try:
            out = body(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # (SQLite may have rolled back already)
                db.execute("ROLLBACK")
            raise
        return out

    # ---------------------------------------------------------- the store

    async def migrate(self) -> int:
        def body(db: sqlite3.Connection) -> int:
            db.execute(VERSION_TABLE)
            found = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            version = int(found.fetchone()[0])
            check_version(version)
            for v in sorted(MIGRATIONS):
                if v <= version:
                    continue
                for stmt in statements(MIGRATIONS[v]):
                    db.execute(stmt)
                now = datetime.datetime.now(datetime.timezone.utc).isoformat()
                db.execute("INSERT INTO schema_version VALUES (?, ?)", (v, now))
            return SCHEMA_VERSION

        return await self._run(lambda: self._in_tx(body))

    async def schema_version(self) -> int:
        def body() -> int:
            db = self._conn()
            has = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' "
                "AND name='schema_version'"
            ).fetchone()
            if has is None:
                return 0
            row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            return int(row.fetchone()[0])

        return await self._run(body)

    async def checkpoint(self) -> Checkpoint:
        def body() -> Checkpoint:
            row = self._conn().execute("SELECT cmd_seq, event_seq FROM checkpoint")
            c, e = row.fetchone()
            return Checkpoint(int(c), int(e))

        return await self._run(body)

    async def load_markets(self) -> dict[int, MarketConfig]:
        rows = await self.fetch(
            "SELECT mid, payout, tick, taker_fee, maker_fee, fee_mode FROM markets"
        )
        return {int(r[0]): MarketConfig(*map(int, r[1:])) for r in rows}

    def prepare(self, batch: Batch) -> Iterator[None]:
        """Nothing to do ahead: ``executemany`` takes the rows as they are."""
        return iter(())

    async def write(self, batch: Batch) -> None:
        def body(db: sqlite3.Connection) -> None:
            c, e = db.execute("SELECT cmd_seq, event_seq FROM checkpoint").fetchone()
            if (c, e) != tuple(batch.after):
                raise CheckpointConflictError(
                    f"the store's checkpoint is {(c, e)}, the batch follows "
                    f"{tuple(batch.after)}"
                )
            for table in TABLES:
                rows = batch.rows.get(table.name)
                if rows:
                    db.executemany(_INSERT[table.name], rows)
            db.execute(
                "UPDATE checkpoint SET cmd_seq = ?, event_seq = ? WHERE id = 1",
                tuple(batch.upto),
            )

        await self._run(lambda: self._in_tx(body))

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.path == ":memory:":
            return await self._run(
                lambda: list(self._conn().execute(sql, tuple(args)).fetchall())
            )

        def body() -> list[tuple[Any, ...]]:
            if self._rdb is None:
                rdb = sqlite3.connect(
                    self.path, timeout=self._timeout, isolation_level=None
                )
                rdb.execute("PRAGMA query_only=1")
                self._rdb = rdb
            return list(self._rdb.execute(sql, tuple(args)).fetchall())

        return await self._run(body, read=True)

    async def close(self) -> None:
        exe, self._exe = self._exe, None
        rexe, self._rexe = self._rexe, None
        if exe is None:
            return

        def shut_writer() -> None:
            db, self._db = self._db, None
            if db is not None:
                db.close()

        def shut_reader() -> None:
            db, self._rdb = self._rdb, None
            if db is not None:
                db.close()

        loop = asyncio.get_running_loop()
        try:
            if rexe is not None:
                try:
                    await loop.run_in_executor(rexe, shut_reader)
                finally:
                    rexe.shutdown(wait=False)
            await loop.run_in_executor(exe, shut_writer)
        finally:
            exe.shutdown(wait=False)
