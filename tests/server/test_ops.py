"""Never a hang: a bus that does not answer gives 503 in bounded time;
metrics count what happened; shutdown refuses new requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from probo_engine.commands import CreateMarket
from probo_engine.errors import UnavailableError
from probo_engine.server.app import create_app
from probo_engine.server.config import ServerConfig
from probo_engine.server.modes import memory_services
from probo_engine.server.services import Services

from .helpers import Server

pytestmark = pytest.mark.anyio


class StuckBus:
    """A bus whose engine never answers (or is down)."""

    def __init__(self, down: bool) -> None:
        self.down = down

    async def submit(self, cmd: Any, key: bytes, *, timeout: float = 5.0) -> Any:
        if self.down:
            raise UnavailableError("no engine")
        await asyncio.sleep(3600)  # ignores its timeout: the app must not


async def test_stuck_or_down_bus_gives_503(tmp_path: Path) -> None:
    for down in (False, True):
        data = tmp_path / str(down)
        cfg = ServerConfig(data=data, bus_timeout=0.2)

        @asynccontextmanager
        async def services(
            config: ServerConfig, down: bool = down
        ) -> AsyncIterator[Services]:
            async with memory_services(config) as svc:
                await svc.bus.submit(CreateMarket(symbol="RAIN"), b"")  # type: ignore[arg-type]
                svc.bus = StuckBus(down)
                yield svc

        app = create_app(cfg, services)
        async with app.router.lifespan_context(app):
            s = Server(app, data)
            t0 = time.monotonic()
            r = await s.admin.post("/v1/markets/RAIN/halt")
            assert time.monotonic() - t0 < 5.0
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
            assert r.headers["Retry-After"] == "1"
            m = (await s.anon.get("/metrics")).text
            assert "probo_bus_unavailable_total 1.0" in m
            assert (
                'probo_http_requests_total{route="markets.halt",status="503"} 1.0' in m
            )


async def test_shutdown_refuses_new_requests(server: Server) -> None:
    ctx = server.app.state.ctx
    ctx.accepting = False
    r = await server.admin.get("/v1/me")
    assert r.status_code == 503 and r.json()["error"]["code"] == "stopping"
    assert (await server.anon.get("/readyz")).status_code == 503
    ctx.accepting = True
    assert (await server.admin.get("/v1/me")).status_code == 200


async def test_lingering_source_batches_what_arrives_while_it_waits() -> None:
    from probo_engine.adapters.entries import MemoryEntryLog
    from probo_engine.adapters.runner import EngineRunner
    from probo_engine.server.modes import LingeringSource

    runner = EngineRunner()
    entries = [runner.apply(CreateMarket(), b"") for _ in range(5)]
    log = MemoryEntryLog()
    src = LingeringSource(log, linger=0.2, enough=3)
    log.append(entries[0])  # type: ignore[arg-type]

    async def more() -> None:
        await asyncio.sleep(0.05)
        log.append(entries[1])  # type: ignore[arg-type]

    async with asyncio.TaskGroup() as tg:
        tg.create_task(more())
        got = await src.read(0, 100, 5.0)
    assert [e.seq for e in got] == [1, 2]  # the second arrived during the linger
    for e in entries[2:]:
        log.append(e)  # type: ignore[arg-type]
    assert [e.seq for e in await src.read(2, 100, 0)] == [3, 4, 5]  # enough: at once
    assert [e.seq for e in await src.read(2, 2, 0)] == [3, 4]  # limit respected
    assert await src.read(5, 100, 0.01) == [] and src.head() == 5


def test_recovery_progress_text() -> None:
    from probo_engine.server.modes import _Progress

    p = _Progress()
    assert str(p) == "0 entries replayed"
    p(10_000, 50, 200)  # as LocalEntryLog.open calls it
    assert str(p) == "25%, 10,000 entries replayed"
