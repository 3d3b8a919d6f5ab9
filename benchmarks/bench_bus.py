"""The command bus, measured: engine apply rate and end-to-end latency.

Not a test; run it by hand (it starts its own redis-server on a free port in a
temporary directory, never touching a shared one)::

    python benchmarks/bench_bus.py [--quick] [--fsync always everysec no]
                                   [--clients 1 16 64] [--gateways 1]
                                   [--engine-only]

For each Redis ``appendfsync`` setting it prints:

* **engine apply**: the command stream pre-filled with N commands (pipelined
  XADD), then the engine process loop (``RedisEngine``, in this process)
  started; commands/s from its first read to its last batch written (entries
  XADDed to the event stream, replies, market data).
* **end to end**: gateway (``RedisBus``) -> Redis -> engine (a separate
  process) -> reply, with C concurrent clients, each submitting one command
  at a time; commands/s and the p50/p99 latency of ``submit``.  The clients
  run in ``--gateways`` gateway processes.  Also the CPU time per command of
  the gateways (their timed section), the engine process and redis-server
  (``/proc``), and what their sum allows on 2 cores.
* components: ``EngineRunner.apply`` alone, the engine's batch loop without
  Redis (parse a recorded ``XREAD`` reply, apply, pack the writes), ``XADD``
  rates.

``--instructions SMALL LARGE`` instead counts the engine process's
instructions per command applying from the stream (callgrind, repeatable on
a busy machine), e.g. ``--instructions 2000 12000``.
* **in-process**: the same with ``InProcessBus`` on a ``LocalEntryLog`` in a
  temporary directory (embedded mode: group commit, fdatasync).

Figures are medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from adapters.bus.busstream import random_commands, setup_commands  # noqa: E402
from adapters.bus.redis_util import OwnRedis  # noqa: E402
from probo_engine import commands  # noqa: E402
from probo_engine.adapters.redis import (  # noqa: E402
    WIRE_VERSION,
    EngineConfig,
    RedisBus,
    RedisEngine,
    RedisKeys,
)


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT / 'tests'}")


# ------------------------------------------------------------ engine apply


async def prefill(url: str, prefix: str, n: int) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    keys = RedisKeys(prefix)
    cmds = setup_commands() + random_commands(1, n)
    try:
        for lo in range(0, len(cmds), 2000):
            pipe = r.pipeline(transaction=False)
            for i in range(lo, min(lo + 2000, len(cmds))):
                fields: dict[Any, Any] = {b"v": WIRE_VERSION, b"k": f"k{i}".encode(),
                          b"c": commands.encode(cmds[i]), b"g": b"bench",
                          b"q": str(i).encode()}  # fmt: skip
                pipe.xadd(keys.cmd, fields)
            await pipe.execute()
    finally:
        await r.aclose()


async def engine_apply(
    url: str, prefix: str, n: int, batch: int, redis_pid: int
) -> tuple[float, float, float]:
    """(commands per wall second, commands per CPU second of this process, CPU
    us per command of redis-server (``redis_pid``))."""
    await prefill(url, prefix, n)
    total = n + len(setup_commands())
    cfg = EngineConfig(redis_url=url, prefix=prefix, batch=batch, block_ms=20,
                       snapshot_every=10**9, lease_ms=5000)  # fmt: skip
    eng = RedisEngine(cfg)
    stop = asyncio.Event()
    t0 = 0.0
    async with asyncio.TaskGroup() as tg:
        tg.create_task(eng.run(stop))
        await eng.ready.wait()
        t0, c0 = time.perf_counter(), time.process_time()
        r0 = cpu_seconds(redis_pid)
        while eng.applied < total:
            await asyncio.sleep(0.001)
        t1, c1 = time.perf_counter(), time.process_time()
        r1 = cpu_seconds(redis_pid)
        stop.set()
    return total / (t1 - t0), total / (c1 - c0), (r1 - r0) / total * 1e6


# ------------------------------------------------------------- end to end


async def gateway_run(
    url: str, prefix: str, clients: int, seconds: float, seed: int
) -> dict[str, Any]:
    cmds = random_commands(seed, 200_000)
    lat: list[float] = []
    n = 0
    async with RedisBus(redis_url=url, prefix=prefix) as bus:
        deadline = time.perf_counter() + seconds

        async def client(k: int) -> None:
            nonlocal n
            i = k
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                await bus.submit(
                    cmds[i % len(cmds)], f"{seed}-{i}".encode(), timeout=30
                )
                lat.append(time.perf_counter() - t)
                i += clients
                n += 1

        t0, c0 = time.perf_counter(), time.process_time()
        async with asyncio.TaskGroup() as tg:
            for k in range(clients):
                tg.create_task(client(k))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
    return {"n": n, "elapsed": elapsed, "lat": lat, "cpu": cpu}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(
    url: str,
    prefix: str,
    clients: int,
    gateways: int,
    seconds: float,
    pids: tuple[int, int],
) -> tuple[float, float, float, tuple[float, float, float]]:
    """(commands/s, p50 ms, p99 ms, CPU us per command of the gateways, the
    engine process and redis-server (``pids``))."""
    per = [clients // gateways + (g < clients % gateways) for g in range(gateways)]
    before = [cpu_seconds(p) for p in pids]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "_gateway",
                url,
                prefix,
                str(c),
                str(seconds),
                str(g),
            ],
            env=env(),
            stdout=subprocess.PIPE,
        )  # fmt: skip
        for g, c in enumerate(per)
        if c
    ]
    results = [json.loads(p.communicate(timeout=seconds + 120)[0]) for p in procs]
    # (the engine and Redis idle while the gateways start: a few wake-ups)
    engine_cpu, redis_cpu = (
        cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)
    )
    n = sum(r["n"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    lat = sorted(x for r in results for x in r["lat"])
    us = tuple(
        x / n * 1e6 for x in (sum(r["cpu"] for r in results), engine_cpu, redis_cpu)
    )
    return (
        n / elapsed,
        lat[len(lat) // 2] * 1e3,
        lat[int(len(lat) * 0.99)] * 1e3,
        (us[0], us[1], us[2]),
    )


async def setup_users(url: str, prefix: str) -> None:
    from probo_engine.errors import UnavailableError

    async with RedisBus(redis_url=url, prefix=prefix) as bus:
        for i, c in enumerate(setup_commands()):
            for _ in range(600):  # the engine process may still be starting
                try:
                    await bus.submit(c, f"setup-{i}".encode(), timeout=30)
                    break
                except UnavailableError:
                    await asyncio.sleep(0.05)


# -------------------------------------------------------------- embedded


async def embedded(clients: int, seconds: float, d: str) -> tuple[float, float, float]:
    from probo_engine.adapters.locallog import open_bus

    bus = open_bus(d, snapshot_every=None)
    cmds = random_commands(3, 200_000)
    lat: list[float] = []
    n = 0
    try:
        async with bus:
            for i, c in enumerate(setup_commands()):
                await bus.submit(c, f"s{i}".encode())
            deadline = time.perf_counter() + seconds

            async def client(k: int) -> None:
                nonlocal n
                i = k
                while time.perf_counter() < deadline:
                    t = time.perf_counter()
                    await bus.submit(cmds[i % len(cmds)], f"e{i}".encode(), timeout=30)
                    lat.append(time.perf_counter() - t)
                    i += clients
                    n += 1

            t0 = time.perf_counter()
            async with asyncio.TaskGroup() as tg:
                for k in range(clients):
                    tg.create_task(client(k))
            elapsed = time.perf_counter() - t0
    finally:
        bus.log.close()  # type: ignore[union-attr]
    lat.sort()
    return n / elapsed, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3


# ------------------------------------------------------------ components


def components(url: str) -> None:
    """Per-component rates: the runner, and XADD through each client path."""
    from probo_engine.adapters.redis import _RespPipe
    from probo_engine.adapters.runner import EngineRunner

    cmds = setup_commands() + random_commands(1, 100_000)
    keys = [f"k{i}".encode() for i in range(len(cmds))]
    runner = EngineRunner()
    t, c = time.perf_counter(), time.process_time()
    for i, cmd in enumerate(cmds):
        runner.apply(cmd, keys[i], now_ns=i)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"component  EngineRunner.apply (stamp, dedup, apply, entry) "
          f"{len(cmds) / wall:>10,.0f} commands/s  "
          f"({len(cmds) / cpu:,.0f} per CPU second)")  # fmt: skip

    rate = engine_loop_cpu(cmds)
    print(f"component  engine batch loop without Redis (parse XREAD, apply, "
          f"pack writes) {rate:>10,.0f} commands per CPU second")  # fmt: skip

    async def xadds() -> None:
        import redis.asyncio as aioredis

        payload = b"x" * 250  # about an encoded entry with a few events
        n, batch = 20_480, 1024
        r = aioredis.Redis.from_url(url)
        t = time.perf_counter()
        for lo in range(0, n, batch):
            pipe = r.pipeline(transaction=False)
            for i in range(lo, lo + batch):
                pipe.xadd("bench:a", {b"e": payload}, id=f"{i + 1}-0")
            await pipe.execute()
        print(f"component  XADD via redis-py pipeline (1024 a batch)      "
              f"{n / (time.perf_counter() - t):>10,.0f} /s")  # fmt: skip
        await r.aclose()
        p = _RespPipe(url, timeout=30, connect_timeout=5)
        await p.connect()
        t = time.perf_counter()
        for lo in range(0, n, batch):
            await p.execute([("XADD", "bench:b", f"{i + 1}-0", "e", payload)
                             for i in range(lo, lo + batch)])  # fmt: skip
        print(f"component  XADD via the engine's hiredis pipe (1024)      "
              f"{n / (time.perf_counter() - t):>10,.0f} /s")  # fmt: skip
        await p.execute([("DEL", "bench:a", "bench:b")])
        await p.close()

    asyncio.run(xadds())


def engine_loop_cpu(cmds: list[Any], batch: int = 1024) -> float:
    """Commands per CPU second of the engine's work per XREAD batch, without
    Redis: a recorded ``XREAD`` reply (the gateways' fields, 4 gateways)
    applied as the engine applies it (``RedisEngine._apply_raw`` on its bytes,
    or hiredis and ``_apply_batch`` without the C path), ``_flush`` packs the
    batch's writes (``redis._resp``, joined; nothing is sent)."""
    import hiredis

    from probo_engine import _replay
    from probo_engine.adapters.redis import _Out, _resp
    from probo_engine.adapters.runner import EngineRunner

    def bulk(b: bytes) -> bytes:
        return b"$%d\r\n%s\r\n" % (len(b), b)

    replies = []
    for lo in range(0, len(cmds), batch):
        parts = [b"*1\r\n*2\r\n", bulk(b"p:{0}:cmd"),
                 b"*%d\r\n" % len(cmds[lo : lo + batch])]  # fmt: skip
        for i in range(lo, min(lo + batch, len(cmds))):
            sid = b"%d-%d" % (1_700_000_000_000 + i // 8, i % 8)
            flat = [b"v", WIRE_VERSION, b"k", b"k%d" % i, b"c",
                    commands.encode(cmds[i]), b"g", b"gw%d" % (i % 4), b"q",
                    b"%d" % i]  # fmt: skip
            parts.append(b"*2\r\n" + bulk(sid) + b"*10\r\n")
            parts += [bulk(x) for x in flat]
        replies.append(b"".join(parts))

    class Pipe:  # packs what the engine would send
        async def execute(self, cmds: list[tuple[Any, ...]]) -> list[Any]:
            b"".join(_resp(cmds))
            return [b"0-1"] * len(cmds)

    eng = RedisEngine(EngineConfig())
    eng.runner = EngineRunner()
    eng._pipe = Pipe()  # type: ignore[assignment]
    c0 = time.process_time()
    for data in replies:
        out = _Out()
        head = _replay.xread_head(data) if eng.runner.c_ok() else None
        if head is not None:  # the engine's path: the raw reply, in C
            eng._apply_raw(eng.runner, data, head[0], head[1], out)
            n = head[1]
        else:
            reader = hiredis.Reader()
            reader.feed(data)
            entries = reader.gets()[0][1]
            eng._apply_batch(eng.runner, entries, out)
            n = len(entries)
        flush = eng._flush(None, out, n)
        with contextlib.suppress(StopIteration):
            flush.send(None)  # never suspends: Pipe.execute does not
    return len(cmds) / (time.process_time() - c0)


# ------------------------------------------------------- instruction counts


async def _apply_child(url: str, prefix: str, total: int) -> None:
    """The engine loop of ``engine_apply`` alone (run under callgrind)."""
    cfg = EngineConfig(redis_url=url, prefix=prefix, batch=1024, block_ms=20,
                       snapshot_every=10**9, lease_ms=600_000,
                       op_timeout=600)  # fmt: skip
    eng = RedisEngine(cfg)
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(eng.run(stop))
        while eng.applied < total:
            await asyncio.sleep(0.5)
        stop.set()


def instructions(url: str, small: int, large: int) -> float:
    """Instructions per command of the engine process applying from the
    stream, counted by callgrind: two runs (``small`` and ``large`` commands
    pre-filled), the difference divided by ``large - small`` (start-up,
    recovery and shutdown cancel out; the final snapshot's window does not
    quite).  Repeatable whatever else the machine is doing."""
    import re
    import site

    exe = os.path.realpath(sys._base_executable)  # valgrind: no venv launcher
    path = os.pathsep.join([str(ROOT / "src"), *site.getsitepackages()])
    counts = []
    for n in (small, large):
        asyncio.run(prefill(url, f"cg{n}", n))
        total = n + len(setup_commands())
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/cg",
                 exe, __file__, "_apply", url, f"cg{n}", str(total)],
                env=dict(os.environ, PYTHONPATH=path), capture_output=True,
                text=True, check=True,
            )  # fmt: skip
        m = re.search(r"Collected : (\d+)", p.stderr)
        assert m, p.stderr[-2000:]
        counts.append(int(m.group(1)))
    return (counts[1] - counts[0]) / (large - small)


# ------------------------------------------------------------------ main


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_gateway":
        url, prefix, c, s, g = sys.argv[2:7]
        res = asyncio.run(gateway_run(url, prefix, int(c), float(s), int(g)))
        print(json.dumps(res))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_apply":
        url, prefix, total = sys.argv[2:5]
        asyncio.run(_apply_child(url, prefix, int(total)))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs")
    p.add_argument("--fsync", nargs="+", default=["always", "everysec", "no"])
    p.add_argument("--clients", nargs="+", type=int, default=[1, 16, 64])
    p.add_argument("--gateways", type=int, default=1)
    p.add_argument("--n", type=int, default=100_000, help="commands for engine apply")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--instructions",
        nargs=2,
        type=int,
        metavar=("SMALL", "LARGE"),
        help="only count the engine's instructions per command applying from "
        "the stream (callgrind; e.g. 2000 12000), with appendfsync always",
    )
    p.add_argument(
        "--engine-only",
        action="store_true",
        help="only the engine-apply-from-the-stream rate of each --fsync setting "
        "(no components, end to end or embedded runs)",
    )
    args = p.parse_args()
    if args.instructions:
        tmp = Path(tempfile.mkdtemp(prefix="bench-bus-"))
        server = OwnRedis(tmp / "redis", fsync="always")
        server.start()
        try:
            per = instructions(server.url, *args.instructions)
        finally:
            server.kill()
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"engine apply from the stream: {per:,.0f} instructions per command "
              f"(callgrind, {args.instructions[0]:,} vs {args.instructions[1]:,} "
              "commands)")  # fmt: skip
        return
    if args.quick:
        args.n, args.seconds, args.repeat = 20_000, 1.5, 1
    print(f"# bench_bus: {os.cpu_count()} CPUs, medians of {args.repeat} runs")
    for fsync in args.fsync:
        tmp = Path(tempfile.mkdtemp(prefix="bench-bus-"))
        server = OwnRedis(tmp / "redis", fsync=fsync)
        server.start()
        eng_proc = None
        try:
            if not args.engine_only:
                components(server.url)
            rates = []
            assert server.proc is not None
            for k in range(args.repeat):
                rates.append(asyncio.run(
                    engine_apply(server.url, f"apply{k}", args.n, args.batch,
                                 server.proc.pid)
                ))  # fmt: skip
            print(f"appendfsync {fsync:8}  engine apply from the stream "
                  f"{statistics.median(r[0] for r in rates):>10,.0f} commands/s "
                  f"({statistics.median(r[1] for r in rates):,.0f} per CPU second "
                  f"of the engine, redis-server "
                  f"{statistics.median(r[2] for r in rates):.2f} CPU us per command;"
                  f" COUNT {args.batch}, {args.n:,} commands)"
                  )  # fmt: skip
            if args.engine_only:
                continue
            eng_proc = subprocess.Popen(
                [sys.executable, "-m", "probo_engine.adapters.redis", "engine",
                 "--redis", server.url, "--prefix", "e2e", "--log-level", "warning"],
                env=env(),
            )  # fmt: skip
            asyncio.run(setup_users(server.url, "e2e"))
            for c in args.clients:
                assert server.proc is not None
                pids = (eng_proc.pid, server.proc.pid)
                runs = [
                    end_to_end(
                        server.url, "e2e", c, min(args.gateways, c), args.seconds, pids
                    )
                    for _ in range(args.repeat)
                ]
                rate = statistics.median(r[0] for r in runs)
                p50 = statistics.median(r[1] for r in runs)
                p99 = statistics.median(r[2] for r in runs)
                gw, en, rd = (
                    statistics.median(r[3][i] for r in runs) for i in range(3)
                )
                print(f"appendfsync {fsync:8}  end to end {c:3} clients "
                      f"{rate:>10,.0f} commands/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                      f"  ({args.gateways} gateway process(es)); CPU us per command:"
                      f" gateways {gw:.1f}, engine {en:.1f}, redis-server {rd:.1f}"
                      f" (all {gw + en + rd:.1f}: at most"
                      f" {2e6 / (gw + en + rd):,.0f}/s on 2 cores)")  # fmt: skip
        finally:
            if eng_proc is not None:
                eng_proc.terminate()
                eng_proc.wait(60)
            server.kill()
            shutil.rmtree(tmp, ignore_errors=True)
    for c in [] if args.engine_only else args.clients:
        d = tempfile.mkdtemp(prefix="bench-embedded-")
        try:
            runs = [asyncio.run(embedded(c, args.seconds, d + f"/{k}"))
                    for k in range(args.repeat)]  # fmt: skip
        finally:
            shutil.rmtree(d, ignore_errors=True)
        print(f"embedded (LocalEntryLog, fdatasync) {c:3} clients "
              f"{statistics.median(r[0] for r in runs):>10,.0f} commands/s  "
              f"p50 {statistics.median(r[1] for r in runs):6.2f} ms  "
              f"p99 {statistics.median(r[2] for r in runs):6.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
