# Journal replay in C, and the Redis engine's batch loop (at the end of this
# file, "command stream"), which shares its command decoder.
#
# Journal replay (journal.py docstring: record framing; commands.py:
# the binary command codec).  One pass over a segment's bytes checks each
# record's framing, sequence number and CRC32s, decodes the command straight
# into a CmdRec batch record, and runs the records in chunks through
# Core.run_batch.  It stops, without raising, at the first record it cannot
# handle exactly as the Python path would (any damage, an unknown type or
# version, a length or flag byte the Python decoder would refuse, an argument
# the per-call method would refuse): the caller hands that record to the
# Python path, which keeps every error message, then resumes here.

cimport cython
from cpython.bytearray cimport (
    PyByteArray_AS_STRING,
    PyByteArray_GET_SIZE,
    PyByteArray_Resize,
)
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.dict cimport PyDict_GetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from probo_engine._book cimport Core, crc32_update
from probo_engine._rules cimport client_id_ok, place_market_ok, place_ok
from probo_engine._types cimport (
    CMD_AMEND,
    CMD_CANCEL,
    CMD_CANCEL_ALL,
    CMD_CANCEL_CLIENT,
    CMD_CLOSE,
    CMD_CREATE_MARKET,
    CMD_CREATE_USER,
    CMD_DEPOSIT,
    CMD_EXPIRE,
    CMD_HALT,
    CMD_MERGE,
    CMD_MINT,
    CMD_PLACE,
    CMD_PLACE_MARKET,
    CMD_RESOLVE,
    CMD_RESUME,
    CMD_WITHDRAW,
    TIF_FOK,
    TIF_IOC,
    CmdRec,
    Event,
)

from probo_engine.errors import InvalidArgumentError, JournalCorruptError


cdef extern from "Python.h":
    ctypedef struct PyByteArrayObject:
        Py_ssize_t ob_alloc
    bint PyBytes_CheckExact(object o)
    bint PyList_CheckExact(object o)
    PyObject* PyDict_GetItemWithError(object d, object key) except? NULL

# Plain literals: an expression here crashes Cython 3's code generation when
# overflowcheck is on (the PROBO_DEBUG=1 build).
cdef enum:
    REC_HEAD = 16          # u32 payload length, u64 seq, u32 CRC32 of those 12
    REC_MIN = 22           # header 16, smallest command 2, record CRC32 4
    MAX_PAYLOAD = 65536    # journal.MAX_PAYLOAD (1 << 16)

# ------------------------------------------------------------------- CRC32
# The core's own CRC-32 (zlib's polynomial; PCLMUL folding where the CPU has
# it, slice-by-8 tables otherwise): one implementation for snapshots and
# journal records, and no zlib headers needed to build.

cdef inline uint32_t _ld32(const uint8_t* p) noexcept nogil:
    # little-endian (LITTLE_ENDIAN below refuses any other host)
    cdef uint32_t v
    memcpy(&v, p, 4)
    return v


cdef inline int64_t _ld64(const uint8_t* p) noexcept nogil:
    cdef int64_t v
    memcpy(&v, p, 8)
    return v


cdef bint _little_endian() noexcept:
    cdef uint32_t one = 1
    return (<uint8_t*>&one)[0] == 1


#: Whether this host can use the C path (it reads little-endian fields
#: in place).
LITTLE_ENDIAN = _little_endian()


def crc32(data, uint32_t value=0):
    """``zlib.crc32(data, value)``, computed by this module's own C code."""
    cdef const uint8_t[::1] v = memoryview(data).cast("B")
    if v.shape[0] == 0:
        return value
    return crc32_update(value, &v[0], <size_t>v.shape[0])


# ------------------------------------------------------------------ encode

cdef inline void _st32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>v
    p[1] = <uint8_t>(v >> 8)
    p[2] = <uint8_t>(v >> 16)
    p[3] = <uint8_t>(v >> 24)


def append_record(bytearray buf, bytes payload, uint64_t seq):
    """Append the journal record of ``payload`` with sequence number ``seq``
    to ``buf``: header (u32 length, u64 seq, CRC32 of those 12 bytes), the
    payload, CRC32 of header and payload.  The bytes the writer's
    ``struct``/``zlib`` framing gives, in one call (the record of every
    command, on the durable paths)."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t old = PyByteArray_GET_SIZE(buf)
    if n > 0xFFFFFFFF:
        raise OverflowError(f"a journal payload of {n} bytes does not fit a u32 length")
    PyByteArray_Resize(buf, old + REC_HEAD + n + 4)
    cdef uint8_t* p = <uint8_t*>PyByteArray_AS_STRING(buf) + old
    _st32(p, <uint32_t>n)
    _st32(p + 4, <uint32_t>seq)
    _st32(p + 8, <uint32_t>(seq >> 32))
    _st32(p + 12, crc32_update(0, p, 12))
    memcpy(p + REC_HEAD, PyBytes_AS_STRING(payload), <size_t>n)
    _st32(p + REC_HEAD + n, crc32_update(0, p, <size_t>(REC_HEAD + n)))


# ------------------------------------------------------------------ decode
# Payload: u8 format version, u8 type code, fields (int64 or one bool byte);
# version 2 adds to create_user/create_market a u16 length and that many
# bytes of UTF-8 name (length 0: no name).

cdef inline bint _bool_ok(const uint8_t* p, Py_ssize_t at) noexcept nogil:
    return p[at] <= 1


# Payload layouts of the batchable commands: u8 format version, u8 type
# code, then the fields in commands.py's order, int64 as 8 bytes and bool as
# one byte.  A run of int64 fields is read as field k of the run starting at
# byte `at` (at + 8 * k).  record_layout() lists every size and offset these
# give, and tests/durability/test_replay_layout.py holds it equal to the
# layout commands.py derives from its record classes.
cdef enum:
    FIELDS = 2             # the first field, after version and code
    PLACE_POST_ONLY = 74   # Place: 9 int64, post_only, client_id, expire_ts
    PLACE_TAIL = 75
    PLACE_SIZE = 91
    MARKET_FOK = 50        # PlaceMarket: 6 int64, fok, stp, ts, client_id
    MARKET_TAIL = 51
    MARKET_SIZE = 75
    SIZE_1 = 10            # one int64 field (expire)
    SIZE_2 = 18            # two (halt, resume, close)
    SIZE_3 = 26            # three (cancel, cancel_client, deposit, withdraw, ...)
    SIZE_4 = 34            # four (mint, merge)
    SIZE_5 = 42            # five (amend)
    CREATE_MARKET_BOOL = 58  # CreateMarket: 7 int64, cancel_on_halt, [name]
    CREATE_MARKET_NAME = 59


cdef inline int64_t _f(const uint8_t* p, int at, int k) noexcept nogil:
    # int64 field k of the run that starts at byte `at`
    return _ld64(p + at + 8 * k)


def record_layout():
    """``{code: (size, {field: byte offset})}`` as ``_decode`` reads them."""
    def run(at, names):
        return {name: at + 8 * k for k, name in enumerate(names)}

    place = run(FIELDS, ("uid", "mid", "side", "outcome", "price", "qty", "tif",
                         "stp", "ts"))
    place["post_only"] = PLACE_POST_ONLY
    place.update(run(PLACE_TAIL, ("client_id", "expire_ts")))
    market = run(FIELDS, ("uid", "mid", "side", "outcome", "qty", "max_cost"))
    market["fok"] = MARKET_FOK
    market.update(run(MARKET_TAIL, ("stp", "ts", "client_id")))
    cm = run(FIELDS, ("payout", "tick", "ts", "taker_fee", "maker_fee", "fee_mode",
                      "min_qty"))
    cm["cancel_on_halt"] = CREATE_MARKET_BOOL
    return {
        CMD_PLACE: (PLACE_SIZE, place),
        CMD_PLACE_MARKET: (MARKET_SIZE, market),
        CMD_CANCEL: (SIZE_3, run(FIELDS, ("uid", "oid", "ts"))),
        CMD_CANCEL_CLIENT: (SIZE_3, run(FIELDS, ("uid", "client_id", "ts"))),
        CMD_DEPOSIT: (SIZE_3, run(FIELDS, ("uid", "amount", "ts"))),
        CMD_WITHDRAW: (SIZE_3, run(FIELDS, ("uid", "amount", "ts"))),
        CMD_AMEND: (SIZE_5, run(FIELDS, ("uid", "oid", "price", "qty", "ts"))),
        CMD_CANCEL_ALL: (SIZE_3, run(FIELDS, ("uid", "mid", "ts"))),
        CMD_MINT: (SIZE_4, run(FIELDS, ("uid", "mid", "qty", "ts"))),
        CMD_MERGE: (SIZE_4, run(FIELDS, ("uid", "mid", "qty", "ts"))),
        CMD_HALT: (SIZE_2, run(FIELDS, ("mid", "ts"))),
        CMD_RESUME: (SIZE_2, run(FIELDS, ("mid", "ts"))),
        CMD_CLOSE: (SIZE_2, run(FIELDS, ("mid", "ts"))),
        CMD_RESOLVE: (SIZE_3, run(FIELDS, ("mid", "yes_value", "ts"))),
        CMD_EXPIRE: (SIZE_1, run(FIELDS, ("ts",))),
        CMD_CREATE_USER: (FIELDS, {}),
        CMD_CREATE_MARKET: (CREATE_MARKET_NAME, cm),
    }


cdef bint _decode(const uint8_t* p, Py_ssize_t n, CmdRec* c) noexcept nogil:
    # One batchable command into c; False if it is anything the Python path
    # must see: a wrong length, a bool byte other than 0/1 (commands.decode
    # refuses it), or an argument the per-call method refuses with an
    # exception (the same rules as Core._cmd_ok: _rules.pxd).
    cdef int64_t k = p[1]
    memset(c, 0, sizeof(CmdRec))
    c.kind = k
    if k == CMD_PLACE:
        if n != PLACE_SIZE or not _bool_ok(p, PLACE_POST_ONLY):
            return False
        c.uid = _f(p, FIELDS, 0)
        c.mid = _f(p, FIELDS, 1)
        c.side = _f(p, FIELDS, 2)
        c.outcome = _f(p, FIELDS, 3)
        c.price = _f(p, FIELDS, 4)
        c.qty = _f(p, FIELDS, 5)
        c.tif = _f(p, FIELDS, 6)
        c.stp = _f(p, FIELDS, 7)
        c.ts = _f(p, FIELDS, 8)
        c.post_only = p[PLACE_POST_ONLY]
        c.client_id = _f(p, PLACE_TAIL, 0)
        c.expire_ts = _f(p, PLACE_TAIL, 1)
        return place_ok(c)
    if k == CMD_PLACE_MARKET:
        if n != MARKET_SIZE or not _bool_ok(p, MARKET_FOK):
            return False
        c.uid = _f(p, FIELDS, 0)
        c.mid = _f(p, FIELDS, 1)
        c.side = _f(p, FIELDS, 2)
        c.outcome = _f(p, FIELDS, 3)
        c.qty = _f(p, FIELDS, 4)
        c.max_cost = _f(p, FIELDS, 5)
        c.tif = TIF_FOK if p[MARKET_FOK] else TIF_IOC
        c.stp = _f(p, MARKET_TAIL, 0)
        c.ts = _f(p, MARKET_TAIL, 1)
        c.client_id = _f(p, MARKET_TAIL, 2)
        return place_market_ok(c)
    if k == CMD_CANCEL:
        if n != SIZE_3:
            return False
        c.uid = _f(p, FIELDS, 0)
        c.oid = _f(p, FIELDS, 1)
        c.ts = _f(p, FIELDS, 2)
        return True
    if k == CMD_CANCEL_CLIENT:
        if n != SIZE_3:
            return False
        c.uid = _f(p, FIELDS, 0)
        c.client_id = _f(p, FIELDS, 1)
        c.ts = _f(p, FIELDS, 2)
        return client_id_ok(c.client_id)
    if k == CMD_DEPOSIT or k == CMD_WITHDRAW:
        if n != SIZE_3:
            return False
        c.uid = _f(p, FIELDS, 0)
        c.qty = _f(p, FIELDS, 1)  # amount
        c.ts = _f(p, FIELDS, 2)
        return True
    if k == CMD_AMEND:
        if n != SIZE_5:
            return False
        c.uid = _f(p, FIELDS, 0)
        c.oid = _f(p, FIELDS, 1)
        c.price = _f(p, FIELDS, 2)
        c.qty = _f(p, FIELDS, 3)
        c.ts = _f(p, FIELDS, 4)
        return True
    if k == CMD_CANCEL_ALL:
        if n != SIZE_3:
            return False
        c.uid = _f(p, FIELDS, 0)
        c.mid = _f(p, FIELDS, 1)
        c.ts = _f(p, FIELDS, 2)
        return True
    if k == CMD_MINT or k == CMD_MERGE:
        if n != SIZE_4:
            return False
        c.uid = _f(p, FIELDS, 0)
        c.mid = _f(p, FIELDS, 1)
        c.qty = _f(p, FIELDS, 2)
        c.ts = _f(p, FIELDS, 3)
        return True
    if k == CMD_HALT or k == CMD_RESUME or k == CMD_CLOSE:
        if n != SIZE_2:
            return False
        c.mid = _f(p, FIELDS, 0)
        c.ts = _f(p, FIELDS, 1)
        return True
    if k == CMD_RESOLVE:
        if n != SIZE_3:
            return False
        c.mid = _f(p, FIELDS, 0)
        c.price = _f(p, FIELDS, 1)  # yes_value
        c.ts = _f(p, FIELDS, 2)
        return True
    if k == CMD_EXPIRE:
        if n != SIZE_1:
            return False
        c.ts = _f(p, FIELDS, 0)
        return True
    return False


cdef object _name(const uint8_t* p, Py_ssize_t n, Py_ssize_t at, int version):
    # The optional name after the fixed fields of create_user/create_market:
    # None, a str, or False when the Python decoder must see the record.
    cdef uint16_t k
    if version < 2:
        return None if n == at else False
    if n < at + 2:
        return False
    k = <uint16_t>(p[at] | (p[at + 1] << 8))
    if n != at + 2 + k:
        return False
    if k == 0:
        return None
    try:
        return PyUnicode_DecodeUTF8(<const char*>(p + at + 2), k, "strict")
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------- replayer

@cython.final
cdef class Replayer:
    """Replays journal segments into one core through ``run_batch``.

    Parameters
    ----------
    engine : Core
        The engine (a ``Core`` whose batchable methods are the Core's own:
        the caller checks).  ``create_user``/``create_market`` are called as
        the engine's own (possibly overridden) methods.
    max_version : int
        The newest command format version to read (``commands.FORMAT_VERSION``).
    chunk : int
        Commands per ``run_batch`` call.
    """

    cdef object store          # bytearray of `cap` CmdRec records
    cdef object view           # memoryview of store (sliced per run_batch)
    cdef object results        # int64 memoryview of `cap` results (unused)
    cdef CmdRec* recs          # points into store
    cdef Py_ssize_t cap        # records per chunk
    cdef object run_batch      # engine.run_batch
    cdef object create_user    # engine.create_user
    cdef object create_market  # engine.create_market
    cdef int max_version       # newest command format version read
    cdef readonly Py_ssize_t applied  # commands this replayer applied, all calls

    def __cinit__(self, engine, int max_version, Py_ssize_t chunk=2048):
        if chunk < 1:
            raise InvalidArgumentError(f"chunk must be >= 1, got {chunk}")
        self.cap = chunk
        self.store = bytearray(chunk * sizeof(CmdRec))
        self.recs = <CmdRec*>PyByteArray_AS_STRING(self.store)
        self.view = memoryview(self.store)
        self.results = memoryview(bytearray(chunk * 8)).cast("q")
        self.run_batch = engine.run_batch
        self.create_user = engine.create_user
        self.create_market = engine.create_market
        self.max_version = max_version
        self.applied = 0

    cdef int _run(self, Py_ssize_t a, Py_ssize_t b, path, Py_ssize_t off,
                  uint64_t seq, bint events=False) except -1:
        # Runs queued records a..b-1 (the first at `off`, seq `seq`): 0 when
        # done, 1 when run_batch refused them (it checks every record before
        # running any, so nothing changed).
        if a == b:
            return 0
        try:
            self.run_batch(self.view[a * sizeof(CmdRec):b * sizeof(CmdRec)],
                           self.results, None, events)
        except ValueError:
            return 1
        except Exception as exc:
            raise JournalCorruptError(
                path, off, f"replaying command seq {seq} raised {exc!r}"
            ) from exc
        return 0

    def replay(self, data, Py_ssize_t off, uint64_t seq, uint64_t skip_to, path,
               on_chunk=None):
        """Apply the records of one segment from ``off``, expecting ``seq``.

        Records with seq ``<= skip_to`` are checked but not applied.  Stops at
        the end of ``data`` or at the first record the Python path must
        handle.  ``on_chunk(offset, applied)`` is called between chunks, about
        every ``chunk`` commands.

        Returns
        -------
        tuple
            ``(offset, next seq, commands applied, ok)``; ``ok`` is False when
            ``run_batch`` refused a chunk (nothing of it applied; the offset
            and seq are then its first record's): use the Python path for
            the rest of the segment.

        Raises
        ------
        JournalCorruptError
            ``create_user``/``create_market`` raised (as the Python path
            reports it), or ``run_batch`` ran out of memory.
        """
        cdef const uint8_t[::1] v = memoryview(data).cast("B")
        cdef Py_ssize_t end = v.shape[0]
        cdef const uint8_t* base
        cdef const uint8_t* p
        cdef uint32_t n
        cdef uint64_t s
        cdef Py_ssize_t rend, k = 0, since = 0
        cdef Py_ssize_t chunk_off = off  # first queued record (or the next)
        cdef uint64_t chunk_seq = seq
        cdef Py_ssize_t last_off = off   # last queued record
        cdef uint64_t last_seq = seq
        cdef Py_ssize_t applied = 0
        cdef int version, code
        cdef bint ok = True
        cdef object name
        if end == 0:
            return off, seq, 0, True
        base = &v[0]
        while off + REC_MIN <= end:
            p = base + off
            n = _ld32(p)
            memcpy(&s, p + 4, 8)
            if s != seq or n < 2 or n > MAX_PAYLOAD:
                break
            rend = off + REC_HEAD + n
            if rend + 4 > end:
                break
            if (crc32_update(0, p, 12) != _ld32(p + 12)
                    or crc32_update(0, p, REC_HEAD + n) != _ld32(base + rend)):
                break
            p += REC_HEAD
            version = p[0]
            code = p[1]
            if version < 1 or version > self.max_version:
                break
            if code == CMD_CREATE_USER or code == CMD_CREATE_MARKET:
                if code == CMD_CREATE_USER:
                    name = _name(p, n, FIELDS, version)
                elif (n >= CREATE_MARKET_NAME
                        and _bool_ok(p, CREATE_MARKET_BOOL)):
                    name = _name(p, n, CREATE_MARKET_NAME, version)
                else:
                    break
                if name is False:
                    break
                if seq > skip_to:
                    # A Python call: first run what is queued, in order.
                    if self._run(0, k, path, chunk_off, chunk_seq):
                        ok = False
                        break
                    applied += k
                    since += k
                    k = 0
                    try:
                        self._create(p, code, name)
                    except Exception as exc:
                        raise JournalCorruptError(
                            path, off, f"replaying command seq {seq} raised {exc!r}"
                        ) from exc
                    applied += 1
                    since += 1
            else:
                if not _decode(p, n, &self.recs[k]):
                    break
                if seq > skip_to:
                    k += 1
                    last_off, last_seq = off, seq
            seq += 1
            off = rend + 4
            if k == self.cap:
                if self._run(0, k, path, chunk_off, chunk_seq):
                    ok = False
                    break
                applied += k
                since += k
                k = 0
            if k == 0:
                chunk_off, chunk_seq = off, seq
                if since >= self.cap and on_chunk is not None:
                    since = 0
                    on_chunk(off, applied)
        # The last command alone with its events: last_events() is then what
        # the per-call path leaves (the commands after this call may replace
        # them, as they would).
        if ok and k:
            if self._run(0, k - 1, path, chunk_off, chunk_seq):
                ok = False
            elif self._run(k - 1, k, path, last_off, last_seq, True):
                applied += k - 1
                chunk_off, chunk_seq = last_off, last_seq
                ok = False
        if ok:
            applied += k
        else:
            off, seq = chunk_off, chunk_seq
        self.applied += applied
        return off, seq, applied, ok

    cdef int _create(self, const uint8_t* p, int code, object name) except -1:
        # Exactly the Python path's call: positional fields, the name by
        # keyword only when there is one.
        if code == CMD_CREATE_USER:
            if name is None:
                self.create_user()
            else:
                self.create_user(name=name)
            return 0
        args = (_f(p, FIELDS, 0), _f(p, FIELDS, 1), _f(p, FIELDS, 2),
                _f(p, FIELDS, 3), _f(p, FIELDS, 4), _f(p, FIELDS, 5),
                _f(p, FIELDS, 6), p[CREATE_MARKET_BOOL] == 1)
        if name is None:
            self.create_market(*args)
        else:
            self.create_market(*args, symbol=name)
        return 0


# ------------------------------------------------------------ command stream
# The Redis engine's batch loop (adapters/redis.py, RedisEngine._apply_raw and
# _apply_batch) in C: command stream entries, from the raw RESP bytes of an
# XREAD reply (apply_stream_raw) or as hiredis parses it (apply_stream), each
# decoded straight into a CmdRec, stamped, looked up in the dedup window and
# run by the core's own _dispatch (what run_batch runs), its entry, reply and
# events packed into the batch's buffers (_entry, shared by both).  They stop,
# without changing anything for that entry, at the first one the Python path
# must handle (any other field layout, a command with a name, anything _decode
# refuses, a q or an id that is not plain digits): EngineRunner.apply_encoded
# / RedisEngine._one then apply it, keeping every error message, and the C
# path resumes after it.

cdef enum:
    ENTRY_HEAD = 19        # entries.py: u8 version, u64 seq, i64 result, u16 key length
    REPLY_HEAD = 29        # redis.py _REPLY: u64 q, u8 status, u64 seq, i64 result, u32
    MAX_KEY = 64           # runner.MAX_KEY_BYTES
    ENTRY_V = 1            # entries.ENTRY_VERSION
    ST_APPLIED = 0         # runner.APPLIED
    ST_DUPLICATE = 1       # runner.DUPLICATE
    NOMEM = -1             # _book's ERR_NOMEM


cdef inline int _ts_at(int code, Py_ssize_t n) noexcept nogil:
    # Byte offset of ts in a batchable command of `n` bytes (record_layout):
    # the last int64 but for place (then post_only, client_id, expire_ts)
    # and place_market (then client_id).
    if code == CMD_PLACE:
        return FIELDS + 8 * 8
    if code == CMD_PLACE_MARKET:
        return MARKET_TAIL + 8
    return <int>(n - 8)


cdef inline char* _grow(bytearray b, Py_ssize_t extra) except NULL:
    # Room for `extra` more bytes at the end of b.  Its capacity doubles:
    # bytearray's own growth (1/8) would copy a batch's buffer ~8 times.
    cdef Py_ssize_t n = PyByteArray_GET_SIZE(b)
    if n + extra >= (<PyByteArrayObject*>b).ob_alloc:
        # a major upsize (exact), then a minor downsize (keeps the capacity)
        PyByteArray_Resize(b, max(2 * n, n + extra, 4096))
    PyByteArray_Resize(b, n + extra)
    return PyByteArray_AS_STRING(b) + n


cdef inline bint _is(object x, char c) noexcept:
    # x is the one-byte bytes c (a field name of the gateways' layout)
    return (PyBytes_CheckExact(x) and PyBytes_GET_SIZE(x) == 1
            and PyBytes_AS_STRING(x)[0] == c)


cdef inline bint _digits(const char* s, Py_ssize_t n, uint64_t* out) noexcept:
    # s[:n] is 1..20 ASCII digits (nothing else) of a value < 2**64 - 1
    cdef Py_ssize_t i
    cdef uint64_t v = 0, d
    if n < 1 or n > 20:
        return False
    for i in range(n):
        d = <uint64_t>(<uint8_t>s[i]) - 48
        if d > 9 or v > (~(<uint64_t>0) - 1 - d) // 10:
            return False
        v = v * 10 + d
    out[0] = v
    return True


cdef inline bint _bytes_digits(object x, uint64_t* out) noexcept:
    return PyBytes_CheckExact(x) and _digits(PyBytes_AS_STRING(x),
                                             PyBytes_GET_SIZE(x), out)


cdef inline bint _ms(const char* s, Py_ssize_t n, uint64_t* ms) noexcept:
    # The milliseconds of a stream id "<ms>-<n>" (plain digits, < 2**63/1e6)
    cdef Py_ssize_t i
    cdef uint64_t v = 0, d
    for i in range(n):
        if s[i] == 45:  # '-'
            if i == 0:
                return False
            ms[0] = v
            return True
        d = <uint64_t>(<uint8_t>s[i]) - 48
        if d > 9 or i >= 13:  # 13 digits: up to 9.99e12 ms, * 1e6 < 2**63
            return False
        v = v * 10 + d
    return False


cdef inline bint _sid_ms(object sid, uint64_t* ms) noexcept:
    return PyBytes_CheckExact(sid) and _ms(PyBytes_AS_STRING(sid),
                                           PyBytes_GET_SIZE(sid), ms)


cdef struct _Run:
    # the runner's counters while a batch is applied
    uint64_t seq
    int64_t last_ts


cdef int _entry(Core engine, _Run* st, uint64_t ms, object key, object g,
                uint64_t q, const uint8_t* p, Py_ssize_t nraw, object window,
                Py_ssize_t wsize, int max_version, bytearray entries, dict md,
                dict replies) except -1:
    # One stream entry whose fields are already checked (key and gateway are
    # bytes, the key at most MAX_KEY bytes, the command at least 2): 1 when
    # the Python path must apply it (nothing changed), else 0 (applied or a
    # duplicate, packed).
    cdef CmdRec rec
    cdef int64_t now, ts, r
    cdef Py_ssize_t nkey = PyBytes_GET_SIZE(key), nev, size
    cdef int version = p[0], code = p[1]
    cdef PyObject* hit
    cdef char* w
    cdef uint64_t seq = st.seq
    if (version < 1 or version > max_version or code == CMD_CREATE_USER
            or code == CMD_CREATE_MARKET or not _decode(p, nraw, &rec)):
        return 1
    now = <int64_t>ms * 1000000
    ts = now if now > st.last_ts else st.last_ts
    if nkey:
        hit = PyDict_GetItemWithError(window, key)
        if hit != NULL:
            tup = <object>hit
            if PyBytes_GET_SIZE(g):
                _reply(replies, g, q, ST_DUPLICATE, tup[0], tup[1], tup[2])
            return 0
    # run it as run_batch runs a record (its per-call method's semantics)
    rec.ts = ts
    engine.n_events = 0
    r = engine._dispatch(&rec)
    if r == NOMEM or engine.oom:
        raise MemoryError("the core lost an event to a failed allocation")
    nev = engine.n_events * <Py_ssize_t>sizeof(Event)
    # the entry: head, key, command (current version, stamped), events
    size = ENTRY_HEAD + nkey + 4 + nraw + nev
    w = _grow(entries, 4 + size)
    _st32(<uint8_t*>w, <uint32_t>size)
    w[4] = ENTRY_V
    memcpy(w + 5, &seq, 8)
    memcpy(w + 13, &r, 8)
    w[21] = <char>(nkey & 0xFF)
    w[22] = <char>(nkey >> 8)
    memcpy(w + 23, PyBytes_AS_STRING(key), nkey)
    w += 23 + nkey
    _st32(<uint8_t*>w, <uint32_t>nraw)
    memcpy(w + 4, p, nraw)
    w[4] = <char>max_version
    memcpy(w + 4 + _ts_at(code, nraw), &ts, 8)
    if nev:
        memcpy(w + 4 + nraw, engine.events, nev)
        _by_market(md, engine.events, engine.n_events)
    if PyBytes_GET_SIZE(g):
        _reply_raw(replies, g, q, ST_APPLIED, seq, r,
                   <const char*>engine.events, nev)
    if nkey and wsize:
        evb = PyBytes_FromStringAndSize(<const char*>engine.events, nev)
        window[key] = (seq, r, evb)
        if len(window) > wsize:
            window.popitem(False)
    if ts > st.last_ts:
        st.last_ts = ts
    st.seq = seq + 1
    return 0


def apply_stream(Core engine, list batch, Py_ssize_t start, uint64_t seq,
                 int64_t last_ts, window, Py_ssize_t wsize, int max_version,
                 bytearray entries, dict md, dict replies):
    """Apply command stream entries ``batch[start:]`` until one needs Python.

    ``batch`` is an ``XREAD`` reply's entries as hiredis gives them:
    ``[id, [b"v", b"1", b"k", key, b"c", command, b"g", gateway, b"q", q]]``.
    Each entry in exactly that layout whose command is batchable (every
    command but the two that create) is applied as
    ``EngineRunner.apply_encoded`` would apply it, time stamped from the id's
    milliseconds, and packed as ``RedisEngine._outcomes`` packs it: its
    ``pack_entries`` record appended to ``entries`` (APPLIED), its events to
    ``md[market]`` (a bytearray per market, in order; events of no market
    left out), its ``pack_replies`` record to ``replies[gateway]`` (a
    bytearray; none for an empty gateway).  ``window`` (an ``OrderedDict``
    of at most ``wsize`` keys) is the runner's dedup window, updated as
    ``apply_encoded`` updates it.

    Returns
    -------
    tuple
        ``(stop, next seq, last ts)``: ``stop`` is the index of the first
        entry not applied (``len(batch)``: all of them); that entry changed
        nothing and is for the Python path.
    """
    cdef Py_ssize_t i, n = PyList_GET_SIZE(batch)
    cdef object item, flat, key, raw, g
    cdef uint64_t ms, q
    cdef _Run st
    st.seq, st.last_ts = seq, last_ts
    if engine.busy or engine.oom:
        return start, seq, last_ts  # the Python path raises what it must
    for i in range(start, n):
        item = <object>PyList_GET_ITEM(batch, i)
        if not PyList_CheckExact(item) or PyList_GET_SIZE(item) != 2:
            return i, st.seq, st.last_ts
        flat = <object>PyList_GET_ITEM(item, 1)
        if not PyList_CheckExact(flat) or PyList_GET_SIZE(flat) != 10:
            return i, st.seq, st.last_ts
        if not (_is(<object>PyList_GET_ITEM(flat, 0), 118)       # v
                and _is(<object>PyList_GET_ITEM(flat, 1), 49)    # 1
                and _is(<object>PyList_GET_ITEM(flat, 2), 107)   # k
                and _is(<object>PyList_GET_ITEM(flat, 4), 99)    # c
                and _is(<object>PyList_GET_ITEM(flat, 6), 103)   # g
                and _is(<object>PyList_GET_ITEM(flat, 8), 113)):  # q
            return i, st.seq, st.last_ts
        key = <object>PyList_GET_ITEM(flat, 3)
        raw = <object>PyList_GET_ITEM(flat, 5)
        g = <object>PyList_GET_ITEM(flat, 7)
        if (not PyBytes_CheckExact(key) or not PyBytes_CheckExact(raw)
                or not PyBytes_CheckExact(g)
                or PyBytes_GET_SIZE(key) > MAX_KEY or PyBytes_GET_SIZE(raw) < 2
                or not _bytes_digits(<object>PyList_GET_ITEM(flat, 9), &q)
                or not _sid_ms(<object>PyList_GET_ITEM(item, 0), &ms)
                or _entry(engine, &st, ms, key, g, q,
                          <const uint8_t*>PyBytes_AS_STRING(raw),
                          PyBytes_GET_SIZE(raw), window, wsize, max_version,
                          entries, md, replies)):
            return i, st.seq, st.last_ts
    return n, st.seq, st.last_ts


# RESP2, as Redis answers XREAD: '*' arrays, '$' bulk strings, '+' '-' ':'
# lines; a length of -1 is nil.

cdef inline Py_ssize_t _line(const uint8_t* b, Py_ssize_t at,
                             Py_ssize_t end) noexcept nogil:
    # the offset after the "\r\n" that ends the line at `at`, or -1
    cdef Py_ssize_t i
    for i in range(at, end - 1):
        if b[i] == 13 and b[i + 1] == 10:
            return i + 2
    return -1


cdef inline bint _int_at(const uint8_t* b, Py_ssize_t at, Py_ssize_t stop,
                         int64_t* out) noexcept nogil:
    # the integer in b[at:stop - 2] ("-1" or up to 18 digits)
    cdef int64_t v = 0
    cdef bint neg = False
    cdef Py_ssize_t i
    stop -= 2
    if at < stop and b[at] == 45:
        neg = True
        at += 1
    if at >= stop or stop - at > 18:
        return False
    for i in range(at, stop):
        if b[i] < 48 or b[i] > 57:
            return False
        v = v * 10 + (b[i] - 48)
    out[0] = -v if neg else v
    return True


def resp_scan(const uint8_t[::1] buf, Py_ssize_t at, Py_ssize_t pending):
    """Scan RESP2 elements of ``buf`` from ``at`` while ``pending`` remain.

    Returns ``(at, pending)`` after the last whole element found: ``pending``
    is 0 when the reply that started with ``pending`` 1 is complete (it ends
    at ``at``); call again with more data from where it stopped.  Raises
    ``ValueError`` on bytes that are not RESP2.
    """
    cdef Py_ssize_t end = buf.shape[0], nxt
    cdef const uint8_t* b
    cdef int64_t n
    if end == 0:
        return at, pending
    b = &buf[0]
    while pending > 0 and at < end:
        nxt = _line(b, at, end)
        if nxt < 0:
            break
        if b[at] == 42:  # '*'
            if not _int_at(b, at + 1, nxt, &n) or n < -1:
                raise ValueError("RESP: bad array length")
            pending += (n if n > 0 else 0) - 1
        elif b[at] == 36:  # '$'
            if not _int_at(b, at + 1, nxt, &n) or n < -1:
                raise ValueError("RESP: bad bulk length")
            if n >= 0:
                if nxt + n + 2 > end:
                    break
                if b[nxt + n] != 13 or b[nxt + n + 1] != 10:
                    raise ValueError("RESP: bulk string not ended")
                nxt += n + 2
            pending -= 1
        elif b[at] == 43 or b[at] == 45 or b[at] == 58:  # '+' '-' ':'
            pending -= 1
        else:
            raise ValueError(f"RESP: unknown type byte {b[at]}")
        at = nxt
    return at, pending


cdef inline Py_ssize_t _bulk(const uint8_t* b, Py_ssize_t at, Py_ssize_t end,
                             Py_ssize_t* start) noexcept nogil:
    # the bulk string at `at` (not nil): its bytes at start[0], returns the
    # offset after it, or -1 if `at` does not hold one
    cdef Py_ssize_t nxt
    cdef int64_t n
    if at >= end or b[at] != 36:
        return -1
    nxt = _line(b, at, end)
    if nxt < 0 or not _int_at(b, at + 1, nxt, &n) or n < 0 or nxt + n + 2 > end:
        return -1
    start[0] = nxt
    return nxt + n + 2


cdef inline bint _is1(const uint8_t* b, Py_ssize_t s, Py_ssize_t e,
                      uint8_t c) noexcept nogil:
    # b[s:e] is the one byte c (a field name of the gateways' layout)
    return e - s == 1 and b[s] == c


def xread_head(const uint8_t[::1] buf):
    """``(offset of the first entry, number of entries)`` of a whole
    ``XREAD`` reply of one stream, or None when it is anything else (nil, an
    error, other shapes: parse those with hiredis)."""
    cdef Py_ssize_t end = buf.shape[0], at, s, nxt
    cdef const uint8_t* b
    cdef int64_t n
    if end < 8:
        return None
    b = &buf[0]
    if memcmp(b, b"*1\r\n*2\r\n", 8) != 0:
        return None
    at = _bulk(b, 8, end, &s)  # the stream's key
    if at < 0 or at >= end or b[at] != 42:
        return None
    nxt = _line(b, at, end)
    if nxt < 0 or not _int_at(b, at + 1, nxt, &n) or n < 1:
        return None
    return nxt, n


def apply_stream_raw(Core engine, const uint8_t[::1] buf, Py_ssize_t at,
                     Py_ssize_t count, uint64_t seq, int64_t last_ts, window,
                     Py_ssize_t wsize, int max_version, bytearray entries,
                     dict md, dict replies):
    """:func:`apply_stream` on the raw bytes of an ``XREAD`` reply.

    ``buf[at:]`` holds ``count`` stream entries (the rest of a whole reply,
    :func:`xread_head`); each is applied as :func:`apply_stream` applies the
    same entry parsed by hiredis.

    Returns
    -------
    tuple
        ``(at, count, next seq, last ts, last id)``: ``at`` the offset of the
        first entry not applied (``count`` entries are left from there; 0:
        all done), which changed nothing and is for the Python path (parse it
        with hiredis: it ends at ``resp_scan(buf, at, 1)``); ``last id`` the
        bytes of the last entry's id applied here (None: none).
    """
    cdef Py_ssize_t end = buf.shape[0], nxt, s_sid, e_sid, lsid = -1, nlsid = 0
    cdef Py_ssize_t s[10]
    cdef Py_ssize_t e[10]
    cdef Py_ssize_t k
    cdef const uint8_t* b
    cdef uint64_t ms, q
    cdef _Run st
    cdef object key, g = b"", last = None
    st.seq, st.last_ts = seq, last_ts
    if engine.busy or engine.oom or end == 0:
        return at, count, seq, last_ts, None
    b = &buf[0]
    while count > 0:
        # *2\r\n $<id> *10\r\n then ten bulk strings
        if end - at < 4 or memcmp(b + at, b"*2\r\n", 4) != 0:
            break
        nxt = _bulk(b, at + 4, end, &s_sid)
        if nxt < 0:
            break
        e_sid = nxt - 2
        if end - nxt < 5 or memcmp(b + nxt, b"*10\r\n", 5) != 0:
            break
        nxt += 5
        for k in range(10):
            nxt = _bulk(b, nxt, end, &s[k])
            if nxt < 0:
                break
            e[k] = nxt - 2
        if nxt < 0:
            break
        if not (_is1(b, s[0], e[0], 118) and _is1(b, s[1], e[1], 49)
                and _is1(b, s[2], e[2], 107) and _is1(b, s[4], e[4], 99)
                and _is1(b, s[6], e[6], 103) and _is1(b, s[8], e[8], 113)):
            break
        if (e[3] - s[3] > MAX_KEY or e[5] - s[5] < 2
                or not _digits(<const char*>(b + s[9]), e[9] - s[9], &q)
                or not _ms(<const char*>(b + s_sid), e_sid - s_sid, &ms)):
            break
        key = PyBytes_FromStringAndSize(<const char*>(b + s[3]), e[3] - s[3])
        if PyBytes_GET_SIZE(g) != e[7] - s[7] or memcmp(
                PyBytes_AS_STRING(g), b + s[7], e[7] - s[7]) != 0:
            g = PyBytes_FromStringAndSize(<const char*>(b + s[7]), e[7] - s[7])
        if _entry(engine, &st, ms, key, g, q, b + s[5], e[5] - s[5], window,
                  wsize, max_version, entries, md, replies):
            break
        lsid, nlsid = s_sid, e_sid - s_sid
        at = nxt
        count -= 1
    if lsid >= 0:
        last = PyBytes_FromStringAndSize(<const char*>(b + lsid), nlsid)
    return at, count, st.seq, st.last_ts, last


cdef int _by_market(dict md, const Event* ev, Py_ssize_t n) except -1:
    # each event onto md[its market] (a new bytearray the first time), in
    # order; events of no market (-1) are left out (redis._by_market)
    cdef Py_ssize_t j
    cdef int32_t mid
    cdef object k
    cdef PyObject* b
    cdef bytearray ba
    for j in range(n):
        mid = ev[j].market
        if mid < 0:
            continue
        k = mid
        b = PyDict_GetItem(md, k)
        if b == NULL:
            ba = bytearray()
            md[k] = ba
        else:
            ba = <bytearray>b
        memcpy(_grow(ba, sizeof(Event)), &ev[j], sizeof(Event))
    return 0


cdef int _reply_raw(dict replies, object g, uint64_t q, int status, uint64_t seq,
                    int64_t result, const char* payload,
                    Py_ssize_t n) except -1:
    # one pack_replies record onto replies[g] (a new bytearray the first time)
    cdef PyObject* b = PyDict_GetItem(replies, g)
    cdef bytearray ba
    cdef char* w
    if b == NULL:
        ba = bytearray()
        replies[g] = ba
    else:
        ba = <bytearray>b
    w = _grow(ba, REPLY_HEAD + n)
    memcpy(w, &q, 8)
    w[8] = <char>status
    memcpy(w + 9, &seq, 8)
    memcpy(w + 17, &result, 8)
    _st32(<uint8_t*>w + 25, <uint32_t>n)
    if n:
        memcpy(w + REPLY_HEAD, payload, n)
    return 0


cdef int _reply(dict replies, object g, uint64_t q, int status, object seq,
                object result, bytes payload) except -1:
    return _reply_raw(replies, g, q, status, seq, result,
                      PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
