"""The journal's bytes: segment headers, record framing and their checks.

Everything here is pure (bytes in, answers out); the layout is described in
the package docstring (:mod:`probo_engine.journal`).  :class:`SegmentFormat`
lets another segmented log (``adapters/locallog.py``) reuse the framing with
its own magic, names and payload sizes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from probo_engine.commands import FORMAT_VERSION
from probo_engine.errors import JournalCorruptError

__all__ = [
    "JOURNAL_FORMAT",
    "JOURNAL_VERSION",
    "MAX_PAYLOAD",
    "PAYLOAD_AT",
    "REC_HDR",
    "REC_HEAD",
    "SEG_HDR",
    "SEGMENT_MAGIC",
    "TRAILER",
    "U32",
    "SegmentFormat",
    "any_record",
    "check_segment_header",
    "diagnose",
    "record_at",
    "segment_header",
]

SEGMENT_MAGIC = b"PROBOJNL"
JOURNAL_VERSION = 1
#: Largest payload a record may declare (commands are far smaller).
MAX_PAYLOAD = 1 << 16

#: Segment header: magic, version, header size, flags, first seq, payload
#: format version, CRC32 of the 28 bytes before it.
SEG_HDR = struct.Struct("<8sHHIQII")
REC_HEAD = struct.Struct("<IQ")  #: a record's payload length and seq
REC_HDR = struct.Struct("<IQI")  #: ... and the CRC32 of those 12 bytes
U32 = struct.Struct("<I")
#: Offset of the payload in a record (after :data:`REC_HDR`); a command
#: payload starts with its format version byte, then its type code byte.
PAYLOAD_AT = REC_HDR.size
TRAILER = U32.size  #: the CRC32 after the payload


@dataclass(frozen=True)
class SegmentFormat:
    """What a segmented record log is made of: this journal's by default.

    The record framing, segment header layout, torn-tail rules and snapshot
    files are shared; another log (``adapters/locallog.py``'s entry log)
    changes only its magic, file names, payload version and payload sizes.
    """

    magic: bytes = SEGMENT_MAGIC  #: segment header magic (8 bytes)
    prefix: str = "journal"  #: segment files are ``<prefix>-<first seq>.<ext>``
    ext: str = "wal"
    snapshot_prefix: str = "snapshot"  #: ``<snapshot_prefix>-<seq>.snap``
    payload_version: int = FORMAT_VERSION  #: the header's payload format field
    min_payload: int = 2  #: smallest payload a record may declare
    max_payload: int = MAX_PAYLOAD  #: largest payload a record may declare

    @property
    def min_record(self) -> int:
        return PAYLOAD_AT + self.min_payload + TRAILER

    def segment_name(self, first_seq: int) -> str:
        return f"{self.prefix}-{first_seq:020d}.{self.ext}"

    def snapshot_name(self, seq: int) -> str:
        return f"{self.snapshot_prefix}-{seq:020d}.snap"

    def segment_seq(self, name: str) -> int | None:
        """The first seq in a segment file name, None if it is not one."""
        head, ext = f"{self.prefix}-", f".{self.ext}"
        digits = name[len(head) : -len(ext)]
        if (
            name.startswith(head)
            and name.endswith(ext)
            and len(digits) == 20
            and digits.isdecimal()
        ):
            return int(digits)
        return None

    def snapshot_seq(self, name: str) -> int | None:
        head = f"{self.snapshot_prefix}-"
        digits = name[len(head) : -5]
        if (
            name.startswith(head)
            and name.endswith(".snap")
            and len(digits) == 20
            and digits.isdecimal()
        ):
            return int(digits)
        return None


#: The command journal's format (the package docstring).
JOURNAL_FORMAT = SegmentFormat()


def segment_header(first_seq: int, fmt: SegmentFormat = JOURNAL_FORMAT) -> bytes:
    head = SEG_HDR.pack(
        fmt.magic,
        JOURNAL_VERSION,
        SEG_HDR.size,
        0,
        first_seq,
        fmt.payload_version,
        0,
    )
    return head[:-4] + U32.pack(zlib.crc32(head[:-4]))


def check_segment_header(
    buf: bytes, path: Path, first_seq: int, fmt: SegmentFormat = JOURNAL_FORMAT
) -> str | None:
    """None if the header is sound, else why not."""
    if len(buf) < SEG_HDR.size:
        return f"segment header is short ({len(buf)} bytes)"
    magic, version, hsize, _flags, first, _fmt, crc = SEG_HDR.unpack_from(buf)
    if zlib.crc32(buf[: SEG_HDR.size - 4]) != crc or magic != fmt.magic:
        return "segment header fails its magic or CRC"
    if version != JOURNAL_VERSION or hsize != SEG_HDR.size:
        return f"segment format version {version} is not {JOURNAL_VERSION}"
    if first != first_seq:
        return f"segment header says first seq {first}, its name {first_seq}"
    return None


def record_at(buf: bytes, off: int, fmt: SegmentFormat = JOURNAL_FORMAT) -> int:
    """End offset of a complete, valid record at ``off``, else -1."""
    end = len(buf)
    if off + fmt.min_record > end:
        return -1
    n, _seq, hcrc = REC_HDR.unpack_from(buf, off)
    if (
        zlib.crc32(buf[off : off + REC_HEAD.size]) != hcrc
        or not fmt.min_payload <= n <= fmt.max_payload
    ):
        return -1
    rend: int = off + PAYLOAD_AT + n
    if (
        rend + TRAILER > end
        or zlib.crc32(buf[off:rend]) != U32.unpack_from(buf, rend)[0]
    ):
        return -1
    return rend + TRAILER


def diagnose(
    buf: bytes,
    off: int,
    seq: int,
    path: Path,
    is_last: bool,
    fmt: SegmentFormat = JOURNAL_FORMAT,
) -> str:
    """Decide what the record at ``off`` (expected ``seq``) is.

    Returns the reason when it is a torn tail (the caller truncates at ``off``);
    raises :class:`JournalCorruptError` when it is anything else.
    """
    end = len(buf)
    rend = record_at(buf, off, fmt)
    if rend >= 0:  # sound record, wrong number: never a crash
        found = REC_HDR.unpack_from(buf, off)[1]
        raise JournalCorruptError(path, off, f"record seq {found}, expected {seq}")
    if end - off < REC_HDR.size:
        reason = f"short record header ({end - off} bytes)"
    else:
        n, found, hcrc = REC_HDR.unpack_from(buf, off)
        if zlib.crc32(buf[off : off + REC_HEAD.size]) != hcrc:
            reason = "record header fails its CRC"
        elif found != seq:
            raise JournalCorruptError(path, off, f"record seq {found}, expected {seq}")
        elif not fmt.min_payload <= n <= fmt.max_payload:
            reason = f"record length {n} out of range"
        elif off + PAYLOAD_AT + n + TRAILER > end:
            reason = f"record of {PAYLOAD_AT + n + TRAILER} bytes cut at {end - off}"
        else:
            reason = "record fails its CRC"
    if not is_last:
        raise JournalCorruptError(path, off, reason + " (not the last segment)")
    # A torn write leaves nothing valid after it.  Look for any sound record
    # later in the file; one only ever is there after mid-file damage.
    min_record = fmt.min_record
    lo, hi = seq, seq + (end - off) // min_record + 1
    for pos in range(off + 1, end - min_record + 1):
        later = REC_HEAD.unpack_from(buf, pos)[1]
        if lo <= later <= hi and record_at(buf, pos, fmt) >= 0:
            raise JournalCorruptError(
                path, off, f"{reason}, with a valid record (seq {later}) at {pos}"
            )
    return reason


def any_record(buf: bytes, seq: int, fmt: SegmentFormat = JOURNAL_FORMAT) -> bool:
    """Whether ``buf`` holds a sound record numbered from ``seq`` on anywhere."""
    min_record = fmt.min_record
    hi = seq + len(buf) // min_record + 1
    for pos in range(len(buf) - min_record + 1):
        later = REC_HEAD.unpack_from(buf, pos)[1]
        if seq <= later <= hi and record_at(buf, pos, fmt) >= 0:
            return True
    return False
