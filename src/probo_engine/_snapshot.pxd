# cython: language_level=3
# The snapshot format's constants (docs/snapshot.md): header, users, markets,
# positions, orders, then a CRC32 of everything before it.  Little-endian,
# fixed-size records, canonical order, so equal states give equal bytes.
# Only constants here: cimporting them does not import the _snapshot module
# (so _book can use them without an import cycle); the codec is _snapshot.pyx.

cdef extern from *:
    # the first 8 bytes of every core snapshot
    const char* SNAPSHOT_MAGIC_C '"PROBOSNP"'
    # journal snapshot files (probo_engine.journal): b"PROBOJSN", and before
    # that b"PROBOSNP" followed by u16 version 1 and u16 header size 40
    const char* JOURNAL_SNAPSHOT_MAGIC_C '"PROBOJSN"'

cdef enum:
    SNAP_VERSION = 2       # 2 added the clock; version 1 still loads (clock 0)
    SNAP_HEADER = 136      # bytes: magic, version, endian, record sizes, scalars
    SNAP_HEADER_V1 = 128   # version 1: the same without the clock
    SNAP_USER = 16         # avail, locked
    SNAP_MARKET = 56       # grid, fees, status, prices, min_qty, outstanding
    SNAP_POSITION = 40     # uid, mid, YES avail/locked, NO avail/locked
    SNAP_ORDER = 48        # id, qty, expiry, owner, market, client id, price, flags
    SNAP_WAYS = 16         # level FIFOs the snapshot walks at once
    LOAD_AHEAD = 16        # records ahead whose hash bucket / slot restore prefetches
    JOURNAL_SNAP_V1 = 0x00280001  # old journal file: u16 version 1, u16 header 40
