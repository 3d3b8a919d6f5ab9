"""What the unit scenarios (``test_*.py`` here) share: conventions and helpers.

Named scenarios, one rule each, with the numbers written out.

Every test runs against each implementation (``engine_cls`` in conftest.py):
the pure-Python oracle and, once built, the Cython core.  The rules are those of
docs/semantics.md.  A fresh engine gives users ids 0, 1, 2, ..., markets ids
0, 1, ... and orders ids 1, 2, ..., so the scenarios write ids out literally.
Each test ends with ``finish(e)``: the engine's own ``check_invariants()`` plus an
independent conservation check made from the public queries.
"""

from __future__ import annotations

from reference import (
    BOOK_ASK,
    BOOK_BID,
    EV_ACCEPTED,
    EV_CANCELED,
    EV_FILL,
    EV_LEVEL,
    EVENT_FIELDS,
    OUTCOME_NO,
    OUTCOME_YES,
    REJ_OK,
    SIDE_BUY,
    SIDE_SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    TIF_FOK,
    TIF_GTC,
    TIF_GTD,
    TIF_IOC,
)

BUY, SELL = SIDE_BUY, SIDE_SELL
YES, NO = OUTCOME_YES, OUTCOME_NO
BID, ASK = BOOK_BID, BOOK_ASK
GTC, IOC, FOK, GTD = TIF_GTC, TIF_IOC, TIF_FOK, TIF_GTD
CM, CT, CB = STP_CANCEL_MAKER, STP_CANCEL_TAKER, STP_CANCEL_BOTH


# --- helpers --------------------------------------------------------------------


def E(kind: int, **fields: int) -> tuple:
    """An expected event, without its ``seq`` (fields not given are 0)."""
    for name in fields:
        assert name in EVENT_FIELDS[2:], name
    values = dict.fromkeys(EVENT_FIELDS[2:], 0)
    values.update(fields)
    return (kind, *(values[name] for name in EVENT_FIELDS[2:]))


def T(market, user, oid, side, outcome, ts=0) -> dict:
    """The order fields shared by an order's ACCEPTED, FILL and CANCELED events."""
    return {
        "ts": ts, "market": market, "user": user, "oid": oid, "side": side,
        "outcome": outcome,
    }  # fmt: skip


def acc(t: dict, price, qty, tif, yes_price, book_side, client_id=0, expire_ts=0):
    """ACCEPTED: own price, qty, tif, YES price, book side (+ post-only, market)."""
    return E(EV_ACCEPTED, **t, price=price, qty=qty, code=tif, price2=yes_price,
             aux=book_side, user2=client_id, oid2=expire_ts)  # fmt: skip


def fill(t: dict, x, q, kind, maker, maker_oid, taker_x, maker_left, fee=0, fee2=0):
    """FILL (``t`` = the taker): YES price x, qty, kind, maker, x in taker terms,
    maker qty left, taker fee, maker fee."""
    return E(EV_FILL, **t, price=x, qty=q, code=kind, user2=maker, oid2=maker_oid,
             price2=taker_x, aux=maker_left, fee=fee, fee2=fee2)  # fmt: skip


def canc(t: dict, price, qty, reason, yes_price, book_side) -> tuple:
    """CANCELED: own price, qty canceled, reason, YES price, book side."""
    return E(EV_CANCELED, **t, price=price, qty=qty, code=reason, price2=yes_price,
             aux=book_side)  # fmt: skip


def lvl(market, book_side, yes_price, total, count, ts=0) -> tuple:
    """LEVEL: a price level's new total and order count."""
    return E(EV_LEVEL, ts=ts, market=market, side=book_side, price=yes_price,
             qty=total, aux=count)  # fmt: skip


def got_events(e) -> list[tuple]:
    """``e.last_events()`` as tuples, checking each is 17 plain ints."""
    out = []
    for ev in e.last_events():
        t = tuple(ev)
        assert len(t) == len(EVENT_FIELDS), t
        assert all(type(x) is int for x in t), t
        out.append(t)
    return out


def assert_events(e, expected: list[tuple], first_seq: int | None = None) -> list:
    """The last command's events are ``expected`` with gap-free seqs."""
    got = got_events(e)
    assert [g[1:] for g in got] == expected
    if got:
        seqs = [g[0] for g in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(got)))
        if first_seq is not None:
            assert seqs[0] == first_seq
    return got


def depth(e, mid: int, n: int = 1000) -> tuple[list, list]:
    bids, asks = e.depth(mid, n)
    return [tuple(x) for x in bids], [tuple(x) for x in asks]


def state(e) -> dict:
    """Everything the public queries show, to check that nothing changed."""
    net, n_users, n_markets, n_live = e.totals()
    users, markets = range(n_users), range(n_markets)
    return {
        "totals": tuple(e.totals()),
        "balances": [tuple(e.balance(u)) for u in users],
        "positions": [tuple(e.position(u, m)) for u in users for m in markets],
        "tops": [tuple(e.top(m)) for m in markets],
        "depths": [depth(e, m) for m in markets],
        "books": [[tuple(o) for o in e.book_orders(m)] for m in markets],
        "markets": [tuple(e.market(m)) for m in markets],
        "last_prices": [e.last_price(m) for m in markets],
        "user_orders": [[tuple(o) for o in e.user_orders(u)] for u in users],
        "configs": [tuple(e.market_config(m)) for m in markets],
        "fees": e.fees(),
    }


def finish(e) -> None:
    """Invariants of the implementation plus conservation from the queries."""
    e.check_invariants()
    net, n_users, n_markets, n_live = e.totals()
    held = sum(sum(e.balance(u)) for u in range(n_users)) + e.fees()
    for m in range(n_markets):
        payout, tick, status, pairs = e.market(m)
        held += payout * pairs
        yes = sum(e.position(u, m)[0] + e.position(u, m)[1] for u in range(n_users))
        no = sum(e.position(u, m)[2] + e.position(u, m)[3] for u in range(n_users))
        assert yes == no == pairs
    assert held == net
    assert n_live == sum(len(e.book_orders(m)) for m in range(n_markets))


def world(e, *deposits: int, payout: int = 1000, tick: int = 50):
    """Market 0 with the given grid and one user per deposit (0 = no deposit)."""
    m = e.create_market(payout, tick)
    users = []
    for amount in deposits:
        u = e.create_user()
        if amount:
            assert e.deposit(u, amount) == REJ_OK
        users.append(u)
    return m, users
