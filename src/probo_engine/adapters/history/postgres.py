"""The production history store: PostgreSQL through asyncpg (extra ``[postgres]``).

A batch is written in one transaction on one writer connection:

1. the checkpoint row is locked (``SELECT ... FOR UPDATE``) and must equal
   the batch's starting point (else :class:`CheckpointConflictError`), so two
   archivers on one database cannot interleave and a batch is never applied
   twice;
2. each table's rows are ``COPY``-ed (``copy_records_to_table``).  Because
   of 1, none of the batch's keys can be in the tables already, so they are
   copied straight into the tables.  Should a key be there anyway (someone
   moved the checkpoint back by hand), the copy fails on the primary key,
   the transaction is rolled back and the batch is written again in one
   that takes the idempotent path: ``COPY`` into a temporary staging table,
   then ``INSERT INTO t SELECT ... FROM stage ON CONFLICT DO NOTHING``.  Set
   :attr:`PostgresStore.direct_copy` to False to always take that path (it
   is about half as fast: the merge is an insert of its own);
3. the checkpoint row is set to the batch's end, and the transaction commits.

On the direct path, 1 and the move of 3 are one statement sent with
``BEGIN`` (``UPDATE checkpoint ... WHERE`` it is the batch's start: the row
is locked and checked at once), so a batch is ``2 +`` (tables with rows)
round trips.

The rows of the tables of integer and ``bytea`` columns (all but ``users``
and ``markets``) are normally encoded before the write
(:meth:`PostgresStore.prepare`, which the archiver runs while the previous
batch is being written) as binary ``COPY`` data, so that the write itself is
mostly the database's work; the other tables, and a batch never prepared, go
through asyncpg's ``copy_records_to_table``.  Both give the same rows.

Queries use a small connection pool.  Every wait has a timeout; a lost or
refused connection raises :class:`~probo_engine.errors.UnavailableError`, and
the next call connects again.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from probo_engine._copy import BYTEA, NULLABLE, encode_rows
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

#: binary COPY: signature, flags, header extension; and the end marker
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
#: column types the binary encoder packs, and their codes (_copy.encode_rows)
_TYPE_CODES = {"smallint": 2, "integer": 4, "bigint": 8, "bytea": BYTEA}
#: rows encoded between two steps of :meth:`PostgresStore.prepare`
_PREPARE_STEP = 2000

_RowsEncoder = Callable[[list[tuple[Any, ...]]], bytes]


def row_encoder(
    types: Sequence[str], nullable: Sequence[bool] = ()
) -> _RowsEncoder | None:
    """A function packing a list of rows as binary ``COPY`` tuples, for
    columns of the given PostgreSQL types (``nullable``: which take None,
    default none); None if a type is not an integer type or ``bytea``.

    The packing is a loop in C (:func:`probo_engine._copy.encode_rows`,
    about 0.2 µs for a row of 16 integers, against 0.8 µs with ``struct``
    and about 0.6 µs in asyncpg's encoder), done ahead, off the write's
    critical path.
    It raises ``OverflowError`` for an int that does not fit its column,
    ``TypeError`` for a value of another type (or None where the column is
    ``NOT NULL``).

    >>> enc = row_encoder(["bigint", "smallint"])
    >>> enc([(7, -1)]).hex()
    '000200000008000000000000000700000002ffff'
    >>> row_encoder(["bigint", "bytea"], [True, False])([(None, b"k")]).hex()
    '0002ffffffff000000016b'
    >>> row_encoder(["bigint", "text"]) is None
    True
    """
    if not all(t in _TYPE_CODES for t in types):
        return None
    nulls = list(nullable) or [False] * len(types)
    if len(nulls) != len(types):
        raise ValueError(f"{len(types)} types but {len(nulls)} nullable flags")
    codes = bytes(
        _TYPE_CODES[t] | (NULLABLE if null else 0)
        for t, null in zip(types, nulls, strict=True)
    )
    return partial(encode_rows, columns=codes)


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
        #: batches whose direct copy met rows already there, merged instead
        self.fallbacks = 0
        #: :meth:`prepare` encodes rows ahead (False: asyncpg encodes every
        #: table during the write, which makes the write longer and costs
        #: more CPU; see docs/history.md)
        self.encode_ahead = True
        #: tables written from rows encoded ahead by :meth:`prepare`
        self.copied_encoded = 0
        # per table, its binary COPY row encoder (integer and bytea columns
        # only), from the database's own column types; set on connecting
        self._encoders: dict[str, _RowsEncoder] = {}
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
                encoders = await self._row_encoders(conn)
            except self._errors as exc:
                conn.terminate()
                raise self._unavailable(exc) from exc
            except BaseException:
                conn.terminate()
                raise
            self._writer = conn
            self._encoders = encoders
        return self._writer

    async def _row_encoders(self, conn: Any) -> dict[str, _RowsEncoder]:
        # The tables' column types as the database has them, so the binary
        # encoding always matches the schema.
        out: dict[str, _RowsEncoder] = {}
        for t in TABLES:
            cols = await conn.fetch(
                "SELECT attname, format_type(atttypid, NULL), attnotnull "
                "FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
                "AND NOT attisdropped",
                t.name,
            )
            by_name = {r[0]: (r[1], r[2]) for r in cols}
            if not all(c in by_name for c in t.columns):
                continue  # a missing column: asyncpg reports it
            enc = row_encoder(
                [by_name[c][0] for c in t.columns],
                [not by_name[c][1] for c in t.columns],
            )
            if enc is not None:
                out[t.name] = enc
        return out

    def prepare(self, batch: Batch) -> Iterator[None]:
        """Encode the rows of every table of integer and ``bytea`` columns as
        binary ``COPY`` data (``batch.encoded``), a few thousand rows a step.

        Does nothing before the writer connection has read the column types
        (the first batch).  A value that does not fit its column (or None in
        a ``NOT NULL`` one) leaves that table to asyncpg, which reports it
        when the batch is written.
        """
        encoders = self._encoders if self.encode_ahead else {}
        for name, rows in batch.rows.items():
            enc = encoders.get(name)
            if enc is None or not rows:
                continue
            parts = [_COPY_HEADER]
            try:
                for i in range(0, len(rows), _PREPARE_STEP):
                    parts.append(enc(rows[i : i + _PREPARE_STEP]))
                    yield
            except (OverflowError, TypeError, ValueError):
                continue
            parts.append(_COPY_TRAILER)
            batch.encoded[name] = b"".join(parts)

    async def write(self, batch: Batch) -> None:
        conn = await self._writer_conn()
        try:
            if not (self.direct_copy and await self._write_direct(conn, batch)):
                await self._write_merged(conn, batch)
        except self._errors as exc:
            await self._drop_writer()
            raise self._unavailable(exc) from exc
        except BaseException:
            if conn.is_in_transaction() or conn.is_closed():
                await self._drop_writer()
            raise

    async def _write_direct(self, conn: Any, batch: Batch) -> bool:
        """COPY the rows straight into the tables; False (nothing written) if
        a key was there already."""
        (c0, e0), (c1, e1) = batch.after, batch.upto
        # One round trip opens the transaction and moves the checkpoint, if
        # it is the batch's starting point; that locks its row until COMMIT
        # as SELECT ... FOR UPDATE would (an archiver racing on the same
        # database waits, then finds the checkpoint moved: UPDATE 0).  The
        # values are ints formatted with int(): the simple query protocol
        # (several statements) takes no parameters.
        status = await conn.execute(
            f"BEGIN; UPDATE checkpoint SET cmd_seq = {int(c1)}, "
            f"event_seq = {int(e1)} WHERE id = 1 AND cmd_seq = {int(c0)} "
            f"AND event_seq = {int(e0)}"
        )
        if status != "UPDATE 1":
            row = await conn.fetchrow("SELECT cmd_seq, event_seq FROM checkpoint")
            await conn.execute("ROLLBACK")
            raise CheckpointConflictError(
                f"the store's checkpoint is {(row[0], row[1])}, the batch "
                f"follows {tuple(batch.after)}"
            )
        try:
            await self._copy(conn, batch, staged=False)
        except self._pg.UniqueViolationError:
            await conn.execute("ROLLBACK")  # rows past the checkpoint exist
            self.fallbacks += 1
            return False
        await conn.execute("COMMIT")
        return True

    async def _write_merged(self, conn: Any, batch: Batch) -> None:
        """The idempotent path: COPY into staging, INSERT ... ON CONFLICT."""
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT cmd_seq, event_seq FROM checkpoint WHERE id = 1 FOR UPDATE"
            )
            if (row[0], row[1]) != tuple(batch.after):
                raise CheckpointConflictError(
                    f"the store's checkpoint is {(row[0], row[1])}, the batch "
                    f"follows {tuple(batch.after)}"
                )
            await self._copy(conn, batch, staged=True)
            await conn.execute(
                "UPDATE checkpoint SET cmd_seq = $1, event_seq = $2 WHERE id = 1",
                *batch.upto,
            )

    async def _copy(self, conn: Any, batch: Batch, *, staged: bool) -> None:
        for t in TABLES:
            rows = batch.rows.get(t.name)
            if not rows:
                continue
            target = f"stage_{t.name}" if staged else t.name
            data = batch.encoded.get(t.name)
            if data is not None:
                await conn.copy_to_table(  # (bytes would be taken for a path)
                    target, source=memoryview(data), columns=t.columns, format="binary"
                )
                self.copied_encoded += 1
            else:
                await conn.copy_records_to_table(
                    target, records=rows, columns=t.columns
                )
            if not staged:
                continue
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
