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
    from wsutil import Primary

    from probo_engine.adapters.entries import Entry
    from probo_engine.adapters.websocket import Feed, FeedError

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
