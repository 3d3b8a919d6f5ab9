"""Plots of a :class:`~probo_engine.sim.SimResult` (needs matplotlib).

Each ``plot_*`` function draws one panel on ``ax`` (a new figure if ``None``)
and returns the axes; :func:`dashboard` puts the four on one figure.  Prices
are shown as probabilities (YES price / payout) so grids of any size compare.
Long runs are thinned to at most ``max_points`` points per line.
"""

from __future__ import annotations

from typing import Any, Protocol

from probo_engine.sim._deps import require
from probo_engine.sim.config import AGENT_TYPES, SimConfig

__all__ = [
    "Plottable",
    "dashboard",
    "plot_depth",
    "plot_pnl",
    "plot_price",
    "plot_spread",
]


class Plottable(Protocol):
    """What the plots read: a :class:`~probo_engine.sim.SimResult`.

    A protocol, so that this module does not import ``sim/result.py`` (whose
    ``SimResult.plot()`` imports this one).
    """

    config: SimConfig
    yes_won: bool
    prices: Any
    depth: Any
    holdings: Any
    agents: Any

    @property
    def payout(self) -> int: ...

    @property
    def tick(self) -> int: ...

    def mtm_pnl(self) -> Any: ...

    def pnl_by_type(self) -> dict[str, int]: ...


#: Colour of each agent type in every plot.
TYPE_COLORS = {"noise": "tab:gray", "maker": "tab:blue", "informed": "tab:red"}


def _plt() -> Any:
    return require("matplotlib.pyplot", "probo_engine.sim plotting")


def _axes(ax: Any, figsize: tuple[float, float] = (9, 4)) -> Any:
    if ax is None:
        _, ax = _plt().subplots(figsize=figsize)
    return ax


def _bins(n: int, max_points: int) -> int:
    return max(1, -(-n // max_points))


def plot_price(result: Plottable, ax: Any = None, *, max_points: int = 4000) -> Any:
    """Last trade, mid and the bid-ask band over time, against the truth."""

    ax = _axes(ax)
    p = result.prices
    U = float(result.payout)
    k = _bins(len(p), max_points)
    x = p["step"][::k]
    bid = (p["bid"] / U)[::k]  # NaN where the side is empty
    ask = (p["ask"] / U)[::k]
    last = (p["last"] / U)[::k]
    ax.fill_between(x, bid, ask, color="tab:blue", alpha=0.15, lw=0, label="bid-ask")
    ax.plot(x, last, color="0.55", lw=0.5, alpha=0.6, label="last trade")
    ax.plot(x, p["mid"][::k] / U, color="tab:blue", lw=1.3, label="mid")
    cfg = result.config
    ax.axhline(
        cfg.true_prob,
        color="tab:red",
        ls="--",
        lw=1.2,
        label=f"true probability {cfg.true_prob:g}",
    )
    ax.axhline(
        cfg.maker_prior,
        color="tab:gray",
        ls=":",
        lw=1,
        label=f"makers' prior {cfg.maker_prior:g}",
    )
    ax.set_ylim(0, 1)
    ax.set_xlim(0, len(p))
    ax.set_xlabel("step")
    ax.set_ylabel("YES price / payout")
    ax.set_title(
        f"Price converges to the true probability (resolved "
        f"{'YES' if result.yes_won else 'NO'})"
    )
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_spread(result: Plottable, ax: Any = None, *, max_points: int = 400) -> Any:
    """Bid-ask spread in ticks, averaged over bins of steps."""
    import numpy as np

    ax = _axes(ax)
    p = result.prices
    n = len(p)
    k = _bins(n, max_points)
    m = (n // k) * k
    spread = (p["spread"][:m] / result.tick).reshape(-1, k)
    valid = ~np.isnan(spread)
    count = valid.sum(axis=1)
    total = np.where(valid, spread, 0.0).sum(axis=1)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    x = p["step"][:m].reshape(-1, k)[:, 0]
    one_sided = 100.0 * float(np.isnan(p["spread"]).mean())
    ax.plot(
        x,
        mean,
        color="tab:purple",
        lw=1.2,
        label=f"mean per {k:,} steps (one-sided {one_sided:.1f}% of steps)",
    )
    if valid.any():
        med = float(np.nanmedian(p["spread"])) / result.tick
        ax.axhline(med, color="tab:purple", ls=":", lw=1, label=f"median {med:g} ticks")
    ax.set_xlim(0, n)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("step")
    ax.set_ylabel(f"spread (ticks of {result.tick})")
    ax.set_title("Bid-ask spread")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_depth(result: Plottable, ax: Any = None) -> Any:
    """Heat map of resting quantity by price and time (bids +, asks -)."""
    import numpy as np

    ax = _axes(ax)
    d = result.depth
    U, T = result.payout, result.tick
    nl = U // T - 1
    grid = np.zeros((len(d), nl))
    rows = np.arange(len(d))[:, None]
    for price, qty, sign in (
        (d.bid_price, d.bid_qty, 1.0),
        (d.ask_price, d.ask_qty, -1.0),
    ):
        has = qty > 0
        idx = np.where(has, price // T - 1, 0)
        np.add.at(
            grid, (np.broadcast_to(rows, idx.shape)[has], idx[has]), sign * qty[has]
        )
    vmax = float(np.percentile(np.abs(grid[grid != 0]), 99)) if grid.any() else 1.0
    if len(d):
        x = np.append(d.step, d.step[-1] + result.config.sample_every)
        y = (np.arange(nl + 1) + 0.5) * T / U
        mesh = ax.pcolormesh(
            x,
            y,
            grid.T,
            cmap="RdBu",
            vmin=-vmax,
            vmax=vmax,
            shading="flat",
            rasterized=True,
        )
        cb = ax.figure.colorbar(mesh, ax=ax, pad=0.01)
        cb.set_label("resting qty (bids +, asks -)")
    ax.axhline(result.config.true_prob, color="black", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_ylabel("YES price / payout")
    ax.set_title(f"Order book depth (top {result.config.depth_levels} levels per side)")
    return ax


def plot_pnl(result: Plottable, ax: Any = None) -> Any:
    """P&L by agent type: marked to market over time, then settled."""
    ax = _axes(ax)
    U = float(result.payout)
    mtm = result.mtm_pnl() / U
    types = result.agents["type"]
    x = result.holdings.step
    end = result.config.n_steps
    settled = result.pnl_by_type()
    for t, name in enumerate(AGENT_TYPES):
        sel = types == t
        if not sel.any():
            continue
        color = TYPE_COLORS.get(name)
        ax.plot(
            x,
            mtm[:, sel].sum(axis=1),
            color=color,
            lw=1.2,
            label=f"{name} ({int(sel.sum())})",
        )
        ax.plot([end], [settled[name] / U], "o", color=color, ms=7)
        expected = float(result.agents["pnl_expected"][sel].sum()) / U
        ax.plot([end], [expected], "o", mfc="none", mec=color, ms=7, mew=1.5)
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(end, color="black", ls=":", lw=0.8)
    ax.set_xlim(0, end * 1.03)
    ax.set_xlabel("step (filled dots: settled; hollow: valued at the true probability)")
    ax.set_ylabel("P&L (in payouts)")
    ax.set_title("P&L by agent type (marked to mid, then resolved)")
    ax.legend(loc="best", fontsize=8)
    return ax


def dashboard(result: Plottable, *, figsize: tuple[float, float] = (14, 8.5)) -> Any:
    """The four panels on one figure; returns the Figure."""
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=figsize, constrained_layout=True)
    plot_price(result, axes[0, 0])
    plot_spread(result, axes[0, 1])
    plot_depth(result, axes[1, 0])
    plot_pnl(result, axes[1, 1])
    cfg = result.config
    fig.suptitle(
        f"probo_engine.sim: payout {cfg.payout}, tick {cfg.tick}, "
        f"{cfg.n_steps:,} steps, seed {cfg.seed}"
    )
    return fig
