"""Whole numpy arrays of commands through the core in one call.

``import probo_engine.batch`` imports numpy (``pip install probo-engine[sim]``
or plain ``numpy``); ``import probo_engine`` never does.

>>> import numpy as np
>>> from probo_engine import Core
>>> from probo_engine.batch import Batch, run
>>> core = Core(); m = core.create_market()
>>> a, b = core.create_user(), core.create_user()
>>> cmds = Batch(4)
>>> cmds.deposit(0, a, 10_000); cmds.deposit(1, b, 10_000)
>>> cmds.place(2, a, m, 0, 0, 600, 10); cmds.place(3, b, m, 0, 1, 400, 10)
>>> out = run(core, cmds.array)
>>> out.results.tolist(), out.filled.tolist()
([0, 0, 1, 2], [0, 0, 0, 10])
>>> int((out.events["kind"] == 3).sum())  # one FILL event: a mint
1

Semantics are exactly those of the per-call methods (the tests run the same
random streams both ways and compare results, events and state).  What is
copied and what is not:

* ``results`` and ``filled`` are numpy arrays the core writes into directly
  (pass your own with ``out=`` to reuse them: no allocation per batch);
* ``events`` is a copy of the engine's event buffer (it is reused by the next
  command, so a view would not stay valid), into a fresh array or into a
  buffer you pass in ``out`` and reuse;
* ``fills`` (with ``fills=buf``) is a view of the caller's int64 buffer that
  the core wrote each fill's ``(maker_oid, yes_price, qty)`` into;
* ``depth`` fills a caller-owned ``(2, n, 3)`` array in place.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from probo_engine._book import COMMAND_FIELDS, CONSTANTS, EVENT_LAYOUT, EVENT_SIZE, Core
from probo_engine._optional import require
from probo_engine.errors import InvalidArgumentError

np = require("numpy", extra="sim", feature="probo_engine.batch")

__all__ = [
    "COMMAND_DTYPE",
    "EVENT_DTYPE",
    "SUB_BATCH",
    "Batch",
    "BatchResult",
    "depth",
    "events_frame",
    "run",
]

#: One command record: 16 little-endian int64 fields (``CmdRec`` in _book.pxd).
COMMAND_DTYPE = np.dtype([(name, "<i8") for name in COMMAND_FIELDS])
#: One event record: 96 bytes, the 17 fields of ``EVENT_FIELDS`` at the offsets
#: and widths of the C ``Event`` struct (``EVENT_LAYOUT``): int64 for sequence
#: numbers, times, ids, quantities and money; int32 for market, user and
#: prices; int16 for kind, side, outcome and code.
EVENT_DTYPE = np.dtype(
    {
        "names": [name for name, _, _ in EVENT_LAYOUT],
        "formats": [fmt for _, fmt, _ in EVENT_LAYOUT],
        "offsets": [offset for _, _, offset in EVENT_LAYOUT],
        "itemsize": EVENT_SIZE,
    }
)

PLACE = CONSTANTS["CMD_PLACE"]
PLACE_MARKET = CONSTANTS["CMD_PLACE_MARKET"]
CANCEL = CONSTANTS["CMD_CANCEL"]
AMEND = CONSTANTS["CMD_AMEND"]
CANCEL_ALL = CONSTANTS["CMD_CANCEL_ALL"]
DEPOSIT = CONSTANTS["CMD_DEPOSIT"]
WITHDRAW = CONSTANTS["CMD_WITHDRAW"]
MINT = CONSTANTS["CMD_MINT"]
MERGE = CONSTANTS["CMD_MERGE"]
HALT = CONSTANTS["CMD_HALT"]
RESUME = CONSTANTS["CMD_RESUME"]
CLOSE = CONSTANTS["CMD_CLOSE"]
RESOLVE = CONSTANTS["CMD_RESOLVE"]
EXPIRE = CONSTANTS["CMD_EXPIRE"]
CANCEL_CLIENT = CONSTANTS["CMD_CANCEL_CLIENT"]


#: Commands per ``run_batch`` call inside :func:`run`: small enough that the
#: events of one slice (about 3 per command, ``EVENT_SIZE`` bytes each) stay in
#: the CPU caches, large enough that the Python loop around it is negligible.
SUB_BATCH = 4096


class BatchResult(NamedTuple):
    results: Any  #: int64 per command: what the per-call method returns
    filled: Any  #: int64 per command: quantity the incoming order filled
    events: Any  #: EVENT_DTYPE array of every event: a copy, or a view of out[2]
    #: int64 ``(k, 3)`` array of every fill's ``(maker_oid, yes_price, qty)``
    #: (``fills=``), a view of the buffer passed; else None
    fills: Any = None


def run(
    core: Core,
    commands: Any,
    *,
    events: bool = True,
    out: tuple[Any, ...] | None = None,
    fills: Any = None,
) -> BatchResult:
    """Run a ``COMMAND_DTYPE`` array through ``core`` with the GIL released.

    ``events=False`` skips storing events (sequence numbers still advance),
    for simulations that only need results.  Raises ``ValueError`` naming the
    first malformed record before running any.

    ``out=(results, filled)`` reuses two int64 arrays of at least
    ``len(commands)``; ``out=(results, filled, events)`` also reuses an
    ``EVENT_DTYPE`` array for the events (if the batch made more events than
    it holds, they come back in a fresh array instead): the returned arrays
    are then views of ``out`` that the next call with it overwrites.  Without
    ``out`` everything returned is freshly allocated.

    ``fills=buf`` (a writable int64 array) has the core write every fill of
    the batch, in order, into ``buf`` as ``(maker_oid, yes_price, qty)``
    triples (as :meth:`Core.fills_into` does per command), and returns them
    as ``result.fills``, a ``(k, 3)`` view of ``buf``: no filtering of the
    event array, no allocation.  If ``buf`` is too short the fills come back
    in a fresh array instead.  With ``events=False`` the events are still
    recorded inside the core (the fills are read from them) but not copied
    out.

    The records go to the core in slices of ``SUB_BATCH`` commands, and each
    slice's events are copied out before the next one runs, so the core's
    event buffer stays in the CPU caches whatever the length.  A very large
    call still pays for writing its whole event array to memory (65,536
    commands: ~17 MiB), so 1,000-16,000 commands per call is fastest
    (BENCHMARKS.md, "chunk size").  The whole array is checked
    first, so a malformed record still stops the call before anything runs.
    Afterwards ``core.last_events()`` holds only the last slice's events; the
    returned ``events`` has them all.
    """
    cmds = np.ascontiguousarray(commands, dtype=COMMAND_DTYPE)
    n = len(cmds)
    if out is None:
        results = np.empty(n, np.int64)
        filled = np.empty(n, np.int64)
    else:
        results, filled = out[0], out[1]
        if len(results) < n or len(filled) < n:
            raise InvalidArgumentError(
                "results/filled arrays are shorter than the batch"
            )
    buf: Any = out[2] if out is not None and len(out) > 2 and events else None
    if n > SUB_BATCH:
        core.check_batch(cmds)
    record = events or fills is not None
    k = 0  # events so far
    spill: list[bytes] | None = None  # used once ``buf`` is missing or full
    if events and buf is None:
        spill = []
    kf = 0  # int64s of fills so far
    fspill: list[Any] | None = None  # used once ``fills`` is full
    if fills is not None and not (
        isinstance(fills, np.ndarray)
        and fills.dtype == np.int64
        and fills.ndim == 1
        and fills.flags.c_contiguous
        and fills.flags.writeable
    ):
        raise InvalidArgumentError("fills must be a writable 1-d int64 numpy array")
    # Held across the slices: a call from another thread would be refused
    # while a slice runs anyway, and between slices it would slip its events
    # into ours; it gets ConcurrentUseError instead (docs/semantics.md "Threads").
    token = core._hold()
    try:
        for i in range(0, max(n, 1), SUB_BATCH):
            j = min(i + SUB_BATCH, n)
            try:
                core.run_batch(cmds[i:j], results[i:j], filled[i:j], record)
            except MemoryError as exc:
                raise MemoryError(
                    f"out of memory in the batch slice at command {i}: {exc}"
                ) from None
            if fills is not None:
                if fspill is None:
                    try:
                        kf += 3 * core.fills_into(fills[kf:])
                    except InvalidArgumentError:
                        fspill = [fills[:kf].copy()]
                if fspill is not None:
                    fspill.append(np.array(core.last_fills(), np.int64))
            if not events:
                continue
            m = core.n_last_events
            if spill is None and k + m <= len(buf):
                core.events_into(buf[k : k + m].view(np.uint8))
            else:
                if spill is None:
                    spill = [buf[:k].tobytes()]
                spill.append(core.events_bytes())
            k += m
    finally:
        core._unhold(token)
    if not events:
        ev = None
    elif spill is None:
        ev = buf[:k]
    else:
        ev = np.frombuffer(b"".join(spill), EVENT_DTYPE)
    if fills is None:
        fl = None
    elif fspill is None:
        fl = fills[:kf].reshape(-1, 3)
    else:
        fl = np.concatenate(fspill).reshape(-1, 3)
    return BatchResult(results[:n], filled[:n], ev, fl)


def depth(core: Core, mid: int, levels: int = 10, out: Any = None) -> Any:
    """Top ``levels`` of both sides as an int64 array ``[side, level, field]``.

    side 0 = bids, 1 = asks (YES terms); field 0 = price, 1 = qty, 2 = orders;
    empty levels are 0.  Pass ``out`` to reuse one array per sample.
    """
    if out is None:
        out = np.zeros((2, levels, 3), np.int64)
    core.depth_into(mid, out)
    return out


class Batch:
    """Builds a ``COMMAND_DTYPE`` array row by row (``Batch(n).array``).

    Each method writes row ``i``; unspecified fields are 0.  ``stp`` is the
    self-trade mode of orders written without one (``place``/``place_market``
    with ``stp=None``): ``SelfTrade.NONE`` (3) for a simulation in which one
    participant trades both sides.  For large streams, fill the columns of
    ``np.zeros(n, COMMAND_DTYPE)`` directly.

    An order given a ``client_id`` can be canceled later in the same batch by
    it (:meth:`cancel_client`), without knowing the engine's order id: a
    refused order earlier in the batch then cannot shift the cancel onto
    another order.
    """

    def __init__(self, n: int, *, stp: int = 0) -> None:
        self.array = np.zeros(n, COMMAND_DTYPE)
        self.stp = stp

    def _row(self, i: int, kind: int, **fields: int) -> None:
        row = self.array[i]
        row["kind"] = kind
        for name, value in fields.items():
            row[name] = value

    def place(
        self,
        i: int,
        uid: int,
        mid: int,
        side: int,
        outcome: int,
        price: int,
        qty: int,
        tif: int = 0,
        stp: int | None = None,
        ts: int = 0,
        post_only: bool = False,
        client_id: int = 0,
        expire_ts: int = 0,
    ) -> None:
        self._row(
            i,
            PLACE,
            uid=uid,
            mid=mid,
            side=side,
            outcome=outcome,
            price=price,
            qty=qty,
            tif=tif,
            stp=self.stp if stp is None else stp,
            ts=ts,
            post_only=int(post_only),
            client_id=client_id,
            expire_ts=expire_ts,
        )

    def place_market(
        self,
        i: int,
        uid: int,
        mid: int,
        side: int,
        outcome: int,
        qty: int,
        max_cost: int = 0,
        fok: bool = False,
        stp: int | None = None,
        ts: int = 0,
        client_id: int = 0,
    ) -> None:
        self._row(
            i,
            PLACE_MARKET,
            uid=uid,
            mid=mid,
            side=side,
            outcome=outcome,
            qty=qty,
            max_cost=max_cost,
            tif=2 if fok else 1,
            stp=self.stp if stp is None else stp,
            ts=ts,
            client_id=client_id,
        )

    def cancel(self, i: int, uid: int, oid: int, ts: int = 0) -> None:
        self._row(i, CANCEL, uid=uid, oid=oid, ts=ts)

    def cancel_client(self, i: int, uid: int, client_id: int, ts: int = 0) -> None:
        """Cancel ``uid``'s live order with ``client_id`` (``Core.cancel_client``)."""
        self._row(i, CANCEL_CLIENT, uid=uid, client_id=client_id, ts=ts)

    def amend(
        self, i: int, uid: int, oid: int, price: int, qty: int, ts: int = 0
    ) -> None:
        self._row(i, AMEND, uid=uid, oid=oid, price=price, qty=qty, ts=ts)

    def cancel_all(self, i: int, uid: int, mid: int = -1, ts: int = 0) -> None:
        self._row(i, CANCEL_ALL, uid=uid, mid=mid, ts=ts)

    def deposit(self, i: int, uid: int, amount: int, ts: int = 0) -> None:
        self._row(i, DEPOSIT, uid=uid, qty=amount, ts=ts)

    def withdraw(self, i: int, uid: int, amount: int, ts: int = 0) -> None:
        self._row(i, WITHDRAW, uid=uid, qty=amount, ts=ts)

    def mint(self, i: int, uid: int, mid: int, qty: int, ts: int = 0) -> None:
        self._row(i, MINT, uid=uid, mid=mid, qty=qty, ts=ts)

    def merge(self, i: int, uid: int, mid: int, qty: int, ts: int = 0) -> None:
        self._row(i, MERGE, uid=uid, mid=mid, qty=qty, ts=ts)

    def halt(self, i: int, mid: int, ts: int = 0) -> None:
        self._row(i, HALT, mid=mid, ts=ts)

    def resume(self, i: int, mid: int, ts: int = 0) -> None:
        self._row(i, RESUME, mid=mid, ts=ts)

    def close(self, i: int, mid: int, ts: int = 0) -> None:
        self._row(i, CLOSE, mid=mid, ts=ts)

    def resolve(self, i: int, mid: int, yes_value: int, ts: int = 0) -> None:
        self._row(i, RESOLVE, mid=mid, price=yes_value, ts=ts)

    def expire(self, i: int, ts: int) -> None:
        self._row(i, EXPIRE, ts=ts)


def events_frame(events: Any) -> Any:
    """The engine's events as a pandas DataFrame (needs pandas).

    ``events`` is an ``EVENT_DTYPE`` array (``run(...).events``,
    ``np.frombuffer(core.events_bytes(), EVENT_DTYPE)``) or a list of event
    tuples or :class:`~probo_engine.Event` records (``core.last_events()``,
    ``Engine.events()``).  One row per event, the ``EVENT_FIELDS`` as int64
    columns, plus ``kind_name``: the :class:`~probo_engine.EventKind` name as
    a categorical (which fields each kind uses: docs/semantics.md, "Events").

    >>> from probo_engine import Core
    >>> core = Core(); core.create_market(); core.create_user()
    0
    0
    >>> events_frame(core.last_events()).shape[0], core.deposit(0, 5)
    (0, 0)
    >>> events_frame(core.last_events())[["kind_name", "qty"]].to_dict("records")
    [{'kind_name': 'CASH', 'qty': 5}]
    """
    from probo_engine._book import EVENT_FIELDS
    from probo_engine.types import EventKind

    pd = require("pandas", extra="sim", feature="probo_engine.batch.events_frame")
    if isinstance(events, np.ndarray) and events.dtype.names:
        data = {name: np.asarray(events[name], dtype=np.int64) for name in EVENT_FIELDS}
    else:
        rows = np.asarray([tuple(e) for e in events], dtype=np.int64).reshape(
            -1, len(EVENT_FIELDS)
        )
        data = {name: rows[:, i] for i, name in enumerate(EVENT_FIELDS)}
    df = pd.DataFrame(data)
    names = [k.name for k in EventKind]
    df["kind_name"] = pd.Categorical.from_codes(
        df["kind"].to_numpy() - 1 if len(df) else [], categories=names
    )
    return df
