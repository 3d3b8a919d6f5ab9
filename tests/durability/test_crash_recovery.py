"""THE crash test: SIGKILL a journaling child process again and again.

A child process (``crash_child.py``) applies a seeded stream of 50,000
commands through a :class:`DurableEngine` (group commit mostly, fsync per
command in some runs; a snapshot every 7,000 commands), printing each
acknowledged sequence number as it becomes durable.  The parent kills it with
SIGKILL at 20+ random moments -- shortly after an acknowledgement (so
mid-append, mid-sync, mid-rotation or mid-snapshot; some runs write in small
chunks so that a kill tears a record) and a few while it is still starting or
recovering -- and restarts it each time; the child recovers and continues
with the next command of the stream.  Every restart must recover at least
everything acknowledged so far; at the end every command must be in the
journal exactly once, in order, and the state (``state_hash`` included) must
equal a run that never crashed.  Each child runs with its own
``PYTHONHASHSEED``.

The seed is random unless ``PROBO_CRASH_SEED`` is set; it is printed (run
with ``-s`` to see it) and is part of every assertion message.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cmdstream import ENGINE_OPTIONS, fingerprint, make_stream, reference_run

from probo_engine.commands import encode
from probo_engine.journal import DurableEngine, read_journal

N = 50_000
ACK_KILLS = 22  # killed just after an acknowledgement
EARLY_KILLS = 4  # killed while starting up or recovering
SNAPSHOT_EVERY = 7_000
CHILD = Path(__file__).with_name("crash_child.py")


class Child:
    """One run of the child, its output parsed line by line."""

    def __init__(self, data: Path, stream_file: Path, policy: str, group: int,
                 chunk: int, seed: int, log: Path) -> None:  # fmt: skip
        env = dict(os.environ, PYTHONHASHSEED=str(seed % 4_294_967_295))
        self.err = log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                str(data),
                str(stream_file),
                policy,
                str(group),
                str(SNAPSHOT_EVERY),
                str(chunk),
            ],
            stdout=subprocess.PIPE,
            stderr=self.err,
            env=env,
        )
        # A hung child must not hang the test (nor pass for a crash).
        self.hung = False
        self.watchdog = threading.Timer(120, self.time_out)
        self.watchdog.start()
        self.recovered: int | None = None
        self.torn = self.snap = self.replayed = 0
        self.acks: list[int] = []
        self.done = False

    def time_out(self) -> None:
        self.hung = True
        self.proc.kill()

    def feed(self, line: bytes) -> None:
        kind, _, value = line.decode().partition(" ")
        if kind == "R":
            self.recovered, self.torn, self.snap, self.replayed = map(
                int, value.split()[:4]
            )
        elif kind == "A":
            self.acks.append(int(value))
        elif kind == "D":
            self.done = int(value) == N

    def read_line(self) -> bool:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            return False
        self.feed(line)
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)

    def finish(self) -> int:
        """Read what is left, reap the process; its return code."""
        while self.read_line():
            pass
        rc = self.proc.wait()
        self.watchdog.cancel()
        self.proc.stdout.close()  # type: ignore[union-attr]
        self.err.close()
        return rc


@pytest.mark.slow  # SIGKILLs a child over and over
def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path):
    seed = int(
        os.environ.get("PROBO_CRASH_SEED", random.SystemRandom().randrange(2**32))
    )
    print(f"\ncrash test seed {seed} (PROBO_CRASH_SEED={seed} to rerun)")
    why = f"(crash test seed {seed})"
    rng = random.Random(seed)
    t0 = time.monotonic()

    stream = make_stream(seed, N)
    stream_file = tmp_path / "stream.bin"
    stream_file.write_bytes(
        b"".join(struct.pack("<H", len(b)) + b for b in map(encode, stream))
    )
    data = tmp_path / "data"
    DurableEngine.open(data, engine_options=ENGINE_OPTIONS).close()
    log = tmp_path / "child-stderr.log"

    plan = ["ack"] * ACK_KILLS + ["early"] * EARLY_KILLS
    rng.shuffle(plan)
    plan.append("finish")
    max_acked = 0
    kills = 0
    history = []
    for run_no, kind in enumerate(plan):
        remaining = sum(1 for k in plan[run_no:] if k == "ack")
        policy, group = "group", rng.choice((8, 64, 256))
        if kind == "ack" and rng.random() < 0.2:
            policy, group = "fsync", 1  # slow: these runs stop early anyway
        t_run = time.monotonic()
        chunk = rng.choice((0, 0, 7, 64))
        child = Child(
            data, stream_file, policy, group, chunk, rng.randrange(2**32), log
        )
        try:
            if kind == "early":
                time.sleep(rng.uniform(0.0, 0.3))
                child.kill()
            elif kind == "ack":
                while child.recovered is None and child.read_line():
                    pass
                start = child.recovered or 0
                span = max(50, (N - start) // (remaining + 1))
                if policy == "fsync":
                    span = min(span, 400)
                target = start + rng.randint(1, 2 * span)
                while child.read_line():
                    if child.done or (child.acks and child.acks[-1] >= target):
                        break
                time.sleep(rng.uniform(0.0, 0.003))  # land anywhere after it
                child.kill()
            rc = child.finish()
        finally:
            child.kill()
            if child.proc.poll() is None:
                child.finish()
        assert not child.hung, f"child hung for 120 s {why}: {history}"
        killed = rc == -signal.SIGKILL
        kills += killed
        history.append(
            (kind, policy, group, chunk, child.recovered, child.acks[-1:], rc,
             child.torn, child.snap, child.replayed, time.monotonic() - t_run)
        )  # fmt: skip
        assert killed or rc == 0, (
            f"child failed rc={rc} {why}: {log.read_text()[-3000:]}"
        )
        if child.recovered is not None:
            # Nothing acknowledged before this start was lost.
            assert child.recovered >= max_acked, (history, why)
        assert child.acks == sorted(child.acks), why
        if child.acks:
            assert child.acks[-1] <= N, why
            max_acked = max(max_acked, child.acks[-1])
        if kind == "finish":
            assert child.done and rc == 0, (history, why)

    assert kills >= 20, (kills, history, why)
    # Exactly once, none lost: the journal left holds stream[seq - 1] at each
    # seq, contiguous up to N (older segments were pruned behind snapshots).
    with DurableEngine.open(data) as db:
        assert db.appended_seq == db.acked_seq == N, why
        got = fingerprint(db.engine)
        first = db.recovery.snapshot_seq
    recs = list(read_journal(data))
    assert recs, why
    assert [r.seq for r in recs] == list(range(recs[0].seq, N + 1)), why
    assert recs[0].seq <= first + 1, why
    assert all(r.command == stream[r.seq - 1] for r in recs), why
    assert got == fingerprint(reference_run(stream)), why
    elapsed = time.monotonic() - t0
    torn = sum(1 for h in history if h[7])
    snaps = sum(1 for h in history if h[8])
    print(
        f"{kills} kills, {len(plan)} runs, {torn} torn tails cut, "
        f"{snaps} recoveries from a snapshot, {elapsed:.1f} s"
    )
    for kind, pol, grp, chk, rec, ack, rc, cut, snap, rep, secs in history:
        print(
            f"  {kind:6} {pol}/{grp} chunk={chk} recovered={rec} acked={ack} "
            f"rc={rc} torn={cut} snapshot={snap} replayed={rep} {secs:.2f}s"
        )
