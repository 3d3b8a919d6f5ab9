"""Fixtures of the server tests: an app on an in-memory bus and signed clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from probo_engine.server.app import create_app
from probo_engine.server.config import ServerConfig
from probo_engine.server.modes import embedded_services, memory_services

from .helpers import Server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(data=tmp_path / "data")


MODES = {"memory": memory_services, "embedded": embedded_services}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    """Every app test runs on the in-memory bus and on the embedded stack
    (durable entry log, SQLite history, WebSocket feed)."""
    return str(request.param)


@pytest.fixture
async def server(config: ServerConfig, mode: str) -> AsyncIterator[Server]:
    app = create_app(config, MODES[mode])
    async with app.router.lifespan_context(app):
        yield Server(app, config.data)
