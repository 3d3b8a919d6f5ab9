"""Instructions per command of the per-call path, counted by callgrind.

Timings on a shared 2-core machine spread by +-15%; callgrind counts
instructions, which are repeatable for the same binary and input whatever else
the machine is doing.  The measured loop is ``bench_percall._core_loop`` (one
``place``/``cancel`` call per command on the default stream, as in the speed
table).  Each build runs once under ``valgrind --tool=callgrind`` with
collection on only inside the measured loop (it is called through
``functools.reduce``, and ``--toggle-collect=functools_reduce`` counts just that
call): instructions divided by ``N`` is the cost of one command, Python loop and
call included.  ``--whole`` is the earlier method: two whole runs, with and
without the ``N`` commands, differenced; it also counts what the ``N`` commands
cost outside the loop (garbage collection, teardown), which moved the figure by
up to about 1% between builds of the same source.

    python benchmarks/callgrind_percall.py [OLD_REV ...] [--n 50000]

Each ``OLD_REV`` is built from ``git archive`` (``compare_revisions.build``);
the working tree's build (the importable ``probo_engine``) is always measured.
Needs valgrind.  Runs the real interpreter binary (``sys._base_executable``
resolved), since valgrind cannot follow a virtualenv's launcher.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WARM = 20_000

DRIVER = """
import functools, pickle, sys
sys.path.insert(0, {here!r})
import stream as st
from bench_percall import _core_loop
from probo_engine._book import Core
s = pickle.load(open({path!r}, "rb"))
core = Core()
mid = st.setup_engine(core, 100)
ids = [0] * st.n_places(s)
_core_loop(s[:{warm}], core.place, core.cancel, ids, mid)
if {run}:
    functools.reduce(
        lambda a, b: _core_loop(s[{warm}:], core.place, core.cancel, ids, mid),
        [0, 0])
"""


def count(
    python: str, src: str, path: str, run: bool, tmp: str, loop_only: bool = True
) -> int:
    """Instructions of one driver process (callgrind's "Collected"): all of
    them, or with ``loop_only`` those inside the measured loop."""
    code = DRIVER.format(here=HERE, path=path, warm=WARM, run=run)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, HERE]))
    toggle = ["--toggle-collect=functools_reduce"] if loop_only else []
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            *toggle,
            f"--callgrind-out-file={tmp}/cg.out",
            python,
            "-c",
            code,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    m = re.search(r"Collected : (\d+)", proc.stderr)
    if m is None:
        raise RuntimeError(f"no callgrind total in:\n{proc.stderr[-2000:]}")
    return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("revs", nargs="*", help="older revisions to compare")
    ap.add_argument("--n", type=int, default=50_000, help="timed commands")
    ap.add_argument(
        "--whole",
        action="store_true",
        help="difference of two whole runs (the method before 2026-12-08)",
    )
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    import probo_engine
    import stream as st
    from compare_revisions import build

    python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stream.pkl")
        with open(path, "wb") as f:
            pickle.dump(st.generate(args.n + WARM, 100, 1), f)
        builds = [(rev, build(rev, os.path.join(tmp, rev))) for rev in args.revs]
        here_src = os.path.dirname(os.path.dirname(probo_engine.__file__))
        builds.append(("working tree", here_src))
        print(
            f"$ python benchmarks/callgrind_percall.py {' '.join(args.revs)} "
            f"--n {args.n}{' --whole' if args.whole else ''}"
        )
        print("| build | instructions per command |")
        print("|---|---:|")
        for name, src in builds:
            if args.whole:
                total = count(python, src, path, True, tmp, False)
                total -= count(python, src, path, False, tmp, False)
            else:
                total = count(python, src, path, True, tmp)
            per = total / args.n
            print(f"| {name} | {per:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
