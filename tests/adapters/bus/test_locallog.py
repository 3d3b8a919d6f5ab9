"""LocalEntryLog: durable entries, recovery, snapshots, pruning, reading back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from probo_engine.adapters.entries import Entry
from probo_engine.adapters.locallog import LocalEntryLog, open_bus
from probo_engine.adapters.runner import EngineRunner, InProcessBus, Reply
from probo_engine.commands import CreateUser
from probo_engine.errors import JournalCorruptError, JournalError

from .busstream import random_commands, setup_commands

CMDS = setup_commands() + random_commands(31, 3_000)


def state(r: EngineRunner):
    return (r.engine.state_hash(), r.seq, r.last_ts, r.window_keys())


async def drive(bus: InProcessBus, cmds, *, clients: int = 8, tag: str = "k"):
    """Submit ``cmds`` from ``clients`` concurrent tasks; the replies in order."""
    replies: dict[int, Reply] = {}

    async def client(k: int) -> None:
        for i in range(k, len(cmds), clients):
            replies[i] = await bus.submit(cmds[i], f"{tag}{i}".encode(), timeout=30)

    async with asyncio.TaskGroup() as tg:
        for k in range(clients):
            tg.create_task(client(k))
    return [replies[i] for i in range(len(cmds))]


def run_bus(path, cmds, *, clients=8, tag="k", **kw):
    bus = open_bus(path, **kw)

    async def main():
        async with bus:
            for c in cmds[:51]:
                await bus.submit(c, b"")
            return await drive(bus, cmds[51:], clients=clients, tag=tag)

    try:
        replies = asyncio.run(main())
        return bus, replies
    finally:
        bus.log.close()  # type: ignore[union-attr]


def segments(path: Path) -> list[Path]:
    return sorted(path.glob("entries-*.log"))


def test_recovery_gives_the_same_runner(tmp_path):
    bus, replies = run_bus(tmp_path, CMDS, snapshot_every=None)
    assert len(replies) == len(CMDS) - 51
    with LocalEntryLog.open(tmp_path) as log:
        assert state(log.runner) == state(bus.runner)
        assert log.recovery.replayed == len(CMDS) and log.recovery.snapshot_seq == 0
        # the dedup window came back: a retry is answered, not applied
        r = log.runner.apply(CMDS[60], b"k60")
        assert isinstance(r, Reply) and r.duplicate


def test_restart_continues_the_log(tmp_path):
    bus1, _ = run_bus(tmp_path, CMDS[:1000], snapshot_every=None)
    bus2 = open_bus(tmp_path, snapshot_every=None)
    assert bus2.runner.seq == 1000

    async def more():
        async with bus2:
            return await drive(bus2, CMDS[1000:], tag="more")

    try:
        asyncio.run(more())
    finally:
        bus2.log.close()  # type: ignore[union-attr]
    with LocalEntryLog.open(tmp_path) as log:
        assert log.runner.seq == len(CMDS)
        assert log.runner.engine.state_hash() == bus2.runner.engine.state_hash()


def test_snapshots_and_pruning(tmp_path):
    bus, _ = run_bus(tmp_path, CMDS, snapshot_every=400, segment_bytes=20_000)
    snaps = sorted(tmp_path.glob("runner-*.snap"))
    assert len(snaps) == 2  # keep_snapshots
    first = int(segments(tmp_path)[0].name[8:28])
    oldest_snap = int(snaps[0].name[7:27])
    assert 1 < first <= oldest_snap + 1  # old segments went, needed ones stayed
    with LocalEntryLog.open(tmp_path) as log:
        assert log.recovery.snapshot_seq == int(snaps[-1].name[7:27])
        assert log.recovery.replayed == len(CMDS) - log.recovery.snapshot_seq
        assert state(log.runner) == state(bus.runner)
    # a damaged newest snapshot: the older one and the entries after it
    data = bytearray(snaps[-1].read_bytes())
    data[100] ^= 0xFF
    snaps[-1].write_bytes(bytes(data))
    with LocalEntryLog.open(tmp_path) as log:
        assert log.recovery.snapshot_seq == oldest_snap
        assert log.recovery.skipped_snapshots
        assert state(log.runner) == state(bus.runner)


def test_checkpoint_holds_back_pruning(tmp_path):
    log = LocalEntryLog.open(tmp_path, segment_bytes=20_000)
    log.set_checkpoint("archiver", 10)
    log.close()
    bus, _ = run_bus(tmp_path, CMDS, snapshot_every=400, segment_bytes=20_000)
    assert int(segments(tmp_path)[0].name[8:28]) <= 11
    with LocalEntryLog.open(tmp_path) as log:
        assert log.checkpoints == {"archiver": 10}
        got = log.read_sync(10, 5)
        assert [e.seq for e in got] == [11, 12, 13, 14, 15]
        log.remove_checkpoint("archiver")
        assert log.checkpoints == {}


def test_read_from_files_returns_the_entries(tmp_path):
    bus = open_bus(tmp_path, snapshot_every=None, segment_bytes=30_000, keep=100)
    seen: list[Entry] = []

    async def main():
        async with bus:
            await drive(bus, CMDS[:51], clients=1)
            await drive(bus, CMDS[51:], tag="x")
            # the tail keeps only the newest ~100-200: the rest from the files
            src = bus.source
            after = 0
            while after < bus.durable_seq:
                got = await src.read(after, 333, 1)
                assert got and got[0].seq == after + 1
                seen.extend(got)
                after = got[-1].seq
            assert await src.read(after, 10, 0.01) == []

    try:
        asyncio.run(main())
        assert len(segments(tmp_path)) > 5
        log = bus.log
        assert isinstance(log, LocalEntryLog)
        assert [e.seq for e in seen] == list(range(1, len(CMDS) + 1))
        again = log.read_sync(0, 10**6)
        assert again == seen
        for start in (0, 1, 63, 64, 65, 777, len(CMDS) - 1):
            assert log.read_sync(start, 50) == seen[start : start + 50]
    finally:
        bus.log.close()  # type: ignore[union-attr]
    with LocalEntryLog.open(tmp_path) as log:  # and after a restart
        assert log.read_sync(100, 5) == seen[100:105]
        assert asyncio.run(log.read(len(CMDS), 5, 0.02)) == []


def test_torn_tail_is_truncated(tmp_path):
    run_bus(tmp_path, CMDS[:500], snapshot_every=None)
    seg = segments(tmp_path)[-1]
    size = seg.stat().st_size
    with LocalEntryLog.open(tmp_path) as log:
        full = state(log.runner)
    # cut the last record in half, then add garbage
    with open(seg, "r+b") as f:
        f.truncate(size - 30)
        f.seek(0, os.SEEK_END)
        f.write(b"\x00garbage")
    with LocalEntryLog.open(tmp_path) as log:
        assert log.runner.seq == 499
        assert log.recovery.truncated_path == str(seg)
        full_minus_one = log.runner.engine.state_hash()
    with LocalEntryLog.open(tmp_path) as log:
        assert log.runner.seq == 499 and log.recovery.truncated_path is None
        assert log.runner.engine.state_hash() == full_minus_one != full[0]


def test_mid_file_damage_names_file_and_offset(tmp_path):
    run_bus(tmp_path, CMDS[:500], snapshot_every=None)
    seg = segments(tmp_path)[-1]
    data = bytearray(seg.read_bytes())
    at = len(data) // 2
    data[at] ^= 0x40
    seg.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError) as info:
        LocalEntryLog.open(tmp_path)
    assert info.value.path == str(seg) and 32 <= info.value.offset <= at


def test_replay_that_disagrees_with_the_log_raises(tmp_path):
    log = LocalEntryLog.open(tmp_path)
    r = EngineRunner()
    e = r.apply(CreateUser(), b"", now_ns=1)
    assert isinstance(e, Entry)
    log.append(Entry(1, b"", e.command, 77, b""))  # a result the engine never gave
    log.commit()
    log.close()
    with pytest.raises(JournalCorruptError, match="entry 1"):
        LocalEntryLog.open(tmp_path)
    with LocalEntryLog.open(tmp_path, verify=False) as log:
        assert log.runner.seq == 1


def test_one_writer_and_fixed_settings(tmp_path):
    opts = {"max_qty": 99}
    with (
        LocalEntryLog.open(tmp_path, window=10, engine_options=opts),
        pytest.raises(JournalError),
    ):
        LocalEntryLog.open(tmp_path)
    with pytest.raises(ValueError, match="window"):
        LocalEntryLog.open(tmp_path, window=11)
    with pytest.raises(ValueError, match="engine_options"):
        LocalEntryLog.open(tmp_path, engine_options={})
    with LocalEntryLog.open(tmp_path) as log:
        assert log.runner.window == 10
        assert log.runner.engine.limits()[0] == 99


def test_append_out_of_order_is_refused(tmp_path):
    with LocalEntryLog.open(tmp_path) as log:
        with pytest.raises(ValueError):
            log.append(Entry(2, b"", b"\x02\x20\x00\x00", 0, b""))
        assert log.commit() == 0


def test_recovery_reports_progress(tmp_path: Path) -> None:
    log = LocalEntryLog.open(tmp_path, segment_bytes=1 << 20)
    runner = log.runner
    n = 20_500
    for i in range(n):
        entry = runner.apply(CreateUser(name=f"u{i}"), b"")
        assert isinstance(entry, Entry)
        log.append(entry)
        if i % 5000 == 0:
            log.commit()
    log.commit()
    log.close()
    calls: list[tuple[int, int, int]] = []
    log = LocalEntryLog.open(tmp_path, progress=lambda *a: calls.append(a))
    try:
        assert log.recovery.replayed == n
        assert [c[0] for c in calls] == [10_000, 20_000, n]
        total = calls[-1][2]
        assert calls[-1][1] == total > 0
        assert all(c[2] == total for c in calls)
        assert 0 < calls[0][1] < calls[1][1] < total  # bytes read grow
    finally:
        log.close()
