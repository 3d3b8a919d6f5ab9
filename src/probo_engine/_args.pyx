# cython: language_level=3
"""The cold half of Core's argument conversion (the inline half: _args.pxd).

Non-int arguments, overflow, enum values out of range or of the wrong enum,
bad client ids, malformed ``run_batch`` records, and a call from a second
thread while a Core is busy: each raises a ``ProboError`` naming the argument
or the conflict (docs/semantics.md "Errors", "Threads").
"""

from cpython.number cimport PyNumber_Index
from libc.stdint cimport int64_t

from probo_engine._rules cimport cmd_ok
from probo_engine._types cimport BUSY_BATCH, BUSY_DEPTH, BUSY_SNAPSHOT, STP_NONE, CmdRec

from probo_engine.errors import (
    ArgumentOverflowError,
    ArgumentTypeError,
    ConcurrentUseError,
    InvalidArgumentError,
)
from probo_engine.types import FeeMode, Outcome, SelfTrade, Side, TimeInForce


cdef int64_t _int_slow(object x, str name) except? -1:
    # bool is an int subclass and float/Decimal convert silently elsewhere:
    # both are misuse here, so refuse them before __index__ gets a chance.
    # Every refusal is a ProboError naming the argument (semantics.md "Errors").
    if isinstance(x, (bool, float)):
        raise ArgumentTypeError(f"{name} must be an integer, not {type(x).__name__}")
    try:
        x = PyNumber_Index(x)
    except TypeError:
        raise ArgumentTypeError(
            f"{name} must be an integer, not {type(x).__name__}"
        ) from None
    try:
        return x
    except OverflowError:
        raise ArgumentOverflowError(
            f"{name} must fit in a signed 64-bit integer, got {x}") from None


# The argument each IntEnum belongs to: an enum of another kind (Outcome.NO
# given as the side) is refused, not read as its number.
_ENUM_ARG = {Side: "side", Outcome: "outcome", TimeInForce: "tif", SelfTrade: "stp",
             FeeMode: "fee_mode"}
_ENUM_NAME = {v: k.__name__ for k, v in _ENUM_ARG.items()}


cdef int _enum_slow(object x, str name, int hi) except -1:
    # _enum of anything but an exact int: an IntEnum of the right kind is
    # read as its value; another kind, or a non-integer, is refused.
    kind = _ENUM_ARG.get(type(x))
    if kind is not None and kind != name:
        raise ArgumentTypeError(
            f"{name} must be a {_ENUM_NAME[name]} (or its int value), "
            f"not {type(x).__name__}.{x.name}")
    cdef int64_t v = _int_slow(x, name)
    if v < 0 or v > hi:
        _out_of_range(name, hi, v)
    return <int>v


cdef int _out_of_range(str name, int hi, int64_t v) except -1:
    raise InvalidArgumentError(f"{name} must be in 0..{hi}, got {v}")


cdef int _bad_client_id(int64_t v) except -1:
    raise InvalidArgumentError(f"client_id must be in 0..{0xFFFFFFFF}, got {v}")


cdef int _check_records(const CmdRec* cmds, Py_ssize_t n) except -1:
    cdef Py_ssize_t i
    for i in range(n):
        if not cmd_ok(&cmds[i]):
            raise InvalidArgumentError(
                f"command {i} is malformed: {_cmd_problem(cmds[i])}")
    return 0


cdef str _cmd_problem(CmdRec c):
    return (f"kind={c.kind} side={c.side} outcome={c.outcome} tif={c.tif} "
            f"stp={c.stp} post_only={c.post_only} client_id={c.client_id} "
            f"expire_ts={c.expire_ts} max_cost={c.max_cost} reserved={c.reserved}")


cdef object check_batch(commands):
    # Core.check_batch: the record checks of run_batch, running nothing
    cdef const unsigned char[::1] raw = memoryview(commands).cast("B")
    cdef Py_ssize_t n
    if raw.shape[0] % sizeof(CmdRec):
        raise InvalidArgumentError(
            f"commands buffer of {raw.shape[0]} bytes is not a "
            f"whole number of {sizeof(CmdRec)}-byte records")
    n = raw.shape[0] // sizeof(CmdRec)
    if n:
        _check_records(<const CmdRec*>&raw[0], n)
    return n


# What holds a Core while it runs with the GIL released (Core.busy, BUSY_*);
# a call from another thread meanwhile is refused (semantics.md "Threads").
_BUSY_NAMES = {BUSY_BATCH: "run_batch", BUSY_SNAPSHOT: "snapshot",
               BUSY_DEPTH: "depth_into"}


cdef int _raise_busy(int what) except -1:
    raise ConcurrentUseError(
        f"this Core is running {_BUSY_NAMES.get(what, what)}() in another thread; "
        "a Core is single-threaded: serialize calls on it (e.g. with a lock)")


cdef int _self_trade(object stp) except -1:
    # Engine(self_trade=...): a SelfTrade (or its int value) as its number.
    if type(stp) in _ENUM_ARG and type(stp) is not SelfTrade:
        raise ArgumentTypeError(
            f"self_trade must be a SelfTrade (or its int value), not "
            f"{type(stp).__name__}.{stp.name}")
    cdef int64_t v = _int(stp, "self_trade")
    if not 0 <= v <= STP_NONE:
        raise InvalidArgumentError(f"self_trade must be in 0..{STP_NONE}, got {v}")
    return <int>v
