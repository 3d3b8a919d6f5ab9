"""Every /v1 route, through the real app on an in-memory bus."""

from __future__ import annotations

import html

import pytest

from .helpers import Server

pytestmark = pytest.mark.anyio

BUY_YES = {"market": "RAIN", "side": "buy", "outcome": "yes", "price": 600, "qty": 10}
BUY_NO = {"market": "RAIN", "side": "buy", "outcome": "no", "price": 400, "qty": 10}


async def test_place_match_and_queries(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 100_000)
    b = await server.user("bilal", 100_000)
    r = await a.post("/v1/orders", json=BUY_YES)
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["status"] == "resting" and placed["resting"] == 10
    r = await b.post("/v1/orders", json=BUY_NO)
    out = r.json()
    assert out["status"] == "filled" and out["filled"] == 10
    assert out["fills"][0]["kind"] == "mint" and out["fills"][0]["price"] == 400
    r = await a.get("/v1/balance")
    assert r.json()["available"] == 94_000 and r.json()["locked"] == 0
    assert r.json()["seq"] == server.engine.last_seq
    r = await b.get("/v1/positions")
    pos = r.json()["positions"]
    assert pos == [
        {
            "market": "RAIN",
            "yes": {"available": 0, "locked": 0},
            "no": {"available": 10, "locked": 0},
        }
    ]
    r = await a.get("/v1/me")
    assert r.json()["name"] == "asha" and r.json()["admin"] is False


async def test_book_both_views(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 100_000)
    await a.post("/v1/orders", json=BUY_YES)
    await a.post("/v1/orders", json={**BUY_YES, "price": 550, "qty": 3})
    r = await a.get("/v1/markets/RAIN/book")
    j = r.json()
    assert j["bids"] == [[600, 10, 1], [550, 3, 1]] and j["asks"] == []
    assert j["seq"] == server.engine.last_seq
    r = await a.get("/v1/markets/RAIN/book?outcome=no&levels=1")
    j = r.json()
    assert j["asks"] == [[400, 10, 1]] and j["bids"] == []
    for bad in ("?outcome=maybe", "?levels=0", "?levels=x", "?levels=1001"):
        r = await a.get("/v1/markets/RAIN/book" + bad)
        assert r.status_code == 400, bad
    r = await a.get("/v1/markets/NOPE/book")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_market"


async def test_tifs_market_orders_post_only(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 100_000)
    b = await server.user("bilal", 100_000)
    await a.post("/v1/orders", json={**BUY_YES, "qty": 5})
    r = await b.post("/v1/orders", json={**BUY_NO, "tif": "ioc"})
    assert r.json()["status"] == "partially_filled" and r.json()["canceled"] == 5
    r = await b.post("/v1/orders", json={**BUY_NO, "tif": "fok"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "fok_not_fillable"
    r = await b.post("/v1/orders", json={**BUY_NO, "price": 450, "post_only": True})
    assert r.json()["status"] == "resting"
    r = await a.post("/v1/orders", json={**BUY_YES, "price": 550, "post_only": True})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "post_only_would_cross"
    r = await a.post(
        "/v1/orders",
        json={
            "market": "RAIN",
            "side": "buy",
            "outcome": "yes",
            "qty": 2,
            "type": "market",
            "tif": "ioc",
        },
    )
    assert r.json()["status"] == "filled", r.text
    r = await a.post("/v1/orders", json={**BUY_YES, "tif": "gtd", "expire_ts": 2**62})
    assert r.json()["status"] == "resting"
    r = await a.post("/v1/orders", json={**BUY_YES, "tif": "gtd"})
    assert r.status_code == 400
    r = await a.post("/v1/orders", json={**BUY_YES, "price": 610})
    assert r.status_code == 400 and r.json()["error"]["code"] == "price_off_grid"


async def test_client_order_id_idempotent_and_lookup(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 100_000)
    order = {**BUY_YES, "client_order_id": 77}
    r1 = await a.post("/v1/orders", json=order)
    r2 = await a.post("/v1/orders", json=order)
    assert r1.status_code == 201 and r2.status_code == 200
    assert r2.json()["duplicate"] and r2.json()["order_id"] == r1.json()["order_id"]
    assert len(server.engine.user_orders(server.engine.user_id("asha"))) == 1
    r = await a.get("/v1/orders/client/77")
    assert r.json()["order_id"] == r1.json()["order_id"] and r.json()["open"]
    # after a cancel the retry still returns the original (window includes
    # finished orders): no second order
    oid = r1.json()["order_id"]
    assert (await a.delete(f"/v1/orders/{oid}")).status_code == 200
    r3 = await a.post("/v1/orders", json=order)
    assert r3.json()["duplicate"] and r3.json()["order_id"] == oid
    assert server.engine.user_orders(server.engine.user_id("asha")) == []


async def test_idempotency_key_header(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 100_000)
    h = {"Idempotency-Key": "req-1"}
    r1 = await a.post("/v1/orders", json=BUY_YES, headers=h)
    r2 = await a.post("/v1/orders", json=BUY_YES, headers=h)
    assert r2.json()["duplicate"] and r1.json()["order_id"] == r2.json()["order_id"]
    r = await a.post(
        "/v1/orders", json=BUY_YES, headers={"Idempotency-Key": "bad key!"}
    )
    assert r.status_code == 400


async def test_batch(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 1_000_000)
    orders = [{**BUY_YES, "price": 50 * (1 + i % 10), "qty": 1} for i in range(20)]
    r = await a.post("/v1/orders/batch", json={"orders": orders})
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["resting"] * 20
    h = server.engine.state_hash()
    r = await a.post("/v1/orders/batch", json={"orders": orders + orders[:1]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "batch_too_large"
    bad = [*orders[:5], {**BUY_YES, "price": 1.5}]
    assert (await a.post("/v1/orders/batch", json={"orders": bad})).status_code == 400
    bad = [*orders[:5], {**BUY_YES, "price": 615}]
    r = await a.post("/v1/orders/batch", json={"orders": bad})
    assert r.status_code == 400 and "orders[5]" in r.json()["error"]["message"]
    assert server.engine.state_hash() == h  # a bad batch applies nothing


async def test_cancel_amend_cancel_all_open(server: Server) -> None:
    await server.market("RAIN")
    await server.market("SUN")
    a = await server.user("asha", 100_000)
    ids = []
    for m in ("RAIN", "SUN", "RAIN"):
        r = await a.post("/v1/orders", json={**BUY_YES, "market": m, "qty": 2})
        ids.append(r.json()["order_id"])
    r = await a.get("/v1/orders")
    assert [o["order_id"] for o in r.json()["orders"]] == ids
    r = await a.get("/v1/orders?market=SUN")
    assert [o["order_id"] for o in r.json()["orders"]] == [ids[1]]
    r = await a.patch(f"/v1/orders/{ids[0]}", json={"price": 650, "qty": 1})
    assert r.status_code == 200, r.text
    r = await a.get(f"/v1/orders/{ids[0]}")
    assert r.json()["price"] == 650 and r.json()["remaining"] == 1
    r = await a.patch(f"/v1/orders/{ids[0]}", json={"price": 655, "qty": 1})
    assert r.status_code == 400
    r = await a.delete(f"/v1/orders/{ids[1]}")
    assert r.status_code == 200
    r = await a.delete(f"/v1/orders/{ids[1]}")
    assert r.status_code == 404
    r = await a.delete("/v1/orders?market=RAIN")
    assert r.json()["canceled"] == 2
    assert (await a.get("/v1/orders")).json()["orders"] == []
    await server.settle()
    r = await a.get(f"/v1/orders/{ids[0]}")
    if server.history:  # found in the history, no longer open
        assert r.json()["status"] == "canceled" and r.json()["open"] is False
    else:
        assert r.status_code == 404


async def test_markets_admin_lifecycle(server: Server) -> None:
    adm = server.admin
    r = await adm.post("/v1/markets", json={"symbol": "RAIN", "taker_fee": 100})
    assert r.status_code == 201
    assert (await adm.post("/v1/markets", json={"symbol": "RAIN"})).status_code == 409
    r = await adm.post("/v1/markets", json={"symbol": "X", "payout": 1000, "tick": 30})
    assert r.status_code == 400
    m = (await adm.get("/v1/markets/RAIN")).json()
    assert m["status"] == "open" and m["taker_fee"] == 100 and m["payout"] == 1000
    assert [x["symbol"] for x in (await adm.get("/v1/markets")).json()["markets"]] == [
        "RAIN"
    ]
    for op, status in (("halt", "halted"), ("resume", "open"), ("close", "closed")):
        r = await adm.post(f"/v1/markets/RAIN/{op}")
        assert r.status_code == 200, r.text
        assert (await adm.get("/v1/markets/RAIN")).json()["status"] == status
    r = await adm.post("/v1/markets/RAIN/halt")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    r = await adm.post("/v1/markets/RAIN/resolve", json={"yes_value": 1000})
    assert r.status_code == 200
    assert (await adm.get("/v1/markets/RAIN")).json()["yes_value"] == 1000


async def test_cash_mint_merge(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 10_000)
    r = await a.post("/v1/markets/RAIN/mint", json={"qty": 3})
    assert r.status_code == 200, r.text
    assert (await a.get("/v1/balance")).json()["available"] == 7_000
    r = await a.post("/v1/markets/RAIN/merge", json={"qty": 1})
    assert r.status_code == 200
    r = await a.post("/v1/withdrawals", json={"amount": 8_000})
    assert r.status_code == 200
    r = await a.post("/v1/withdrawals", json={"amount": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] == "insufficient_funds"
    r = await a.post("/v1/deposits", json={"amount": 5})
    assert r.status_code == 403  # deposits are an admin operation by default


async def test_users_keys_password_session(server: Server) -> None:
    a = await server.user("asha", password="correct horse battery")
    r = await a.post("/v1/keys")
    assert r.status_code == 201
    k2 = r.json()
    keys = (await a.get("/v1/keys")).json()["keys"]
    assert k2["key_id"] in keys and len(keys) == 2
    a2 = server.client(k2["key_id"], k2["secret"])
    assert (await a2.get("/v1/me")).json()["name"] == "asha"
    assert (await a.delete(f"/v1/keys/{k2['key_id']}")).status_code == 200
    r = await a2.get("/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_key"
    r = await server.admin.get("/v1/users")
    assert [u["name"] for u in r.json()] == ["admin", "asha"]
    assert (await a.post("/v1/password", json={"password": "short"})).status_code == 400
    assert (
        await a.post("/v1/password", json={"password": "a new password"})
    ).status_code == 200
    r = await server.admin.post("/v1/users", json={"name": "asha"})
    assert r.status_code == 409


async def test_openapi_docs_health_metrics(server: Server) -> None:
    r = await server.anon.get("/openapi.json")
    spec = r.json()
    assert "/v1/orders" in spec["paths"] and "/order/buy" in spec["paths"]
    assert "OrderIn" in spec["components"]["schemas"]
    r = await server.anon.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    # self-contained: no script, nothing loaded from another host
    assert "<script" not in page and "://" not in page
    for path in spec["paths"]:
        assert html.escape(path) in page, path
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in page, name
    assert "client_order_id" in page and "admin" in page
    assert (await server.anon.get("/api-docs")).text == page
    assert (await server.anon.get("/healthz")).json()["status"] == "ok"
    assert (await server.anon.get("/readyz")).status_code == 200
    r = await server.anon.get("/metrics")
    assert b"probo_http_requests" in r.content
    r = await server.anon.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await server.anon.put("/v1/orders")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_history_routes(server: Server) -> None:
    await server.market("RAIN")
    a = await server.user("asha", 100_000)
    b = await server.user("bilal", 100_000)
    r = await a.post("/v1/orders", json={**BUY_YES, "client_order_id": 9})
    oid = r.json()["order_id"]
    await b.post("/v1/orders", json={**BUY_NO, "qty": 4})
    await b.post("/v1/orders", json={**BUY_NO, "qty": 6, "price": 450, "tif": "ioc"})
    await server.settle()
    if not server.history:
        for path in (
            "/v1/fills",
            "/v1/orders/history",
            "/v1/markets/RAIN/trades",
            "/v1/markets/RAIN/candles",
        ):
            r = await a.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "no_history"
        return
    fills = (await a.get("/v1/fills")).json()["fills"]
    assert [(f["qty"], f["price"], f["role"]) for f in fills] == [
        (4, 600, "maker"),
        (6, 600, "maker"),
    ]
    fills_b = (await b.get("/v1/fills")).json()["fills"]
    assert [(f["qty"], f["price"], f["role"]) for f in fills_b] == [
        (4, 400, "taker"),
        (6, 400, "taker"),
    ]
    trades = (await b.get("/v1/markets/RAIN/trades")).json()["trades"]
    assert [t["qty"] for t in trades] == [4, 6] and "maker_user" not in trades[0]
    candles = (await a.get("/v1/markets/RAIN/candles?interval=1h")).json()["candles"]
    assert (
        len(candles) == 1 and candles[0]["volume"] == 10 and candles[0]["open"] == 600
    )
    orders = (await a.get("/v1/orders/history")).json()["orders"]
    assert orders[0]["order_id"] == oid and orders[0]["status"] == "filled"
    r = await a.get("/v1/orders/client/9")
    assert r.json()["status"] == "filled" and r.json()["open"] is False
    assert (await b.get(f"/v1/orders/{oid}")).status_code == 404  # not b's
    rows = (await b.request("GET", "/transactions", json={"userId": "bilal"})).json()
    assert [
        (x["orderType"], x["stockType"], x["quantity"], x["executedQuantity"])
        for x in rows
    ] == [("buy", "no", 6, 6), ("buy", "no", 4, 4)]
