# Journal replay in C (journal.py docstring: record framing; commands.py:
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
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from probo_engine._book cimport crc32_update
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
)

from probo_engine.errors import InvalidArgumentError, JournalCorruptError

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
