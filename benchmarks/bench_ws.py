"""WebSocket fan-out: connections per process, memory per connection, latency.

One server process (``WsServer`` on ``websockets``, or the ASGI endpoint under
uvicorn with ``--stack asgi``) holds N connections opened by ``--procs``
client processes.  A publisher inside the server process makes **one trade
per second per market** (an IOC buy against a deep resting ask, its ``ts``
the wall clock in ns); every connection subscribes to one market's
``trades`` channel (markets round-robin), so each trade is encoded once and
written to N / markets connections.  A client records ``now - ts`` for every
trade it receives: publish -> receive latency, including the feed's read of
the entry, the replica's apply, the encoding, the writes, the kernel and the
client process's own scheduling.

Memory per connection = (server RSS with N connections subscribed - RSS
before any) / N.  ``ulimit -n`` is raised to the hard limit for every
process; N is capped to what that allows (the server needs N + ~50 fds).

    python benchmarks/bench_ws.py --quick            # 1,000 connections, 8 s
    python benchmarks/bench_ws.py                    # 5k, 10k, 20k; 20 s each
    python benchmarks/bench_ws.py --stack asgi -n 2000

Medians are not meaningful for one run of a latency distribution; the
figures printed are the p50/p99/max of all samples of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# --------------------------------------------------------------- server side


async def serve(args: argparse.Namespace) -> None:
    from probo_engine import Engine, commands
    from probo_engine.adapters.entries import Entry, MemoryEntryLog
    from probo_engine.adapters.websocket import Feed, WsConfig, WsServer

    log = MemoryEntryLog(keep=10_000)
    eng = Engine()
    seq = 0

    def do(cmd: object) -> None:
        nonlocal seq
        result = commands.apply(eng, cmd)
        seq += 1
        log.append(
            Entry(seq, b"", commands.encode(cmd), int(result), eng.events_bytes())
        )

    maker = 0
    do(commands.CreateUser(name="maker"))
    do(commands.CreateUser(name="taker"))
    do(commands.Deposit(0, 10**15))
    do(commands.Deposit(1, 10**15))
    for m in range(args.markets):
        do(commands.CreateMarket(symbol=f"M{m}"))
        do(commands.Mint(maker, m, 10**8))
        do(commands.Place(maker, m, 1, 0, 600, 10**8))  # a deep ask at 600
    n = args.max_connections
    config = WsConfig(
        host="127.0.0.1",
        port=0,
        max_connections=n + 10,
        max_per_ip=n + 10,
        heartbeat=10.0,
        idle_timeout=0,
        rate=100.0,
        burst=100,
    )
    feed = Feed(log, after=0)
    server = WsServer(feed, config)
    busy = [0.0, 0]  # seconds spent applying + fanning out, entries
    apply = feed.apply

    def timed_apply(entry: Entry) -> None:
        t = time.perf_counter()
        apply(entry)
        busy[0] += time.perf_counter() - t
        busy[1] += 1

    feed.apply = timed_apply  # type: ignore[method-assign]

    async def publisher() -> None:
        # one trade per market per second, spread evenly over the second
        step = 1.0 / args.markets
        m = 0
        nxt = time.monotonic()
        while True:
            nxt += step
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            do(commands.Place(1, m, 0, 0, 600, 1, 1, 0, time.time_ns()))
            m = (m + 1) % args.markets

    async with asyncio.TaskGroup() as tg:
        if args.stack == "websockets":
            cm = server.serve()
            port = await cm.__aenter__()
        else:
            import uvicorn
            from starlette.applications import Starlette
            from starlette.routing import WebSocketRoute

            app = Starlette(routes=[WebSocketRoute("/v1/ws", server.asgi_app())])
            web = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=0,
                    log_level="error",
                    ws_ping_interval=None,
                    ws_per_message_deflate=False,
                    backlog=4096,
                )
            )
            tg.create_task(web.serve())
            tg.create_task(feed.run())
            tg.create_task(server.housekeeping())
            while not web.started:
                await asyncio.sleep(0.01)
            port = web.servers[0].sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        tg.create_task(publisher())
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stats = {
            "fanout_ms_per_update": round(1000 * busy[0] / max(1, busy[1]), 3),
            "frames_encoded": feed.frames_encoded,
            "frames_sent": feed.frames_sent,
            "sessions": len(server.sessions),
        }
        print("STATS " + json.dumps(stats), flush=True)
        os._exit(0)  # the measurement is over; skip closing N connections


# --------------------------------------------------------------- client side


class RawClient(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455) for the benchmark's load side.

    The ``websockets`` client costs tens of microseconds a message in Python
    (a future and a task switch per frame); thousands of them in one process
    on this 2-core machine would measure the clients, not the server.  This
    one parses frames in ``data_received`` and records the latency of each
    ``trades`` frame inline.
    """

    def __init__(self, sub: bytes, sink: list[int], state: dict[str, bool]) -> None:
        self.sub = sub
        self.sink = sink
        self.state = state
        self.buf = b""
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )

    def send_text(self, data: bytes) -> None:
        mask = os.urandom(4)
        n = len(data)
        head = (
            bytes([0x81, 0x80 | n])
            if n < 126
            else bytes([0x81, 0xFE]) + n.to_bytes(2, "big")
        )
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        assert self.transport is not None
        self.transport.write(head + mask + body)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if b" 101 " not in buf[:end]:
                self.ready.set_exception(RuntimeError(buf[:end].decode()))
                return
            self.upgraded = True
            buf = buf[end + 4 :]
            self.send_text(self.sub)
            self.ready.set_result(None)
        at = 0
        while len(buf) - at >= 2:
            b0, b1 = buf[at], buf[at + 1] & 0x7F
            head = 2
            if b1 == 126:
                if len(buf) - at < 4:
                    break
                b1, head = int.from_bytes(buf[at + 2 : at + 4], "big"), 4
            elif b1 == 127:
                if len(buf) - at < 10:
                    break
                b1, head = int.from_bytes(buf[at + 2 : at + 10], "big"), 10
            if len(buf) - at < head + b1:
                break
            payload = buf[at + head : at + head + b1]
            at += head + b1
            if (
                b0 & 0x0F == 1
                and self.state["on"]
                and payload.startswith(b'{"type":"trades"')
            ):
                now = time.time_ns()
                for t in json.loads(payload)["trades"]:
                    self.sink.append((now - t["ts"]) // 1000)
        self.buf = buf[at:]


async def clients(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    host, port = args.url.split("//")[1].split("/")[0].split(":")
    sem = asyncio.Semaphore(64)
    lat: list[int] = []
    state = {"on": False}
    conns: list[RawClient] = []

    async def open_one(i: int) -> None:
        market = (args.first + i) % args.markets
        sub = json.dumps(
            {"op": "subscribe", "channel": "trades", "market": f"M{market}"}
        ).encode()
        async with sem:
            for attempt in range(5):
                try:
                    _, proto = await loop.create_connection(
                        lambda: RawClient(sub, lat, state), host, int(port)
                    )
                    await asyncio.wait_for(proto.ready, 60)
                    conns.append(proto)
                    return
                except OSError:
                    await asyncio.sleep(0.2 * (attempt + 1))
            raise RuntimeError("could not connect")

    await asyncio.gather(*(open_one(i) for i in range(args.clients)))
    print("READY", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    state["on"] = True
    await asyncio.sleep(args.duration)
    state["on"] = False
    print("LAT " + json.dumps(lat), flush=True)
    os._exit(0)


# --------------------------------------------------------------- driver


def pct(xs: list[int], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000.0


def run_one(args: argparse.Namespace, n: int) -> dict[str, object]:
    me = [sys.executable, __file__]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    srv = subprocess.Popen(
        [
            *me,
            "--serve",
            "--stack",
            args.stack,
            "--loop",
            args.loop,
            "--markets",
            str(args.markets),
            "--max-connections",
            str(n),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert srv.stdin and srv.stdout
    port = int(srv.stdout.readline().split()[1])
    time.sleep(0.5)
    rss0 = rss_kib(srv.pid)
    per = [n // args.procs + (i < n % args.procs) for i in range(args.procs)]
    t0 = time.monotonic()
    kids = []
    first = 0
    for k in per:
        kids.append(
            subprocess.Popen(
                [
                    *me,
                    "--clients",
                    str(k),
                    "--first",
                    str(first),
                    "--url",
                    f"ws://127.0.0.1:{port}/v1/ws",
                    "--markets",
                    str(args.markets),
                    "--duration",
                    str(args.duration),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
        first += k
    for kid in kids:
        assert kid.stdout
        line = kid.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"client failed: {line!r}")
    connect_s = time.monotonic() - t0
    time.sleep(1.0)
    rss1 = rss_kib(srv.pid)
    srv.stdin.write("go\n")
    srv.stdin.flush()
    for kid in kids:
        assert kid.stdin
        kid.stdin.write("go\n")
        kid.stdin.flush()
    lat: list[int] = []
    for kid in kids:
        assert kid.stdout
        for line in kid.stdout:
            if line.startswith("LAT "):
                lat += json.loads(line[4:])
                break
        kid.wait(timeout=60)
    srv.stdin.write("stop\n")
    srv.stdin.flush()
    stats = {}
    for line in srv.stdout:
        if line.startswith("STATS "):
            stats = json.loads(line[6:])
            break
    srv.wait(timeout=60)
    return {
        "stack": args.stack,
        "loop": args.loop,
        "connections": n,
        "connect_s": round(connect_s, 1),
        "rss_before_mib": round(rss0 / 1024, 1),
        "rss_after_mib": round(rss1 / 1024, 1),
        "kib_per_connection": round((rss1 - rss0) / n, 2),
        "samples": len(lat),
        "p50_ms": pct(lat, 0.50),
        "p99_ms": pct(lat, 0.99),
        "max_ms": pct(lat, 1.0),
        **stats,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--connections", default="5000,10000,20000")
    ap.add_argument("--procs", type=int, default=4, help="client processes")
    ap.add_argument("--markets", type=int, default=10)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    ap.add_argument("--stack", choices=("websockets", "asgi"), default="websockets")
    ap.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="server loop"
    )
    ap.add_argument("--quick", action="store_true", help="1,000 connections, 8 s")
    ap.add_argument("--json", help="write the rows to this file")
    # internal
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--max-connections", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--clients", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    hard = raise_nofile()
    if args.serve:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(serve(args))
        else:
            asyncio.run(serve(args))
        return
    if args.clients:
        asyncio.run(clients(args))
        return
    if args.quick:
        args.connections, args.duration = "1000", 8.0
    rows = []
    for n in (int(x) for x in args.connections.split(",")):
        if n + 50 > hard:
            print(f"# {n} connections: capped to {hard - 50} by ulimit -n {hard}")
            n = hard - 50
        row = run_one(args, n)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
