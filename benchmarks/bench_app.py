"""The reference server's app without HTTP: signed orders/s and CPU per request.

Calls the ASGI app directly (no sockets, no uvicorn) from ``--concurrency``
tasks in this process, with requests signed beforehand, so what it measures
is the app itself: authentication, validation, the bus and, in embedded mode
(``--mode embedded``, the default), the durable entry log's group commit and
the archiver and WebSocket feed that run in the same process.  Compare with
``bench_http.py`` (the same requests over HTTP) to see what the HTTP stack
costs.  ``--mode memory``: the in-memory bus (no log, no archiver, no feed).

    python benchmarks/bench_app.py --quick
    python benchmarks/bench_app.py --mode memory --scenario batch
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from probo_engine.server.app import create_app  # noqa: E402
from probo_engine.server.auth import sign  # noqa: E402
from probo_engine.server.config import ServerConfig  # noqa: E402
from probo_engine.server.modes import embedded_services, memory_services  # noqa: E402


def _scope(method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    hdrs = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": hdrs,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _call(app: Any, scope: Any, body: bytes) -> tuple[int, bytes]:
    out: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            out["status"] = msg["status"]
        else:
            out["body"] = out.get("body", b"") + msg.get("body", b"")

    await app(scope, receive, send)
    return out["status"], out.get("body", b"")


def _order(i: int) -> dict[str, Any]:
    yes = i % 2 == 0
    return {
        "market": "BENCH",
        "side": "buy",
        "outcome": "yes" if yes else "no",
        "price": 600 if yes else 400,
        "qty": 1,
    }


async def run(args: argparse.Namespace) -> tuple[float, float, float]:
    """One run: (orders/s, CPU us per request, p99 ms)."""
    tmp = Path(tempfile.mkdtemp(prefix="probo-bench-app-"))
    cfg = ServerConfig(data=tmp, rate_per_s=1e9, rate_burst=10**9, max_body=1 << 20)
    services = embedded_services if args.mode == "embedded" else memory_services
    app = create_app(cfg, services)
    async with app.router.lifespan_context(app):
        lines = (tmp / "admin-credentials.txt").read_text().splitlines()
        creds = dict(x.split(" = ", 1) for x in lines if " = " in x)

        async def admin(path: str, obj: Any) -> Any:
            raw = json.dumps(obj).encode()
            h = sign(creds["api_key"], creds["api_secret"], "POST", path, "", raw)
            status, body = await _call(app, _scope("POST", path, raw, h), raw)
            assert status < 300, body
            return json.loads(body)

        await admin("/v1/markets", {"symbol": "BENCH"})
        keys = []
        for name in ("u0", "u1"):
            await admin("/v1/users", {"name": name})
            k = await admin("/v1/keys", {"user": name})
            keys.append((k["key_id"], k["secret"]))
            await admin("/v1/deposits", {"user": name, "amount": 10**15})
        per = args.batch if args.scenario == "batch" else 1
        reqs = []
        for i in range(args.requests):  # signed now: not the server's cost
            if args.scenario == "batch":
                path = "/v1/orders/batch"
                obj: Any = {"orders": [_order(i * per + j) for j in range(per)]}
            else:
                path, obj = "/v1/orders", _order(i)
            raw = json.dumps(obj).encode()
            key = keys[i % 2]
            reqs.append(
                (_scope("POST", path, raw, sign(*key, "POST", path, "", raw)), raw)
            )
        todo = iter(reqs)
        lat: list[float] = []

        async def worker() -> None:
            for scope, raw in todo:
                t = time.perf_counter()
                status, body = await _call(app, scope, raw)
                lat.append(time.perf_counter() - t)
                if status >= 300:
                    raise SystemExit(f"HTTP {status}: {body!r}")

        t0, c0 = time.perf_counter(), time.process_time()
        async with asyncio.TaskGroup() as tg:
            for _ in range(args.concurrency):
                tg.create_task(worker())
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    lat.sort()
    n = len(reqs)
    return n * per / dt, cpu / n * 1e6, lat[int(n * 0.99)] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("embedded", "memory"), default="embedded")
    ap.add_argument("--scenario", choices=("single", "batch"), default="single")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2,000 requests, 1 run")
    args = ap.parse_args()
    if args.quick:
        args.requests, args.repeat = 2000, 1
    if args.scenario == "batch":
        args.requests = max(1, args.requests // args.batch)
    rows = [asyncio.run(run(args)) for _ in range(args.repeat)]
    rate = statistics.median(r[0] for r in rows)
    cpu = statistics.median(r[1] for r in rows)
    p99 = statistics.median(r[2] for r in rows)
    per = args.batch if args.scenario == "batch" else 1
    print(
        f"{args.scenario} in process ({args.mode}), {args.concurrency} in flight, "
        f"batch {per}: {rate:,.0f} orders/s, p99 {p99:.2f} ms; CPU {cpu:,.0f} "
        f"us/request (all threads; one free core: ~{1e6 / cpu * per:,.0f} "
        f"orders/s) (median of {args.repeat} x {args.requests} requests)"
    )


if __name__ == "__main__":
    main()
