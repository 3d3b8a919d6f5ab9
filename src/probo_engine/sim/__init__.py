"""Agent-based simulation of one YES/NO market (``pip install 'probo-engine[sim]'``).

>>> from probo_engine.sim import SimConfig, simulate
>>> res = simulate(SimConfig(n_steps=20_000, true_prob=0.7, seed=1))
>>> int(res.agents["pnl"].sum())          # zero-sum before fees
0
>>> abs(res.final_price() - 700) <= 100   # converged near the truth
True

Three kinds of agent trade through the engine's per-call API:

* **noise** traders send random orders around the current mid, some passive
  (GTC, behind the mid), some marketable (IOC, through the best price), and
  cancel old ones;
* **market makers** quote a bid and an ask around a belief that starts at a
  prior and learns from each last trade price, skewed against their
  inventory, and stop quoting the side that would take their net position
  past a limit;
* **informed** traders know the true probability and take any liquidity priced
  more than an edge away from it.

At the end the market resolves (YES with ``true_prob``, or as configured) and
winning shares pay out; see :mod:`probo_engine.sim.settlement`.  Results come
back as numpy arrays (:class:`SimResult`) with ``to_pandas()`` and ``plot()``.

numpy is required here (imported by this package, never by ``import
probo_engine``); pandas and matplotlib only when their helpers are called.
"""

from __future__ import annotations

from probo_engine.sim._deps import INSTALL_HINT, require

require("numpy", "probo_engine.sim")

from probo_engine._progress import ProgressBar  # noqa: E402
from probo_engine.sim.config import AGENT_TYPES, AgentType, SimConfig  # noqa: E402
from probo_engine.sim.result import (  # noqa: E402
    AGENT_DTYPE,
    PRICE_DTYPE,
    TRADE_DTYPE,
    DepthSamples,
    Holdings,
    SimResult,
)
from probo_engine.sim.runner import simulate  # noqa: E402
from probo_engine.sim.settlement import Settlement, resolve  # noqa: E402

__all__ = [
    "AGENT_DTYPE",
    "AGENT_TYPES",
    "INSTALL_HINT",
    "PRICE_DTYPE",
    "TRADE_DTYPE",
    "AgentType",
    "DepthSamples",
    "Holdings",
    "ProgressBar",
    "Settlement",
    "SimConfig",
    "SimResult",
    "resolve",
    "simulate",
]
