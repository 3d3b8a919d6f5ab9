"""The simulation loop: :func:`simulate`.

One market, ``n_steps`` steps, one agent activation per step, every order
through the engine's per-call API (``place``/``cancel``/``last_events``).

Reproducibility: every random number comes from numpy ``Generator`` streams
spawned from ``SeedSequence(config.seed)``, one stream per purpose (which agent
acts, three uniforms and one normal per step, the makers' starting beliefs,
the informed agents' errors, the outcome).  Each step draws the same numbers
whatever happens in the market, and the streams are drawn in chunks that
concatenate exactly, so the results depend on the config alone -- not on the
chunk size or the progress bar -- and are the same on every platform (numpy
keeps ``Generator`` streams portable; a new numpy release may, rarely, change
how a distribution is drawn).

The hot loop keeps to plain Python integers and floats in local variables:
random numbers are drawn a chunk at a time with numpy and turned into lists,
fills are kept as the engine's own event tuples until the end of the chunk,
and the only objects made per order are the ones the engine returns.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

from probo_engine._book import Core
from probo_engine._progress import ProgressBar
from probo_engine.sim._deps import require
from probo_engine.sim.config import AgentType, SimConfig
from probo_engine.sim.result import (
    AGENT_DTYPE,
    PRICE_DTYPE,
    TRADE_DTYPE,
    DepthSamples,
    Holdings,
    SimResult,
)
from probo_engine.sim.settlement import resolve
from probo_engine.types import Event, FeeMode

__all__ = ["simulate"]

# Core constants (docs/semantics.md); plain ints so the loop compares ints.
_BUY, _SELL = 0, 1
_YES, _NO = 0, 1
_GTC, _IOC = 0, 1
_EV_FILL = 3
# Fields of the engine's event tuples, by name (docs/semantics.md, "Events").
EVENT_FIELDS: tuple[str, ...] = Event._fields
_F = {name: i for i, name in enumerate(EVENT_FIELDS)}
_KIND = _F["kind"]
_PRICE = _F["price"]
_UNKNOWN_ORDER = -302  # cancel refuses an unknown order with -code
_NOISE, _MAKER, _INFORMED = (
    int(AgentType.NOISE),
    int(AgentType.MAKER),
    int(AgentType.INFORMED),
)

_CHUNK = 16_384


def simulate(
    config: SimConfig | None = None, /, *, _chunk: int = _CHUNK, **overrides: Any
) -> SimResult:
    """Run one seeded simulation and return its :class:`SimResult`.

    ``simulate()`` runs the defaults; ``simulate(cfg)`` a given
    :class:`SimConfig`; keyword arguments override single fields
    (``simulate(seed=3, n_steps=50_000)``, or ``simulate(cfg, payout=100,
    tick=1)``).

    At the end the market is resolved by :func:`probo_engine.sim.settlement.resolve`
    (the core's ``resolve`` command, at time ``n_steps``): resting orders are
    canceled and each winning share pays ``payout``.  Every agent's P&L is
    ``final cash - deposit``; the P&Ls before fees sum to exactly zero.  The
    engine is kept in ``result.engine`` (resolved) for inspection.
    """
    cfg = config if config is not None else SimConfig()
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    np = require("numpy", "probo_engine.sim")
    from probo_engine.engine import Engine

    t_start = time.perf_counter()

    # ------------------------------------------------------------ random streams
    streams = np.random.SeedSequence(cfg.seed).spawn(8)
    g_agent, g_u1, g_u2, g_u3, g_z, g_outcome, g_belief, g_informed = (
        np.random.Generator(np.random.PCG64(s)) for s in streams
    )
    yes_won = (
        bool(g_outcome.random() < cfg.true_prob) if cfg.outcome is None else cfg.outcome
    )

    # ----------------------------------------------------------- market, agents
    U, T = cfg.payout, cfg.tick
    NL = cfg.n_prices  # highest price index: prices are k*T for k in 1..NL
    eng = Engine()
    mid = eng.create_market(
        U, T, 0, cfg.taker_fee, cfg.maker_fee, FeeMode(cfg.fee_mode)
    )
    atype: list[int] = (
        [_NOISE] * cfg.n_noise + [_MAKER] * cfg.n_makers + [_INFORMED] * cfg.n_informed
    )
    A = len(atype)
    cash_units = {
        _NOISE: cfg.noise_cash,
        _MAKER: cfg.maker_cash,
        _INFORMED: cfg.informed_cash,
    }
    users: list[int] = []
    deposits: list[int] = []
    for t in atype:
        uid = eng.create_user()
        amount = cash_units[t] * U
        if amount > 0 and eng.deposit(uid, amount, 0) != 0:
            raise ValueError(f"deposit of {amount} refused (cash limit)")
        users.append(uid)
        deposits.append(amount)

    weights = np.zeros(A)
    for t, n, w in (
        (_NOISE, cfg.n_noise, cfg.noise_weight),
        (_MAKER, cfg.n_makers, cfg.maker_weight),
        (_INFORMED, cfg.n_informed, cfg.informed_weight),
    ):
        if n:
            weights[np.asarray(atype) == t] = w / n
    cdf = np.cumsum(weights / weights.sum())

    belief: list[float] = [0.0] * A
    fair: list[float] = [0.0] * A
    makers = [a for a in range(A) if atype[a] == _MAKER]
    informed = [a for a in range(A) if atype[a] == _INFORMED]
    b0 = g_belief.normal(cfg.maker_prior, cfg.maker_prior_sd, len(makers))
    for a, b in zip(makers, np.clip(b0, 0.01, 0.99).tolist(), strict=True):
        belief[a] = b
    f0 = g_informed.normal(cfg.true_prob, cfg.informed_noise, len(informed))
    for a, f in zip(informed, np.clip(f0, 0.0, 1.0).tolist(), strict=True):
        fair[a] = f * U

    # --------------------------------------------------------------- outputs
    n_steps = cfg.n_steps
    prices_top = np.zeros((n_steps, 4), dtype=np.int64)
    prices_last = np.zeros(n_steps, dtype=np.int64)
    trade_chunks: list[Any] = []
    K = cfg.sample_every
    N = cfg.depth_levels
    S = n_steps // K
    depth = DepthSamples.empty(S, N)
    hold = Holdings.empty(S, A)

    n_orders = [0] * A
    n_rejects = [0] * A
    n_cancels = [0] * A
    reject_codes: dict[int, int] = {}
    n_cancel_missed = 0

    # --------------------------------------------------------- bound methods
    # plain ints in the hot loop (the stubs type the enum arguments)
    place: Callable[..., int] = eng.place
    cancel = eng.cancel
    last_events = eng.last_events
    # the core's raw tuples in the hot loop (Engine's named records cost more)
    top = Core.top.__get__(eng)
    position = Core.position.__get__(eng)
    balance = eng.balance
    fee_account = eng.fees
    floor = math.floor
    ceil = math.ceil
    fills: list[tuple[int, ...]] = []
    fills_append = fills.append
    last = 0  # last trade price (YES terms), 0 before the first trade

    def send(
        a: int, side: int, outcome: int, price: int, qty: int, tif: int, step: int
    ) -> int:
        # Place one order for agent ``a``; keep its fills; return the engine's
        # result (order id > 0, or -code).
        nonlocal last
        n_orders[a] += 1
        r: int = place(users[a], mid, side, outcome, price, qty, tif, 0, step)
        if r < 0:
            n_rejects[a] += 1
            reject_codes[-r] = reject_codes.get(-r, 0) + 1
        elif eng.n_last_events > 2:  # 2 = accepted + (level | IOC cancel): no fill
            for e in last_events():
                if e[_KIND] == _EV_FILL:
                    fills_append(e)
                    last = e[_PRICE]
        return r

    def sample(s: int, step: int) -> None:
        bids, asks = eng.depth(mid, N)
        depth.step[s] = step
        for i, (p, q, c) in enumerate(bids):
            depth.bid_price[s, i] = p
            depth.bid_qty[s, i] = q
            depth.bid_orders[s, i] = c
        for i, (p, q, c) in enumerate(asks):
            depth.ask_price[s, i] = p
            depth.ask_qty[s, i] = q
            depth.ask_orders[s, i] = c
        hold.step[s] = step
        hold.fees[s] = fee_account()
        hold.cash[s] = [sum(balance(u)) for u in users]
        pos = [position(u, mid) for u in users]
        hold.yes[s] = [p[0] + p[1] for p in pos]
        hold.no[s] = [p[2] + p[3] for p in pos]

    # ------------------------------------------------------------ parameters
    inv_T = 1.0 / T
    U_over_T = U / T
    center = (NL + 1) / 2.0
    # noise
    n_maxq = cfg.noise_max_qty
    p_cancel = cfg.noise_cancel_prob
    p_market = cfg.noise_cancel_prob + cfg.noise_market_prob
    sd_t = cfg.noise_price_sd * U_over_T
    max_open = cfg.noise_max_open
    open_orders: list[list[int]] = [[] for _ in range(A)]
    # makers
    alpha = cfg.maker_learning
    inv_U = 1.0 / U
    skew = cfg.maker_skew
    hs_t = cfg.maker_half_spread * U_over_T
    m_size = cfg.maker_size
    m_maxinv = cfg.maker_max_inventory
    q_bid = [0] * A
    q_ask = [0] * A
    # informed
    edge = cfg.informed_edge * U
    i_maxq = cfg.informed_max_qty
    i_maxpos = cfg.informed_max_position
    k_buy = [min(NL, floor((fair[a] - edge) * inv_T + 1e-9)) for a in range(A)]
    k_sell = [max(1, ceil((fair[a] + edge) * inv_T - 1e-9)) for a in range(A)]

    bar = ProgressBar(n_steps, enabled=cfg.progress)
    next_sample = K - 1
    s_idx = 0

    # ------------------------------------------------------------- the loop
    for base in range(0, n_steps, _chunk):
        C = min(_chunk, n_steps - base)
        who = np.minimum(np.searchsorted(cdf, g_agent.random(C), side="right"), A - 1)
        tops: list[tuple[int, int, int, int]] = []
        tops_append = tops.append
        lasts: list[int] = []
        lasts_append = lasts.append
        for step, a, u1, u2, u3, z in zip(
            range(base, base + C),
            who.tolist(),
            g_u1.random(C).tolist(),
            g_u2.random(C).tolist(),
            g_u3.random(C).tolist(),
            g_z.standard_normal(C).tolist(),
            strict=True,
        ):
            kind = atype[a]
            uid = users[a]
            if kind == _NOISE:
                if u2 < p_cancel:
                    oo = open_orders[a]
                    if oo:
                        n_cancels[a] += 1
                        if cancel(uid, oo.pop(0), step) == _UNKNOWN_ORDER:
                            n_cancel_missed += 1
                else:
                    bp, _bq, ap, _aq = top(mid)
                    if bp and ap:
                        ref = (bp + ap) * 0.5 * inv_T
                    elif last:
                        ref = last * inv_T
                    elif bp:
                        ref = bp * inv_T
                    elif ap:
                        ref = ap * inv_T
                    else:
                        ref = center
                    off = abs(z) * sd_t
                    bullish = u1 < 0.5
                    if u2 < p_market:  # marketable: through the best, IOC
                        tif = _IOC
                        if bullish:
                            k = floor((ap * inv_T if ap else ref) + off)
                        else:
                            k = ceil((bp * inv_T if bp else ref) - off)
                    else:  # passive: behind the mid, never through the best
                        tif = _GTC
                        if bullish:
                            k = floor(ref - off)
                            if ap and k * T >= ap:
                                k = ap // T - 1
                        else:
                            k = ceil(ref + off)
                            if bp and k * T <= bp:
                                k = bp // T + 1
                    if k < 1:
                        k = 1
                    elif k > NL:
                        k = NL
                    qty = 1 + int(u3 * n_maxq)
                    ya, _yl, na, _nl = position(uid, mid)
                    if bullish:
                        if na >= qty:
                            r = send(a, _SELL, _NO, U - k * T, qty, tif, step)
                        else:
                            r = send(a, _BUY, _YES, k * T, qty, tif, step)
                    elif ya >= qty:
                        r = send(a, _SELL, _YES, k * T, qty, tif, step)
                    else:
                        r = send(a, _BUY, _NO, U - k * T, qty, tif, step)
                    if r > 0 and tif == _GTC:
                        oo = open_orders[a]
                        oo.append(r)
                        if len(oo) > max_open:
                            n_cancels[a] += 1
                            if cancel(uid, oo.pop(0), step) == _UNKNOWN_ORDER:
                                n_cancel_missed += 1
            elif kind == _MAKER:
                b = belief[a]
                if last:
                    b += alpha * (last * inv_U - b)
                    belief[a] = b
                if q_bid[a]:
                    n_cancels[a] += 1
                    if cancel(uid, q_bid[a], step) == _UNKNOWN_ORDER:
                        n_cancel_missed += 1
                    q_bid[a] = 0
                if q_ask[a]:
                    n_cancels[a] += 1
                    if cancel(uid, q_ask[a], step) == _UNKNOWN_ORDER:
                        n_cancel_missed += 1
                    q_ask[a] = 0
                ya, yl, na, nl = position(uid, mid)
                inv = ya + yl - na - nl
                c = (b - skew * inv) * U_over_T
                kb = floor(c - hs_t)
                ka = ceil(c + hs_t)
                if ka <= kb:
                    ka = kb + 1
                if inv < m_maxinv and 1 <= kb <= NL:
                    if na >= m_size:
                        r = send(a, _SELL, _NO, U - kb * T, m_size, _GTC, step)
                    else:
                        r = send(a, _BUY, _YES, kb * T, m_size, _GTC, step)
                    if r > 0:
                        q_bid[a] = r
                if inv > -m_maxinv and 1 <= ka <= NL:
                    if ya >= m_size:
                        r = send(a, _SELL, _YES, ka * T, m_size, _GTC, step)
                    else:
                        r = send(a, _BUY, _NO, U - ka * T, m_size, _GTC, step)
                    if r > 0:
                        q_ask[a] = r
            else:  # informed
                bp, _bq, ap, _aq = top(mid)
                kbuy = k_buy[a]
                ksell = k_sell[a]
                if (ap and kbuy >= 1 and ap <= kbuy * T) or (
                    bp and ksell <= NL and bp >= ksell * T
                ):
                    ya, yl, na, nl = position(uid, mid)
                    inv = ya + yl - na - nl
                    qty = 1 + int(u3 * i_maxq)
                    if ap and kbuy >= 1 and ap <= kbuy * T:
                        if inv < i_maxpos:
                            if na >= qty:
                                send(a, _SELL, _NO, U - kbuy * T, qty, _IOC, step)
                            else:
                                send(a, _BUY, _YES, kbuy * T, qty, _IOC, step)
                    elif inv > -i_maxpos:
                        if ya >= qty:
                            send(a, _SELL, _YES, ksell * T, qty, _IOC, step)
                        else:
                            send(a, _BUY, _NO, U - ksell * T, qty, _IOC, step)
            tops_append(top(mid))
            lasts_append(last)
            if step == next_sample:
                sample(s_idx, step)
                s_idx += 1
                next_sample += K
        prices_top[base : base + C] = tops
        prices_last[base : base + C] = lasts
        if fills:
            trade_chunks.append(np.array(fills, dtype=np.int64))
            fills.clear()
        bar.update(C)
    bar.close()
    elapsed = time.perf_counter() - t_start

    # ------------------------------------------------------------ resolution
    settle = resolve(eng, mid, users, U if yes_won else 0, ts=n_steps)

    # --------------------------------------------------------------- results
    uid_to_agent = np.full(max(users) + 1, -1, dtype=np.int64)
    uid_to_agent[np.asarray(users)] = np.arange(A)
    ev = (
        np.concatenate(trade_chunks)
        if trade_chunks
        else np.zeros((0, len(EVENT_FIELDS)), dtype=np.int64)
    )
    F = _F
    atype_arr = np.asarray(atype, dtype=np.int8)
    trades = np.zeros(len(ev), dtype=TRADE_DTYPE)
    trades["step"] = ev[:, F["ts"]]
    trades["price"] = ev[:, F["price"]]
    trades["qty"] = ev[:, F["qty"]]
    trades["kind"] = ev[:, F["code"]]
    trades["taker"] = uid_to_agent[ev[:, F["user"]]]
    trades["maker"] = uid_to_agent[ev[:, F["user2"]]]
    trades["taker_side"] = ev[:, F["side"]]
    trades["taker_outcome"] = ev[:, F["outcome"]]
    trades["taker_type"] = atype_arr[trades["taker"]]
    trades["maker_type"] = atype_arr[trades["maker"]]
    trades["taker_oid"] = ev[:, F["oid"]]
    trades["maker_oid"] = ev[:, F["oid2"]]
    trades["taker_fee"] = ev[:, F["fee"]]
    trades["maker_fee"] = ev[:, F["fee2"]]

    prices = np.zeros(n_steps, dtype=PRICE_DTYPE)
    prices["step"] = np.arange(n_steps)
    # the core reports an empty side / no trade yet as 0: NaN here (prices are
    # never 0 on the grid)
    prices["last"] = np.where(prices_last > 0, prices_last, np.nan)
    prices["bid"] = np.where(prices_top[:, 1] > 0, prices_top[:, 0], np.nan)
    prices["bid_qty"] = prices_top[:, 1]
    prices["ask"] = np.where(prices_top[:, 3] > 0, prices_top[:, 2], np.nan)
    prices["ask_qty"] = prices_top[:, 3]
    two_sided = (prices_top[:, 1] > 0) & (prices_top[:, 3] > 0)
    prices["mid"] = np.where(two_sided, (prices["bid"] + prices["ask"]) / 2.0, np.nan)
    prices["spread"] = np.where(
        two_sided, (prices["ask"] - prices["bid"]).astype(float), np.nan
    )

    agents = np.zeros(A, dtype=AGENT_DTYPE)
    agents["agent"] = np.arange(A)
    agents["user"] = users
    agents["type"] = atype_arr
    agents["deposit"] = deposits
    agents["cash"] = settle.cash
    agents["yes"] = settle.yes
    agents["no"] = settle.no
    agents["payout"] = settle.payout
    agents["final_cash"] = settle.final_cash
    agents["pnl"] = settle.final_cash - np.asarray(deposits, dtype=np.int64)
    agents["fees"] = np.bincount(
        trades["taker"], weights=trades["taker_fee"], minlength=A
    ).astype(np.int64) + np.bincount(
        trades["maker"], weights=trades["maker_fee"], minlength=A
    ).astype(np.int64)
    agents["pnl_before_fees"] = agents["pnl"] + agents["fees"]
    agents["pnl_expected"] = (
        settle.cash
        + settle.yes * (cfg.true_prob * U)
        + settle.no * ((1.0 - cfg.true_prob) * U)
        - np.asarray(deposits, dtype=np.int64)
    )
    agents["n_orders"] = n_orders
    agents["n_rejects"] = n_rejects
    agents["n_cancels"] = n_cancels
    agents["n_trades"] = np.bincount(trades["taker"], minlength=A) + np.bincount(
        trades["maker"], minlength=A
    )
    agents["volume"] = np.bincount(
        trades["taker"], weights=trades["qty"], minlength=A
    ).astype(np.int64) + np.bincount(
        trades["maker"], weights=trades["qty"], minlength=A
    ).astype(np.int64)
    agents["belief"] = np.where(atype_arr == _MAKER, belief, np.nan)
    agents["fair"] = np.where(atype_arr == _INFORMED, np.asarray(fair) / U, np.nan)

    n_ord = int(sum(n_orders))
    stats = {
        "n_steps": n_steps,
        "n_orders": n_ord,
        "n_rejects": int(sum(n_rejects)),
        "reject_codes": dict(sorted(reject_codes.items())),
        "n_cancels": int(sum(n_cancels)),
        "n_cancel_missed": n_cancel_missed,
        "n_trades": len(trades),
        "volume": int(trades["qty"].sum()),
        "n_canceled_at_resolution": settle.n_canceled,
        "fee_account": int(eng.fees()),
        "elapsed_s": elapsed,
        "orders_per_s": n_ord / elapsed if elapsed > 0 else math.inf,
    }
    return SimResult(
        config=cfg,
        yes_won=yes_won,
        market=mid,
        trades=trades,
        prices=prices,
        depth=depth,
        holdings=hold,
        agents=agents,
        stats=stats,
        engine=eng,
    )
