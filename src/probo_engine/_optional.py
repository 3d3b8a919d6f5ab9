"""Optional third-party imports, with an error that says what to install.

The adapters and the numpy/simulation layers import their third-party
packages through :func:`require`, only when used, so ``import probo_engine``
never needs them.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, *, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise ImportError naming the pip extra to install.

    ``feature`` names what needs it (e.g. ``"SimResult.to_pandas()"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        who = feature or "this"
        raise ImportError(
            f"{who} needs {top}, which is not installed: "
            f"pip install 'probo-engine[{extra}]'"
        ) from exc
