"""The one small interface both history stores implement, and how to open one.

A store knows how to migrate its database, read and advance the checkpoint
together with a batch of rows (one transaction), and run the read-only SQL of
:mod:`.queries` (written with ``?`` placeholders; the PostgreSQL store turns
them into ``$1, $2, ...``).  The archiver and the queries see nothing else, so
the same code and the same tests run on both.

URLs: ``sqlite:///abs/path/history.db``, ``sqlite:relative/path.db``,
``sqlite::memory:`` (tests), or ``postgresql://user@host:port/db``
(``postgres://`` too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from probo_engine.errors import ProboError

from .derive import Batch, Checkpoint, MarketConfig

__all__ = ["CheckpointConflictError", "HistoryStore", "open_store", "sqlite_path"]


class CheckpointConflictError(ProboError, RuntimeError):
    """A batch did not follow the store's checkpoint: another archiver wrote
    to the same database, or the caller skipped ahead.  Nothing was written."""


class HistoryStore(Protocol):
    """What the archiver, the queries and reconciliation need from a database."""

    #: ``"sqlite"`` or ``"postgres"``
    dialect: str

    async def migrate(self) -> int:
        """Apply the pending migrations; return the schema version.

        Idempotent.  Raises :class:`~.schema.SchemaVersionError` (and changes
        nothing) if the database is at a newer version than this library.
        """
        ...

    async def schema_version(self) -> int:
        """The database's schema version (0: never migrated)."""
        ...

    async def checkpoint(self) -> Checkpoint:
        """The last command seq and event seq written."""
        ...

    async def load_markets(self) -> dict[int, MarketConfig]:
        """Configuration of every archived market (the deriver's state)."""
        ...

    def prepare(self, batch: Batch) -> Iterator[None]:
        """Encode ``batch``'s rows for :meth:`write` ahead of time, in steps.

        Pure CPU, no I/O: the archiver runs it while the previous batch is
        being written, and lets its event loop run between two steps.  It
        may do nothing (SQLite); :meth:`write` writes a batch whether or not
        it was prepared, with the same result.
        """
        ...

    async def write(self, batch: Batch) -> None:
        """Write every row of ``batch`` and move the checkpoint to
        ``batch.upto``, in one transaction.

        Rows already present are left alone (``ON CONFLICT DO NOTHING``).
        Raises :class:`CheckpointConflictError` if the checkpoint is not
        ``batch.after``, :class:`~probo_engine.errors.UnavailableError` if the
        database cannot be reached; in both cases nothing was committed (or,
        for a connection lost during COMMIT, maybe all of it: read
        :meth:`checkpoint` again).
        """
        ...

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query with ``?`` placeholders."""
        ...

    async def close(self) -> None: ...


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:`` URL (``":memory:"`` for memory), else None."""
    if not url.startswith("sqlite:"):
        return None
    rest = url[len("sqlite:") :]
    if rest.startswith("///"):
        return "/" + rest[3:]
    if rest.startswith("//"):
        raise ValueError(f"{url!r}: use sqlite:///absolute/path or sqlite:relative")
    if not rest:
        raise ValueError(f"{url!r} names no file")
    return rest


async def open_store(
    url: str,
    *,
    migrate: bool = True,
    connect_timeout: float = 10.0,
    command_timeout: float = 60.0,
) -> HistoryStore:
    """Open the history store at ``url`` (see the module docstring).

    With ``migrate`` the schema is brought up to date; without, a database
    that is not exactly at :data:`~.schema.SCHEMA_VERSION` is refused with
    :class:`~.schema.SchemaVersionError`.  Raises
    :class:`~probo_engine.errors.UnavailableError` if PostgreSQL cannot be
    reached within ``connect_timeout`` seconds.
    """
    from .schema import SCHEMA_VERSION, SchemaVersionError, check_version

    store: HistoryStore
    path = sqlite_path(url)
    if path is not None:
        from .sqlite import SQLiteStore

        store = await SQLiteStore.open(path, timeout=command_timeout)
    elif url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        store = await PostgresStore.open(
            url, connect_timeout=connect_timeout, command_timeout=command_timeout
        )
    else:
        raise ValueError(
            f"unknown history store URL {url!r}: use sqlite:///path or postgresql://..."
        )
    try:
        if migrate:
            await store.migrate()
        else:
            found = await store.schema_version()
            check_version(found)
            if found != SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the history database is at schema version {found}, this "
                    f"probo-engine needs {SCHEMA_VERSION}: migrate it first"
                )
    except BaseException:
        await store.close()
        raise
    return store
