"""Helpers of the server tests: signed httpx clients, an app wrapper."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx

from probo_engine.server.auth import sign
from probo_engine.server.modes import ADMIN_FILE


def read_admin(data: Path) -> dict[str, str]:
    out = {}
    for line in (data / ADMIN_FILE).read_text().splitlines():
        if " = " in line and not line.startswith("#"):
            k, v = line.split(" = ", 1)
            out[k] = v
    return out


class Signed(httpx.Auth):
    """httpx auth that signs every request with an API key."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id, self.secret = key_id, secret

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        body = request.content
        headers = sign(
            self.key_id,
            self.secret,
            request.method,
            request.url.raw_path.split(b"?")[0].decode(),
            request.url.query.decode(),
            body,
        )
        request.headers.update(headers)
        yield request


class Server:
    """An app in this process, its admin client and helpers to make users."""

    def __init__(self, app: Any, data: Path) -> None:
        self.app = app
        self.data = data
        self.transport = httpx.ASGITransport(app=app)
        adm = read_admin(data)
        self.admin = self.client(adm["api_key"], adm["api_secret"])
        self.anon = httpx.AsyncClient(transport=self.transport, base_url="http://t")

    def client(self, key_id: str, secret: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport, base_url="http://t", auth=Signed(key_id, secret)
        )

    @property
    def history(self) -> bool:
        return self.app.state.ctx.services.history is not None

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait (bounded) until the archiver has caught up with the engine."""
        lag = self.app.state.ctx.services.gauges.get("probo_archiver_lag")
        if lag is None:
            return
        for _ in range(int(timeout / 0.02)):
            if lag() == 0:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the archiver did not catch up")

    @property
    def engine(self) -> Any:
        return self.app.state.ctx.services.reads.engine

    async def user(self, name: str, cash: int = 0, **kw: Any) -> httpx.AsyncClient:
        r = await self.admin.post("/v1/users", json={"name": name, **kw})
        assert r.status_code == 201, r.text
        r = await self.admin.post("/v1/keys", json={"user": name})
        assert r.status_code == 201, r.text
        k = r.json()
        if cash:
            r = await self.admin.post(
                "/v1/deposits", json={"user": name, "amount": cash}
            )
            assert r.status_code == 200, r.text
        return self.client(k["key_id"], k["secret"])

    async def market(self, symbol: str = "RAIN", **kw: Any) -> None:
        r = await self.admin.post("/v1/markets", json={"symbol": symbol, **kw})
        assert r.status_code == 201, r.text


def body(r: httpx.Response) -> Any:
    return json.loads(r.content)
