"""Where the time goes: ``perf record`` on this very process while a loop runs.

``record(fn, path)`` attaches ``perf record -e cpu-clock -p <own pid>`` (a
software clock event: this VM exposes no hardware counters), runs ``fn()``,
stops perf with SIGINT, and ``summary(path)`` turns ``perf report`` into
shares by category and the top symbols, with Cython names demangled
(``__pyx_f_12probo_engine_5_book_4Core__match`` -> ``Core._match``).

Categories:

* ``interpreter`` -- libpython: the driver's loop, tuple unpacking, the call
  into the extension, reference counting, the cyclic GC;
* ``Cython entry`` -- the Python-visible wrappers (``__pyx_pw_*``: parsing
  and converting the positional arguments) and the conversion helpers they
  call (``_int``, ``_enum``, ``__Pyx_*``);
* ``engine`` -- the core's own C functions (matching, ledger, locks, events,
  levels, hash maps), and the wrappers of the bulk methods whose body is the
  work itself (``snapshot``, ``restore``, ``run_batch``: their C loops are
  inlined into the wrapper);
* ``numpy``, ``libc`` (memcpy, malloc), ``kernel`` (page faults, scheduling)
  and ``other``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable

PERF = shutil.which("perf") or "/usr/bin/perf"
_LINE = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*?)(?:\s+-\s+-\s*)?$")
_PYX = re.compile(r"^__pyx_(f|pw|pf|fuse_\d+)_\d+probo_engine_5_book_(.*)$")
CONVERSION = ("_int", "_enum", "_client_id")
#: Python-visible methods whose wrapper *is* the work (a loop in C), not
#: argument parsing around a call into the engine.
BULK = ("snapshot", "restore", "run_batch", "state_hash", "depth_into")


def unavailable() -> str:
    """Empty if ``perf record`` works here, else why not."""
    if not os.path.exists(PERF):
        return f"{PERF} not found"
    try:
        p = subprocess.run(
            [PERF, "record", "-e", "cpu-clock", "-o", os.devnull, "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"perf record failed: {exc}"
    if p.returncode:
        return "perf record failed: " + (p.stderr.strip().splitlines() or ["?"])[-1]
    return ""


def record(fn: Callable[[], object], path: str, freq: int = 2000) -> None:
    """Profile this process while ``fn()`` runs."""
    proc = subprocess.Popen(
        [PERF, "record", "-e", "cpu-clock", "-F", str(freq), "-o", path]
        + ["-p", str(os.getpid())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let perf attach
    try:
        fn()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def demangle(sym: str) -> str:
    m = _PYX.match(sym)
    if not m:
        return sym
    kind, rest = m.groups()
    if rest.startswith("4Core_"):
        rest = "Core." + re.sub(r"^\d+", "", rest[6:])
    else:
        rest = re.sub(r"^\d+", "", rest)
    if kind == "pw":
        rest += " (Python wrapper)"
    return rest


def category(dso: str, sym: str) -> str:
    if dso.startswith("[kernel"):
        return "kernel"
    if "libpython" in dso or dso.startswith("python"):
        return "interpreter"
    if "_book" in dso:
        if sym.startswith("__pyx_pw_") and demangle(sym).split(" ")[0].endswith(BULK):
            return "engine"
        if sym.startswith("__pyx_pw_") or sym.startswith("__Pyx_"):
            return "Cython entry"
        name = demangle(sym)
        if name.startswith(CONVERSION) and "." not in name:
            return "Cython entry"
        return "engine"
    if "multiarray" in dso or "numpy" in dso:
        return "numpy"
    if dso.startswith("libc") or dso.startswith("ld-linux"):
        return "libc"
    return "other"


def summary(path: str, top: int = 12) -> tuple[dict[str, float], list[tuple]]:
    """``({category: percent}, [(percent, category, dso, symbol), ...])``."""
    p = subprocess.run(
        [PERF, "report", "-i", path, "--no-children", "--sort", "dso,sym"]
        + ["--stdio"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    cats: dict[str, float] = {}
    rows = []
    for line in p.stdout.splitlines():
        if line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        pct, dso, _k, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        sym = sym.strip()
        cat = category(dso, sym)
        cats[cat] = cats.get(cat, 0.0) + pct
        rows.append((pct, cat, dso, demangle(sym)))
    rows.sort(reverse=True)
    return cats, rows[:top]
