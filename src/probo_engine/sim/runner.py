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

The agents' strategies are in :mod:`probo_engine.sim.agents`; this module
draws the random numbers, picks who acts at each step, samples the book, and
turns what happened into the result's arrays.  The hot loop keeps to plain
Python integers and floats: random numbers are drawn a chunk at a time with
numpy and turned into lists, fills are kept as the engine's own event tuples
until the end of the chunk, and the only objects made per order are the ones
the engine returns.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, NamedTuple

from probo_engine._progress import ProgressBar
from probo_engine.sim._deps import require
from probo_engine.sim.agents import (
    AgentAction,
    InformedTraders,
    MarketMakers,
    NoiseTraders,
    SharedMarket,
)
from probo_engine.sim.config import AgentType, SimConfig
from probo_engine.sim.result import (
    AGENT_DTYPE,
    PRICE_DTYPE,
    TRADE_DTYPE,
    DepthSamples,
    Holdings,
    SimResult,
)
from probo_engine.sim.settlement import Settlement, resolve
from probo_engine.types import Event, FeeMode

__all__ = ["simulate"]

# Fields of the engine's event tuples, by name (docs/semantics.md, "Events").
EVENT_FIELDS: tuple[str, ...] = Event._fields
_FIELD_AT = {name: i for i, name in enumerate(EVENT_FIELDS)}
_NOISE, _MAKER, _INFORMED = (
    int(AgentType.NOISE),
    int(AgentType.MAKER),
    int(AgentType.INFORMED),
)

_CHUNK = 16_384


class _Streams(NamedTuple):
    """One numpy ``Generator`` per purpose, spawned from the seed."""

    agent: Any  #: which agent acts at each step
    side: Any  #: the four per-step draws handed to ``act``
    action: Any
    size: Any
    offset: Any  #: (a standard normal)
    outcome: Any
    belief: Any  #: the makers' starting beliefs
    informed: Any  #: the informed agents' errors


class _Tape(NamedTuple):
    """What the loop recorded: the book after each step, the fills, samples."""

    tops: Any  #: (n_steps, 4) bid price, bid qty, ask price, ask qty
    lasts: Any  #: (n_steps,) last trade price (0: none yet)
    fills: Any  #: (n_fills, len(EVENT_FIELDS)) the engine's fill events
    depth: DepthSamples
    holdings: Holdings


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
    streams = _Streams(
        *(
            np.random.Generator(np.random.PCG64(s))
            for s in np.random.SeedSequence(cfg.seed).spawn(8)
        )
    )
    yes_won = (
        bool(streams.outcome.random() < cfg.true_prob)
        if cfg.outcome is None
        else cfg.outcome
    )
    eng = Engine()
    mid = eng.create_market(
        cfg.payout, cfg.tick, 0, cfg.taker_fee, cfg.maker_fee, FeeMode(cfg.fee_mode)
    )
    kinds = (
        [_NOISE] * cfg.n_noise + [_MAKER] * cfg.n_makers + [_INFORMED] * cfg.n_informed
    )
    users, deposits = _open_accounts(eng, cfg, kinds)
    market = SharedMarket(eng, mid, users, cfg.payout, cfg.tick, cfg.self_trade)
    beliefs, fair = _starting_views(np, cfg, kinds, streams)
    makers = MarketMakers(cfg, market, beliefs)
    by_kind: dict[int, AgentAction] = {
        _NOISE: NoiseTraders(cfg, market, len(kinds)).act,
        _MAKER: makers.act,
        _INFORMED: InformedTraders(cfg, market, fair).act,
    }
    actions = [by_kind[kind] for kind in kinds]
    tape = _run(np, cfg, market, actions, _activation_cdf(np, cfg, kinds), streams,
                _chunk)  # fmt: skip
    elapsed = time.perf_counter() - t_start

    settle = resolve(eng, mid, users, cfg.payout if yes_won else 0, ts=cfg.n_steps)
    trades = _trades(np, tape.fills, users, kinds)
    agents = _agents(np, cfg, market, settle, trades, kinds, deposits)
    agents["belief"] = np.where(agents["type"] == _MAKER, makers.belief, np.nan)
    agents["fair"] = np.where(
        agents["type"] == _INFORMED, np.asarray(fair) / cfg.payout, np.nan
    )
    n_orders = int(sum(market.n_orders))
    stats = {
        "n_steps": cfg.n_steps,
        "n_orders": n_orders,
        "n_rejects": int(sum(market.n_rejects)),
        "reject_codes": dict(sorted(market.reject_codes.items())),
        "n_cancels": int(sum(market.n_cancels)),
        "n_cancel_missed": market.n_cancel_missed,
        "n_trades": len(trades),
        "volume": int(trades["qty"].sum()),
        "n_canceled_at_resolution": settle.n_canceled,
        "fee_account": int(eng.fees()),
        "elapsed_s": elapsed,
        "orders_per_s": n_orders / elapsed if elapsed > 0 else math.inf,
    }
    return SimResult(
        config=cfg,
        yes_won=yes_won,
        market=mid,
        trades=trades,
        prices=_prices(np, tape),
        depth=tape.depth,
        holdings=tape.holdings,
        agents=agents,
        stats=stats,
        engine=eng,
    )


def _open_accounts(
    eng: Any, cfg: SimConfig, kinds: list[int]
) -> tuple[list[int], list[int]]:
    """One user per agent with its starting cash: ``(users, deposits)``."""
    cash_units = {
        _NOISE: cfg.noise_cash,
        _MAKER: cfg.maker_cash,
        _INFORMED: cfg.informed_cash,
    }
    users: list[int] = []
    deposits: list[int] = []
    for kind in kinds:
        uid = eng.create_user()
        amount = cash_units[kind] * cfg.payout
        if amount > 0 and eng.deposit(uid, amount, 0) != 0:
            raise ValueError(f"deposit of {amount} refused (cash limit)")
        users.append(uid)
        deposits.append(amount)
    return users, deposits


def _starting_views(
    np: Any, cfg: SimConfig, kinds: list[int], streams: _Streams
) -> tuple[list[float], list[float]]:
    """Per agent: the makers' starting beliefs (probabilities) and the informed
    agents' fair values (minor units); 0.0 for the other kinds."""
    n = len(kinds)
    beliefs: list[float] = [0.0] * n
    fair: list[float] = [0.0] * n
    makers = [a for a in range(n) if kinds[a] == _MAKER]
    informed = [a for a in range(n) if kinds[a] == _INFORMED]
    b0 = streams.belief.normal(cfg.maker_prior, cfg.maker_prior_sd, len(makers))
    for a, b in zip(makers, np.clip(b0, 0.01, 0.99).tolist(), strict=True):
        beliefs[a] = b
    f0 = streams.informed.normal(cfg.true_prob, cfg.informed_noise, len(informed))
    for a, f in zip(informed, np.clip(f0, 0.0, 1.0).tolist(), strict=True):
        fair[a] = f * cfg.payout
    return beliefs, fair


def _activation_cdf(np: Any, cfg: SimConfig, kinds: list[int]) -> Any:
    """Cumulative probability of each agent being the one that acts: each
    kind's weight, split evenly among its agents."""
    weights = np.zeros(len(kinds))
    for kind, n, w in (
        (_NOISE, cfg.n_noise, cfg.noise_weight),
        (_MAKER, cfg.n_makers, cfg.maker_weight),
        (_INFORMED, cfg.n_informed, cfg.informed_weight),
    ):
        if n:
            weights[np.asarray(kinds) == kind] = w / n
    return np.cumsum(weights / weights.sum())


def _run(
    np: Any,
    cfg: SimConfig,
    market: SharedMarket,
    actions: list[AgentAction],
    cdf: Any,
    streams: _Streams,
    chunk: int,
) -> _Tape:
    """The steps: one agent acts per step; the book is recorded after each."""
    n_steps = cfg.n_steps
    n_agents = len(actions)
    every = cfg.sample_every
    levels = cfg.depth_levels
    tops_all = np.zeros((n_steps, 4), dtype=np.int64)
    lasts_all = np.zeros(n_steps, dtype=np.int64)
    depth = DepthSamples.empty(n_steps // every, levels)
    holdings = Holdings.empty(n_steps // every, n_agents)
    fill_chunks: list[Any] = []
    best = market.best
    bar = ProgressBar(n_steps, enabled=cfg.progress)
    next_sample = every - 1
    n_samples = 0
    for base in range(0, n_steps, chunk):
        size = min(chunk, n_steps - base)
        who = np.minimum(
            np.searchsorted(cdf, streams.agent.random(size), side="right"),
            n_agents - 1,
        )
        tops: list[tuple[int, int, int, int]] = []
        tops_append = tops.append
        lasts: list[int] = []
        lasts_append = lasts.append
        for step, a, u1, u2, u3, z in zip(
            range(base, base + size),
            who.tolist(),
            streams.side.random(size).tolist(),
            streams.action.random(size).tolist(),
            streams.size.random(size).tolist(),
            streams.offset.standard_normal(size).tolist(),
            strict=True,
        ):
            actions[a](a, step, u1, u2, u3, z)
            tops_append(best())
            lasts_append(market.last)
            if step == next_sample:
                _sample(market, depth, holdings, n_samples, step, levels)
                n_samples += 1
                next_sample += every
        tops_all[base : base + size] = tops
        lasts_all[base : base + size] = lasts
        if market.fills:
            fill_chunks.append(np.array(market.fills, dtype=np.int64))
            market.fills.clear()
        bar.update(size)
    bar.close()
    fills = (
        np.concatenate(fill_chunks)
        if fill_chunks
        else np.zeros((0, len(EVENT_FIELDS)), dtype=np.int64)
    )
    return _Tape(tops_all, lasts_all, fills, depth, holdings)


def _sample(
    market: SharedMarket,
    depth: DepthSamples,
    holdings: Holdings,
    s: int,
    step: int,
    levels: int,
) -> None:
    """Record sample ``s``: the top ``levels`` of the book, everyone's holdings."""
    eng = market.engine
    bids, asks = eng.depth(market.market, levels)
    depth.step[s] = step
    for i, (p, q, c) in enumerate(bids):
        depth.bid_price[s, i] = p
        depth.bid_qty[s, i] = q
        depth.bid_orders[s, i] = c
    for i, (p, q, c) in enumerate(asks):
        depth.ask_price[s, i] = p
        depth.ask_qty[s, i] = q
        depth.ask_orders[s, i] = c
    holdings.step[s] = step
    holdings.fees[s] = eng.fees()
    holdings.cash[s] = [sum(eng.balance(u)) for u in market.users]
    pos = [market.position(u, market.market) for u in market.users]
    holdings.yes[s] = [p[0] + p[1] for p in pos]
    holdings.no[s] = [p[2] + p[3] for p in pos]


def _trades(np: Any, ev: Any, users: list[int], kinds: list[int]) -> Any:
    """The fill events as :data:`TRADE_DTYPE` rows (users as agent numbers)."""
    uid_to_agent = np.full(max(users) + 1, -1, dtype=np.int64)
    uid_to_agent[np.asarray(users)] = np.arange(len(users))
    kind_of = np.asarray(kinds, dtype=np.int8)
    at = _FIELD_AT
    trades = np.zeros(len(ev), dtype=TRADE_DTYPE)
    trades["step"] = ev[:, at["ts"]]
    trades["price"] = ev[:, at["price"]]
    trades["qty"] = ev[:, at["qty"]]
    trades["kind"] = ev[:, at["code"]]
    trades["taker"] = uid_to_agent[ev[:, at["user"]]]
    trades["maker"] = uid_to_agent[ev[:, at["user2"]]]
    trades["taker_side"] = ev[:, at["side"]]
    trades["taker_outcome"] = ev[:, at["outcome"]]
    trades["taker_type"] = kind_of[trades["taker"]]
    trades["maker_type"] = kind_of[trades["maker"]]
    trades["taker_oid"] = ev[:, at["oid"]]
    trades["maker_oid"] = ev[:, at["oid2"]]
    trades["taker_fee"] = ev[:, at["fee"]]
    trades["maker_fee"] = ev[:, at["fee2"]]
    return trades


def _prices(np: Any, tape: _Tape) -> Any:
    """The book after each step as :data:`PRICE_DTYPE` rows."""
    tops, lasts = tape.tops, tape.lasts
    prices = np.zeros(len(lasts), dtype=PRICE_DTYPE)
    prices["step"] = np.arange(len(lasts))
    # the core reports an empty side / no trade yet as 0: NaN here (prices are
    # never 0 on the grid)
    prices["last"] = np.where(lasts > 0, lasts, np.nan)
    prices["bid"] = np.where(tops[:, 1] > 0, tops[:, 0], np.nan)
    prices["bid_qty"] = tops[:, 1]
    prices["ask"] = np.where(tops[:, 3] > 0, tops[:, 2], np.nan)
    prices["ask_qty"] = tops[:, 3]
    two_sided = (tops[:, 1] > 0) & (tops[:, 3] > 0)
    prices["mid"] = np.where(two_sided, (prices["bid"] + prices["ask"]) / 2.0, np.nan)
    prices["spread"] = np.where(
        two_sided, (prices["ask"] - prices["bid"]).astype(float), np.nan
    )
    return prices


def _agents(
    np: Any,
    cfg: SimConfig,
    market: SharedMarket,
    settle: Settlement,
    trades: Any,
    kinds: list[int],
    deposits: list[int],
) -> Any:
    """One :data:`AGENT_DTYPE` row per agent after the resolution (``belief``
    and ``fair`` are left for the caller)."""
    n = len(kinds)
    U = cfg.payout
    agents = np.zeros(n, dtype=AGENT_DTYPE)
    agents["agent"] = np.arange(n)
    agents["user"] = market.users
    agents["type"] = np.asarray(kinds, dtype=np.int8)
    agents["deposit"] = deposits
    agents["cash"] = settle.cash
    agents["yes"] = settle.yes
    agents["no"] = settle.no
    agents["payout"] = settle.payout
    agents["final_cash"] = settle.final_cash
    agents["pnl"] = settle.final_cash - np.asarray(deposits, dtype=np.int64)
    agents["fees"] = np.bincount(
        trades["taker"], weights=trades["taker_fee"], minlength=n
    ).astype(np.int64) + np.bincount(
        trades["maker"], weights=trades["maker_fee"], minlength=n
    ).astype(np.int64)
    agents["pnl_before_fees"] = agents["pnl"] + agents["fees"]
    agents["pnl_expected"] = (
        settle.cash
        + settle.yes * (cfg.true_prob * U)
        + settle.no * ((1.0 - cfg.true_prob) * U)
        - np.asarray(deposits, dtype=np.int64)
    )
    agents["n_orders"] = market.n_orders
    agents["n_rejects"] = market.n_rejects
    agents["n_cancels"] = market.n_cancels
    agents["n_trades"] = np.bincount(trades["taker"], minlength=n) + np.bincount(
        trades["maker"], minlength=n
    )
    agents["volume"] = np.bincount(
        trades["taker"], weights=trades["qty"], minlength=n
    ).astype(np.int64) + np.bincount(
        trades["maker"], weights=trades["qty"], minlength=n
    ).astype(np.int64)
    return agents
