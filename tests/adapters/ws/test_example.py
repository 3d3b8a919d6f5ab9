"""examples/ws_live_book.py runs and its client stays exact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from childenv import child_env

ROOT = Path(__file__).resolve().parents[3]


def test_ws_live_book_example_runs():
    env = child_env()
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ws_live_book.py"), "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    ).stdout
    assert out.count("checksum ok: True") == 2
    assert "gaps 0, resyncs 0" in out
