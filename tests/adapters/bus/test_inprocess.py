"""Replica and InProcessBus (with an in-memory log standing in for the files)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from probo_engine import Engine, commands
from probo_engine.adapters.entries import Entry, MemoryEntryLog
from probo_engine.adapters.runner import EngineRunner, InProcessBus, Replica, Reply
from probo_engine.commands import CreateMarket, CreateUser, Deposit, Place
from probo_engine.errors import InvariantError, UnavailableError

from .busstream import random_commands, setup_commands


class FakeLog:
    """A DurableEntryLog in memory; ``gate`` (if set) holds every commit."""

    def __init__(self) -> None:
        self.appended: list[Entry] = []
        self.durable: list[Entry] = []
        self.commits = 0
        self.gate: threading.Event | None = None
        self.fail: Exception | None = None
        self.snapshots: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()

    def append(self, entry: Entry) -> None:
        with self._lock:
            self.appended.append(entry)

    def commit(self) -> int:
        if self.gate is not None:
            assert self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self.durable = list(self.appended)
            self.commits += 1
            return self.durable[-1].seq if self.durable else 0

    def write_snapshot(self, seq: int, data: bytes) -> None:
        self.snapshots.append((seq, data))


def entries_of(runner_cmds, keys=None):
    r = EngineRunner()
    out = []
    for i, c in enumerate(runner_cmds):
        e = r.apply(c, b"" if keys is None else keys[i], now_ns=i)
        if isinstance(e, Entry):
            out.append(e)
    return r, out


# ----------------------------------------------------------------- replica


def test_replica_follows_entries_exactly():
    r, entries = entries_of(setup_commands() + random_commands(5, 3_000))
    rep = Replica()
    for e in entries:
        assert rep.apply_entry(e)
    assert rep.seq == r.seq
    assert rep.engine.state_hash() == r.engine.state_hash()
    assert not rep.apply_entry(entries[10])  # already applied: skipped


def test_replica_is_the_documented_equivalent():
    r, entries = entries_of(setup_commands() + random_commands(6, 500))
    eng = Engine()
    for e in entries:
        commands.apply(eng, commands.decode(e.command))
    rep = Replica()
    rep.apply_entries(entries)
    assert rep.engine.state_hash() == eng.state_hash()


def test_replica_refuses_a_gap_and_a_forgery():
    _, entries = entries_of([CreateUser(), CreateUser(), CreateUser()])
    rep = Replica()
    rep.apply_entry(entries[0])
    with pytest.raises(ValueError, match="missing"):
        rep.apply_entry(entries[2])
    with pytest.raises(InvariantError):
        rep.apply_entry(Entry(2, b"", entries[1].command, 99, b""))


def test_replica_from_snapshot_then_follow():
    r, entries = entries_of(setup_commands() + random_commands(9, 1_000))
    snap_at = 600
    r2 = EngineRunner()
    for e in entries[:snap_at]:
        r2.apply_entry(e)
    rep = Replica.from_snapshot(r2.snapshot())
    assert rep.seq == snap_at
    log = MemoryEntryLog()
    for e in entries:
        log.append(e)

    async def main() -> None:
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(rep.follow(log, batch=100, poll=0.05, stop=stop))
            assert await rep.wait_for(len(entries), timeout=30)
            assert not await rep.wait_for(len(entries) + 1, timeout=0.05)
            stop.set()

    asyncio.run(main())
    assert rep.engine.state_hash() == r.engine.state_hash()


# ------------------------------------------------------------------- bus


def test_bus_in_memory_mode():
    async def main() -> None:
        async with InProcessBus(
            EngineRunner(), clock=iter(range(10**6)).__next__
        ) as bus:
            rep = await bus.submit(CreateMarket(), b"a")
            assert rep == Reply(1, 0, rep.events, False)
            rep2 = await bus.submit(CreateMarket(), b"a")
            assert rep2.duplicate and rep2.seq == 1
            assert bus.tail.head() == 1 and bus.durable_seq == 1
            entries = await bus.tail.read(0, 10, 0)
            assert [e.seq for e in entries] == [1]

    asyncio.run(main())


def test_bus_group_commit_and_order():
    log = FakeLog()
    cmds = setup_commands() + random_commands(21, 2_000)
    n_clients = 16

    async def main() -> InProcessBus:
        async with InProcessBus(EngineRunner(), log=log) as bus:
            for c in cmds[:51]:  # setup, one at a time
                await bus.submit(c, b"")

            async def client(k: int) -> list[Reply]:
                out = []
                for i in range(51 + k, len(cmds), n_clients):
                    out.append(await bus.submit(cmds[i], f"c{i}".encode(), timeout=30))
                    assert bus.durable_seq >= out[-1].seq
                return out

            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(client(k)) for k in range(n_clients)]
            replies = [r for t in tasks for r in t.result()]
            assert sorted(r.seq for r in replies) == list(range(52, len(cmds) + 1))
            return bus

    bus = asyncio.run(main())
    assert [e.seq for e in log.durable] == list(range(1, len(cmds) + 1))
    assert log.commits < len(cmds) - 51  # commits were shared
    assert bus.tail.head() == len(cmds)
    rep = Replica()
    rep.apply_entries(log.durable)
    assert rep.engine.state_hash() == bus.runner.engine.state_hash()


def test_bus_duplicate_waits_for_the_original_to_be_durable():
    log = FakeLog()
    log.gate = threading.Event()

    async def main() -> None:
        async with InProcessBus(EngineRunner(), log=log) as bus:
            first = asyncio.create_task(bus.submit(CreateUser(), b"k", timeout=30))
            await asyncio.sleep(0)
            second = asyncio.create_task(bus.submit(CreateUser(), b"k", timeout=30))
            await asyncio.sleep(0.05)
            assert not first.done() and not second.done()
            assert bus.tail.head() == 0  # consumers see nothing not durable
            log.gate.set()
            a, b = await first, await second
            assert (a.seq, a.duplicate, b.seq, b.duplicate) == (1, False, 1, True)

    asyncio.run(main())


def test_bus_timeout_is_unavailable_then_retry_finds_the_result():
    log = FakeLog()
    log.gate = threading.Event()

    async def main() -> None:
        async with InProcessBus(EngineRunner(), log=log) as bus:
            with pytest.raises(UnavailableError):
                await bus.submit(CreateUser(), b"k", timeout=0.05)
            log.gate.set()
            again = await bus.submit(CreateUser(), b"k", timeout=30)
            assert again.duplicate and again.seq == 1

    asyncio.run(main())


def test_bus_log_failure_refuses_everything():
    log = FakeLog()
    log.fail = OSError(28, "No space left on device")

    async def main() -> None:
        async with InProcessBus(EngineRunner(), log=log) as bus:
            with pytest.raises(UnavailableError, match="No space"):
                await bus.submit(CreateUser(), b"a", timeout=30)
            with pytest.raises(UnavailableError):
                await bus.submit(CreateUser(), b"b", timeout=30)
            assert bus.health()["failed"]
            assert bus.tail.head() == 0

    asyncio.run(main())


def test_bus_misuse_raises_and_submit_outside_context_is_unavailable():
    async def main() -> None:
        bus = InProcessBus(EngineRunner(), log=FakeLog())
        with pytest.raises(UnavailableError):
            await bus.submit(CreateUser(), b"")
        async with bus:
            with pytest.raises(ValueError):
                await bus.submit(CreateMarket(1000, 7), b"x")
            assert bus.runner.seq == 0
            assert (await bus.submit(CreateMarket(), b"x")).seq == 1

    asyncio.run(main())


def test_bus_stamps_time_from_its_clock_and_snapshots():
    log = FakeLog()
    ticks = iter([500, 400, 900])

    async def main() -> None:
        async with InProcessBus(
            EngineRunner(), log=log, clock=lambda: next(ticks)
        ) as bus:
            await bus.submit(CreateMarket(), b"")
            await bus.submit(CreateUser(), b"")
            await bus.submit(Deposit(0, 100), b"")
            seq = await bus.snapshot()
            assert seq == 3
        stamped = [commands.decode(e.command) for e in log.durable]
        assert stamped[0].ts == 500 and stamped[2].ts == 900
        r, _ = EngineRunner.restore(log.snapshots[0][1])
        assert r.seq == 3 and r.last_ts == 900

    asyncio.run(main())


def test_close_commits_what_is_pending():
    log = FakeLog()

    async def main() -> list[Reply]:
        bus = InProcessBus(EngineRunner(), log=log)
        async with bus, asyncio.TaskGroup() as tg:
            cmd = Place(0, 0, 0, 0, 500, 1)
            ts = [tg.create_task(bus.submit(cmd, b"")) for _ in range(20)]
        return [t.result() for t in ts]

    replies = asyncio.run(main())
    assert len(log.durable) == 20 and [r.seq for r in replies] == list(range(1, 21))


def test_an_error_in_the_body_comes_out_unchanged():
    async def main() -> None:
        async with InProcessBus(EngineRunner(), log=FakeLog()) as bus:
            await bus.submit(CreateUser(), b"")
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        asyncio.run(main())


def test_a_failing_snapshot_write_is_not_fatal():
    log = FakeLog()

    def broken(seq: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    log.write_snapshot = broken  # type: ignore[method-assign]

    async def main() -> None:
        async with InProcessBus(EngineRunner(), log=log, snapshot_every=3) as bus:
            for _ in range(10):
                await bus.submit(CreateUser(), b"")
            assert bus.health()["failed"] is None and bus.durable_seq == 10

    asyncio.run(main())


def test_submit_many_applies_in_order_and_commits_once():
    log = FakeLog()
    cmds = setup_commands()

    async def main() -> None:
        async with InProcessBus(EngineRunner(), log=log) as bus:
            for c in cmds:
                await bus.submit(c, b"")
            n = bus.runner.seq
            commits = log.commits
            good = Deposit(0, 5)
            items = [
                (good, b"k1"),
                (CreateMarket(tick=7), b"k2"),  # misuse: raised for this item only
                (good, b"k3"),
                (good, b"k1"),  # a retry of the first: its reply, not applied
            ]
            out = await bus.submit_many(items, timeout=30)
            assert isinstance(out[1], ValueError)
            r1, r3, dup = out[0], out[2], out[3]
            assert isinstance(r1, Reply) and isinstance(r3, Reply)
            assert isinstance(dup, Reply)
            assert (r1.seq, r3.seq) == (n + 1, n + 2) and not r1.duplicate
            assert dup.duplicate and dup.seq == r1.seq
            assert bus.durable_seq == n + 2  # durable before the answer
            assert log.commits == commits + 1  # one group commit for all
            assert await bus.submit_many([], timeout=1) == []
        with pytest.raises(UnavailableError):
            await bus.submit_many([(good, b"")])

    asyncio.run(main())
    assert [e.seq for e in log.durable][-2:] == [len(cmds) + 1, len(cmds) + 2]
