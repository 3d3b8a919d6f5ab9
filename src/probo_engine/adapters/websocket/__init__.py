"""Live market data over WebSocket (``docs/websocket.md``).

* :mod:`.protocol`: the JSON protocol, version 1, and the book checksum;
* :mod:`.feed`: :class:`Feed`, the fan-out hub over an entry source;
* :mod:`.server`: :class:`WsServer` (standalone with ``websockets``, or an
  ASGI endpoint), :class:`WsConfig`, :func:`run_ws`;
* :mod:`.client`: :class:`FeedClient`, a Python client with automatic resync.

Importing this package imports no third-party module; ``websockets`` is
loaded when a server or client starts (extra ``[ws]``).
"""

from __future__ import annotations

from probo_engine.adapters.websocket.feed import Feed, FeedError
from probo_engine.adapters.websocket.protocol import (
    CHECKSUM_VERSION,
    PROTOCOL_VERSION,
    book_checksum,
)
from probo_engine.adapters.websocket.server import TokenAuth, WsConfig, WsServer, run_ws

__all__ = [
    "CHECKSUM_VERSION",
    "PROTOCOL_VERSION",
    "Feed",
    "FeedError",
    "TokenAuth",
    "WsConfig",
    "WsServer",
    "book_checksum",
    "run_ws",
]
