"""Replay one day of synthetic order flow through the engine; print statistics.

    python examples/replay_day.py          # 300,000 commands, payout 1000, tick 50
    python examples/replay_day.py --orders 1000000 --payout 100 --tick 1

The day is generated up front with numpy (seeded): arrival times follow an
intraday activity profile (quiet at night, busy mornings and evenings), a
"fair" probability random-walks in logit space with one news jump, and each
command is a resting limit order (~60%, half of them good-till-date with a
lifetime of about half an hour), a marketable one (~25%, mostly IOC) or a
cancel of a random live order (~15%).  Buyers and sellers of both outcomes
take part, so fills are transfers, mints and merges.  Before the day every
user is given cash and an inventory of YES and NO shares (the engine's
``mint``), both in proportion to how active they will be, so most orders are
covered (any that is not is refused with a reason code, as it would be live).

The replay then feeds the commands one by one through the per-call API
(``place`` / ``cancel`` / ``last_events``), keeps every fill, samples the
spread after every command, and prints orders, fills by kind, volume, VWAP,
spread statistics, throughput and an hourly table.  Needs numpy
(``pip install 'probo-engine[sim]'``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from probo_engine import Engine, Event, FillKind, RejectReason

BUY, SELL, YES, NO, GTC, IOC, GTD = 0, 1, 0, 1, 0, 1, 3
PLACE, CANCEL = 1, 2
EV_FILL, EV_CANCELED, EXPIRED = 3, 4, 4
EVENT_FIELDS = Event._fields  # the fields of the engine's event tuples, in order
F = {name: i for i, name in enumerate(EVENT_FIELDS)}
KIND, OID, QTY, CODE = F["kind"], F["oid"], F["qty"], F["code"]
LEFT, MAKER_OID = F["aux"], F["oid2"]
NS = 1_000_000_000
DAY_NS = 24 * 3600 * NS

# Relative activity per hour of the day (an opinion-trading app: busy around
# the morning commute, lunch and, most of all, the evening).
PROFILE = np.array(
    [2, 1, 1, 1, 1, 2, 4, 7, 9, 8, 7, 7, 8, 7, 6, 6, 7, 9, 12, 15, 16, 14, 9, 4],
    dtype=float,
)


def generate(n: int, n_users: int, payout: int, tick: int, seed: int) -> dict:
    """The day's commands as numpy arrays (one entry per command)."""
    rng = np.random.default_rng(seed)
    nl = payout // tick - 1
    hour = rng.choice(24, size=n, p=PROFILE / PROFILE.sum())
    ts = np.sort((hour * 3600 + rng.random(n) * 3600) * NS).astype(np.int64)

    # Fair probability per minute: a logit random walk with one news jump.
    minutes = 24 * 60
    steps = rng.normal(0.0, 0.03, minutes)
    steps[rng.integers(9 * 60, 21 * 60)] += rng.choice([-1.0, 1.0]) * 0.8
    logit = np.cumsum(steps)
    fair = 1.0 / (1.0 + np.exp(-logit))
    fair_ticks = fair[np.minimum(ts // (60 * NS), minutes - 1)] * payout / tick

    u = rng.random(n)
    op = np.where(u < 0.15, CANCEL, PLACE)
    crossing = (u >= 0.15) & (u < 0.40)
    bullish = rng.random(n) < 0.5
    # Ticks away from fair: behind it for resting orders, through it for
    # marketable ones (geometric: mostly 1-3 ticks).
    off = rng.geometric(0.45, n)
    k = np.where(
        crossing == bullish, np.floor(fair_ticks) + off, np.ceil(fair_ticks) - off
    )
    k = np.where(crossing & bullish, np.ceil(fair_ticks) + off - 1, k)
    k = np.where(crossing & ~bullish, np.floor(fair_ticks) - off + 1, k)
    k = np.clip(k, 1, nl).astype(np.int64)
    # Which of the two equivalent orders expresses the view: bullish = buy YES
    # or sell NO, bearish = sell YES or buy NO.
    use_sell = rng.random(n) < 0.4
    side = np.where(use_sell, SELL, BUY)
    outcome = np.where(
        bullish, np.where(use_sell, NO, YES), np.where(use_sell, YES, NO)
    )
    price = np.where(outcome == YES, k * tick, payout - k * tick)
    qty = np.minimum(1 + rng.geometric(0.12, n), 200)
    r = rng.random(n)
    tif = np.where(crossing, np.where(r < 0.8, IOC, GTC), np.where(r < 0.5, GTD, GTC))
    expire = np.where(
        tif == GTD, ts + (rng.exponential(1800, n) * NS).astype(np.int64) + 1, 0
    )
    # A few very active users and many occasional ones.
    w = 1.0 / np.arange(1, n_users + 1) ** 0.8
    user = rng.choice(n_users, size=n, p=w / w.sum())
    activity = np.bincount(user[op == PLACE], minlength=n_users)
    return {
        "activity": activity,
        "ts": ts,
        "op": op,
        "user": user,
        "side": side,
        "outcome": outcome,
        "price": price,
        "qty": qty,
        "tif": tif,
        "expire": expire,
        "pick": rng.random(n),
    }


def setup(payout: int, tick: int, activity: np.ndarray) -> tuple[Engine, int]:
    """An engine, a market, and one user per entry of ``activity`` (orders
    they will place), funded with cash and minted YES+NO pairs to match."""
    eng = Engine()
    m = eng.create_market(payout, tick)
    for n_orders in activity.tolist():
        u = eng.create_user()
        pairs = 200 + 5 * n_orders
        assert eng.deposit(u, payout * (pairs + 1_000 + 10 * n_orders)) == 0
        assert eng.mint(u, m, pairs) == 0
    return eng, m


def replay(eng: Engine, m: int, flow: dict) -> dict:
    """Feed the day through the engine one call at a time; collect results."""
    place, cancel, top, last_events = eng.place, eng.cancel, eng.top, eng.last_events
    fills: list[tuple] = []
    fills_append = fills.append
    rejects: dict[int, int] = {}
    live: list[tuple[int, int]] = []  # (user, oid) of orders that rested
    gone: set[int] = set()  # of those, the ones since filled, expired or canceled
    n_cancel_ok = n_cancel_late = n_cancel_none = n_events = n_expired = 0
    tops = []
    tops_append = tops.append
    t0 = time.perf_counter()
    for ts, op, user, side, outcome, price, qty, tif, expire, pick in zip(
        flow["ts"].tolist(),
        flow["op"].tolist(),
        flow["user"].tolist(),
        flow["side"].tolist(),
        flow["outcome"].tolist(),
        flow["price"].tolist(),
        flow["qty"].tolist(),
        flow["tif"].tolist(),
        flow["expire"].tolist(),
        flow["pick"].tolist(),
        strict=True,
    ):
        if op == CANCEL:
            # The owner of a random live resting order cancels it.
            r = 0
            while live and not r:
                i = int(pick * len(live))
                uid, r = live[i]
                live[i] = live[-1]
                live.pop()
                if r in gone:
                    gone.discard(r)
                    r = 0
            if not r:
                n_cancel_none += 1
                tops_append(top(m))
                continue
            if cancel(uid, r, ts) == 0:
                n_cancel_ok += 1
            else:  # expired at this very ts, before the cancel ran
                n_cancel_late += 1
        else:
            r = place(user, m, side, outcome, price, qty, tif, 0, ts, False, 0, expire)
        filled = 0
        if eng.n_last_events > 2:  # fills, expiries or self-trade cancels
            for e in last_events():
                k = e[KIND]
                if k == EV_FILL:
                    fills_append(e)
                    filled += e[QTY]
                    if e[LEFT] == 0:  # the maker order is used up
                        gone.add(e[MAKER_OID])
                elif k == EV_CANCELED and e[OID] != r:  # expired or self-trade
                    gone.add(e[OID])
                    n_expired += e[CODE] == EXPIRED
        if op == PLACE:
            if r < 0:
                rejects[-r] = rejects.get(-r, 0) + 1
            elif tif != IOC and filled < qty:
                live.append((user, r))
        n_events += eng.n_last_events
        tops_append(top(m))
    elapsed = time.perf_counter() - t0
    return {
        "elapsed": elapsed,
        "fills": fills,
        "rejects": rejects,
        "tops": tops,
        "n_cancel_ok": n_cancel_ok,
        "n_cancel_late": n_cancel_late,
        "n_cancel_none": n_cancel_none,
        "n_events": n_events,
        "n_expired": n_expired,
    }


def report(eng: Engine, m: int, flow: dict, out: dict, tick: int) -> list[str]:
    """Summary statistics as printable lines."""
    n = len(flow["ts"])
    places = flow["op"] == PLACE
    n_place = int(places.sum())
    n_rej = sum(out["rejects"].values())
    f = np.array(out["fills"], dtype=np.int64).reshape(-1, len(EVENT_FIELDS))
    f_ts, f_price, f_qty, f_kind = (f[:, F[k]] for k in ("ts", "price", "qty", "code"))
    vol = int(f_qty.sum())
    notional = int((f_price * f_qty).sum())
    tops = np.array(out["tops"], dtype=np.int64).reshape(-1, 4)
    two = (tops[:, 0] > 0) & (tops[:, 2] > 0)
    spread = (tops[:, 2] - tops[:, 0])[two] / tick
    dt = np.diff(np.append(flow["ts"], DAY_NS))[two]
    tw = float((spread * dt).sum() / dt.sum()) if dt.sum() else float("nan")
    el = out["elapsed"]
    lines = [
        f"replayed {n:,} commands (one synthetic day) in {el:.2f}s: "
        f"{n / el:,.0f} commands/s, {out['n_events'] / el:,.0f} events/s",
        f"orders   {n_place:,} placed: {n_place - n_rej:,} accepted, {n_rej:,} rejected"
        + (
            " ("
            + ", ".join(
                f"{RejectReason(c).name} {k:,}"
                for c, k in sorted(out["rejects"].items())
            )
            + ")"
            if n_rej
            else ""
        ),
        f"         GTC {int((places & (flow['tif'] == GTC)).sum()):,}, "
        f"GTD {int((places & (flow['tif'] == GTD)).sum()):,} "
        f"({out['n_expired']:,} expired), "
        f"IOC {int((places & (flow['tif'] == IOC)).sum()):,}",
        f"cancels  {int((~places).sum()):,}: {out['n_cancel_ok']:,} canceled, "
        f"{out['n_cancel_late']:,} already gone, "
        f"{out['n_cancel_none']:,} with nothing live to cancel",
        f"fills    {len(f):,}: "
        + ", ".join(
            f"{k.name.lower()} {int((f_kind == k).sum()):,} "
            f"({int(f_qty[f_kind == k].sum()):,} sh)"
            for k in FillKind
        ),
        f"volume   {vol:,} shares, notional {notional:,} (YES price x qty)",
    ]
    if vol:
        lines.append(
            f"VWAP     {notional / vol:.1f} (YES)   open {f_price[0]}  high "
            f"{f_price.max()}  low {f_price.min()}  close {f_price[-1]}"
        )
    if len(spread):
        lines.append(
            f"spread   mean {spread.mean():.2f} ticks (time-weighted {tw:.2f}), median "
            f"{np.median(spread):g}, p95 {np.percentile(spread, 95):g}; one-sided "
            f"after {100 * (1 - two.mean()):.2f}% of commands"
        )
    _, n_users, _, n_live = eng.totals()
    lines.append(
        f"book     end of day: {n_live:,} live orders, {eng.market(m)[3]:,} "
        f"outstanding pairs, {n_users:,} users; invariants hold"
    )
    lines.append("")
    lines.append("hour  commands   fills    volume    VWAP  mean spread")
    hour_c = flow["ts"] // (3600 * NS)
    hour_f = f_ts // (3600 * NS)
    for h in range(24):
        sel = hour_f == h
        q = f_qty[sel]
        vwap = f"{(f_price[sel] * q).sum() / q.sum():7.1f}" if q.sum() else "      -"
        sp = (tops[:, 2] - tops[:, 0])[(hour_c == h) & two] / tick
        msp = f"{sp.mean():11.2f}" if len(sp) else "          -"
        lines.append(
            f"{h:02d}h  {int((hour_c == h).sum()):8,} {int(sel.sum()):7,} "
            f"{int(q.sum()):9,} {vwap} {msp}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=300_000, help="commands in the day")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--payout", type=int, default=1000)
    ap.add_argument("--tick", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    flow = generate(args.orders, args.users, args.payout, args.tick, args.seed)
    eng, m = setup(args.payout, args.tick, flow["activity"])
    t1 = time.perf_counter()
    out = replay(eng, m, flow)
    eng.check_invariants()
    print(f"generated the day and set up {args.users} users in {t1 - t0:.2f}s")
    print("\n".join(report(eng, m, flow, out, args.tick)))


if __name__ == "__main__":
    main()
