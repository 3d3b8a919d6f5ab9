"""The examples in the docstrings run (numpydoc doctests)."""

import doctest

import pytest

import probo_engine._book
import probo_engine._copy
import probo_engine.adapters.history.derive
import probo_engine.adapters.history.postgres
import probo_engine.engine
import probo_engine.journal
import probo_engine.readonly
import probo_engine.views

MODULES = [
    probo_engine._book,
    probo_engine._copy,
    probo_engine.adapters.history.derive,
    probo_engine.adapters.history.postgres,
    probo_engine.engine,
    probo_engine.journal,
    probo_engine.readonly,
    probo_engine.views,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_batch_docstring_examples():
    pytest.importorskip("numpy")
    import probo_engine.batch

    result = doctest.testmod(probo_engine.batch)
    assert result.failed == 0 and result.attempted > 5
