"""Resolution of a simulated market: the one place that pays out.

:func:`resolve` is the only function of the simulation that settles a market,
so the run, the P&L and the tests do not care how it is done.  It uses the
core's ``resolve(mid, yes_value, ts)`` command (cancel every resting order,
pay ``yes_value`` per YES share and ``payout - yes_value`` per NO share, burn
the shares) and reports each user's payout as the change in their cash.

:func:`payout_from_positions` is the same rule computed from final positions
alone, without touching the engine.  It is what the simulation did before the
core had a ``resolve`` command, it remains the fallback for an engine object
without one, and the tests use it to check the core's payout share by share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from probo_engine.types import Event, EventKind

__all__ = ["Settlement", "payout_from_positions", "resolve"]

_CANCELED = int(EventKind.CANCELED)
_KIND_AT = Event._fields.index("kind")


@dataclass(frozen=True)
class Settlement:
    """Per-user result of a resolution, in the order of the ``users`` given.

    ``cash`` is each user's cash (available + locked) just before the
    resolution; ``yes``/``no`` the shares they held (available + locked);
    ``payout`` what those shares paid; ``final_cash = cash + payout``.
    ``yes_value`` is what one YES share paid (``payout`` if YES won, 0 if NO).
    """

    yes_value: int
    cash: Any  # int64 array, one entry per user
    yes: Any
    no: Any
    payout: Any
    final_cash: Any
    n_canceled: int  #: resting orders the resolution canceled


def payout_from_positions(yes: Any, no: Any, payout: int, yes_value: int) -> Any:
    """What holders receive: ``yes * yes_value + no * (payout - yes_value)``."""
    return yes * yes_value + no * (payout - yes_value)


def _holdings(core: Any, mid: int, users: Sequence[int]) -> tuple[Any, Any, Any]:
    import numpy as np

    cash = np.array([sum(core.balance(u)) for u in users], dtype=np.int64)
    pos = np.array([core.position(u, mid) for u in users], dtype=np.int64)
    pos = pos.reshape(len(users), 4)
    return cash, pos[:, 0] + pos[:, 1], pos[:, 2] + pos[:, 3]


def resolve(
    core: Any, mid: int, users: Sequence[int], yes_value: int, ts: int = 0
) -> Settlement:
    """Resolve market ``mid`` at ``yes_value`` per YES share, for ``users``.

    ``yes_value`` is ``payout`` if the event happened, ``0`` if not (anything
    in between splits, e.g. ``payout // 2`` voids).  With the core's
    ``resolve`` command the engine itself cancels the orders, pays and burns
    the shares; ``users`` should be every holder, so that the returned arrays
    account for all the money.  On an engine without ``resolve`` the orders
    are canceled one by one and the payout is computed by
    :func:`payout_from_positions` (the engine's cash is then left unpaid).
    """
    payout = core.market(mid)[0]
    cash, yes, no = _holdings(core, mid, users)
    if hasattr(core, "resolve"):
        code = core.resolve(mid, yes_value, ts)
        if code != 0:
            raise RuntimeError(f"resolve({mid}, {yes_value}) refused with code {-code}")
        n_canceled = sum(1 for e in core.last_events() if e[_KIND_AT] == _CANCELED)
        final_cash, _, _ = _holdings(core, mid, users)
        paid = final_cash - cash
    else:  # a stand-in: the engine cannot pay, so the payout is only reported
        n_canceled = 0
        for uid in users:
            for order in core.user_orders(uid):
                if order[0] == mid and core.cancel(uid, order[1], ts) == 0:
                    n_canceled += 1
        paid = payout_from_positions(yes, no, payout, yes_value)
        final_cash = cash + paid
    return Settlement(int(yes_value), cash, yes, no, paid, final_cash, n_canceled)
