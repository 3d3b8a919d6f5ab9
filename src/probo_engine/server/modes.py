"""How each mode builds its :class:`~probo_engine.server.services.Services`.

* :func:`memory_services`: the runner and an :class:`InProcessBus` with no
  log (nothing durable: tests and throw-away demos only);
* :func:`embedded_services`: ``probo serve``: the runner on a durable local
  entry log in the data directory, history in SQLite, the WebSocket feed;
* :func:`gateway_services`: ``probo gateway``: a ``RedisBus`` and a replica
  following the Redis entry stream.

Each is an async context manager that opens everything in order and closes it
in reverse, so the app's lifespan owns it all.  Each makes the first admin on
first start (:func:`ensure_admin`).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from probo_engine.adapters.runner import EngineRunner, InProcessBus
from probo_engine.server.auth import AuthStore
from probo_engine.server.config import ServerConfig
from probo_engine.server.services import Services

__all__ = ["ensure_admin", "memory_services"]

log = logging.getLogger("probo.server")

ADMIN_FILE = "admin-credentials.txt"


async def ensure_admin(services: Services, data: Path) -> Path | None:
    """Make the first admin if there is no user yet; return the file that
    holds its credentials (mode 0600), or ``None`` if users exist.

    The engine user is made through the bus (``CreateUser(name="admin")``),
    like every other user.
    """
    from probo_engine.server.api import Ctx
    from probo_engine.server.auth import RateLimiter
    from probo_engine.server.metrics import Metrics
    from probo_engine.server.v1 import create_user

    auth = services.auth
    if auth.n_users():
        return None
    ctx = Ctx(ServerConfig(data=data), Metrics(), RateLimiter(1, 1), RateLimiter(1, 1))
    ctx.services = services
    password = secrets.token_urlsafe(18)
    await create_user(ctx, "admin", admin=True, pw=password)
    key_id, secret = auth.new_key("admin")
    path = data / ADMIN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "# probo: the first admin, made on first start. Keep this file secret;\n"
            "# delete it once you have stored these elsewhere.\n"
            f"user = admin\npassword = {password}\n"
            f"api_key = {key_id}\napi_secret = {secret}\n"
        )
    return path


@asynccontextmanager
async def memory_services(
    config: ServerConfig, *, make_admin: bool = True
) -> AsyncIterator[Services]:
    """Runner + in-memory bus; the auth store in ``config.data``."""
    async with AsyncExitStack() as stack:
        auth = AuthStore(config.data, config.sig_window_ms)
        stack.callback(auth.close)
        bus = await stack.enter_async_context(InProcessBus(EngineRunner()))
        svc = Services(auth=auth, bus=bus, reads=bus.runner)
        if make_admin:
            await ensure_admin(svc, config.data)
        yield svc
