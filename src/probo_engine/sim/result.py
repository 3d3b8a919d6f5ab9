"""What a simulation returns: :class:`SimResult` and its arrays.

All arrays are numpy; prices are integers in YES terms on the market's grid
(a NO price is ``payout - yes_price``).  Time is the step number.

* ``trades`` -- one row per fill (:data:`TRADE_DTYPE`).
* ``prices`` -- one row per step, taken after the step (:data:`PRICE_DTYPE`).
* ``depth`` -- the top ``depth_levels`` levels of both sides every
  ``sample_every`` steps (:class:`DepthSamples`).
* ``holdings`` -- every agent's cash and shares at the same samples
  (:class:`Holdings`), from which mark-to-market P&L over time follows.
* ``agents`` -- one row per agent after the resolution (:data:`AGENT_DTYPE`).

``to_pandas()`` turns any of them into DataFrames and ``plot()`` draws a
dashboard; pandas and matplotlib are imported only then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probo_engine.sim._deps import require
from probo_engine.sim.config import AGENT_TYPES, SimConfig

np = require("numpy", "probo_engine.sim")

if TYPE_CHECKING:
    from probo_engine.engine import Engine

__all__ = [
    "AGENT_DTYPE",
    "PRICE_DTYPE",
    "TRADE_DTYPE",
    "DepthSamples",
    "Holdings",
    "SimResult",
]

#: One fill.  ``price`` is the YES price it executed at (the maker's), ``kind``
#: a :class:`probo_engine.FillKind` (0 transfer, 1 mint, 2 merge); ``taker`` and
#: ``maker`` are agent indices (rows of ``SimResult.agents``).
TRADE_DTYPE = np.dtype(
    [
        ("step", np.int64),
        ("price", np.int64),
        ("qty", np.int64),
        ("kind", np.int8),
        ("taker", np.int32),
        ("maker", np.int32),
        ("taker_side", np.int8),  # Side of the taker's order: 0 buy, 1 sell
        ("taker_outcome", np.int8),  # Outcome of the taker's order: 0 YES, 1 NO
        ("taker_type", np.int8),  # AgentType
        ("maker_type", np.int8),
        ("taker_oid", np.int64),
        ("maker_oid", np.int64),
        ("taker_fee", np.int64),  # fee the taker paid on this fill
        ("maker_fee", np.int64),  # fee the maker paid (negative: a rebate)
    ]
)

#: The book after each step.  Prices are floats so that "none" is NaN, never a
#: fake 0: ``bid``/``ask`` (and ``mid``/``spread``) are NaN while that side is
#: empty (its ``*_qty`` is 0), ``last`` is NaN before the first trade; every
#: other value is a whole number of minor units on the grid.  ``to_pandas()``
#: gives them as nullable ``Int64`` columns (``<NA>`` for none).
PRICE_DTYPE = np.dtype(
    [
        ("step", np.int64),
        ("last", np.float64),
        ("bid", np.float64),
        ("bid_qty", np.int64),
        ("ask", np.float64),
        ("ask_qty", np.int64),
        ("mid", np.float64),
        ("spread", np.float64),
    ]
)

#: An agent after the resolution.  ``cash`` is its cash (available + locked)
#: just before the resolution; ``yes``/``no`` the shares it held then;
#: ``payout`` what its winning shares paid; ``pnl = final_cash - deposit``;
#: ``fees`` what it paid in fees (net of rebates) and ``pnl_before_fees =
#: pnl + fees``, which sums to zero over all agents; ``pnl_expected`` values
#: the shares at the true probability instead of the outcome (what the agent
#: earned in expectation, without the luck of one draw).  ``belief`` is a
#: maker's final belief and ``fair`` an informed agent's probability (NaN for
#: the other types).
AGENT_DTYPE = np.dtype(
    [
        ("agent", np.int32),
        ("user", np.int64),
        ("type", np.int8),
        ("deposit", np.int64),
        ("cash", np.int64),
        ("yes", np.int64),
        ("no", np.int64),
        ("payout", np.int64),
        ("final_cash", np.int64),
        ("pnl", np.int64),
        ("fees", np.int64),
        ("pnl_before_fees", np.int64),
        ("pnl_expected", np.float64),
        ("n_orders", np.int64),
        ("n_rejects", np.int64),
        ("n_cancels", np.int64),
        ("n_trades", np.int64),
        ("volume", np.int64),
        ("belief", np.float64),
        ("fair", np.float64),
    ]
)


def _pandas(feature: str) -> Any:
    return require("pandas", feature)


@dataclass
class DepthSamples:
    """Top ``levels`` of both sides of the YES book, sampled every k steps.

    Each field but ``step`` is ``(n_samples, levels)``, best level first,
    zero-padded where a side has fewer levels.  The NO view is the mirror:
    NO bids at ``payout - ask_price``, NO asks at ``payout - bid_price``.
    """

    step: Any
    bid_price: Any
    bid_qty: Any
    bid_orders: Any
    ask_price: Any
    ask_qty: Any
    ask_orders: Any

    @classmethod
    def empty(cls, n_samples: int, levels: int) -> DepthSamples:
        def z() -> Any:
            return np.zeros((n_samples, levels), dtype=np.int64)

        return cls(np.zeros(n_samples, dtype=np.int64), z(), z(), z(), z(), z(), z())

    def __len__(self) -> int:
        return len(self.step)

    def bid_total(self) -> Any:
        """Shares on the bid side within the sampled levels, per sample."""
        return self.bid_qty.sum(axis=1)

    def ask_total(self) -> Any:
        return self.ask_qty.sum(axis=1)

    def to_pandas(self) -> Any:
        """Long format: one row per (sample, side, level) that holds orders."""
        pd = _pandas("DepthSamples.to_pandas()")
        n, levels = self.bid_price.shape
        frames = []
        for side, p, q, c in (
            ("bid", self.bid_price, self.bid_qty, self.bid_orders),
            ("ask", self.ask_price, self.ask_qty, self.ask_orders),
        ):
            keep = (q > 0).ravel()
            frames.append(
                pd.DataFrame(
                    {
                        "step": np.repeat(self.step, levels)[keep],
                        "side": side,
                        "level": np.tile(np.arange(levels), n)[keep],
                        "price": p.ravel()[keep],
                        "qty": q.ravel()[keep],
                        "orders": c.ravel()[keep],
                    }
                )
            )
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["step", "side", "level"], ignore_index=True)


@dataclass
class Holdings:
    """Every agent's cash (available + locked) and shares, sampled with depth.

    ``cash``, ``yes`` and ``no`` are ``(n_samples, n_agents)``; ``fees`` is
    the engine's fee account at each sample.  At every sample
    ``cash.sum(1) + fees + payout * yes.sum(1)`` equals the total deposited and
    ``yes.sum(1) == no.sum(1)`` (the engine's conservation law).
    """

    step: Any
    cash: Any
    yes: Any
    no: Any
    fees: Any

    @classmethod
    def empty(cls, n_samples: int, n_agents: int) -> Holdings:
        def z() -> Any:
            return np.zeros((n_samples, n_agents), dtype=np.int64)

        def s() -> Any:
            return np.zeros(n_samples, dtype=np.int64)

        return cls(s(), z(), z(), z(), s())

    def __len__(self) -> int:
        return len(self.step)

    def mark_to_market(self, price: Any, deposit: Any, payout: int) -> Any:
        """P&L of every agent at every sample if YES were worth ``price``.

        ``cash + yes * price + no * (payout - price) - deposit``, with
        ``price`` one YES price per sample.  Sums to minus the fee account
        across agents (to zero without fees).
        """
        p = np.asarray(price, dtype=np.float64)[:, None]
        return self.cash + self.yes * p + self.no * (payout - p) - deposit[None, :]


@dataclass
class SimResult:
    """Everything a run produced; see the module docstring for the arrays."""

    config: SimConfig
    yes_won: bool
    market: int
    trades: Any
    prices: Any
    depth: DepthSamples
    holdings: Holdings
    agents: Any
    stats: dict[str, Any]
    engine: Engine | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------ shortcuts

    @property
    def payout(self) -> int:
        return self.config.payout

    @property
    def tick(self) -> int:
        return self.config.tick

    @property
    def true_price(self) -> float:
        """The true probability in YES price units (``true_prob * payout``)."""
        return self.config.true_prob * self.config.payout

    @property
    def agent_types(self) -> Any:
        """Type name of every agent, as an array of str."""
        return np.asarray(AGENT_TYPES, dtype=object)[self.agents["type"]]

    def mark_price(self) -> Any:
        """Best estimate of the YES price after each step (float array).

        The mid where both sides quote, else the last trade, else half the
        payout.
        """
        p = self.prices
        out = np.where(np.isnan(p["mid"]), p["last"], p["mid"])
        return np.where(np.isnan(out), self.payout / 2.0, out)

    def final_price(self, window: float = 0.1) -> float:
        """Mean :meth:`mark_price` over the last ``window`` of the run."""
        m = self.mark_price()
        n = max(1, int(len(m) * window))
        return float(m[-n:].mean())

    def vwap(self, start: int = 0, stop: int | None = None) -> float:
        """Volume-weighted YES price of the trades in steps ``[start, stop)``."""
        t = self.trades
        sel = t["step"] >= start
        if stop is not None:
            sel &= t["step"] < stop
        q = t["qty"][sel]
        return float((t["price"][sel] * q).sum() / q.sum()) if q.sum() else float("nan")

    def pnl_by_type(self) -> dict[str, int]:
        """Settled P&L (after fees) summed over each agent type.

        The sum over types is minus the fees collected (zero without fees).
        """
        a = self.agents
        return {
            name: int(a["pnl"][a["type"] == t].sum())
            for t, name in enumerate(AGENT_TYPES)
            if (a["type"] == t).any()
        }

    def mtm_pnl(self) -> Any:
        """Mark-to-market P&L ``(n_samples, n_agents)`` at each holdings sample.

        Shares are valued at :meth:`mark_price` at the sample's step.
        """
        price = self.mark_price()[self.holdings.step]
        return self.holdings.mark_to_market(price, self.agents["deposit"], self.payout)

    def summary(self) -> str:
        """A few lines for humans: outcome, prices, volume, P&L by type."""
        s = self.stats
        cfg = self.config
        lines = [
            f"market payout {cfg.payout} tick {cfg.tick}; true probability "
            f"{cfg.true_prob:.3f} (YES {self.true_price:g}); resolved "
            f"{'YES' if self.yes_won else 'NO'}",
            f"{s['n_steps']:,} steps, {s['n_orders']:,} orders ({s['n_rejects']:,}"
            f" rejected), {s['n_cancels']:,} cancels, {s['n_trades']:,} trades, "
            f"volume {s['volume']:,} shares in {s['elapsed_s']:.2f}s "
            f"({s['orders_per_s']:,.0f} orders/s)",
            f"final price {self.final_price():.1f} (mean mark over the last 10%), "
            f"VWAP {self.vwap():.1f}",
            "P&L by type: "
            + ", ".join(f"{k} {v:+,}" for k, v in self.pnl_by_type().items())
            + (f"; fees collected {s['fee_account']:,}" if s["fee_account"] else ""),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"SimResult(steps={self.stats['n_steps']}, trades={len(self.trades)}, "
            f"yes_won={self.yes_won}, final_price={self.final_price():.1f})"
        )

    # --------------------------------------------------------------- pandas

    def to_pandas(self, table: str | None = None) -> Any:
        """DataFrames of the results (needs pandas).

        ``table`` is one of ``"trades"``, ``"prices"``, ``"depth"``,
        ``"holdings"``, ``"agents"``; without it, a dict of all five.
        ``trades``/``agents`` get a ``*_type`` column of names, ``holdings``
        is long format (step, agent, type, cash, yes, no, mtm_pnl).
        """
        pd = _pandas("SimResult.to_pandas()")
        names = np.asarray(AGENT_TYPES, dtype=object)

        def trades() -> Any:
            df = pd.DataFrame(self.trades)
            df["kind_name"] = np.asarray(["transfer", "mint", "merge"], dtype=object)[
                self.trades["kind"]
            ]
            df["taker_type_name"] = names[self.trades["taker_type"]]
            df["maker_type_name"] = names[self.trades["maker_type"]]
            return df

        def prices() -> Any:
            df = pd.DataFrame(self.prices)
            for col in ("last", "bid", "ask"):  # whole numbers or none
                df[col] = df[col].astype("Int64")
            return df

        def agents() -> Any:
            df = pd.DataFrame(self.agents)
            df["type_name"] = names[self.agents["type"]]
            return df

        def holdings() -> Any:
            h = self.holdings
            n, a = h.cash.shape
            return pd.DataFrame(
                {
                    "step": np.repeat(h.step, a),
                    "agent": np.tile(np.arange(a), n),
                    "type": np.tile(self.agent_types, n),
                    "cash": h.cash.ravel(),
                    "yes": h.yes.ravel(),
                    "no": h.no.ravel(),
                    "mtm_pnl": self.mtm_pnl().ravel(),
                }
            )

        makers = {
            "trades": trades,
            "prices": prices,
            "depth": self.depth.to_pandas,
            "holdings": holdings,
            "agents": agents,
        }
        if table is None:
            return {k: f() for k, f in makers.items()}
        if table not in makers:
            raise ValueError(f"table must be one of {sorted(makers)}, not {table!r}")
        return makers[table]()

    # ------------------------------------------------------------- plotting

    def plot(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        figsize: tuple[float, float] = (14, 8.5),
        dpi: int = 110,
    ) -> Any:
        """A 2x2 dashboard (price, spread, depth, P&L by type); needs matplotlib.

        Returns the Figure; saves it to ``path`` (PNG, SVG, ... by suffix) if
        given.  :mod:`probo_engine.sim.plotting` has the single panels.
        """
        from probo_engine.sim.plotting import dashboard

        fig = dashboard(self, figsize=figsize)
        if path is not None:
            fig.savefig(path, dpi=dpi)
        return fig
