"""Durability figures: codec rates, journal append rate per policy, replay rate.

Not a test (pytest does not collect it); run it by hand::

    python benchmarks/bench_durability.py [N]

Prints one line per figure.  ``N`` (default 200,000) commands of the seeded
``cmdstream`` mix are used for the journal and replay figures.  If msgspec is
installed its msgpack/JSON codecs are timed on the same record for comparison
(the library itself never imports it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "durability"))

from cmdstream import ENGINE_OPTIONS, make_stream  # noqa: E402

from probo_engine.commands import (  # noqa: E402
    Cancel,
    Place,
    apply,
    decode,
    encode,
    from_json,
    to_json,
)
from probo_engine.journal import DurableEngine  # noqa: E402
from probo_engine.journal import replay as replay_mod  # noqa: E402


def rate(stmt: str, ns: dict, number: int = 200_000) -> float:
    best = min(timeit.repeat(stmt, number=number, repeat=5, globals=ns))
    return number / best


def show(what: str, size: int, enc: float, dec: float) -> None:
    print(f"{what:16} {size:4} B  encode {enc:>12,.0f}/s  decode {dec:>12,.0f}/s")


def codec() -> None:
    place = Place(1, 0, 0, 1, 600, 10, 0, 0, 1_700_000_000_000_000_000, False, 7, 0)
    cancel = Cancel(1, 12345, 1_700_000_000_000_000_000)
    for name, cmd in (("place", place), ("cancel", cancel)):
        b, j = encode(cmd), to_json(cmd)
        ns = {"encode": encode, "decode": decode, "to_json": to_json,
              "from_json": from_json, "c": cmd, "b": b, "j": j}  # fmt: skip
        show(f"{name} binary", len(b), rate("encode(c)", ns), rate("decode(b)", ns))
        show(
            f"{name} JSON",
            len(j),
            rate("to_json(c)", ns, 50_000),
            rate("from_json(j)", ns, 50_000),
        )
    try:
        import msgspec
    except ImportError:
        print("msgspec not installed: no comparison")
        return

    class MPlace(msgspec.Struct, array_like=True, tag=1):
        uid: int
        mid: int
        side: int
        outcome: int
        price: int
        qty: int
        tif: int = 0
        stp: int = 0
        ts: int = 0
        post_only: bool = False
        client_id: int = 0
        expire_ts: int = 0

    class JPlace(
        msgspec.Struct, tag_field="type", tag="place", forbid_unknown_fields=True
    ):
        uid: int
        mid: int
        side: int
        outcome: int
        price: int
        qty: int
        tif: int = 0
        stp: int = 0
        ts: int = 0
        post_only: bool = False
        client_id: int = 0
        expire_ts: int = 0

    me, md = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(MPlace)
    je, jd = msgspec.json.Encoder(), msgspec.json.Decoder(JPlace)
    m, jj = MPlace(*place), JPlace(*place)
    ns = {"me": me, "md": md, "je": je, "jd": jd, "m": m, "jj": jj,
          "mb": me.encode(m), "jb": je.encode(jj)}  # fmt: skip
    show(
        "msgspec msgpack",
        len(ns["mb"]),
        rate("me.encode(m)", ns),
        rate("md.decode(mb)", ns),
    )
    show(
        "msgspec JSON",
        len(ns["jb"]),
        rate("je.encode(jj)", ns),
        rate("jd.decode(jb)", ns),
    )


def journal(stream: list, work: Path) -> None:
    from probo_engine import Engine

    t = time.perf_counter()
    eng = Engine(**ENGINE_OPTIONS)
    for cmd in stream:
        apply(eng, cmd)
    base = len(stream) / (time.perf_counter() - t)
    print(f"apply only (no journal)       {base:>12,.0f} commands/s")
    cases = [("none", {}, len(stream)), ("group", {"group_records": 256}, len(stream)),
             ("group", {"group_records": 16}, len(stream) // 4),
             ("fsync", {}, 5_000)]  # fmt: skip
    for policy, kw, n in cases:
        d = work / f"{policy}{kw.get('group_records', '')}"
        with DurableEngine.open(
            d, policy=policy, engine_options=ENGINE_OPTIONS, **kw
        ) as db:
            t = time.perf_counter()
            for cmd in stream[:n]:
                db.execute(cmd)
            db.sync()
            dt = time.perf_counter() - t
        label = policy + (f" N={kw['group_records']}" if kw else "")
        print(f"append {label:22} {n / dt:>12,.0f} commands/s ({n:,} commands)")
    d = work / "none"
    size = sum(p.stat().st_size for p in d.glob("journal-*.wal"))
    # The C replay path (journal.replay.C_REPLAY) unless the engine rules it
    # out; the Python path it falls back on, for comparison.  (Until
    # 2026-12-08 this set a name the journal package no longer read, so the
    # "Python path" row ran in C too since the package split.)
    paths = (("replay (open + recover)", True), ("replay, Python path", False))
    for label, use_c in paths:
        replay_mod.C_REPLAY = use_c
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            with DurableEngine.open(d) as db:
                best = min(best, time.perf_counter() - t)
                n, in_c = db.recovery.replayed, db.recovery.replayed_c
        print(f"{label:29} {n / best:>12,.0f} commands/s "
              f"({n:,} commands, {in_c:,} in C, {size / 1e6:.1f} MB of journal, "
              f"{best:.2f} s)")  # fmt: skip
    replay_mod.C_REPLAY = True
    with DurableEngine.open(d) as db:
        t = time.perf_counter()
        seq = db.snapshot()
        dt = time.perf_counter() - t
        if seq is not None:
            snap = next(d.glob("snapshot-*.snap")).stat().st_size
            print(f"snapshot file (write, fsync, rename) {snap / dt / 1e9:.2f} GB/s "
                  f"({snap / 1e6:.1f} MB, {dt * 1e3:.1f} ms)")  # fmt: skip
    # In a child process with a timeout: a core bug (IntMap reserve) made
    # restore spin on large states; a hang must not hang the benchmark.
    code = (
        "import sys, time; from probo_engine.journal import DurableEngine; "
        "t = time.perf_counter(); db = DurableEngine.open(sys.argv[1]); "
        "print(f'{(time.perf_counter() - t) * 1e3:.1f} ms, from snapshot seq "
        "{db.recovery.snapshot_seq}, {db.recovery.replayed} replayed')"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, str(d)],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()  # fmt: skip
    except subprocess.TimeoutExpired:
        out = "did not finish in 60 s (restore hangs)"
    print(f"open again                     {out}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    codec()
    t = time.perf_counter()
    stream = make_stream(1, n)
    print(f"({n:,} commands generated in {time.perf_counter() - t:.1f} s)")
    work = Path(tempfile.mkdtemp(prefix="probo-bench-"))
    try:
        journal(stream, work)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
