# cython: language_level=3
"""GTD expiry: the cold half of the expiry heap (the hot half is _book's).

Core keeps the pending GTD expiries in a binary min-heap by ``(ts, oid)``
(``Core.heap``); ``Core._heap_push`` (placing a GTD order) stays in _book.
Here: ``expire`` cancels the orders whose time has come (called by every
command whose ``ts`` reaches the top of the heap, and by ``Core.expire``),
``heap_compact`` drops stale entries, and ``heap_sift_down`` restores the heap
(also used by restore, _snapshot.pyx).  Entries of orders that are gone
(filled, canceled or amended to another expiry) are stale: dropped when they
surface.
"""

from libc.stdint cimport int64_t

from probo_engine._args cimport _int
from probo_engine._book cimport Core
from probo_engine._intmap cimport im_get
from probo_engine._types cimport *


cdef void heap_sift_down(Core core, int64_t i) noexcept nogil:
    cdef int64_t n = core.n_heap, c
    cdef Expiry item = core.heap[i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and (core.heap[c + 1].ts < core.heap[c].ts or (
                core.heap[c + 1].ts == core.heap[c].ts
                and core.heap[c + 1].oid < core.heap[c].oid)):
            c += 1
        if (item.ts < core.heap[c].ts or
                (item.ts == core.heap[c].ts and item.oid < core.heap[c].oid)):
            break
        core.heap[i] = core.heap[c]
        i = c
    core.heap[i] = item


cdef int64_t expire(Core core, int64_t ts) noexcept nogil:
    # Cancel due GTD orders in (expire_ts, oid) order; entries whose order
    # is gone are stale and dropped.
    cdef int64_t n = 0
    cdef Expiry top
    cdef slot_t s
    while core.n_heap > 0 and core.heap[0].ts <= ts:
        top = core.heap[0]
        core.n_heap -= 1
        if core.n_heap > 0:
            core.heap[0] = core.heap[core.n_heap]
            heap_sift_down(core, 0)
        s = im_get(&core.oid_map, top.oid)
        if s >= 0 and core.orders[s].tif == TIF_GTD and \
                core.orders[s].expire_ts == top.ts:
            core._cancel_slot(s, CANCEL_EXPIRED, ts)
            n += 1
    if n:
        core._emit_levels(ts)
    return n


cdef void heap_compact(Core core) noexcept nogil:
    # Drop stale entries once they outnumber the live GTD orders, so the
    # heap stays proportional to what rests (flat memory).
    cdef int64_t i, k = 0
    cdef slot_t s
    for i in range(core.n_heap):
        s = im_get(&core.oid_map, core.heap[i].oid)
        if s >= 0 and core.orders[s].tif == TIF_GTD and \
                core.orders[s].expire_ts == core.heap[i].ts:
            core.heap[k] = core.heap[i]
            k += 1
    core.n_heap = k
    i = k // 2 - 1
    while i >= 0:
        heap_sift_down(core, i)
        i -= 1


cdef object expire_cmd(Core core, ts):
    # Core.expire
    cdef int64_t t = _int(ts, "ts")
    cdef int64_t n = 0
    core._guard()
    if core.oom:
        raise MemoryError("the core lost an event to a failed allocation")
    core.n_events = 0
    core.filled = 0
    if t == 0:
        t = core.clock_ts
    if t < core.clock_ts:
        core._reject(CMD_EXPIRE, REJ_STALE_TIME, 0, 0, 0, 0, 0, 0, 0, t)
        n = -REJ_STALE_TIME
    else:
        core.clock_ts = t
        if core.n_heap > 0 and core.heap[0].ts <= t:
            n = expire(core, t)
    core._end(0)
    return n
