"""Fixed-seed simulations give the same results as before the agents moved.

The digests below were recorded at commit d8a4fe5 (before ``sim/runner.py``
was split into ``sim/agents.py``): this file's :func:`digest` applied to
``simulate(**dict(case))`` for each case, run with ``PYTHONPATH=src`` in a
worktree at that commit with its extensions built.

Any change to the agents' behaviour, the order of random draws, or what the
result arrays hold changes a digest.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from probo_engine.sim import SimResult, simulate


def digest(res: SimResult) -> str:
    """SHA-256 over every array, the outcome, the stats (not the timings) and
    the engine state."""
    h = hashlib.sha256()
    for arr in (res.trades, res.prices, res.agents):
        h.update(np.ascontiguousarray(arr).tobytes())
    for group in (res.depth, res.holdings):
        for f in dataclasses.fields(group):
            h.update(f.name.encode())
            h.update(np.ascontiguousarray(getattr(group, f.name)).tobytes())
    h.update(repr((res.yes_won, res.market)).encode())
    timings = ("elapsed_s", "orders_per_s")
    stats = sorted((k, v) for k, v in res.stats.items() if k not in timings)
    h.update(repr(stats).encode())
    assert res.engine is not None
    h.update(res.engine.state_hash().encode())
    return h.hexdigest()


CASES: dict[tuple[tuple[str, object], ...], str] = {
    (("n_steps", 20_000), ("seed", 1)): (
        "f2b16dfb21e2a11e5491f002492b4ed6895d18306c0c3b189ac80e1e4324d957"
    ),
    (
        ("n_steps", 15_000),
        ("seed", 7),
        ("payout", 100),
        ("tick", 1),
        ("taker_fee", 200),
        ("maker_fee", -50),
    ): "3504c82cb5d6bc94b4f85b761daa350b9baa9ac73dc385f219a7fc70379b77f6",
    (
        ("n_steps", 15_000),
        ("seed", 11),
        ("true_prob", 0.2),
        ("informed_noise", 0.05),
        ("n_makers", 2),
        ("outcome", False),
    ): "d1a559ba073e3fd22b86337293d76ed12b739d11b85239ab5c3cd207cadc54b1",
}


@pytest.mark.parametrize("case", list(CASES), ids=lambda c: dict(c)["seed"])
def test_same_results_as_before_the_split(case) -> None:
    assert digest(simulate(**dict(case))) == CASES[case]
