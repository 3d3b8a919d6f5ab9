"""The fast snapshot paths: the core's own CRC, interleaved level walks,
bucketed user lists, and the hash-map checks of ``check_invariants``."""

from __future__ import annotations

import os
import random
import struct
import zlib

import pytest

from probo_engine import Core, SnapshotError, _book

HEADER, USER, MARKET, POSITION, ORDER = 136, 16, 56, 40, 48  # format 2


def test_core_crc_equals_zlib_for_every_length_and_alignment():
    rng = random.Random(5)
    sizes = list(range(0, 260)) + [1000, 4095, 4096, 65_537, 1 << 20]
    for n in sizes:
        raw = (
            bytes(rng.getrandbits(8) for _ in range(n + 7))
            if n < 5000
            else os.urandom(n + 7)
        )
        for off in (0, 1, 3, 7):
            data = raw[off : off + n]
            assert Core._crc32(data) == zlib.crc32(data), (n, off)
    data = b"abc" * 100
    assert Core._crc32(memoryview(data)[5:]) == zlib.crc32(data[5:])
    assert Core._crc_simd() in (0, 1)


def _busy_core(n_orders: int = 3000, seed: int = 3) -> Core:
    # many levels on two markets, long user lists (above the insertion-sort
    # cut-off), client ids, GTD orders, shares from mints (stored positions);
    # buys in the lower half of the grid, sells in the upper: nothing crosses
    rng = random.Random(seed)
    core = Core()
    core.create_market(1000, 10)
    core.create_market(100, 1)
    for u in range(7):
        core.create_user()
        core.deposit(u, 10**9, 0)
        core.mint(u, 0, 500, 0)
        core.mint(u, 1, 500, 0)
    for i in range(n_orders):
        u, m = rng.randrange(7), rng.randrange(2)
        payout, tick = ((1000, 10), (100, 1))[m]
        tif = rng.choice((0, 0, 3))
        action = rng.randrange(2)
        half = payout // 2
        price = rng.randrange(tick, half, tick) + (half if action else 0)
        core.place(
            u,
            m,
            action,
            rng.randrange(2),
            price,
            rng.randint(1, 5),
            tif,
            0,
            10 + i,
            False,
            i + 1 if rng.random() < 0.3 else 0,
            10**6 + rng.randrange(1000) if tif == 3 else 0,
        )
        if rng.random() < 0.1:
            core.cancel(u, rng.randint(1, i + 1), 10 + i)
    return core


def test_busy_core_round_trips_byte_exact_with_lists_in_id_order():
    core = _busy_core()
    blob = core.snapshot()
    assert core.totals()[3] > 1000
    other = Core.restore(blob)
    assert other.snapshot() == blob
    for u in range(7):
        assert other.user_orders(u) == core.user_orders(u)
        ids = [o[1] for o in other.user_orders(u)]
        assert ids == sorted(ids) and len(ids) > 24
    other.check_invariants()
    # the restored core keeps working like the original
    for c in (core, other):
        c.expire(10**6 + 500)
        c.place(0, 0, 0, 0, 500, 3, 0, 0, 10**6 + 501)
    assert core.snapshot() == other.snapshot()


def test_restore_of_many_orders_does_not_hang():
    core = Core()
    core.create_market(1000, 10)
    core.create_user()
    core.deposit(0, 10**9, 0)
    for i in range(5000):
        core.place(0, 0, 0, i % 2, 10 * (1 + i % 49), 1, 0, 0, i)
    blob = core.snapshot()
    assert Core.restore(blob).snapshot() == blob


def _orders_at(blob: bytes) -> tuple[int, int]:
    nu, nm = struct.unpack_from("<II", blob, 104)
    npos, nord = struct.unpack_from("<QQ", blob, 112)
    return HEADER + USER * nu + MARKET * nm + POSITION * npos, nord


def _reseal(body: bytearray) -> bytes:
    return bytes(body[:-4]) + zlib.crc32(body[:-4]).to_bytes(4, "little")


def test_duplicate_order_id_with_valid_crc_is_refused():
    blob = _busy_core(400).snapshot()
    at, nord = _orders_at(blob)
    body = bytearray(blob)
    body[at + ORDER * (nord - 1) : at + ORDER * (nord - 1) + 8] = blob[at : at + 8]
    with pytest.raises(SnapshotError, match="appears twice"):
        Core.restore(_reseal(body))


def test_duplicate_client_id_with_valid_crc_is_refused():
    blob = _busy_core(400).snapshot()
    at, nord = _orders_at(blob)
    recs = [blob[at + ORDER * i : at + ORDER * (i + 1)] for i in range(nord)]
    by_user: dict[int, list[int]] = {}
    for i, r in enumerate(recs):
        if struct.unpack_from("<I", r, 32)[0]:
            by_user.setdefault(struct.unpack_from("<I", r, 24)[0], []).append(i)
    i, j = next(v[:2] for v in by_user.values() if len(v) > 1)
    body = bytearray(blob)
    body[at + ORDER * j + 32 : at + ORDER * j + 36] = recs[i][32:36]
    with pytest.raises(SnapshotError, match="client id"):
        Core.restore(_reseal(body))


def test_orders_out_of_canonical_order_are_refused():
    blob = _busy_core(400).snapshot()
    at, nord = _orders_at(blob)
    body = bytearray(blob)
    first = blob[at : at + ORDER]
    last = blob[at + ORDER * (nord - 1) : at + ORDER * nord]
    body[at : at + ORDER] = last
    body[at + ORDER * (nord - 1) : at + ORDER * nord] = first
    with pytest.raises(SnapshotError):
        Core.restore(_reseal(body))


HUGE_SCRIPT = """
import hashlib, sys
from probo_engine import Core
core = Core()
m = core.create_market(1000, 10)
users = [core.create_user() for _ in range(200)]
for u in users:
    core.deposit(u, 10**9)
for i in range(70_000):  # > 4 MiB of order slots and id map: huge-page hints
    core.place(users[i % 200], m, 0, i % 2, 10 * (1 + i % 49), 1 + i % 7)
data = core.snapshot()
again = Core.restore(data)
assert again.snapshot() == data
sys.stdout.write(hashlib.sha256(data).hexdigest())
"""


@pytest.mark.skipif(
    _book.DEBUG, reason="70,000 commands with check_invariants() after each"
)
def test_huge_page_hints_change_nothing_but_speed():
    # PROBO_MADVISE_HUGEPAGE=0 turns the madvise(MADV_HUGEPAGE) hints off: the
    # state, the snapshot bytes and the restore are the same either way.
    import subprocess
    import sys

    out = []
    for flag in ("1", "0"):
        env = dict(os.environ, PROBO_MADVISE_HUGEPAGE=flag)
        proc = subprocess.run(
            [sys.executable, "-c", HUGE_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        out.append(proc.stdout)
    assert out[0] == out[1] and len(out[0]) == 64
