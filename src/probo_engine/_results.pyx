# cython: language_level=3
"""A command's events as a per-call caller reads them.

The bodies of :meth:`Core.last_events`, :meth:`Core.last_fills`,
:meth:`Core.place_limit_fills`' fills and ``Engine.submit``'s
:class:`~probo_engine.types.OrderResult`: each reads the events of the most
recent command (``Core.events``, ``Core.n_events``) and builds only what the
caller asked for.  The ``OrderResult`` and ``Fill`` records are made in C
(``_c/records.h``): the NamedTuple classes' own allocation and their items set
directly, with no ``tuple.__new__`` call per record.
"""

cimport cython
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int64_t

from probo_engine.errors import InvalidArgumentError
from probo_engine.types import Fill, FillKind, OrderResult, RejectReason

from probo_engine._book cimport Core
from probo_engine._clib cimport (
    probo_fill_rec,
    probo_member_fields,
    probo_record_type_ok,
    probo_result_rec,
)
from probo_engine._types cimport EV_CANCELED, EV_FILL, Event

# Prebuilt enums (no enum call per fill) and the record classes as C globals
# (no module-dict lookup per record).
cdef tuple _FILL_KIND = tuple(FillKind)
cdef dict _REJECT = {int(v): v for v in RejectReason}
cdef object _REJECT_OK = RejectReason.OK
cdef object _FILL_T = Fill, _RESULT_T = OrderResult

if not (probo_record_type_ok(Fill, 8) and probo_record_type_ok(OrderResult, 6)):
    raise ImportError("types.Fill/OrderResult must be plain NamedTuples "
                      "(tuple layout, 8 and 6 fields): _c/records.h builds them")
# Their fields as member descriptors (attribute reads the interpreter caches).
probo_member_fields(Fill)
probo_member_fields(OrderResult)


cdef list event_tuples(Core core):
    # Every event of the last command as a 17-int tuple (EVENT_FIELDS order).
    cdef int64_t i
    cdef Event* e
    out = []
    for i in range(core.n_events):
        e = &core.events[i]
        out.append((e.seq, e.kind, e.ts, e.market, e.user, e.oid, e.side,
                    e.outcome, e.price, e.qty, e.code, e.user2, e.oid2,
                    e.price2, e.aux, e.fee, e.fee2))
    return out


cdef list fills_flat(Core core):
    # [maker_oid, yes_price, qty, ...] of the last command's fills.
    cdef int64_t i
    cdef Event* e
    out = []
    for i in range(core.n_events):
        e = &core.events[i]
        if e.kind == EV_FILL:
            out.append(e.oid2)
            out.append(e.price)
            out.append(e.qty)
    return out


cdef tuple fill_triples(Core core):
    # The last command's fills as (maker_oid, yes_price, qty) tuples, in
    # execution order (the shared () when none).
    cdef int64_t i, n = 0, k = 0
    cdef Event* e
    for i in range(core.n_events):
        n += core.events[i].kind == EV_FILL
    if n == 0:
        return ()
    out = PyTuple_New(n)
    for i in range(core.n_events):
        e = &core.events[i]
        if e.kind == EV_FILL:
            t = (e.oid2, e.price, e.qty)
            Py_INCREF(t)
            PyTuple_SET_ITEM(out, k, t)
            k += 1
    return out


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int64_t fills_into(Core core, int64_t[::1] out) except -1:
    # The last command's fills into out as (maker_oid, yes_price, qty)
    # triples; nothing written if out is too short.
    cdef int64_t i, k = 0, n = 0
    cdef Event* e
    for i in range(core.n_events):
        n += core.events[i].kind == EV_FILL
    if 3 * n > out.shape[0]:
        raise InvalidArgumentError(
            f"out holds {out.shape[0]} int64s; these {n} fills need {3 * n}")
    for i in range(core.n_events):
        e = &core.events[i]
        if e.kind == EV_FILL:
            out[k] = e.oid2
            out[k + 1] = e.price
            out[k + 2] = e.qty
            k += 3
    return n


@cython.boundscheck(False)
@cython.wraparound(False)
cdef object order_result(Core core, int64_t r, int64_t qty):
    # The OrderResult of place result r (an order id, or minus a reject code)
    # for an order of qty, from its command's events: one pass to count, one
    # to build; the fills tuple at its final size (the shared () when none).
    cdef int64_t i, n = 0, k = 0, filled = 0, canceled = 0
    cdef Event* e
    cdef tuple fills
    if r < 0:
        return probo_result_rec(_RESULT_T, _REJECT[-r], 0, 0, 0, 0, ())
    for i in range(core.n_events):
        e = &core.events[i]
        if e.oid == r:
            if e.kind == EV_FILL:
                n += 1
                filled += e.qty
            elif e.kind == EV_CANCELED:
                canceled += e.qty
    if n == 0:
        fills = ()
    else:
        fills = PyTuple_New(n)
        for i in range(core.n_events):
            e = &core.events[i]
            if e.kind == EV_FILL and e.oid == r:
                rec = probo_fill_rec(_FILL_T, e.oid2, e.user2, e.price2, e.price, e.qty,
                                     _FILL_KIND[e.code], e.fee, e.fee2)
                Py_INCREF(rec)
                PyTuple_SET_ITEM(fills, k, rec)
                k += 1
    return probo_result_rec(_RESULT_T, _REJECT_OK, r, filled,
                            qty - filled - canceled, canceled, fills)
