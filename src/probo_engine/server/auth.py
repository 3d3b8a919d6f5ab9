"""Credentials: users, API keys (HMAC-signed requests), browser sessions.

Where things live: ``<data>/auth.sqlite3`` (SQLite, WAL) holds the users (name,
engine uid, admin flag, argon2 password hash), the API keys (id, owner, secret
*encrypted* with AES-256-GCM under the server key) and the browser sessions
(SHA-256 of the token, CSRF token, expiry).  The server key is 32 random
bytes in ``<data>/server.key`` (mode 0600), made on first start; losing it
makes every API key unusable (issue new ones), never readable.

**Signed requests** (programs).  Every request carries::

    X-Probo-Key:        the key id (``pk_`` + 24 hex digits)
    X-Probo-Timestamp:  milliseconds since the Unix epoch, the client's clock
    X-Probo-Nonce:      8..64 characters of [A-Za-z0-9_-], never reused
    X-Probo-Signature:  hex HMAC-SHA256(secret, message)
    X-Probo-Max-Age:    optional, milliseconds: refuse the request if it
                        reaches the server later than this after signing

    message = ts "\\n" METHOD "\\n" path "\\n" query "\\n" nonce "\\n"
              max_age "\\n" body

``path`` is the request path exactly as sent (percent-encoded, no query),
``query`` the raw query string without ``?`` (empty if none), ``max_age`` the
header's value or empty, ``body`` the raw body bytes.  Unlike Kalshi's scheme,
the query and the body are signed, so neither can be changed in flight.  The
server refuses a timestamp further than ``sig_window_ms`` from its clock
(either way), a nonce already seen for that key within the window (replay),
and a signature that does not match (compared in constant time).  The secret
is shown once, when the key is made; it is never logged.

**Sessions** (the browser).  ``POST /v1/session`` with a name and password
(argon2id hash) sets an HttpOnly, SameSite=Strict cookie ``probo_session``
and returns a CSRF token (also in the readable cookie ``probo_csrf``); every
unsafe request (POST, PUT, PATCH, DELETE) made with the session cookie must
send that token in ``X-CSRF-Token`` (synchronizer token: the server compares
it with the one stored for the session).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probo_engine._optional import require

__all__ = [
    "AuthError",
    "AuthStore",
    "NonceCache",
    "Principal",
    "RateLimiter",
    "SecretBox",
    "sign",
    "signature_message",
]

KEY_HEADER = "x-probo-key"
TS_HEADER = "x-probo-timestamp"
NONCE_HEADER = "x-probo-nonce"
SIG_HEADER = "x-probo-signature"
MAX_AGE_HEADER = "x-probo-max-age"
CSRF_HEADER = "x-csrf-token"
SESSION_COOKIE = "probo_session"
CSRF_COOKIE = "probo_csrf"

_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_KEY_RE = re.compile(r"pk_[0-9a-f]{24}")
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DIGITS_RE = re.compile(r"[0-9]{1,15}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


class AuthError(Exception):
    """A request whose credentials are missing or refused.

    ``code`` is the API error code; ``status`` the HTTP status (401, or 403
    for a CSRF failure).
    """

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: taken only from the credentials, never from a body."""

    name: str  #: the user's name (also the engine user's name)
    uid: int  #: the engine's user id
    admin: bool
    credential: str  #: the key id, or ``"session"``: the rate-limit bucket
    via_session: bool = False


def valid_name(name: str) -> bool:
    """User names and market symbols: 1..64 of [A-Za-z0-9_.-]."""
    return _NAME_RE.fullmatch(name) is not None


def signature_message(
    ts: str, method: str, path: str, query: str, nonce: str, max_age: str, body: bytes
) -> bytes:
    """The bytes a request's signature covers (see the module docstring)."""
    head = f"{ts}\n{method.upper()}\n{path}\n{query}\n{nonce}\n{max_age}\n"
    return head.encode() + body


def sign(
    key_id: str,
    secret: str,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    *,
    ts_ms: int | None = None,
    nonce: str | None = None,
    max_age_ms: int | None = None,
) -> dict[str, str]:
    """The headers that authenticate one request with an API key."""
    ts = str(int(time.time() * 1000) if ts_ms is None else ts_ms)
    nonce = secrets.token_hex(12) if nonce is None else nonce
    max_age = "" if max_age_ms is None else str(max_age_ms)
    msg = signature_message(ts, method, path, query, nonce, max_age, body)
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    headers = {
        "X-Probo-Key": key_id,
        "X-Probo-Timestamp": ts,
        "X-Probo-Nonce": nonce,
        "X-Probo-Signature": sig,
    }
    if max_age:
        headers["X-Probo-Max-Age"] = max_age
    return headers


class SecretBox:
    """AES-256-GCM under the server key; what the store keeps is nonce + ciphertext."""

    def __init__(self, key: bytes) -> None:
        aead = require(
            "cryptography.hazmat.primitives.ciphers.aead",
            extra="server",
            feature="API key encryption",
        )
        if len(key) != 32:
            raise ValueError("the server key must be 32 bytes")
        self._aead: Any = aead.AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """Load the key at ``path``, creating it (mode 0600) if it is missing."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
        else:
            key = secrets.token_bytes(32)
            with os.fdopen(fd, "wb") as f:
                f.write(key)
                f.flush()
                os.fsync(f.fileno())
        return cls(key)

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + bytes(self._aead.encrypt(nonce, plain, aad))

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        return bytes(self._aead.decrypt(sealed[:12], sealed[12:], aad))


class NonceCache:
    """Nonces seen per key within the signature window (replay protection).

    A nonce is remembered until its request's timestamp is out of the window,
    so anything older is refused by the timestamp check instead.
    """

    def __init__(self, window_ms: int) -> None:
        self._window = window_ms
        self._seen: set[tuple[str, str]] = set()
        self._order: deque[tuple[int, str, str]] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_add(self, key_id: str, nonce: str, ts_ms: int, now_ms: int) -> bool:
        """``False`` if ``nonce`` was already used with ``key_id``."""
        order = self._order
        while order and order[0][0] < now_ms:
            _, k, n = order.popleft()
            self._seen.discard((k, n))
        item = (key_id, nonce)
        if item in self._seen:
            return False
        self._seen.add(item)
        # forget it once the timestamp check alone refuses it; entries are
        # kept in expiry order only approximately (clients' clocks differ),
        # so expire no earlier than now + 2 windows
        order.append((max(ts_ms, now_ms) + 2 * self._window, key_id, nonce))
        return True


class RateLimiter:
    """Token buckets by name: ``rate`` tokens a second up to ``burst``."""

    def __init__(self, rate: float, burst: int, max_buckets: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max = max_buckets

    def take(self, name: str, now: float | None = None) -> float:
        """Take one token; return 0.0, or the seconds to wait when there is none."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(name, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= self._max and name not in self._buckets:
                self._buckets.clear()  # bounded memory; full buckets lose nothing
            self._buckets[name] = (tokens - 1.0, now)
            return 0.0
        self._buckets[name] = (tokens, now)
        return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


@dataclass(slots=True)
class _User:
    name: str
    uid: int
    admin: bool
    pw_hash: str | None


@dataclass(slots=True)
class _Key:
    key_id: str
    name: str
    secret: bytes


@dataclass(slots=True)
class _Session:
    name: str
    csrf: str
    expires: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, uid INTEGER NOT NULL UNIQUE, admin INTEGER NOT NULL,
    pw_hash TEXT, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users(name),
    secret_enc BLOB NOT NULL, created INTEGER NOT NULL, revoked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL, expires REAL NOT NULL);
"""


class AuthStore:
    """Users, keys and sessions in ``<data>/auth.sqlite3`` (module docstring).

    Everything is loaded into memory at open (secrets decrypted), so checking
    a request touches no disk; writes go to SQLite first, then to memory.
    Methods are synchronous and short, except password hashing, which the
    caller runs in a thread (:meth:`hash_password`, :meth:`check_password`).
    """

    def __init__(self, data: Path, window_ms: int = 5_000) -> None:
        self._argon2: Any = require(
            "argon2", extra="server", feature="password hashing"
        ).PasswordHasher()
        data.mkdir(parents=True, exist_ok=True)
        self._box = SecretBox.from_file(data / "server.key")
        self._db = sqlite3.connect(
            data / "auth.sqlite3", isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.window_ms = window_ms
        # verifying against a hash of a random password costs what a real
        # check costs, so a login for an unknown user is not faster
        self._dummy: str = self._argon2.hash(secrets.token_hex(16))
        self.nonces = NonceCache(window_ms)
        self._users: dict[str, _User] = {}
        self._by_uid: dict[int, _User] = {}
        self._keys: dict[str, _Key] = {}
        self._sessions: dict[str, _Session] = {}
        for name, uid, admin, pw in self._db.execute(
            "SELECT name, uid, admin, pw_hash FROM users"
        ):
            u = _User(name, uid, bool(admin), pw)
            self._users[name] = u
            self._by_uid[uid] = u
        for key_id, name, enc in self._db.execute(
            "SELECT key_id, name, secret_enc FROM api_keys WHERE revoked = 0"
        ):
            secret = self._box.open(enc, key_id.encode())
            self._keys[key_id] = _Key(key_id, name, secret)
        now = time.time()
        for th, name, csrf, exp in self._db.execute(
            "SELECT token_hash, name, csrf, expires FROM sessions"
        ):
            if exp > now:
                self._sessions[th] = _Session(name, csrf, exp)

    def close(self) -> None:
        self._db.close()

    # -------------------------------------------------------------- users

    def n_users(self) -> int:
        return len(self._users)

    def user(self, name: str) -> _User | None:
        return self._users.get(name)

    def user_by_uid(self, uid: int) -> _User | None:
        return self._by_uid.get(uid)

    def users(self) -> list[_User]:
        return sorted(self._users.values(), key=lambda u: u.uid)

    def add_user(
        self, name: str, uid: int, *, admin: bool = False, pw_hash: str | None = None
    ) -> None:
        """Record a user whose engine user ``uid`` exists already."""
        with self._lock:
            self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                (name, uid, int(admin), pw_hash, int(time.time())),
            )
        u = _User(name, uid, admin, pw_hash)
        self._users[name] = u
        self._by_uid[uid] = u

    def set_password_hash(self, name: str, pw_hash: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE users SET pw_hash = ? WHERE name = ?", (pw_hash, name)
            )
        self._users[name].pw_hash = pw_hash

    def hash_password(self, password: str) -> str:
        """argon2id (slow on purpose: call it in a thread)."""
        h: str = self._argon2.hash(password)
        return h

    def check_password(self, name: str, password: str) -> bool:
        """Constant work whether or not the user exists (call it in a thread)."""
        u = self._users.get(name)
        stored = u.pw_hash if u is not None and u.pw_hash else None
        try:
            ok = bool(self._argon2.verify(stored or self._dummy, password))
        except Exception:  # argon2's VerifyMismatchError / InvalidHashError
            return False
        return ok and stored is not None

    # --------------------------------------------------------------- keys

    def new_key(self, name: str) -> tuple[str, str]:
        """Make an API key for user ``name``; return ``(key_id, secret)``.

        The secret is returned here once and stored only encrypted.
        """
        if name not in self._users:
            raise KeyError(name)
        key_id = "pk_" + secrets.token_hex(12)
        secret = secrets.token_urlsafe(32)
        enc = self._box.seal(secret.encode(), key_id.encode())
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, 0)",
                (key_id, name, enc, int(time.time())),
            )
        self._keys[key_id] = _Key(key_id, name, secret.encode())
        return key_id, secret

    def revoke_key(self, key_id: str) -> bool:
        if key_id not in self._keys:
            return False
        with self._lock:
            self._db.execute(
                "UPDATE api_keys SET revoked = 1 WHERE key_id = ?", (key_id,)
            )
        del self._keys[key_id]
        return True

    def keys_of(self, name: str) -> list[str]:
        return sorted(k.key_id for k in self._keys.values() if k.name == name)

    def key_owner(self, key_id: str) -> str | None:
        k = self._keys.get(key_id)
        return None if k is None else k.name

    def verify_signed(
        self,
        headers: Any,
        method: str,
        path: str,
        query: str,
        body: bytes,
        now_ms: int | None = None,
    ) -> Principal:
        """The principal of a signed request, or :class:`AuthError`."""
        key_id = headers.get(KEY_HEADER)
        ts = headers.get(TS_HEADER)
        nonce = headers.get(NONCE_HEADER)
        sig = headers.get(SIG_HEADER)
        max_age = headers.get(MAX_AGE_HEADER) or ""
        if not key_id or not ts or not nonce or not sig:
            raise AuthError(
                "unauthenticated",
                "sign the request (X-Probo-Key, -Timestamp, -Nonce, -Signature) "
                "or log in",
            )
        if _KEY_RE.fullmatch(key_id) is None or (key := self._keys.get(key_id)) is None:
            raise AuthError("bad_key", "unknown or revoked API key")
        if _DIGITS_RE.fullmatch(ts) is None:
            raise AuthError("bad_timestamp", "X-Probo-Timestamp must be milliseconds")
        if _NONCE_RE.fullmatch(nonce) is None:
            raise AuthError("bad_nonce", "X-Probo-Nonce must be 8..64 of [A-Za-z0-9_-]")
        if max_age and _DIGITS_RE.fullmatch(max_age) is None:
            raise AuthError("bad_max_age", "X-Probo-Max-Age must be milliseconds")
        if _HEX64_RE.fullmatch(sig) is None:
            raise AuthError("bad_signature", "the signature does not match")
        msg = signature_message(ts, method, path, query, nonce, max_age, body)
        want = hmac.new(key.secret, msg, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            raise AuthError("bad_signature", "the signature does not match")
        now = int(time.time() * 1000) if now_ms is None else now_ms
        ts_ms = int(ts)
        if abs(now - ts_ms) > self.window_ms:
            raise AuthError(
                "expired",
                f"timestamp {ts_ms} is more than {self.window_ms} ms from the "
                f"server's clock {now}",
            )
        if max_age and now - ts_ms > int(max_age):
            raise AuthError(
                "too_late", f"the request arrived after its max age {max_age} ms"
            )
        if not self.nonces.check_and_add(key_id, nonce, ts_ms, now):
            raise AuthError("replayed", "this nonce was already used")
        u = self._users[key.name]
        return Principal(u.name, u.uid, u.admin, key_id)

    # ----------------------------------------------------------- sessions

    def new_session(self, name: str, ttl: float) -> tuple[str, str]:
        """Start a session; return ``(token, csrf_token)``."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        th = hashlib.sha256(token.encode()).hexdigest()
        exp = time.time() + ttl
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)", (th, name, csrf, exp)
            )
        self._sessions[th] = _Session(name, csrf, exp)
        return token, csrf

    def end_session(self, token: str) -> None:
        th = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (th,))
        self._sessions.pop(th, None)

    def verify_session(self, token: str, method: str, csrf: str | None) -> Principal:
        th = hashlib.sha256(token.encode()).hexdigest()
        s = self._sessions.get(th)
        if s is None or s.expires < time.time():
            raise AuthError("bad_session", "the session is unknown or expired; log in")
        if method not in ("GET", "HEAD", "OPTIONS") and (
            csrf is None or not hmac.compare_digest(csrf.encode(), s.csrf.encode())
        ):
            raise AuthError("csrf", "missing or wrong X-CSRF-Token", status=403)
        u = self._users[s.name]
        return Principal(u.name, u.uid, u.admin, "session:" + u.name, via_session=True)
