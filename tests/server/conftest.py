"""Fixtures of the server tests: an app on an in-memory bus and signed clients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from probo_engine.server.app import create_app
from probo_engine.server.config import ServerConfig
from probo_engine.server.modes import (
    embedded_services,
    gateway_services,
    memory_services,
)
from probo_engine.server.services import Services

from .helpers import Server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def distributed_services(config: ServerConfig) -> AsyncIterator[Services]:
    """A gateway, with a Redis engine and a PostgreSQL archiver running as
    tasks of this loop (in production each is its own process)."""
    from probo_engine.adapters.history.archiver import (
        ArchiverConfig,
        ArchiverStats,
        run_archiver,
    )
    from probo_engine.adapters.redis import EngineConfig, RedisEntrySource, run_engine

    stop = asyncio.Event()
    stats = ArchiverStats()
    engine_cfg = EngineConfig(
        redis_url=config.redis_url,
        prefix=config.redis_prefix,
        data_dir=str(config.data / "engine"),
    )
    async with (
        RedisEntrySource(config.redis_url, prefix=config.redis_prefix) as src,
        asyncio.TaskGroup() as tg,
    ):
        tg.create_task(run_engine(engine_cfg, stop))
        tg.create_task(
            run_archiver(
                ArchiverConfig(store=config.pg_dsn, source=src, read_timeout=0.1),
                stop=stop,
                stats=stats,
            )
        )
        try:
            async with gateway_services(config) as svc:
                reads = svc.reads
                svc.gauges["probo_archiver_lag"] = lambda: reads.seq - stats.cmd_seq
                yield svc
        finally:
            stop.set()
    import redis.asyncio as aio  # the test's keys, all under its own prefix

    r = aio.Redis.from_url(config.redis_url)
    try:
        keys = [k async for k in r.scan_iter(match=config.redis_prefix + ":*")]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


MODES = {
    "memory": memory_services,
    "embedded": embedded_services,
    "distributed": distributed_services,
}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    """Every app test runs on the in-memory bus, on the embedded stack
    (durable entry log, SQLite history, WebSocket feed) and distributed
    (gateway + Redis engine + PostgreSQL archiver)."""
    return str(request.param)


@pytest.fixture
def config(tmp_path: Path, mode: str, request: pytest.FixtureRequest) -> ServerConfig:
    cfg = ServerConfig(data=tmp_path / "data")
    if mode == "distributed":  # needs Redis and PostgreSQL (skips without)
        cfg = cfg.replace(
            redis_url=request.getfixturevalue("redis_url"),
            redis_prefix=f"probotest-{uuid.uuid4().hex[:12]}",
            pg_dsn=request.getfixturevalue("pg_dsn"),
        )
    return cfg


@pytest.fixture
async def server(config: ServerConfig, mode: str) -> AsyncIterator[Server]:
    app = create_app(config, MODES[mode])
    async with app.router.lifespan_context(app):
        yield Server(app, config.data)
