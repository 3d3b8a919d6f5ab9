"""Commands as records: one typed record per engine command, and their codecs.

Every command the engine accepts is a small immutable record (a ``NamedTuple``
of ``int`` and ``bool`` fields, and optional ``str`` names last) registered in
one table, :data:`COMMANDS`.
Each entry fixes, for ever:

* a **type code** (1..255, never reused) and a **name** (the JSON ``"type"``),
* the record's **fields**, in order, with their defaults,
* the :class:`~probo_engine.Core` **method** that applies it: ``apply(engine,
  cmd)`` calls ``getattr(engine, method)(*cmd)``, so the record's field order is
  the method's positional parameter order (a test checks this against the
  Core's signatures).  A ``str | None`` field (``CreateUser.name``,
  ``CreateMarket.symbol``) goes by keyword, and only when it is not ``None``:
  ``Engine`` takes names, the bare ``Core`` does not.

Adding a command is one table entry::

    @command(16, "freeze")
    class Freeze(NamedTuple):
        uid: int
        ts: int = 0

Two encodings, both stable:

**Binary** (what the journal stores and Redis will carry), little-endian::

    u8 format version (FORMAT_VERSION = 2) | u8 type code | fields

where an ``int`` field is an int64 (8 bytes), a ``bool`` field one byte, 0
or 1, and a ``str | None`` field a u16 byte length and that many bytes of
UTF-8 (length 0: ``None``; names are never empty).  A ``Cancel`` is 26 bytes,
a ``Place`` 91, a ``CreateUser(name="asha")`` 8.  Version 1, the same without
the names (so an unnamed ``CreateUser`` was 2 bytes), still decodes, with the
names ``None``; the integer-only commands are the same in both.  The encoding
is canonical: ``encode(decode(b)) == b`` for every ``b`` of the current
version that decodes.  It uses only the
standard library's :mod:`struct` (``import probo_engine`` pulls in no
third-party module).  int64 fields keep every value the core accepts
representable, including ones it refuses with a result code (those commands
are journaled too: their ``REJECTED`` event takes a sequence number).

**JSON** (for humans and HTTP): ``{"type": "place", "uid": 1, "mid": 0, ...}``.
Fields with a default may be left out; unknown keys, duplicate keys and values
of the wrong kind (``true`` or ``1.0`` or ``"1"`` for an int, ``1`` for a bool)
or outside int64 are refused.  A name is a string, or ``null``/left out.

Versioning rules: codes and names are never reused or renamed; a new command is
a new code (an older decoder refuses it with "unknown command type").  A field
is only ever *appended* to a command, with a default, and the ``since``
argument of :func:`command` keeps the older, shorter encodings decodable
(missing trailing fields take their defaults).  Any other layout change bumps
:data:`FORMAT_VERSION`.

Decoders raise :class:`CommandDecodeError` (a ``ValueError``) on any malformed
input and never anything else; encoders raise ``TypeError``/``ValueError`` for a
field of the wrong kind or outside int64.
"""

from __future__ import annotations

import json
import operator
import struct
from collections.abc import Callable
from dataclasses import dataclass
from struct import Struct
from typing import Any, NamedTuple, TypeVar

from probo_engine.errors import CommandDecodeError
from probo_engine.types import Command

__all__ = [
    "COMMANDS",
    "FORMAT_VERSION",
    "Amend",
    "Cancel",
    "CancelAll",
    "CancelClient",
    "Close",
    "CommandDecodeError",
    "CommandRecord",
    "CommandSpec",
    "CreateMarket",
    "CreateUser",
    "Deposit",
    "Expire",
    "Halt",
    "Merge",
    "Mint",
    "Place",
    "PlaceMarket",
    "Resolve",
    "Resume",
    "Withdraw",
    "MAX_NAME_BYTES",
    "apply",
    "call",
    "command",
    "decode",
    "encode",
    "from_dict",
    "from_json",
    "spec_of",
    "to_dict",
    "to_json",
]

#: Version of the binary layout (the first byte of every encoded command):
#: 2 added the names of create_user/create_market.  Decoders read 1 and 2.
FORMAT_VERSION = 2
#: Largest UTF-8 size of a name (its length is a u16).
MAX_NAME_BYTES = 0xFFFF
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: Any command record: a tuple of ints whose class is registered in the table.
CommandRecord = tuple[int, ...]


@dataclass(frozen=True, eq=False)
class CommandSpec:
    """One row of the command table (read-only; see :func:`command`)."""

    code: int  #: stable type code, 1..255
    name: str  #: JSON ``"type"``, e.g. ``"place"``
    cls: type[tuple[Any, ...]]  #: the record class
    method: str  #: the Core method that applies it
    fields: tuple[str, ...]  #: field names, in encoding and call order
    #: ``int`` (int64, 8 bytes), ``bool`` (1 byte) or ``str`` (a ``str | None``
    #: name: u16 length and UTF-8, always after the others)
    kinds: tuple[type, ...]
    defaults: dict[str, Any]  #: defaults of the optional (trailing) fields
    size: int  #: encoded size in bytes (with every name ``None``)
    struct: Struct  #: version, code and the int/bool fields
    body: Struct  #: the int/bool fields only (skips the 2 header bytes)
    bool_offsets: tuple[int, ...]  #: byte offsets of the bool fields
    #: older, shorter encodings still accepted: size -> (body struct, padding)
    legacy: dict[int, tuple[Struct, tuple[Any, ...]]]
    n_fixed: int = 0  #: how many int/bool fields come before the names
    names: tuple[str, ...] = ()  #: the ``str | None`` fields (keyword arguments)


#: The table: type code -> spec, in code order.
COMMANDS: dict[int, CommandSpec] = {}
_BY_CODE: list[CommandSpec | None] = [None] * 256
_BY_CLASS: dict[type, CommandSpec] = {}
_BY_NAME: dict[str, CommandSpec] = {}
_KINDS: dict[Any, type] = {
    "int": int,
    int: int,
    "bool": bool,
    bool: bool,
    "str | None": str,
    str | None: str,
}
_FORMAT = {int: "q", bool: "?"}

_T = TypeVar("_T", bound=tuple[Any, ...])


def command(
    code: int, name: str, *, method: str | None = None, since: int | None = None
) -> Callable[[type[_T]], type[_T]]:
    """Register a ``NamedTuple`` of ``int``/``bool`` fields as the command ``name``.

    ``int`` fields are int64 (8 bytes); ``bool`` fields are one byte, 0 or 1,
    and reach the Core method as ``True``/``False``.  ``str | None`` fields
    (names, default ``None``) come last and reach it by keyword when set.

    Parameters
    ----------
    code : int
        Stable type code, 1..255, never reused.
    name : str
        The JSON ``"type"``; also the Core method's name unless ``method`` is set.
    method : str, optional
        The Core method that applies the command (called with the fields,
        positionally, in order).
    since : int, optional
        How many fields the command had when it was introduced (default: all).
        Encodings with any field count from ``since`` up to the current one
        decode; the missing trailing fields take their defaults, so all of them
        must have one.
    """

    def register(cls: type[_T]) -> type[_T]:
        fields = tuple(getattr(cls, "_fields", ()))
        defaults = dict(getattr(cls, "_field_defaults", {}))
        if not issubclass(cls, tuple) or not hasattr(cls, "_make"):
            raise TypeError(f"{cls.__name__} must be a NamedTuple")
        if not 1 <= code <= 255 or _BY_CODE[code] is not None:
            raise ValueError(f"command code {code} is out of 1..255 or taken")
        if name in _BY_NAME or cls in _BY_CLASS:
            raise ValueError(f"command {name!r} is registered twice")
        kinds: list[type] = []
        for f in fields:
            ann = cls.__annotations__.get(f)
            kind = _KINDS.get(getattr(ann, "__forward_arg__", ann))
            if kind is None:
                raise TypeError(
                    f"{cls.__name__}.{f} must be annotated int, bool or str | None"
                )
            if kinds and kinds[-1] is str and kind is not str:
                raise TypeError(f"{cls.__name__}.{f}: str fields must come last")
            kinds.append(kind)
            if kind is str:
                if f not in defaults or defaults[f] is not None:
                    raise TypeError(f"{cls.__name__}.{f} default must be None")
                continue
            d = defaults.get(f, 0 if kind is int else False)
            if type(d) is not kind or not (
                isinstance(d, int) and INT64_MIN <= d <= INT64_MAX
            ):
                raise TypeError(f"{cls.__name__}.{f} default must be a {kind.__name__}")
        n_fixed = sum(k is not str for k in kinds)
        n = len(fields)
        base = n_fixed if since is None else since
        if not 0 <= base <= n_fixed or any(f not in defaults for f in fields[base:]):
            raise ValueError(f"since={since}: the fields after it need defaults")
        if base < n_fixed and n_fixed < n:
            raise ValueError("a command with names cannot have shorter layouts")
        fmt = "".join(_FORMAT[k] for k in kinds[:n_fixed])
        offsets, pos = [], 2
        for k in kinds[:n_fixed]:
            if k is bool:
                offsets.append(pos)
            pos += 8 if k is int else 1
        legacy = {
            struct.calcsize(f"<2x{fmt[:k]}"): (
                struct.Struct(f"<2x{fmt[:k]}"),
                tuple(defaults[f] for f in fields[k:]),
            )
            for k in range(base, n_fixed)
        }
        spec = CommandSpec(
            code=code,
            name=name,
            cls=cls,
            method=method or name,
            fields=fields,
            kinds=tuple(kinds),
            defaults=defaults,
            size=pos + 2 * (n - n_fixed),
            struct=struct.Struct(f"<BB{fmt}"),
            body=struct.Struct(f"<2x{fmt}"),
            bool_offsets=tuple(offsets),
            legacy=legacy,
            n_fixed=n_fixed,
            names=fields[n_fixed:],
        )
        COMMANDS[code] = spec
        _BY_CODE[code] = spec
        _BY_CLASS[cls] = spec
        _BY_NAME[name] = spec
        return cls

    return register


# ------------------------------------------------------------------ the table
# Codes are types.Command, which mirrors the core's CMD_* values (the ``aux``
# of a REJECTED event, the ``kind`` of a batch record); create_user and
# create_market, which only journals carry, are 32 and 33.  Field order and
# defaults are those of the Core method (a test checks them).


@command(Command.PLACE, "place")
class Place(NamedTuple):
    """A limit order (``Core.place``): the result is the oid or ``-code``."""

    uid: int
    mid: int
    side: int  #: Side: BUY 0, SELL 1
    outcome: int  #: Outcome: YES 0, NO 1
    price: int  #: own-outcome price, on the market's grid
    qty: int
    tif: int = 0  #: TimeInForce: GTC 0, IOC 1, FOK 2, GTD 3
    stp: int = 0  #: SelfTrade: CANCEL_MAKER 0, CANCEL_TAKER 1, CANCEL_BOTH 2, NONE 3
    ts: int = 0
    post_only: bool = False
    client_id: int = 0  #: 0 (none) or 1..2**32-1, unique per user
    expire_ts: int = 0  #: GTD only


@command(Command.CANCEL, "cancel")
class Cancel(NamedTuple):
    """Cancel a live order of ``uid`` (``Core.cancel``)."""

    uid: int
    oid: int
    ts: int = 0


@command(Command.DEPOSIT, "deposit")
class Deposit(NamedTuple):
    """Add cash to a user (``Core.deposit``)."""

    uid: int
    amount: int
    ts: int = 0


@command(Command.WITHDRAW, "withdraw")
class Withdraw(NamedTuple):
    """Take available cash from a user (``Core.withdraw``)."""

    uid: int
    amount: int
    ts: int = 0


@command(Command.AMEND, "amend")
class Amend(NamedTuple):
    """Change a live order's price and remaining quantity (``Core.amend``)."""

    uid: int
    oid: int
    price: int
    qty: int
    ts: int = 0


@command(Command.CANCEL_ALL, "cancel_all")
class CancelAll(NamedTuple):
    """Cancel a user's live orders, in one market or all (``mid=-1``)."""

    uid: int
    mid: int = -1
    ts: int = 0


@command(Command.MINT, "mint")
class Mint(NamedTuple):
    """Pay ``payout * qty`` for ``qty`` YES and ``qty`` NO shares."""

    uid: int
    mid: int
    qty: int
    ts: int = 0


@command(Command.MERGE, "merge")
class Merge(NamedTuple):
    """Burn ``qty`` YES and ``qty`` NO shares for ``payout * qty``."""

    uid: int
    mid: int
    qty: int
    ts: int = 0


@command(Command.HALT, "halt")
class Halt(NamedTuple):
    """Market OPEN -> HALTED (``Core.halt``)."""

    mid: int
    ts: int = 0


@command(Command.RESUME, "resume")
class Resume(NamedTuple):
    """Market HALTED -> OPEN (``Core.resume``)."""

    mid: int
    ts: int = 0


@command(Command.CLOSE, "close")
class Close(NamedTuple):
    """Market OPEN/HALTED -> CLOSED, canceling its orders (``Core.close``)."""

    mid: int
    ts: int = 0


@command(Command.RESOLVE, "resolve")
class Resolve(NamedTuple):
    """Settle a market: YES pays ``yes_value``, NO ``payout - yes_value``."""

    mid: int
    yes_value: int
    ts: int = 0


@command(Command.CREATE_USER, "create_user")
class CreateUser(NamedTuple):
    """Create a user (``Core.create_user``): the result is the new uid."""

    name: str | None = None  #: ``Engine``'s unique user name (format 2)


@command(Command.CREATE_MARKET, "create_market")
class CreateMarket(NamedTuple):
    """Create a market (``Core.create_market``): the result is the new mid."""

    payout: int = 1000
    tick: int = 50
    ts: int = 0
    taker_fee: int = 0
    maker_fee: int = 0
    fee_mode: int = 0  #: FeeMode
    min_qty: int = 1
    cancel_on_halt: bool = False
    symbol: str | None = None  #: ``Engine``'s unique market symbol (format 2)


@command(Command.PLACE_MARKET, "place_market")
class PlaceMarket(NamedTuple):
    """A market order (``Core.place_market``): the oid or ``-code``."""

    uid: int
    mid: int
    side: int
    outcome: int
    qty: int
    max_cost: int = 0  #: budget of a buy; 0 = none
    fok: bool = False
    stp: int = 0
    ts: int = 0
    client_id: int = 0


@command(Command.EXPIRE, "expire")
class Expire(NamedTuple):
    """Expire the GTD orders due at ``ts`` (``Core.expire``): how many."""

    ts: int


@command(Command.CANCEL_CLIENT, "cancel_client")
class CancelClient(NamedTuple):
    """Cancel the live order ``uid`` placed with ``client_id``
    (``Core.cancel_client``): ``cancel`` by the caller's id."""

    uid: int
    client_id: int  #: 1..2**32-1 (0 matches no order: -302)
    ts: int = 0


# --------------------------------------------------------------------- lookup


def spec_of(cmd: object) -> CommandSpec:
    """The table row of a record, a record class, a type code or a name.

    >>> spec_of(Cancel(0, 1)).code, spec_of("place").fields[:2]
    (2, ('uid', 'mid'))
    """
    key = cmd if isinstance(cmd, type) else type(cmd)
    spec = _BY_CLASS.get(key)
    if spec is not None:
        return spec
    if isinstance(cmd, str) and cmd in _BY_NAME:
        return _BY_NAME[cmd]
    if type(cmd) is int and 0 <= cmd < 256 and _BY_CODE[cmd] is not None:
        return _BY_CODE[cmd]  # type: ignore[return-value]
    raise TypeError(f"not a command record, class, code or name: {cmd!r}")


def apply(engine: Any, cmd: CommandRecord) -> Any:
    """Apply ``cmd`` to ``engine`` by calling its Core method with the fields.

    Returns whatever the method returns (an id, an oid or ``-code``, a code).
    Misuse raises (``TypeError``/``ValueError``/``OverflowError``) before the
    engine changes.

    >>> from probo_engine import Engine
    >>> eng = Engine()
    >>> apply(eng, CreateMarket()), apply(eng, CreateUser())
    (0, 0)
    >>> apply(eng, Deposit(0, 5000))
    0
    """
    try:
        spec = _BY_CLASS[type(cmd)]
    except KeyError:
        raise TypeError(f"not a command record: {cmd!r}") from None
    if spec.names:
        return call(getattr(engine, spec.method), spec, cmd)
    return getattr(engine, spec.method)(*cmd)


def call(method: Callable[..., Any], spec: CommandSpec, cmd: tuple[Any, ...]) -> Any:
    """``method(*fields)``, with the names that are set by keyword."""
    k = spec.n_fixed
    kw = {f: v for f, v in zip(spec.names, cmd[k:], strict=True) if v is not None}
    return method(*cmd[:k], **kw)


# --------------------------------------------------------------------- binary


def _bad_field(spec: CommandSpec, cmd: tuple[Any, ...]) -> Exception | None:
    """The error for the first field that is not of its kind, or None."""
    if len(cmd) != len(spec.fields):
        return TypeError(f"{spec.name} has {len(spec.fields)} fields, got {len(cmd)}")
    for name, kind, v in zip(spec.fields, spec.kinds, cmd, strict=True):
        if kind is str:
            err = _bad_name(f"{spec.name}.{name}", v)
            if err is not None:
                return err
            continue
        if kind is bool:
            if type(v) is not bool:
                return TypeError(f"{spec.name}.{name} must be a bool, not {v!r}")
            continue
        if isinstance(v, (bool, float)):
            return TypeError(f"{spec.name}.{name} must be an integer, not {v!r}")
        try:
            i = operator.index(v)
        except TypeError:
            return TypeError(f"{spec.name}.{name} must be an integer, not {v!r}")
        if not INT64_MIN <= i <= INT64_MAX:
            return ValueError(f"{spec.name}.{name} = {i} does not fit in int64")
    return None


def _bad_name(what: str, v: object) -> Exception | None:
    if v is None:
        return None
    if type(v) is not str:
        return TypeError(f"{what} must be a str or None, not {v!r}")
    if not v:
        return ValueError(f"{what} must not be empty (None for no name)")
    try:
        n = len(v.encode())
    except UnicodeEncodeError as exc:
        return ValueError(f"{what} is not encodable as UTF-8: {exc}")
    if n > MAX_NAME_BYTES:
        return ValueError(f"{what} is {n} bytes of UTF-8, more than {MAX_NAME_BYTES}")
    return None


def _encode_names(spec: CommandSpec, cmd: tuple[Any, ...]) -> bytes:
    out = b""
    for v in cmd[spec.n_fixed :]:
        b = b"" if v is None else v.encode()
        out += _U16.pack(len(b)) + b
    return out


_U16 = struct.Struct("<H")


def encode(cmd: CommandRecord) -> bytes:
    """The binary form of a command record.

    Raises
    ------
    TypeError
        If ``cmd`` is not a registered record, an int field is not an integer
        (``bool`` and ``float`` included) or a bool field is not a ``bool``.
    ValueError
        If an int field does not fit in int64.

    >>> encode(Cancel(3, 7)).hex()
    '0102030000000000000007000000000000000000000000000000'
    """
    try:
        spec = _BY_CLASS[type(cmd)]
    except KeyError:
        raise TypeError(f"not a command record: {cmd!r}") from None
    if spec.names or tuple(map(type, cmd)) != spec.kinds:  # check the kinds
        err = _bad_field(spec, cmd)  # (struct would take True as 1, 5 as True)
        if err is not None:
            raise err
    try:
        if spec.names:
            head = spec.struct.pack(FORMAT_VERSION, spec.code, *cmd[: spec.n_fixed])
            return head + _encode_names(spec, cmd)
        return spec.struct.pack(FORMAT_VERSION, spec.code, *cmd)
    except struct.error:
        raise _bad_field(spec, cmd) or TypeError(f"cannot encode {cmd!r}") from None


def decode(data: bytes | bytearray | memoryview) -> CommandRecord:
    """The command record encoded in ``data`` (exactly one, nothing after it).

    Raises
    ------
    CommandDecodeError
        Empty or short input, a format version other than 1 or
        :data:`FORMAT_VERSION`, an unknown type code, a length that is not
        the command's, a bool byte other than 0 or 1, or a name that is not
        UTF-8.
    TypeError
        If ``data`` is not a bytes-like object.

    >>> decode(encode(Cancel(1, 42)))
    Cancel(uid=1, oid=42, ts=0)
    """
    if type(data) is not bytes and type(data) is not bytearray:
        data = _as_bytes(data)
    n = len(data)
    if n < 2:
        raise CommandDecodeError(f"encoded command too short: {n} bytes")
    version = data[0]
    if not 1 <= version <= FORMAT_VERSION:
        raise CommandDecodeError(
            f"command format version {version} (this library reads 1..{FORMAT_VERSION})"
        )
    spec = _BY_CODE[data[1]]
    if spec is None:
        raise CommandDecodeError(f"unknown command type code {data[1]}")
    for off in spec.bool_offsets:  # one canonical byte per bool
        if off < n and data[off] > 1:
            raise CommandDecodeError(
                f"{spec.name}: bool byte at {off} is {data[off]}, not 0 or 1"
            )
    if spec.names:
        return _decode_named(spec, data, version)
    if n == spec.size:
        return tuple.__new__(spec.cls, spec.body.unpack(data))
    old = spec.legacy.get(n)
    if old is None:
        raise CommandDecodeError(
            f"{spec.name} command must be {spec.size} bytes, got {n}"
        )
    return tuple.__new__(spec.cls, old[0].unpack(data) + old[1])


def _decode_named(
    spec: CommandSpec, data: bytes | bytearray, version: int
) -> CommandRecord:
    # The fixed fields, then (format 2) each name: u16 length, UTF-8.
    fixed = spec.body.size
    n = len(data)
    if version < 2:
        if n != fixed:
            raise CommandDecodeError(
                f"{spec.name} command (format 1) must be {fixed} bytes, got {n}"
            )
        names: list[str | None] = [None] * len(spec.names)
    else:
        if n < spec.size:
            raise CommandDecodeError(
                f"{spec.name} command must be at least {spec.size} bytes, got {n}"
            )
        names, pos = [], fixed
        for f in spec.names:
            if pos + 2 > n:
                raise CommandDecodeError(f"{spec.name}.{f}: the name length is cut")
            (k,) = _U16.unpack_from(data, pos)
            pos += 2
            if pos + k > n:
                raise CommandDecodeError(
                    f"{spec.name}.{f}: name of {k} bytes cut at {n - pos}"
                )
            try:
                names.append(bytes(data[pos : pos + k]).decode() if k else None)
            except UnicodeDecodeError as exc:
                raise CommandDecodeError(
                    f"{spec.name}.{f}: name is not UTF-8 ({exc})"
                ) from None
            pos += k
        if pos != n:
            raise CommandDecodeError(
                f"{spec.name} command has {n - pos} bytes after its names"
            )
    return tuple.__new__(spec.cls, spec.body.unpack_from(data) + tuple(names))


def _as_bytes(data: object) -> bytes:
    try:
        with memoryview(data) as mv:  # type: ignore[arg-type]
            return mv.tobytes()
    except TypeError:
        raise TypeError(
            f"an encoded command must be bytes-like, not {type(data).__name__}"
        ) from None


# ----------------------------------------------------------------------- JSON


def to_dict(cmd: CommandRecord) -> dict[str, Any]:
    """``{"type": name, field: value, ...}`` with every field, plain ints/bools.

    A name that is ``None`` is left out.

    >>> to_dict(Cancel(3, 7))
    {'type': 'cancel', 'uid': 3, 'oid': 7, 'ts': 0}
    """
    try:
        spec = _BY_CLASS[type(cmd)]
    except KeyError:
        raise TypeError(f"not a command record: {cmd!r}") from None
    if (
        spec.names
        or tuple(map(type, cmd)) != spec.kinds
        or not all(INT64_MIN <= v <= INT64_MAX for v in cmd)
    ):
        err = _bad_field(spec, cmd)
        if err is not None:
            raise err
    out: dict[str, Any] = {"type": spec.name}
    for name, kind, v in zip(spec.fields, spec.kinds, cmd, strict=True):
        if kind is str:
            if v is not None:
                out[name] = v
        else:
            out[name] = v if kind is bool else operator.index(v)
    return out


def to_json(cmd: CommandRecord) -> str:
    """Compact JSON text of :func:`to_dict` (keys in field order).

    >>> to_json(Deposit(0, 5000))
    '{"type":"deposit","uid":0,"amount":5000,"ts":0}'
    """
    return json.dumps(to_dict(cmd), separators=(",", ":"))


def from_dict(obj: object) -> CommandRecord:
    """The command described by a JSON object (already parsed).

    Fields with a default may be omitted.  Anything else raises
    :class:`CommandDecodeError`: not a dict, a missing or unknown ``"type"``, a
    missing required field, an unknown key, an int field that is not an int
    (``bool`` and ``float`` included) or not in int64, a bool field that is not
    ``true``/``false``, a name that is not a non-empty string or ``null``.

    >>> from_dict({"type": "cancel", "uid": 3, "oid": 7})
    Cancel(uid=3, oid=7, ts=0)
    """
    if not isinstance(obj, dict):
        raise CommandDecodeError(
            f"a command must be a JSON object, not {type(obj).__name__}"
        )
    name = obj.get("type")
    if not isinstance(name, str):
        raise CommandDecodeError('a command needs a string "type"')
    spec = _BY_NAME.get(name)
    if spec is None:
        raise CommandDecodeError(f"unknown command type {name!r}")
    values = []
    found = 1
    for f, kind in zip(spec.fields, spec.kinds, strict=True):
        if f in obj:
            v = obj[f]
            if kind is str:
                err = _bad_name(f"{name}.{f}", v)
                if err is not None:
                    raise CommandDecodeError(str(err))
                values.append(v)
                found += 1
                continue
            if type(v) is not kind:
                what = "an integer" if kind is int else "true or false"
                raise CommandDecodeError(
                    f"{name}.{f} must be {what}, not {type(v).__name__} {v!r}"
                )
            if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
                raise CommandDecodeError(f"{name}.{f} = {v} does not fit in int64")
            values.append(v)
            found += 1
        elif f in spec.defaults:
            values.append(spec.defaults[f])
        else:
            raise CommandDecodeError(f"{name} needs field {f!r}")
    if found != len(obj):
        extra = sorted(str(k) for k in obj if k != "type" and k not in spec.fields)
        raise CommandDecodeError(f"{name} has unknown field(s) {extra}")
    return tuple.__new__(spec.cls, values)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        keys = [k for k, _ in pairs]
        dup = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise CommandDecodeError(f"duplicate key {dup!r}")
    return out


def from_json(text: str | bytes | bytearray) -> CommandRecord:
    """The command in a JSON text (see :func:`from_dict`).

    >>> from_json('{"type": "halt", "mid": 2}')
    Halt(mid=2, ts=0)
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"JSON text must be str or bytes, not {type(text).__name__}")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except CommandDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, ...
        raise CommandDecodeError(f"not valid JSON: {exc}") from None
    return from_dict(obj)


# --------------------------------------------------------------- lookups
# Public forms of the tables above, for the journal (which must not reach for
# their private names).

#: The spec of a record class, or ``None`` if it is not one: the table's own
#: ``dict.get``, so the journal's per-command lookup costs no Python call.
spec_for_class: Callable[[type], CommandSpec | None] = _BY_CLASS.get


def spec_for_code(code: int) -> CommandSpec | None:
    """The spec of a type code (0..255), or ``None`` if no command has it.

    >>> spec_for_code(2).name, spec_for_code(0)
    ('cancel', None)
    """
    return _BY_CODE[code]
