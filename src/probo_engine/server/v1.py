"""The versioned API, ``/v1``.  Every route is listed in :func:`routes`.

Conventions: integers only (paise, shares, prices on the market's grid, ns
timestamps); the acting user is the authenticated one; every answer read from
the engine replica carries ``seq`` (the newest engine *event* seq it
reflects, the WebSocket feed's numbering) and ``command_seq`` (the newest
command applied); history answers come from the history store, which may lag
the engine by the archiver's lag.  See docs/server.md.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Annotated, Any, Literal

import msgspec
from starlette.responses import Response

from probo_engine.commands import (
    Amend,
    Cancel,
    CancelAll,
    Close,
    CreateMarket,
    CreateUser,
    Deposit,
    Halt,
    Merge,
    Mint,
    Resolve,
    Resume,
    Withdraw,
)
from probo_engine.errors import UnknownUserError
from probo_engine.server.api import (
    ApiError,
    Call,
    Ctx,
    Route,
    json_response,
    order_reply,
    reject_error,
)
from probo_engine.server.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    RateLimiter,
    valid_name,
)
from probo_engine.server.orders import (
    NAME_PATTERN,
    OUTCOMES,
    OrderIn,
    Qty,
    Symbol,
    check_order,
    order_command,
)
from probo_engine.types import FeeMode, MarketStatus, Outcome, Side, TimeInForce

__all__ = ["routes"]

Amount = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
_IDEM_RE = re.compile(r"[A-Za-z0-9_.:-]{1,40}")


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    password: Password | None = None
    admin: bool = False


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    password: Annotated[str, msgspec.Meta(max_length=256)]


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    password: Password


class KeyIn(msgspec.Struct, forbid_unknown_fields=True):
    user: Name | None = None


class CashIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: Amount
    user: Name | None = None


class MarketIn(msgspec.Struct, forbid_unknown_fields=True):
    symbol: Symbol
    payout: Annotated[int, msgspec.Meta(ge=2, le=10**9)] = 1000
    tick: Annotated[int, msgspec.Meta(ge=1, le=10**9)] = 50
    taker_fee: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    maker_fee: Annotated[int, msgspec.Meta(ge=-10_000, le=10_000)] = 0
    fee_mode: Literal["bps", "curve"] = "bps"
    min_qty: Annotated[int, msgspec.Meta(ge=1, le=10**9)] = 1
    cancel_on_halt: bool = False


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    yes_value: Annotated[int, msgspec.Meta(ge=0, le=10**9)]


class QtyIn(msgspec.Struct, forbid_unknown_fields=True):
    qty: Qty


class AmendIn(msgspec.Struct, forbid_unknown_fields=True):
    price: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    qty: Qty


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    orders: Annotated[list[OrderIn], msgspec.Meta(min_length=1, max_length=1000)]


# ------------------------------------------------------------------ helpers


def _q(call: Call) -> dict[str, int]:
    return {"seq": call.ctx.engine.last_seq, "command_seq": call.ctx.seq}


def _idem_key(call: Call, suffix: str = "") -> bytes:
    hdr = call.request.headers.get("idempotency-key")
    if hdr is None:
        return b""
    if _IDEM_RE.fullmatch(hdr) is None:
        raise ApiError(
            400, "invalid_idempotency_key", "Idempotency-Key: 1..40 of [A-Za-z0-9_.:-]"
        )
    return f"h:{call.who.uid}:{hdr}{suffix}".encode()


def _target_user(call: Call, name: str | None) -> int:
    """The uid a cash operation acts on: the caller, or (admin) a named user."""
    if name is None or name == call.who.name:
        return call.who.uid
    if not call.who.admin:
        raise ApiError(403, "forbidden", "only an admin acts on another user")
    u = call.ctx.s.auth.user(name)
    if u is None:
        raise ApiError(404, "unknown_user", f"no user {name!r}")
    return u.uid


def _order_json(call: Call, t: tuple[int, ...]) -> dict[str, Any]:
    mid, oid, uid, side, outcome, price, qty, yes_price, _bs, tif, cid, exp = t
    return {
        "order_id": oid,
        "market": call.ctx.engine.market_symbol(mid) or str(mid),
        "side": Side(side).name.lower(),
        "outcome": Outcome(outcome).name.lower(),
        "price": price,
        "yes_price": yes_price,
        "remaining": qty,
        "tif": TimeInForce(tif).name.lower(),
        "client_order_id": cid or None,
        "expire_ts": exp or None,
    }


def _market_json(call: Call, mid: int) -> dict[str, Any]:
    eng = call.ctx.engine
    payout, tick, tf, mf, fm, mq, coh, yv = eng.market_config(mid)
    status = eng.market(mid)[2]
    bp, bq, ap, aq = eng.top(mid)
    return {
        "symbol": eng.market_symbol(mid) or str(mid),
        "id": mid,
        "status": MarketStatus(status).name.lower(),
        "payout": payout,
        "tick": tick,
        "taker_fee": tf,
        "maker_fee": mf,
        "fee_mode": FeeMode(fm).name.lower(),
        "min_qty": mq,
        "cancel_on_halt": coh,
        "yes_value": None if yv < 0 else yv,
        "last_price": eng.last_price(mid) or None,
        "best_bid": bp or None,
        "best_ask": ap or None,
    }


async def _simple(call: Call, cmd: tuple[int, ...], key: bytes = b"") -> Response:
    """Submit a command whose result is 0 (done) or ``-code`` (refused)."""
    reply = await call.ctx.submit(cmd, key)
    if reply.result < 0:
        raise reject_error(-reply.result, reply.seq)
    return json_response({"ok": True, "seq": reply.seq, "duplicate": reply.duplicate})


# ------------------------------------------------------------ users, keys


async def me(call: Call) -> Response:
    w = call.who
    return json_response(
        {"name": w.name, "uid": w.uid, "admin": w.admin, "via_session": w.via_session}
    )


async def create_user(
    ctx: Ctx, name: str, *, admin: bool = False, pw: str | None = None
) -> int:
    """Create the engine user and its credentials record; return the uid.

    Idempotent by name (key ``u:<name>``): a retry after a crash between the
    two steps finds the engine user and records it.
    """
    auth = ctx.s.auth
    if not valid_name(name):
        raise ApiError(400, "invalid_name", "user names are 1..64 of [A-Za-z0-9_.-]")
    if auth.user(name) is not None:
        raise ApiError(409, "user_exists", f"user {name!r} exists")
    pw_hash = None if pw is None else await asyncio.to_thread(auth.hash_password, pw)
    try:
        uid = ctx.engine.user_id(name)  # made before a crash: adopt it
    except UnknownUserError:
        reply = await ctx.submit(CreateUser(name=name), f"u:{name}".encode())
        uid = reply.result
    if auth.user(name) is not None:  # raced with another request
        raise ApiError(409, "user_exists", f"user {name!r} exists")
    try:
        auth.add_user(name, uid, admin=admin, pw_hash=pw_hash)
    except sqlite3.IntegrityError:  # raced with another process on the store
        raise ApiError(409, "user_exists", f"user {name!r} exists") from None
    return uid


async def post_user(call: Call) -> Response:
    body = call.json(UserIn)
    uid = await create_user(call.ctx, body.name, admin=body.admin, pw=body.password)
    return json_response({"name": body.name, "uid": uid, "admin": body.admin}, 201)


async def list_users(call: Call) -> Response:
    return json_response(
        [
            {"name": u.name, "uid": u.uid, "admin": u.admin}
            for u in call.ctx.s.auth.users()
        ]
    )


async def post_key(call: Call) -> Response:
    body = call.json(KeyIn) if call.body else KeyIn()
    name = body.user or call.who.name
    if name != call.who.name and not call.who.admin:
        raise ApiError(403, "forbidden", "only an admin makes keys for another user")
    auth = call.ctx.s.auth
    if auth.user(name) is None:
        raise ApiError(404, "unknown_user", f"no user {name!r}")
    key_id, secret = auth.new_key(name)
    return json_response(
        {
            "key_id": key_id,
            "secret": secret,
            "user": name,
            "note": "the secret is shown only now; store it safely",
        },
        201,
    )


async def list_keys(call: Call) -> Response:
    return json_response({"keys": call.ctx.s.auth.keys_of(call.who.name)})


async def delete_key(call: Call) -> Response:
    auth = call.ctx.s.auth
    key_id = call.path("key_id")
    owner = auth.key_owner(key_id)
    if owner is None or (owner != call.who.name and not call.who.admin):
        raise ApiError(404, "unknown_key", "no such key")
    auth.revoke_key(key_id)
    return json_response({"revoked": key_id})


async def set_password(call: Call) -> Response:
    body = call.json(PasswordIn)
    auth = call.ctx.s.auth
    h = await asyncio.to_thread(auth.hash_password, body.password)
    auth.set_password_hash(call.who.name, h)
    return json_response({"ok": True})


async def login(call: Call) -> Response:
    body = call.json(LoginIn)
    # every attempt costs an argon2 verification: bounded per client address
    ip = call.request.client.host if call.request.client else "-"
    wait = call.ctx.fail_limiter.take("login:" + ip)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            "too many login attempts",
            {"Retry-After": RateLimiter.retry_after(wait)},
        )
    auth = call.ctx.s.auth
    ok = await asyncio.to_thread(auth.check_password, body.name, body.password)
    if not ok:
        raise ApiError(401, "bad_login", "wrong name or password")
    cfg = call.ctx.config
    token, csrf = auth.new_session(body.name, cfg.session_ttl)
    resp = json_response({"name": body.name, "csrf_token": csrf})
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=cfg.session_ttl,
        httponly=True,
        samesite="strict",
        secure=cfg.secure_cookies,
    )
    resp.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=cfg.session_ttl,
        httponly=False,
        samesite="strict",
        secure=cfg.secure_cookies,
    )
    return resp


async def logout(call: Call) -> Response:
    token = call.request.cookies.get(SESSION_COOKIE)
    if token:
        call.ctx.s.auth.end_session(token)
    resp = json_response({"ok": True})
    resp.delete_cookie(SESSION_COOKIE)
    resp.delete_cookie(CSRF_COOKIE)
    return resp


# ------------------------------------------------------------------- cash


async def deposit(call: Call) -> Response:
    body = call.json(CashIn)
    if not call.who.admin and not call.ctx.config.test_onramp:
        raise ApiError(403, "forbidden", "deposits need the admin scope")
    uid = _target_user(call, body.user)
    return await _simple(call, Deposit(uid, body.amount), _idem_key(call))


async def withdraw(call: Call) -> Response:
    body = call.json(CashIn)
    uid = _target_user(call, body.user)
    return await _simple(call, Withdraw(uid, body.amount), _idem_key(call))


async def balance(call: Call) -> Response:
    avail, locked = call.ctx.engine.balance(call.who.uid)
    return json_response({"available": avail, "locked": locked, **_q(call)})


async def positions(call: Call) -> Response:
    eng = call.ctx.engine
    out = []
    for mid in range(eng.totals()[2]):
        ya, yl, na, nl = eng.position(call.who.uid, mid)
        if ya or yl or na or nl:
            out.append(
                {
                    "market": eng.market_symbol(mid) or str(mid),
                    "yes": {"available": ya, "locked": yl},
                    "no": {"available": na, "locked": nl},
                }
            )
    return json_response({"positions": out, **_q(call)})


# ---------------------------------------------------------------- markets


async def list_markets(call: Call) -> Response:
    n = call.ctx.engine.totals()[2]
    return json_response(
        {"markets": [_market_json(call, m) for m in range(n)], **_q(call)}
    )


async def get_market(call: Call) -> Response:
    mid = call.ctx.market(call.path("market"))
    return json_response({**_market_json(call, mid), **_q(call)})


async def post_market(call: Call) -> Response:
    b = call.json(MarketIn)
    try:
        call.ctx.engine.market_id(b.symbol)
    except KeyError:
        pass
    else:
        raise ApiError(409, "market_exists", f"market {b.symbol!r} exists")
    if b.tick >= b.payout or b.payout % b.tick:
        raise ApiError(400, "invalid_body", "tick must divide payout and be smaller")
    cmd = CreateMarket(
        b.payout,
        b.tick,
        0,
        b.taker_fee,
        b.maker_fee,
        1 if b.fee_mode == "curve" else 0,
        b.min_qty,
        b.cancel_on_halt,
        symbol=b.symbol,
    )
    reply = await call.ctx.submit(cmd, f"m:{b.symbol}".encode())
    return json_response(
        {"symbol": b.symbol, "id": reply.result, "seq": reply.seq}, 201
    )


def _market_op(kind: type) -> Any:
    async def op(call: Call) -> Response:
        mid = call.ctx.market(call.path("market"))
        return await _simple(call, kind(mid), _idem_key(call))

    return op


async def resolve(call: Call) -> Response:
    mid = call.ctx.market(call.path("market"))
    body = call.json(ResolveIn)
    return await _simple(call, Resolve(mid, body.yes_value), _idem_key(call))


async def mint(call: Call) -> Response:
    mid = call.ctx.market(call.path("market"))
    body = call.json(QtyIn)
    return await _simple(call, Mint(call.who.uid, mid, body.qty), _idem_key(call))


async def merge(call: Call) -> Response:
    mid = call.ctx.market(call.path("market"))
    body = call.json(QtyIn)
    return await _simple(call, Merge(call.who.uid, mid, body.qty), _idem_key(call))


async def book(call: Call) -> Response:
    ctx = call.ctx
    mid = ctx.market(call.path("market"))
    outcome = call.query_choice("outcome", ("yes", "no"), "yes")
    levels = call.query_int("levels", 10, 1, 1000)
    assert levels is not None
    depth = ctx.engine.book(mid, OUTCOMES[outcome], levels)
    out: dict[str, Any] = {
        "market": call.path("market"),
        "outcome": outcome,
        "bids": [[lv.price, lv.qty, lv.orders] for lv in depth.bids],
        "asks": [[lv.price, lv.qty, lv.orders] for lv in depth.asks],
        **_q(call),
    }
    if ctx.book_checksum is not None:
        out["checksum"] = ctx.book_checksum(out["bids"], out["asks"])
    return json_response(out)


# ----------------------------------------------------------------- orders


def check_grid(call: Call, mid: int, price: int | None, qty: int, where: str) -> None:
    """Refuse (400) what the engine would reject as malformed, before it is
    sent: a price off the market's grid, a qty below its minimum."""
    payout, tick, _tf, _mf, _fm, min_qty, _c, _y = call.ctx.engine.market_config(mid)
    if price is not None and (price % tick or not tick <= price <= payout - tick):
        raise ApiError(
            400,
            "price_off_grid",
            f"{where}price {price} is not on the grid {tick}..{payout - tick} "
            f"step {tick}",
        )
    if qty < min_qty:
        raise ApiError(400, "below_min_qty", f"{where}qty {qty} < min_qty {min_qty}")


def _checked(o: OrderIn, call: Call, where: str = "") -> tuple[int, ...]:
    why = check_order(o)
    if why is not None:
        raise ApiError(400, "invalid_order", where + why)
    mid = call.ctx.market(o.market)
    check_grid(call, mid, o.price, o.qty, where)
    return order_command(o, call.who.uid, mid)


def _own_order(call: Call, oid: int) -> tuple[int, ...]:
    """The caller's live order ``oid`` (404 if it is not live or not theirs:
    another user's order is indistinguishable from none)."""
    t = call.ctx.engine.order(oid)
    if t is None or t[2] != call.who.uid:
        raise ApiError(404, "unknown_order", f"no open order {oid}")
    return t


def _order_key(call: Call, o: OrderIn, suffix: str = "") -> bytes:
    if o.client_order_id is not None:
        return f"c:{call.who.uid}:{o.client_order_id}".encode()
    return _idem_key(call, suffix)


async def place(call: Call) -> Response:
    o = call.json(OrderIn)
    cmd = _checked(o, call)
    reply = await call.ctx.submit(cmd, _order_key(call, o))
    out = order_reply(reply, o.qty)
    call.ctx.metrics.order_placed(out["status"])
    if out["status"] == "rejected":
        err = reject_error(-reply.result, reply.seq)
        raise err
    return json_response(out, 201 if not reply.duplicate else 200)


async def place_batch(call: Call) -> Response:
    body = call.json(BatchIn)
    limit = call.ctx.config.max_batch
    if len(body.orders) > limit:
        raise ApiError(400, "batch_too_large", f"at most {limit} orders in a batch")
    cmds = [_checked(o, call, f"orders[{i}]: ") for i, o in enumerate(body.orders)]
    keys = [_order_key(call, o, f":{i}") for i, o in enumerate(body.orders)]
    # submitted in order: the bus applies them in that order and commits
    # them together; each order has its own result (or error)
    replies = await call.ctx.submit_many(list(zip(cmds, keys, strict=True)))
    results: list[dict[str, Any]] = []
    for o, rep in zip(body.orders, replies, strict=True):
        if isinstance(rep, ApiError):
            results.append(
                {"status": "error", "error": {"code": rep.code, "message": rep.message}}
            )
            continue
        out = order_reply(rep, o.qty)
        call.ctx.metrics.order_placed(out["status"])
        results.append(out)
    return json_response({"results": results})


async def open_orders(call: Call) -> Response:
    ctx = call.ctx
    sym = call.request.query_params.get("market")
    mid = None if sym is None else ctx.market(sym)
    rows = [
        _order_json(call, t)
        for t in ctx.engine.user_orders(call.who.uid)
        if mid is None or t[0] == mid
    ]
    return json_response({"orders": rows, **_q(call)})


async def get_order(call: Call) -> Response:
    oid = call.path_int("oid")
    t = call.ctx.engine.order(oid)
    if t is not None and t[2] == call.who.uid:
        return json_response({**_order_json(call, t), "open": True, **_q(call)})
    return await _history_order(call, oid=oid)


async def get_order_by_client_id(call: Call) -> Response:
    cid = call.path_int("cid", 1, 2**32 - 1)
    t = call.ctx.engine.order_by_client_id(call.who.uid, cid)
    if t is not None:
        return json_response({**_order_json(call, t), "open": True, **_q(call)})
    return await _history_order(call, cid=cid)


async def _history_order(
    call: Call, oid: int | None = None, cid: int | None = None
) -> Response:
    hist = call.ctx.s.history
    if hist is None:
        raise ApiError(
            404, "unknown_order", "no open order with that id (no history store)"
        )
    row = await hist.find_order(call.who.uid, oid=oid, client_id=cid)
    if row is None:
        raise ApiError(404, "unknown_order", "no order with that id")
    return json_response({**row, "open": False})


async def cancel(call: Call) -> Response:
    oid = call.path_int("oid")
    key = _idem_key(call)
    if not key:  # with a key, a retry must reach the dedup window
        _own_order(call, oid)
    return await _simple(call, Cancel(call.who.uid, oid), key)


async def cancel_all(call: Call) -> Response:
    sym = call.request.query_params.get("market")
    mid = -1 if sym is None else call.ctx.market(sym)
    reply = await call.ctx.submit(CancelAll(call.who.uid, mid), _idem_key(call))
    if reply.result < 0:
        raise reject_error(-reply.result, reply.seq)
    return json_response({"canceled": reply.result, "seq": reply.seq})


async def amend(call: Call) -> Response:
    oid = call.path_int("oid")
    body = call.json(AmendIn)
    key = _idem_key(call)
    if not key:  # with a key, a retry must reach the dedup window
        t = _own_order(call, oid)
        check_grid(call, t[0], body.price, body.qty, "")
    return await _simple(call, Amend(call.who.uid, oid, body.price, body.qty), key)


# ---------------------------------------------------------------- history


def _need_history(call: Call) -> Any:
    hist = call.ctx.s.history
    if hist is None:
        raise ApiError(404, "no_history", "this server has no history store")
    return hist


async def fills(call: Call) -> Response:
    hist = _need_history(call)
    limit = call.query_int("limit", 100, 1, 1000)
    after = call.query_int("after", 0)
    rows = await hist.user_fills(call.who.uid, limit=limit, after=after)
    return json_response({"fills": rows})


async def order_history(call: Call) -> Response:
    hist = _need_history(call)
    limit = call.query_int("limit", 100, 1, 1000)
    before = call.query_int("before", None, 1)
    rows = await hist.user_orders(call.who.uid, limit=limit, before=before)
    return json_response({"orders": rows})


async def trades(call: Call) -> Response:
    hist = _need_history(call)
    mid = call.ctx.market(call.path("market"))
    limit = call.query_int("limit", 100, 1, 1000)
    after = call.query_int("after", 0)
    rows = await hist.trades(mid, limit=limit, after=after)
    return json_response({"trades": rows})


async def candles(call: Call) -> Response:
    hist = _need_history(call)
    mid = call.ctx.market(call.path("market"))
    interval = call.query_choice("interval", ("1m", "5m", "15m", "1h", "1d"), "1m")
    outcome = call.query_choice("outcome", ("yes", "no"), "yes")
    start = call.query_int("start_ts", None)
    rows = await hist.candles(mid, interval, outcome=OUTCOMES[outcome], start_ts=start)
    return json_response({"candles": rows})


async def admin_state(call: Call) -> Response:
    eng = call.ctx.engine
    net_cash, n_users, n_markets, n_live = eng.totals()
    return json_response(
        {
            "state_hash": eng.state_hash(),
            "users": n_users,
            "markets": n_markets,
            "live_orders": n_live,
            "net_cash": net_cash,
            **_q(call),
        }
    )


def routes() -> list[Route]:
    R = Route
    return [
        R("GET", "/v1/me", "me", me, "Who the credentials belong to", tags=("users",)),
        R(
            "POST",
            "/v1/users",
            "users.create",
            post_user,
            "Create a user (and its engine user)",
            UserIn,
            admin=True,
            tags=("users",),
        ),
        R(
            "GET",
            "/v1/users",
            "users.list",
            list_users,
            "List users",
            admin=True,
            tags=("users",),
        ),
        R(
            "POST",
            "/v1/keys",
            "keys.create",
            post_key,
            "Make an API key; the secret is shown once",
            KeyIn,
            tags=("users",),
        ),
        R(
            "GET",
            "/v1/keys",
            "keys.list",
            list_keys,
            "Your API key ids",
            tags=("users",),
        ),
        R(
            "DELETE",
            "/v1/keys/{key_id}",
            "keys.revoke",
            delete_key,
            "Revoke an API key",
            tags=("users",),
        ),
        R(
            "POST",
            "/v1/password",
            "password",
            set_password,
            "Set your password (browser login)",
            PasswordIn,
            tags=("users",),
        ),
        R(
            "POST",
            "/v1/session",
            "session.login",
            login,
            "Log in: session cookie + CSRF token",
            LoginIn,
            auth=False,
            tags=("users",),
        ),
        R(
            "DELETE",
            "/v1/session",
            "session.logout",
            logout,
            "Log out",
            tags=("users",),
        ),
        R(
            "POST",
            "/v1/deposits",
            "deposit",
            deposit,
            "Deposit cash (admin; or self with test_onramp)",
            CashIn,
            tags=("cash",),
        ),
        R(
            "POST",
            "/v1/withdrawals",
            "withdraw",
            withdraw,
            "Withdraw cash (your own; admin: anyone's)",
            CashIn,
            tags=("cash",),
        ),
        R("GET", "/v1/balance", "balance", balance, "Your cash", tags=("cash",)),
        R(
            "GET",
            "/v1/positions",
            "positions",
            positions,
            "Your shares",
            tags=("cash",),
        ),
        R(
            "GET",
            "/v1/markets",
            "markets.list",
            list_markets,
            "Markets",
            tags=("markets",),
        ),
        R(
            "POST",
            "/v1/markets",
            "markets.create",
            post_market,
            "Create a market",
            MarketIn,
            admin=True,
            tags=("markets",),
        ),
        R(
            "GET",
            "/v1/markets/{market}",
            "markets.get",
            get_market,
            "One market",
            tags=("markets",),
        ),
        R(
            "POST",
            "/v1/markets/{market}/halt",
            "markets.halt",
            _market_op(Halt),
            "Halt a market",
            admin=True,
            tags=("markets",),
        ),
        R(
            "POST",
            "/v1/markets/{market}/resume",
            "markets.resume",
            _market_op(Resume),
            "Resume a halted market",
            admin=True,
            tags=("markets",),
        ),
        R(
            "POST",
            "/v1/markets/{market}/close",
            "markets.close",
            _market_op(Close),
            "Close a market",
            admin=True,
            tags=("markets",),
        ),
        R(
            "POST",
            "/v1/markets/{market}/resolve",
            "markets.resolve",
            resolve,
            "Resolve a market",
            ResolveIn,
            admin=True,
            tags=("markets",),
        ),
        R(
            "GET",
            "/v1/markets/{market}/book",
            "book",
            book,
            "Order book in either outcome's terms",
            tags=("markets",),
        ),
        R(
            "POST",
            "/v1/markets/{market}/mint",
            "mint",
            mint,
            "Buy YES+NO pairs at the payout",
            QtyIn,
            tags=("markets",),
        ),
        R(
            "POST",
            "/v1/markets/{market}/merge",
            "merge",
            merge,
            "Sell YES+NO pairs back for the payout",
            QtyIn,
            tags=("markets",),
        ),
        R(
            "GET",
            "/v1/markets/{market}/trades",
            "trades",
            trades,
            "Recent trades (history)",
            tags=("history",),
        ),
        R(
            "GET",
            "/v1/markets/{market}/candles",
            "candles",
            candles,
            "OHLC candles (history)",
            tags=("history",),
        ),
        R(
            "POST",
            "/v1/orders",
            "orders.place",
            place,
            "Place an order",
            OrderIn,
            tags=("orders",),
        ),
        R(
            "POST",
            "/v1/orders/batch",
            "orders.batch",
            place_batch,
            "Place up to max_batch orders",
            BatchIn,
            tags=("orders",),
        ),
        R(
            "GET",
            "/v1/orders",
            "orders.open",
            open_orders,
            "Your open orders",
            tags=("orders",),
        ),
        R(
            "DELETE",
            "/v1/orders",
            "orders.cancel_all",
            cancel_all,
            "Cancel all your orders (?market=)",
            tags=("orders",),
        ),
        R(
            "GET",
            "/v1/orders/history",
            "orders.history",
            order_history,
            "Your orders, newest first (history)",
            tags=("history",),
        ),
        R(
            "GET",
            "/v1/orders/client/{cid}",
            "orders.by_client_id",
            get_order_by_client_id,
            "An order by client order id",
            tags=("orders",),
        ),
        R(
            "GET",
            "/v1/orders/{oid}",
            "orders.get",
            get_order,
            "An order by id",
            tags=("orders",),
        ),
        R(
            "DELETE",
            "/v1/orders/{oid}",
            "orders.cancel",
            cancel,
            "Cancel an order",
            tags=("orders",),
        ),
        R(
            "PATCH",
            "/v1/orders/{oid}",
            "orders.amend",
            amend,
            "Amend price and remaining qty",
            AmendIn,
            tags=("orders",),
        ),
        R(
            "GET",
            "/v1/admin/state",
            "admin.state",
            admin_state,
            "Engine state hash and totals at a seq",
            admin=True,
            tags=("ops",),
        ),
        R(
            "GET",
            "/v1/fills",
            "fills",
            fills,
            "Your fills, newest first (history)",
            tags=("history",),
        ),
    ]
