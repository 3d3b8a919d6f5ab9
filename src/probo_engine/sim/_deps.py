"""Optional third-party imports of the simulation toolkit, with clear messages.

numpy is needed by everything in :mod:`probo_engine.sim`; pandas only by the
``to_pandas()`` helpers and matplotlib only by the plotting helpers.  All three
come with the ``[sim]`` extra; none of them is imported by ``import
probo_engine``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["INSTALL_HINT", "require"]

INSTALL_HINT = "pip install 'probo-engine[sim]'"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says how to get it.

    ``feature`` names what needs it, e.g. ``"SimResult.to_pandas()"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ImportError(
            f"{feature} needs {top}, which is not installed: {INSTALL_HINT}"
        ) from exc
