"""Instructions per command of the per-call path, counted by callgrind.

Timings on a shared 2-core machine spread by +-15%; callgrind counts
instructions, which are repeatable for the same binary and input whatever else
the machine is doing.  The measured loop is ``bench_percall._core_loop`` (one
``place``/``cancel`` call per command on the default stream, as in the speed
table).  Each build is run twice under ``valgrind --tool=callgrind``: once with
``N`` timed commands after the warm-up and once without them; the difference
divided by ``N`` is the cost of one command, Python loop and call included, with
the interpreter start-up, stream loading and set-up cancelled out.

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
import pickle, sys
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
    _core_loop(s[{warm}:], core.place, core.cancel, ids, mid)
"""


def count(python: str, src: str, path: str, run: bool, tmp: str) -> int:
    """Total instructions of one driver process (callgrind's "Collected")."""
    code = DRIVER.format(here=HERE, path=path, warm=WARM, run=run)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, HERE]))
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
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
            f"--n {args.n}"
        )
        print("| build | instructions per command |")
        print("|---|---:|")
        for name, src in builds:
            per = (
                count(python, src, path, True, tmp)
                - count(python, src, path, False, tmp)
            ) / args.n
            print(f"| {name} | {per:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
