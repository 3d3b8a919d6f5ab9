"""The batched apply path gives exactly what the per-command path gives.

``EngineRunner.apply_encoded`` (one call per batch) against one
``EngineRunner.apply`` per command, and ``RedisEngine._apply_batch`` (an
``XREAD`` batch at a time) against ``RedisEngine._one`` per stream entry, on
random streams with refusals, misuse, malformed commands and stream entries,
and idempotency keys repeated within one batch and across batches: every
outcome, entry, reply, market-data message and the final state must be equal.
No Redis needed: the engine's batch functions are pure.
"""

from __future__ import annotations

import random

import pytest

from probo_engine import _replay, commands
from probo_engine.adapters import redis as redis_mod
from probo_engine.adapters import runner as runner_mod
from probo_engine.adapters.entries import decode_entry, encode_entry
from probo_engine.adapters.redis import (
    WIRE_VERSION,
    EngineConfig,
    RedisEngine,
    _Out,
    _resp,
    pack_entries,
    unpack_entries,
    unpack_replies,
)
from probo_engine.adapters.runner import (
    APPLIED,
    DUPLICATE,
    MALFORMED,
    TYPE_ERROR,
    VALUE_ERROR,
    EngineRunner,
    Reply,
)
from probo_engine.commands import (
    CreateMarket,
    CreateUser,
    Deposit,
    Expire,
    Halt,
    Place,
    PlaceMarket,
    Resume,
)
from probo_engine.errors import CommandDecodeError

from .busstream import random_commands, setup_commands


def _reference(runner: EngineRunner, raw: bytes, key: bytes, now: int) -> tuple:
    """One item the per-command way: decode, then ``EngineRunner.apply``."""
    try:
        cmd = commands.decode(raw)
    except CommandDecodeError as exc:
        return (MALFORMED, 0, 0, str(exc).encode(), b"")
    try:
        res = runner.apply(cmd, key, now_ns=now)
    except TypeError as exc:
        return (TYPE_ERROR, 0, 0, str(exc).encode(), b"")
    except (ValueError, OverflowError) as exc:
        return (VALUE_ERROR, 0, 0, str(exc).encode(), b"")
    if isinstance(res, Reply):
        assert res.duplicate
        return (DUPLICATE, res.seq, res.result, res.events, b"")
    return (APPLIED, res.seq, res.result, res.events, encode_entry(res))


def _odd_commands(rng: random.Random) -> list[bytes]:
    """Encoded commands off the fast path, or not commands at all."""
    place = commands.encode(Place(1, 0, 0, 0, 500, 3))
    pm = commands.encode(PlaceMarket(2, 1, 0, 1, 4))
    return [
        b"",  # empty
        b"\x02",  # too short
        b"\xff\x01" + place[2:],  # unknown format version
        b"\x02\xee" + place[2:],  # unknown type code
        place[:-3],  # truncated
        place + b"\x00",  # too long
        place[:74] + b"\x02" + place[75:],  # a bool byte that is not 0 or 1
        pm[:50] + b"\x07" + pm[51:],
        b"\x01" + place[1:],  # format version 1: still read
        commands.encode(Place(1, 0, 0, 7, 500, 3)),  # misuse: outcome 7
        commands.encode(Place(1, 0, 5, 0, 500, 3)),  # misuse: side 5
        commands.encode(Place(1, 99, 0, 0, 500, 3)),  # refused: no market 99
        commands.encode(Place(1, 0, 0, 0, 510, 3)),  # refused: off the tick
        commands.encode(Deposit(0, -5)),
        commands.encode(CreateUser(name=f"user{rng.randrange(20)}")),  # taken?
        commands.encode(CreateMarket(1000, 30)),  # a bad grid: misuse
        commands.encode(CreateMarket(1000, 50, symbol=f"X{rng.randrange(3)}")),
        commands.encode(Halt(rng.randrange(3))),
        commands.encode(Resume(rng.randrange(3))),
        commands.encode(Expire(0)),
    ]


def _stream(seed: int, n: int) -> list[tuple[bytes, bytes, int]]:
    """(command bytes, key, now_ns) items: setup, then a random mix."""
    rng = random.Random(seed)
    body = random_commands(seed, n)
    items: list[tuple[bytes, bytes, int]] = []
    now = 1_700_000_000_000_000_000
    for i, cmd in enumerate(setup_commands()):
        items.append((commands.encode(cmd), f"s{i}".encode(), now))
    used: list[bytes] = []
    for i, cmd in enumerate(body):
        raw = commands.encode(cmd)
        if rng.random() < 0.08:
            raw = rng.choice(_odd_commands(rng))
        r = rng.random()
        if r < 0.05 and used:
            key = rng.choice(used[-40:])  # a retry, often within one batch
        elif r < 0.1:
            key = b""  # no dedup
        else:
            key = f"k{seed}-{i}".encode()
            used.append(key)
        # time mostly advances, sometimes repeats or goes back
        now += rng.choice((0, 0, 1_000_000, 3_000_000, -2_000_000))
        items.append((raw, key, now))
    return items


@pytest.mark.parametrize("seed", range(6))
def test_apply_encoded_equals_apply_per_command(seed):
    items = _stream(seed, 3_000)
    window = (0, 50, 100_000)[seed % 3]  # small windows evict mid-stream
    ref, fast = EngineRunner(window=window), EngineRunner(window=window)
    want = [_reference(ref, *item) for item in items]
    rng = random.Random(seed)
    got: list[tuple] = []
    at = 0
    while at < len(items):
        k = rng.choice((1, 2, 7, 64, 300, 1024))
        got += fast.apply_encoded(items[at : at + k])
        at += k
    assert got == want
    statuses = {o[0] for o in got}  # (TYPE_ERROR: the test below)
    want_statuses = {APPLIED, MALFORMED, VALUE_ERROR}
    assert statuses == (want_statuses | {DUPLICATE} if window else want_statuses)
    for out in got:  # every entry decodes, and says what the outcome says
        if out[0] == APPLIED:
            e = decode_entry(out[4])
            assert (e.seq, e.result, e.events) == out[1:4]
    assert fast.seq == ref.seq and fast.last_ts == ref.last_ts
    assert fast.window_keys() == ref.window_keys()
    assert fast.engine.state_hash() == ref.engine.state_hash()
    assert fast.snapshot(b"p") == ref.snapshot(b"p")


def test_apply_encoded_checks_its_items_as_apply_does():
    r = EngineRunner()
    raw = commands.encode(Deposit(0, 5))
    out = r.apply_encoded(
        [
            (raw, "text key", 1),  # type: ignore[list-item]
            (raw, b"x" * 65, 1),
            (raw, b"k", -1),
            (raw, b"k", 2**63),
            (commands.encode(CreateUser()), b"u", 5),
            (raw, b"k", 7),
            (bytearray(raw), b"k2", 8),  # (any bytes-like command, as decode)
            (memoryview(raw), b"k3", 9),
        ]
    )
    assert [o[0] for o in out] == [TYPE_ERROR, VALUE_ERROR, TYPE_ERROR] + [
        VALUE_ERROR
    ] + [APPLIED] * 4
    assert r.seq == 4 and decode_entry(out[5][4]).command == commands.encode(
        Deposit(0, 5, ts=7)
    )


# ------------------------------------------------------------------ engine


def _xread_batch(seed: int, n: int, start_ms: int) -> list[list]:
    """Command stream entries as XREAD returns them (hiredis: ``[id,
    [field, value, ...]]`` lists): the gateways' layout, with odd layouts and
    malformed entries mixed in."""
    rng = random.Random(seed)
    out = []
    ms, k = start_ms, 0
    for raw, key, _now in _stream(seed, n):
        if rng.random() < 0.7:
            ms += 1
            k = 0
        else:
            k += 1
        sid = f"{ms}-{k}".encode()
        g = rng.choice((b"gw-a", b"gw-b", b"gw-c", b""))
        q = str(rng.randrange(1, 10**6)).encode()
        r = rng.random()
        if r < 0.9:
            flat = [b"v", WIRE_VERSION, b"k", key, b"c", raw, b"g", g, b"q", q]
        elif r < 0.92:  # same fields, another order (the general path)
            flat = [b"k", key, b"v", WIRE_VERSION, b"c", raw, b"g", g, b"q", q]
        elif r < 0.93:  # no key field
            flat = [b"v", WIRE_VERSION, b"c", raw, b"g", g, b"q", q]
        elif r < 0.94:  # an extra field
            flat = [b"v", WIRE_VERSION, b"k", key, b"c", raw, b"g", g, b"q", q,
                    b"x", b"y"]  # fmt: skip
        elif r < 0.95:
            flat = [b"v", b"9", b"k", key, b"c", raw, b"g", g, b"q", q]
        elif r < 0.96:
            flat = [b"v", WIRE_VERSION, b"k", b"x" * 65, b"c", raw, b"g", g,
                    b"q", q]  # fmt: skip
        elif r < 0.97:
            bad_q = rng.choice((b"not a number", b"-5", b"%d" % (1 << 64)))
            flat = [b"v", WIRE_VERSION, b"k", key, b"c", raw, b"g", g, b"q", bad_q]
        elif r < 0.98:
            flat = [b"junk", b"\x00" * 7]
        elif r < 0.99:
            flat = [b"v", WIRE_VERSION, b"k", key, b"x", raw, b"g", g, b"q", q]
        else:
            flat = [b"v", WIRE_VERSION, b"k", key, b"c", raw[:-1], b"g", g,
                    b"q", q]  # fmt: skip
        out.append([sid, flat])
    return out


def _md_reference(out: _Out) -> dict[int, bytearray]:
    """The market data of a batch, from its entries' events."""
    md: dict[int, bytearray] = {}
    if not out.n:
        return md
    entries = unpack_entries(bytes(out.entries))
    assert [e.seq for e in entries] == list(range(out.first, out.first + out.n))
    ev = b"".join(e.events for e in entries)
    for at in range(0, len(ev), 96):
        mid = int.from_bytes(ev[at + 72 : at + 76], "little", signed=True)
        if mid >= 0:
            md.setdefault(mid, bytearray()).extend(ev[at : at + 96])
    return md


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def _xread_reply(batch: list[list]) -> bytes:
    """The RESP bytes of an XREAD reply holding ``batch``."""
    parts = [b"*1\r\n*2\r\n", _bulk(b"p:{0}:cmd"), b"*%d\r\n" % len(batch)]
    for sid, flat in batch:
        parts.append(b"*2\r\n" + _bulk(sid) + b"*%d\r\n" % len(flat))
        parts += [_bulk(x) for x in flat]
    return b"".join(parts)


@pytest.mark.parametrize(
    ("c_path", "raw_path"),
    [(True, False), (False, False), (True, True)],
    ids=["C", "python", "C-raw"],
)
@pytest.mark.parametrize("seed", range(4))
def test_engine_batch_equals_one_entry_at_a_time(seed, c_path, raw_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "C_STREAM", c_path)
    batch = _xread_batch(seed, 2_500, 1_700_000_000_000)
    ref = RedisEngine(EngineConfig())
    fast = RedisEngine(EngineConfig())
    window = (0, 50, 100_000, 100_000)[seed]  # small windows evict mid-stream
    ref.runner = EngineRunner(window=window)
    fast.runner = EngineRunner(window=window)
    in_c = _count_c(fast.runner)
    rng = random.Random(seed)
    at = 0
    while at < len(batch):
        part = batch[at : at + rng.choice((1, 5, 100, 1024))]
        at += len(part)
        want, got = _Out(), _Out()
        for sid, flat in part:
            it = iter(flat)
            ref._one(ref.runner, sid, dict(zip(it, it, strict=False)), want)
        if raw_path:
            raw = _xread_reply(part)
            head = _replay.xread_head(raw)
            assert head is not None and head[1] == len(part)
            fast._apply_raw(fast.runner, raw, head[0], head[1], got)
            assert fast.position == part[-1][0]
        else:
            fast._apply_batch(fast.runner, part, got)
        assert got.replies == want.replies
        assert list(got.replies) == list(want.replies)
        assert (got.first, got.n, got.entries) == (want.first, want.n, want.entries)
        assert got.md == want.md and list(got.md) == list(want.md)
        assert got.md == _md_reference(got)
    assert fast.runner.seq == ref.runner.seq > 2_000
    assert fast.runner.engine.state_hash() == ref.runner.engine.state_hash()
    assert fast.runner.snapshot(b"p") == ref.runner.snapshot(b"p")
    # the C path took most entries (all but the odd ones and the creates)
    assert fast.runner.c_stream is c_path
    if raw_path:  # (in C from the raw bytes: apply_stream only for the rest)
        assert in_c[0] == 0
    else:
        assert (in_c[0] > 0.8 * len(batch)) if c_path else in_c[0] == 0


def _count_c(runner: EngineRunner) -> list[int]:
    """Count the entries ``runner.apply_stream`` applies (in its [0])."""
    n = [0]
    apply_stream = runner.apply_stream

    def counted(batch, start, *args):
        stop = apply_stream(batch, start, *args)
        n[0] += stop - start
        return stop

    runner.apply_stream = counted  # type: ignore[method-assign]
    return n


def test_writes_are_packed_as_hiredis_packs_them():
    hiredis = pytest.importorskip("hiredis")
    big = bytes(range(256)) * 20
    cmds = [
        ("XADD", "p:{0}:events", "17-0", "e", bytearray(big)),
        ("XADD", "p:{0}:reply:gw", "MAXLEN", "~", 10_000, "*", "r", b"\r\n"),
        ("PEXPIRE", "p:{0}:reply:gw", 3_600_000),
        ("PUBLISH", "p:{0}:md:0", memoryview(big)[5:]),
        ("XREAD", "COUNT", 1024, "STREAMS", "p:{0}:cmd", "0-0"),
    ]
    as_bytes = [
        tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in c)
        for c in cmds
    ]
    want = b"".join(hiredis.pack_command(c) for c in as_bytes)
    assert b"".join(_resp(cmds)) == want


def test_the_entries_after_a_replay_are_cut_where_the_stream_ends():
    # _flush writes only the entries the event stream does not hold yet
    batch = _xread_batch(7, 300, 1_700_000_000_000)
    eng = RedisEngine(EngineConfig())
    eng.runner = EngineRunner()
    out = _Out()
    eng._apply_batch(eng.runner, batch, out)
    entries = unpack_entries(bytes(out.entries))
    assert out.first == 1 and out.n == len(entries) > 200
    for seq in (1, 2, 150, out.n):
        assert bytes(out.entries_from(seq)) == pack_entries(entries[seq - 1 :])


def test_no_c_path_for_an_engine_that_overrides_a_command():
    from probo_engine import Engine

    class Custom(Engine):
        def cancel(self, uid, oid, ts=0):  # type: ignore[no-untyped-def]
            return super().cancel(uid, oid, ts)

    batch = _xread_batch(1, 200, 1_700_000_000_000)
    n_setup = len(setup_commands())
    deposit = commands.encode(Deposit(0, 5))
    deposits = [
        [b"%d-0" % (1_800_000_000_000 + i),
         [b"v", WIRE_VERSION, b"k", b"d%d" % i, b"c", deposit, b"g", b"gw", b"q",
          b"%d" % i]]
        for i in range(20)
    ]  # fmt: skip
    for runner, c_path in ((EngineRunner(Custom()), False), (EngineRunner(), True)):
        eng = RedisEngine(EngineConfig())
        eng._apply_batch(runner, batch[:n_setup], _Out())  # (creates: Python)
        seq = runner.seq
        stop = runner.apply_stream(deposits, 0, bytearray(), {}, {})
        assert runner.c_stream is c_path
        assert stop == (20 if c_path else 0)
        assert runner.seq == seq + stop


def test_resp_scan_finds_the_end_of_a_reply_in_any_split():
    batch = _xread_batch(3, 200, 1_700_000_000_000)
    reply = _xread_reply(batch)
    rng = random.Random(3)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(reply)), 6)) + [len(reply)]
        buf = bytearray()
        at, pending = 0, 1
        for cut in cuts:
            assert pending  # not complete before the last byte came
            buf += reply[len(buf) : cut]
            at, pending = _replay.resp_scan(buf, at, pending)
        assert (at, pending) == (len(reply), 0)
    for other in (b"*-1\r\n", b"-ERR no\r\n", b"$-1\r\n", b":5\r\n", b"+OK\r\n"):
        assert _replay.resp_scan(other, 0, 1) == (len(other), 0)
        assert _replay.xread_head(other) is None
    with pytest.raises(ValueError):
        _replay.resp_scan(b"?what\r\n", 0, 1)
    with pytest.raises(ValueError):
        _replay.resp_scan(b"$3\r\nabcd\r\n", 0, 1)


def test_every_batchable_command_is_stamped_and_packed_as_in_python(monkeypatch):
    # each kind the C path takes (Close and Resolve too, which the random
    # streams leave out), from the raw reply, against one entry at a time
    from probo_engine.commands import (
        Amend,
        Cancel,
        CancelAll,
        Close,
        Merge,
        Mint,
        Resolve,
        Withdraw,
    )

    body = [
        Place(0, 0, 0, 0, 500, 5, ts=3),
        Place(1, 0, 0, 1, 500, 2),
        PlaceMarket(2, 0, 0, 0, 1, fok=True),
        Amend(0, 1, 550, 4),
        Cancel(0, 1),
        CancelAll(1, 0),
        Mint(3, 1, 4),
        Merge(3, 1, 2),
        Deposit(4, 100),
        Withdraw(4, 50),
        Halt(2),
        Resume(2),
        Expire(0),
        Close(1),
        Resolve(1, 100),
    ]
    cmds = setup_commands() + body
    batch = [
        [b"%d-0" % (1_700_000_000_000 + i),
         [b"v", WIRE_VERSION, b"k", b"e%d" % i, b"c", commands.encode(c), b"g",
          b"gw", b"q", b"%d" % i]]
        for i, c in enumerate(cmds)
    ]  # fmt: skip
    ref, fast = RedisEngine(EngineConfig()), RedisEngine(EngineConfig())
    ref.runner, fast.runner = EngineRunner(), EngineRunner()
    want, got = _Out(), _Out()
    for sid, flat in batch:
        it = iter(flat)
        ref._one(ref.runner, sid, dict(zip(it, it, strict=False)), want)
    raw = _xread_reply(batch)
    at, count = _replay.xread_head(raw)
    seq = fast.runner.seq
    parsed: list[bytes] = []
    parse = redis_mod._parse

    def counted(data):  # type: ignore[no-untyped-def]
        entry = parse(data)
        parsed.append(entry[0])
        return entry

    monkeypatch.setattr(redis_mod, "_parse", counted)
    fast._apply_raw(fast.runner, raw, at, count, got)
    assert fast.runner.seq == seq + len(cmds)
    assert (got.first, got.n, got.entries) == (want.first, want.n, want.entries)
    assert got.replies == want.replies and got.md == want.md
    decoded = [commands.decode(e.command) for e in unpack_entries(bytes(got.entries))]
    assert {type(c) for c in decoded} >= {type(c) for c in body}
    # only the creates went through hiredis and the Python path
    creates = (CreateMarket, CreateUser)
    sids = [b[0] for b, c in zip(batch, cmds, strict=True) if isinstance(c, creates)]
    assert parsed == sids
    assert fast.runner.snapshot(b"p") == ref.runner.snapshot(b"p")
    # and the same stream again: every key is a duplicate, nothing applied
    again = _Out()
    fast._apply_raw(fast.runner, raw, at, count, again)
    assert again.n == 0 and fast.runner.seq == seq + len(cmds)
    assert len(unpack_replies(bytes(again.replies[b"gw"]))) == len(cmds)
