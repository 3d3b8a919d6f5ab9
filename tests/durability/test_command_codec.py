"""Command records: the table, the binary and JSON codecs, and fuzzed decoding.

``PROBO_HYPOTHESIS_EXAMPLES`` sets ``max_examples`` (default 300; CI 2000).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import struct
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probo_engine import Core, Engine, ProboError, Side
from probo_engine.commands import (
    COMMANDS,
    FORMAT_VERSION,
    Amend,
    Cancel,
    CancelAll,
    Close,
    CommandDecodeError,
    CreateMarket,
    CreateUser,
    Deposit,
    Expire,
    Halt,
    Merge,
    Mint,
    Place,
    PlaceMarket,
    Resolve,
    Resume,
    Withdraw,
    apply,
    command,
    decode,
    encode,
    from_dict,
    from_json,
    spec_of,
    to_dict,
    to_json,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
FUZZ = settings(
    max_examples=int(os.environ.get("PROBO_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

EXAMPLES = [
    CreateUser(),
    CreateUser("asha"),
    CreateUser("ünïcode ✓ 名前"),
    CreateMarket(),
    CreateMarket(symbol="RAIN-TOMORROW"),
    CreateMarket(100, 1, 7, 150, -20, 1, 3, True),
    Deposit(0, 5_000, 1),
    Withdraw(3, 2**62, 2),
    Place(1, 0, 0, 1, 600, 10),
    Place(2**31, 2**40, 1, 0, 950, 10**9, 3, 1, 2**63 - 1, True, 2**32 - 1, 2**62),
    Place(-1, -(2**63), 0, 0, -5, 0, 0, 0, -1),  # refused by the core, still encodable
    PlaceMarket(1, 0, 0, 1, 10, 5_000, True, 2, 9, 77),
    Cancel(1, 2**64 // 2 - 1, 9),
    Amend(1, 7, 550, 3, 4),
    CancelAll(2),
    CancelAll(2, 0, 5),
    Mint(1, 0, 5, 6),
    Merge(1, 0, 5, 6),
    Halt(0, 1),
    Resume(0, 2),
    Close(0, 3),
    Resolve(0, 500, 4),
    Expire(123),
]


NAMES = st.none() | st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20
)


def field_values(kind: type) -> st.SearchStrategy[object]:
    if kind is str:
        return NAMES
    return st.booleans() if kind is bool else INT64


def upgrade_v1(data: bytes) -> bytes:
    """A format-1 encoding as format 2 writes it (names: empty)."""
    spec = spec_of(data[1])
    return bytes([FORMAT_VERSION]) + data[1:] + b"\0\0" * len(spec.names)


def records() -> st.SearchStrategy[tuple[int, ...]]:
    """Any record of any registered command, int fields anywhere in int64."""
    return st.sampled_from(sorted(COMMANDS)).flatmap(
        lambda code: st.tuples(*map(field_values, COMMANDS[code].kinds)).map(
            COMMANDS[code].cls._make  # type: ignore[attr-defined]
        )
    )


# ---------------------------------------------------------------- the table


def test_table_codes_and_names_are_stable():
    # These are on disk and on the wire: changing one breaks old journals.
    got = {c: (s.name, s.cls.__name__, s.size) for c, s in COMMANDS.items()}
    assert got == {
        1: ("place", "Place", 91),
        2: ("cancel", "Cancel", 26),
        3: ("deposit", "Deposit", 26),
        4: ("withdraw", "Withdraw", 26),
        5: ("amend", "Amend", 42),
        6: ("cancel_all", "CancelAll", 26),
        7: ("mint", "Mint", 34),
        8: ("merge", "Merge", 34),
        9: ("halt", "Halt", 18),
        10: ("resume", "Resume", 18),
        11: ("close", "Close", 18),
        12: ("resolve", "Resolve", 26),
        13: ("place_market", "PlaceMarket", 75),
        14: ("expire", "Expire", 10),
        15: ("cancel_client", "CancelClient", 26),
        32: ("create_user", "CreateUser", 4),
        33: ("create_market", "CreateMarket", 61),
    }
    assert FORMAT_VERSION == 2
    assert {c: s.names for c, s in COMMANDS.items() if s.names} == {
        32: ("name",),
        33: ("symbol",),
    }


@pytest.mark.parametrize("spec", COMMANDS.values(), ids=lambda s: s.name)
def test_records_mirror_the_core_method_signatures(spec):
    # apply() passes the fields positionally: names, order and defaults must be
    # the Core method's, so a change in the core shows up here first.
    sig = inspect.signature(getattr(Core, spec.method))
    params = [p for p in sig.parameters.values() if p.name != "self"]
    assert tuple(p.name for p in params) == spec.fields[: spec.n_fixed]
    # The names go by keyword to Engine's method (the Core has none).
    engine_sig = inspect.signature(getattr(Engine, spec.method)).parameters
    for name in spec.names:
        assert engine_sig[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert engine_sig[name].default is None and spec.defaults[name] is None
    for p in params:
        if p.default is inspect.Parameter.empty:
            assert p.name not in spec.defaults, p.name
        else:
            assert spec.defaults[p.name] == p.default, p.name
            assert type(spec.defaults[p.name]) is type(p.default), p.name


def test_every_core_command_has_a_record():
    queries = {
        "balance", "book_orders", "check_invariants", "depth", "fees",
        "last_events", "last_price", "limits", "market", "market_config",
        "order", "order_by_client_id", "position", "top", "totals", "user_orders",
        "snapshot", "restore", "state_hash", "last_seq", "n_last_events", "clock",
        "depth_into", "events_bytes", "events_into", "last_filled", "check_batch",
        "run_batch",  # packed batches bypass the journal (DurableEngine docs)
        "last_fills", "fills_into",
        # shortcuts of place: journaled as place records
        "place_limit", "place_ioc", "place_limit_fills",
    }  # fmt: skip
    methods = {m for m in dir(Core) if not m.startswith("_")} - queries
    assert methods == {s.method for s in COMMANDS.values()}


def test_codes_are_the_core_command_numbers():
    from probo_engine._book import CONSTANTS
    from probo_engine.types import Command

    for name, value in CONSTANTS.items():
        if name.startswith("CMD_"):
            assert spec_of(name[4:].lower()).code == value, name
    for member in Command:
        assert spec_of(member.name.lower()).code == member.value
    assert all(code >= 32 for code, s in COMMANDS.items()
               if s.name.upper() not in Command.__members__)  # fmt: skip


def test_spec_of_accepts_record_class_code_and_name():
    s = spec_of(Place)
    assert spec_of(Place(0, 0, 0, 0, 50, 1)) is s
    assert spec_of(1) is s and spec_of("place") is s
    for bad in (0, 99, "nope", (1, 2), 1.0):
        with pytest.raises(TypeError):
            spec_of(bad)


def test_registration_refuses_bad_entries():
    class Dup(NamedTuple):
        x: int

    with pytest.raises(ValueError, match="taken"):
        command(1, "dup")(Dup)
    with pytest.raises(ValueError, match="registered twice"):
        command(200, "place")(Dup)

    class NotInt(NamedTuple):
        x: str

    with pytest.raises(TypeError, match="annotated int"):
        command(201, "not_int")(NotInt)

    class NameFirst(NamedTuple):
        x: str | None = None
        y: int = 0

    with pytest.raises(TypeError, match="come last"):
        command(201, "name_first")(NameFirst)

    class NameDefault(NamedTuple):
        x: str | None = "a"

    with pytest.raises(TypeError, match="default must be None"):
        command(201, "name_default")(NameDefault)

    class NoDefault(NamedTuple):
        a: int
        b: int

    with pytest.raises(ValueError, match="defaults"):
        command(202, "no_default", since=1)(NoDefault)
    assert 200 not in COMMANDS and 201 not in COMMANDS and 202 not in COMMANDS


def test_apply_passes_names_by_keyword():
    eng = Engine()
    assert apply(eng, CreateMarket(100, 1, symbol="RAIN")) == 0
    assert apply(eng, CreateUser("asha")) == 0 and apply(eng, CreateUser()) == 1
    assert eng.market_id("RAIN") == 0 and eng.user_id("asha") == 0
    assert eng.user_name(1) is None and eng.market(0)[:2] == (100, 1)
    with pytest.raises(ValueError, match="already exists"):
        apply(eng, CreateUser("asha"))
    core = Core()
    assert apply(core, CreateUser()) == 0  # no name: the Core's own method
    with pytest.raises(TypeError):
        apply(core, CreateUser("asha"))
    assert core.totals()[1] == 1


def test_apply_dispatches_to_the_core_method():
    eng = Engine()
    assert apply(eng, Expire(0)) == 0
    assert apply(eng, CreateMarket(100, 1)) == 0
    assert apply(eng, CreateUser()) == 0 and apply(eng, CreateUser()) == 1
    assert apply(eng, Deposit(0, 10_000)) == 0 and apply(eng, Deposit(1, 10_000)) == 0
    assert apply(eng, Place(0, 0, Side.BUY, 0, 60, 10)) == 1
    assert apply(eng, Place(1, 0, 0, 1, 40, 4)) == 2  # mint at 60
    assert eng.position(0, 0) == (4, 0, 0, 0)
    assert apply(eng, Withdraw(1, 10**9)) == -201
    assert apply(eng, Cancel(0, 1)) == 0
    with pytest.raises(TypeError):
        apply(eng, (0, 1))
    with pytest.raises(TypeError):
        apply(eng, Deposit(0, 1.5))  # type: ignore[arg-type]
    assert eng.balance(0) == (10_000 - 240, 0)


# ------------------------------------------------------------------- binary


@pytest.mark.parametrize("cmd", EXAMPLES, ids=lambda c: type(c).__name__)
def test_binary_round_trip(cmd):
    data = encode(cmd)
    spec = spec_of(cmd)
    assert data[0] == FORMAT_VERSION and data[1] == spec.code
    names = cmd[spec.n_fixed :]
    assert len(data) == spec.size + sum(len(n.encode()) for n in names if n)
    back = decode(data)
    assert back == cmd and type(back) is type(cmd)
    assert decode(bytearray(data)) == cmd and decode(memoryview(data)) == cmd


def test_binary_layout_is_little_endian_int64():
    assert encode(Cancel(3, 7, 1)) == struct.pack("<BBqqq", 2, 2, 3, 7, 1)
    assert encode(CreateUser()) == b"\x02\x20\x00\x00"
    assert encode(CreateUser("é")) == b"\x02\x20\x02\x00\xc3\xa9"
    assert encode(CreateMarket(symbol="R"))[59:] == b"\x01\x00R"
    assert len(encode(Place(1, 2, 0, 0, 50, 1))) == 91
    assert encode(Halt(3, True and 9)) == struct.pack("<BBqq", 2, 9, 3, 9)
    assert encode(PlaceMarket(0, 0, 0, 0, 1, fok=True))[2 + 6 * 8] == 1


@given(records())
@FUZZ
def test_every_record_round_trips(cmd):
    assert decode(encode(cmd)) == cmd
    assert from_json(to_json(cmd)) == cmd
    assert from_dict(to_dict(cmd)) == cmd


def test_encode_refuses_what_is_not_an_int64():
    with pytest.raises(TypeError, match=r"deposit\.amount"):
        encode(Deposit(0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"place\.side"):
        encode(Place(0, 0, True, 0, 50, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"place\.post_only must be a bool"):
        encode(Place(0, 0, 0, 0, 50, 1, post_only=1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"place_market\.fok"):
        to_json(PlaceMarket(0, 0, 0, 0, 1, fok=None))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode(Cancel(0, "1"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="int64"):
        encode(Cancel(0, 2**63))
    with pytest.raises(TypeError, match="not a command"):
        encode((1, 2, 3))
    with pytest.raises(TypeError):
        to_dict(Cancel(0, None))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        to_json(Cancel(0, -(2**63) - 1))
    # Enum members and numpy-style ints go out as plain ints.
    assert to_dict(Place(0, 0, Side.SELL, 0, 50, 1))["side"] == 1
    assert decode(encode(Place(0, 0, Side.SELL, 0, 50, 1))).side == 1


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "too short"),
        (b"\x01", "too short"),
        (b"\x03\x05", "version 3"),
        (b"\x00\x01" + bytes(72), "version 0"),
        (b"\x01\x00", "unknown command type code 0"),
        (b"\x01\xff", "unknown command type code 255"),
        (b"\x01\x01" + bytes(88), "must be 91 bytes, got 90"),
        (b"\x01\x01" + bytes(90), "must be 91 bytes, got 92"),
        (b"\x01\x20\x00", "must be 2 bytes"),
        (b"\x02\x20", "at least 4 bytes"),
        (b"\x02\x20\x00", "at least 4 bytes"),
        (b"\x02\x20\x03\x00ab", "name of 3 bytes cut at 2"),
        (b"\x02\x20\x01\x00ab", "1 bytes after its names"),
        (b"\x02\x20\x01\x00\xff", "not UTF-8"),
        (b"\x02\x20\x03\x00\xed\xa0\x80", "not UTF-8"),  # a surrogate
        (b"\x01\x21" + bytes(57) + b"\x01\x00R", "must be 59 bytes"),
        (b"\x01\x01" + bytes(72) + b"\x02" + bytes(16), "bool byte at 74 is 2"),
        (b"\x01\x0d" + bytes(48) + b"\xff" + bytes(24), "bool byte at 50 is 255"),
    ],
)
def test_decode_refuses_malformed_bytes(data, match):
    with pytest.raises(CommandDecodeError, match=match) as exc:
        decode(data)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, ProboError)


def test_decode_refuses_non_bytes():
    for bad in ("0102", 5, None, [1, 5]):
        with pytest.raises(TypeError):
            decode(bad)  # type: ignore[arg-type]


def test_older_shorter_layouts_stay_decodable():
    class Grow(NamedTuple):
        a: int
        b: int = 7
        c: int = 9

    command(250, "test_grow", since=1)(Grow)
    try:
        assert decode(struct.pack("<BBq", 1, 250, 5)) == Grow(5, 7, 9)
        assert decode(struct.pack("<BBqq", 1, 250, 5, 6)) == Grow(5, 6, 9)
        assert decode(struct.pack("<BBqqq", 1, 250, 5, 6, 8)) == Grow(5, 6, 8)
        assert encode(Grow(5)) == struct.pack("<BBqqq", 2, 250, 5, 7, 9)
        with pytest.raises(CommandDecodeError):
            decode(b"\x01\xfa")
    finally:
        from probo_engine import commands

        spec = commands.COMMANDS.pop(250)
        commands._BY_CODE[250] = None
        del commands._BY_CLASS[spec.cls], commands._BY_NAME[spec.name]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(encode(draw(records())))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "grow", "splice"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif op == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "grow":
            data += draw(st.binary(min_size=1, max_size=16))
        elif op == "splice":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=8))
    return bytes(data)


@given(st.one_of(mutated(), st.binary(max_size=100)))
@FUZZ
def test_fuzzed_bytes_decode_or_raise_decode_error(data):
    try:
        cmd = decode(data)
    except CommandDecodeError:
        return
    # Anything accepted is a well-formed encoding: canonical, so it re-encodes
    # to the very same bytes (format 1, to what format 2 says).
    assert encode(cmd) == (upgrade_v1(data) if data[0] == 1 else data)


V1_EXAMPLES = [
    (b"\x01\x20", CreateUser()),
    (b"\x01\x21" + encode(CreateMarket(100, 1, 7))[2:59], CreateMarket(100, 1, 7)),
    (b"\x01" + encode(Cancel(3, 7, 1))[1:], Cancel(3, 7, 1)),
    (b"\x01" + encode(Place(1, 0, 0, 1, 600, 10))[1:], Place(1, 0, 0, 1, 600, 10)),
]


@pytest.mark.parametrize(("data", "cmd"), V1_EXAMPLES)
def test_format_1_still_decodes(data, cmd):
    assert decode(data) == cmd
    assert encode(cmd) == upgrade_v1(data)


def test_names_are_checked_on_encode_and_in_json():
    for bad, err in [
        ("", ValueError),
        ("\ud800", ValueError),
        ("x" * 70_000, ValueError),
        (b"asha", TypeError),
        (5, TypeError),
    ]:
        with pytest.raises(err, match=r"create_user\.name"):
            encode(CreateUser(bad))  # type: ignore[arg-type]
        with pytest.raises(err):
            to_json(CreateUser(bad))  # type: ignore[arg-type]
    assert decode(encode(CreateUser("ü" * 32_767))) == CreateUser("ü" * 32_767)
    assert to_json(CreateUser("asha")) == '{"type":"create_user","name":"asha"}'
    assert from_json('{"type":"create_user","name":null}') == CreateUser()
    assert from_json('{"type":"create_market","symbol":"R"}') == CreateMarket(
        symbol="R"
    )
    for text in ('{"type":"create_user","name":""}', '{"type":"create_user","name":5}'):
        with pytest.raises(CommandDecodeError, match=r"create_user\.name"):
            from_json(text)


@given(st.binary(max_size=80))
@FUZZ
def test_truncations_always_raise(data):
    full = encode(Place(1, 2, 0, 1, 500, 3, 0, 0, 99))
    cut = full[: len(data) % len(full)]
    with pytest.raises(CommandDecodeError):
        decode(cut)


# --------------------------------------------------------------------- JSON


def test_json_form_is_flat_and_named():
    text = to_json(Place(1, 0, 0, 1, 600, 10, ts=5))
    assert json.loads(text) == {
        "type": "place",
        "uid": 1,
        "mid": 0,
        "side": 0,
        "outcome": 1,
        "price": 600,
        "qty": 10,
        "tif": 0,
        "stp": 0,
        "ts": 5,
        "post_only": False,
        "client_id": 0,
        "expire_ts": 0,
    }
    assert text.startswith('{"type":"place","uid":1,')
    assert to_json(CreateUser()) == '{"type":"create_user"}'
    assert '"cancel_on_halt":true' in to_json(CreateMarket(cancel_on_halt=True))
    # Defaults may be left out.
    assert from_json(
        '{"type":"place","uid":1,"mid":0,"side":0,"outcome":1,"price":600,"qty":10}'
    ) == Place(1, 0, 0, 1, 600, 10)
    assert from_json(b'{"type": "create_market"}') == CreateMarket()
    assert from_dict({"type": "cancel", "oid": 3, "uid": 2}) == Cancel(2, 3)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("null", "JSON object"),
        ("{}", '"type"'),
        ('{"type": 1}', '"type"'),
        ('{"type": "launch"}', "unknown command type 'launch'"),
        ('{"type": "cancel", "uid": 1}', "needs field 'oid'"),
        (
            '{"type": "cancel", "uid": 1, "oid": 2, "qty": 3}',
            r"unknown field\(s\) \['qty'\]",
        ),
        ('{"type": "cancel", "uid": 1, "oid": 2.0}', "must be an integer"),
        ('{"type": "cancel", "uid": 1, "oid": 1e3}', "must be an integer"),
        ('{"type": "cancel", "uid": true, "oid": 2}', "must be an integer"),
        ('{"type": "cancel", "uid": "1", "oid": 2}', "must be an integer"),
        ('{"type": "cancel", "uid": null, "oid": 2}', "must be an integer"),
        ('{"type": "cancel", "uid": 1, "oid": 9223372036854775808}', "int64"),
        ('{"type": "cancel", "uid": -9223372036854775809, "oid": 1}', "int64"),
        ('{"type": "cancel", "uid": 1, "oid": 2, "oid": 3}', "duplicate key 'oid'"),
        ('{"type": "cancel", "uid": 1, "oid": NaN}', "must be an integer"),
        (
            '{"type": "place_market", "uid": 1, "mid": 0, "side": 0, "outcome": 0, '
            '"qty": 1, "fok": 1}',
            "fok must be true or false",
        ),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"type": "cancel", "uid": 1, "oid": ' + "9" * 5000 + "}", "not valid JSON"),
    ],
)
def test_from_json_refuses_malformed_input(text, match):
    with pytest.raises(CommandDecodeError, match=match):
        from_json(text)


def test_from_json_refuses_bad_utf8_and_non_text():
    with pytest.raises(CommandDecodeError):
        from_json(b'{"type": "cancel\xff"}')
    with pytest.raises(TypeError):
        from_json(5)  # type: ignore[arg-type]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def json_commands(draw: st.DrawFn) -> dict[str, object]:
    """Near-miss command objects: right type names, wrong or odd fields."""
    spec = COMMANDS[draw(st.sampled_from(sorted(COMMANDS)))]
    obj: dict[str, object] = {"type": draw(st.sampled_from([spec.name, "x", 5]))}
    for f in spec.fields:
        if draw(st.booleans()):
            obj[f] = draw(st.one_of(INT64, st.booleans(), st.integers(), JSON_VALUES))
    if draw(st.integers(0, 5)) == 0:
        obj[draw(st.text(max_size=5))] = draw(JSON_VALUES)
    return obj


@pytest.mark.slow  # many Hypothesis examples
@given(st.one_of(json_commands(), JSON_VALUES))
@FUZZ
def test_fuzzed_json_decodes_or_raises_decode_error(obj):
    try:
        text = json.dumps(obj)
    except ValueError:
        return
    for decoder, arg in ((from_json, text), (from_dict, obj)):
        try:
            cmd = decoder(arg)
        except CommandDecodeError:
            continue
        assert from_dict(to_dict(cmd)) == cmd
        for k, v in to_dict(cmd).items():
            if k != "type" and k in obj:
                assert obj[k] == v and type(obj[k]) is type(v)


@given(st.text(max_size=60) | st.binary(max_size=60))
@FUZZ
def test_arbitrary_text_decodes_or_raises_decode_error(text):
    with contextlib.suppress(CommandDecodeError):
        from_json(text)
