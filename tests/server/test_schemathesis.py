"""schemathesis against the served OpenAPI document: requests generated from
every operation's schema (valid and invalid), signed as the admin or as a
plain user, on the embedded stack: 0 server errors, every refusal in the
JSON error shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from probo_engine.server.app import create_app
from probo_engine.server.config import ServerConfig
from probo_engine.server.modes import embedded_services

from .helpers import Server

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

EXAMPLES = 5  # per operation and generation mode
TEXT = {"/", "/docs", "/api-docs", "/metrics"}


@pytest.mark.slow
def test_schemathesis_no_server_errors(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    cfg = ServerConfig(
        data=tmp_path,
        rate_per_s=1e9,
        rate_burst=10**9,
        auth_fail_per_s=1e9,
        auth_fail_burst=10**9,
    )
    app = create_app(cfg, embedded_services)
    with start_blocking_portal() as portal:
        cm = portal.wrap_async_context_manager(app.router.lifespan_context(app))
        with cm:
            s = Server(app, tmp_path)
            user: list[Any] = []

            async def setup() -> None:
                await s.market("RAIN")
                user.append(await s.user("asha", 10**9))
                order = {"market": "RAIN", "side": "buy", "outcome": "yes"}
                await user[0].post("/v1/orders", json={**order, "price": 500, "qty": 5})

            portal.call(setup)
            spec = json.loads(portal.call(s.anon.get, "/openapi.json").content)
            schema = schemathesis.openapi.from_dict(spec)
            seen: dict[int, int] = {}

            def check(case: Any, as_admin: bool) -> None:
                client: httpx.AsyncClient = s.admin if as_admin else user[0]
                body = case.body
                if type(body).__name__ == "NotSet":
                    content: bytes | None = None
                elif isinstance(body, bytes):
                    content = body
                else:
                    content = json.dumps(body).encode()
                headers = {
                    k: str(v)
                    for k, v in (case.headers or {}).items()
                    if k.lower().startswith(("idempotency",))
                }
                r = portal.call(
                    lambda: client.request(
                        case.method,
                        case.formatted_path,
                        params=case.query or None,
                        content=content,
                        headers=headers,
                    )
                )
                seen[r.status_code] = seen.get(r.status_code, 0) + 1
                assert r.status_code < 500, (
                    case.method,
                    case.formatted_path,
                    body,
                    r.text,
                )
                if r.status_code >= 400:
                    err = json.loads(r.content)["error"]
                    assert isinstance(err["code"], str) and isinstance(
                        err["message"], str
                    )
                elif case.path not in TEXT:
                    json.loads(r.content)

            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for res in schema.get_all_operations():
                op = res.ok()
                strategy = hypothesis.strategies.one_of(
                    *(op.as_strategy(m) for m in modes)
                )

                @settings(
                    max_examples=2 * EXAMPLES,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy, as_admin=hypothesis.strategies.booleans())
                def run(case: Any, as_admin: bool) -> None:
                    check(case, as_admin)

                run()
            assert sum(seen.values()) >= EXAMPLES * 50
            assert not any(code >= 500 for code in seen)
