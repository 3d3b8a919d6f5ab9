"""The Redis bus against a real Redis: engine, gateway client, entry source."""

from __future__ import annotations

import asyncio
import time

import pytest

from probo_engine import Engine, commands
from probo_engine.adapters.redis import (
    MALFORMED,
    OK,
    EngineConfig,
    RedisBus,
    RedisEntrySource,
    RedisKeys,
    unpack_replies,
)
from probo_engine.adapters.runner import Replica
from probo_engine.commands import CreateMarket, CreateUser, Deposit, Place
from probo_engine.errors import UnavailableError

from .busstream import random_commands, setup_commands
from .redis_util import delete_prefix, engine_task

pytestmark = pytest.mark.redis


@pytest.fixture
def cfg(redis_url, redis_prefix, tmp_path):
    config = EngineConfig(
        redis_url=redis_url,
        prefix=redis_prefix,
        data_dir=str(tmp_path / "engine"),
        lease_ms=1_000,
        block_ms=50,
    )
    yield config
    asyncio.run(delete_prefix(redis_url, redis_prefix))


def gateway(cfg: EngineConfig, **kw) -> RedisBus:
    return RedisBus(redis_url=cfg.redis_url, prefix=cfg.prefix, **kw)


async def submit_all(bus, cmds, *, clients=8, tag="k"):
    replies = {}

    async def client(k):
        for i in range(k, len(cmds), clients):
            replies[i] = await bus.submit(cmds[i], f"{tag}{i}".encode(), timeout=30)

    async with asyncio.TaskGroup() as tg:
        for k in range(clients):
            tg.create_task(client(k))
    return [replies[i] for i in range(len(cmds))]


async def all_entries(cfg):
    async with RedisEntrySource(cfg.redis_url, prefix=cfg.prefix) as src:
        out, after = [], 0
        while got := await src.read(after, 5000, 0):
            out += got
            after = got[-1].seq
        return out


def test_commands_round_trip(cfg):
    setup = setup_commands()
    cmds = random_commands(3, 2_000)

    async def main():
        async with engine_task(cfg) as eng, gateway(cfg) as bus:
            first = await submit_all(bus, setup, clients=1, tag="s")
            assert [r.seq for r in first] == list(range(1, len(setup) + 1))
            replies = await submit_all(bus, cmds)
            again = await bus.submit(cmds[5], b"k5", timeout=30)
            assert again.duplicate and again.seq == replies[5].seq
            assert again.result == replies[5].result
            assert bus.health()["redis"] and bus.health()["engine"]
            return eng.runner.engine.state_hash(), eng.runner.seq, replies

    state, seq, replies = asyncio.run(main())
    assert seq == len(setup) + len(cmds)
    entries = asyncio.run(all_entries(cfg))
    assert [e.seq for e in entries] == list(range(1, seq + 1))
    assert len({e.key for e in entries}) == seq
    by_key = {e.key: e for e in entries}
    for i, rep in enumerate(replies):
        e = by_key[f"k{i}".encode()]
        assert (e.seq, e.result, e.events) == (rep.seq, rep.result, rep.events)
    rep = Replica()
    rep.apply_entries(entries)
    assert rep.engine.state_hash() == state
    # every entry's time came from its command stream id: never backwards
    ts = [commands.decode(e.command) for e in entries]
    stamped = [c.ts for c in ts if "ts" in c._fields]
    assert stamped == sorted(stamped) and stamped[0] > 1_600_000_000 * 10**9


def test_misuse_is_refused_and_the_engine_goes_on(cfg):
    async def main():
        async with engine_task(cfg) as eng, gateway(cfg) as bus:
            with pytest.raises(TypeError):  # caught by the gateway: nothing sent
                await bus.submit(Place(0, 0, 0, 0, 500, 1.5), b"x")
            await bus.submit(CreateMarket(), b"m")
            with pytest.raises(ValueError, match="already exists|outcome"):
                await bus.submit(Place(0, 0, 0, 7, 500, 1), b"bad", timeout=30)
            assert eng.runner.seq == 1
            r = await bus.submit(CreateUser(name="a"), b"u", timeout=30)
            assert r.seq == 2 and not r.duplicate

    asyncio.run(main())


def test_malformed_stream_entries_get_error_replies(cfg, caplog):
    keys = RedisKeys(cfg.prefix)
    good = commands.encode(CreateUser(name="z"))
    bad = [
        {b"g": b"t", b"q": b"1"},  # no version, no command
        {b"v": b"9", b"c": good, b"g": b"t", b"q": b"2"},  # wrong wire version
        {b"v": b"1", b"c": b"\xff\x00garbage", b"g": b"t", b"q": b"3"},
        {b"v": b"1", b"c": good[:-2], b"g": b"t", b"q": b"4"},  # truncated
        {b"v": b"1", b"c": b"\x07" + good[1:], b"g": b"t", b"q": b"5"},  # version
        {b"v": b"1", b"c": good, b"k": b"x" * 65, b"g": b"t", b"q": b"6"},
        {b"junk": b"\x00" * 10},  # nowhere to reply: logged only
        {b"v": b"1", b"c": good, b"k": b"ok", b"g": b"t", b"q": b"7"},
    ]

    async def main():
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(cfg.redis_url)
        try:
            async with engine_task(cfg) as eng:
                for fields in bad:
                    await r.xadd(keys.cmd, fields)
                got = []
                deadline = time.monotonic() + 30
                while len(got) < 7 and time.monotonic() < deadline:
                    resp = await r.xread({keys.reply("t"): "0-0"}, count=100, block=200)
                    got = [x for _s, items in resp for _i, f in items
                           for x in unpack_replies(f[b"r"])]  # fmt: skip
                assert [g[0] for g in got] == [1, 2, 3, 4, 5, 6, 7]
                assert [g[1] for g in got] == [MALFORMED] * 6 + [OK]
                assert b"version" in got[1][4] and b"version" in got[4][4]
                assert got[6][2] == 1 and eng.runner.seq == 1
        finally:
            await r.aclose()
        logged = [rec for rec in caplog.records if rec.msg == "malformed command"]
        assert len(logged) == 7  # the six with a reply target and the junk one

    with caplog.at_level("WARNING", logger="probo_engine.redis"):
        asyncio.run(main())


def test_restart_recovers_from_snapshot_and_stream(cfg):
    cfg.snapshot_every = 300
    setup = setup_commands()
    cmds = random_commands(4, 1_500)

    async def first():
        async with engine_task(cfg) as eng, gateway(cfg) as bus:
            await submit_all(bus, setup, clients=1, tag="s")
            await submit_all(bus, cmds)
            return eng.runner.engine.state_hash(), eng.runner.seq

    state, seq = asyncio.run(first())

    async def second():
        async with engine_task(cfg) as eng, gateway(cfg) as bus:
            assert eng.runner.seq == seq
            assert eng.runner.engine.state_hash() == state
            dup = await bus.submit(cmds[10], b"k10", timeout=30)
            assert dup.duplicate
            r = await bus.submit(Deposit(0, 5), b"new", timeout=30)
            assert r.seq == seq + 1

    asyncio.run(second())
    entries = asyncio.run(all_entries(cfg))
    assert [e.seq for e in entries] == list(range(1, seq + 2))
    eng = Engine()
    for e in entries:
        commands.apply(eng, commands.decode(e.command))

    async def third():  # the command stream was trimmed below a snapshot
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(cfg.redis_url)
        try:
            info = await r.xinfo_stream(RedisKeys(cfg.prefix).cmd)
            return info["length"]
        finally:
            await r.aclose()

    assert asyncio.run(third()) < seq


def test_gateway_answers_unavailable_fast(cfg, redis_url):
    async def no_engine():
        async with gateway(cfg) as bus:
            assert not bus.health()["engine"]
            with pytest.raises(UnavailableError, match="no engine"):
                await asyncio.wait_for(bus.submit(CreateUser(), b"a", timeout=60), 5)

    asyncio.run(no_engine())

    async def no_redis():
        async with RedisBus(redis_url="redis://127.0.0.1:1/0", prefix="x") as bus:
            assert not bus.health()["redis"]
            with pytest.raises(UnavailableError):
                await asyncio.wait_for(bus.submit(CreateUser(), b"a", timeout=60), 5)

    asyncio.run(no_redis())


def test_gateway_times_out_when_the_engine_does_not_answer(cfg):
    # a lease but no engine reading the stream: the submit gives up after
    # its timeout with UnavailableError, and forgets the request
    async def main():
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(cfg.redis_url)
        try:
            await r.set(RedisKeys(cfg.prefix).lease, b"nobody", px=30_000)
            async with gateway(cfg) as bus:
                assert bus.health()["engine"]
                t = time.monotonic()
                with pytest.raises(UnavailableError, match="no reply"):
                    await asyncio.wait_for(
                        bus.submit(CreateUser(), b"a", timeout=0.3), 10
                    )
                assert time.monotonic() - t >= 0.3  # not before its time
                assert bus.health()["pending"] == 0
                assert await r.xlen(RedisKeys(cfg.prefix).cmd) == 1  # it was sent
        finally:
            await r.aclose()

    asyncio.run(main())


def test_entry_source_waits_and_resumes(cfg):
    async def main():
        src = RedisEntrySource(cfg.redis_url, prefix=cfg.prefix)
        async with engine_task(cfg), gateway(cfg) as bus, src:
            assert await src.read(0, 10, 0.05) == []
            waiter = asyncio.create_task(src.read(0, 10, 30))
            await bus.submit(CreateUser(), b"a", timeout=30)
            got = await waiter
            assert [e.seq for e in got] == [1] and src.head() == 1
            await bus.submit(CreateUser(), b"b", timeout=30)
            assert [e.seq for e in await src.read(1, 10, 30)] == [2]

    asyncio.run(main())


def test_entry_source_small_reads_and_trimming(cfg):
    cmds = setup_commands() + random_commands(8, 600)

    async def main():
        import redis.asyncio as aioredis

        async with engine_task(cfg), gateway(cfg) as bus:
            await submit_all(bus, cmds, clients=4)
        whole = await all_entries(cfg)
        async with RedisEntrySource(cfg.redis_url, prefix=cfg.prefix) as src:
            got, after = [], 0
            while part := await src.read(after, 7, 0):
                assert len(part) <= 7 and part[0].seq == after + 1
                got += part
                after = part[-1].seq
            assert got == whole
            assert [e.seq for e in await src.read(100, 3, 0)] == [101, 102, 103]
        r = aioredis.Redis.from_url(cfg.redis_url)
        try:  # trim everything but the last stream entry: older reads fail
            await r.xtrim(RedisKeys(cfg.prefix).events, maxlen=1, approximate=False)
        finally:
            await r.aclose()
        async with RedisEntrySource(cfg.redis_url, prefix=cfg.prefix) as src:
            with pytest.raises(LookupError):
                await src.read(0, 10, 0)

    asyncio.run(main())


def test_pack_entries_round_trip_and_damage():
    from probo_engine.adapters.entries import EntryDecodeError
    from probo_engine.adapters.redis import pack_entries, unpack_entries
    from probo_engine.adapters.runner import EngineRunner

    r = EngineRunner()
    entries = [r.apply(c, b"k%d" % i, now_ns=i) for i, c in enumerate(setup_commands())]
    data = pack_entries(entries)
    assert unpack_entries(data) == entries
    for bad in (b"", data[:-1], data[:3], pack_entries(entries[:2] + entries[3:5])):
        with pytest.raises(EntryDecodeError):
            unpack_entries(bad)


def test_damaged_redis_snapshot_falls_back_on_the_local_copy(cfg):
    cfg.snapshot_every = 200
    cmds = setup_commands() + random_commands(12, 700)

    async def first():
        async with engine_task(cfg) as eng, gateway(cfg) as bus:
            await submit_all(bus, cmds, clients=4)
            return eng.runner.engine.state_hash(), eng.runner.seq

    state, seq = asyncio.run(first())

    async def damage(value: bytes):
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(cfg.redis_url)
        try:
            await r.set(RedisKeys(cfg.prefix).snapshot, value)
        finally:
            await r.aclose()

    asyncio.run(damage(b"PRORUN garbage"))

    async def second():
        async with engine_task(cfg) as eng:
            return eng.runner.engine.state_hash(), eng.runner.seq

    assert asyncio.run(second()) == (state, seq)


def test_stream_trimmed_past_every_snapshot_is_refused(cfg):
    from probo_engine.adapters.redis import RecoveryError, RedisEngine

    cfg.data_dir = None

    async def main():
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(cfg.redis_url)
        keys = RedisKeys(cfg.prefix)
        try:
            user = commands.encode(CreateUser())
            for i in range(5):
                await r.xadd(keys.cmd, {b"v": b"1", b"k": b"%d" % i, b"c": user})
            await r.xtrim(keys.cmd, maxlen=2, approximate=False)
        finally:
            await r.aclose()
        with pytest.raises(RecoveryError, match="trimmed"):
            await asyncio.wait_for(RedisEngine(cfg).run(asyncio.Event()), 30)

    asyncio.run(main())
