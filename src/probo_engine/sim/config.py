"""Parameters of a simulation run (:class:`SimConfig`) and the agent types.

Everything that changes what a run does is in the config, so ``simulate(cfg)``
with the same config (the ``seed`` included) gives identical arrays on every
machine.  Probabilities and price distances are given as fractions of the
payout (``0.02`` = 2% of a YES+NO pair) and turned into whole ticks of the
market's grid, never less than one tick, so one config reads the same on the
default grid (payout 1000, tick 50: 19 prices) and on a Kalshi-style grid
(payout 100, tick 1: 99 prices).
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import asdict, dataclass, fields
from enum import IntEnum
from typing import Any

__all__ = ["AGENT_TYPES", "AgentType", "SimConfig"]


def np_bool_types() -> tuple[type, ...]:
    """numpy's bool scalar type, if numpy is loaded (it is, for a simulation)."""
    import sys

    np = sys.modules.get("numpy")
    return (np.bool_,) if np is not None else ()


class AgentType(IntEnum):
    """What drives an agent.  The value is the ``type`` column of the results."""

    NOISE = 0  #: random orders around the current price, some marketable
    MAKER = 1  #: quotes a bid and an ask around a belief, with an inventory limit
    INFORMED = 2  #: knows the true probability, takes mispriced liquidity


#: Lower-case names by :class:`AgentType` value (for tables and plot legends).
AGENT_TYPES: tuple[str, ...] = tuple(t.name.lower() for t in AgentType)


@dataclass(frozen=True)
class SimConfig:
    """One binary market, three kinds of agent, ``n_steps`` activations.

    Each step activates one agent, drawn at random with probability
    proportional to its type's ``*_weight`` (split evenly inside the type).
    An activation places at most a few orders and cancels; the step number is
    the ``ts`` passed to the engine and the time axis of every result array.
    """

    # --- the market
    payout: int = 1000  #: value of one YES+NO pair, minor units (paise by default)
    tick: int = 50  #: price grid; prices run tick .. payout - tick
    true_prob: float = 0.7  #: probability that the event happens (YES wins)
    #: The resolution: ``True`` YES wins, ``False`` NO wins, ``None`` draw it
    #: from ``true_prob`` with the run's seed (its own random stream).
    outcome: bool | None = None
    #: Fees in basis points (``create_market``'s ``taker_fee``/``maker_fee``; a
    #: negative maker fee is a rebate) and ``fee_mode`` 0 = BPS of notional,
    #: 1 = the prediction-market curve.  Off by default.
    taker_fee: int = 0
    maker_fee: int = 0
    fee_mode: int = 0
    #: Self-trade prevention of every order (:class:`~probo_engine.SelfTrade`):
    #: 0 CANCEL_MAKER (an agent's order cancels its own resting ones), ...,
    #: 3 NONE (an agent's orders fill each other like anyone's).
    self_trade: int = 0

    # --- the run
    n_steps: int = 100_000
    seed: int = 0
    progress: bool = False  #: text progress bar on stderr
    depth_levels: int = 5  #: levels per side kept in each depth sample
    sample_every: int = 100  #: steps between depth and holdings samples

    # --- the agents
    n_noise: int = 20
    n_makers: int = 4
    n_informed: int = 3
    noise_weight: float = 0.6
    maker_weight: float = 0.3
    informed_weight: float = 0.1
    #: Starting cash per agent, in units of ``payout`` (so the same numbers of
    #: shares are affordable on any grid).
    noise_cash: int = 2_000
    maker_cash: int = 20_000
    informed_cash: int = 5_000

    # noise traders
    noise_max_qty: int = 10  #: order sizes 1 .. noise_max_qty
    noise_cancel_prob: float = 0.15  #: an activation cancels its oldest order
    noise_market_prob: float = 0.35  #: an activation sends a marketable IOC order
    noise_price_sd: float = 0.04  #: passive orders sit |N(0, sd)| behind the mid
    noise_max_open: int = 5  #: oldest resting order is canceled beyond this

    # market makers
    maker_prior: float = 0.5  #: starting belief (mean over makers)
    maker_prior_sd: float = 0.03  #: spread of the makers' starting beliefs
    maker_half_spread: float = 0.02  #: quotes at belief -/+ this (>= 1 tick)
    maker_size: int = 20  #: shares per quote
    maker_max_inventory: int = 400  #: |YES - NO| beyond which one side stops
    maker_skew: float = 0.0002  #: belief shift per share of inventory
    maker_learning: float = 0.05  #: belief moves this far toward each last price

    # informed traders
    informed_edge: float = 0.03  #: trade only when the price is this far off
    informed_noise: float = 0.0  #: sd of each informed agent's error on true_prob
    informed_max_qty: int = 20  #: order sizes 1 .. informed_max_qty
    informed_max_position: int = 2_000  #: |YES - NO| cap per informed agent

    def __post_init__(self) -> None:
        self._normalize()
        self.validate()

    def _normalize(self) -> None:
        # numpy scalars (np.int64(1000), np.float32(0.6)) become the Python
        # int or float they stand for; a bool is never a number here.
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None or isinstance(v, bool) or type(v) in (int, float):
                continue
            if f.name == "outcome":
                if isinstance(v, np_bool_types()):
                    object.__setattr__(self, f.name, bool(v))
                continue
            if hasattr(v, "__index__") and not isinstance(v, np_bool_types()):
                object.__setattr__(self, f.name, operator.index(v))
            elif isinstance(v, numbers.Real) and not isinstance(v, np_bool_types()):
                object.__setattr__(self, f.name, float(v))

    # ------------------------------------------------------------------ checks

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first parameter out of range."""
        ints = {
            "payout": self.payout,
            "tick": self.tick,
            "n_steps": self.n_steps,
            "seed": self.seed,
            "depth_levels": self.depth_levels,
            "sample_every": self.sample_every,
            "n_noise": self.n_noise,
            "n_makers": self.n_makers,
            "n_informed": self.n_informed,
            "noise_cash": self.noise_cash,
            "maker_cash": self.maker_cash,
            "informed_cash": self.informed_cash,
            "noise_max_qty": self.noise_max_qty,
            "noise_max_open": self.noise_max_open,
            "maker_size": self.maker_size,
            "maker_max_inventory": self.maker_max_inventory,
            "informed_max_qty": self.informed_max_qty,
            "informed_max_position": self.informed_max_position,
        }
        for name, v in ints.items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int, not {v!r}")
            if v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        for name in (
            "payout",
            "tick",
            "n_steps",
            "depth_levels",
            "sample_every",
            "noise_max_qty",
            "maker_size",
            "informed_max_qty",
        ):
            if ints[name] < 1:
                raise ValueError(f"{name} must be >= 1, got {ints[name]}")
        for name, v, lo in (
            ("taker_fee", self.taker_fee, 0),
            ("maker_fee", self.maker_fee, -10_000),
        ):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int (basis points), not {v!r}")
            if not lo <= v <= 10_000:
                raise ValueError(f"{name} must be in {lo}..10000 basis points, got {v}")
        st = self.self_trade
        if isinstance(st, bool) or not isinstance(st, int) or not 0 <= st <= 3:
            raise ValueError(
                f"self_trade must be a SelfTrade value 0..3, not {self.self_trade!r}"
            )
        if self.fee_mode not in (0, 1) or isinstance(self.fee_mode, bool):
            raise ValueError(
                f"fee_mode must be 0 (BPS) or 1 (CURVE), not {self.fee_mode!r}"
            )
        if self.payout % self.tick or self.payout < 2 * self.tick:
            raise ValueError(
                f"payout {self.payout} must be a multiple of tick {self.tick}"
                " and at least two ticks"
            )
        if self.n_noise + self.n_makers + self.n_informed == 0:
            raise ValueError("the market needs at least one agent")
        probs = {
            "true_prob": self.true_prob,
            "noise_cancel_prob": self.noise_cancel_prob,
            "noise_market_prob": self.noise_market_prob,
            "maker_prior": self.maker_prior,
            "maker_learning": self.maker_learning,
        }
        for name, p in probs.items():
            if isinstance(p, bool):
                raise TypeError(f"{name} must be a number, not {p!r}")
            if not (isinstance(p, int | float) and 0.0 <= p <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
        if self.noise_cancel_prob + self.noise_market_prob > 1.0:
            raise ValueError("noise_cancel_prob + noise_market_prob must be <= 1")
        nonneg = {
            "noise_weight": self.noise_weight,
            "maker_weight": self.maker_weight,
            "informed_weight": self.informed_weight,
            "noise_price_sd": self.noise_price_sd,
            "maker_prior_sd": self.maker_prior_sd,
            "maker_half_spread": self.maker_half_spread,
            "maker_skew": self.maker_skew,
            "informed_edge": self.informed_edge,
            "informed_noise": self.informed_noise,
        }
        for name, x in nonneg.items():
            if isinstance(x, bool):
                raise TypeError(f"{name} must be a number, not {x!r}")
            if not (isinstance(x, int | float) and math.isfinite(x) and x >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
        active = (
            (self.n_noise and self.noise_weight)
            or (self.n_makers and self.maker_weight)
            or (self.n_informed and self.informed_weight)
        )
        if not active:
            raise ValueError("every agent type with agents has weight 0")
        if self.outcome is not None and not isinstance(self.outcome, bool):
            raise TypeError(
                f"outcome must be True, False or None, not {self.outcome!r}"
            )

    # ----------------------------------------------------------------- helpers

    @property
    def n_agents(self) -> int:
        return self.n_noise + self.n_makers + self.n_informed

    @property
    def n_prices(self) -> int:
        """Number of valid prices on the grid (``payout // tick - 1``)."""
        return self.payout // self.tick - 1

    def ticks(self, fraction: float) -> int:
        """A distance given as a fraction of the payout, in whole ticks (>= 1)."""
        return max(1, math.ceil(fraction * self.payout / self.tick - 1e-9))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
