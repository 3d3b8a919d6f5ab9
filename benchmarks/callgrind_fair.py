"""Instructions per command of the rows of bench_fair.py (callgrind).

Wall-clock ratios on a shared machine spread; instruction counts repeat.  For
each row, the row's loop runs under ``valgrind --tool=callgrind`` twice on the
same stream (``bench_fair.make_stream``): once over ``WARM + N`` commands and
once over ``WARM``; the difference divided by ``N`` is one command, its fill
reading and the Python loop included.  ``--rows`` picks rows by key, the
batch rows (``batch``, ``batch_fills``) included: for those the building of
the command array (untimed in bench_fair) is counted the same way and
subtracted.  Both counts load the whole stream and make its by-name copy
(bench_fair makes it untimed), so neither is counted.  Collections are frozen
out as in
bench_fair.  Slow (valgrind runs ~50x slower): keep ``--n`` small.

    python benchmarks/callgrind_fair.py --shape small --n 5000
    python benchmarks/callgrind_fair.py --shape deep --n 30000 \
        --rows pybook batch batch_fills
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
WARM = 5_000

DRIVER = """
import gc, pickle, sys
sys.path.insert(0, {here!r})
import bench_fair as b
full = pickle.load(open({path!r}, "rb"))
stream = full[: {upto}]
# the by-name copy of the whole stream, in both counts (so it cancels out)
b._NAMED[id(stream)] = b.named_stream(full)[: {upto}]
gc.collect(); gc.freeze()
if {key!r} == "batch_setup":
    b.batch_commands(stream, 0)
else:
    dict(b.ROWS_BY_KEY)[{key!r}](stream, None)
"""


def count(python: str, src: str, path: str, key: str, upto: int, tmp: str) -> int:
    code = DRIVER.format(here=HERE, path=path, key=key, upto=upto)
    # Fixed hash seed, and no idle OpenBLAS threads (numpy starts them; under
    # valgrind their spinning adds a varying count): repeatable to the unit.
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([src, HERE]),
        PYTHONHASHSEED="0",
        OPENBLAS_NUM_THREADS="1",
    )
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
    ap.add_argument("--n", type=int, default=5_000, help="measured commands")
    ap.add_argument("--shape", default="small", choices=["deep", "small"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--rows",
        nargs="+",
        default=None,
        help="row keys (bench_fair.ROWS_BY_KEY; default: the per-call rows); "
        "the first is the ratios' base",
    )
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    import bench_fair as b
    import probo_engine

    python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    src = os.path.dirname(os.path.dirname(probo_engine.__file__))
    stream, _ = b.make_stream(WARM + args.n, args.shape, args.seed)
    rows = f" --rows {' '.join(args.rows)}" if args.rows else ""
    cmd = f"python benchmarks/callgrind_fair.py --shape {args.shape} --n {args.n}"
    print(f"$ {cmd}{rows}")
    print("| row | instructions per command | × pybook |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stream.pkl")
        with open(path, "wb") as f:
            pickle.dump(stream, f)
        base = 0.0
        keys = args.rows or [k for k, _ in b.ROWS_BY_KEY if not k.startswith("batch")]
        setup = 0.0  # batch rows: building the command array (untimed there)
        for key in keys:
            full = count(python, src, path, key, WARM + args.n, tmp)
            warm = count(python, src, path, key, WARM, tmp)
            per = (full - warm) / args.n
            if key.startswith("batch"):
                if not setup:
                    s_full = count(python, src, path, "batch_setup", WARM + args.n, tmp)
                    s_warm = count(python, src, path, "batch_setup", WARM, tmp)
                    setup = (s_full - s_warm) / args.n
                per -= setup
            base = base or per
            print(f"| {key} | {per:,.0f} | {base / per:.2f}× |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
