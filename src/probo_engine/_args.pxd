# cython: language_level=3
# Argument conversion for the def API of Core: Python ints, enums, client ids
# and user/market keys to C integers, with a ProboError naming the argument
# on misuse (docs/semantics.md "Errors").  The common case (an exact int) is
# inline here, so it is compiled into _book's calls; everything that raises
# or handles other types is cold and lives in _args.pyx.

from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.unicode cimport PyUnicode_CheckExact
from libc.stdint cimport int64_t

from probo_engine._clib cimport probo_small_int
from probo_engine._rules cimport client_id_ok
from probo_engine._types cimport CmdRec

# _args.pyx: the cold paths (non-int types, overflow, out-of-range values)
cdef int64_t _int_slow(object x, str name) except? -1
cdef int _enum_slow(object x, str name, int hi) except -1
cdef int _out_of_range(str name, int hi, int64_t v) except -1
cdef int _bad_client_id(int64_t v) except -1
# run_batch / check_batch: raise naming the first malformed record
cdef int _check_records(const CmdRec* cmds, Py_ssize_t n) except -1
cdef object check_batch(commands)
# Core._guard: ConcurrentUseError naming what holds the Core (BUSY_*)
cdef int _raise_busy(int what) except -1
cdef int _self_trade(object stp) except -1


cdef inline int64_t _int(object x, str name) except? -1:
    cdef int overflow = 0
    cdef long long v
    if PyLong_CheckExact(x):
        if probo_small_int(x, &v):
            return v
        v = PyLong_AsLongLongAndOverflow(x, &overflow)
        if not overflow:
            return v
    return _int_slow(x, name)


cdef inline int _enum(object x, str name, int hi) except -1:
    # 0 and 1 are CPython's cached small ints: an identity test is enough
    # for the common values (a bool is neither object, so it still fails).
    if x is 0:
        return 0
    if x is 1:
        return 1    # every enum has hi >= 1
    if not PyLong_CheckExact(x):
        return _enum_slow(x, name, hi)   # an IntEnum member, or misuse
    cdef int64_t v = _int(x, name)
    if v < 0 or v > hi:
        return _out_of_range(name, hi, v)
    return <int>v


cdef inline int64_t _client_id(object x) except -1:
    cdef int64_t v = _int(x, "client_id")
    if not client_id_ok(v):
        return _bad_client_id(v)
    return v


cdef inline int64_t _user_key(object core, object x, str name) except? -2:
    # a user id, or an Engine's user name looked up in its dict _user_ids
    # (-1 if unknown: the command refuses it with UNKNOWN_USER)
    if PyLong_CheckExact(x):
        return _int(x, name)
    if PyUnicode_CheckExact(x):
        try:
            return (<dict?>core._user_ids).get(x, -1)
        except AttributeError:  # a bare Core takes no names
            return _int(x, name)
    return _int(core._uid_arg(x, name), name)


cdef inline int64_t _market_key(object core, object x, str name) except? -2:
    # a market id, or an Engine's market symbol (dict _market_ids; -1 if
    # unknown: refused with UNKNOWN_MARKET)
    if PyLong_CheckExact(x):
        return _int(x, name)
    if PyUnicode_CheckExact(x):
        try:
            return (<dict?>core._market_ids).get(x, -1)
        except AttributeError:  # a bare Core takes no names
            return _int(x, name)
    return _int(core._mid_arg(x, name), name)
