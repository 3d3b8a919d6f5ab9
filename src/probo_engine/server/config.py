"""Server configuration: defaults, then a TOML file, then ``PROBO_*`` env, then flags.

One frozen dataclass, :class:`ServerConfig`, holds every setting.  Its field
names are the keys of the TOML file (top level, no tables) and, upper-cased
with a ``PROBO_`` prefix, the environment variables (``PROBO_PORT=8080``); the
CLI's flags override both.  Values are checked when the config is built
(:class:`ConfigError` names the bad key), never later.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

__all__ = ["ConfigError", "ServerConfig", "load_config"]


class ConfigError(ValueError):
    """A configuration key that is unknown or has a value of the wrong kind."""


@dataclass(frozen=True)
class ServerConfig:
    """Every setting of the reference server (see docs/server.md)."""

    #: directory that holds the entry log, snapshots, history and auth store
    data: Path = Path("probo-data")
    host: str = "127.0.0.1"
    port: int = 8000
    #: largest request body, bytes (413 beyond)
    max_body: int = 64 * 1024
    #: signed requests: accepted distance between the client's timestamp and
    #: the server's clock, milliseconds (both directions)
    sig_window_ms: int = 5_000
    #: token bucket per credential: refill rate (requests per second) and size
    rate_per_s: float = 1_000.0
    rate_burst: int = 2_000
    #: token bucket per client IP for requests that fail authentication
    auth_fail_per_s: float = 20.0
    auth_fail_burst: int = 100
    #: how long a command may wait for the engine before a 503, seconds
    bus_timeout: float = 5.0
    #: browser sessions: lifetime in seconds; ``Secure`` cookie flag
    session_ttl: int = 12 * 3600
    secure_cookies: bool = False
    #: let a non-admin deposit into their own account (a documented test
    #: on-ramp for demos; off by default: deposits are an admin operation)
    test_onramp: bool = False
    #: largest batch of orders in one request
    max_batch: int = 20
    #: one JSON log line per request (metrics are always on)
    access_log: bool = False
    log_level: str = "INFO"
    #: directory of the static web UI served at ``/ui`` (default: the UI that
    #: ships with the package, ``probo_engine/server/web``)
    web_dir: Path | None = None
    #: distributed mode
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "probo"
    pg_dsn: str = "postgresql://postgres@127.0.0.1:5432/probo"
    #: extra settings the adapters' run_* functions read (not checked here)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> ServerConfig:
        return _build({**_as_dict(self), **changes}, "arguments")


def _as_dict(cfg: ServerConfig) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


_FIELDS = {f.name: f for f in dataclasses.fields(ServerConfig)}


def _coerce(name: str, value: Any, where: str, text: bool = False) -> Any:
    """``value`` as the type of field ``name``; ``text``: parse a string (env)."""
    kind = str(_FIELDS[name].type)
    bad = ConfigError(f"{where}: {name} = {value!r} is not a valid {kind}")
    if "Path" in kind:
        if value is None and "None" in kind:
            return None
        if isinstance(value, str | Path) and str(value):
            return Path(value)
        raise bad
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if text and value.lower() in ("1", "true", "yes", "on"):
            return True
        if text and value.lower() in ("0", "false", "no", "off"):
            return False
        raise bad
    if kind == "int":
        if text:
            try:
                value = int(value, 10)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad
        return value
    if kind == "float":
        if text:
            try:
                value = float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise bad
        return float(value)
    if kind == "str":
        if not isinstance(value, str):
            raise bad
        return value
    if not isinstance(value, Mapping):
        raise bad
    return dict(value)


def _build(values: Mapping[str, Any], where: str) -> ServerConfig:
    out = {}
    for k, v in values.items():
        if k not in _FIELDS:
            raise ConfigError(f"{where}: unknown setting {k!r}")
        out[k] = _coerce(k, v, where)
    cfg = ServerConfig(**out)
    if not 1 <= cfg.max_batch <= 1000:
        raise ConfigError(f"{where}: max_batch must be 1..1000")
    if cfg.port > 65535:
        raise ConfigError(f"{where}: port must be 0..65535")
    return cfg


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Defaults, then the TOML file at ``path``, then ``PROBO_<KEY>`` from
    ``env`` (default ``os.environ``), then ``overrides`` (flags; ``None``
    values are ignored)."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as f:
                values.update(tomllib.load(f))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    _build(values, f"config file {path}")
    env = os.environ if env is None else env
    for name in _FIELDS:
        if name == "extra":
            continue
        v = env.get("PROBO_" + name.upper())
        if v is not None:
            values[name] = _coerce(name, v, f"environment PROBO_{name.upper()}", True)
    _build(values, "environment")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return _build(values, "flags")
