"""The module CLI, and that the history package imports no driver it does not use."""

from __future__ import annotations

import subprocess
import sys
from contextlib import closing

from probo_engine.adapters.history.__main__ import main
from probo_engine.adapters.history.schema import SCHEMA_VERSION


def test_importing_history_loads_no_database_driver():
    code = (
        "import sys, probo_engine.adapters.history as h, "
        "probo_engine.adapters.history.queries\n"
        "print('asyncpg' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "False"


def test_cli_migrate_then_status(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert main(["status", url]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["migrate", url]) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["status", url]) == 0
    out = capsys.readouterr().out
    assert "checkpoint: command 0, event 0" in out and "ledger" in out


def test_cli_refuses_a_newer_schema(tmp_path, capsys):
    import sqlite3

    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert main(["migrate", url]) == 0
    with closing(sqlite3.connect(tmp_path / "h.db")) as db, db:
        db.execute("INSERT INTO schema_version VALUES (99, 'future')")
    assert main(["migrate", url]) == 1
    assert "schema version 99" in capsys.readouterr().err


def test_docstring_examples():
    import doctest

    from probo_engine.adapters.history import derive, postgres

    for module in (derive, postgres):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted >= 1, module
