"""Optional third-party imports with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, *, extra: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming the pip extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is needed here: pip install 'probo-engine[{extra}]'"
        ) from exc
