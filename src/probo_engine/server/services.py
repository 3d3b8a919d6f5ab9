"""What the HTTP app is given: a command bus, a read model, and optional parts.

The app does not know which mode it runs in.  Embedded mode (``probo serve``)
and distributed mode (``probo gateway``) each build a :class:`Services` in an
async context manager (see :mod:`probo_engine.server.modes`) that the app's
lifespan enters and leaves, so everything the process owns is opened and
closed in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from probo_engine.engine import Engine
from probo_engine.server.auth import AuthStore
from probo_engine.server.config import ServerConfig

__all__ = ["Bus", "ReadModel", "Reply", "Services", "ServicesFactory"]


class Reply(Protocol):
    """``adapters.runner.Reply``: what a submitted command came to."""

    @property
    def seq(self) -> int: ...
    @property
    def result(self) -> int: ...
    @property
    def events(self) -> bytes: ...
    @property
    def duplicate(self) -> bool: ...


class Bus(Protocol):
    """``adapters.runner.CommandBus`` (docs/service.md)."""

    async def submit(
        self, cmd: tuple[Any, ...], key: bytes, *, timeout: float = 5.0
    ) -> Reply: ...


class ReadModel(Protocol):
    """A read replica of the engine and the command seq it reflects.

    Embedded mode reads the runner's own engine; a gateway reads a
    ``Replica`` that follows the entry stream.
    """

    @property
    def engine(self) -> Engine: ...
    @property
    def seq(self) -> int: ...


@dataclass
class Services:
    """Everything a server process owns, built for one app's lifetime."""

    auth: AuthStore
    bus: Bus
    reads: ReadModel
    #: history queries (``adapters.history``), ``None`` when not configured
    history: Any = None
    #: the WebSocket feed's ASGI endpoint, mounted at ``/ws`` when given
    ws_app: Any = None
    #: named gauges exported on /metrics (bus lag, archiver lag, ...)
    gauges: dict[str, Callable[[], float]] = field(default_factory=dict)
    #: ``True`` when every part is up (``/readyz``)
    ready: Callable[[], bool] = lambda: True
    #: called on shutdown after the server stopped accepting, newest first
    closers: Sequence[Callable[[], Awaitable[None]]] = ()


ServicesFactory = Callable[[ServerConfig], AbstractAsyncContextManager[Services]]
