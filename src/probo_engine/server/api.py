"""The request pipeline every route goes through, and the helpers routes share.

One :func:`endpoint` wrapper does, in order: body size limit, authentication
(signed API key or session + CSRF), per-credential rate limit, admin check,
the handler, JSON encoding, metrics and the access log.  Every failure
becomes ``{"error": {"code", "message"}}`` with a 4xx status (503 when the
engine does not answer in time); a 500 means a bug and is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from probo_engine.engine import Engine
from probo_engine.errors import UnavailableError, UnknownMarketError
from probo_engine.server.auth import (
    CSRF_HEADER,
    KEY_HEADER,
    SESSION_COOKIE,
    AuthError,
    Principal,
    RateLimiter,
)
from probo_engine.server.config import ServerConfig
from probo_engine.server.metrics import Metrics
from probo_engine.server.orders import order_summary
from probo_engine.server.services import Reply, Services
from probo_engine.types import RejectReason

__all__ = ["ApiError", "Call", "Ctx", "Route", "endpoint", "json_response"]

log = logging.getLogger("probo.server")
T = TypeVar("T")
_ENC = msgspec.json.Encoder()


class ApiError(Exception):
    """An error the client gets as ``{"error": {"code", "message"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = _ENC.encode({"error": {"code": code, "message": message}})
    return Response(body, status, headers, media_type="application/json")


def json_response(obj: Any, status: int = 200, seq: int | None = None) -> Response:
    headers = None if seq is None else {"X-Probo-Seq": str(seq)}
    return Response(_ENC.encode(obj), status, headers, media_type="application/json")


def reject_status(code: int) -> int:
    """The HTTP status of an engine refusal (``RejectReason`` code): unknown
    user/market/order 404, other validation (1xx) 400, funds and limits (2xx)
    422, matching and market status (3xx, 4xx) 409."""
    if code in (
        RejectReason.UNKNOWN_ORDER,
        RejectReason.UNKNOWN_USER,
        RejectReason.UNKNOWN_MARKET,
    ):
        return 404
    if code < 200:
        return 400
    if code < 300:
        return 422
    return 409


def reject_error(code: int, seq: int) -> ApiError:
    """The error a client gets for an engine refusal; the code is the reason's
    name in lower case (``insufficient_funds``)."""
    try:
        name = RejectReason(code).name
    except ValueError:
        name = f"REJECTED_{code}"
    return ApiError(
        reject_status(code),
        name.lower(),
        f"the engine refused the command: {name} ({code}); command seq {seq}",
    )


@dataclass
class Ctx:
    """What every route can reach: config, the services (set by the lifespan),
    metrics and the rate limiters.  One per app; nothing module-global."""

    config: ServerConfig
    metrics: Metrics
    limiter: RateLimiter
    fail_limiter: RateLimiter
    services: Services | None = None
    #: ``(bids, asks) -> int``: the WebSocket feed's book checksum, so REST
    #: and WS books can be compared at one seq
    book_checksum: Callable[[Any, Any], int] | None = None
    accepting: bool = True
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def s(self) -> Services:
        if self.services is None:
            raise ApiError(503, "starting", "the server is starting or stopping")
        return self.services

    @property
    def engine(self) -> Engine:
        return self.s.reads.engine

    @property
    def seq(self) -> int:
        return self.s.reads.seq

    def market(self, symbol: str) -> int:
        try:
            return self.engine.market_id(symbol)
        except UnknownMarketError:
            raise ApiError(404, "unknown_market", f"no market {symbol!r}") from None

    async def submit(self, cmd: tuple[Any, ...], key: bytes = b"") -> Reply:
        """Send a command through the bus; 503 if it does not answer in time."""
        timeout = self.config.bus_timeout
        try:
            async with asyncio.timeout(timeout + 1.0):
                reply = await self.s.bus.submit(cmd, key, timeout=timeout)
        except (UnavailableError, TimeoutError) as exc:
            self.metrics.bus_errors.inc()
            raise ApiError(
                503,
                "unavailable",
                "the engine did not answer in time; retry with the same "
                "idempotency key to learn whether it was applied",
                {"Retry-After": "1"},
            ) from exc
        except (TypeError, ValueError, OverflowError) as exc:
            raise ApiError(400, "invalid", str(exc)) from None
        sync = self.s.after_submit
        if sync is not None:
            await sync(reply.seq, timeout)
        return reply

    async def submit_many(
        self, items: list[tuple[tuple[Any, ...], bytes]]
    ) -> list[Reply | ApiError]:
        """Send commands in order; each item's reply or its error.

        A bus with ``submit_many`` (``InProcessBus``) applies them all and
        waits once for their group commit; another bus gets one ``submit``
        per command, sent together.
        """
        many = getattr(self.s.bus, "submit_many", None)
        if many is None:
            got = await asyncio.gather(
                *(self.submit(c, k) for c, k in items), return_exceptions=True
            )
            out: list[Reply | ApiError] = []
            for r in got:
                if isinstance(r, BaseException) and not isinstance(r, ApiError):
                    raise r
                out.append(r)
            return out
        timeout = self.config.bus_timeout
        try:
            async with asyncio.timeout(timeout + 1.0):
                replies = await many(items, timeout=timeout)
        except (UnavailableError, TimeoutError) as exc:
            self.metrics.bus_errors.inc()
            err = ApiError(
                503,
                "unavailable",
                "the engine did not answer in time; retry with the same "
                "idempotency keys to learn whether they were applied",
            )
            raise err from exc
        results: list[Reply | ApiError] = [
            ApiError(400, "invalid", str(r)) if isinstance(r, Exception) else r
            for r in replies
        ]
        sync = self.s.after_submit
        seqs = [r.seq for r in results if isinstance(r, Reply)]
        if sync is not None and seqs:
            await sync(max(seqs), timeout)
        return results


@dataclass
class Call:
    """One authenticated request as a handler sees it."""

    ctx: Ctx
    request: Request
    who: Principal
    body: bytes

    def json(self, typ: type[T]) -> T:
        """The body decoded strictly as ``typ`` (400 with the reason if not)."""
        if not self.body:
            raise ApiError(400, "invalid_body", "a JSON body is required")
        try:
            return msgspec.json.decode(self.body, type=typ)
        except msgspec.ValidationError as exc:
            raise ApiError(400, "invalid_body", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise ApiError(400, "invalid_json", str(exc)) from None

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def path_int(self, name: str, lo: int = 1, hi: int = 2**63 - 1) -> int:
        raw = self.path(name)
        if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
            raise ApiError(400, "invalid_path", f"{name} must be an integer")
        v = int(raw)
        if not lo <= v <= hi:
            raise ApiError(400, "invalid_path", f"{name} must be in {lo}..{hi}")
        return v

    def query_int(
        self, name: str, default: int | None, lo: int = 0, hi: int = 2**63 - 1
    ) -> int | None:
        raw = self.request.query_params.get(name)
        if raw is None:
            return default
        if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
            raise ApiError(400, "invalid_query", f"{name} must be an integer")
        v = int(raw)
        if not lo <= v <= hi:
            raise ApiError(400, "invalid_query", f"{name} must be in {lo}..{hi}")
        return v

    def query_choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self.request.query_params.get(name, default)
        if raw not in choices:
            raise ApiError(
                400, "invalid_query", f"{name} must be one of {', '.join(choices)}"
            )
        return raw

    def require_self(self, name: str) -> None:
        """A user named in a path or body must be the caller (or the caller admin)."""
        if name != self.who.name and not self.who.admin:
            raise ApiError(403, "forbidden", "you may act only as yourself")


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """A route and what the OpenAPI document says about it."""

    method: str
    path: str
    name: str
    handler: Handler
    summary: str
    body: type | None = None
    admin: bool = False
    auth: bool = True
    tags: tuple[str, ...] = ()


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than ``limit`` bytes before reading them."""
    cl = request.headers.get("content-length")
    if cl is not None:
        if not cl.isdigit():
            raise ApiError(400, "invalid_length", "bad Content-Length")
        if int(cl) > limit:
            raise ApiError(413, "too_large", f"the body is limited to {limit} bytes")
    # the ASGI receive loop itself (Request.stream() is an async generator:
    # a few microseconds more per request on the hot path)
    receive = request.receive
    chunks: list[bytes] = []
    n = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            n += len(chunk)
            if n > limit:
                raise ApiError(
                    413, "too_large", f"the body is limited to {limit} bytes"
                )
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # what Request.body() returns from now on
    return body


def authenticate(ctx: Ctx, request: Request, body: bytes) -> Principal:
    auth = ctx.s.auth
    headers = request.headers
    token = request.cookies.get(SESSION_COOKIE)
    if token and KEY_HEADER not in headers:
        return auth.verify_session(token, request.method, headers.get(CSRF_HEADER))
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return auth.verify_signed(headers, request.method, path, query, body)


def endpoint(ctx: Ctx, route: Route) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of ``route`` (see the module docstring)."""
    config = ctx.config
    metrics = ctx.metrics
    latency = metrics.latency.labels(route.name)
    # the counter of each status, looked up once (labels() takes a lock and
    # hashes the label values on every call)
    by_status: dict[int, Any] = {}

    async def run(request: Request) -> Response:
        t0 = time.perf_counter()
        status = 500
        who = "-"
        ctx.inflight += 1
        ctx.idle.clear()
        try:
            try:
                if not ctx.accepting:
                    raise ApiError(503, "stopping", "the server is shutting down")
                body = await read_body(request, config.max_body)
                if route.auth:
                    try:
                        principal = authenticate(ctx, request, body)
                    except AuthError as exc:
                        metrics.auth_failures.labels(exc.code).inc()
                        ip = request.client.host if request.client else "-"
                        wait = ctx.fail_limiter.take("ip:" + ip)
                        if wait:
                            raise ApiError(
                                429,
                                "rate_limited",
                                "too many failed authentications",
                                {"Retry-After": RateLimiter.retry_after(wait)},
                            ) from None
                        raise ApiError(exc.status, exc.code, exc.message) from None
                    who = principal.name
                    wait = ctx.limiter.take(principal.credential)
                    if wait:
                        raise ApiError(
                            429,
                            "rate_limited",
                            "rate limit exceeded",
                            {"Retry-After": RateLimiter.retry_after(wait)},
                        )
                    if route.admin and not principal.admin:
                        raise ApiError(
                            403, "forbidden", "this route needs the admin scope"
                        )
                else:
                    principal = Principal("-", -1, False, "-")
                response = await route.handler(Call(ctx, request, principal, body))
            except ApiError as exc:
                response = error_response(
                    exc.status, exc.code, exc.message, exc.headers
                )
            except ClientDisconnect:  # nobody reads the answer
                response = error_response(400, "disconnected", "client disconnected")
            except Exception:
                log.exception("unhandled error in %s %s", request.method, route.path)
                response = error_response(500, "internal", "internal error (logged)")
            status = response.status_code
            return response
        finally:
            ctx.inflight -= 1
            if ctx.inflight == 0:
                ctx.idle.set()
            dt = time.perf_counter() - t0
            latency.observe(dt)
            counter = by_status.get(status)
            if counter is None:
                counter = by_status[status] = metrics.requests.labels(
                    route.name, str(status)
                )
            counter.inc()
            if config.access_log:
                log.info(
                    "request",
                    extra={
                        "route": route.name,
                        "method": request.method,
                        "status": status,
                        "user": who,
                        "ms": round(dt * 1000, 3),
                    },
                )

    return run


def order_reply(reply: Reply, qty: int) -> dict[str, Any]:
    """A placed order's reply (see :func:`orders.order_summary`)."""
    out = order_summary(reply.result, reply.events, qty)
    out["seq"] = reply.seq
    out["duplicate"] = reply.duplicate
    return out
