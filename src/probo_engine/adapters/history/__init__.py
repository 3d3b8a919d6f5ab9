"""History: the archiver, the SQLite and PostgreSQL stores, queries, reconciliation.

See docs/history.md.  The archiver (:func:`run_archiver`) reads entries in
order from any :class:`~probo_engine.adapters.entries.EntrySource` and writes
users, markets, orders (every state change), fills, ledger movements, market
statuses and rejections, batch by batch, each batch in one transaction with
the checkpoint.  :mod:`.queries` answers trades, a user's orders, fills and
balance history, candles and past order books; :func:`reconcile` compares the
history with an engine.

PostgreSQL needs the ``[postgres]`` extra (asyncpg, imported only when a
``postgresql://`` store is opened); SQLite is the standard library.
"""

from __future__ import annotations

from .archiver import Archiver, ArchiverConfig, ArchiverStats, run_archiver
from .derive import Batch, Checkpoint, DeriveError, Deriver, MarketConfig
from .reconcile import (
    Difference,
    ReconcileConfig,
    engine_at,
    reconcile,
    run_reconcile,
)
from .schema import SCHEMA_VERSION, SchemaVersionError
from .store import CheckpointConflictError, HistoryStore, open_store

__all__ = [
    "SCHEMA_VERSION",
    "Archiver",
    "ArchiverConfig",
    "ArchiverStats",
    "Batch",
    "Checkpoint",
    "CheckpointConflictError",
    "DeriveError",
    "Deriver",
    "Difference",
    "HistoryStore",
    "MarketConfig",
    "ReconcileConfig",
    "SchemaVersionError",
    "engine_at",
    "open_store",
    "reconcile",
    "run_archiver",
    "run_reconcile",
]
