"""The Cython core and the pure-Python oracle, driven in lockstep.

A Hypothesis ``RuleBasedStateMachine`` applies every command to
``probo_engine._book.Core`` and to ``tests/reference.py``'s ``ReferenceEngine``
and requires the same return value (or the same kind of exception) and the same
``last_events()`` after each one.  An invariant then compares everything the
queries show (balances, positions, books, orders, fees, market configs, totals)
and runs both ``check_invariants()``.

The machine keeps 2-5 users and 1-4 markets so that orders interact a lot, prices
orders around the touch so that they cross, and lets the same user trade on both
sides so that self-trade prevention runs often.  It covers every command of
docs/semantics.md: limit orders of every side/outcome/tif/stp (GTD, post-only,
client ids; stp NONE lets a user's orders fill each other), market orders with
budgets, amend, cancel, cancel by client id, cancel_all, mint, merge,
halt/resume/close/resolve, expiry, deposits and withdrawals, on engines with and
without limits and markets with and without fees.  Bad input is mixed in:
off-grid prices, bad quantities and amounts, unknown ids (including ids that
only a too-narrow C integer would mistake for a known one), wrong argument types.

``PROBO_HYPOTHESIS_EXAMPLES`` sets ``max_examples`` (default 300; CI uses 2000).
"""

from __future__ import annotations

import itertools
import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from reference import (
    BOOK_ASK,
    BOOK_BID,
    FEE_BPS,
    FEE_CURVE,
    MAX_QTY,
    MAX_TOTAL_CASH,
    OUTCOME_NO,
    OUTCOME_YES,
    SIDE_BUY,
    SIDE_SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    STP_NONE,
    TIF_FOK,
    TIF_GTC,
    TIF_GTD,
    TIF_IOC,
    ReferenceEngine,
)

Core = pytest.importorskip("probo_engine._book").Core

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is optional
    np = None

MAX_USERS = 5
MAX_MARKETS = 4
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# (payout, tick): the default grid, Kalshi, Polymarket-like, and small odd ones.
GRIDS = [(1000, 50), (100, 1), (10_000, 100), (30, 10), (20, 10), (1000, 250)]
# Engine limits: (max_qty, max_open_orders, max_balance, max_levels).
LIMITS = [
    (MAX_QTY, 0, 0, 100_000),
    (MAX_QTY, 0, 0, 100_000),
    (1_000, 4, 2_000_000, 100_000),
    (50, 0, 0, 20),  # the 99-level grids are refused
]

# Values that fit int64 but not a narrower C integer: an id taken as uint32 or
# int32 would alias a real one.
WIDE_IDS = [-1, 2**31, 2**32, 2**32 + 1, 2**40, INT64_MAX, INT64_MIN]


def weighted(*pairs):
    """Draw from one of the strategies of (weight, strategy) pairs, by weight.

    (``st.one_of`` with a branch repeated does not weight it; ``sampled_from``
    picks close to evenly, so it chooses the branch.)
    """
    branches = [i for i, (weight, _) in enumerate(pairs) for _ in range(weight)]
    return st.sampled_from(branches).flatmap(lambda i: pairs[i][1])


# A command's ts: mostly the clock moving on a little (sometimes back), now and
# then an extreme.
timestamps = weighted(
    (12, st.integers(-2, 6).map(lambda d: ("rel", d))),
    (1, st.sampled_from([("abs", INT64_MAX), ("abs", INT64_MIN), ("abs", -1)])),
)
sides = st.sampled_from([SIDE_BUY, SIDE_SELL])
outcomes = st.sampled_from([OUTCOME_YES, OUTCOME_NO])
tifs = st.sampled_from([TIF_GTC, TIF_GTC, TIF_GTC, TIF_IOC, TIF_FOK, TIF_GTD])
stps = st.sampled_from([STP_CANCEL_MAKER, STP_CANCEL_TAKER, STP_CANCEL_BOTH, STP_NONE])
client_ids = st.sampled_from([0, 0, 0, 0, 1, 2, 3, 2**32 - 1])
# GTD expiry relative to the command's ts (<= 0 is refused with 107).
expiries = st.sampled_from([-1, 0, 1, 2, 3, 5, 8, 13, 40])
# Mostly a known id (index modulo the count), sometimes an unknown one.
id_choices = weighted(
    (12, st.integers(0, 30).map(lambda i: ("known", i))),
    (1, st.sampled_from([("next", 0)] + [("wide", v) for v in WIDE_IDS])),
)
amounts = weighted(
    (3, st.integers(1, 50_000)),
    (3, st.sampled_from([1_000, 10_000, 100_000, 1_000_000])),
    (1, st.sampled_from([0, -1, -1_000, MAX_TOTAL_CASH, MAX_TOTAL_CASH - 1])),
    (1, st.sampled_from([INT64_MAX, INT64_MIN])),
    (1, st.integers(1, 2**62)),
)
small_qty = st.integers(1, 12)
quantities = weighted(
    (8, small_qty),
    (1, st.just("held")),
    (1, st.sampled_from([0, -1, MAX_QTY, MAX_QTY + 1, 2**32 + 3])),
    (1, st.sampled_from([INT64_MAX, INT64_MIN])),
)
# Price as a level offset from the middle of the grid, or a deliberately bad one.
prices = weighted(
    (4, st.integers(-4, 4).map(lambda k: ("mid", k))),
    (1, st.integers(0, 10**6).map(lambda k: ("any", k))),
    (1, st.sampled_from(
        [("bad", k) for k in ("zero", "payout", "neg", "above", "half", "huge")]
    )),
)  # fmt: skip
market_configs = st.tuples(
    st.sampled_from(GRIDS),
    st.sampled_from([0, 0, 0, 100, 700, 10_000]),  # taker fee, bps
    st.sampled_from([0, 0, 0, 50, -25, -10_000, 10_000]),  # maker fee, bps
    st.sampled_from([FEE_BPS, FEE_CURVE]),
    st.sampled_from([1, 1, 1, 3]),  # min_qty
    st.booleans(),  # cancel_on_halt
)
BAD_TYPES = [1.0, True, False, "1", None, Decimal(1), b"1", 3.5]
BAD_INTS = [2**63, INT64_MIN - 1, 2**64, 2**100]
# (argument position in place(): side, outcome, tif, stp; out-of-range value)
BAD_ENUMS = [(pos, v) for pos in (2, 3) for v in (-1, 2, 3, 5, 255, 256, INT64_MIN)]
BAD_ENUMS += [(pos, v) for pos in (6, 7) for v in (-1, 4, 9, 255, 2**31)]
BAD_GRIDS = [
    (1000, 0), (1000, -50), (1000, 30), (50, 50), (0, 50), (-100, 50),
    (2_000_000, 1000), (1_000_000, 1), (10, 20),
]  # fmt: skip
# create_market keyword values that must raise ValueError (or TypeError: flags)
BAD_MARKET_KW = [
    {"taker_fee": -1}, {"taker_fee": 10_001}, {"maker_fee": -10_001},
    {"maker_fee": 10_001}, {"fee_mode": 2}, {"fee_mode": -1}, {"min_qty": 0},
    {"min_qty": MAX_QTY + 1}, {"cancel_on_halt": None}, {"cancel_on_halt": "yes"},
    {"cancel_on_halt": 1}, {"cancel_on_halt": 0},
]  # fmt: skip
# place() keyword combinations that break the tif/post_only/client_id/expiry rules
BAD_PLACE_KW = [
    {"tif": TIF_GTD},  # GTD without expire_ts
    {"tif": TIF_GTC, "expire_ts": 10**6},
    {"tif": TIF_IOC, "expire_ts": 10**6},
    {"tif": TIF_IOC, "post_only": True},
    {"tif": TIF_FOK, "post_only": True},
    {"post_only": 1},
    {"post_only": None},
    {"client_id": -1},
    {"client_id": 2**32},
]
# place_market() keyword combinations that must raise
BAD_MARKET_ORDER_KW = [
    {"side": SIDE_SELL, "max_cost": 100},
    {"max_cost": -1},
    {"fok": 1},
    {"fok": None},
    {"client_id": 2**32},
    {"stp": 4},
    {"side": 2},
]


def gtd_expiry(ts: int, delta: int) -> int:
    """``ts + delta`` kept inside int64 and away from 0 (0 means "no expiry")."""
    expire_ts = min(max(ts + delta, INT64_MIN), INT64_MAX)
    return expire_ts or -1


def _exc_kind(exc: BaseException | None) -> str | None:
    """Exception classes that count as the same outcome for two implementations."""
    if exc is None:
        return None
    if isinstance(exc, TypeError):
        return "TypeError"
    # Either is allowed for an out-of-range enum (docs/semantics.md).
    if isinstance(exc, (ValueError, OverflowError)):
        return "ValueError/OverflowError"
    if isinstance(exc, KeyError):
        return "KeyError"
    return type(exc).__name__


def _norm(value):
    """Lists and tuples compare alike; every leaf must be a plain int (or a bool
    flag) or None."""
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    assert value is None or type(value) in (int, bool), (type(value), value)
    return value


def _same(impl_out, ref_out) -> bool:
    """Equal results: directly (the common case, fast) or once normalised."""
    if impl_out == ref_out and type(impl_out) is type(ref_out):
        return True
    return _norm(impl_out) == _norm(ref_out)


def _plain_ints(events) -> bool:
    return set(map(type, itertools.chain.from_iterable(events))) <= {int}


class Lockstep(RuleBasedStateMachine):
    """One engine under test and the oracle, fed the same commands."""

    impl_cls: type = Core
    ref_cls: type = ReferenceEngine

    def __init__(self) -> None:
        super().__init__()
        self.impl = self.ref = None
        self.grids: list[tuple[int, int]] = []  # (payout, tick) by market id
        self.n_users = 0
        self.oids: list[int] = []  # every order id issued so far
        self.clock = 0

    # -- plumbing ----------------------------------------------------------------

    def both(self, name: str, *args, raises=False, **kwargs):
        """Run ``name(*args, **kwargs)`` on both engines; require the same result
        (or exception kind) and the same events.  ``raises``: True = must raise,
        None = may raise, False = must not."""
        results = []
        for engine in (self.ref, self.impl):
            try:
                results.append((getattr(engine, name)(*args, **kwargs), None))
            except Exception as exc:  # compared below
                results.append((None, exc))
        (ref_out, ref_exc), (impl_out, impl_exc) = results
        call = f"{name}{args!r}{kwargs or ''}"
        assert _exc_kind(impl_exc) == _exc_kind(ref_exc), (
            f"{call}: core raised {impl_exc!r}, reference raised {ref_exc!r}"
        )
        if raises:
            assert ref_exc is not None, f"{call} should raise, returned {ref_out!r}"
        elif raises is False and ref_exc is not None:
            raise AssertionError(f"{call} raised in both: {ref_exc!r}")
        assert _same(impl_out, ref_out), (
            f"{call}: core returned {impl_out!r}, reference {ref_out!r}"
        )
        impl_ev = self.impl.last_events()
        ref_ev = self.ref.last_events()
        assert _same(impl_ev, ref_ev) and _plain_ints(impl_ev), (
            f"{call}: events differ\n core:      {impl_ev}\n reference: {ref_ev}"
        )
        return ref_out

    def ts(self, choice: tuple) -> int:
        how, value = choice
        if how == "abs":
            return value
        self.clock = max(self.clock + value, 0)
        return self.clock

    def pick_id(self, choice: tuple, count: int) -> int:
        how, value = choice
        if how == "known" and count:
            return value % count
        if how in ("known", "next"):
            return count  # the next id: not created yet
        return value

    def grid(self, mid: int) -> tuple[int, int]:
        return self.grids[mid] if 0 <= mid < len(self.grids) else GRIDS[0]

    def pick_price(self, choice: tuple, mid: int) -> int:
        payout, tick = self.grid(mid)
        levels = payout // tick - 1
        how, k = choice
        if how == "mid":
            level = min(max(levels // 2 + 1 + k, 1), levels)
            return level * tick
        if how == "any":
            return (1 + k % levels) * tick
        return {
            "zero": 0,
            "payout": payout,
            "neg": -tick,
            "above": payout + tick,
            "half": tick + tick // 2 if tick > 1 else payout + 1,
            "huge": 2**62,
        }[k]

    def near_touch(self, mid, side, outcome, ticks) -> int:
        """An own-outcome price ``ticks`` through the opposite best (or the middle
        of an empty book): mostly crossing."""
        payout, tick = self.grids[mid]
        bid, _, ask, _ = self.ref.top(mid)
        if (side == SIDE_BUY) == (outcome == OUTCOME_YES):  # a bid on the YES book
            yes = (ask or payout // 2) + ticks * tick
        else:
            yes = (bid or payout // 2) - ticks * tick
        yes = min(max(yes - yes % tick, tick), payout - tick)
        return yes if outcome == OUTCOME_YES else payout - yes

    def maybe_numpy(self, args: tuple, flag: int) -> tuple:
        """Pass the integers as numpy integers now and then (accepted via __index__)."""
        if np is None or flag != 0:
            return args
        return tuple(np.int64(a) if type(a) is int else a for a in args)

    def open_market(self, k: int) -> int:
        """Market ``k`` (mod the count), or the next one that is open."""
        n = len(self.grids)
        mids = [(k + i) % n for i in range(n)]
        open_ = [m for m in mids if self.ref.market(m)[2] == 0]
        return open_[0] if open_ else mids[0]

    def held(self, uid: int, mid: int, outcome: int) -> int:
        if 0 <= uid < self.n_users and 0 <= mid < len(self.grids):
            return self.ref.position(uid, mid)[2 * outcome]
        return 0

    def live_orders(self) -> list[tuple]:
        return [o for u in range(self.n_users) for o in self.ref.user_orders(u)]

    def submit(self, args: tuple, kwargs: dict, numpy_flag: int = 1) -> None:
        uid, mid, side, outcome, price, qty = args[:6]
        if qty == "held":  # everything the user holds of that outcome
            args = (*args[:5], self.held(uid, mid, outcome) or 1, *args[6:])
        oid = self.both("place", *self.maybe_numpy(args, numpy_flag), **kwargs)
        if oid > 0:
            self.oids.append(oid)

    # -- setup -------------------------------------------------------------------

    @initialize(
        limits=st.sampled_from(LIMITS),
        config=market_configs,
        n_users=st.integers(2, MAX_USERS),
        cash=st.lists(
            st.sampled_from([100_000, 1_000_000, 20_000, 3_000, 0, 10**9]),
            min_size=MAX_USERS,
            max_size=MAX_USERS,
        ),
    )
    def setup(self, limits, config, n_users, cash):
        max_qty, max_open, max_balance, max_levels = limits
        kwargs = {
            "max_qty": max_qty,
            "max_open_orders": max_open,
            "max_balance": max_balance,
            "max_levels": max_levels,
        }
        self.ref = self.ref_cls(**kwargs)
        self.impl = self.impl_cls(**kwargs)
        self.query("limits")
        if self.grids_allowed(config[0]):
            self.add_market(config, ("rel", 0))
        else:
            self.add_market((GRIDS[0], *config[1:]), ("rel", 0))
        for _ in range(n_users):
            self.add_user(0)
        for uid in range(n_users):
            if cash[uid]:
                self.both("deposit", uid, cash[uid], 0, raises=None)

    def grids_allowed(self, grid) -> bool:
        return grid[0] // grid[1] - 1 <= self.ref.limits()[3]

    # -- accounts and markets ----------------------------------------------------

    @precondition(lambda self: len(self.grids) < MAX_MARKETS)
    @rule(config=market_configs, ts=timestamps)
    def add_market(self, config, ts):
        (payout, tick), taker, maker, mode, min_qty, coh = config
        min_qty = min(min_qty, self.ref.limits()[0])
        mid = self.both("create_market", payout, tick, self.ts(ts), taker, maker, mode,
                        min_qty, coh, raises=None)  # fmt: skip
        if mid is not None:
            assert mid == len(self.grids)
            self.grids.append((payout, tick))

    @precondition(lambda self: self.n_users < MAX_USERS)
    @rule(cash=st.sampled_from([100_000, 0, 5_000]))
    def add_user(self, cash=0):
        uid = self.both("create_user")
        assert uid == self.n_users
        self.n_users += 1
        if cash:
            self.both("deposit", uid, cash, self.clock)

    @rule(
        command=st.sampled_from(["deposit", "withdraw"]),
        user=id_choices,
        amount=weighted((4, amounts), (1, st.sampled_from(["all", "all+1"]))),
        ts=timestamps,
    )
    def cash(self, command, user, amount, ts):
        uid = self.pick_id(user, self.n_users)
        if isinstance(amount, str):  # all the user's available cash (or 1 more)
            avail = self.ref.balance(uid)[0] if 0 <= uid < self.n_users else 1
            amount = avail + (amount == "all+1")
        self.both(command, uid, amount, self.ts(ts))

    # -- orders ------------------------------------------------------------------

    @rule(
        user=id_choices,
        market=id_choices,
        side=sides,
        outcome=outcomes,
        price=prices,
        qty=quantities,
        tif=tifs,
        stp=stps,
        ts=timestamps,
        post_only=st.booleans(),
        client_id=client_ids,
        expiry=expiries,
        numpy_flag=st.integers(0, 15),
    )
    def place(self, user, market, side, outcome, price, qty, tif, stp, ts,
              post_only, client_id, expiry, numpy_flag):  # fmt: skip
        """Any order, bad ones included."""
        uid = self.pick_id(user, self.n_users)
        mid = self.pick_id(market, len(self.grids))
        ts = self.ts(ts)
        args = (uid, mid, side, outcome, self.pick_price(price, mid), qty, tif, stp, ts)
        kwargs = {
            "post_only": post_only and tif in (TIF_GTC, TIF_GTD),
            "client_id": client_id,
            "expire_ts": gtd_expiry(ts, expiry) if tif == TIF_GTD else 0,
        }
        self.submit(args, kwargs, numpy_flag)

    TRADE = {
        "user": st.integers(0, MAX_USERS - 1),
        "market": st.integers(0, MAX_MARKETS - 1),
        "side": sides,
        "outcome": outcomes,
        "ticks": st.integers(-1, 3),
        "qty": weighted((5, small_qty), (1, st.just("held"))),
        "tif": tifs,
        "stp": stps,
        "ts": timestamps,
        "post_only": st.sampled_from([False, False, False, True]),
        "client_id": client_ids,
        "expiry": expiries,
        "against_other": st.sampled_from([True, True, False]),
        "toward_liquidity": st.sampled_from([True, True, False]),
    }

    @rule(**TRADE)
    def place_near_touch(self, user, market, side, outcome, ticks, qty, tif, stp, ts,
                         post_only, client_id, expiry, against_other,
                         toward_liquidity):  # fmt: skip
        """A valid order priced ``ticks`` through the opposite best (so it mostly
        crosses); sells are mostly of shares the user holds, buys mostly what the
        user can pay for."""
        mid = self.open_market(market)
        bid, _, ask, _ = self.ref.top(mid)
        is_bid = (side == SIDE_BUY) == (outcome == OUTCOME_YES)
        if toward_liquidity and (ask if is_bid else bid) == 0 and (bid or ask):
            # Only the own side has orders: take the other outcome, so that the
            # order lands on the side that can trade (same action).
            outcome, is_bid = 1 - outcome, not is_bid
        # The drawn user, or the next one who holds shares / can pay; mostly not
        # the owner of the opposite best order (self-trades still happen often).
        users = [(user + i) % self.n_users for i in range(self.n_users)]
        if against_other:
            opposite = BOOK_ASK if is_bid else BOOK_BID
            heads = [o[1] for o in self.ref.book_orders(mid) if o[7] == opposite]
            if heads:  # best first
                users = [u for u in users if u != heads[0]] + [heads[0]]
        uid = users[0]
        if side == SIDE_SELL and qty != "held":
            holders = [u for u in users if self.held(u, mid, outcome)]
            if holders:
                uid = holders[0]
                qty = min(qty, self.held(uid, mid, outcome))
            else:  # nothing to sell: buy the other outcome (same book side)
                side, outcome = SIDE_BUY, 1 - outcome
        if qty != "held" and ticks != 3:  # mostly at least the market's min_qty
            qty = max(qty, self.ref.market_config(mid)[5])
        price = self.near_touch(mid, side, outcome, ticks)
        if side == SIDE_BUY and qty != "held":
            payers = [u for u in users if self.ref.balance(u)[0] >= 2 * price]
            uid = payers[0] if payers else uid
            qty = min(qty, self.ref.balance(uid)[0] // (2 * price)) or qty
        ts = self.ts(ts)
        kwargs = {
            "post_only": post_only and tif in (TIF_GTC, TIF_GTD),
            "client_id": client_id,
            "expire_ts": gtd_expiry(ts, expiry) if tif == TIF_GTD else 0,
        }
        self.submit((uid, mid, side, outcome, price, qty, tif, stp, ts), kwargs)

    @rule(**TRADE)
    def place_near_touch_again(self, **kwargs):
        """The same as ``place_near_touch``: rules are drawn evenly, and trading
        should be most of what the machine does."""
        self.place_near_touch(**kwargs)

    @rule(**TRADE)
    def place_near_touch_once_more(self, **kwargs):
        self.place_near_touch(**kwargs)

    @rule(
        user=st.integers(0, MAX_USERS - 1),
        market=id_choices,
        side=sides,
        outcome=outcomes,
        qty=weighted((6, small_qty), (1, st.just("held")), (1, quantities)),
        max_cost=st.sampled_from([0, 0, 0, 1, 100, 999, 2_500, 10_000, 10**7]),
        fok=st.booleans(),
        stp=stps,
        ts=timestamps,
        client_id=client_ids,
    )
    def place_market(self, user, market, side, outcome, qty, max_cost, fok, stp, ts,
                     client_id):  # fmt: skip
        uid = user % self.n_users
        how, k = market
        mid = self.open_market(k) if how == "known" else self.pick_id(market, 0)
        if side == SIDE_SELL and 0 <= mid < len(self.grids):
            holders = [u for u in range(self.n_users) if self.held(u, mid, outcome)]
            uid = holders[user % len(holders)] if holders else uid
        if qty == "held":
            qty = self.held(uid, mid, outcome) or 1
        if side == SIDE_SELL:
            max_cost = 0
        oid = self.both("place_market", uid, mid, side, outcome, qty, max_cost, fok,
                        stp, self.ts(ts), client_id)  # fmt: skip
        if oid > 0:
            self.oids.append(oid)

    def pick_order(self, which: tuple) -> int:
        """A live order id (mostly), a dead one, or one never issued."""
        how, value = which
        live = [o[1] for o in self.live_orders()]
        if how == "live" and live:
            return live[value % len(live)]
        if how in ("live", "issued") and self.oids:
            return self.oids[-1 - value % len(self.oids)]  # recent ids more often
        if how == "raw":
            return value
        return (self.oids[-1] if self.oids else 0) + 1

    order_choices = weighted(
        (6, st.integers(0, 50).map(lambda i: ("live", i))),
        (2, st.integers(0, 50).map(lambda i: ("issued", i))),
        (1, st.sampled_from([("raw", v) for v in [0, -1, 2**32 + 1, INT64_MAX]])),
        (1, st.just(("next", 0))),
    )
    owners = st.sampled_from(["owner", "owner", "owner", "any"])

    def pick_owner(self, oid: int, owner: str, user: tuple) -> int:
        live = self.ref.order(oid)
        if owner == "owner" and live is not None:
            return live[2]
        return self.pick_id(user, self.n_users)

    @rule(
        which=order_choices,
        owner=owners,
        user=id_choices,
        ts=timestamps,
        everything=st.sampled_from([False] * 5 + [True]),
        market=weighted((2, st.just(-1)), (3, id_choices)),
    )
    def cancel(self, which, owner, user, ts, everything, market):
        """cancel(), or now and then cancel_all() of a user (in one market)."""
        if everything:
            self.cancel_all(user, market, ts)
            return
        oid = self.pick_order(which)
        uid = self.pick_owner(oid, owner, user)
        self.both("cancel", uid, oid, self.ts(ts))

    @rule(
        k=st.integers(0, 50),
        live=st.sampled_from([True, True, True, False]),
        user=id_choices,
        client_id=weighted(
            (4, client_ids), (1, st.sampled_from([-1, 2**32, 2**63 - 1]))
        ),
        ts=timestamps,
    )
    def cancel_client(self, k, live, user, client_id, ts):
        """cancel_client(): mostly a live order's (owner, client id); else any
        pair, a client id no order has, or one out of range (misuse: raises)."""
        named = [(o[2], o[10]) for o in self.live_orders() if o[10]]
        if live and named:
            uid, client_id = named[k % len(named)]
        else:
            uid = self.pick_id(user, self.n_users)
        self.both("cancel_client", uid, client_id, self.ts(ts), raises=None)

    @rule(
        which=order_choices,
        owner=owners,
        user=id_choices,
        how=st.sampled_from(["smaller", "same", "more", "price", "cross", "bad"]),
        ticks=st.integers(-2, 3),
        qty=quantities,
        ts=timestamps,
    )
    def amend(self, which, owner, user, how, ticks, qty, ts):
        oid = self.pick_order(which)
        uid = self.pick_owner(oid, owner, user)
        o = self.ref.order(oid)
        if o is None:
            price, new_qty = self.grid(0)[1], 1
        else:
            mid, _, _, side, outcome, price, left = o[:7]
            tick = self.grids[mid][1]
            new_qty = {"smaller": max(left - 1, 1), "same": left, "more": left + 2}.get(
                how, left
            )
            if how == "price":
                price = min(max(price + ticks * tick, tick), self.grids[mid][0] - tick)
            elif how == "cross":
                price = self.near_touch(mid, side, outcome, ticks)
            elif how == "bad":
                price = price + tick // 2 if tick > 1 else 0
                new_qty = qty if isinstance(qty, int) else 0
        self.both("amend", uid, oid, price, new_qty, self.ts(ts))

    def cancel_all(self, user, market, ts):
        uid = self.pick_id(user, self.n_users)
        mid = market if market == -1 else self.pick_id(market, len(self.grids))
        self.both("cancel_all", uid, mid, self.ts(ts))

    @rule(
        command=st.sampled_from(["mint", "mint", "merge"]),
        user=id_choices,
        market=id_choices,
        qty=weighted((4, small_qty), (1, st.just("held")), (1, quantities)),
        ts=timestamps,
    )
    def mint_or_merge(self, command, user, market, qty, ts):
        uid = self.pick_id(user, self.n_users)
        mid = self.pick_id(market, len(self.grids))
        if qty == "held":
            qty = min(self.held(uid, mid, OUTCOME_YES), self.held(uid, mid, OUTCOME_NO))
            qty = qty or 1
        elif command == "mint" and 0 <= uid < self.n_users and isinstance(qty, int):
            afford = self.ref.balance(uid)[0] // self.grid(mid)[0]
            qty = min(qty, afford) or qty  # mostly what the user can pay for
        self.both(command, uid, mid, qty, self.ts(ts))

    # -- market lifecycle and time -------------------------------------------------

    @rule(
        command=st.sampled_from(
            ["expire"] * 6 + ["resume"] * 3 + ["halt"] * 2 + ["close", "resolve"]
        ),
        market=id_choices,
        value=st.sampled_from(["yes", "no", "void", "any", -1, "above"]),
        k=st.integers(0, 10**6),
        ts=timestamps,
    )
    def lifecycle(self, command, market, value, k, ts):
        mid = self.pick_id(market, len(self.grids))
        ts = self.ts(ts)
        if command == "expire":  # time passes: GTD orders due expire
            self.both("expire", ts)
            return
        if command == "resume":  # mostly a market that is halted
            halted = [m for m in range(len(self.grids)) if self.ref.market(m)[2] == 1]
            mid = halted[k % len(halted)] if halted and k % 4 else mid
        if command != "resolve":
            self.both(command, mid, ts)
            return
        payout = self.grid(mid)[0]
        yes_value = {
            "yes": payout,
            "no": 0,
            "void": payout // 2,
            "any": k % (payout + 1),
            "above": payout + 1,
        }.get(value, value)
        self.both("resolve", mid, yes_value, ts)

    # -- misuse ------------------------------------------------------------------

    @rule(
        kind=st.sampled_from(["type", "type", "enum", "grid", "market", "place_kw",
                              "market_order"]),
        command=st.sampled_from(
            ["place", "deposit", "withdraw", "cancel", "market", "amend",
             "cancel_all", "mint", "merge", "halt", "resolve", "expire",
             "place_market"]
        ),
        position=st.integers(0, 9),
        bad_value=st.sampled_from(BAD_TYPES + BAD_INTS),
        bad_enum=st.sampled_from(BAD_ENUMS),
        bad_grid=st.sampled_from(BAD_GRIDS),
        bad_market=st.sampled_from(BAD_MARKET_KW),
        bad_place=st.sampled_from(BAD_PLACE_KW),
        bad_market_order=st.sampled_from(BAD_MARKET_ORDER_KW),
        user=id_choices,
    )  # fmt: skip
    def misuse(self, kind, command, position, bad_value, bad_enum, bad_grid,
               bad_market, bad_place, bad_market_order, user):  # fmt: skip
        """A call that must raise in both, changing nothing (not even events)."""
        uid = self.pick_id(user, self.n_users)
        tick = self.grids[0][1]
        if kind == "grid":
            self.both("create_market", *bad_grid, 0, raises=True)
            return
        if kind == "market":
            self.both("create_market", 1000, 50, 0, raises=True, **bad_market)
            return
        if kind == "place_kw":
            kwargs = {"tif": TIF_GTC, "post_only": False, "client_id": 0,
                      "expire_ts": 0, **bad_place}  # fmt: skip
            self.both("place", uid, 0, SIDE_BUY, OUTCOME_YES, tick, 1, raises=True,
                      **kwargs)  # fmt: skip
            return
        if kind == "market_order":
            kwargs = {"side": SIDE_BUY, **bad_market_order}
            side = kwargs.pop("side")
            self.both("place_market", uid, 0, side, OUTCOME_YES, 1, raises=True,
                      **kwargs)  # fmt: skip
            return
        if kind == "enum":
            command, (position, bad_value) = "place", bad_enum
        oid = self.oids[-1] if self.oids else 1
        valid = {
            "place": [uid, 0, SIDE_SELL, OUTCOME_NO, tick, 1, 0, 0, 0],
            "deposit": [uid, 100, 0],
            "withdraw": [uid, 1, 0],
            "cancel": [uid, oid, 0],
            "market": [1000, 50, 0],
            "amend": [uid, oid, tick, 1, 0],
            "cancel_all": [uid, -1, 0],
            "mint": [uid, 0, 1, 0],
            "merge": [uid, 0, 1, 0],
            "halt": [0, 0],
            "resolve": [0, 0, 0],
            "expire": [0],
            "place_market": [uid, 0, SIDE_BUY, OUTCOME_YES, 1, 0, False, 0, 0, 0],
        }[command]
        if command == "place_market" and position % len(valid) == 6:
            bad_value = 1  # fok: True/False are its valid values, 1 is not
        valid[position % len(valid)] = bad_value
        name = "create_market" if command == "market" else command
        self.both(name, *valid, raises=True)

    # -- comparison --------------------------------------------------------------

    def query(self, name: str, *args):
        impl_out = getattr(self.impl, name)(*args)
        ref_out = getattr(self.ref, name)(*args)
        assert _same(impl_out, ref_out), (
            f"{name}{args!r}: core {impl_out!r} != reference {ref_out!r}"
        )

    @invariant()
    def same_state(self):
        if self.ref is None:
            return
        self.query("totals")
        self.query("fees")
        for uid in range(self.n_users):
            self.query("balance", uid)
            self.query("user_orders", uid)
            for cid in (1, 2, 3):
                self.query("order_by_client_id", uid, cid)
            for mid in range(len(self.grids)):
                self.query("position", uid, mid)
        for mid in range(len(self.grids)):
            self.query("top", mid)
            self.query("depth", mid, 1_000_000)
            self.query("depth", mid, 2)
            self.query("book_orders", mid)
            self.query("market", mid)
            self.query("market_config", mid)
            self.query("last_price", mid)
        for oid in self.oids[-3:]:
            self.query("order", oid)
        self.query("order", (self.oids[-1] if self.oids else 0) + 1)
        self.impl.check_invariants()
        self.ref.check_invariants()


Lockstep.TestCase.settings = settings(
    max_examples=int(os.environ.get("PROBO_HYPOTHESIS_EXAMPLES", "300")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# slow: the longest test at 300 examples; run it (`pytest tests/property`) when the
# core or the oracle changes.  The plain `pytest` run and CI include it.
TestCoreMatchesReference = pytest.mark.slow(Lockstep.TestCase)
