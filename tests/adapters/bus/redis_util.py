"""Helpers for the Redis bus tests: key cleanup, an engine task, own servers."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

from childenv import child_env
from probo_engine.adapters.redis import EngineConfig, RedisEngine


async def delete_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in r.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@contextlib.asynccontextmanager
async def engine_task(config: EngineConfig) -> AsyncIterator[RedisEngine]:
    """An engine running in this loop until the block ends (then stopped)."""
    eng = RedisEngine(config)
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(eng.run(stop))
        ready = tg.create_task(eng.ready.wait())
        done, _ = await asyncio.wait(
            [task, ready], timeout=30, return_when="FIRST_COMPLETED"
        )
        assert ready in done, "engine did not get ready"
        try:
            yield eng
        finally:
            stop.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A private redis-server (AOF, ``appendfsync`` as given) in a directory."""

    def __init__(self, directory: Path, fsync: str = "always") -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed"
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
                "--appendfsync", self.fsync, "--protected-mode", "no",
                "--logfile", str(self.dir / "redis.log")]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"redis-server did not start: {self.log()}")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def log(self) -> str:
        p = self.dir / "redis.log"
        return p.read_text()[-2000:] if p.exists() else ""


def src_env() -> dict[str, str]:
    return child_env(Path(__file__).resolve().parents[2])
