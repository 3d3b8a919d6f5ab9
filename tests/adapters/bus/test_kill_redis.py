"""Kill tests of the Redis bus: SIGKILL the engine under load from gateway
processes, SIGKILL Redis itself (own server, AOF ``appendfsync always``), and
SIGKILL a gateway mid-request.  After each: every acknowledged command is in
the event stream exactly once with the acknowledged result, and the state
equals an uninterrupted in-process run of the same accepted commands."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probo_engine import Engine, commands
from probo_engine.adapters.redis import (
    EngineConfig,
    RedisBus,
    RedisEngine,
    RedisEntrySource,
    RedisKeys,
)
from probo_engine.errors import UnavailableError

from .busstream import random_commands, setup_commands
from .redis_util import OwnRedis, delete_prefix, engine_task, src_env

pytestmark = pytest.mark.redis
HERE = Path(__file__).parent


class EngineProc:
    def __init__(
        self, url: str, prefix: str, data: Path, log: Path, lease_ms: int = 1000
    ) -> None:
        self.args = [
            sys.executable, "-m", "probo_engine.adapters.redis", "engine",
            "--redis", url, "--prefix", prefix, "--data", str(data),
            "--lease-ms", str(lease_ms), "--snapshot-every", "2000",
        ]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(self.args, env=src_env(), stderr=f)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)


def start_gateways(url, prefix, seed, n, g, clients, tmp: Path):
    procs = []
    for k in range(g):
        out = tmp / f"acks-{k}.txt"
        args = [sys.executable, str(HERE / "gateway_child.py"), url, prefix,
                str(seed), str(n), str(g), str(k), str(clients), str(out)]  # fmt: skip
        procs.append((subprocess.Popen(args, env=src_env()), out))
    return procs


def collect_acks(procs, base: int, timeout: float = 300) -> dict[int, tuple[int, ...]]:
    acks = {}
    for p, out in procs:
        assert p.wait(timeout) == 0, f"gateway exited with {p.returncode}"
        for line in out.read_text().split("\n"):
            if line:
                i, seq, result, dup = map(int, line.split())
                acks[base + i] = (seq, result, dup)
    return acks


async def events_head(url: str, prefix: str) -> int:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url, socket_timeout=5)
    try:
        last = await r.xrevrange(RedisKeys(prefix).events, count=1)
        return int(last[0][0].split(b"-")[0]) if last else 0
    except (OSError, aioredis.ConnectionError, aioredis.TimeoutError):
        return -1
    finally:
        await r.aclose()


async def setup_in_order(url: str, prefix: str) -> dict[int, tuple[int, ...]]:
    """Send the setup commands one at a time (keys k0...); their acks."""
    acks = {}
    async with RedisBus(redis_url=url, prefix=prefix) as bus:
        for i, c in enumerate(setup_commands()):
            while True:
                try:
                    r = await bus.submit(c, f"k{i}".encode(), timeout=10)
                    break
                except UnavailableError:  # engine not up yet: retry, same key
                    await asyncio.sleep(0.1)
            acks[i] = (r.seq, r.result, int(r.duplicate))
    return acks


def check(url: str, prefix: str, data: Path, cmds, acks) -> None:
    """Every ack has its one entry; the state equals a straight run."""

    async def read_all():
        async with RedisEntrySource(url, prefix=prefix) as src:
            out, after = [], 0
            while got := await src.read(after, 5000, 0):
                out += got
                after = got[-1].seq
            return out

    entries = asyncio.run(read_all())
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    by_key = {}
    for e in entries:
        assert e.key not in by_key, f"{e.key!r} applied twice"
        by_key[e.key] = e
    assert len(acks) == len(cmds) == len(entries)
    for i, (seq, result, _dup) in acks.items():
        e = by_key[f"k{i}".encode()]
        assert (e.seq, e.result) == (seq, result), i
        sent = cmds[i]
        if "ts" in sent._fields:
            sent = sent._replace(ts=commands.decode(e.command).ts)
        assert commands.decode(e.command) == sent
    straight = Engine()
    for e in entries:
        assert commands.apply(straight, commands.decode(e.command)) == e.result
    # and a freshly recovered engine process has the same state

    async def recovered():
        cfg = EngineConfig(redis_url=url, prefix=prefix, data_dir=str(data),
                           lease_ms=1000)  # fmt: skip
        async with engine_task(cfg) as eng:
            # ready means the lease is held and the snapshot loaded; the
            # commands after it are re-applied from the stream after that
            deadline = time.monotonic() + 60
            while eng.runner.seq < len(entries) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return eng.runner.engine.state_hash(), eng.runner.seq

    state, seq = asyncio.run(recovered())
    assert seq == len(entries) and state == straight.state_hash()


@pytest.mark.slow
def test_sigkill_engine_20_times_under_4_gateways(redis_url, redis_prefix, tmp_path):
    n, gateways = 30_000, 4
    setup = setup_commands()
    cmds = setup + random_commands(99, n)
    eng = EngineProc(
        redis_url, redis_prefix, tmp_path / "data", tmp_path / "engine.log"
    )
    rng = random.Random(5)
    procs = []
    try:
        eng.start()
        setup_acks = asyncio.run(setup_in_order(redis_url, redis_prefix))
        procs = start_gateways(redis_url, redis_prefix, 99, n, gateways, 8, tmp_path)
        kills = 0
        while kills < 20:
            # kill at a random moment once the engine is making progress
            head = asyncio.run(events_head(redis_url, redis_prefix))
            deadline = time.monotonic() + 60
            while asyncio.run(events_head(redis_url, redis_prefix)) <= head:
                if all(p.poll() is not None for p, _ in procs):
                    break
                assert time.monotonic() < deadline, "engine makes no progress"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            eng.kill()
            kills += 1
            eng.start()
        acks = collect_acks(procs, len(setup)) | setup_acks
        eng.kill(signal.SIGTERM)
        check(redis_url, redis_prefix, tmp_path / "data", cmds, acks)
    finally:
        eng.kill()
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
        asyncio.run(delete_prefix(redis_url, redis_prefix))


@pytest.mark.slow
def test_sigkill_redis_with_aof_always(tmp_path):
    server = OwnRedis(tmp_path / "redis", fsync="always")
    prefix = "probokill"
    n, gateways = 8_000, 4
    setup = setup_commands()
    cmds = setup + random_commands(123, n)
    eng = EngineProc(server.url, prefix, tmp_path / "data", tmp_path / "engine.log")
    rng = random.Random(9)
    procs = []
    try:
        server.start()
        eng.start()
        setup_acks = asyncio.run(setup_in_order(server.url, prefix))
        procs = start_gateways(server.url, prefix, 123, n, gateways, 8, tmp_path)
        for _ in range(3):
            head = asyncio.run(events_head(server.url, prefix))
            deadline = time.monotonic() + 60
            while asyncio.run(events_head(server.url, prefix)) <= head + 200:
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
            server.kill()
            time.sleep(rng.uniform(0.1, 0.5))
            server.start()
        acks = collect_acks(procs, len(setup)) | setup_acks
        eng.kill(signal.SIGTERM)
        check(server.url, prefix, tmp_path / "data", cmds, acks)
    finally:
        eng.kill()
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
        server.kill()


def test_gateway_killed_mid_request_retry_elsewhere(redis_url, redis_prefix, tmp_path):
    setup = setup_commands()
    # A lease far longer than the test: a stopped engine must still look alive
    # to gateway A (however slowly it starts), so A sends its command.
    eng = EngineProc(
        redis_url,
        redis_prefix,
        tmp_path / "data",
        tmp_path / "engine.log",
        lease_ms=120_000,
    )
    procs: list = []
    try:
        eng.start()
        asyncio.run(setup_in_order(redis_url, redis_prefix))
        # the engine stops answering (SIGSTOP) while gateway A sends key k0+
        eng.proc.send_signal(signal.SIGSTOP)
        procs = start_gateways(redis_url, redis_prefix, 5, 1, 1, 1, tmp_path)
        key = f"k{len(setup)}".encode()

        async def wait_sent() -> None:
            import redis.asyncio as aioredis

            r = aioredis.Redis.from_url(redis_url)
            try:
                cmd_key = RedisKeys(redis_prefix).cmd
                deadline = time.monotonic() + 30
                while True:
                    last = await r.xrevrange(cmd_key, count=1)
                    if last and last[0][1].get(b"k") == key:
                        return
                    assert time.monotonic() < deadline, "gateway A sent nothing"
                    await asyncio.sleep(0.01)
            finally:
                await r.aclose()

        asyncio.run(wait_sent())
        procs[0][0].kill()  # A dies with its request in flight
        procs[0][0].wait(30)
        eng.proc.send_signal(signal.SIGCONT)
        cmd = random_commands(5, 1)[0]

        async def retry_on_b():
            async with RedisBus(redis_url=redis_url, prefix=redis_prefix) as bus:
                for _ in range(300):
                    try:
                        return await bus.submit(cmd, key, timeout=10)
                    except Exception:
                        await asyncio.sleep(0.05)
                raise AssertionError("gateway B got no answer")

        rep = asyncio.run(retry_on_b())
        assert rep.duplicate and rep.seq == len(setup) + 1

        async def entry():
            async with RedisEntrySource(redis_url, prefix=redis_prefix) as src:
                return await src.read(len(setup), 10, 10)

        got = asyncio.run(entry())
        assert len(got) == 1 and got[0].key == key and got[0].result == rep.result
    finally:
        if eng.proc is not None and eng.proc.poll() is None:
            eng.proc.send_signal(signal.SIGCONT)
        eng.kill()
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        asyncio.run(delete_prefix(redis_url, redis_prefix))


def test_engine_lease_is_exclusive(redis_url, redis_prefix, tmp_path):
    # a long lease: a renewal delayed by a loaded machine must not lose it
    cfg = EngineConfig(redis_url=redis_url, prefix=redis_prefix, lease_ms=10_000)

    async def main():
        async with engine_task(cfg):
            other = RedisEngine(cfg)
            stop = asyncio.Event()
            task = asyncio.create_task(other.run(stop))
            await asyncio.sleep(1.5)
            assert not other.ready.is_set()  # waits for the lease
            stop.set()
            await asyncio.wait_for(task, 10)

    try:
        asyncio.run(main())
    finally:
        asyncio.run(delete_prefix(redis_url, redis_prefix))
