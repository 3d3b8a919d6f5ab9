"""kill -9 the embedded server (a real ``probo serve`` process) under load,
restart it, and check that every acknowledged order is there exactly once,
that the state equals a replay of the entry log, and that the history
reconciles with the engine."""

from __future__ import annotations

import asyncio
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
from probo_engine import Engine, commands
from probo_engine.adapters.history.reconcile import reconcile
from probo_engine.adapters.history.store import open_store
from probo_engine.adapters.locallog import LocalEntryLog

from .helpers import Signed, read_admin

CYCLES = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = child_env()
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "probo_engine.server",
            "serve",
            "--data",
            str(data),
            "--port",
            str(port),
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if (
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
                == 200
            ):
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not become ready")


class Driver:
    def __init__(self, port: int, data: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.data = data
        self.acked: dict[tuple[str, int], int] = {}  # (user, client id) -> order id
        self.next_cid = {"asha": 1, "bilal": 1}
        self.keys: dict[str, tuple[str, str]] = {}

    def client(self, user: str) -> httpx.AsyncClient:
        if user == "admin":
            adm = read_admin(self.data)
            key = (adm["api_key"], adm["api_secret"])
        else:
            key = self.keys[user]
        return httpx.AsyncClient(base_url=self.base, auth=Signed(*key), timeout=10)

    async def setup(self) -> None:
        async with self.client("admin") as adm:
            assert (
                await adm.post("/v1/markets", json={"symbol": "RAIN"})
            ).status_code == 201
            for name in ("asha", "bilal"):
                assert (
                    await adm.post("/v1/users", json={"name": name})
                ).status_code == 201
                k = (await adm.post("/v1/keys", json={"user": name})).json()
                self.keys[name] = (k["key_id"], k["secret"])
                r = await adm.post(
                    "/v1/deposits", json={"user": name, "amount": 10**12}
                )
                assert r.status_code == 200

    async def load(self, seconds: float, kill: Any = None) -> None:
        stop = time.monotonic() + seconds

        async def worker(user: str, outcome: str, i: int) -> None:
            async with self.client(user) as c:
                while time.monotonic() < stop:
                    cid = self.next_cid[user]
                    self.next_cid[user] += 1
                    price = (
                        50 * (8 + (cid + i) % 5)
                        if outcome == "yes"
                        else 50 * (8 + (cid + i) % 5)
                    )
                    order = {
                        "market": "RAIN",
                        "side": "buy",
                        "outcome": outcome,
                        "price": price,
                        "qty": 1 + cid % 3,
                        "client_order_id": cid,
                    }
                    try:
                        r = await c.post("/v1/orders", json=order)
                    except httpx.HTTPError:
                        return  # the server is gone: this one is not acknowledged
                    if r.status_code in (200, 201):
                        self.acked[(user, cid)] = r.json()["order_id"]

        async with asyncio.TaskGroup() as tg:
            for i in range(4):
                tg.create_task(
                    worker("asha" if i % 2 else "bilal", "yes" if i % 2 else "no", i)
                )
            if kill is not None:
                tg.create_task(kill())


@pytest.mark.slow
def test_kill9_under_load_and_restart(tmp_path: Path) -> None:
    data, port, out = tmp_path / "data", _free_port(), tmp_path / "server.log"
    proc = _start(data, port, out)
    d = Driver(port, data)
    try:
        asyncio.run(d.setup())
        for cycle in range(CYCLES):
            if cycle:
                proc = _start(data, port, out)
            n0 = len(d.acked)

            async def kill(proc: subprocess.Popen[bytes] = proc) -> None:
                await asyncio.sleep(1.0)
                os.killpg(proc.pid, signal.SIGKILL)

            asyncio.run(d.load(3.0, kill))
            assert proc.wait(10) == -signal.SIGKILL
            assert len(d.acked) > n0, "no order was acknowledged in this cycle"
        proc = _start(data, port, out)

        async def check() -> dict[str, Any]:
            async with d.client("admin") as adm:
                for _ in range(600):  # the archiver catches up (bounded)
                    m = (await adm.get("/metrics")).text
                    if "probo_archiver_lag 0.0" in m:
                        break
                    await asyncio.sleep(0.05)
                state = (await adm.get("/v1/admin/state")).json()
            for user in ("asha", "bilal"):
                async with d.client(user) as c:
                    for (u, cid), oid in d.acked.items():
                        if u != user:
                            continue
                        r = await c.get(f"/v1/orders/client/{cid}")
                        assert r.status_code == 200, (user, cid, r.text)
                        assert r.json()["order_id"] == oid
            return dict(state)

        state = asyncio.run(check())
        os.killpg(proc.pid, signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down gracefully
        assert proc.wait(30) in (0, -signal.SIGTERM), out.read_text()[-3000:]
        assert out.read_text().rstrip().count("snapshot written at entry") == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # every acknowledged order is in the entry log exactly once, and the state
    # the server reported equals a replay of the log from a fresh engine
    elog = LocalEntryLog.open(data / "log")
    try:
        entries = elog.read_sync(0, 10**9)
        head = elog.runner.seq
    finally:
        elog.close()
    assert entries[0].seq == 1 and entries[-1].seq == head == state["command_seq"]
    eng = Engine()
    keys: dict[bytes, int] = {}
    for e in entries:
        assert commands.apply(eng, commands.decode(e.command)) == e.result
        keys[e.key] = keys.get(e.key, 0) + 1
    assert eng.state_hash() == state["state_hash"]
    uid = {"bilal": 2, "asha": 1}
    for user, cid in d.acked:
        assert keys.get(f"c:{uid[user]}:{cid}".encode()) == 1, (user, cid)

    async def history() -> list[Any]:
        store = await open_store(f"sqlite:///{data / 'history.sqlite3'}")
        try:
            return await reconcile(store, eng, head)
        finally:
            await store.close()

    assert asyncio.run(history()) == []
