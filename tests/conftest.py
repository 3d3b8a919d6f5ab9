"""Shared fixtures: every engine test runs against each implementation.

``engine_cls`` is parametrised over the pure-Python oracle
(``tests/reference.py``) and, once it is built, the Cython core
(``probo_engine._book.Core``).  Both take the same positional-integer commands
and must give the same results, events and state (docs/semantics.md).
"""

from __future__ import annotations

import pytest

from reference import ReferenceEngine

IMPLEMENTATIONS = [pytest.param(ReferenceEngine, id="reference")]

try:
    from probo_engine._book import Core
except ImportError:  # the core is not built (yet): run the oracle alone
    Core = None
else:
    IMPLEMENTATIONS.append(pytest.param(Core, id="core"))


@pytest.fixture(params=IMPLEMENTATIONS)
def engine_cls(request: pytest.FixtureRequest) -> type:
    """An engine class: ``ReferenceEngine`` and, when built, the Cython ``Core``."""
    return request.param


@pytest.fixture
def engine(engine_cls: type):
    """A fresh, empty engine of each implementation."""
    return engine_cls()


# --------------------------------------------------------------- services
# Tests that need Redis or PostgreSQL take these fixtures.  On a developer's
# machine a missing service skips the test with a reason that says how to
# start it; in CI (PROBO_REQUIRE_SERVICES=1, set by .ci/run) it fails.

import os  # noqa: E402
import socket  # noqa: E402
import uuid  # noqa: E402

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_DSN = os.environ.get("PROBO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("PROBO_REQUIRE_SERVICES") == "1"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int, how: str) -> None:
    """Skip (fail in CI) when ``host:port`` does not answer."""
    if _reachable(host, port):
        return
    msg = f"{name} is not running at {host}:{port}: {how}"
    if REQUIRE_SERVICES:
        pytest.fail(msg + " (PROBO_REQUIRE_SERVICES=1: a missing service fails)")
    pytest.skip(msg)


@pytest.fixture
def redis_url() -> str:
    """The local Redis's URL (skip, or fail in CI, if it does not answer).
    Tests share this server: they put every key under ``redis_prefix``."""
    need_service(
        "Redis", REDIS_HOST, REDIS_PORT, "start it with `bash .ci/run` or redis-server"
    )
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses (Redis tests share one server)."""
    return f"probotest-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_dsn() -> str:
    """The DSN of a fresh, empty PostgreSQL database, dropped afterwards."""
    need_service(
        "PostgreSQL",
        "127.0.0.1",
        5432,
        "start it with `bash .ci/run` or pg_ctlcluster ... main start",
    )
    import asyncio

    asyncpg = pytest.importorskip("asyncpg")
    name = f"probotest_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    yield PG_DSN.rsplit("/", 1)[0] + "/" + name
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
