"""A read-only view of an engine: its queries, none of its commands.

:attr:`probo_engine.DurableEngine.engine` is one, so every change of state goes
through :meth:`~probo_engine.DurableEngine.execute` (and so the journal).
"""

from __future__ import annotations

from typing import Any

__all__ = ["QUERY_NAMES", "EngineView"]

#: What a view passes through: the queries of ``Core`` and ``Engine``.  Every
#: other public name (``deposit``, ``place``, ``submit``, ``create_user``,
#: ``run_batch``, ``expire`` ...) changes state and is refused.
QUERY_NAMES = frozenset(
    {
        # Core
        "balance",
        "book_orders",
        "check_invariants",
        "depth",
        "depth_into",
        "events_bytes",
        "events_into",
        "fees",
        "last_events",
        "last_filled",
        "last_price",
        "last_seq",
        "limits",
        "market",
        "market_config",
        "n_last_events",
        "order",
        "order_by_client_id",
        "position",
        "snapshot",
        "state_hash",
        "top",
        "totals",
        "user_orders",
        # Engine
        "balances",
        "best_ask",
        "best_bid",
        "book",
        "events",
        "market_id",
        "market_symbol",
        "open_orders",
        "order_info",
        "seed_inr_balances",
        "seed_orderbook",
        "seed_stock_balances",
        "user_id",
        "user_name",
    }
)


class EngineView:
    """The queries of an engine, and nothing that changes it.

    Attribute access passes the names in :data:`QUERY_NAMES` through to the
    engine (reading properties afresh each time); any other name of the
    engine raises ``AttributeError`` saying how to make the change instead.
    ``engine_type`` is the engine's class (for ``restore``).

    >>> from probo_engine import Engine
    >>> view = EngineView(Engine())
    >>> view.totals()
    (0, 0, 0, 0)
    >>> view.create_user()
    Traceback (most recent call last):
    ...
    AttributeError: 'create_user' changes the engine: this view is read-only ...
    """

    __slots__ = ("_engine",)

    def __init__(self, engine: Any) -> None:
        object.__setattr__(self, "_engine", engine)

    @property
    def engine_type(self) -> type:
        """The class of the engine behind the view."""
        return type(self._engine)

    def __getattr__(self, name: str) -> Any:
        if name in QUERY_NAMES:
            return getattr(self._engine, name)
        if not name.startswith("__") and hasattr(self._engine, name):
            raise AttributeError(
                f"{name!r} changes the engine: this view is read-only (every "
                "change goes through DurableEngine.execute, and so the journal, "
                "e.g. db.execute(commands.Deposit(user, amount)))"
            )
        raise AttributeError(name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("the engine view is read-only")

    def __dir__(self) -> list[str]:
        return sorted(n for n in QUERY_NAMES if hasattr(self._engine, n))

    def __repr__(self) -> str:
        return f"<read-only view of {self._engine!r}>"
