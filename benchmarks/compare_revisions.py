"""Per-call ratio of two git revisions of the core, measured in one run.

Each revision is built from ``git archive`` into a temporary folder; then
``bench_percall.py`` (from the working tree, so the stream and the baseline are
the same) runs against each build in turn, alternating, in fresh processes.
Every process measures the core against the pure-Python baseline in that same
process, so machine drift cancels out of the ratio; the table shows medians.

    python benchmarks/compare_revisions.py OLD_REV [NEW_REV] [--rounds 5] [--n 300000]

NEW_REV defaults to the working tree's build (the installed ``probo_engine``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build(rev: str, where: str) -> str:
    """Build ``rev``'s core in place under ``where``; return its src folder."""
    os.makedirs(where, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", where], input=archive, check=True)
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=where,
        check=True,
        capture_output=True,
    )
    return os.path.join(where, "src")


def ratio(src: str | None, n: int) -> float:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "bench_percall.py"),
            "--n",
            str(n),
            "--runs",
            "3",
            "--no-ref",
            "--no-events-row",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout
    m = re.search(r"^Core, one call per command.*?([\d.]+)x\s*$", out, re.M)
    if not m:
        raise RuntimeError(f"no Core row in:\n{out}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new", nargs="?")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=300_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srcs = {args.old: build(args.old, os.path.join(tmp, "old"))}
        new = args.new or "working tree"
        srcs[new] = build(args.new, os.path.join(tmp, "new")) if args.new else None
        got: dict[str, list[float]] = {k: [] for k in srcs}
        for r in range(args.rounds):
            for rev, src in srcs.items():
                got[rev].append(ratio(src, args.n))
                print(f"round {r + 1}: {rev}: {got[rev][-1]:.2f}x", file=sys.stderr)
    print(f"$ python benchmarks/compare_revisions.py {' '.join(sys.argv[1:])}")
    print("| revision | per-call ratio to the pure-Python book (median) | runs |")
    print("|---|---:|---|")
    for rev, vals in got.items():
        print(
            f"| {rev} | {statistics.median(vals):.2f}x | "
            f"{', '.join(f'{v:.2f}' for v in vals)} |"
        )
    old, new_ = (statistics.median(v) for v in got.values())
    print(f"\nchange: {100 * (new_ / old - 1):+.1f}%")


if __name__ == "__main__":
    main()
