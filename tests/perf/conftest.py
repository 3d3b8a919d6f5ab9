"""Performance regression tests (pytest-benchmark), off by default.

Everything in this folder is skipped unless the run asks for it, so the normal
``pytest`` run times nothing:

    pytest -m perf tests/perf                     # run them (needs pytest-benchmark)
    PROBO_PERF=1 pytest tests/perf                # same, without the marker filter
    pytest -m perf tests/perf --benchmark-autosave  # keep a baseline to compare

There are no timed assertions: the numbers are for regression tracking
(``--benchmark-compare``), the speed targets are measured by ``benchmarks/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parents[1] / "benchmarks"


def perf_enabled(config: pytest.Config) -> bool:
    if os.environ.get("PROBO_PERF", "") not in ("", "0"):
        return True
    expr = " ".join((config.getoption("markexpr", "") or "").split())
    return "perf" in expr and "not perf" not in expr


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    enabled = perf_enabled(config)
    skip = pytest.mark.skip(reason="perf tests: run with -m perf or PROBO_PERF=1")
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue  # this hook sees the whole session's items
        item.add_marker(pytest.mark.perf)
        if not enabled:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bench_modules():
    """``benchmarks/`` on ``sys.path`` (stream generator, baseline book)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    pytest.importorskip("sortedcontainers")
    import stream

    return stream
