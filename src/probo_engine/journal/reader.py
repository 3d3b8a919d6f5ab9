"""Reading the journal back, read-only: :func:`read_journal`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from probo_engine.commands import CommandDecodeError, CommandRecord, decode
from probo_engine.errors import JournalCorruptError
from probo_engine.journal.files import segments_after
from probo_engine.journal.format import (
    JOURNAL_FORMAT,
    PAYLOAD_AT,
    REC_HDR,
    SEG_HDR,
    TRAILER,
    SegmentFormat,
    any_record,
    check_segment_header,
    diagnose,
    record_at,
)

__all__ = ["JournalRecord", "RawRecord", "iter_records", "read_journal"]


class JournalRecord(NamedTuple):
    """One record read back by :func:`read_journal`."""

    seq: int
    command: CommandRecord
    path: str
    offset: int


class RawRecord(NamedTuple):
    """One sound record's payload, undecoded (:func:`iter_records`)."""

    seq: int
    payload: bytes
    path: Path
    offset: int  #: where the record starts in ``path``


def read_journal(
    directory: str | os.PathLike[str], after: int = 0
) -> Iterator[JournalRecord]:
    """Yield the journal's records with seq ``> after``, in order, read-only.

    A torn tail ends the iteration quietly (it was never acknowledged);
    mid-file damage raises :class:`JournalCorruptError`.  Do not call this on a
    directory another process is writing.
    """
    for seq, payload, path, off in iter_records(Path(directory), after):
        try:
            cmd = decode(payload)
        except CommandDecodeError as exc:
            raise JournalCorruptError(path, off, str(exc)) from None
        yield JournalRecord(seq, cmd, str(path), off)


def iter_records(
    d: Path,
    after: int,
    fmt: SegmentFormat = JOURNAL_FORMAT,
    on_torn: Callable[[Path, int], None] | None = None,
) -> Iterator[RawRecord]:
    """The sound records with seq > ``after``, in order.

    Stops at a torn tail (a damaged end of the last segment with nothing valid
    after it), telling ``on_torn(path, offset)`` where it starts (offset 0:
    the whole last segment, whose header a crash tore); raises
    :class:`JournalCorruptError` for any other damage, a gap or a repeat.
    """
    segments = segments_after(d, after, fmt)
    expected: int | None = None
    for i, (first, path) in enumerate(segments):
        is_last = i == len(segments) - 1
        buf = path.read_bytes()
        bad = check_segment_header(buf, path, first, fmt)
        if bad is not None:
            if is_last and not any_record(buf, first, fmt):
                if on_torn is not None:
                    on_torn(path, 0)
                return
            raise JournalCorruptError(path, 0, bad)
        if expected is None:
            expected = first
        elif first != expected:
            raise JournalCorruptError(
                path, 0, f"segment starts at {first}, expected {expected}"
            )
        off = SEG_HDR.size
        while off < len(buf):
            rend = record_at(buf, off, fmt)
            if rend < 0 or REC_HDR.unpack_from(buf, off)[1] != expected:
                diagnose(buf, off, expected, path, is_last, fmt)
                if on_torn is not None:
                    on_torn(path, off)
                return
            if expected > after:
                yield RawRecord(
                    expected, buf[off + PAYLOAD_AT : rend - TRAILER], path, off
                )
            expected += 1
            off = rend
