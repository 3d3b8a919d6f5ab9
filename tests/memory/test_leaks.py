"""Memory stays flat over long runs (measured in a subprocess, by RSS)."""

import json
import subprocess
import sys

import pytest

CHILD = r"""
import json, sys
from probo_engine import Core

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

c = Core()
m = c.create_market(100, 1)
a, b = c.create_user(), c.create_user()
c.deposit(a, 10**15); c.deposit(b, 10**15)
c.mint(a, m, 10**9); c.mint(b, m, 10**9)
samples = []
n = int(sys.argv[1])
for i in range(n):
    # rest, cancel; rest GTD and let it expire; cross (mint/merge); events read
    o = c.place(a, m, 0, 0, 40 + i % 20, 5, 0, 0, i, False, 1 + i % 1000)
    c.cancel(a, o, i)
    c.place(b, m, 1, 1, 70, 3, 3, 0, i, False, 0, i + 5)
    c.place(a, m, 0, 0, 50, 2, 1, 0, i)
    c.place_market(b, m, 1, 0, 1, 0, False, 0, i)
    c.last_events()
    if i % (n // 10) == 0:
        samples.append(rss_kb())
samples.append(rss_kb())
c.check_invariants()
print(json.dumps({"samples": samples, "live": c.totals()[3]}))
"""


@pytest.mark.slow  # a million cycles
def test_rss_is_flat_over_a_million_cycles():
    out = subprocess.run(
        [sys.executable, "-c", CHILD, "1000000"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    res = json.loads(out)
    samples = res["samples"]
    # After warm-up (the first tenth), 4.5 million more commands may not grow
    # RSS by 1 MB: a leak of a quarter of a byte per command would.
    assert samples[-1] - samples[1] < 1024, samples
    assert res["live"] < 10, res
