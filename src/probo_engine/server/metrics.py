"""Prometheus metrics, one registry per app (no module globals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probo_engine._optional import require

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class Metrics:
    """Counters, histograms and gauges of one server; labels are bounded
    (route names, status codes, error codes: never users)."""

    def __init__(self) -> None:
        pc: Any = require("prometheus_client", extra="server", feature="/metrics")
        self._pc = pc
        self.registry = pc.CollectorRegistry()
        r = self.registry
        self.requests = pc.Counter(
            "probo_http_requests", "HTTP requests", ["route", "status"], registry=r
        )
        self.latency = pc.Histogram(
            "probo_http_latency_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.orders = pc.Counter(
            "probo_orders", "orders placed, by outcome", ["status"], registry=r
        )
        self.auth_failures = pc.Counter(
            "probo_auth_failures",
            "refused credentials, by reason",
            ["code"],
            registry=r,
        )
        self.bus_errors = pc.Counter(
            "probo_bus_unavailable",
            "commands the bus did not answer in time",
            registry=r,
        )

        self._orders_by_status: dict[str, Any] = {}

    def order_placed(self, status: str) -> None:
        """Count an order reply by status (the label's child is cached)."""
        child = self._orders_by_status.get(status)
        if child is None:
            child = self._orders_by_status[status] = self.orders.labels(status)
        child.inc()

    def gauge(self, name: str, doc: str, fn: Callable[[], float]) -> None:
        """A gauge read from ``fn`` at every scrape."""
        g = self._pc.Gauge(name, doc, registry=self.registry)
        g.set_function(fn)

    def render(self) -> tuple[bytes, str]:
        return (
            bytes(self._pc.generate_latest(self.registry)),
            str(self._pc.CONTENT_TYPE_LATEST),
        )
