"""The history routes' view of ``adapters.history``: JSON-ready rows.

Every query takes the authenticated user's engine id from the route, never
from the request (the history queries require it positionally).  Markets are
shown by symbol, enums by name, money and prices as integers.
"""

from __future__ import annotations

from typing import Any

from probo_engine.adapters.history import queries as Q
from probo_engine.engine import Engine
from probo_engine.types import FillKind, Outcome, Side, TimeInForce

__all__ = ["INTERVALS", "HistoryQueries"]

#: candle intervals the API offers, in nanoseconds
INTERVALS = {
    "1m": 60 * 10**9,
    "5m": 300 * 10**9,
    "15m": 900 * 10**9,
    "1h": 3600 * 10**9,
    "1d": 86400 * 10**9,
}


class HistoryQueries:
    """Queries over one history store, names taken from a read replica."""

    def __init__(self, store: Any, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    def _sym(self, mid: int) -> str:
        return self.engine.market_symbol(mid) or str(mid)

    def _order(self, r: Q.OrderRecord) -> dict[str, Any]:
        return {
            "order_id": r.oid,
            "market": self._sym(r.market),
            "side": Side(r.side).name.lower(),
            "outcome": Outcome(r.outcome).name.lower(),
            "type": "market" if r.is_market else "limit",
            "price": r.price,
            "yes_price": r.yes_price,
            "qty": r.qty,
            "filled": r.filled,
            "remaining": r.remaining,
            "status": r.status,
            "tif": TimeInForce(r.tif).name.lower(),
            "client_order_id": r.client_id or None,
            "post_only": r.post_only,
            "ts": r.ts,
            "seq": r.seq,
        }

    async def user_orders(
        self, uid: int, *, limit: int = 100, before: int | None = None
    ) -> list[dict[str, Any]]:
        rows = await Q.user_orders(self.store, uid, before_oid=before, limit=limit)
        return [self._order(r) for r in rows]

    async def find_order(
        self, uid: int, *, oid: int | None = None, client_id: int | None = None
    ) -> dict[str, Any] | None:
        """The user's order by id or client id (newest with that client id)."""
        where, arg = (
            ("oid = ?", oid) if oid is not None else ("client_id = ?", client_id)
        )
        rows = await self.store.fetch(
            f"SELECT oid FROM orders WHERE uid = ? AND {where} "
            "ORDER BY oid DESC LIMIT 1",
            (uid, arg),
        )
        if not rows:
            return None
        found = int(rows[0][0])
        for r in await Q.user_orders(self.store, uid, before_oid=found + 1, limit=1):
            if r.oid == found:
                return self._order(r)
        return None

    async def user_fills(
        self, uid: int, *, limit: int = 100, after: int = 0
    ) -> list[dict[str, Any]]:
        rows = await Q.user_fills(self.store, uid, after_seq=after, limit=limit)
        return [
            {
                "seq": f.seq,
                "ts": f.ts,
                "market": self._sym(f.market),
                "order_id": f.oid,
                "role": f.role,
                "side": Side(f.side).name.lower(),
                "outcome": Outcome(f.outcome).name.lower(),
                "price": f.price,
                "yes_price": f.yes_price,
                "qty": f.qty,
                "fee": f.fee,
                "kind": FillKind(f.kind).name.lower(),
            }
            for f in rows
        ]

    async def trades(
        self, mid: int, *, limit: int = 100, after: int = 0
    ) -> list[dict[str, Any]]:
        """Public trades: no user ids or order ids."""
        rows = await Q.trades(self.store, mid, after_seq=after, limit=limit)
        return [
            {
                "seq": t.seq,
                "ts": t.ts,
                "yes_price": t.yes_price,
                "qty": t.qty,
                "kind": FillKind(t.kind).name.lower(),
                "taker_side": Side(t.taker_side).name.lower(),
                "taker_outcome": Outcome(t.taker_outcome).name.lower(),
            }
            for t in rows
        ]

    async def candles(
        self, mid: int, interval: str, *, outcome: int = 0, start_ts: int | None = None
    ) -> list[dict[str, Any]]:
        rows = await Q.candles(
            self.store, mid, INTERVALS[interval], outcome=outcome, start_ts=start_ts
        )
        return [c._asdict() for c in rows]
