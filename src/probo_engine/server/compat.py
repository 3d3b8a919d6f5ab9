"""The seed app's routes and JSON shapes (``/work/shared/seed-api.md``).

Same paths, bodies and success replies as the seed, so its scripts and
frontend keep working, with these differences (all deliberate):

* every request is authenticated like ``/v1``; a ``userId`` in a path or
  body must be the caller's own name (an admin may name anyone), else 403;
* errors are real 4xx replies ``{"error": {"code", "message"}}``, never a hang;
* numbers must be JSON integers (the seed's ``Number("10")`` is not copied);
* creating users and symbols and on-ramping cash need the admin scope
  (on-ramping oneself is allowed with ``test_onramp``);
* ``/balances/inr`` and ``/balances/stock`` list only the caller's own entry
  unless the caller is an admin; ``/orderbook`` shows ``userId`` only on the
  caller's own orders (``null`` on others') unless the caller is an admin;
* ``/trade/mint`` charges the market's payout per pair whatever ``price`` says;
* ``/reset`` is refused (409): the entry log is the truth and is never wiped;
  start a new data directory instead;
* every answer built from the engine carries ``X-Probo-Seq`` (event seq).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from starlette.responses import PlainTextResponse, Response

from probo_engine.commands import CreateMarket, Deposit, Mint, Place
from probo_engine.server.api import (
    ApiError,
    Call,
    Route,
    json_response,
    order_reply,
    reject_error,
)
from probo_engine.server.auth import valid_name
from probo_engine.server.orders import NAME_PATTERN, Qty, Symbol
from probo_engine.server.v1 import check_grid, create_user

__all__ = ["routes"]

UserId = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Int = Annotated[int, msgspec.Meta(ge=0, le=2**62)]


class SeedOnrampIn(msgspec.Struct, forbid_unknown_fields=True):
    userId: UserId
    amount: Annotated[int, msgspec.Meta(ge=1, le=2**62)]


class SeedMintIn(msgspec.Struct, forbid_unknown_fields=True):
    userId: UserId
    stockSymbol: Symbol
    quantity: Qty
    price: Int | None = None


class SeedOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    userId: UserId
    stockSymbol: Symbol
    quantity: Qty
    price: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    stockType: Literal["yes", "no"]


class SeedTxIn(msgspec.Struct, forbid_unknown_fields=True):
    userId: UserId


def _uid_of(call: Call, name: str) -> int:
    call.require_self(name)
    if name == call.who.name:
        return call.who.uid
    u = call.ctx.s.auth.user(name)
    if u is None:
        raise ApiError(404, "unknown_user", f"no user {name!r}")
    return u.uid


async def healthy(call: Call) -> Response:
    return PlainTextResponse("helthy")


async def user_create(call: Call) -> Response:
    name = call.path("userId")
    await create_user(call.ctx, name)
    return json_response({"simpleres": f"User {name} created"})


async def onramp(call: Call) -> Response:
    b = call.json(SeedOnrampIn)
    if not call.who.admin and not call.ctx.config.test_onramp:
        raise ApiError(403, "forbidden", "on-ramping needs the admin scope")
    uid = _uid_of(call, b.userId)
    reply = await call.ctx.submit(Deposit(uid, b.amount))
    if reply.result < 0:
        raise reject_error(-reply.result, reply.seq)
    return json_response({"simpleres": f"Onramped {b.userId} with amount {b.amount}"})


async def symbol_create(call: Call) -> Response:
    sym = call.path("stockSymbol")
    if not valid_name(sym):
        raise ApiError(400, "invalid_symbol", "symbols are 1..64 of [A-Za-z0-9_.-]")
    try:
        call.ctx.engine.market_id(sym)
    except KeyError:
        pass
    else:
        raise ApiError(409, "market_exists", f"market {sym!r} exists")
    await call.ctx.submit(CreateMarket(symbol=sym), f"m:{sym}".encode())
    return json_response({"simpleres": f"symbol {sym} created"})


async def trade_mint(call: Call) -> Response:
    b = call.json(SeedMintIn)
    uid = _uid_of(call, b.userId)
    mid = call.ctx.market(b.stockSymbol)
    reply = await call.ctx.submit(Mint(uid, mid, b.quantity))
    if reply.result < 0:
        raise reject_error(-reply.result, reply.seq)
    return json_response({"simpleres": "mint completed"})


def _order(side: int) -> Any:
    async def order(call: Call) -> Response:
        b = call.json(SeedOrderIn)
        uid = _uid_of(call, b.userId)
        mid = call.ctx.market(b.stockSymbol)
        check_grid(call, mid, b.price, b.quantity, "")
        cmd = Place(
            uid, mid, side, 0 if b.stockType == "yes" else 1, b.price, b.quantity
        )
        reply = await call.ctx.submit(cmd)
        out = order_reply(reply, b.quantity)
        call.ctx.metrics.order_placed(out["status"])
        if out["status"] == "rejected":
            raise reject_error(-reply.result, reply.seq)
        return json_response(
            {
                "userId": b.userId,
                "stockSymbol": b.stockSymbol,
                "orderType": "buy" if side == 0 else "sell",
                "stockType": b.stockType,
                "price": b.price,
                "quantity": b.quantity,
                "executedQuantity": out["filled"],
            },
            seq=reply.seq,
        )

    return order


def _price_book(call: Call, mid: int) -> dict[str, Any]:
    """``{yes: PriceBook, no: PriceBook}``: each side lists what a buyer of
    that outcome can take, keyed by the price in paise, cheapest first."""
    eng = call.ctx.engine
    payout = eng.market(mid)[0]
    admin, me = call.who.admin, call.who.uid
    auth = call.ctx.s.auth
    books: dict[str, dict[int, dict[str, Any]]] = {"yes": {}, "no": {}}
    for _oid, uid, side, _oc, _p, qty, yes_price, book_side in eng.book_orders(mid):
        shown = "yes" if book_side == 1 else "no"  # asks offer YES, bids offer NO
        offer = yes_price if shown == "yes" else payout - yes_price
        if admin or uid == me:
            u = auth.user_by_uid(uid)
            who: str | None = u.name if u is not None else eng.user_name(uid)
        else:
            who = None
        lvl = books[shown].setdefault(offer, {"total": 0, "orders": []})
        lvl["total"] += qty
        lvl["orders"].append(
            {"quantity": qty, "userId": who, "type": "sell" if side == 1 else "buy"}
        )
    return {k: {str(p): v[p] for p in sorted(v)} for k, v in books.items()}


async def orderbook_all(call: Call) -> Response:
    eng = call.ctx.engine
    out = {
        eng.market_symbol(m) or str(m): _price_book(call, m)
        for m in range(eng.totals()[2])
    }
    return json_response(out, seq=eng.last_seq)


async def orderbook_one(call: Call) -> Response:
    mid = call.ctx.market(call.path("stockSymbol"))
    return json_response(_price_book(call, mid), seq=call.ctx.engine.last_seq)


def _names(call: Call) -> list[tuple[str, int]]:
    if call.who.admin:
        return [(u.name, u.uid) for u in call.ctx.s.auth.users()]
    return [(call.who.name, call.who.uid)]


async def inr_all(call: Call) -> Response:
    eng = call.ctx.engine
    out = {}
    for name, uid in _names(call):
        avail, locked = eng.balance(uid)
        out[name] = {"balance": avail, "locked": locked}
    return json_response(out, seq=eng.last_seq)


async def inr_one(call: Call) -> Response:
    uid = _uid_of(call, call.path("userId"))
    avail, locked = call.ctx.engine.balance(uid)
    return json_response(
        {"balance": avail, "locked": locked}, seq=call.ctx.engine.last_seq
    )


async def stock_all(call: Call) -> Response:
    eng = call.ctx.engine
    n = eng.totals()[2]
    out: dict[str, Any] = {}
    for name, uid in _names(call):
        mine = {}
        for mid in range(n):
            ya, yl, na, nl = eng.position(uid, mid)
            if ya or yl or na or nl:
                mine[eng.market_symbol(mid) or str(mid)] = {
                    "yes": {"quantity": ya, "locked": yl},
                    "no": {"quantity": na, "locked": nl},
                }
        out[name] = mine
    return json_response(out, seq=eng.last_seq)


async def transactions(call: Call) -> Response:
    b = call.json(SeedTxIn)
    uid = _uid_of(call, b.userId)
    hist = call.ctx.s.history
    if hist is None:
        raise ApiError(404, "no_history", "this server has no history store")
    rows = await hist.user_orders(uid, limit=1000)
    return json_response(
        [
            {
                "orderType": r["side"],  # newest first
                "stockType": r["outcome"],
                "stockSymbol": r["market"],
                "price": r["price"],
                "quantity": r["qty"],
                "executedQuantity": r["filled"],
                "userId": b.userId,
            }
            for r in rows
        ]
    )


async def reset(call: Call) -> Response:
    raise ApiError(
        409,
        "reset_disabled",
        "reset is not supported: the entry log is never wiped; stop the server "
        "and start it on a new data directory instead",
    )


def routes() -> list[Route]:
    R = Route
    t = ("seed",)
    return [
        R(
            "GET",
            "/",
            "seed.health",
            healthy,
            "Liveness, seed style (text)",
            auth=False,
            tags=t,
        ),
        R(
            "POST",
            "/user/create/{userId}",
            "seed.user_create",
            user_create,
            "Create a user",
            admin=True,
            tags=t,
        ),
        R(
            "POST",
            "/onramp/inr",
            "seed.onramp",
            onramp,
            "Add cash (paise)",
            SeedOnrampIn,
            tags=t,
        ),
        R(
            "POST",
            "/symbol/create/{stockSymbol}",
            "seed.symbol_create",
            symbol_create,
            "Create a market",
            admin=True,
            tags=t,
        ),
        R(
            "POST",
            "/trade/mint",
            "seed.mint",
            trade_mint,
            "Mint YES+NO pairs",
            SeedMintIn,
            tags=t,
        ),
        R(
            "POST",
            "/order/buy",
            "seed.buy",
            _order(0),
            "Buy (limit, GTC)",
            SeedOrderIn,
            tags=t,
        ),
        R(
            "POST",
            "/order/sell",
            "seed.sell",
            _order(1),
            "Sell (limit, GTC)",
            SeedOrderIn,
            tags=t,
        ),
        R(
            "GET",
            "/orderbook",
            "seed.orderbook_all",
            orderbook_all,
            "Every market's book",
            tags=t,
        ),
        R(
            "GET",
            "/orderbook/{stockSymbol}",
            "seed.orderbook",
            orderbook_one,
            "One market's book",
            tags=t,
        ),
        R(
            "GET",
            "/balances/inr",
            "seed.inr_all",
            inr_all,
            "Cash (own; admin: all)",
            tags=t,
        ),
        R(
            "GET",
            "/balances/inr/{userId}",
            "seed.inr_one",
            inr_one,
            "One user's cash",
            tags=t,
        ),
        R(
            "GET",
            "/balances/stock",
            "seed.stock_all",
            stock_all,
            "Shares (own; admin: all)",
            tags=t,
        ),
        R(
            "GET",
            "/transactions",
            "seed.transactions",
            transactions,
            "Your orders (JSON body on a GET)",
            SeedTxIn,
            tags=t,
        ),
        R("POST", "/reset", "seed.reset", reset, "Refused (409)", admin=True, tags=t),
        R(
            "POST",
            "/reset/reset",
            "seed.reset2",
            reset,
            "Refused (409)",
            admin=True,
            tags=t,
        ),
    ]
