"""A generated corpus of >= 10,000 malformed requests: every one is answered
4xx with the JSON error shape, and the engine's state_hash() (and the user
and key tables) are unchanged afterwards."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from probo_engine.server.app import create_app
from probo_engine.server.config import ServerConfig
from probo_engine.server.modes import memory_services

from .helpers import Server

pytestmark = pytest.mark.anyio

N = 10_000

ORDER = {"market": "RAIN", "side": "buy", "outcome": "yes", "price": 600, "qty": 1}
# (method, path, a valid body, {field: kind}); kinds say which bad values apply
BODIES: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    (
        "POST",
        "/v1/orders",
        ORDER,
        {
            "market": "sym",
            "side": "enum",
            "outcome": "enum",
            "price": "int?",
            "qty": "int",
            "tif": "enum",
            "expire_ts": "int?",
            "post_only": "bool",
            "client_order_id": "int?",
            "stp": "enum",
            "max_cost": "int?",
            "type": "enum",
        },
    ),
    ("POST", "/v1/orders/batch", {"orders": [ORDER]}, {"orders": "list"}),
    (
        "POST",
        "/v1/users",
        {"name": "zed"},
        {"name": "sym", "password": "pw?", "admin": "bool"},
    ),
    ("POST", "/v1/keys", {}, {"user": "sym?"}),
    ("POST", "/v1/password", {"password": "long enough pw"}, {"password": "pw"}),
    (
        "POST",
        "/v1/session",
        {"name": "admin", "password": "x"},
        {"name": "sym", "password": "pw"},
    ),
    ("POST", "/v1/deposits", {"amount": 5}, {"amount": "int", "user": "sym?"}),
    ("POST", "/v1/withdrawals", {"amount": 5}, {"amount": "int", "user": "sym?"}),
    (
        "POST",
        "/v1/markets",
        {"symbol": "NEW"},
        {
            "symbol": "sym",
            "payout": "int",
            "tick": "int",
            "taker_fee": "int",
            "maker_fee": "int",
            "fee_mode": "enum",
            "min_qty": "int",
            "cancel_on_halt": "bool",
        },
    ),
    ("POST", "/v1/markets/RAIN/resolve", {"yes_value": 1000}, {"yes_value": "int"}),
    ("POST", "/v1/markets/RAIN/mint", {"qty": 1}, {"qty": "int"}),
    ("POST", "/v1/markets/RAIN/merge", {"qty": 1}, {"qty": "int"}),
    ("PATCH", "/v1/orders/1", {"price": 650, "qty": 1}, {"price": "int", "qty": "int"}),
    (
        "POST",
        "/onramp/inr",
        {"userId": "asha", "amount": 5},
        {"userId": "sym", "amount": "int"},
    ),
    (
        "POST",
        "/trade/mint",
        {"userId": "asha", "stockSymbol": "RAIN", "quantity": 1},
        {"userId": "sym", "stockSymbol": "sym", "quantity": "int", "price": "int?"},
    ),
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
        {
            "userId": "sym",
            "stockSymbol": "sym",
            "quantity": "int",
            "price": "int",
            "stockType": "enum",
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
        {
            "userId": "sym",
            "stockSymbol": "sym",
            "quantity": "int",
            "price": "int",
            "stockType": "enum",
        },
    ),
    ("GET", "/transactions", {"userId": "asha"}, {"userId": "sym"}),
]
REQUIRED = {
    "/v1/orders": ("market", "side", "outcome", "qty", "price"),
    "/v1/users": ("name",),
    "/v1/password": ("password",),
    "/v1/session": ("name", "password"),
    "/v1/deposits": ("amount",),
    "/v1/withdrawals": ("amount",),
    "/v1/markets": ("symbol",),
    "/v1/markets/RAIN/resolve": ("yes_value",),
    "/v1/markets/RAIN/mint": ("qty",),
    "/v1/markets/RAIN/merge": ("qty",),
    "/v1/orders/1": ("price", "qty"),
    "/onramp/inr": ("userId", "amount"),
    "/trade/mint": ("userId", "stockSymbol", "quantity"),
    "/order/buy": ("userId", "stockSymbol", "quantity", "price", "stockType"),
    "/order/sell": ("userId", "stockSymbol", "quantity", "price", "stockType"),
    "/transactions": ("userId",),
    "/v1/orders/batch": ("orders",),
}
BAD: dict[str, list[Any]] = {
    "int": [
        1.5,
        1.0,
        1e3,
        True,
        False,
        "1",
        "",
        None,
        [],
        {},
        [1],
        2**64,
        -(2**63) - 1,
        2**100,
        -(2**63),
        "0x10",
        "NaN",
    ],
    "enum": ["", "BUY", "Yes", 1, 0, None, True, "x" * 100, [], {}, "gtc ", "é"],
    "sym": ["", "a b", "x" * 65, 5, None, "é", "a/b", True, [], {}, "RAIN\n", "../x"],
    "bool": [1, 0, "true", "false", None, [], {}, 1.0],
    "pw": [1, None, True, [], {}, "x" * 300, 1.5],
    "list": [[], {}, None, 1, "x", [1], [None], [ORDER] * 21, [{**ORDER, "qty": 0}]],
}
RAW = [
    b"",
    b"{",
    b"}",
    b"[",
    b"null",
    b"1",
    b'"x"',
    b"[]",
    b"{'a': 1}",
    b"\xff\xfe",
    b'{"a":',
    b"nul",
    b"{" * 500 + b"}" * 500,
    b"\x00",
    b'{"market": NaN}',
    b'{"qty": Infinity}',
    b"true",
]
BAD_PATHS = [
    ("GET", "/v1/orders/abc"),
    ("GET", "/v1/orders/-1"),
    ("GET", "/v1/orders/0"),
    ("GET", "/v1/orders/99999999999999999999999"),
    ("DELETE", "/v1/orders/1.5"),
    ("DELETE", "/v1/orders/999"),
    ("GET", "/v1/orders/client/0"),
    ("GET", "/v1/orders/client/4294967296"),
    ("GET", "/v1/orders/client/x"),
    ("GET", "/v1/markets/NOPE"),
    ("GET", "/v1/markets/NOPE/book"),
    ("POST", "/v1/markets/NOPE/halt"),
    ("POST", "/v1/markets/NOPE/close"),
    ("GET", "/v1/markets/RAIN/book?levels=-1"),
    ("GET", "/v1/markets/RAIN/book?levels=1e3"),
    ("GET", "/v1/markets/RAIN/book?outcome=YES"),
    ("GET", "/v1/orders?market=NOPE"),
    ("DELETE", "/v1/orders?market=NOPE"),
    ("GET", "/balances/inr/nobody"),
    ("GET", "/orderbook/NOPE"),
    ("POST", "/user/create/a%20b"),
    ("POST", "/symbol/create/é"),
    ("PUT", "/v1/orders"),
    ("GET", "/v2/orders"),
    ("POST", "/v1/me"),
    ("DELETE", "/v1/keys/pk_x"),
    ("GET", "/v1/fills?limit=0"),
    ("PATCH", "/v1/orders/abc"),
]


def _gen(rng: random.Random) -> tuple[str, str, bytes, bool, dict[str, str]]:
    """(method, path, body, as_admin, extra headers) of one malformed request."""
    roll = rng.random()
    headers: dict[str, str] = {}
    if roll < 0.12:
        method, path = rng.choice(BAD_PATHS)
        return method, path, b"", rng.random() < 0.5, headers
    method, path, good, fields = rng.choice(BODIES)
    if roll < 0.25:
        raw = rng.choice(RAW[1:] if path == "/v1/keys" else RAW)  # no body: valid
        return method, path, raw, rng.random() < 0.5, headers
    body = json.loads(json.dumps(good))
    how = rng.random()
    if how < 0.7:
        f = rng.choice(sorted(fields))
        kind = fields[f]
        bad = BAD[kind.rstrip("?")]
        if kind.endswith("?"):  # null means "not given" for this field
            bad = [v for v in bad if v is not None]
        body[f] = rng.choice(bad)
    elif how < 0.8:
        body[rng.choice(["extra", "uid", "user_id", "ts", "seq", "admin2"])] = (
            rng.choice([1, "x", None])
        )
    elif how < 0.9:
        req = REQUIRED.get(path, ())
        if req:
            del body[rng.choice(req)]
        else:
            body["unknown_field"] = 1
    else:
        body = rng.choice([[body], list(body.values()) or [1], None, 1, "x"])
    if rng.random() < 0.03:
        headers["Idempotency-Key"] = rng.choice(["", "a b", "x" * 41, "a/b"])
    raw = json.dumps(body).encode()
    return method, path, raw, rng.random() < 0.5, headers


@pytest.mark.slow  # a 10,000-request corpus
async def test_malformed_corpus(tmp_path: Path) -> None:
    cfg = ServerConfig(
        data=tmp_path,
        rate_per_s=1e6,
        rate_burst=10**6,
        auth_fail_per_s=1e6,
        auth_fail_burst=10**6,
    )
    app = create_app(cfg, memory_services)
    async with app.router.lifespan_context(app):
        s = Server(app, tmp_path)
        await s.market("RAIN")
        asha = await s.user("asha", 100_000)
        auth = app.state.ctx.services.auth
        h0 = s.engine.state_hash()
        users0, keys0 = (
            auth.n_users(),
            len(auth.keys_of("admin") + auth.keys_of("asha")),
        )
        rng = random.Random(15)
        codes: dict[int, int] = {}
        for i in range(N):
            method, path, raw, as_admin, headers = _gen(rng)
            client = s.admin if as_admin else asha
            if i % 50 == 0:
                client = s.anon  # unauthenticated
            r = await client.request(method, path, content=raw, headers=headers)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            assert 400 <= r.status_code < 500, (
                method,
                path,
                raw[:200],
                r.status_code,
                r.text,
            )
            err = json.loads(r.content)["error"]
            assert isinstance(err["code"], str) and isinstance(err["message"], str)
        assert s.engine.state_hash() == h0
        assert auth.n_users() == users0
        assert len(auth.keys_of("admin") + auth.keys_of("asha")) == keys0
        assert sum(codes.values()) == N
