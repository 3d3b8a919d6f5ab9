"""Signatures, replay, sessions + CSRF, admin scope, cross-user access, limits."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from probo_engine.server.app import create_app
from probo_engine.server.auth import sign
from probo_engine.server.modes import memory_services

from .helpers import Server, read_admin

pytestmark = pytest.mark.anyio

ORDER = {"market": "RAIN", "side": "buy", "outcome": "yes", "price": 600, "qty": 1}


async def _key(server: Server, name: str) -> tuple[str, str]:
    await server.admin.post("/v1/users", json={"name": name})
    k = (await server.admin.post("/v1/keys", json={"user": name})).json()
    await server.admin.post("/v1/deposits", json={"user": name, "amount": 100_000})
    return k["key_id"], k["secret"]


async def _raw(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
    query: str = "",
) -> httpx.Response:
    url = path + ("?" + query if query else "")
    return await server.anon.request(method, url, content=body, headers=headers)


async def test_signature_tampering_expiry_replay(server: Server) -> None:
    await server.market("RAIN")
    key_id, secret = await _key(server, "asha")
    body = b'{"market":"RAIN","side":"buy","outcome":"yes","price":600,"qty":1}'
    h0 = server.engine.state_hash()
    refused = accepted = 0
    for variant in range(12):
        hdr = sign(key_id, secret, "POST", "/v1/orders", "", body)
        method, path, query, b = "POST", "/v1/orders", "", body
        if variant == 0:
            b = body.replace(b"600", b"650")  # body changed in flight
        elif variant == 1:
            query = "x=1"  # query added
        elif variant == 2:
            hdr = sign(
                key_id,
                secret,
                "POST",
                "/v1/orders",
                "",
                body,
                ts_ms=int(time.time() * 1000) - 60_000,
            )
        elif variant == 3:
            hdr = sign(
                key_id,
                secret,
                "POST",
                "/v1/orders",
                "",
                body,
                ts_ms=int(time.time() * 1000) + 60_000,
            )
        elif variant == 4:
            hdr["X-Probo-Signature"] = hdr["X-Probo-Signature"][:-1] + (
                "0" if hdr["X-Probo-Signature"][-1] != "0" else "1"
            )
        elif variant == 5:
            hdr = sign(key_id, "not-the-secret", "POST", "/v1/orders", "", body)
        elif variant == 6:
            hdr["X-Probo-Timestamp"] = str(int(hdr["X-Probo-Timestamp"]) + 1)
        elif variant == 7:
            hdr["X-Probo-Nonce"] = "othernonce1"
        elif variant == 8:
            del hdr["X-Probo-Signature"]
        elif variant == 9:
            hdr = sign(
                key_id,
                secret,
                "POST",
                "/v1/orders",
                "",
                body,
                max_age_ms=1,
                ts_ms=int(time.time() * 1000) - 50,
            )
        elif variant == 10:
            hdr["X-Probo-Key"] = "pk_" + "0" * 24
        elif variant == 11:
            path = "/v1/orders/batch"
        r = await _raw(server, method, path, hdr, b, query)
        if r.status_code < 300:
            accepted += 1
        else:
            assert r.status_code == 401, (variant, r.text)
            assert set(r.json()["error"]) == {"code", "message"}
            refused += 1
    assert accepted == 0 and refused == 12
    assert server.engine.state_hash() == h0
    # a good one is accepted once, then its replay refused
    hdr = sign(key_id, secret, "POST", "/v1/orders", "", body)
    assert (await _raw(server, "POST", "/v1/orders", hdr, body)).status_code == 201
    r = await _raw(server, "POST", "/v1/orders", hdr, body)
    assert r.status_code == 401 and r.json()["error"]["code"] == "replayed"
    hdr = sign(key_id, secret, "GET", "/v1/orders", "market=RAIN")
    assert (
        await _raw(server, "GET", "/v1/orders", hdr, query="market=RAIN")
    ).status_code == 200
    assert (
        await _raw(server, "GET", "/v1/orders", hdr, query="market=SUN")
    ).status_code == 401


async def test_secret_encrypted_at_rest_and_not_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    key_id, secret = await _key(server, "asha")
    raw = (server.data / "auth.sqlite3").read_bytes()
    wal = server.data / "auth.sqlite3-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert key_id.encode() in raw and secret.encode() not in raw
    assert secret not in caplog.text


async def test_session_login_and_csrf(server: Server) -> None:
    await server.market("RAIN")
    await server.admin.post(
        "/v1/users", json={"name": "asha", "password": "pass-word-1"}
    )
    await server.admin.post("/v1/deposits", json={"user": "asha", "amount": 10_000})
    c = httpx.AsyncClient(transport=server.transport, base_url="http://t")
    r = await c.post("/v1/session", json={"name": "asha", "password": "wrong-pass"})
    assert r.status_code == 401
    r = await c.post("/v1/session", json={"name": "nobody", "password": "wrong-pass"})
    assert r.status_code == 401
    r = await c.post("/v1/session", json={"name": "asha", "password": "pass-word-1"})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert (await c.get("/v1/me")).json()["via_session"] is True
    r = await c.post("/v1/orders", json=ORDER)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = await c.post("/v1/orders", json=ORDER, headers={"X-CSRF-Token": "x" + csrf})
    assert r.status_code == 403
    r = await c.post("/v1/orders", json=ORDER, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert (
        await c.delete("/v1/session", headers={"X-CSRF-Token": csrf})
    ).status_code == 200
    c.cookies.set("probo_session", cookie.split(";")[0].split("=", 1)[1])
    assert (await c.get("/v1/me")).status_code == 401


ADMIN_ROUTES = [
    ("POST", "/v1/users", {"name": "eve2"}),
    ("GET", "/v1/users", None),
    ("GET", "/v1/admin/state", None),
    ("POST", "/v1/markets", {"symbol": "EVE"}),
    ("POST", "/v1/markets/RAIN/halt", None),
    ("POST", "/v1/markets/RAIN/resume", None),
    ("POST", "/v1/markets/RAIN/close", None),
    ("POST", "/v1/markets/RAIN/resolve", {"yes_value": 1000}),
    ("POST", "/v1/deposits", {"amount": 100}),
    ("POST", "/v1/deposits", {"amount": 100, "user": "asha"}),
    ("POST", "/v1/withdrawals", {"amount": 1, "user": "asha"}),
    ("POST", "/v1/keys", {"user": "asha"}),
    ("POST", "/user/create/eve3", None),
    ("POST", "/symbol/create/EVE", None),
    ("POST", "/onramp/inr", {"userId": "eve", "amount": 100}),
    ("POST", "/reset", None),
    ("POST", "/reset/reset", None),
]


def test_admin_list_covers_every_admin_route() -> None:
    from probo_engine.server.app import all_routes

    admin = {(r.method, r.path) for r in all_routes() if r.admin}
    listed = {(m, p.replace("RAIN", "{market}")) for m, p, _ in ADMIN_ROUTES}
    listed |= {
        (m, "/user/create/{userId}") for m, p, _ in ADMIN_ROUTES if "/user/create/" in p
    }
    listed |= {
        (m, "/symbol/create/{stockSymbol}")
        for m, p, _ in ADMIN_ROUTES
        if "/symbol/create/" in p
    }
    assert admin <= listed, admin - listed


async def test_non_admin_on_admin_routes(server: Server) -> None:
    await server.market("RAIN")
    await server.user("asha", 1_000)
    eve = await server.user("eve", 1_000)
    h = server.engine.state_hash()
    n_users = server.app.state.ctx.services.auth.n_users()
    for method, path, js in ADMIN_ROUTES:
        r = await eve.request(method, path, json=js)
        assert r.status_code == 403, (method, path, r.text)
    assert server.engine.state_hash() == h
    assert server.app.state.ctx.services.auth.n_users() == n_users


async def test_cross_user_attempts(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 100_000)
    eve = await server.user("eve", 100_000)
    oid = (await a.post("/v1/orders", json={**ORDER, "client_order_id": 5})).json()[
        "order_id"
    ]
    h = server.engine.state_hash()
    attempts = [
        ("DELETE", f"/v1/orders/{oid}", None),
        ("PATCH", f"/v1/orders/{oid}", {"price": 650, "qty": 1}),
        ("GET", f"/v1/orders/{oid}", None),
        ("GET", "/v1/orders/client/5", None),
        ("GET", "/balances/inr/asha", None),
        (
            "POST",
            "/order/buy",
            {
                "userId": "asha",
                "stockSymbol": "RAIN",
                "quantity": 1,
                "price": 500,
                "stockType": "yes",
            },
        ),
        (
            "POST",
            "/order/sell",
            {
                "userId": "asha",
                "stockSymbol": "RAIN",
                "quantity": 1,
                "price": 500,
                "stockType": "yes",
            },
        ),
        (
            "POST",
            "/trade/mint",
            {"userId": "asha", "stockSymbol": "RAIN", "quantity": 1},
        ),
        ("GET", "/transactions", {"userId": "asha"}),
        (
            "DELETE",
            "/v1/keys/" + server.app.state.ctx.services.auth.keys_of("asha")[0],
            None,
        ),
    ]
    for method, path, js in attempts:
        r = await eve.request(method, path, json=js)
        assert r.status_code in (403, 404), (method, path, r.text)
    assert server.engine.state_hash() == h  # none reached the engine
    # eve's own views never show asha's data
    assert (await eve.get("/v1/orders")).json()["orders"] == []
    assert list((await eve.get("/balances/inr")).json()) == ["eve"]
    assert list((await eve.get("/balances/stock")).json()) == ["eve"]
    book = (await eve.get("/orderbook/RAIN")).json()
    assert book["no"]["400"]["orders"] == [
        {"quantity": 1, "userId": None, "type": "buy"}
    ]
    r = await eve.delete("/v1/orders")  # cancel-all cancels only eve's
    assert r.json()["canceled"] == 0
    assert server.engine.order(oid) is not None
    r = await eve.patch(
        f"/v1/orders/{oid}",
        json={"price": 650, "qty": 1},
        headers={"Idempotency-Key": "k1"},
    )
    assert r.status_code == 404  # reaches the engine, which refuses it
    assert server.engine.order(oid)[5] == 600


async def test_rate_limit_and_body_limit(tmp_path: Path) -> None:
    from probo_engine.server.config import ServerConfig

    cfg = ServerConfig(data=tmp_path, rate_per_s=1.0, rate_burst=5, max_body=1000)
    app = create_app(cfg, memory_services)
    async with app.router.lifespan_context(app):
        s = Server(app, tmp_path)
        codes = [(await s.admin.get("/v1/me")) for _ in range(8)]
        assert [r.status_code for r in codes[:5]] == [200] * 5
        limited = [r for r in codes if r.status_code == 429]
        assert limited and int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json()["error"]["code"] == "rate_limited"
    cfg = ServerConfig(data=tmp_path, max_body=1000)
    app = create_app(cfg, memory_services)
    async with app.router.lifespan_context(app):
        s = Server(app, tmp_path)
        r = await s.admin.post("/v1/markets", content=b"{" + b" " * 2000 + b"}")
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        adm = read_admin(tmp_path)
        assert adm["user"] == "admin"
    # login attempts are bounded per address (each costs an argon2 hash)
    cfg = ServerConfig(data=tmp_path, auth_fail_per_s=0.01, auth_fail_burst=3)
    app = create_app(cfg, memory_services)
    async with app.router.lifespan_context(app):
        s = Server(app, tmp_path)
        login = {"name": "admin", "password": "wrong-password"}
        codes = [
            (await s.anon.post("/v1/session", json=login)).status_code for _ in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429]
