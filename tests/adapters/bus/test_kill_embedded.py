"""SIGKILL the embedded engine (InProcessBus + LocalEntryLog) again and again
while clients send commands; every acknowledged command must survive exactly
once, and the state must equal an uninterrupted run of the same commands."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from childenv import child_env
from probo_engine import Engine, commands
from probo_engine.adapters.locallog import LocalEntryLog
from probo_engine.adapters.runner import Reply

from .busstream import random_commands, setup_commands

CHILD = Path(__file__).with_name("embedded_child.py")


class Child:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.port_file = data.parent / "port"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        if self.port_file.exists():
            self.port_file.unlink()
        env = child_env()
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(self.data), str(self.port_file)], env=env
        )
        deadline = time.monotonic() + 60
        while not self.port_file.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"child exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError("child did not start in 60 s")
            time.sleep(0.01)
        return int(self.port_file.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)


async def drive(child: Child, cmds, *, kills: int, clients: int, seed: int, base=0):
    """Send every command (key ``k<i>``) until each is acknowledged, killing
    the child ``kills`` times at random moments.  Returns the acks."""
    rng = random.Random(seed)
    acks: dict[int, tuple[int, int, int]] = {}  # i -> (seq, result, duplicate)
    todo = list(range(len(cmds)))[::-1]  # pop() from the end: in order
    retry: list[int] = []  # sent, fate unknown (the child died)
    port: int | None = None
    up = asyncio.Event()

    async def client() -> None:
        while todo or retry:
            await up.wait()
            p = port
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", p), 10
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(0.01)
                continue
            i = None
            try:
                while todo or retry:
                    i = retry.pop() if retry else todo.pop()
                    key = f"k{base + i}"
                    w.write(f"{key} {commands.encode(cmds[i]).hex()}\n".encode())
                    await w.drain()
                    line = await asyncio.wait_for(r.readline(), 60)
                    if not line:
                        raise ConnectionResetError("child gone")
                    got, *rest = line.decode().split()
                    assert got == f"k{base + i}" and rest[0] != "ERR", line
                    acks[i] = (int(rest[0]), int(rest[1]), int(rest[2]))
                    i = None
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                if i is not None:
                    retry.append(i)
                w.close()

    async def killer() -> None:
        nonlocal port
        for k in range(kills + 1):
            port = await asyncio.to_thread(child.start)
            up.set()
            if k == kills:
                return
            await asyncio.sleep(rng.uniform(0.05, 0.4))
            up.clear()
            child.kill()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(killer())
        for _ in range(clients):
            tg.create_task(client())
    return acks


@pytest.mark.slow
def test_sigkill_embedded_engine_loses_nothing(tmp_path):
    data = tmp_path / "data"
    setup = setup_commands()
    cmds = setup + random_commands(77, 6_000)
    with LocalEntryLog.open(data) as log:
        log.set_checkpoint("kill-test", 0)  # keep every entry to check them
    child = Child(data)
    try:
        # the setup in order (one client, no kills), then the load with kills
        acks = asyncio.run(drive(child, setup, kills=0, clients=1, seed=0))
        child.kill()
        rest = cmds[len(setup) :]
        acks2 = asyncio.run(
            drive(child, rest, kills=20, clients=6, seed=1, base=len(setup))
        )
        child.kill()
    finally:
        if child.proc is not None and child.proc.poll() is None:
            child.kill()
    acks.update({i + len(setup): a for i, a in acks2.items()})
    print("retries answered as duplicates:", sum(a[2] for a in acks.values()))
    assert len(acks) == len(cmds)

    with LocalEntryLog.open(data) as log:
        runner = log.runner
        entries = log.read_sync(0, 10**9)
        assert [e.seq for e in entries] == list(range(1, runner.seq + 1))
        by_key = {}
        for e in entries:
            assert e.key not in by_key, f"{e.key!r} applied twice"
            by_key[e.key] = e
        # every command was acknowledged with its one entry's seq and result
        assert len(by_key) == len(cmds) == runner.seq
        for i, (seq, result, _dup) in acks.items():
            e = by_key[f"k{i}".encode()]
            assert (e.seq, e.result) == (seq, result)
            sent = cmds[i]
            if "ts" in sent._fields:  # the runner stamped the time
                sent = sent._replace(ts=commands.decode(e.command).ts)
            assert commands.decode(e.command) == sent
        # a retry now is answered from the window, not applied
        rep = runner.apply(cmds[100], b"k100")
        assert isinstance(rep, Reply) and rep.duplicate and rep.seq == acks[100][0]
        # an uninterrupted in-process run of the same accepted commands
        eng = Engine()
        for e in entries:
            assert commands.apply(eng, commands.decode(e.command)) == e.result
        assert eng.state_hash() == runner.engine.state_hash()
        assert log.recovery.snapshot_seq > 0  # snapshots were part of it
