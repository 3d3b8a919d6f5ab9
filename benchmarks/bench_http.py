"""HTTP benchmark of the reference server: signed orders/s and latency.

Starts ``probo serve`` (embedded mode: every order fsynced to the entry log
before its response) in a subprocess, makes a market and two users, then
drives it from separate load-generator processes over keep-alive
connections with a minimal HTTP/1.1 client (raw asyncio streams, each
request HMAC-signed), and reports orders/s and p50/p99 latency (medians over
``--repeat`` runs).  Scenarios:

* ``single``: one order per ``POST /v1/orders``;
* ``batch``: ``--batch`` orders per ``POST /v1/orders/batch``;
* ``hello``: the stack alone (``GET /healthz``, no auth, no engine), to
  compare ASGI servers: ``--server uvicorn`` (uvloop + httptools) or
  ``--server granian``; ``--server raw`` is the floor, a bare 5-line ASGI
  app on uvicorn (no Starlette, no probo).

Besides rate and latency it prints the server's CPU time per request (all
its threads and child processes, from /proc): on a machine shared with other
work that figure moves much less than the rate, and 1 / (CPU per request)
is what one free core could serve.

Orders alternate buy YES / buy NO at crossing prices, so most fill (mint).

    python benchmarks/bench_http.py --quick
    python benchmarks/bench_http.py --scenario batch --connections 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from probo_engine.server.auth import sign  # noqa: E402

GRANIAN_APP = """
from probo_engine.server.app import create_app
from probo_engine.server.config import load_config
from probo_engine.server.modes import embedded_services

def make():
    return create_app(load_config(), embedded_services)
"""


RAW_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"15")]})
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data: Path, port: int, server: str, log: Path, dist: dict[str, str] | None = None
) -> list[subprocess.Popen[bytes]]:
    """``probo serve`` (embedded), or with ``dist`` the distributed processes
    (``probo engine``, ``probo archiver``, ``probo gateway``)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "PROBO_RATE_PER_S": "1e9",
        "PROBO_RATE_BURST": "1000000000",
        "PROBO_MAX_BODY": str(1 << 20),
        "PROBO_DATA": str(data),
        "PROBO_PORT": str(port),
    }
    probo = [sys.executable, "-m", "probo_engine.server"]
    cmds = []
    if dist is not None:
        env.update(
            PROBO_REDIS_URL=dist["redis"],
            PROBO_REDIS_PREFIX=dist["prefix"],
            PROBO_PG_DSN=dist["pg"],
        )
        cmds += [
            [*probo, "engine", "--data", str(data.parent / "engine")],
            [*probo, "archiver"],
            [*probo, "gateway"],
        ]
    elif server == "uvicorn":
        cmds.append([*probo, "serve"])
    elif server == "raw":
        # the floor: uvicorn (uvloop + httptools) around a 5-line ASGI app
        mod = data.parent / "raw_app.py"
        mod.write_text(RAW_APP)
        env["PYTHONPATH"] += os.pathsep + str(mod.parent)
        cmds.append(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
                "--port",
                str(port),
                "raw_app:app",
            ]
        )
    else:
        mod = data.parent / "granian_app.py"
        mod.write_text(GRANIAN_APP)
        env["PYTHONPATH"] += os.pathsep + str(mod.parent)
        cmds.append(
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--factory",
                "--loop",
                "uvloop",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "granian_app:make",
            ]
        )
    procs = []
    for cmd in cmds:
        out = open(log, "ab")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                cmd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        out.close()
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"server exited:\n{log.read_text()[-2000:]}")
        try:
            if (
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
                == 200
            ):
                return procs
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


def setup(port: int, data: Path) -> dict[str, tuple[str, str]]:
    import httpx

    creds = {}
    for line in (data / "admin-credentials.txt").read_text().splitlines():
        if " = " in line:
            k, v = line.split(" = ", 1)
            creds[k] = v

    def call(method: str, path: str, body: dict[str, Any]) -> Any:
        raw = json.dumps(body).encode()
        h = sign(creds["api_key"], creds["api_secret"], method, path, "", raw)
        r = httpx.request(
            method,
            f"http://127.0.0.1:{port}{path}",
            content=raw,
            headers={**h, "Content-Type": "application/json"},
        )
        assert r.status_code < 300, r.text
        return r.json()

    call("POST", "/v1/markets", {"symbol": "BENCH"})
    keys = {}
    for name in ("u0", "u1"):
        call("POST", "/v1/users", {"name": name})
        k = call("POST", "/v1/keys", {"user": name})
        keys[name] = (k["key_id"], k["secret"])
        call("POST", "/v1/deposits", {"user": name, "amount": 10**15})
    return keys


def _order(i: int) -> dict[str, Any]:
    yes = i % 2 == 0
    return {
        "market": "BENCH",
        "side": "buy",
        "outcome": "yes" if yes else "no",
        "price": 600 if yes else 400,
        "qty": 1,
    }


async def _conn(
    port: int,
    key: tuple[str, str],
    scenario: str,
    batch: int,
    end: float,
    lat: list[float],
    counts: list[int],
    warm: float,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while True:
            now = time.perf_counter()
            if now >= end:
                return
            if scenario == "hello":
                head = b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"
                body = b""
            else:
                if scenario == "single":
                    path, payload = "/v1/orders", _order(i)
                else:
                    path = "/v1/orders/batch"
                    payload = {"orders": [_order(i + j) for j in range(batch)]}
                body = json.dumps(payload, separators=(",", ":")).encode()
                h = sign(key[0], key[1], "POST", path, "", body)
                hdrs = "".join(f"{k}: {v}\r\n" for k, v in h.items())
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: b\r\nContent-Type: application/json"
                    f"\r\nContent-Length: {len(body)}\r\n{hdrs}\r\n"
                ).encode()
            i += batch if scenario == "batch" else 1
            t0 = time.perf_counter()
            writer.write(head + body)
            status_head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in status_head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    n = int(line[15:])
            await reader.readexactly(n)
            t1 = time.perf_counter()
            status = int(status_head[9:12])
            if status >= 300:
                raise SystemExit(f"HTTP {status}: {status_head!r}")
            if t0 >= warm:
                lat.append(t1 - t0)
                counts[0] += batch if scenario == "batch" else 1
    finally:
        writer.close()


def _worker(
    port: int,
    key: tuple[str, str],
    scenario: str,
    batch: int,
    conns: int,
    start: float,
    seconds: float,
    warmup: float,
    q: Any,
) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    lat: list[float] = []
    counts = [0]

    async def main() -> None:
        while time.time() < start:
            await asyncio.sleep(0.01)
        t = time.perf_counter()
        end, warm = t + warmup + seconds, t + warmup
        async with asyncio.TaskGroup() as tg:
            for _ in range(conns):
                tg.create_task(
                    _conn(port, key, scenario, batch, end, lat, counts, warm)
                )

    c0 = time.process_time()
    asyncio.run(main())
    q.put((counts[0], lat, time.process_time() - c0))


def _with_children(pids: list[int]) -> list[int]:
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (all their threads) and their
    live descendants (granian's worker), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _with_children(pids):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def run_once(
    port: int,
    keys: dict[str, tuple[str, str]],
    args: argparse.Namespace,
    server_pids: list[int],
) -> tuple[float, float, float, float, float]:
    """One run: (units/s, p50 ms, p99 ms, server CPU us per request, load
    generator CPU us per request).  CPU is counted over the whole run,
    warm-up included, and divided by the requests of the measured part
    scaled to the whole run."""
    q: Any = mp.Queue()
    cpu0 = cpu_seconds(server_pids)
    start = time.time() + 1.0
    per = max(1, args.connections // args.procs)
    procs = [
        mp.Process(
            target=_worker,
            args=(
                port,
                keys.get(f"u{p % 2}", ("", "")),
                args.scenario,
                args.batch,
                per,
                start,
                args.seconds,
                args.warmup,
                q,
            ),
        )
        for p in range(args.procs)
    ]
    for p in procs:
        p.start()
    results = [q.get(timeout=args.seconds + args.warmup + 60) for _ in procs]
    for p in procs:
        p.join()
    server_cpu = cpu_seconds(server_pids) - cpu0
    total = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[1])
    p50 = lat[len(lat) // 2] * 1000 if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else float("nan")
    # requests over the whole run (warm-up included), from the measured rate
    n_req = len(lat) * (args.seconds + args.warmup) / args.seconds
    per = 1e6 / n_req if n_req else float("nan")
    gen_cpu = sum(r[2] for r in results)
    return total / args.seconds, p50, p99, server_cpu * per, gen_cpu * per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--scenario", choices=("single", "batch", "hello"), default="single"
    )
    ap.add_argument(
        "--server",
        choices=("uvicorn", "granian", "raw"),
        default="uvicorn",
        help="raw: a bare ASGI app on uvicorn, the floor (scenario hello only)",
    )
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="3 s runs, 1 repeat")
    ap.add_argument("--redis", help="distributed: Redis URL (with --pg)")
    ap.add_argument("--pg", help="distributed: a PostgreSQL DSN for the history")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.repeat = 3.0, 1.0, 1
    if args.scenario != "batch":
        args.batch = 1
    if args.server == "raw" and args.scenario != "hello":
        raise SystemExit("--server raw serves GET /healthz only: use --scenario hello")
    tmp = Path(tempfile.mkdtemp(prefix="probo-bench-"))
    port = free_port()
    dist = None
    if args.redis or args.pg:
        if not (args.redis and args.pg):
            raise SystemExit("distributed mode needs both --redis and --pg")
        dist = {"redis": args.redis, "pg": args.pg, "prefix": f"bench-{os.getpid()}"}
    procs = start_server(tmp / "data", port, args.server, tmp / "server.log", dist)
    try:
        keys = setup(port, tmp / "data") if args.server != "raw" else {}
        load = os.getloadavg()[0]
        pids = [p.pid for p in procs]
        rows = [run_once(port, keys, args, pids) for _ in range(args.repeat)]
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)
        if dist is not None:
            import redis

            r = redis.Redis.from_url(dist["redis"])
            keys_left = list(r.scan_iter(match=dist["prefix"] + ":*"))
            if keys_left:
                r.delete(*keys_left)
            r.close()
    rate = statistics.median(r[0] for r in rows)
    p50 = statistics.median(r[1] for r in rows)
    p99 = statistics.median(r[2] for r in rows)
    srv = statistics.median(r[3] for r in rows)
    gen = statistics.median(r[4] for r in rows)
    unit = "requests/s" if args.scenario == "hello" else "orders/s"
    where = "distributed (gateway + engine + archiver)" if dist else args.server
    print(
        f"{args.scenario} on {where}, {args.connections} connections from "
        f"{args.procs} processes, batch {args.batch}: {rate:,.0f} {unit}, "
        f"request latency p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"(median of {args.repeat} x {args.seconds:g} s)"
    )
    # CPU per request does not depend on how busy the machine is (much):
    # it is what one core could serve if the server had it to itself
    ceiling = 1e6 / srv if srv > 0 else float("nan")
    per = args.batch if args.scenario == "batch" else 1
    if dist:
        what = "summed over gateway, engine and archiver; Redis and PostgreSQL "
        what += "not counted"
    else:
        what = f"all its threads; one free core: ~{ceiling:,.0f} requests/s"
        what += f" = ~{ceiling * per:,.0f} {unit}"
    print(
        f"  server CPU {srv:,.0f} us/request ({what}); load generator CPU "
        f"{gen:,.0f} us/request; load average at start {load:.1f} on "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
