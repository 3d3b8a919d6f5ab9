"""``python -m probo_engine.adapters.history``: look after a history database.

    python -m probo_engine.adapters.history migrate STORE_URL
    python -m probo_engine.adapters.history status STORE_URL

``migrate`` brings the schema up to date (and refuses a newer one); ``status``
prints the schema version, the checkpoint and the row count of every table.
Archiving and reconciling need an entry source, which the server owns: they
are ``probo archiver`` and ``probo reconcile`` (built on
:func:`~probo_engine.adapters.history.run_archiver` and
:func:`~probo_engine.adapters.history.run_reconcile`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from probo_engine.errors import UnavailableError

from .schema import TABLES, SchemaVersionError
from .store import open_store, sqlite_path


async def _migrate(url: str) -> str:
    store = await open_store(url)
    try:
        return f"schema version {await store.schema_version()}"
    finally:
        await store.close()


async def _status(url: str) -> str:
    path = sqlite_path(url)
    if path is not None and path != ":memory:" and not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    store = await open_store(url, migrate=False)
    try:
        cp = await store.checkpoint()
        lines = [
            f"schema version {await store.schema_version()}",
            f"checkpoint: command {cp.cmd_seq}, event {cp.event_seq}",
        ]
        for t in TABLES:
            (n,) = (await store.fetch(f"SELECT COUNT(*) FROM {t.name}"))[0]
            lines.append(f"{t.name:14} {n:>12,} rows")
        return "\n".join(lines)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m probo_engine.adapters.history",
        description="Migrate or inspect a probo_engine history database.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, text in (
        ("migrate", "apply pending migrations"),
        ("status", "schema version, checkpoint, row counts"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("store", help="sqlite:///path/history.db or postgresql://...")
    args = p.parse_args(argv)
    run = _migrate if args.cmd == "migrate" else _status
    try:
        print(asyncio.run(run(args.store)))
    except (SchemaVersionError, UnavailableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
