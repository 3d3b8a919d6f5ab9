"""The ASGI application: ``create_app(config, services) -> app``.

Nothing is module-global: each call builds its own routes, metrics registry,
rate limiters and context, and everything the process owns (bus, engine,
stores, tasks) is opened and closed by the ``services`` context manager in
the app's one lifespan, so tests can build as many apps as they like.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from probo_engine.server import compat, v1
from probo_engine.server.api import (
    ApiError,
    Call,
    Ctx,
    Route,
    endpoint,
    error_response,
    json_response,
)
from probo_engine.server.auth import RateLimiter
from probo_engine.server.config import ServerConfig
from probo_engine.server.docs import docs_html
from probo_engine.server.metrics import Metrics
from probo_engine.server.services import ServicesFactory

__all__ = ["create_app", "openapi"]

log = logging.getLogger("probo.server")
#: the web UI that ships with the package (static files, no build step)
WEB_DIR = Path(__file__).with_name("web")

#: the routes that serve the docs page (``/docs``, the seed's ``/api-docs``)
DOCS_ROUTES = ("docs", "seed.docs")


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
        # replaced in create_app by the page of the app's own document
        raise ApiError(404, "not_found", "no API docs page")

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
        R(
            "GET",
            "/docs",
            "docs",
            docs,
            "API docs (HTML, self-contained)",
            auth=False,
            tags=t,
        ),
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


class FastRoutes:
    """ASGI middleware: requests to a static route go straight to its endpoint.

    Starlette's router tries each route's regex in turn and wraps the
    endpoint in two more exception layers; for the hot routes (``POST
    /v1/orders``) that is most of the framework's cost per request (measured
    ~30 us of ~34 us for ``GET /healthz`` in process).  Our endpoints already
    turn every error into a JSON response, so an exact ``(method, path)``
    match is called directly; everything else (paths with parameters, HEAD,
    405s, 404s, WebSockets, a ``root_path``, lifespan) goes to the router.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]],
    ) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            fn = self.routes.get((scope["method"], scope["path"]))
            if fn is not None:
                response = await fn(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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

    page = HTMLResponse(docs_html(spec)).body

    async def docs(call: Call) -> Response:
        return HTMLResponse(page)

    table = [
        dataclasses.replace(r, handler=docs) if r.name in DOCS_ROUTES else r
        for r in table
    ]

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

    web_dir = config.web_dir or WEB_DIR
    if web_dir.is_dir():
        from starlette.staticfiles import StaticFiles

        star.append(Mount("/ui", app=StaticFiles(directory=web_dir, html=True)))
    # Static paths (no ``{param}``) skip the router: matched by one dict
    # lookup on (method, path) and called directly (see FastRoutes)
    fast = {(r.method, r.path): endpoint(ctx, r) for r in ordered if "{" not in r.path}
    app = Starlette(
        routes=star,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal},
        middleware=[Middleware(FastRoutes, routes=fast)],
    )
    app.state.ctx = ctx
    return app
