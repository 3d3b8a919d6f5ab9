"""The WebSocket feed mounted in ``probo serve`` (embedded): credentials from
the HTTP server's auth store, the private channel only for its owner, and the
REST book equal to the feed's book (same levels, same checksum)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from probo_engine.server.app import create_app
from probo_engine.server.auth import sign
from probo_engine.server.config import ServerConfig
from probo_engine.server.modes import embedded_services

from .helpers import read_admin

with warnings.catch_warnings():  # starlette 1.x prefers httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _call(
    c: TestClient,
    key: tuple[str, str],
    method: str,
    path: str,
    body: Any = None,
    query: str = "",
) -> Any:
    raw = b"" if body is None else json.dumps(body).encode()
    h = sign(key[0], key[1], method, path, query, raw)
    url = path + ("?" + query if query else "")
    r = c.request(method, url, content=raw, headers=h)
    assert r.status_code < 300, r.text
    return r.json()


def _recv_until(ws: Any, kind: str) -> dict[str, Any]:
    for _ in range(50):
        msg = json.loads(ws.receive_text())
        if msg.get("type") == kind:
            return dict(msg)
    raise AssertionError(f"no {kind} message")


def test_ws_auth_private_channel_and_book_checksum(tmp_path: Path) -> None:
    app = create_app(ServerConfig(data=tmp_path), embedded_services)
    with TestClient(app) as c:
        adm = read_admin(tmp_path)
        admin = (adm["api_key"], adm["api_secret"])
        _call(c, admin, "POST", "/v1/markets", {"symbol": "RAIN"})
        keys = {}
        for name in ("asha", "bilal"):
            _call(c, admin, "POST", "/v1/users", {"name": name})
            k = _call(c, admin, "POST", "/v1/keys", {"user": name})
            keys[name] = (k["key_id"], k["secret"])
            _call(c, admin, "POST", "/v1/deposits", {"user": name, "amount": 10**6})
        for i, (p, q) in enumerate([(600, 5), (550, 3), (500, 2)]):
            order = {
                "market": "RAIN",
                "side": "buy",
                "outcome": "yes",
                "price": p,
                "qty": q,
            }
            _call(c, keys["asha" if i % 2 else "bilal"], "POST", "/v1/orders", order)
        asha = sign(*keys["asha"], "GET", "/ws", "", b"")
        with c.websocket_connect("/ws/v1", headers=asha) as ws:
            hello = _recv_until(ws, "hello")
            assert hello["authenticated"] is True
            ws.send_text(json.dumps({"op": "subscribe", "channel": "user", "id": 1}))
            assert _recv_until(ws, "snapshot")["ch"] == "user"
            ws.send_text(
                json.dumps(
                    {"op": "subscribe", "channel": "user", "user": "bilal", "id": 2}
                )
            )
            err = _recv_until(ws, "error")
            assert err["code"] == "forbidden"
            # the feed's book equals the REST book, checksum included
            for _ in range(100):  # the feed follows the durable entries
                if app.state.ctx.services.gauges["probo_feed_lag"]() == 0:
                    break
                time.sleep(0.02)
            ws.send_text(
                json.dumps(
                    {
                        "op": "subscribe",
                        "channel": "book",
                        "market": "RAIN",
                        "depth": 10,
                        "view": "no",
                        "id": 3,
                    }
                )
            )
            snap = _recv_until(ws, "snapshot")
            rest = _call(
                c,
                keys["asha"],
                "GET",
                "/v1/markets/RAIN/book",
                None,
                "outcome=no&levels=10",
            )
            assert (snap["bids"], snap["asks"]) == (rest["bids"], rest["asks"])
            assert snap["checksum"] == rest["checksum"]
        # the seed's protocol, mounted at /ws/seed: no user ids in its books
        with c.websocket_connect("/ws/seed") as ws:
            assert ws.receive_text() == "connected"
            ws.send_text(
                json.dumps(
                    {"type": "subscribe", "params": {"userId": "x", "eventId": "RAIN"}}
                )
            )
            for _ in range(20):
                msg = json.loads(ws.receive_text())
                if msg.get("EventId") == "RAIN":
                    break
            else:
                raise AssertionError("no seed book")
            # the same shape as GET /orderbook/RAIN, without any user id
            assert msg["EventData"]["no"] == {
                "400": {"total": 5, "orders": [{"quantity": 5, "type": "buy"}]},
                "450": {"total": 3, "orders": [{"quantity": 3, "type": "buy"}]},
                "500": {"total": 2, "orders": [{"quantity": 2, "type": "buy"}]},
            }
            assert msg["EventData"]["yes"] == {}
        # unauthenticated, or a tampered signature: no private channel
        bad = {**asha, "X-Probo-Signature": "0" * 64}
        for headers in ({}, bad):
            with c.websocket_connect("/ws/v1", headers=headers) as ws:
                assert _recv_until(ws, "hello")["authenticated"] is False
                ws.send_text(
                    json.dumps({"op": "subscribe", "channel": "user", "id": 1})
                )
                assert _recv_until(ws, "error")["code"] == "unauthenticated"
