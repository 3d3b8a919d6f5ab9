"""Peak memory of one implementation over one stream, in a fresh subprocess.

``tracemalloc`` only sees Python's allocator, not the C ``malloc`` of the
Cython core or the C++ of the competitors, so this measures the kernel's view
of the process instead: ``VmRSS`` / ``VmHWM`` from ``/proc/self/status``.

In a child process per implementation (so nothing of one run stays in the
next): import everything, load the stream (saved by the parent as an ``.npy``
file) and, for the batch rows, build its records -- the input is not counted --
then ``gc.collect()``, read ``VmRSS`` (``rss0``), reset the high-water mark
(``echo 5 > /proc/self/clear_refs``, Linux >= 4.0; if that is refused the
absolute ``VmHWM`` is used and the row says so), run the implementation's timed
function once over the whole stream (its setup included: users, deposits and
minting for the Core), and read ``VmHWM`` (``peak``) and ``VmRSS`` (``end``).

Reported: **peak - rss0** = the most memory the implementation needed on top
of the loaded stream (book, orders, id tables, event buffers, fills kept by the
driver), and **end - rss0** = what it still held afterwards.  Both in MiB, at
page granularity, including allocator slack and fragmentation.  The per-call drivers
keep an id table of one new int per place (~40 bytes each) in every row.
The ``driver`` row measures that alone (a loop that
only fills the id table), so it can be read off the others.
Liquibook's driver also keeps every ``SimpleOrder`` object (it needs them to
cancel), and its and cython-orderbook's fills lists are kept for the whole run
(they are the per-fill report), so those rows grow with the stream.

Usage (normally called by ``run_all.py``)::

    python benchmarks/bench_memory.py STREAM.npy WARM ROW
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

N_USERS = 100

#: row name -> how to run it in the child
ROWS = (
    "driver",
    "pybook",
    "core",
    "core+events",
    "batch",
    "batch-64k",
    "batch-noevents",
    "liquibook",
    "liquibook-nolistener",
    "limit-order-book",
    "cython-orderbook",
)


def _status() -> dict[str, int]:
    with open("/proc/self/status") as f:
        text = f.read()
    out = {}
    for key in ("VmRSS", "VmHWM"):
        m = re.search(key + r":\s+(\d+) kB", text)
        out[key] = int(m.group(1)) * 1024 if m else 0
    return out


def _trim() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _driver(stream: list, n_places: int) -> None:
    """What every per-call driver does besides calling the book: fill an id
    table of one new int per place (the "driver" row)."""
    ids = [0] * n_places
    next_oid = 1
    for op, _u, _s, _o, _p, _q, _b, _y, ref in stream:
        if op == 1:
            ids[ref] = next_oid
            next_oid += 1


def child(path: str, warm: int, row: str) -> dict[str, object]:
    import numpy as np

    import bench_batch as bb
    import bench_percall as bp
    import competitors as cp
    import stream as st
    from probo_engine._book import Core

    # Column lists -> tuples: the big temporaries are plain malloc blocks that
    # go back to the OS when freed (a row-wise ``tolist()`` would leave ~100 MB
    # of freed small objects in pymalloc arenas, which the run would then
    # reuse without the RSS moving, hiding its Python allocations).
    arr = np.load(path)
    stream = list(zip(*(col.tolist() for col in arr.T), strict=True))
    del arr
    _trim()
    n_places = st.n_places(stream)
    recs = None
    if row.startswith("batch"):
        recs = bb.records_for(stream, Core, N_USERS)
    gc.collect()
    _trim()
    rss0 = _status()["VmRSS"]
    reset = _reset_hwm()
    if row == "driver":
        _driver(stream, n_places)
    elif row == "pybook":
        bp.time_pybook(stream, n_places, warm)
    elif row == "core":
        bp.time_core(stream, n_places, Core, N_USERS, warm)
    elif row == "core+events":
        bp.time_core_events(stream, n_places, Core, N_USERS, warm)
    elif row.startswith("batch"):
        kw: dict[str, object] = {"records": recs, "chunk": bb.CHUNK}
        if row == "batch-64k":
            kw["chunk"] = 65_536
        if row == "batch-noevents":
            kw["events"] = False
        bb.time_batch(stream, n_places, Core, N_USERS, warm, **kw)  # type: ignore[arg-type]
    elif row == "liquibook-nolistener":
        cp.time_liquibook(stream, n_places, warm, listener=False)
    else:
        cp.TIMERS[row](stream, n_places, warm)
    s = _status()
    return {
        "row": row,
        "rss0": rss0,
        "peak": s["VmHWM"],
        "end": s["VmRSS"],
        "hwm_reset": reset,
    }


def measure(path: str, warm: int, row: str, timeout: float = 300) -> dict[str, object]:
    """Run ``child`` in a fresh interpreter; returns its dict or ``{"error": ...}``."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), path, str(warm), row],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return {"row": row, "error": tail[0] if tail else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
