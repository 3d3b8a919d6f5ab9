"""The protocol module alone: checksum vectors, request validation, diffs."""

from __future__ import annotations

import doctest
import random
import zlib

import pytest

from probo_engine.adapters.websocket import protocol as P
from probo_engine.adapters.websocket import server as S


def test_docstring_examples():
    for module in (P,):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted >= 4


def test_checksum_v1_vector_is_frozen():
    # docs/websocket.md shows these; changing them means a new checksum version
    bids, asks = [(600, 10, 1), (550, 5, 2)], [(650, 3, 1)]
    assert P.checksum_text(bids, asks) == "600:10:1,550:5:2|650:3:1"
    assert P.book_checksum(bids, asks) == zlib.crc32(b"600:10:1,550:5:2|650:3:1")
    assert P.book_checksum(bids, asks) == 1863953580
    assert P.book_checksum([], []) == 2343686810 == zlib.crc32(b"|")
    assert P.CHECKSUM_VERSION == 1


def test_diff_then_apply_rebuilds_any_book():
    rng = random.Random(1)
    for _ in range(500):

        def side():
            prices = rng.sample(range(50, 1000, 50), rng.randint(0, 8))
            return [(p, rng.randint(1, 9), rng.randint(1, 3)) for p in prices]

        ob, oa, nb, na = side(), side(), side(), side()
        bids = {p: (q, n) for p, q, n in ob}
        asks = {p: (q, n) for p, q, n in oa}
        P.apply_changes(bids, asks, P.diff_levels(ob, nb), P.diff_levels(oa, na))
        got_b, got_a = P.sorted_levels(bids, asks)
        assert got_b == sorted(nb, reverse=True) and got_a == sorted(na)
        assert P.diff_levels(nb, nb) == []


def test_no_view_mirrors_the_yes_book():
    bids, asks = P.view_levels([(600, 1, 1), (550, 2, 1)], [(700, 3, 2)], "no", 1000)
    assert bids == [(300, 3, 2)] and asks == [(400, 1, 1), (450, 2, 1)]


@pytest.mark.parametrize(
    "text, code",
    [
        (b"\xff\xfe", "bad_request"),
        ('{"op":"subscribe","channel":"book","market":true}', "bad_request"),
        ('{"op":"subscribe","channel":"book","market":""}', "bad_request"),
        ('{"op":"subscribe","channel":"book","market":0,"depth":0}', "bad_request"),
        ('{"op":"subscribe","channel":"book","market":0,"depth":"5"}', "bad_request"),
        ('{"op":"subscribe","channel":"user","user":[1]}', "bad_request"),
        ('{"op":"subscribe","channel":"user","user":""}', "bad_request"),
        ('{"op":"subscribe","id":-1,"channel":"ticker","market":0}', "bad_request"),
        ('{"op":"subscribe","id":true,"channel":"ticker","market":0}', "bad_request"),
        ('{"type":"subscribe","params":{"eventId":5}}', "bad_request"),
        ('{"type":"subscribe"}', "bad_request"),
        ('{"type":"dance"}', "unknown_op"),
        ("{}", "unknown_op"),
    ],
)
def test_bad_requests_are_refused_with_codes(text, code):
    with pytest.raises(P.ProtocolError) as err:
        P.parse_request(text)
    assert err.value.code == code


def test_good_requests():
    r = P.parse_request('{"op":"subscribe","id":3,"channel":"book","market":"X"}')
    assert (r.op, r.id, r.channel, r.market, r.view, r.depth) == (
        "subscribe",
        3,
        "book",
        "X",
        "yes",
        10,
    )
    r = P.parse_request('{"type":"subscribe","params":{"userId":"a","eventId":"X"}}')
    assert (r.op, r.symbol) == ("seed_subscribe", "X")
    assert P.parse_request('{"type":"leave"}').op == "seed_leave"
    assert P.parse_request('{"op":"auth","token":"t"}').credentials == {
        "op": "auth",
        "token": "t",
    }


def test_wire_frames_are_rfc6455_server_frames():
    for n in (0, 5, 125, 126, 65535, 65536):
        payload = b"x" * n
        wire = S._wire(payload)
        assert wire[0] == 0x81 and wire.endswith(payload)
        if n < 126:
            assert wire[1] == n
        elif n < 65536:
            assert wire[1] == 126 and int.from_bytes(wire[2:4], "big") == n
        else:
            assert wire[1] == 127 and int.from_bytes(wire[2:10], "big") == n
        assert S._wire(payload) is wire  # framed once for every connection


def test_config_is_validated():
    with pytest.raises(ValueError):
        S.WsConfig(slow_policy="drop")
    with pytest.raises(ValueError):
        S.WsConfig(max_per_ip=0)
    with pytest.raises(ValueError):
        S.WsConfig(heartbeat=0)


def test_feed_refuses_a_gap_and_a_diverging_entry():
    from probo_engine.adapters.entries import Entry
    from probo_engine.adapters.websocket import Feed, FeedError

    from .wsutil import Primary

    p = Primary()
    p.setup(users=1)
    entries = p.log._entries
    feed = Feed()
    feed.apply(entries[0])
    with pytest.raises(FeedError, match="gap"):
        feed.apply(entries[2])
    feed.apply(entries[1])  # the gap changed nothing
    assert feed.entry_seq == 2
    # an entry whose result differs from the replica's: the feed has diverged
    # (fatal: the process rebuilds its feed from a snapshot or from entry 1)
    bad = entries[2]
    with pytest.raises(FeedError, match="diverged"):
        feed.apply(Entry(bad.seq, bad.key, bad.command, bad.result + 1, bad.events))


class FakeSink:
    """A sink whose queue the test controls (no network)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.queued = 0
        self.closed: tuple[int, str] | None = None

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)  # sent at once unless the test says otherwise

    def buffered(self) -> int:
        return self.queued

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def _slow_setup(policy: str):
    import json

    from probo_engine import commands
    from probo_engine.adapters.websocket import Feed

    from .wsutil import Primary

    p = Primary()
    p.setup(users=2)
    now = [0.0]
    feed = Feed(
        max_buffer=2000, resume_buffer=100, slow_policy=policy, clock=lambda: now[0]
    )
    for e in p.log._entries:
        feed.apply(e)
    req = P.parse_request('{"op":"subscribe","channel":"book","market":0,"depth":5}')
    fast, slow = FakeSink(), FakeSink()
    subs = []
    for sink in (fast, slow):
        sub = feed.attach(sink)
        feed.join(sub, feed.channel(req))
        subs.append(sub)

    def trade(n: int) -> None:
        for i in range(n):
            before = p.seq
            p.do(commands.Place(i % 2, 0, 0, 0, 50 * (1 + i % 19), 1))
            for e in p.log._entries[before:]:
                feed.apply(e)

    return feed, fast, slow, subs, trade, now, json


def test_feed_resyncs_a_drained_subscriber_and_cuts_one_behind_too_long():
    feed, fast, slow, (_, s_sub), trade, now, json = _slow_setup("resync")
    slow.queued = 1990  # its socket stopped draining
    trade(30)
    assert s_sub.behind and s_sub.dropped > 0
    assert len(fast.frames) == 30 and len(slow.frames) == 0  # the fast one got all
    feed.service()
    assert s_sub.behind and not slow.frames  # still full: nothing sent
    slow.queued = 50  # drained
    feed.service()
    kinds = [json.loads(f)["type"] for f in slow.frames]
    assert kinds == ["error", "snapshot"] and not s_sub.behind and s_sub.resyncs == 1
    snap = json.loads(slow.frames[1])
    last = json.loads(fast.frames[-1])
    assert snap["seq"] == last["seq"] and snap["checksum"] == last["checksum"]
    # behind again, and for longer than slow_timeout: closed with 4008
    slow.queued = 1990
    trade(1)
    now[0] += feed.slow_timeout + 1
    feed.service()
    assert slow.closed == (P.Close.SLOW_CONSUMER, "slow consumer") and s_sub.closed


def test_feed_cut_policy_closes_at_once():
    feed, fast, slow, (_, s_sub), trade, _, _ = _slow_setup("cut")
    slow.queued = 1990
    trade(3)
    assert slow.closed == (P.Close.SLOW_CONSUMER, "slow consumer") and s_sub.closed
    assert len(fast.frames) == 3
    feed.detach(s_sub)  # what the session does once the socket is gone
    assert not s_sub.channels and s_sub not in feed.subscribers


def test_a_feed_started_from_a_replica_continues_its_chains():
    import json

    from probo_engine import Engine, commands
    from probo_engine.adapters.websocket import Feed

    from .wsutil import Primary

    p = Primary()
    p.setup(users=2)
    cut = 6
    copy = Engine()  # the engine at entry ``cut``, as from a snapshot
    for e in p.log._entries[:cut]:
        commands.apply(copy, commands.decode(e.command))
    feed = Feed(engine=copy, after=cut)
    assert feed.event_seq == max(e.last_event_seq for e in p.log._entries[:cut]) > 0
    req = P.parse_request('{"op":"subscribe","channel":"ticker","market":0}')
    sink = FakeSink()
    snap = feed.join(feed.attach(sink), feed.channel(req))
    assert snap is not None and snap["seq"] == feed.event_seq
    p.do(commands.Place(0, 0, 0, 0, 500, 3))
    for e in p.log._entries[cut:]:
        feed.apply(e)
    first = json.loads(sink.frames[0])
    assert first["type"] == "ticker" and first["prev_seq"] == snap["seq"]


def test_ticker_follows_open_interest_through_mint_and_merge():
    import json

    from probo_engine import commands
    from probo_engine.adapters.websocket import Feed

    from .wsutil import Primary

    p = Primary()
    p.setup(users=1)
    feed = Feed()
    for e in p.log._entries:
        feed.apply(e)
    req = P.parse_request('{"op":"subscribe","channel":"ticker","market":"RAIN"}')
    sink = FakeSink()
    snap = feed.join(feed.attach(sink), feed.channel(req))
    assert snap is not None and snap["open_interest"] == 100_000
    p.do(commands.Merge(0, 0, 40))
    p.do(commands.Mint(0, 0, 5))
    for e in p.log._entries[-2:]:
        feed.apply(e)
    got = [json.loads(f)["open_interest"] for f in sink.frames]
    assert got == [99_960, 99_965]
