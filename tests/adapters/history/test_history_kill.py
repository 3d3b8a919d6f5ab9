"""Kill tests: the archiver is SIGKILLed every 1-3 s while more than 100,000
events stream in; on PostgreSQL the database is also stopped once (immediate
mode, our own cluster on a free port) and restarted.  Afterwards: every row
there once, none twice, and reconciliation with the engine exact.

The archiver runs as a separate process (``history_kill_child.py``) reading a durable
entry file (``history_file_source.py``) that this test appends to as it goes, like an
engine producing entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from history_streams import Driver, entries_for_events, write_entries

from childenv import child_env
from probo_engine.adapters.history import Checkpoint, Deriver, open_store, reconcile
from probo_engine.adapters.history.schema import TABLES

N_EVENTS = 100_000
PRODUCE_SECONDS = 12.0
HERE = Path(__file__).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
REQUIRE = os.environ.get("PROBO_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="module")
def stream() -> Driver:
    return entries_for_events(21, N_EVENTS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnPostgres:
    """A throwaway PostgreSQL cluster in a temp dir, on a free port."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="probo-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:  # initdb refuses root: run as postgres
            shutil.chown(self.base, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        else:
            self.prefix = []
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust")

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self.prefix, *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.base / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop_immediate(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
        )

    def cleanup(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped
            self.stop_immediate()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if not (PG_BIN / "initdb").exists() or (
        os.geteuid() == 0 and shutil.which("runuser") is None
    ):
        msg = f"PostgreSQL 15 binaries not found in {PG_BIN}: apt install postgresql-15"
        if REQUIRE:
            pytest.fail(msg)
        pytest.skip(msg)
    pg = OwnPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.cleanup()


def _checkpoint(url: str) -> Checkpoint | None:
    async def read() -> Checkpoint:
        store = await open_store(url, migrate=False, connect_timeout=2)
        try:
            return await store.checkpoint()
        finally:
            await store.close()

    try:
        return asyncio.run(read())
    except Exception:  # not created yet, or the database is down
        return None


def _kill_run(url: str, stream: Driver, tmp: Path, pg: OwnPostgres | None) -> int:
    """Stream the entries to a file while killing the archiver; return kills."""
    path = tmp / "entries.bin"
    path.touch()
    entries = stream.entries
    chunk = max(1, int(len(entries) / (PRODUCE_SECONDS / 0.05)))

    def produce() -> None:
        for i in range(0, len(entries), chunk):
            write_entries(path, entries[i : i + chunk])
            time.sleep(0.05)

    env = child_env(HERE)
    log = open(tmp / "archiver.log", "ab")  # noqa: SIM115 (closed below)

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(HERE / "history_kill_child.py"), url, str(path)],
            env=env,
            stdout=log,
            stderr=log,
        )

    rng = random.Random(7)
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    child = spawn()
    kills = 0
    pg_restarted = pg is None
    try:
        while producer.is_alive() or kills < 5:
            time.sleep(rng.uniform(1.0, 3.0))
            if not pg_restarted and kills >= 2:
                assert pg is not None
                pg.stop_immediate()
                time.sleep(rng.uniform(0.5, 1.5))
                pg.start()
                pg_restarted = True
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            kills += 1
            child = spawn()
        producer.join()
        want = (len(entries), stream.n_events)
        deadline = time.monotonic() + 180
        while tuple(_checkpoint(url) or (0, 0)) != want:
            assert time.monotonic() < deadline, f"archiver stuck at {_checkpoint(url)}"
            if child.poll() is not None:  # it exited (it should not): again
                child = spawn()
            time.sleep(0.2)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        log.close()
        producer.join(timeout=60)
    assert pg_restarted
    text = (tmp / "archiver.log").read_text()
    resumed = [
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if "resuming after command" in line
    ]
    # killed in the middle of the stream, many times, and resumed each time
    assert len([r for r in resumed if 0 < r < len(entries)]) >= 3, resumed
    if pg is not None:
        assert "retrying" in text  # it saw the database go away
    return kills


def _verify(url: str, stream: Driver) -> None:
    expected = Deriver().derive(stream.entries, Checkpoint(0, 0))

    async def main() -> None:
        store = await open_store(url, migrate=False)
        try:
            assert await store.checkpoint() == expected.upto
            for t in TABLES:
                (n,) = (await store.fetch(f"SELECT COUNT(*) FROM {t.name}"))[0]
                assert n == len(expected.rows[t.name]), t.name  # 0 lost
                key = ", ".join(t.key)
                (dup,) = (
                    await store.fetch(
                        f"SELECT COUNT(*) FROM (SELECT {key} FROM {t.name} "
                        f"GROUP BY {key} HAVING COUNT(*) > 1) d"
                    )
                )[0]
                assert dup == 0, t.name  # 0 duplicates
            # the very rows, not only their number (fills: every column)
            cols = ", ".join(TABLES[6].columns)
            assert TABLES[6].name == "fills"
            fills = await store.fetch(f"SELECT {cols} FROM fills ORDER BY seq")
            assert [tuple(r) for r in fills] == expected.rows["fills"]
            diffs = await reconcile(store, stream.engine, len(stream.entries))
            assert diffs == [], [str(d)[:300] for d in diffs[:5]]
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.slow
def test_sqlite_survives_sigkill_every_few_seconds(stream, tmp_path):
    assert stream.n_events >= N_EVENTS
    url = f"sqlite:///{tmp_path / 'history.db'}"
    kills = _kill_run(url, stream, tmp_path, None)
    assert kills >= 5
    _verify(url, stream)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_survives_sigkill_and_an_immediate_shutdown(
    stream, tmp_path, own_postgres
):
    assert stream.n_events >= N_EVENTS
    kills = _kill_run(own_postgres.dsn, stream, tmp_path, own_postgres)
    assert kills >= 5
    _verify(own_postgres.dsn, stream)
