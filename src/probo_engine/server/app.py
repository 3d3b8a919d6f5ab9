"""The ASGI application: ``create_app(config, services) -> app``.

Nothing is module-global: each call builds its own routes, metrics registry,
rate limiters and context, and everything the process owns (bus, engine,
stores, tasks) is opened and closed by the ``services`` context manager in
the app's one lifespan, so tests can build as many apps as they like.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.routing import Route as StarletteRoute

from probo_engine.server import compat, v1
from probo_engine.server.api import (
    Call,
    Ctx,
    Route,
    endpoint,
    error_response,
    json_response,
)
from probo_engine.server.auth import RateLimiter
from probo_engine.server.config import ServerConfig
from probo_engine.server.metrics import Metrics
from probo_engine.server.services import ServicesFactory

__all__ = ["create_app", "openapi"]

log = logging.getLogger("probo.server")

_DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>probo API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


def _ops_routes() -> list[Route]:
    async def healthz(call: Call) -> Response:
        return json_response({"status": "ok"})

    async def readyz(call: Call) -> Response:
        s = call.ctx.services
        if s is None or not call.ctx.accepting or not s.ready():
            return error_response(503, "not_ready", "not ready")
        return json_response({"status": "ready", "seq": s.reads.seq})

    async def metrics(call: Call) -> Response:
        body, ctype = call.ctx.metrics.render()
        return Response(body, media_type=ctype.split(";")[0])

    async def docs(call: Call) -> Response:
        return HTMLResponse(_DOCS_HTML)

    R = Route
    t = ("ops",)
    return [
        R("GET", "/healthz", "healthz", healthz, "Liveness", auth=False, tags=t),
        R("GET", "/readyz", "readyz", readyz, "Readiness", auth=False, tags=t),
        R(
            "GET",
            "/metrics",
            "metrics",
            metrics,
            "Prometheus metrics",
            auth=False,
            tags=t,
        ),
        R("GET", "/docs", "docs", docs, "API docs (Swagger UI)", auth=False, tags=t),
        R(
            "GET",
            "/api-docs",
            "seed.docs",
            docs,
            "API docs (seed path)",
            auth=False,
            tags=t,
        ),
    ]


def all_routes() -> list[Route]:
    return [*_ops_routes(), *v1.routes(), *compat.routes()]


def openapi(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated from the routes' msgspec schemas."""
    bodies = sorted(
        {r.body for r in routes if r.body is not None}, key=lambda t: t.__name__
    )
    refs, components = msgspec.json.schema_components(
        bodies, ref_template="#/components/schemas/{name}"
    )
    ref_of = dict(zip(bodies, refs, strict=True))
    components["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            }
        },
    }
    err = {
        "description": "error",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.name,
            "summary": r.summary + (" (admin)" if r.admin else ""),
            "tags": list(r.tags),
            "responses": {"200": {"description": "success"}, "4XX": err, "503": err},
        }
        if r.auth:
            op["security"] = [{"signed": []}, {"session": []}]
        params = []
        for part in r.path.split("/"):
            if part.startswith("{"):
                params.append(
                    {
                        "name": part[1:-1],
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                )
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of[r.body]}},
            }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "probo_engine reference server",
            "version": "1",
            "description": "See docs/server.md: signed requests (HMAC-SHA256), "
            "integer money in paise, errors as {error: {code, message}}.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "signed": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Probo-Key",
                    "description": "plus X-Probo-Timestamp, -Nonce, -Signature",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "probo_session"},
            },
        },
    }


def create_app(
    config: ServerConfig,
    services: ServicesFactory,
    *,
    routes: list[Route] | None = None,
) -> Starlette:
    """Build the ASGI app.  ``services`` is entered by the lifespan; while it
    runs the app answers, and on shutdown the app stops accepting (503),
    waits (up to 10 s) for requests in flight, then leaves ``services``
    (which drains the bus and snapshots)."""
    metrics = Metrics()
    ctx = Ctx(
        config,
        metrics,
        RateLimiter(config.rate_per_s, config.rate_burst),
        RateLimiter(config.auth_fail_per_s, config.auth_fail_burst),
    )
    ctx.idle.set()
    try:
        from probo_engine.adapters.websocket import protocol as ws_protocol
    except ImportError:
        pass
    else:
        ctx.book_checksum = ws_protocol.book_checksum
    table = all_routes() if routes is None else routes
    spec = openapi(table)

    async def openapi_json(call: Call) -> Response:
        return json_response(spec)

    table.append(
        Route(
            "GET", "/openapi.json", "openapi", openapi_json, "This document", auth=False
        )
    )
    # Starlette tries routes in order: the order routes go first (a request
    # to them then skips ~30 regex matches)
    hot = ("orders.place", "orders.batch")
    ordered = sorted(table, key=lambda r: r.name not in hot)
    star: list[BaseRoute] = [
        StarletteRoute(r.path, endpoint(ctx, r), methods=[r.method], name=r.name)
        for r in ordered
    ]
    metrics.gauge("probo_http_inflight", "requests in flight", lambda: ctx.inflight)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with services(config) as svc:
            ctx.services = svc
            for name, fn in svc.gauges.items():
                metrics.gauge(name, name.replace("_", " "), fn)
            if svc.ws_app is not None:
                app.router.routes.append(Mount("/ws", app=svc.ws_app))
            log.info("ready", extra={"host": config.host, "port": config.port})
            try:
                yield
            finally:
                ctx.accepting = False
                try:
                    await asyncio.wait_for(ctx.idle.wait(), 10.0)
                except TimeoutError:
                    log.warning("shutdown: %d requests still in flight", ctx.inflight)
                ctx.services = None

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal", "internal error (logged)")

    if config.web_dir is not None and config.web_dir.is_dir():
        from starlette.staticfiles import StaticFiles

        star.append(Mount("/ui", app=StaticFiles(directory=config.web_dir, html=True)))
    app = Starlette(
        routes=star,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal},
    )
    app.state.ctx = ctx
    return app
