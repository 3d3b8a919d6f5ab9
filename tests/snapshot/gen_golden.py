"""Write ``golden/v{N}.bin`` and its state hash: a snapshot of a fixed scenario.

Run ``python tests/snapshot/gen_golden.py`` once per new snapshot format version
and commit the output; the tests then check that every committed version keeps
loading, to the same state, forever.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from probo_engine import Core
from probo_engine._book import SNAPSHOT_VERSION

HERE = Path(__file__).parent / "golden"


def scenario() -> Core:
    """Every kind of state: fees, GTD, client ids, amend, halt, resolve."""
    c = Core(max_open_orders=100)
    m0 = c.create_market(1000, 50, 0, 100, -20, 0)
    m1 = c.create_market(100, 1, 0, 300, 100, 1, 2, True)
    m2 = c.create_market(10000, 100)
    users = [c.create_user() for _ in range(4)]
    for u in users:
        c.deposit(u, 1_000_000)
        c.mint(u, m0, 50)
        c.mint(u, m2, 5)
    a, b, d, e = users
    c.place(a, m0, 0, 0, 600, 10)
    c.place(b, m0, 0, 1, 350, 4, 0, 0, 5, False, 77)
    c.place(d, m0, 1, 0, 700, 6, 3, 0, 6, False, 0, 1_000)
    c.place(e, m0, 1, 1, 300, 3)  # merge against a's bid
    c.place(a, m1, 0, 0, 40, 20, 0, 0, 7, True)
    c.place(b, m1, 0, 1, 70, 5)  # mint at 40 with fees
    c.place(d, m1, 0, 1, 50, 5)
    c.amend(a, 5, 45, 30, 8)
    c.place(e, m2, 0, 0, 4000, 2)
    c.halt(m1)
    c.resolve(m2, 10000)
    c.withdraw(e, 123)
    return c


def main() -> None:
    c = scenario()
    c.check_invariants()
    HERE.mkdir(exist_ok=True)
    path = HERE / f"v{SNAPSHOT_VERSION}.bin"
    path.write_bytes(c.snapshot())
    meta = {"state_hash": c.state_hash(), "totals": list(c.totals()), "fees": c.fees()}
    (HERE / f"v{SNAPSHOT_VERSION}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
