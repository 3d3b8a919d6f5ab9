"""Core.restore handed a journal's snapshot FILE names the mistake."""

import struct
import zlib

import pytest

from probo_engine import Core
from probo_engine.errors import SnapshotError

# The journal's snapshot-file header before it had a magic of its own
# (journal.py's _SNAP_HDR): magic, u16 version 1, u16 header size 40, flags,
# seq, body length, reserved, CRC32.  Built here so the test does not depend
# on where the journal package keeps its writer.
_OLD_HDR = struct.Struct("<8sHHIQQII")


def _core() -> Core:
    c = Core()
    u = c.create_user()
    c.deposit(u, 10_000)
    return c


def test_old_journal_snapshot_file_is_named() -> None:
    body = _core().snapshot()
    head = _OLD_HDR.pack(b"PROBOSNP", 1, _OLD_HDR.size, 0, 7, len(body), 0, 0)
    crc = zlib.crc32(body, zlib.crc32(head[:36]))
    data = head[:36] + struct.pack("<I", crc) + body
    with pytest.raises(SnapshotError, match="journal snapshot file") as exc:
        Core.restore(data)
    assert "DurableEngine.open" in str(exc.value)
    assert "2621441" not in str(exc.value)


def test_new_journal_snapshot_magic_is_named() -> None:
    data = b"PROBOJSN" + bytes(32) + _core().snapshot()
    with pytest.raises(
        SnapshotError, match=r"journal snapshot file \(magic b'PROBOJSN'\)"
    ):
        Core.restore(data)


def test_core_snapshot_still_restores() -> None:
    c = _core()
    assert Core.restore(c.snapshot()).snapshot() == c.snapshot()


@pytest.mark.parametrize("data", [b"", b"PROBOJS", b"PROBOSNP\x01\x00"])
def test_short_input_is_not_mistaken_for_a_journal_file(data: bytes) -> None:
    with pytest.raises(SnapshotError) as exc:
        Core.restore(data)
    assert "journal" not in str(exc.value)
