"""``python -m probo_engine.adapters.websocket``: a standalone feed server.

Reads the Redis event stream (distributed mode) and serves it on a port::

    python -m probo_engine.adapters.websocket --redis redis://127.0.0.1:6379/0 \\
        --port 8765 [--prefix probo] [--shard 0] [--host 0.0.0.0]

Runs on uvloop when it is installed (measured: p99 latency about 3x lower at
5,000 connections, docs/websocket.md).  This entry point has no
authenticator, so the private ``user`` channel answers ``unauthenticated``;
``probo ws`` (the reference server's CLI) passes the server's
authenticator to :func:`run_ws`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os

from probo_engine.adapters.websocket.server import WsConfig, run_ws


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m probo_engine.adapters.websocket")
    ap.add_argument("--redis", default=os.environ.get("PROBO_REDIS_URL"))
    ap.add_argument("--prefix", default="probo")
    ap.add_argument("--shard", default="0")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--max-connections", type=int, default=20_000)
    ap.add_argument("--no-uvloop", action="store_true")
    args = ap.parse_args(argv)
    if not args.redis:
        ap.error("--redis (or PROBO_REDIS_URL) is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = WsConfig(
        host=args.host,
        port=args.port,
        max_connections=args.max_connections,
        redis_url=args.redis,
        redis_prefix=args.prefix,
        shard=args.shard,
    )
    run = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            run = importlib.import_module("uvloop").run
    with contextlib.suppress(KeyboardInterrupt):
        run(run_ws(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
