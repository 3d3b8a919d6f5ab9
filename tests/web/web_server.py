"""A real ``probo serve`` process for the browser tests, and HTTP clients on it.

The server runs as ``python -m probo_engine.server serve`` in a fresh data
directory on a free port, with the test on-ramp on.  ``admin`` is a client
logged in with the credentials the server wrote on first start;
``user(name)`` logs a user in (session cookie + CSRF token, as the browser
does).  ``start()`` may be called again after the process died: same port,
same data directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from probo_engine.server.modes import ADMIN_FILE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """A logged-in user: JSON in and out, errors raised with the body."""

    def __init__(self, base: str, name: str, password: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10.0)
        r = self.http.post("/v1/session", json={"name": name, "password": password})
        r.raise_for_status()
        self.csrf = r.json()["csrf_token"]

    def _do(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(
            method, path, json=body, headers={"X-CSRF-Token": self.csrf}
        )
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def get(self, path: str) -> Any:
        return self._do("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self._do("POST", path, body)

    def close(self) -> None:
        self.http.close()


class ServeProcess:
    def __init__(self, tmp: Path) -> None:
        self.data = tmp / "data"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.clients: list[Client] = []

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "probo_engine.server", "serve",
            "--data", str(self.data), "--port", str(self.port),
            "--test-onramp",  # the packaged web UI is the default
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=os.environ)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"probo serve exited: {self._tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"probo serve not ready in 60 s: {self._tail()}")

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    @property
    def admin_password(self) -> str:
        for line in (self.data / ADMIN_FILE).read_text().splitlines():
            if line.startswith("password = "):
                return line.split(" = ", 1)[1]
        raise AssertionError("no admin password in the credentials file")

    @property
    def admin(self) -> Client:
        return self.user("admin", self.admin_password)

    def user(self, name: str, password: str | None = None) -> Client:
        c = Client(self.url, name, password or f"{name}-password")
        self.clients.append(c)
        return c

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for c in self.clients:
            c.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
