"""The environment of a child Python process that a test starts.

The child must import the same ``probo_engine`` as the test process: the
installed package in CI (whose ``src/`` has no compiled core), the source tree
in development.  ``child_env()`` puts that package's parent directory first on
``PYTHONPATH``, then any ``extra`` directories (test helper modules), then
whatever ``PYTHONPATH`` the test process had.
"""

from __future__ import annotations

import os
from pathlib import Path

import probo_engine

PACKAGE_ROOT = Path(probo_engine.__file__).resolve().parents[1]


def child_env(*extra: Path | str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    parts = [str(PACKAGE_ROOT), *map(str, extra)]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env
