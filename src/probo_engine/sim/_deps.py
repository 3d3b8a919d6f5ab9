"""Optional imports of the simulation toolkit (numpy, pandas, matplotlib).

numpy is needed by everything in :mod:`probo_engine.sim`; pandas only by the
``to_pandas()`` helpers and matplotlib only by the plotting helpers.  All three
come with the ``[sim]`` extra; none of them is imported by ``import
probo_engine``.
"""

from __future__ import annotations

from types import ModuleType

from probo_engine import _optional

__all__ = ["INSTALL_HINT", "require"]

INSTALL_HINT = "pip install 'probo-engine[sim]'"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature`` or say how to install it."""
    return _optional.require(module, extra="sim", feature=feature)
