"""The distributed processes started by the ``probo`` command, as separate
processes around the shared Redis and PostgreSQL: ``probo engine``,
``probo gateway``, ``probo archiver``, ``probo ws`` and ``probo reconcile``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from childenv import child_env

from .helpers import Signed, read_admin


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _probo(*args: str, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - the child owns it
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "probo_engine.server", *args],
            env=child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        out.close()


def _wait(pred: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
        except (httpx.HTTPError, OSError):
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _get(url: str) -> httpx.Response:
    with httpx.Client() as c:
        return c.get(url)


@pytest.mark.slow
def test_probo_distributed_processes(
    tmp_path: Path, redis_url: str, redis_prefix: str, pg_dsn: str
) -> None:
    dist = ["--redis", redis_url, "--prefix", redis_prefix]
    gw_data, log = tmp_path / "gw", tmp_path / "probo.log"
    http, ws_port = _port(), _port()
    procs = [
        _probo("engine", *dist, "--data", str(tmp_path / "engine"), log=log),
        _probo("archiver", *dist, "--pg", pg_dsn, log=log),
        _probo(
            "gateway",
            *dist,
            "--pg",
            pg_dsn,
            "--data",
            str(gw_data),
            "--port",
            str(http),
            log=log,
        ),
    ]
    base = f"http://127.0.0.1:{http}"
    opened: list[httpx.Client] = []
    try:
        _wait(lambda: _get(base + "/readyz").status_code == 200, "the gateway")
        procs.append(
            _probo("ws", *dist, "--data", str(gw_data), "--port", str(ws_port), log=log)
        )
        adm = read_admin(gw_data)
        admin = httpx.Client(
            base_url=base, auth=Signed(adm["api_key"], adm["api_secret"])
        )
        opened.append(admin)
        assert admin.post("/v1/markets", json={"symbol": "RAIN"}).status_code == 201
        clients = {}
        for name in ("asha", "bilal"):
            assert admin.post("/v1/users", json={"name": name}).status_code == 201
            k = admin.post("/v1/keys", json={"user": name}).json()
            clients[name] = httpx.Client(
                base_url=base, auth=Signed(k["key_id"], k["secret"])
            )
            opened.append(clients[name])
            r = admin.post("/v1/deposits", json={"user": name, "amount": 100_000})
            assert r.status_code == 200
        order = {"market": "RAIN", "side": "buy", "price": 600, "qty": 10}
        r = clients["asha"].post("/v1/orders", json={**order, "outcome": "yes"})
        assert r.json()["status"] == "resting"
        r = clients["bilal"].post(
            "/v1/orders", json={**order, "outcome": "no", "price": 400}
        )
        assert r.json()["status"] == "filled"
        assert clients["asha"].get("/v1/balance").json()["available"] == 94_000
        # the archiver (its own process) fills PostgreSQL; the gateway reads it
        fills = _wait(lambda: clients["asha"].get("/v1/fills").json()["fills"], "fills")
        assert [(f["qty"], f["price"]) for f in fills] == [(10, 600)]

        async def ws_hello() -> dict[str, Any]:
            import websockets

            async with websockets.connect(f"ws://127.0.0.1:{ws_port}/v1/ws") as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                await ws.send(
                    json.dumps(
                        {
                            "op": "subscribe",
                            "channel": "book",
                            "market": "RAIN",
                            "id": 1,
                        }
                    )
                )
                for _ in range(20):
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if msg.get("type") == "snapshot":
                        return {"hello": hello, "snapshot": msg}
            raise AssertionError("no snapshot")

        got = _wait(lambda: asyncio.run(ws_hello()), "the ws server", 30)
        assert got["hello"]["type"] == "hello" and got["snapshot"]["symbol"] == "RAIN"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "probo_engine.server",
                "reconcile",
                *dist,
                "--pg",
                pg_dsn,
            ],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 differences" in done.stdout
    finally:
        for c in opened:
            c.close()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        import redis

        r2 = redis.Redis.from_url(redis_url)
        keys = list(r2.scan_iter(match=redis_prefix + ":*"))
        if keys:
            r2.delete(*keys)
        r2.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]
