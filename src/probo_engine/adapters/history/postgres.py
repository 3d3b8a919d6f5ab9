"""The production history store: PostgreSQL through asyncpg (extra ``[postgres]``).

A batch is written in one transaction on one writer connection:

1. the checkpoint row is locked (``SELECT ... FOR UPDATE``) and must equal
   the batch's starting point (else :class:`CheckpointConflictError`), so two
   archivers on one database cannot interleave and a batch is never applied
   twice;
2. each table's rows are ``COPY``-ed (``copy_records_to_table``).  Because
   of 1, none of the batch's keys can be in the tables already, so they are
   copied straight into the tables, inside a savepoint.  Should a key be
   there anyway (someone moved the checkpoint back by hand), the copy fails
   on the primary key, the savepoint is rolled back and the batch takes the
   idempotent path: ``COPY`` into a temporary staging table, then ``INSERT
   INTO t SELECT ... FROM stage ON CONFLICT DO NOTHING``.  Set
   :attr:`PostgresStore.direct_copy` to False to always take that path (it
   is about half as fast: the merge is an insert of its own);
3. the checkpoint row is set to the batch's end, and the transaction commits.

Queries use a small connection pool.  Every wait has a timeout; a lost or
refused connection raises :class:`~probo_engine.errors.UnavailableError`, and
the next call connects again.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from probo_engine._optional import require
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

__all__ = ["PostgresStore", "to_dollar_params"]

#: Any number fits: a constant key for the migration advisory lock.
_MIGRATE_LOCK = 0x70726F626F  # "probo"


def to_dollar_params(sql: str) -> str:
    """``?`` placeholders to ``$1, $2, ...`` (the queries have no ``?`` in
    literals).

    >>> to_dollar_params("SELECT ? + ?")
    'SELECT $1 + $2'
    """
    parts = sql.split("?")
    out = [parts[0]]
    for i, p in enumerate(parts[1:], 1):
        out.append(f"${i}{p}")
    return "".join(out)


def _transient(asyncpg: Any) -> tuple[type[BaseException], ...]:
    return (
        OSError,
        TimeoutError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.OperatorInterventionError,  # shutdown, starting up
        asyncpg.exceptions.TooManyConnectionsError,
    )


class PostgresStore:
    """A :class:`~.store.HistoryStore` on PostgreSQL (see the module doc)."""

    dialect = "postgres"

    def __init__(
        self, dsn: str, asyncpg: Any, connect_timeout: float, command_timeout: float
    ) -> None:
        self.dsn = dsn
        self._pg = asyncpg
        self._errors = _transient(asyncpg)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        #: COPY straight into the tables when the locked checkpoint shows
        #: the batch is new (see the module docstring); False: always stage
        self.direct_copy = True
        #: batches that found their rows already there and were merged
        self.merges = 0
        self._writer: Any = None  # asyncpg.Connection with the staging tables
        self._pool: Any = None
        self._closed = False

    @classmethod
    async def open(
        cls, dsn: str, *, connect_timeout: float = 10.0, command_timeout: float = 60.0
    ) -> PostgresStore:
        asyncpg = require("asyncpg", extra="postgres", feature="the PostgreSQL store")
        store = cls(dsn, asyncpg, connect_timeout, command_timeout)
        await store.schema_version()  # fail fast if the server is not there
        return store

    # ------------------------------------------------------------ plumbing

    def _unavailable(self, exc: BaseException) -> UnavailableError:
        where = self.dsn.rsplit("@", 1)[-1]  # no password in messages
        return UnavailableError(f"PostgreSQL history store at {where}: {exc!r}")

    async def _connect(self) -> Any:
        if self._closed:
            raise UnavailableError("the history store is closed")
        try:
            return await self._pg.connect(
                self.dsn,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
            )
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    async def _get_pool(self) -> Any:
        if self._closed:
            raise UnavailableError("the history store is closed")
        if self._pool is None:
            try:
                self._pool = await self._pg.create_pool(
                    self.dsn,
                    min_size=0,
                    max_size=4,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                )
            except self._errors as exc:
                raise self._unavailable(exc) from exc
        return self._pool

    async def _drop_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            conn.terminate()

    # ---------------------------------------------------------- the store

    async def migrate(self) -> int:
        conn = await self._connect()
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
                await conn.execute(VERSION_TABLE)
                version = await conn.fetchval(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version"
                )
                check_version(int(version))
                for v in sorted(MIGRATIONS):
                    if v <= version:
                        continue
                    for stmt in statements(MIGRATIONS[v]):
                        await conn.execute(stmt)
                    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
                    await conn.execute(
                        "INSERT INTO schema_version VALUES ($1, $2)", v, now
                    )
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        finally:
            conn.terminate()
        return SCHEMA_VERSION

    async def schema_version(self) -> int:
        conn = await self._connect()
        try:
            if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
                return 0
            return int(
                await conn.fetchval(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version"
                )
            )
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        finally:
            conn.terminate()

    async def checkpoint(self) -> Checkpoint:
        rows = await self.fetch("SELECT cmd_seq, event_seq FROM checkpoint")
        return Checkpoint(int(rows[0][0]), int(rows[0][1]))

    async def load_markets(self) -> dict[int, MarketConfig]:
        rows = await self.fetch(
            "SELECT mid, payout, tick, taker_fee, maker_fee, fee_mode FROM markets"
        )
        return {int(r[0]): MarketConfig(*map(int, r[1:])) for r in rows}

    async def _writer_conn(self) -> Any:
        if self._writer is None or self._writer.is_closed():
            conn = await self._connect()
            try:
                for t in TABLES:
                    await conn.execute(
                        f"CREATE TEMP TABLE stage_{t.name} "
                        f"(LIKE {t.name}) ON COMMIT DELETE ROWS"
                    )
            except self._errors as exc:
                conn.terminate()
                raise self._unavailable(exc) from exc
            except BaseException:
                conn.terminate()
                raise
            self._writer = conn
        return self._writer

    async def write(self, batch: Batch) -> None:
        conn = await self._writer_conn()
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT cmd_seq, event_seq FROM checkpoint WHERE id = 1 FOR UPDATE"
                )
                if (row[0], row[1]) != tuple(batch.after):
                    raise CheckpointConflictError(
                        f"the store's checkpoint is {(row[0], row[1])}, the batch "
                        f"follows {tuple(batch.after)}"
                    )
                merge = not self.direct_copy
                if not merge:
                    try:
                        async with conn.transaction():  # a savepoint
                            await self._copy(conn, batch, staged=False)
                    except self._pg.UniqueViolationError:
                        merge = True  # rows past the checkpoint exist: merge
                        self.merges += 1
                if merge:
                    await self._copy(conn, batch, staged=True)
                await conn.execute(
                    "UPDATE checkpoint SET cmd_seq = $1, event_seq = $2 WHERE id = 1",
                    *batch.upto,
                )
        except self._errors as exc:
            await self._drop_writer()
            raise self._unavailable(exc) from exc
        except BaseException:
            if conn.is_in_transaction() or conn.is_closed():
                await self._drop_writer()
            raise

    async def _copy(self, conn: Any, batch: Batch, *, staged: bool) -> None:
        for t in TABLES:
            rows = batch.rows.get(t.name)
            if not rows:
                continue
            if not staged:
                await conn.copy_records_to_table(
                    t.name, records=rows, columns=t.columns
                )
                continue
            await conn.copy_records_to_table(
                f"stage_{t.name}", records=rows, columns=t.columns
            )
            cols = ", ".join(t.columns)
            await conn.execute(
                f"INSERT INTO {t.name} ({cols}) SELECT {cols} "
                f"FROM stage_{t.name} ON CONFLICT DO NOTHING"
            )

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        pool = await self._get_pool()
        try:
            async with pool.acquire(timeout=self._connect_timeout) as conn:
                rows = await conn.fetch(to_dollar_params(sql), *args)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return [tuple(r) for r in rows]

    async def close(self) -> None:
        self._closed = True
        await self._drop_writer()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
