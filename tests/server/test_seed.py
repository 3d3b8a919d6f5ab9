"""The seed app's routes with the seed's JSON shapes (shared/seed-api.md)."""

from __future__ import annotations

import httpx
import pytest

from .helpers import Server

pytestmark = pytest.mark.anyio


async def _seed_user(server: Server, name: str) -> httpx.AsyncClient:
    adm = server.admin
    r = await adm.post(f"/user/create/{name}")
    assert r.status_code == 200 and r.json() == {"simpleres": f"User {name} created"}
    k = (await adm.post("/v1/keys", json={"user": name})).json()
    r = await adm.post("/onramp/inr", json={"userId": name, "amount": 100_000})
    assert r.json() == {"simpleres": f"Onramped {name} with amount 100000"}
    return server.client(k["key_id"], k["secret"])


async def test_seed_flow(server: Server) -> None:
    assert (await server.anon.get("/")).text == "helthy"
    r = await server.admin.post("/symbol/create/BTC_USDT_10_Oct_2024_9_30")
    assert r.json() == {"simpleres": "symbol BTC_USDT_10_Oct_2024_9_30 created"}
    sym = "BTC_USDT_10_Oct_2024_9_30"
    a = await _seed_user(server, "user1")
    b = await _seed_user(server, "user2")
    r = await a.post(
        "/trade/mint",
        json={"userId": "user1", "stockSymbol": sym, "quantity": 10, "price": 0},
    )
    assert r.json() == {"simpleres": "mint completed"}
    r = await a.get("/balances/inr/user1")
    assert r.json() == {
        "balance": 90_000,
        "locked": 0,
    }  # a pair costs 1000 whatever "price"
    order = {
        "userId": "user1",
        "stockSymbol": sym,
        "quantity": 4,
        "price": 650,
        "stockType": "yes",
    }
    r = await a.post("/order/sell", json=order)
    assert r.status_code == 200
    assert r.json() == {**order, "orderType": "sell", "executedQuantity": 0}
    r = await b.post(
        "/order/buy",
        json={
            **order,
            "userId": "user2",
            "price": 350,
            "stockType": "no",
            "quantity": 2,
        },
    )
    assert r.json()["executedQuantity"] == 0  # rests as a YES offer at 650
    r = await b.post("/order/buy", json={**order, "userId": "user2", "quantity": 3})
    assert r.json() == {
        **order,
        "userId": "user2",
        "quantity": 3,
        "orderType": "buy",
        "executedQuantity": 3,
    }
    r = await a.get(f"/orderbook/{sym}")
    book = r.json()
    assert int(r.headers["X-Probo-Seq"]) == server.engine.last_seq
    # the YES side lists what a YES buyer can take: user1's sell and
    # user2's buy NO @ 350 (a YES offer at 650), whose owner user1 cannot see
    assert book == {
        "yes": {
            "650": {
                "total": 3,
                "orders": [
                    {"quantity": 1, "userId": "user1", "type": "sell"},
                    {"quantity": 2, "userId": None, "type": "buy"},
                ],
            }
        },
        "no": {},
    }
    full = (await server.admin.get("/orderbook")).json()
    assert full[sym]["yes"]["650"]["orders"][1]["userId"] == "user2"
    inr = (await server.admin.get("/balances/inr")).json()
    assert set(inr) == {"admin", "user1", "user2"}
    assert inr["user1"] == {"balance": 90_000 + 3 * 650, "locked": 0}
    assert inr["user2"] == {"balance": 100_000 - 3 * 650 - 2 * 350, "locked": 700}
    stock = (await server.admin.get("/balances/stock")).json()
    assert stock["user1"] == {
        sym: {"yes": {"quantity": 6, "locked": 1}, "no": {"quantity": 10, "locked": 0}}
    }
    assert stock["user2"] == {
        sym: {"yes": {"quantity": 3, "locked": 0}, "no": {"quantity": 0, "locked": 0}}
    }
    assert (await a.get("/balances/stock")).json() == {"user1": stock["user1"]}


async def test_seed_errors_are_4xx(server: Server) -> None:
    await server.admin.post("/symbol/create/S")
    a = await _seed_user(server, "user1")
    base = {
        "userId": "user1",
        "stockSymbol": "S",
        "quantity": 1,
        "price": 500,
        "stockType": "yes",
    }
    cases = [
        ({**base, "stockSymbol": "NOPE"}, 404),
        ({**base, "quantity": "10"}, 400),
        ({**base, "price": 505}, 400),
        ({**base, "quantity": -1}, 400),
        ({**base, "stockType": "maybe"}, 400),
        ({**base, "quantity": 1000}, 422),  # sell: no shares
    ]
    for js, status in cases:
        r = await a.post("/order/sell", json=js)
        assert r.status_code == status, (js, r.text)
        assert set(r.json()["error"]) == {"code", "message"}
    r = await server.admin.post("/symbol/create/S")
    assert r.status_code == 409
    r = await server.admin.post("/user/create/user1")
    assert r.status_code == 409
    r = await server.admin.post("/reset")
    assert r.status_code == 409 and r.json()["error"]["code"] == "reset_disabled"
    r = await a.request("GET", "/transactions", json={"userId": "user1"})
    assert r.status_code in (200, 404)  # 404 without a history store
    assert (await server.anon.get("/api-docs")).status_code == 200
