"""The ``probo`` command (also ``python -m probo_engine.server``).

``probo serve``: the whole exchange in one process (embedded mode).
``probo gateway | engine | archiver | ws | reconcile``: the distributed
processes, each delegating to its adapter's ``run_*`` function.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from probo_engine._optional import require
from probo_engine.server.config import ConfigError, ServerConfig, load_config

__all__ = ["main"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML file (keys: docs/server.md)")
    p.add_argument("--data", type=Path, help="data directory (default ./probo-data)")
    p.add_argument("--log-level", dest="log_level")


def _http(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--web-dir", dest="web_dir", type=Path)
    p.add_argument(
        "--test-onramp",
        dest="test_onramp",
        action="store_true",
        default=None,
        help="let users deposit into their own account (demos)",
    )
    p.add_argument("--access-log", dest="access_log", action="store_true", default=None)


def _dist(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis", dest="redis_url")
    p.add_argument("--prefix", dest="redis_prefix")
    p.add_argument("--pg", dest="pg_dsn")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="probo", description="probo_engine reference server"
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="the whole exchange in one process (embedded)")
    _common(p)
    _http(p)
    p = sub.add_parser("gateway", help="HTTP gateway over Redis (distributed)")
    _common(p)
    _http(p)
    _dist(p)
    for name, what in (
        ("engine", "the engine process (Redis command stream)"),
        ("archiver", "the history archiver (Redis -> PostgreSQL)"),
        ("ws", "a WebSocket market-data server"),
        ("reconcile", "compare history with the engine, report differences"),
    ):
        p = sub.add_parser(name, help=what)
        _common(p)
        _dist(p)
        if name == "ws":
            p.add_argument("--host")
            p.add_argument("--port", type=int)
    return ap


def _config(ns: argparse.Namespace) -> ServerConfig:
    flags = {
        k: v
        for k, v in vars(ns).items()
        if k not in ("cmd", "config") and v is not None
    }
    return load_config(ns.config, overrides=flags)


def serve(config: ServerConfig, services: Any) -> None:
    """Run the app on uvicorn until SIGINT/SIGTERM (then shut down gracefully)."""
    import uvicorn

    from probo_engine.server.app import create_app
    from probo_engine.server.logs import setup_logging

    setup_logging(config.log_level)
    app = create_app(config, services)
    kwargs: dict[str, Any] = {}
    try:
        import uvloop  # noqa: F401

        kwargs["loop"] = "uvloop"
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401

        kwargs["http"] = "httptools"
    except ImportError:
        pass
    ucfg = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        **kwargs,
    )
    server = uvicorn.Server(ucfg)
    server.run()
    if not server.started:
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    try:
        config = _config(ns)
        # the HTTP stack is the [server] extra: say so, not a traceback
        for module in ("starlette", "uvicorn", "msgspec"):
            require(module, extra="server", feature=f"probo {ns.cmd}")
    except (ConfigError, ImportError) as exc:
        print(f"probo: {exc}", file=sys.stderr)
        return 2
    if ns.cmd == "serve":
        from probo_engine.server.modes import embedded_services

        serve(config, embedded_services)
        return 0
    if ns.cmd == "gateway":
        from probo_engine.server.modes import gateway_services

        serve(config, gateway_services)
        return 0
    from probo_engine.server import modes

    runner = getattr(modes, f"run_{ns.cmd}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner(config))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
