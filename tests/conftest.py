"""Shared fixtures: every engine test runs against each implementation.

``engine_cls`` is parametrised over the pure-Python oracle
(``tests/reference.py``) and, once it is built, the Cython core
(``probo_engine._book.Core``).  Both take the same positional-integer commands
and must give the same results, events and state (docs/semantics.md).
"""

from __future__ import annotations

import pytest

from reference import ReferenceEngine

IMPLEMENTATIONS = [pytest.param(ReferenceEngine, id="reference")]

try:
    from probo_engine._book import Core
except ImportError:  # the core is not built (yet): run the oracle alone
    Core = None
else:
    IMPLEMENTATIONS.append(pytest.param(Core, id="core"))


@pytest.fixture(params=IMPLEMENTATIONS)
def engine_cls(request: pytest.FixtureRequest) -> type:
    """An engine class: ``ReferenceEngine`` and, when built, the Cython ``Core``."""
    return request.param


@pytest.fixture
def engine(engine_cls: type):
    """A fresh, empty engine of each implementation."""
    return engine_cls()
