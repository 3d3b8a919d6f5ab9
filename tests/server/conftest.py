"""Fixtures of the server tests: an app on an in-memory bus and signed clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from probo_engine.server.app import create_app
from probo_engine.server.config import ServerConfig
from probo_engine.server.modes import memory_services

from .helpers import Server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(data=tmp_path / "data")


@pytest.fixture
async def server(config: ServerConfig) -> AsyncIterator[Server]:
    app = create_app(config, memory_services)
    async with app.router.lifespan_context(app):
        yield Server(app, config.data)

