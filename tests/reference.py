"""A slow, obviously correct pure-Python model of the matching core.

``ReferenceEngine`` implements ``docs/semantics.md`` with the same method names,
signatures, argument validation, return values and events as the Cython core
(``probo_engine._book.Core``).  The property tests drive both in lockstep and
require identical results, so this file favours plain code over speed: price
levels live in ``SortedDict``s of FIFO lists, balances in dicts and lists, and
every query recomputes its answer from the orders.

It is a test oracle, not shipped with the package.

Choices where ``docs/semantics.md`` is silent (collected here so that the core
and the oracle can be held to them):

* Argument checks run in passes, all before anything changes: every argument,
  left to right, must be an integer (``TypeError``) that fits in int64
  (``OverflowError``), and the flag arguments (``post_only``, ``fok``,
  ``cancel_on_halt``) must be ``bool`` (``TypeError``); then enum ranges and
  the other argument rules raise ``ValueError``.  A call that raises changes
  nothing, not even ``last_events()``.
* ``create_user()`` is a command without ``ts``: it clears ``last_events()``,
  emits nothing and expires nothing.
* A rejected market order reports as its price the worst price of the grid it
  would have used (0 when the market is unknown).
* Queries about an unknown user raise ``UnknownUserError``, about an unknown
  market ``UnknownMarketError`` (both ``KeyError``s).  ``order_by_client_id``
  returns None for an unknown user or client id 0.  ``depth(mid, n)`` with
  ``n <= 0`` is empty.
* An amend that changes nothing (same price, same quantity) is accepted: it emits
  ``AMENDED`` (priority kept) and no ``LEVEL``.
* ``cancel_all(uid, mid)`` with any ``mid < 0`` means every market (the spec: "in
  one market if ``mid >= 0``"); its ``REJECTED`` event carries ``mid`` as given.
* A rejected ``amend`` or ``cancel`` reports market 0 (the command names none).
* The ``LEVEL`` events of a command list each changed level once, in the order
  it was first changed; GTD expiry at the start of a command is a separate step
  with its own ``CANCELED`` and ``LEVEL`` events.
"""

from __future__ import annotations

import operator

from sortedcontainers import SortedDict

try:  # the package may not be built yet while the tests are being developed
    from probo_engine.errors import InvariantError, UnknownMarketError, UnknownUserError
except ImportError:  # pragma: no cover - fallback only used without the package

    class InvariantError(RuntimeError):  # type: ignore[no-redef]
        """An internal invariant of the book or the ledger is broken."""

    class UnknownMarketError(KeyError):  # type: ignore[no-redef]
        """A market id that does not exist."""

    class UnknownUserError(KeyError):  # type: ignore[no-redef]
        """A user id that does not exist."""


# --- enumerations (same values as the C enums and the Python IntEnums) --------

SIDE_BUY = 0
SIDE_SELL = 1

OUTCOME_YES = 0
OUTCOME_NO = 1

BOOK_BID = 0
BOOK_ASK = 1

TIF_GTC = 0
TIF_IOC = 1
TIF_FOK = 2
TIF_GTD = 3

STP_CANCEL_MAKER = 0
STP_CANCEL_TAKER = 1
STP_CANCEL_BOTH = 2
STP_NONE = 3

FILL_TRANSFER = 0
FILL_MINT = 1
FILL_MERGE = 2

CANCEL_USER = 1
CANCEL_IOC = 2
CANCEL_SELF_TRADE = 3
CANCEL_EXPIRED = 4
CANCEL_HALTED = 5
CANCEL_CLOSED = 6
CANCEL_RESOLVED = 7

MARKET_OPEN = 0
MARKET_HALTED = 1
MARKET_CLOSED = 2
MARKET_RESOLVED = 3

FEE_BPS = 0
FEE_CURVE = 1

EV_ACCEPTED = 1
EV_REJECTED = 2
EV_FILL = 3
EV_CANCELED = 4
EV_LEVEL = 5
EV_MARKET = 6
EV_CASH = 7
EV_AMENDED = 8
EV_PAIR = 9
EV_SETTLEMENT = 10

CMD_PLACE = 1
CMD_CANCEL = 2
CMD_DEPOSIT = 3
CMD_WITHDRAW = 4
CMD_AMEND = 5
CMD_CANCEL_ALL = 6
CMD_MINT = 7
CMD_MERGE = 8
CMD_HALT = 9
CMD_RESUME = 10
CMD_CLOSE = 11
CMD_RESOLVE = 12
CMD_PLACE_MARKET = 13
CMD_EXPIRE = 14
CMD_CANCEL_CLIENT = 15

REJ_OK = 0
REJ_UNKNOWN_USER = 101
REJ_UNKNOWN_MARKET = 102
REJ_PRICE_OFF_GRID = 103
REJ_INVALID_QTY = 104
REJ_INVALID_AMOUNT = 105
REJ_DUPLICATE_CLIENT_ID = 106
REJ_INVALID_EXPIRY = 107
REJ_BELOW_MIN_QTY = 108
REJ_STALE_TIME = 109
REJ_INSUFFICIENT_FUNDS = 201
REJ_INSUFFICIENT_SHARES = 202
REJ_CASH_LIMIT = 203
REJ_TOO_MANY_ORDERS = 204
REJ_FOK_NOT_FILLABLE = 301
REJ_UNKNOWN_ORDER = 302
REJ_POST_ONLY_WOULD_CROSS = 303
REJ_MARKET_NOT_OPEN = 401
REJ_INVALID_TRANSITION = 402
REJ_INVALID_SETTLEMENT = 403

# --- limits --------------------------------------------------------------------

MAX_QTY = 10**9
MAX_TOTAL_CASH = 2**62
MAX_PAYOUT = 1_000_000
MAX_LEVELS = 100_000
MAX_CLIENT_ID = 2**32 - 1
MAX_FEE = 10_000  # basis points
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

DEFAULT_PAYOUT = 1000
DEFAULT_TICK = 50

# Width in bits of the event fields a REJECTED event echoes from the request
# and that are narrower than 64 bits (semantics.md "Events").
REJECT_FIELD_BITS = {"market": 32, "user": 32, "price": 32, "side": 16, "outcome": 16}

# Names of the 17 event fields, in order.
EVENT_FIELDS = (
    "seq", "kind", "ts", "market", "user", "oid", "side", "outcome", "price",
    "qty", "code", "user2", "oid2", "price2", "aux", "fee", "fee2",
)  # fmt: skip


# --- argument checks -----------------------------------------------------------


def _int(value: object, name: str) -> int:
    """Return ``value`` as an int, or raise like the core does for misuse."""
    # bool is an int subclass and has __index__, but it is never a valid integer.
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(
            f"{name} must be an integer, not {type(value).__name__}: {value!r}"
        )
    i = operator.index(value)
    if not INT64_MIN <= i <= INT64_MAX:
        raise OverflowError(f"{name} {i} does not fit in int64")
    return i


def _bool(value: object, name: str) -> bool:
    if type(value) is not bool:
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _in_range(value: int, name: str, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"{name} {value} outside {lo}..{hi}")


def _book_side(side: int, outcome: int) -> int:
    # buy YES and sell NO are bids on the YES book; sell YES and buy NO are asks.
    return BOOK_BID if (side == SIDE_BUY) == (outcome == OUTCOME_YES) else BOOK_ASK


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --- state records -------------------------------------------------------------


class _Order:
    __slots__ = (
        "oid", "uid", "mid", "side", "outcome", "price", "qty", "yprice", "bside",
        "tif", "stp", "post_only", "client_id", "expire_ts", "fee_unit", "market",
        "arrival",
    )  # fmt: skip

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields.pop(name, 0))
        assert not fields, fields
        # price: own-outcome limit; yprice: the same in YES terms; qty: still open;
        # fee_unit: the fee reserve per share of a buy (0 for sells); arrival: the
        # time priority inside its level (set when it joins the level).

    def book_tuple(self) -> tuple:
        return (
            self.oid, self.uid, self.side, self.outcome, self.price, self.qty,
            self.yprice, self.bside,
        )  # fmt: skip

    def user_tuple(self) -> tuple:
        return (
            self.mid, *self.book_tuple(), self.tif, self.client_id, self.expire_ts
        )  # fmt: skip

    def lock_per_share(self) -> int:
        """Cash a resting buy holds locked per open share."""
        return self.price + self.fee_unit


class _Level:
    __slots__ = ("orders", "total")

    def __init__(self):
        self.orders: list[_Order] = []  # FIFO: oldest first
        self.total = 0  # sum of the orders' open quantity


class _Market:
    __slots__ = (
        "payout", "tick", "taker_fee", "maker_fee", "fee_mode", "min_qty",
        "cancel_on_halt", "status", "outstanding", "last_price", "yes_value", "books",
    )  # fmt: skip

    def __init__(self, payout, tick, taker_fee, maker_fee, fee_mode, min_qty, coh):
        self.payout = payout
        self.tick = tick
        self.taker_fee = taker_fee  # basis points, >= 0
        self.maker_fee = maker_fee  # basis points, < 0 is a rebate
        self.fee_mode = fee_mode
        self.min_qty = min_qty
        self.cancel_on_halt = coh
        self.status = MARKET_OPEN
        self.outstanding = 0  # YES+NO pairs in existence
        self.last_price = 0  # YES price of the last fill, 0 = none
        self.yes_value = -1  # set by resolve
        # books[BOOK_BID] and books[BOOK_ASK]: YES price -> _Level
        self.books = (SortedDict(), SortedDict())

    def on_grid(self, price: int) -> bool:
        return price % self.tick == 0 and self.tick <= price <= self.payout - self.tick

    def yes_price(self, outcome: int, price: int) -> int:
        return price if outcome == OUTCOME_YES else self.payout - price

    def prices_best_first(self, bside: int) -> list[int]:
        keys = list(self.books[bside].keys())
        return keys[::-1] if bside == BOOK_BID else keys

    def best(self, bside: int):
        book = self.books[bside]
        if not book:
            return None
        return book.peekitem(-1 if bside == BOOK_BID else 0)[0]

    def orders(self) -> list[_Order]:
        return [
            o
            for bside in (BOOK_BID, BOOK_ASK)
            for level in self.books[bside].values()
            for o in level.orders
        ]

    # -- fees (docs/semantics.md "Fees") ---------------------------------------

    def fee(self, rate: int, q: int, e: int) -> int:
        """A party's fee for ``q`` at own price ``e``; negative = a rebate."""
        if rate == 0:
            return 0
        u = self.payout
        if self.fee_mode == FEE_BPS:
            num, den = abs(rate) * q * e, 10_000
        else:
            num, den = abs(rate) * q * e * (u - e), u * 10_000
        # fees round up, rebates down: rounding never creates money
        return _ceil_div(num, den) if rate > 0 else -(num // den)

    def fee_unit(self, limit: int) -> int:
        """The most fee one share of a buy with own limit ``limit`` can cost."""
        r = max(self.taker_fee, self.maker_fee, 0)
        if r == 0:
            return 0
        u = self.payout
        if self.fee_mode == FEE_BPS:
            return _ceil_div(r * limit, 10_000)
        g = limit * (u - limit) if 2 * limit <= u else (u // 2) * _ceil_div(u, 2)
        return _ceil_div(r * g, u * 10_000)


# --- the engine ----------------------------------------------------------------


class ReferenceEngine:
    """Pure-Python oracle with the API of ``probo_engine._book.Core``.

    See ``docs/semantics.md`` for the rules; every public method mirrors the
    core's method of the same name.
    """

    def __init__(self, max_qty=MAX_QTY, max_open_orders=0, max_balance=0,
                 max_levels=MAX_LEVELS):  # fmt: skip
        max_qty = _int(max_qty, "max_qty")
        max_open_orders = _int(max_open_orders, "max_open_orders")
        max_balance = _int(max_balance, "max_balance")
        max_levels = _int(max_levels, "max_levels")
        _in_range(max_qty, "max_qty", 1, MAX_QTY)
        _in_range(max_open_orders, "max_open_orders", 0, INT64_MAX)
        _in_range(max_balance, "max_balance", 0, INT64_MAX)
        _in_range(max_levels, "max_levels", 1, MAX_LEVELS)
        self._max_qty = max_qty
        self._max_open_orders = max_open_orders  # 0 = no limit
        self._max_balance = max_balance  # 0 = no limit
        self._max_levels = max_levels
        self._cash: list[list[int]] = []  # uid -> [available, locked]
        # (uid, mid) -> [yes_available, yes_locked, no_available, no_locked]
        self._pos: dict[tuple[int, int], list[int]] = {}
        self._markets: list[_Market] = []
        self._live: dict[int, _Order] = {}  # oid -> resting order
        self._next_oid = 1
        self._arrivals = 0  # time-priority counter for orders joining a level
        self._seq = 0
        self._clock = 0  # the highest ts seen; a lower one is refused (109)
        self._net_cash = 0  # deposited minus withdrawn
        self._fees = 0  # the fee account
        self._events: list[tuple] = []

    # -- helpers -----------------------------------------------------------------

    def _emit(self, kind: int, ts: int, **fields: int) -> None:
        self._seq += 1
        values = {"seq": self._seq, "kind": kind, "ts": ts}
        values.update(fields)
        for name in values:
            assert name in EVENT_FIELDS, name
        self._events.append(tuple(int(values.get(n, 0)) for n in EVENT_FIELDS))

    def _reject(self, ts: int, code: int, cmd: int, **fields: int) -> int:
        # Given values are echoed; one too wide for its event field is -1.
        for name, bits in REJECT_FIELD_BITS.items():
            if name in fields and not -(2 ** (bits - 1)) <= fields[name] < 2 ** (
                bits - 1
            ):
                fields[name] = -1
        self._emit(EV_REJECTED, ts, code=code, aux=cmd, **fields)
        return code

    def _begin(self, ts: int) -> int:
        """Start a command: clear the events, then let time pass (GTD expiry).

        Returns the command's time: ``ts``, or the clock when ``ts`` is 0.  A
        ``ts`` before the clock changes nothing here; the command refuses it.
        """
        self._events = []
        if ts == 0:
            ts = self._clock
        if ts >= self._clock:
            self._clock = ts
            self._expire_due(ts)
        return ts

    def _has_user(self, uid: int) -> bool:
        return 0 <= uid < len(self._cash)

    def _has_market(self, mid: int) -> bool:
        return 0 <= mid < len(self._markets)

    def _position(self, uid: int, mid: int) -> list[int]:
        return self._pos.setdefault((uid, mid), [0, 0, 0, 0])

    def _shares_available(self, uid: int, mid: int, outcome: int) -> int:
        return self._pos.get((uid, mid), [0, 0, 0, 0])[2 * outcome]

    def _user_live(self, uid: int) -> list[_Order]:
        return [
            self._live[oid] for oid in sorted(self._live) if self._live[oid].uid == uid
        ]

    def _need_user(self, uid: object) -> int:
        uid = _int(uid, "uid")
        if not self._has_user(uid):
            raise UnknownUserError(f"unknown user {uid}")
        return uid

    def _need_market(self, mid: object) -> int:
        mid = _int(mid, "mid")
        if not self._has_market(mid):
            raise UnknownMarketError(f"unknown market {mid}")
        return mid

    @staticmethod
    def _touch(touched: list, key: tuple) -> None:
        if key not in touched:
            touched.append(key)

    def _level_events(self, touched: list[tuple[int, int, int]], ts: int) -> None:
        """One LEVEL event per (market, book side, YES price), in the given order."""
        for mid, bside, yprice in touched:
            level = self._markets[mid].books[bside].get(yprice)
            total = level.total if level is not None else 0
            count = len(level.orders) if level is not None else 0
            self._emit(EV_LEVEL, ts, market=mid, side=bside, price=yprice, qty=total,
                       aux=count)  # fmt: skip

    def _add_to_book(self, o: _Order, touched: list) -> None:
        book = self._markets[o.mid].books[o.bside]
        if o.yprice not in book:
            book[o.yprice] = _Level()
        self._arrivals += 1
        o.arrival = self._arrivals
        book[o.yprice].orders.append(o)
        book[o.yprice].total += o.qty
        self._live[o.oid] = o
        self._touch(touched, (o.mid, o.bside, o.yprice))

    def _take_from_book(self, o: _Order, qty: int, touched: list) -> None:
        """Take ``qty`` off resting order ``o``; drop it (and its level) at 0."""
        book = self._markets[o.mid].books[o.bside]
        level = book[o.yprice]
        o.qty -= qty
        level.total -= qty
        if o.qty == 0:
            level.orders.remove(o)
            del self._live[o.oid]
            if not level.orders:
                del book[o.yprice]
        self._touch(touched, (o.mid, o.bside, o.yprice))

    def _unlock(self, o: _Order, qty: int) -> None:
        """Give back what ``qty`` open shares of resting order ``o`` hold locked."""
        if o.side == SIDE_BUY:
            amount = qty * o.lock_per_share()
            self._cash[o.uid][0] += amount
            self._cash[o.uid][1] -= amount
        else:
            pos = self._position(o.uid, o.mid)
            pos[2 * o.outcome] += qty
            pos[2 * o.outcome + 1] -= qty

    def _cancel_event(self, o: _Order, qty: int, reason: int, ts: int) -> None:
        self._emit(EV_CANCELED, ts, market=o.mid, user=o.uid, oid=o.oid, side=o.side,
                   outcome=o.outcome, price=o.price, qty=qty, code=reason,
                   price2=o.yprice, aux=o.bside)  # fmt: skip

    def _cancel_resting(self, o: _Order, reason: int, ts: int, touched: list) -> None:
        left = o.qty
        self._unlock(o, left)
        self._take_from_book(o, left, touched)
        self._cancel_event(o, left, reason, ts)

    def _expire_due(self, ts: int) -> int:
        """Cancel every live GTD order with expire_ts <= ts, in (expire_ts, oid)
        order, then emit their LEVEL events."""
        due = sorted(
            (o.expire_ts, o.oid)
            for o in self._live.values()
            if o.tif == TIF_GTD and o.expire_ts <= ts
        )
        touched: list = []
        for _, oid in due:
            self._cancel_resting(self._live[oid], CANCEL_EXPIRED, ts, touched)
        self._level_events(touched, ts)
        return len(due)

    def _cancel_market_orders(self, mid: int, reason: int, ts: int) -> None:
        touched: list = []
        for o in sorted(self._markets[mid].orders(), key=lambda o: o.oid):
            self._cancel_resting(o, reason, ts, touched)
        self._level_events(touched, ts)

    # -- matching ------------------------------------------------------------------

    @staticmethod
    def _crosses(bside: int, yprice: int, best_opp) -> bool:
        if best_opp is None:
            return False
        return best_opp <= yprice if bside == BOOK_BID else best_opp >= yprice

    @staticmethod
    def _own(m: _Market, outcome: int, x: int) -> int:
        """YES price ``x`` in the terms of ``outcome``."""
        return x if outcome == OUTCOME_YES else m.payout - x

    @staticmethod
    def _affordable(m: _Market, q_max: int, e: int, budget: int) -> int:
        """The largest q <= q_max with q*e + taker_fee(q, e) <= budget."""
        lo, hi = 0, q_max
        while lo < hi:  # binary search: cost grows with q
            mid = (lo + hi + 1) // 2
            if mid * e + m.fee(m.taker_fee, mid, e) <= budget:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _fok_available(self, m: _Market, t: _Order, budget) -> int:
        """Quantity the FOK order ``t`` would get now (docs: place, step 5)."""
        opp = 1 - t.bside
        total = 0
        for p in m.prices_best_first(opp):
            if not self._crosses(t.bside, t.yprice, p):
                break
            for o in m.books[opp][p].orders:
                if o.uid == t.uid and t.stp != STP_NONE:
                    if t.stp == STP_CANCEL_MAKER:
                        continue
                    return total
                q = min(t.qty - total, o.qty)
                if budget is not None:
                    e = self._own(m, t.outcome, p)
                    q = self._affordable(m, q, e, budget)
                    if q == 0:
                        return total
                    budget -= q * e + m.fee(m.taker_fee, q, e)
                total += q
                if total >= t.qty:
                    return total
        return total

    def _settle_maker(self, m: _Market, o: _Order, q: int, fee: int) -> None:
        """Ledger of a fill of ``q`` for the resting order ``o`` (at its price)."""
        cash = self._cash[o.uid]
        pos = self._position(o.uid, o.mid)
        e = o.price
        if o.side == SIDE_BUY:
            cash[1] -= q * o.lock_per_share()
            cash[0] += q * o.lock_per_share() - q * e - fee
            pos[2 * o.outcome] += q
        else:
            cash[0] += q * e - fee
            pos[2 * o.outcome + 1] -= q

    def _settle_taker(self, o: _Order, q: int, e: int, fee: int) -> int:
        """Ledger of a fill for the incoming order; returns the cash it spent."""
        cash = self._cash[o.uid]
        pos = self._position(o.uid, o.mid)
        if o.side == SIDE_BUY:
            cash[1] -= q * e + fee  # out of its lump lock
            pos[2 * o.outcome] += q
            return q * e + fee
        cash[0] += q * e - fee
        pos[2 * o.outcome + 1] -= q
        return 0

    def _run_taker(self, t: _Order, lock: int, budget, ts: int, touched: list):
        """Steps 3-4 of place for the incoming order ``t`` (already locked: ``lock``
        cash for a buy, its qty in shares for a sell).  Rests or cancels the rest."""
        m = self._markets[t.mid]
        opp = 1 - t.bside
        stopped = False  # by CANCEL_TAKER / CANCEL_BOTH
        while t.qty > 0:
            best = m.best(opp)
            if not self._crosses(t.bside, t.yprice, best):
                break
            maker = m.books[opp][best].orders[0]
            if maker.uid == t.uid and t.stp != STP_NONE:
                if t.stp == STP_CANCEL_TAKER:
                    stopped = True
                    break
                self._cancel_resting(maker, CANCEL_SELF_TRADE, ts, touched)
                if t.stp == STP_CANCEL_BOTH:
                    stopped = True
                    break
                continue
            x = best
            e = self._own(m, t.outcome, x)
            q = min(t.qty, maker.qty)
            if budget is not None:
                q = self._affordable(m, q, e, budget)
                if q == 0:
                    break
            taker_fee = m.fee(m.taker_fee, q, e)
            self._fees += taker_fee
            maker_fee = m.fee(m.maker_fee, q, maker.price)
            if maker_fee < 0:  # a rebate, paid out of the fee account
                maker_fee = -min(-maker_fee, self._fees)
            self._fees += maker_fee
            spent = self._settle_taker(t, q, e, taker_fee)
            lock -= spent
            if budget is not None:
                budget -= spent
            self._settle_maker(m, maker, q, maker_fee)
            if t.side == SIDE_BUY and maker.side == SIDE_BUY:
                kind = FILL_MINT
                m.outstanding += q
            elif t.side == SIDE_SELL and maker.side == SIDE_SELL:
                kind = FILL_MERGE
                m.outstanding -= q
            else:
                kind = FILL_TRANSFER
            m.last_price = x
            t.qty -= q
            self._take_from_book(maker, q, touched)
            self._emit(EV_FILL, ts, market=t.mid, user=t.uid, oid=t.oid, side=t.side,
                       outcome=t.outcome, price=x, qty=q, code=kind, user2=maker.uid,
                       oid2=maker.oid, price2=e, aux=maker.qty, fee=taker_fee,
                       fee2=maker_fee)  # fmt: skip

        rests = False
        if t.qty > 0:
            if stopped:
                self._cancel_event(t, t.qty, CANCEL_SELF_TRADE, ts)
            elif t.tif in (TIF_GTC, TIF_GTD) and not t.market:
                rests = True
            elif t.tif == TIF_IOC:
                self._cancel_event(t, t.qty, CANCEL_IOC, ts)
            else:  # pragma: no cover - the FOK pre-check guarantees a full fill
                raise AssertionError("FOK order left a remainder")
        # Settle the lock: keep what the resting remainder needs, refund the rest.
        if t.side == SIDE_BUY:
            keep = t.qty * t.lock_per_share() if rests else 0
            self._cash[t.uid][1] -= lock - keep
            self._cash[t.uid][0] += lock - keep
        elif not rests and t.qty > 0:
            pos = self._position(t.uid, t.mid)
            pos[2 * t.outcome] += t.qty
            pos[2 * t.outcome + 1] -= t.qty
        if rests:
            self._add_to_book(t, touched)

    # -- commands ------------------------------------------------------------------

    def create_user(self) -> int:
        """Add a user with no money; return its id (0, 1, 2, ...)."""
        self._events = []
        self._cash.append([0, 0])
        return len(self._cash) - 1

    def create_market(self, payout=DEFAULT_PAYOUT, tick=DEFAULT_TICK, ts=0,
                      taker_fee=0, maker_fee=0, fee_mode=FEE_BPS, min_qty=1,
                      cancel_on_halt=False) -> int:  # fmt: skip
        """Add a market; return its id (0, 1, 2, ...).  Emits ``MARKET``."""
        payout = _int(payout, "payout")
        tick = _int(tick, "tick")
        ts = _int(ts, "ts")
        taker_fee = _int(taker_fee, "taker_fee")
        maker_fee = _int(maker_fee, "maker_fee")
        fee_mode = _int(fee_mode, "fee_mode")
        min_qty = _int(min_qty, "min_qty")
        cancel_on_halt = _bool(cancel_on_halt, "cancel_on_halt")
        if tick <= 0:
            raise ValueError(f"tick {tick} must be positive")
        if payout > MAX_PAYOUT:
            raise ValueError(f"payout {payout} above {MAX_PAYOUT}")
        if payout < 2 * tick:
            raise ValueError(f"payout {payout} below 2 * tick {tick}")
        if payout % tick:
            raise ValueError(f"payout {payout} not a multiple of tick {tick}")
        if payout // tick - 1 > self._max_levels:
            raise ValueError(f"{payout}/{tick}: over {self._max_levels} levels")
        _in_range(taker_fee, "taker_fee", 0, MAX_FEE)
        _in_range(maker_fee, "maker_fee", -MAX_FEE, MAX_FEE)
        _in_range(fee_mode, "fee_mode", FEE_BPS, FEE_CURVE)
        _in_range(min_qty, "min_qty", 1, self._max_qty)
        if ts != 0 and ts < self._clock:
            raise ValueError(f"ts={ts} is before the engine's clock ({self._clock})")
        ts = self._begin(ts)
        m = _Market(
            payout, tick, taker_fee, maker_fee, fee_mode, min_qty, cancel_on_halt
        )
        self._markets.append(m)
        mid = len(self._markets) - 1
        self._emit(EV_MARKET, ts, market=mid, price=payout, qty=tick, code=MARKET_OPEN)
        return mid

    def deposit(self, uid, amount, ts=0) -> int:
        """Add ``amount`` to the user's available cash; return 0 or ``-code``."""
        uid = _int(uid, "uid")
        amount = _int(amount, "amount")
        ts = _int(ts, "ts")
        ts = self._begin(ts)
        if ts < self._clock:
            code = REJ_STALE_TIME
        elif not self._has_user(uid):
            code = REJ_UNKNOWN_USER
        elif amount <= 0:
            code = REJ_INVALID_AMOUNT
        elif self._net_cash + amount > MAX_TOTAL_CASH or (
            self._max_balance and sum(self._cash[uid]) + amount > self._max_balance
        ):
            code = REJ_CASH_LIMIT
        else:
            self._net_cash += amount
            self._cash[uid][0] += amount
            self._emit(EV_CASH, ts, user=uid, qty=amount, aux=self._cash[uid][0])
            return REJ_OK
        return -self._reject(ts, code, CMD_DEPOSIT, user=uid, qty=amount)

    def withdraw(self, uid, amount, ts=0) -> int:
        """Take ``amount`` from the user's available cash; return 0 or ``-code``."""
        uid = _int(uid, "uid")
        amount = _int(amount, "amount")
        ts = _int(ts, "ts")
        ts = self._begin(ts)
        if ts < self._clock:
            code = REJ_STALE_TIME
        elif not self._has_user(uid):
            code = REJ_UNKNOWN_USER
        elif amount <= 0:
            code = REJ_INVALID_AMOUNT
        elif self._cash[uid][0] < amount:
            code = REJ_INSUFFICIENT_FUNDS
        else:
            self._net_cash -= amount
            self._cash[uid][0] -= amount
            self._emit(EV_CASH, ts, user=uid, qty=-amount, aux=self._cash[uid][0])
            return REJ_OK
        return -self._reject(ts, code, CMD_WITHDRAW, user=uid, qty=amount)

    def place(self, uid, mid, side, outcome, price, qty, tif=TIF_GTC,
              stp=STP_CANCEL_MAKER, ts=0, post_only=False, client_id=0,
              expire_ts=0) -> int:  # fmt: skip
        """Place a limit order; return its id (> 0) or ``-code`` if rejected."""
        uid = _int(uid, "uid")
        mid = _int(mid, "mid")
        side = _int(side, "side")
        outcome = _int(outcome, "outcome")
        price = _int(price, "price")
        qty = _int(qty, "qty")
        tif = _int(tif, "tif")
        stp = _int(stp, "stp")
        ts = _int(ts, "ts")
        post_only = _bool(post_only, "post_only")
        client_id = _int(client_id, "client_id")
        expire_ts = _int(expire_ts, "expire_ts")
        _in_range(side, "side", 0, 1)
        _in_range(outcome, "outcome", 0, 1)
        _in_range(tif, "tif", TIF_GTC, TIF_GTD)
        _in_range(stp, "stp", 0, STP_NONE)
        _in_range(client_id, "client_id", 0, MAX_CLIENT_ID)
        if (tif == TIF_GTD) != (expire_ts != 0):
            raise ValueError("expire_ts is required for GTD and only allowed with GTD")
        if post_only and tif not in (TIF_GTC, TIF_GTD):
            raise ValueError("post_only goes only with GTC or GTD")
        ts = self._begin(ts)
        return self._submit(uid, mid, side, outcome, price, qty, tif, stp, ts,
                            post_only, client_id, expire_ts, None)  # fmt: skip

    def place_market(self, uid, mid, side, outcome, qty, max_cost=0, fok=False,
                     stp=STP_CANCEL_MAKER, ts=0, client_id=0) -> int:  # fmt: skip
        """A market order: IOC (or FOK) at the worst price of the grid, with an
        optional cash budget for buys.  Returns the order id or ``-code``."""
        uid = _int(uid, "uid")
        mid = _int(mid, "mid")
        side = _int(side, "side")
        outcome = _int(outcome, "outcome")
        qty = _int(qty, "qty")
        max_cost = _int(max_cost, "max_cost")
        fok = _bool(fok, "fok")
        stp = _int(stp, "stp")
        ts = _int(ts, "ts")
        client_id = _int(client_id, "client_id")
        _in_range(side, "side", 0, 1)
        _in_range(outcome, "outcome", 0, 1)
        _in_range(stp, "stp", 0, STP_NONE)
        _in_range(client_id, "client_id", 0, MAX_CLIENT_ID)
        if max_cost < 0 or (max_cost and side == SIDE_SELL):
            raise ValueError("max_cost must be >= 0, and 0 for a sell")
        ts = self._begin(ts)
        tif = TIF_FOK if fok else TIF_IOC
        return self._submit(uid, mid, side, outcome, None, qty, tif, stp, ts, False,
                            client_id, 0, max_cost)  # fmt: skip

    def _submit(self, uid, mid, side, outcome, price, qty, tif, stp, ts, post_only,
                client_id, expire_ts, max_cost) -> int:  # fmt: skip
        """The shared body of place (``price`` given) and place_market (None)."""
        market_order = price is None
        m = self._markets[mid] if self._has_market(mid) else None
        if market_order:  # the worst price of the grid, in own-outcome terms
            price = (
                0 if m is None else (m.payout - m.tick if side == SIDE_BUY else m.tick)
            )
        code = self._check_place(uid, mid, side, outcome, price, qty, tif, stp, ts,
                                 post_only, client_id, expire_ts, max_cost)  # fmt: skip
        if code:
            self._reject(ts, code, CMD_PLACE, market=mid, user=uid, side=side,
                         outcome=outcome, price=price, qty=qty)  # fmt: skip
            return -code

        yprice = m.yes_price(outcome, price)
        t = _Order(
            oid=self._next_oid, uid=uid, mid=mid, side=side, outcome=outcome,
            price=price, qty=qty, yprice=yprice, bside=_book_side(side, outcome),
            tif=tif, stp=stp, post_only=post_only, client_id=client_id,
            expire_ts=expire_ts, market=market_order,
            fee_unit=m.fee_unit(price) if side == SIDE_BUY else 0,
        )  # fmt: skip
        self._next_oid += 1
        # 1. lock
        if side == SIDE_BUY:
            lock = self._buy_lock(m, t, max_cost)
            self._cash[uid][0] -= lock
            self._cash[uid][1] += lock
        else:
            lock = 0
            pos = self._position(uid, mid)
            pos[2 * outcome] -= qty
            pos[2 * outcome + 1] += qty
        # 2. accepted
        self._emit(EV_ACCEPTED, ts, market=mid, user=uid, oid=t.oid, side=side,
                   outcome=outcome, price=price, qty=qty, code=tif, user2=client_id,
                   oid2=expire_ts, price2=yprice,
                   aux=t.bside + 2 * post_only + 4 * market_order)  # fmt: skip
        # 3.-4. match, then rest or cancel the remainder
        touched: list = []
        budget = max_cost if market_order and max_cost else None
        self._run_taker(t, lock, budget, ts, touched)
        # 7. levels
        self._level_events(touched, ts)
        return t.oid

    @staticmethod
    def _buy_lock(m: _Market, t: _Order, max_cost) -> int:
        lock = t.qty * t.lock_per_share()
        if max_cost:
            lock = min(lock, max_cost)
        return lock

    def _check_place(self, uid, mid, side, outcome, price, qty, tif, stp, ts,
                     post_only, client_id, expire_ts, max_cost) -> int:  # fmt: skip
        """Return the first reject code that applies, or 0 (nothing changes)."""
        if ts < self._clock:
            return REJ_STALE_TIME
        if not self._has_user(uid):
            return REJ_UNKNOWN_USER
        if not self._has_market(mid):
            return REJ_UNKNOWN_MARKET
        m = self._markets[mid]
        if m.status != MARKET_OPEN:
            return REJ_MARKET_NOT_OPEN
        if not 1 <= qty <= self._max_qty:
            return REJ_INVALID_QTY
        if qty < m.min_qty:
            return REJ_BELOW_MIN_QTY
        if max_cost is None and not m.on_grid(price):
            return REJ_PRICE_OFF_GRID
        if tif == TIF_GTD and expire_ts <= ts:
            return REJ_INVALID_EXPIRY
        if client_id and any(o.client_id == client_id for o in self._user_live(uid)):
            return REJ_DUPLICATE_CLIENT_ID
        if (
            tif in (TIF_GTC, TIF_GTD)
            and self._max_open_orders
            and len(self._user_live(uid)) >= self._max_open_orders
        ):
            return REJ_TOO_MANY_ORDERS
        yprice = m.yes_price(outcome, price)
        t = _Order(uid=uid, mid=mid, side=side, outcome=outcome, price=price,
                   qty=qty, yprice=yprice, bside=_book_side(side, outcome), stp=stp,
                   fee_unit=m.fee_unit(price) if side == SIDE_BUY else 0)  # fmt: skip
        if side == SIDE_BUY:
            if self._cash[uid][0] < self._buy_lock(m, t, max_cost):
                return REJ_INSUFFICIENT_FUNDS
        elif self._shares_available(uid, mid, outcome) < qty:
            return REJ_INSUFFICIENT_SHARES
        if tif == TIF_FOK:
            budget = max_cost if max_cost else None
            if self._fok_available(m, t, budget) < qty:
                return REJ_FOK_NOT_FILLABLE
        if post_only and self._crosses(t.bside, yprice, m.best(1 - t.bside)):
            return REJ_POST_ONLY_WOULD_CROSS
        return REJ_OK

    def cancel(self, uid, oid, ts=0) -> int:
        """Cancel a live order of ``uid``; return 0 or ``-code``."""
        uid = _int(uid, "uid")
        oid = _int(oid, "oid")
        ts = _int(ts, "ts")
        ts = self._begin(ts)
        o = self._live.get(oid)
        if ts < self._clock:
            code = REJ_STALE_TIME
        elif not self._has_user(uid):
            code = REJ_UNKNOWN_USER
        elif o is None or o.uid != uid:
            code = REJ_UNKNOWN_ORDER
        else:
            touched: list = []
            self._cancel_resting(o, CANCEL_USER, ts, touched)
            self._level_events(touched, ts)
            return REJ_OK
        return -self._reject(ts, code, CMD_CANCEL, user=uid, oid=oid)

    def cancel_client(self, uid, client_id, ts=0) -> int:
        """``cancel`` of the live order of ``uid`` with ``client_id``; 0 or ``-code``
        (REJECTED: ``user2`` is the client id, ``aux`` CANCEL_CLIENT)."""
        uid = _int(uid, "uid")
        client_id = _int(client_id, "client_id")
        ts = _int(ts, "ts")
        _in_range(client_id, "client_id", 0, MAX_CLIENT_ID)
        ts = self._begin(ts)
        if ts < self._clock:
            code = REJ_STALE_TIME
        elif not self._has_user(uid):
            code = REJ_UNKNOWN_USER
        else:
            found = [
                o
                for o in self._user_live(uid)
                if client_id and o.client_id == client_id
            ]
            if not found:
                code = REJ_UNKNOWN_ORDER
            else:
                touched: list = []
                self._cancel_resting(found[0], CANCEL_USER, ts, touched)
                self._level_events(touched, ts)
                return REJ_OK
        return -self._reject(ts, code, CMD_CANCEL_CLIENT, user=uid, user2=client_id)

    def cancel_all(self, uid, mid=-1, ts=0) -> int:
        """Cancel the user's live orders (in market ``mid`` if ``mid >= 0``), in
        ascending id order; return how many, or ``-code``."""
        uid = _int(uid, "uid")
        mid = _int(mid, "mid")
        ts = _int(ts, "ts")
        ts = self._begin(ts)
        if ts < self._clock:
            code = REJ_STALE_TIME
        elif not self._has_user(uid):
            code = REJ_UNKNOWN_USER
        elif mid >= 0 and not self._has_market(mid):
            code = REJ_UNKNOWN_MARKET
        else:
            orders = [o for o in self._user_live(uid) if mid < 0 or o.mid == mid]
            touched: list = []
            for o in orders:
                self._cancel_resting(o, CANCEL_USER, ts, touched)
            self._level_events(touched, ts)
            return len(orders)
        self._reject(ts, code, CMD_CANCEL_ALL, market=mid, user=uid)
        return -code

    def amend(self, uid, oid, price, qty, ts=0) -> int:
        """Set a live order's own-outcome price and remaining quantity."""
        uid = _int(uid, "uid")
        oid = _int(oid, "oid")
        price = _int(price, "price")
        qty = _int(qty, "qty")
        ts = _int(ts, "ts")
        ts = self._begin(ts)
        o = self._live.get(oid)
        code = self._check_amend(uid, o, price, qty, ts)
        if code:
            return -self._reject(ts, code, CMD_AMEND, user=uid, oid=oid, price=price,
                                qty=qty)  # fmt: skip
        m = self._markets[o.mid]
        old_price, old_qty = o.price, o.qty
        touched: list = []
        if price == o.price and qty <= o.qty:  # in place: priority kept
            self._unlock(o, old_qty - qty)
            if qty < old_qty:
                self._take_from_book(o, old_qty - qty, touched)
            self._emit(EV_AMENDED, ts, market=o.mid, user=uid, oid=oid, side=o.side,
                       outcome=o.outcome, price=price, qty=qty, code=1,
                       price2=old_price, aux=old_qty)  # fmt: skip
            self._level_events(touched, ts)
            return REJ_OK
        # Leave the level, re-lock for the new terms, re-enter as if newly placed.
        self._unlock(o, old_qty)
        self._take_from_book(o, old_qty, touched)
        o.price, o.qty, o.yprice = price, qty, m.yes_price(o.outcome, price)
        if o.side == SIDE_BUY:
            o.fee_unit = m.fee_unit(price)
            lock = qty * o.lock_per_share()
            self._cash[uid][0] -= lock
            self._cash[uid][1] += lock
        else:
            lock = 0
            pos = self._position(uid, o.mid)
            pos[2 * o.outcome] -= qty
            pos[2 * o.outcome + 1] += qty
        self._emit(EV_AMENDED, ts, market=o.mid, user=uid, oid=oid, side=o.side,
                   outcome=o.outcome, price=price, qty=qty, code=0,
                   price2=old_price, aux=old_qty)  # fmt: skip
        self._run_taker(o, lock, None, ts, touched)
        self._level_events(touched, ts)
        return REJ_OK

    def _check_amend(self, uid, o, price, qty, ts) -> int:
        if ts < self._clock:
            return REJ_STALE_TIME
        if not self._has_user(uid):
            return REJ_UNKNOWN_USER
        if o is None or o.uid != uid:
            return REJ_UNKNOWN_ORDER
        m = self._markets[o.mid]
        if m.status != MARKET_OPEN:
            return REJ_MARKET_NOT_OPEN
        if not 1 <= qty <= self._max_qty:
            return REJ_INVALID_QTY
        if qty < m.min_qty:
            return REJ_BELOW_MIN_QTY
        if not m.on_grid(price):
            return REJ_PRICE_OFF_GRID
        if price == o.price and qty <= o.qty:
            return REJ_OK
        if o.side == SIDE_BUY:
            new_lock = qty * (price + m.fee_unit(price))
            if new_lock - o.qty * o.lock_per_share() > self._cash[uid][0]:
                return REJ_INSUFFICIENT_FUNDS
        elif qty - o.qty > self._shares_available(uid, o.mid, o.outcome):
            return REJ_INSUFFICIENT_SHARES
        yprice = m.yes_price(o.outcome, price)
        if o.post_only and self._crosses(o.bside, yprice, m.best(1 - o.bside)):
            return REJ_POST_ONLY_WOULD_CROSS
        return REJ_OK

    def mint(self, uid, mid, qty, ts=0) -> int:
        """Pay ``payout * qty``, get ``qty`` YES and ``qty`` NO."""
        return self._pair(uid, mid, qty, ts, CMD_MINT)

    def merge(self, uid, mid, qty, ts=0) -> int:
        """Give ``qty`` YES and ``qty`` NO, get ``payout * qty``."""
        return self._pair(uid, mid, qty, ts, CMD_MERGE)

    def _pair(self, uid, mid, qty, ts, cmd) -> int:
        uid = _int(uid, "uid")
        mid = _int(mid, "mid")
        qty = _int(qty, "qty")
        ts = _int(ts, "ts")
        ts = self._begin(ts)
        if ts < self._clock:
            code = REJ_STALE_TIME
        elif not self._has_user(uid):
            code = REJ_UNKNOWN_USER
        elif not self._has_market(mid):
            code = REJ_UNKNOWN_MARKET
        elif (
            self._markets[mid].status != MARKET_OPEN
            if cmd == CMD_MINT
            else self._markets[mid].status == MARKET_RESOLVED
        ):
            code = REJ_MARKET_NOT_OPEN
        elif not 1 <= qty <= self._max_qty:
            code = REJ_INVALID_QTY
        elif cmd == CMD_MINT and self._cash[uid][0] < self._markets[mid].payout * qty:
            code = REJ_INSUFFICIENT_FUNDS
        elif (
            cmd == CMD_MERGE
            and min(
                self._shares_available(uid, mid, OUTCOME_YES),
                self._shares_available(uid, mid, OUTCOME_NO),
            )
            < qty
        ):
            code = REJ_INSUFFICIENT_SHARES
        else:
            m = self._markets[mid]
            sign = 1 if cmd == CMD_MINT else -1
            pos = self._position(uid, mid)
            self._cash[uid][0] -= sign * m.payout * qty
            pos[0] += sign * qty
            pos[2] += sign * qty
            m.outstanding += sign * qty
            kind = 1 if cmd == CMD_MINT else 2
            self._emit(EV_PAIR, ts, market=mid, user=uid, price=m.payout, qty=qty,
                       code=kind, aux=self._cash[uid][0])  # fmt: skip
            return REJ_OK
        return -self._reject(ts, code, cmd, market=mid, user=uid, qty=qty)

    def halt(self, mid, ts=0) -> int:
        """OPEN -> HALTED (cancels resting orders if the market says so)."""
        return self._lifecycle(mid, CMD_HALT, None, ts)

    def resume(self, mid, ts=0) -> int:
        """HALTED -> OPEN."""
        return self._lifecycle(mid, CMD_RESUME, None, ts)

    def close(self, mid, ts=0) -> int:
        """OPEN|HALTED -> CLOSED; cancels resting orders."""
        return self._lifecycle(mid, CMD_CLOSE, None, ts)

    def resolve(self, mid, yes_value, ts=0) -> int:
        """-> RESOLVED: cancel resting orders, pay every share, burn them."""
        return self._lifecycle(mid, CMD_RESOLVE, yes_value, ts)

    # command -> (new status, the statuses it may come from, cancel reason)
    _TRANSITIONS = {
        CMD_HALT: (MARKET_HALTED, (MARKET_OPEN,), CANCEL_HALTED),
        CMD_RESUME: (MARKET_OPEN, (MARKET_HALTED,), None),
        CMD_CLOSE: (MARKET_CLOSED, (MARKET_OPEN, MARKET_HALTED), CANCEL_CLOSED),
        CMD_RESOLVE: (
            MARKET_RESOLVED,
            (MARKET_OPEN, MARKET_HALTED, MARKET_CLOSED),
            CANCEL_RESOLVED,
        ),
    }

    def _lifecycle(self, mid, cmd, yes_value, ts) -> int:
        mid = _int(mid, "mid")
        if cmd == CMD_RESOLVE:
            yes_value = _int(yes_value, "yes_value")
        ts = _int(ts, "ts")
        ts = self._begin(ts)
        new_status, allowed, reason = self._TRANSITIONS[cmd]
        if ts < self._clock:
            code = REJ_STALE_TIME
        elif not self._has_market(mid):
            code = REJ_UNKNOWN_MARKET
        elif self._markets[mid].status not in allowed:
            code = REJ_INVALID_TRANSITION
        elif cmd == CMD_RESOLVE and not 0 <= yes_value <= self._markets[mid].payout:
            code = REJ_INVALID_SETTLEMENT
        else:
            m = self._markets[mid]
            if reason is not None and (cmd != CMD_HALT or m.cancel_on_halt):
                self._cancel_market_orders(mid, reason, ts)
            if cmd == CMD_RESOLVE:
                self._settle_market(mid, yes_value, ts)
            m.status = new_status
            self._emit(EV_MARKET, ts, market=mid, price=m.payout, qty=m.tick,
                       code=new_status, price2=yes_value or 0)  # fmt: skip
            return REJ_OK
        return -self._reject(ts, code, cmd, market=mid, price=yes_value or 0)

    def _settle_market(self, mid: int, yes_value: int, ts: int) -> None:
        m = self._markets[mid]
        m.yes_value = yes_value
        for uid in range(len(self._cash)):
            pos = self._pos.get((uid, mid))
            if pos is None or pos[0] + pos[1] + pos[2] + pos[3] == 0:
                continue
            yes, no = pos[0] + pos[1], pos[2] + pos[3]  # nothing is locked by now
            self._cash[uid][0] += yes * yes_value + no * (m.payout - yes_value)
            pos[:] = [0, 0, 0, 0]
            self._emit(EV_SETTLEMENT, ts, market=mid, user=uid, price=yes_value,
                       qty=yes, price2=m.payout - yes_value, aux=no)  # fmt: skip
        m.outstanding = 0

    def expire(self, ts) -> int:
        """Expire the GTD orders due at ``ts``; return how many, or -109 if
        ``ts`` is before the clock."""
        ts = _int(ts, "ts")
        self._events = []
        if ts == 0:
            ts = self._clock
        if ts < self._clock:
            return -self._reject(ts, REJ_STALE_TIME, CMD_EXPIRE)
        self._clock = ts
        return self._expire_due(ts)

    # -- queries -------------------------------------------------------------------

    def last_events(self) -> list[tuple]:
        """The events of the most recent command, as 17-int tuples."""
        return list(self._events)

    def n_last_events(self) -> int:
        return len(self._events)

    def last_seq(self) -> int:
        return self._seq

    @property
    def clock(self) -> int:
        """The highest ``ts`` a command has carried (see ``Core.clock``)."""
        return self._clock

    def balance(self, uid) -> tuple[int, int]:
        uid = self._need_user(uid)
        return tuple(self._cash[uid])

    def position(self, uid, mid) -> tuple[int, int, int, int]:
        uid = self._need_user(uid)
        mid = self._need_market(mid)
        return tuple(self._pos.get((uid, mid), (0, 0, 0, 0)))

    def top(self, mid) -> tuple[int, int, int, int]:
        m = self._markets[self._need_market(mid)]
        out = []
        for bside in (BOOK_BID, BOOK_ASK):
            best = m.best(bside)
            if best is None:
                out += [0, 0]
            else:
                out += [best, sum(o.qty for o in m.books[bside][best].orders)]
        return tuple(out)

    def depth(self, mid, n=10) -> tuple[list, list]:
        m = self._markets[self._need_market(mid)]
        n = max(_int(n, "n"), 0)
        sides = []
        for bside in (BOOK_BID, BOOK_ASK):
            levels = []
            for p in m.prices_best_first(bside)[:n]:
                orders = m.books[bside][p].orders
                levels.append((p, sum(o.qty for o in orders), len(orders)))
            sides.append(levels)
        return sides[0], sides[1]

    def book_orders(self, mid) -> list[tuple]:
        m = self._markets[self._need_market(mid)]
        return [
            o.book_tuple()
            for bside in (BOOK_BID, BOOK_ASK)
            for p in m.prices_best_first(bside)
            for o in m.books[bside][p].orders
        ]

    def user_orders(self, uid) -> list[tuple]:
        return [o.user_tuple() for o in self._user_live(self._need_user(uid))]

    def order(self, oid):
        o = self._live.get(_int(oid, "oid"))
        return None if o is None else o.user_tuple()

    def order_by_client_id(self, uid, client_id):
        uid = _int(uid, "uid")
        client_id = _int(client_id, "client_id")
        if not client_id or not self._has_user(uid):
            return None
        for o in self._user_live(uid):
            if o.client_id == client_id:
                return o.user_tuple()
        return None

    def last_price(self, mid) -> int:
        return self._markets[self._need_market(mid)].last_price

    def market(self, mid) -> tuple[int, int, int, int]:
        m = self._markets[self._need_market(mid)]
        return (m.payout, m.tick, m.status, m.outstanding)

    def market_config(self, mid) -> tuple:
        m = self._markets[self._need_market(mid)]
        return (m.payout, m.tick, m.taker_fee, m.maker_fee, m.fee_mode, m.min_qty,
                m.cancel_on_halt, m.yes_value)  # fmt: skip

    def fees(self) -> int:
        return self._fees

    def limits(self) -> tuple[int, int, int, int]:
        return (self._max_qty, self._max_open_orders, self._max_balance,
                self._max_levels)  # fmt: skip

    def totals(self) -> tuple[int, int, int, int]:
        return (self._net_cash, len(self._cash), len(self._markets), len(self._live))

    # -- invariants ----------------------------------------------------------------

    def check_invariants(self) -> None:
        """Raise ``InvariantError`` naming the first broken invariant."""
        cash_locked = [0] * len(self._cash)
        shares_locked: dict[tuple[int, int, int], int] = {}
        seen: dict[int, _Order] = {}
        for mid, m in enumerate(self._markets):
            self._check_market(mid, m)
            for o in m.orders():
                if o.oid in seen:
                    _fail(f"order {o.oid} rests twice")
                seen[o.oid] = o
                self._check_order(mid, m, o)
                if o.side == SIDE_BUY:
                    cash_locked[o.uid] += o.qty * o.lock_per_share()
                else:
                    key = (o.uid, o.mid, o.outcome)
                    shares_locked[key] = shares_locked.get(key, 0) + o.qty
        if seen.keys() != self._live.keys():
            _fail("live-order index differs from the orders in the books")

        for uid, (avail, locked) in enumerate(self._cash):
            if avail < 0 or locked < 0:
                _fail(f"user {uid}: negative cash {avail}/{locked}")
            if locked != cash_locked[uid]:
                _fail(f"user {uid}: cash locked {locked} != resting buys need "
                      f"{cash_locked[uid]}")  # fmt: skip
            live = self._user_live(uid)
            ids = [o.client_id for o in live if o.client_id]
            if len(ids) != len(set(ids)):
                _fail(f"user {uid}: duplicate live client ids {ids}")
            if self._max_open_orders and len(live) > self._max_open_orders:
                _fail(f"user {uid}: {len(live)} live orders > max_open_orders")

        yes_out = [0] * len(self._markets)
        no_out = [0] * len(self._markets)
        for (uid, mid), pos in self._pos.items():
            if not (self._has_user(uid) and self._has_market(mid)):
                _fail(f"position of unknown user/market {uid}/{mid}")
            if min(pos) < 0:
                _fail(f"user {uid} market {mid}: negative shares {pos}")
            for outcome in (OUTCOME_YES, OUTCOME_NO):
                need = shares_locked.get((uid, mid, outcome), 0)
                if pos[2 * outcome + 1] != need:
                    have = pos[2 * outcome + 1]
                    _fail(f"user {uid} market {mid} outcome {outcome}: shares "
                          f"locked {have} != resting sells {need}")  # fmt: skip
            yes_out[mid] += pos[0] + pos[1]
            no_out[mid] += pos[2] + pos[3]
        for key, need in shares_locked.items():
            if need and key[:2] not in self._pos:
                _fail(f"shares locked for {key} without a position")
        for mid, m in enumerate(self._markets):
            if not yes_out[mid] == no_out[mid] == m.outstanding:
                _fail(f"market {mid}: YES {yes_out[mid]}, NO {no_out[mid]}, "
                      f"pairs {m.outstanding} differ")  # fmt: skip

        if self._fees < 0:
            _fail(f"fee account {self._fees} < 0")
        held = sum(a + b for a, b in self._cash) + self._fees
        held += sum(m.payout * m.outstanding for m in self._markets)
        if held != self._net_cash:
            _fail(f"conservation: cash + fees + payout*pairs {held} != net "
                  f"deposits {self._net_cash}")  # fmt: skip
        if not 0 <= self._net_cash <= MAX_TOTAL_CASH:
            _fail(f"net deposits {self._net_cash} outside 0..2**62")

    def _check_market(self, mid: int, m: _Market) -> None:
        if m.status not in (MARKET_OPEN, MARKET_HALTED, MARKET_CLOSED, MARKET_RESOLVED):
            _fail(f"market {mid}: status {m.status}")
        if m.outstanding < 0:
            _fail(f"market {mid}: outstanding {m.outstanding} < 0")
        if m.last_price and not m.on_grid(m.last_price):
            _fail(f"market {mid}: last price {m.last_price} off grid")
        if m.status in (MARKET_CLOSED, MARKET_RESOLVED) and m.orders():
            _fail(f"market {mid}: resting orders in status {m.status}")
        if (m.status == MARKET_RESOLVED) != (m.yes_value >= 0):
            _fail(f"market {mid}: yes_value {m.yes_value} in status {m.status}")
        if m.status == MARKET_RESOLVED and m.outstanding:
            _fail(f"market {mid}: resolved with {m.outstanding} pairs")
        bid, ask = m.best(BOOK_BID), m.best(BOOK_ASK)
        if bid is not None and ask is not None and bid >= ask:
            _fail(f"market {mid}: crossed book, bid {bid} >= ask {ask}")
        for bside in (BOOK_BID, BOOK_ASK):
            for p, level in m.books[bside].items():
                if not level.orders:
                    _fail(f"market {mid}: empty level {bside}/{p}")
                if not m.on_grid(p):
                    _fail(f"market {mid}: level {p} off grid")
                total = sum(o.qty for o in level.orders)
                if level.total != total:
                    _fail(f"market {mid} level {bside}/{p}: total {level.total} "
                          f"!= sum of orders {total}")  # fmt: skip
                arrivals = [o.arrival for o in level.orders]
                if arrivals != sorted(arrivals):
                    _fail(f"market {mid} level {bside}/{p}: FIFO out of order")
                for o in level.orders:
                    if (o.mid, o.yprice, o.bside) != (mid, p, bside):
                        _fail(f"order {o.oid} on the wrong level")

    def _check_order(self, mid: int, m: _Market, o: _Order) -> None:
        if o.bside != _book_side(o.side, o.outcome):
            _fail(f"order {o.oid}: wrong book side")
        if m.yes_price(o.outcome, o.price) != o.yprice:
            _fail(f"order {o.oid}: price {o.price} / YES price {o.yprice}")
        if not 0 < o.qty <= self._max_qty:
            _fail(f"order {o.oid}: qty {o.qty}")
        if o.tif not in (TIF_GTC, TIF_GTD) or o.market:
            _fail(f"order {o.oid}: resting with tif {o.tif}")
        if (o.tif == TIF_GTD) != (o.expire_ts != 0):
            _fail(f"order {o.oid}: tif {o.tif} with expire_ts {o.expire_ts}")
        if not 0 < o.oid < self._next_oid:
            _fail(f"order {o.oid}: id not issued yet")
        want = m.fee_unit(o.price) if o.side == SIDE_BUY else 0
        if o.fee_unit != want:
            _fail(f"order {o.oid}: fee reserve {o.fee_unit} != {want}")


def _fail(msg: str) -> None:
    raise InvariantError(msg)
