"""The threading contract: a second thread gets ConcurrentUseError, never a crash.

A Core is single-threaded.  Calls that keep the GIL cannot interleave; the ones
that release it (``run_batch`` and ``batch.run``, ``snapshot``, ``depth_into``)
mark the core busy, and any call from another thread meanwhile is refused with
:class:`probo_engine.ConcurrentUseError` before it touches anything.

The race runs in a child process, so a memory error fails the test instead of
killing pytest (before the guard, this pattern segfaulted 3 runs out of 3).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

np = pytest.importorskip("numpy")

from probo_engine import ConcurrentUseError, Core, ProboError  # noqa: E402
from probo_engine.batch import COMMAND_DTYPE, run  # noqa: E402

RACE = textwrap.dedent(
    """
    import sys, threading, time
    import numpy as np
    from probo_engine import ConcurrentUseError, Core, InvariantError
    from probo_engine.batch import COMMAND_DTYPE, run

    core = Core()
    m = core.create_market()
    users = [core.create_user() for _ in range(8)]
    for u in users:
        core.deposit(u, 10**12)
    n = 200_000
    rng = np.random.default_rng(7)
    cmds = np.zeros(n, COMMAND_DTYPE)
    cmds["kind"] = 1  # place
    cmds["uid"] = rng.integers(0, 8, n)
    cmds["side"] = rng.integers(0, 2, n)
    cmds["outcome"] = rng.integers(0, 2, n)
    cmds["price"] = rng.integers(1, 20, n) * 50
    cmds["qty"] = rng.integers(1, 50, n)
    mode = sys.argv[1]
    refused = ok = 0
    started = threading.Event()

    def batch():
        # the batch itself may be the refused one (the other thread's
        # snapshot holds the core): retry until three batches have run
        global refused
        started.set()
        done = 0
        while done < 3:
            try:
                run(core, cmds)
                done += 1
            except ConcurrentUseError:
                refused += 1

    t = threading.Thread(target=batch)
    t.start()
    started.wait()
    while t.is_alive():
        try:
            if mode == "place":
                r = core.place(0, m, 0, 0, 50, 1)
                if r > 0:
                    core.cancel(0, r)
            elif mode == "snapshot":
                core.snapshot()
                time.sleep(0.002)  # let the batch thread in between snapshots
            else:
                core.balance(1), core.top(m), core.depth(m, 50), core.last_events()
            ok += 1
        except ConcurrentUseError:
            refused += 1
        except InvariantError as exc:
            print("InvariantError", exc)
            sys.exit(3)
    t.join()
    core.check_invariants()
    print(refused, ok)
    """
)


@pytest.mark.parametrize("mode", ["place", "snapshot", "queries"])
def test_second_thread_during_batch_is_refused_not_corrupting(mode: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", RACE, mode],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    refused, _ok = map(int, proc.stdout.split())
    # 3 batches of 200k orders run for a good fraction of a second with the
    # GIL released: the other thread is refused many times meanwhile
    assert refused > 0


def test_refused_call_changes_nothing_and_names_the_section() -> None:
    core = Core()
    m = core.create_market()
    u = core.create_user()
    core.deposit(u, 10_000)
    before = core.snapshot()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            core.place(u, m, 0, 0, 500, 1)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    token = core._hold()  # what batch.run does around its slices
    try:
        # the holder itself may still call (batch.run does, between slices)
        assert core.balance(u) == (10_000, 0)
        t = threading.Thread(target=other)
        t.start()
        t.join(timeout=30)
    finally:
        core._unhold(token)
    assert len(errors) == 1 and isinstance(errors[0], ConcurrentUseError)
    assert isinstance(errors[0], ProboError) and isinstance(errors[0], RuntimeError)
    assert "run_batch" in str(errors[0])
    assert core.snapshot() == before
    # released: the other thread's call now goes through
    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=30)
    assert len(errors) == 1 and core.balance(u) == (10_000 - 500, 500)


def test_batch_run_in_one_thread_still_works_with_queries_between() -> None:
    core = Core()
    m = core.create_market()
    u = core.create_user()
    core.deposit(u, 10**9)
    cmds = np.zeros(10_000, COMMAND_DTYPE)
    cmds["kind"] = 1
    cmds["uid"] = u
    cmds["mid"] = m
    cmds["price"] = 500
    cmds["qty"] = 1
    out = run(core, cmds)
    assert (out.results > 0).all()
    assert core.top(m)[1] == 10_000  # not left busy
    core.check_invariants()
