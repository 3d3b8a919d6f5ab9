"""Shared runner of the atheris harnesses (``fuzz_*.py``).

Each harness defines ``check(data: bytes) -> None``: it feeds ``data`` to the
code under test, lets the documented exceptions pass and raises (or crashes)
on anything else.  ``check`` is plain Python, usable without atheris (the
reproducer tests call it); :func:`run` hands it to libFuzzer.

Coverage feedback: :func:`run` instruments the Python bytecode of
probo_engine's Python modules, the stdlib ``json`` package and the harness.
The Cython core (``probo_engine._book``) is a C extension built without
``-fsanitize=fuzzer``, so its branches give libFuzzer no feedback.  Two things
make up for part of that: :func:`reason` turns the message of an expected
exception (digits stripped) into one of 128 distinct branches, so an input
that a *different* check rejects counts as new coverage; and ``-keep_seed=1``
(set by the pytest driver) keeps the valid seeds in the corpus even though
they add no Python coverage, so mutations start from real snapshots.
"""

from __future__ import annotations

import gc
import re
import sys
import types
import zlib
from collections.abc import Callable, Sequence

BUCKETS = 128
_src = "def _ladder(k):\n" + "".join(
    f"    {'if' if i == 0 else 'elif'} k == {i}:\n        return {i}\n"
    for i in range(BUCKETS)
)
exec(compile(_src, "<fuzzing ladder>", "exec"), globals())  # noqa: S102
_DIGITS = re.compile(r"\d+")


def reason(exc: BaseException) -> int:
    """Branch on the kind of an expected exception (coverage feedback)."""
    text = type(exc).__name__ + _DIGITS.sub("#", str(exc))
    return _ladder(zlib.crc32(text.encode()) % BUCKETS)  # type: ignore[name-defined]  # noqa: F821


def instrument(prefixes: Sequence[str]) -> int:
    """Instrument every loaded Python function of the modules named ``prefixes*``.

    (``atheris.instrument_all()`` does the whole interpreter: about 13 s of
    start-up here, for coverage of pytest-free stdlib code that does not matter.)
    """
    import atheris

    done = 0
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        mod = getattr(obj, "__module__", None) or ""
        if mod.startswith(tuple(prefixes)) and mod in sys.modules:
            atheris.instrument_func(obj)
            done += 1
    return done


def run(check: Callable[[bytes], None], argv: list[str] | None = None) -> None:
    """Instrument probo_engine, json and the harness; fuzz ``check`` (no return)."""
    import atheris

    n = instrument(("probo_engine", "json", "fuzz", "__main__"))
    print(f"INFO: instrumented {n} Python functions", file=sys.stderr)
    atheris.Setup(sys.argv if argv is None else argv, check)
    atheris.Fuzz()


_COUNTS: dict[str, int] = {}


def count(what: str) -> None:
    """Count an event; print the count at each power of two (for long runs)."""
    n = _COUNTS[what] = _COUNTS.get(what, 0) + 1
    if n & (n - 1) == 0:
        print(f"STAT: {what}: {n}", file=sys.stderr)
