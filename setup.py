"""Build the Cython core.

Environment toggles (all off by default):

* ``PROBO_DEBUG=1``    checks on: bounds/overflow checks, ``-O0 -g``, and the
  ``PROBO_DEBUG`` macro, which runs ``check_invariants()`` after every command.
* ``PROBO_ANNOTATE=1`` write the ``cython -a`` HTML annotation next to the sources.
* ``PROBO_SANITIZE=1`` build with AddressSanitizer and UBSan.
* ``PROBO_TRACE=1``    line tracing for coverage/profilers.

Release builds (none of these toggles) are ``-O3`` with no debug info.
"""

import os
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "0") not in ("", "0", "false", "no")


DEBUG = _flag("PROBO_DEBUG")
ANNOTATE = _flag("PROBO_ANNOTATE")
SANITIZE = _flag("PROBO_SANITIZE")
TRACE = _flag("PROBO_TRACE")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "nonecheck": False,
    "cdivision": True,
    "embedsignature": True,
    "embedsignature.format": "clinic",  # __text_signature__ for inspect
    "binding": False,  # plain C methods: cheaper calls than cyfunctions
    "overflowcheck": DEBUG,
    "linetrace": TRACE,
    "profile": TRACE,
}

macros = [("PROBO_DEBUG", "1" if DEBUG else "0")]
# Release builds carry no debug info (Python's own CFLAGS add -g; -g0 after it
# wins, and the linker drops any that is left): ~4.7 MB -> well under 1 MB of
# .so.  The symbol table stays, so perf and callgrind still name functions.
RELEASE = not (DEBUG or TRACE or SANITIZE)
compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-g0"] if RELEASE else ["-O3"]
# The hot helpers of _book (_ev, _begin, the level and order helpers) are
# `cdef inline`, and GCC inlines them only while the module's total growth
# from inlining stays under --param inline-unit-growth (40% by default in GCC
# 12).  _book passed that as it grew: _ev stopped being inlined into _place and
# _match (+1.3% instructions per command, callgrind_percall.py).  Allow more.
if "clang" not in (sysconfig.get_config_var("CC") or ""):
    compile_args += ["--param=inline-unit-growth=80"]
link_args: list = ["-Wl,--strip-debug"] if RELEASE else []
if SANITIZE:
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    compile_args += san
    link_args += san
if TRACE:
    macros += [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]

extensions = [
    Extension(
        f"probo_engine.{name}",
        [f"src/probo_engine/{name}.pyx"],
        include_dirs=["src/probo_engine"],
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    # _book: Core (matching, ledger, the def API); _snapshot, _invariants,
    # _lifecycle, _queries, _results, _funds and _expiry: code on Core's fields
    # that not every command runs (cimport _book.pxd); _args: the cold half of
    # argument conversion; _layout: the Python-level tables; _replay: journal
    # replay into Core.run_batch; _copy: PostgreSQL binary COPY rows for the
    # history store.  Shared C: _c/*.h via the .pxd files.
    for name in (
        "_book", "_args", "_layout", "_lifecycle", "_queries", "_results", "_funds",
        "_expiry", "_snapshot", "_invariants", "_replay", "_copy",
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=ANNOTATE,
        compile_time_env={},
    ),
)
