"""A seeded order stream for the benchmarks (DESIGN.md section 6).

One stream of ``n`` commands on one market with payout 100 and tick 1 (prices
1..99): about 60% resting limit orders, 25% crossing limit orders and 15% cancels
of live orders.  ``generate(n, n_users, seed)`` returns a list of 9-int tuples::

    (op, user, side, outcome, price, qty, book_side, yes_price, ref)

* ``op``: ``PLACE`` (1) or ``CANCEL`` (2) (the values of the core's ``Command``).
* ``user``: a user index ``0 .. n_users-1``.  ``setup_engine`` creates users so
  that index ``u`` is engine user id ``u``.
* ``side`` (action ``BUY`` 0 / ``SELL`` 1), ``outcome`` (``YES`` 0 / ``NO`` 1),
  ``price`` (in the order's own outcome terms), ``qty``: the engine's ``place``.
* ``book_side`` (``BID`` 0 / ``ASK`` 1) and ``yes_price``: the same order for a
  plain YES book (``benchmarks/pybook.py``).  Buy YES @ p and sell NO @ 100-p are
  bids at p; sell YES @ p and buy NO @ 100-p are asks at p.
* ``ref``: for a place, its *slot* -- the ordinal of this place in the stream
  (0, 1, 2, ...); for a cancel, the slot of the order to cancel.  Engines assign
  their own order ids, so a driver keeps ``ids = [0] * n_places(stream)`` and does
  ``ids[ref] = place(...)`` / ``cancel(user, ids[ref])``.  For a cancel the other
  fields are 0 except ``user`` (the owner of the order).

All four action x outcome combinations appear, so an engine does transfers
(buy YES x sell YES, sell NO x buy NO), mints (buy YES x buy NO) and merges
(sell NO x sell YES).  **No self-trades:** even users only ever place bids and
odd users only asks, so the engine's self-trade prevention never triggers and
every price-time book produces exactly the same fills.  Bid users buy YES and
sell NO, ask users sell YES and buy NO; ``setup_engine`` first mints every user a
large inventory of both outcomes so that sells are always covered.

The generator runs the stream through the baseline book (``pybook.OrderBook``)
as it goes, so "resting" and "crossing" are exact, not guessed: a resting order
never crosses the opposite best, a crossing one is priced 0-2 ticks through it,
and every cancel names an order that is live at that moment (with identical
matching in the engine it is live there too).  When a class cannot be produced
(a crossing order into an empty book, a cancel with no live order) a resting
order is placed instead; ``describe`` reports the actual mix.

Prices follow a "fair value" that random-walks inside 20..80; resting orders sit
a (roughly exponential) few ticks from it on their side and never through the
opposite best.  Resting quantities are 1..100, crossing ones 1..400, which keeps
the book at a roughly constant size (a few hundred live orders on ~60 levels)
instead of growing with ``n``.
"""

from __future__ import annotations

import random
from typing import Any

from pybook import ASK, BID, OrderBook

PAYOUT = 100
TICK = 1

PLACE = 1
CANCEL = 2
BUY, SELL = 0, 1
YES, NO = 0, 1

P_REST = 0.60
P_CROSS = 0.25  # the remaining 0.15 are cancels

REST_QTY = 100  # resting qty is 1..REST_QTY
CROSS_QTY = 400  # crossing qty is 1..CROSS_QTY (sized to keep the book stationary)
FV_LO, FV_HI = 20, 80  # fair-value band (YES price)

Item = tuple[int, int, int, int, int, int, int, int, int]


def _order(
    rng: random.Random, bside: int, yes_price: int, n_users: int
) -> tuple[int, int, int, int]:
    """Pick the user and the action/outcome form of a book order: (user, side,
    outcome, own price)."""
    half = n_users // 2
    mirrored = rng.random() < 0.5
    if bside == BID:
        user = 2 * int(rng.random() * half)
        if mirrored:
            return user, SELL, NO, PAYOUT - yes_price
        return user, BUY, YES, yes_price
    user = 2 * int(rng.random() * half) + 1
    if mirrored:
        return user, BUY, NO, PAYOUT - yes_price
    return user, SELL, YES, yes_price


def generate(n: int = 1_000_000, n_users: int = 100, seed: int = 1) -> list[Item]:
    """Return ``n`` commands (see the module docstring).  Deterministic in
    ``(n, n_users, seed)``."""
    if n_users < 2 or n_users % 2:
        raise ValueError("n_users must be even and >= 2")
    rng = random.Random(seed)
    book = OrderBook()
    live = book.orders
    owner: list[int] = []  # slot -> user
    candidates: list[int] = []  # slots that rested (some no longer live)
    out: list[Item] = []
    fv = 50
    slot = 0

    for _ in range(n):
        # Fair value: a slow, bounded random walk.
        u = rng.random()
        if u < 0.02 and fv < FV_HI:
            fv += 1
        elif u > 0.98 and fv > FV_LO:
            fv -= 1

        r = rng.random()
        if r >= P_REST + P_CROSS:  # cancel a live order
            while candidates:
                i = int(rng.random() * len(candidates))
                target = candidates[i]
                candidates[i] = candidates[-1]
                candidates.pop()
                if target in live:
                    book.cancel(target)
                    out.append((CANCEL, owner[target], 0, 0, 0, 0, 0, 0, target))
                    break
            else:
                r = 0.0  # nothing live: place a resting order instead
            if r:
                continue

        best_bid = book.best_bid()
        best_ask = book.best_ask()
        bside = BID if rng.random() < 0.5 else ASK
        if r >= P_REST:  # crossing order
            if bside == BID and not best_ask and best_bid:
                bside = ASK
            elif bside == ASK and not best_bid and best_ask:
                bside = BID
            through = int(rng.random() * 3)
            if bside == BID and best_ask:
                price = min(best_ask + through, PAYOUT - TICK)
                qty = 1 + int(rng.random() * CROSS_QTY)
            elif bside == ASK and best_bid:
                price = max(best_bid - through, TICK)
                qty = 1 + int(rng.random() * CROSS_QTY)
            else:
                r = 0.0  # empty book: rest instead
        if r < P_REST:  # resting order
            off = min(int(rng.expovariate(0.25)), 30)
            if bside == BID:
                price = fv - 1 - off
                if best_ask:
                    price = min(price, best_ask - TICK)
                if price < TICK:  # no room below the best ask: join the other side
                    bside, price = ASK, max(fv + 1 + off, best_bid + TICK)
            else:
                price = fv + 1 + off
                if best_bid:
                    price = max(price, best_bid + TICK)
                if price > PAYOUT - TICK:
                    bside, price = BID, min(fv - 1 - off, best_ask - TICK)
            price = max(TICK, min(PAYOUT - TICK, price))
            qty = 1 + int(rng.random() * REST_QTY)

        user, side, outcome, own_price = _order(rng, bside, price, n_users)
        out.append((PLACE, user, side, outcome, own_price, qty, bside, price, slot))
        owner.append(user)
        book.add(slot, user, bside, price, qty)
        if slot in live:
            candidates.append(slot)
        slot += 1
    return out


# --------------------------------------------------------------- held variants

#: name -> what it is (``make_variant`` builds them)
VARIANTS = {
    "default": "the DESIGN mix around a random-walking fair value: ~60 levels, "
    "a few hundred to ~1.4k live orders",
    "deep": "6 price levels (47..49 / 51..53) holding 20,000 live orders: "
    "~3,300 orders per level; cancels hit random queue positions",
    "steady": "book held at 10,000 live orders on ~60 levels around a "
    "random-walking fair value",
}


def generate_held(
    n: int,
    n_users: int = 100,
    seed: int = 1,
    *,
    target: int = 10_000,
    levels: int = 0,
    rest_qty: int = REST_QTY,
) -> tuple[list[Item], int]:
    """A stream whose book is *held* at about ``target`` live orders.

    Returns ``(stream, warm)``: the first ``warm = target`` commands are resting
    places that build the book (drivers run them untimed), then ``n`` commands
    with the same 60/25/15 mix as ``generate``.  The size is held by the
    crossing orders: each one is sized to fill exactly ``m`` whole makers
    (sometimes plus part of the next), ``m`` averaging 1.8 -- what balances
    +0.60 rests and -0.15 cancels per command -- plus a correction
    proportional to how far the book is from ``target``.  Its limit price is
    the price of the last maker it reaches, 0-2 ticks through.

    ``levels=0``: prices as in ``generate`` (fair value random walk, resting
    orders a roughly exponential few ticks from it).  ``levels=L``: the fair
    value stays at 50 and resting orders sit uniformly on the ``L`` prices next
    to it on their side (``50-L .. 49`` bids, ``51 .. 50+L`` asks), so with a
    large ``target`` every level holds thousands of orders.

    Same item format, users, mirroring and no-self-trade rule as
    ``generate``; every cancel names a live order.
    """
    if n_users < 2 or n_users % 2:
        raise ValueError("n_users must be even and >= 2")
    rng = random.Random(seed)
    book = OrderBook()
    live = book.orders
    owner: list[int] = []
    candidates: list[int] = []
    out: list[Item] = []
    fv = 50
    slot = 0
    band = max(50, target // 100)

    def rest_price(bside: int) -> int:
        best_bid = book.best_bid()
        best_ask = book.best_ask()
        if levels:
            off = int(rng.random() * levels)
        else:
            off = min(int(rng.expovariate(0.25)), 30)
        if bside == BID:
            price = fv - 1 - off
            if best_ask:
                price = min(price, best_ask - TICK)
        else:
            price = fv + 1 + off
            if best_bid:
                price = max(price, best_bid + TICK)
        return max(TICK, min(PAYOUT - TICK, price))

    def makers(bside: int, m: int) -> tuple[list[int], list[int]]:
        """Remaining qty and price of the first ``m + 1`` makers a ``bside``
        taker would meet."""
        qtys: list[int] = []
        prices: list[int] = []
        side = book.asks if bside == BID else book.bids
        items = side.items() if bside == BID else reversed(side.items())
        for price, level in items:
            for order in level.queue:
                if order.qty:
                    qtys.append(order.qty)
                    prices.append(price)
                    if len(qtys) > m:
                        return qtys, prices
        return qtys, prices

    for k in range(target + n):
        if not levels:
            u = rng.random()
            if u < 0.02 and fv < FV_HI:
                fv += 1
            elif u > 0.98 and fv > FV_LO:
                fv -= 1
        r = 0.0 if k < target else rng.random()
        if r >= P_REST + P_CROSS:
            while candidates:
                i = int(rng.random() * len(candidates))
                target_slot = candidates[i]
                candidates[i] = candidates[-1]
                candidates.pop()
                if target_slot in live:
                    book.cancel(target_slot)
                    out.append(
                        (CANCEL, owner[target_slot], 0, 0, 0, 0, 0, 0, target_slot)
                    )
                    break
            else:
                r = 0.0
            if r:
                continue
        bside = BID if rng.random() < 0.5 else ASK
        qty = 0
        if r >= P_REST:  # crossing, sized to remove m whole makers
            c = (len(live) - target) / band
            c = max(-0.8, min(2.0, c))
            m = max(1, int(1.8 + c + rng.random()))
            qtys, prices = makers(bside, m)
            if qtys:
                take = min(m, len(qtys))
                qty = sum(qtys[:take])
                last = prices[take - 1]
                if take < len(qtys) and qtys[take] > 1 and rng.random() < 0.5:
                    qty += 1 + int(rng.random() * (qtys[take] - 1))
                    last = prices[take]
                through = int(rng.random() * 3)
                if bside == BID:
                    price = min(last + through, PAYOUT - TICK)
                else:
                    price = max(last - through, TICK)
        if not qty:  # resting (or a crossing order into an empty side)
            price = rest_price(bside)
            qty = 1 + int(rng.random() * rest_qty)
        user, side, outcome, own_price = _order(rng, bside, price, n_users)
        out.append((PLACE, user, side, outcome, own_price, qty, bside, price, slot))
        owner.append(user)
        book.add(slot, user, bside, price, qty)
        if slot in live:
            candidates.append(slot)
        slot += 1
    return out, target


def make_variant(
    name: str, n: int, n_users: int = 100, seed: int = 1
) -> tuple[list[Item], int]:
    """``(stream, warm)`` for a variant of ``VARIANTS``: run ``stream[:warm]``
    untimed, time ``stream[warm:]`` (``n`` commands)."""
    if name == "default":
        return generate(n, n_users, seed), 0
    if name == "deep":
        return generate_held(n, n_users, seed, target=20_000, levels=3, rest_qty=20)
    if name == "steady":
        return generate_held(n, n_users, seed, target=10_000)
    raise ValueError(f"unknown variant {name!r} (one of {sorted(VARIANTS)})")


def to_records(stream: list[Item], mid: int, first_oid: int) -> Any:
    """The stream as ``probo_engine.batch.COMMAND_DTYPE`` records.

    Cancels need the engine's order ids.  Ids are assigned 1, 2, 3, ... to
    accepted orders, and on a core prepared by ``setup_engine`` every place of
    the stream is accepted (funded users, minted inventory, no self-trades), so
    slot ``s`` gets id ``first_oid + s`` (``first_oid = first_order_id(n_users)``).
    The batch drivers check that each place's result is exactly that id.
    """
    import numpy as np

    from probo_engine.batch import CANCEL as K_CANCEL
    from probo_engine.batch import COMMAND_DTYPE
    from probo_engine.batch import PLACE as K_PLACE

    a = np.array(stream, dtype=np.int64).reshape(len(stream), 9)
    rec = np.zeros(len(stream), COMMAND_DTYPE)
    is_place = a[:, 0] == PLACE
    rec["kind"] = np.where(is_place, K_PLACE, K_CANCEL)
    rec["uid"] = a[:, 1]
    rec["mid"] = np.where(is_place, mid, 0)
    rec["side"] = a[:, 2]
    rec["outcome"] = a[:, 3]
    rec["price"] = a[:, 4]
    rec["qty"] = a[:, 5]
    rec["oid"] = np.where(is_place, 0, first_oid + a[:, 8])
    return rec


def first_order_id(n_users: int) -> int:
    """Id the engine gives the stream's first place after ``setup_engine``
    (which uses ``4 * (n_users // 2)`` ids minting inventory)."""
    return 4 * (n_users // 2) + 1


def n_places(stream: list[Item]) -> int:
    """Number of place commands (= size of the slot -> order id table)."""
    return sum(1 for item in stream if item[0] == PLACE)


def describe(stream: list[Item], warm: int = 0) -> dict[str, Any]:
    """Replay ``stream`` through the baseline book (untimed) and return its mix:
    commands, resting/crossing places, cancels, fills, filled quantity, the
    final book size and the action/outcome combinations used.  With ``warm``,
    the first ``warm`` commands are replayed but not counted (``min_live`` /
    ``max_live`` are over the counted part)."""
    book = OrderBook()
    rests = crosses = cancels = fills = filled = 0
    combos: dict[str, int] = {}
    max_live = 0
    min_live = -1
    for i, (op, _user, side, outcome, _price, qty, bside, yes_price, ref) in enumerate(
        stream
    ):
        counted = i >= warm
        if op == PLACE:
            f = book.add(ref, 0, bside, yes_price, qty)
            if not counted:
                continue
            key = ("buy" if side == BUY else "sell") + (
                " YES" if outcome == YES else " NO"
            )
            combos[key] = combos.get(key, 0) + 1
            if f:
                crosses += 1
                fills += len(f)
                filled += sum(x[2] for x in f)
            else:
                rests += 1
        else:
            book.cancel(ref)
            if not counted:
                continue
            cancels += 1
        size = len(book)
        if size > max_live:
            max_live = size
        if min_live < 0 or size < min_live:
            min_live = size
    n = len(stream) - warm
    levels = len(book.bids) + len(book.asks)
    return {
        "commands": n,
        "warm": warm,
        "places": rests + crosses,
        "resting": rests,
        "crossing": crosses,
        "cancels": cancels,
        "fills": fills,
        "filled_qty": filled,
        "events": n + fills,
        "live_at_end": len(book),
        "min_live": max(min_live, 0),
        "max_live": max_live,
        "levels_at_end": levels,
        "orders_per_level": len(book) / levels if levels else 0.0,
        "combos": combos,
    }


def setup_engine(
    core: Any,
    n_users: int,
    *,
    shares: int = 10**9,
    cash: int = 10**13,
    ts: int = 0,
) -> int:
    """Prepare a fresh core (``probo_engine._book.Core`` or the reference oracle)
    for a stream made with ``n_users``; return the market id.

    Creates one market (payout 100, tick 1) and ``n_users`` users (so stream
    user ``u`` is engine user ``u``), deposits ``cash`` to each, then mints every
    user ``shares`` YES and ``shares`` NO: for each pair (2k, 2k+1), 2k buys YES
    @ 50 against 2k+1 buying NO @ 50, and then the other way round.  This uses
    ``4 * (n_users // 2)`` order ids and leaves the book empty.
    """
    if n_users < 2 or n_users % 2:
        raise ValueError("n_users must be even and >= 2")
    mid = core.create_market(PAYOUT, TICK, ts)
    for u in range(n_users):
        uid = core.create_user()
        if uid != u:
            raise RuntimeError(
                f"setup_engine needs a fresh core (user id {uid} != {u})"
            )
        code = core.deposit(uid, cash, ts)
        if code != 0:
            raise RuntimeError(f"deposit({uid}) failed with code {code}")
    half = PAYOUT // 2
    for a in range(0, n_users, 2):
        b = a + 1
        for yes_buyer, no_buyer in ((a, b), (b, a)):
            r1 = core.place(yes_buyer, mid, BUY, YES, half, shares, 0, 0, ts)
            r2 = core.place(no_buyer, mid, BUY, NO, half, shares, 0, 0, ts)
            if r1 <= 0 or r2 <= 0:
                raise RuntimeError(f"setup mint failed: place returned {r1}, {r2}")
    if hasattr(core, "position"):
        for u in range(n_users):
            pos = tuple(core.position(u, mid))
            if pos != (shares, 0, shares, 0):
                raise RuntimeError(
                    f"setup: user {u} position {pos}, want {shares} each"
                )
    return mid


def as_columns(stream: list[Item]) -> dict[str, Any]:
    """The stream as numpy int64 columns (for batch APIs); imports numpy lazily."""
    import numpy as np

    arr = np.array(stream, dtype=np.int64).reshape(len(stream), 9)
    names = (
        "op",
        "user",
        "side",
        "outcome",
        "price",
        "qty",
        "book_side",
        "yes_price",
        "ref",
    )
    return {name: np.ascontiguousarray(arr[:, i]) for i, name in enumerate(names)}


if __name__ == "__main__":
    import sys
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    t0 = time.perf_counter()
    s = generate(n)
    t1 = time.perf_counter()
    print(f"generated {n:,} commands in {t1 - t0:.2f}s")
    for k, v in describe(s).items():
        print(f"  {k}: {v}")
