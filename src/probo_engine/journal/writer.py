"""The journal writer: appends records to the newest segment under a policy."""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from probo_engine.errors import JournalError
from probo_engine.journal.files import datasync, fsync_dir, write_all
from probo_engine.journal.format import (
    JOURNAL_FORMAT,
    REC_HEAD,
    SEG_HDR,
    U32,
    SegmentFormat,
    segment_header,
)

__all__ = ["NONE_FLUSH_BYTES", "SyncPolicy", "Writer"]

NONE_FLUSH_BYTES = 1 << 20  #: policy "none" writes in chunks of about this size


def _frame(buf: bytearray, payload: bytes, seq: int) -> None:
    """Append the record of ``payload`` (layout: :mod:`probo_engine.journal`)."""
    head = REC_HEAD.pack(len(payload), seq)
    head += U32.pack(zlib.crc32(head))
    buf += head
    buf += payload
    buf += U32.pack(zlib.crc32(payload, zlib.crc32(head)))


try:  # the same bytes in one C call (tests/durability: compared with _frame)
    from probo_engine._replay import append_record
except ImportError:  # pragma: no cover - the core is built with _replay
    append_record = _frame


class SyncPolicy(str, Enum):
    """When appended commands become durable (and so acknowledged)."""

    FSYNC = "fsync"  #: fdatasync after every command
    GROUP = "group"  #: fdatasync every N records or T ms (group commit)
    NONE = "none"  #: never sync (simulations)


class Writer:
    """Appends records to the newest segment under a sync policy."""

    def __init__(
        self,
        directory: Path,
        next_seq: int,
        segment: Path | None,
        *,
        policy: SyncPolicy,
        group_records: int,
        group_ms: float,
        segment_bytes: int,
        on_durable: Callable[[int], None] | None,
        fmt: SegmentFormat = JOURNAL_FORMAT,
    ) -> None:
        self.directory = directory
        self.fmt = fmt
        self.policy = policy
        self.group_records = group_records
        self.group_s = group_ms / 1000.0
        self.segment_bytes = segment_bytes
        self.on_durable = on_durable
        self.seq = next_seq - 1  # last appended
        self.acked = self.seq  # last durable
        self.reported = self.seq  # last acked_seq passed to on_durable
        self.first_seq = next_seq  # first seq of the open segment
        self.buf = bytearray()
        self.pending = 0
        self.first_pending = 0.0
        self.failed: BaseException | None = None
        self.fd = -1
        self.size = 0
        if segment is None:
            self._create_segment(next_seq)
        else:
            self.fd = os.open(segment, os.O_WRONLY | os.O_APPEND)
            self.size = os.fstat(self.fd).st_size
            self.first_seq = fmt.segment_seq(segment.name)  # type: ignore[assignment]
            if self.size >= segment_bytes:
                self.rotate()

    # The record layout is documented in the module docstring.
    def _buffer(self, payload: bytes) -> int:
        if self.failed is not None:
            raise JournalError(f"journal failed earlier: {self.failed!r}")
        seq = self.seq + 1
        append_record(self.buf, payload, seq)
        self.seq = seq
        return seq

    def append_buffered(self, payload: bytes) -> int:
        """Append with no sync of the policy's: the caller syncs (the group
        commit of :meth:`DurableEngine.execute_async`).

        :meth:`_buffer`, inlined: this is once per command on the async path.
        """
        if self.failed is not None:
            raise JournalError(f"journal failed earlier: {self.failed!r}")
        seq = self.seq + 1
        buf = self.buf
        append_record(buf, payload, seq)
        self.seq = seq
        if self.size + len(buf) >= self.segment_bytes:
            self.rotate()
        return seq

    def write_out(self) -> int:
        """Write the buffer, no sync; return the last seq now in the file."""
        if self.failed is not None:
            raise JournalError(f"journal failed earlier: {self.failed!r}")
        try:
            if self.buf:
                self.size += write_all(self.fd, self.buf)
                self.buf.clear()
        except BaseException as exc:
            self.failed = exc
            raise JournalError(f"journal write failed: {exc!r}") from exc
        return self.seq

    def synced(self, seq: int) -> None:
        """Everything up to ``seq`` (written by :meth:`write_out`) is synced."""
        if seq <= self.acked:
            return
        self.acked = seq
        if seq >= self.seq:
            self.pending = 0
        if self.on_durable is not None and seq > self.reported:
            self.reported = seq
            self.on_durable(seq)

    def append(self, payload: bytes) -> int:
        seq = self._buffer(payload)
        buf = self.buf
        policy = self.policy
        if policy is SyncPolicy.FSYNC:
            self.commit()
        elif policy is SyncPolicy.GROUP:
            self.pending += 1
            if self.pending == 1:
                self.first_pending = time.monotonic()
                if self.group_records <= 1:
                    self.commit()
            elif (
                self.pending >= self.group_records
                or time.monotonic() - self.first_pending >= self.group_s
            ):
                self.commit()
        else:
            self.acked = seq
            if len(buf) >= NONE_FLUSH_BYTES:
                self.commit()
        if self.size + len(self.buf) >= self.segment_bytes:
            self.rotate()
        return seq

    def due_in(self) -> float | None:
        if self.policy is not SyncPolicy.GROUP or not self.pending:
            return None
        return max(0.0, self.first_pending + self.group_s - time.monotonic())

    def poll(self) -> int:
        due = self.due_in()
        if due is not None and due <= 0.0:
            self.commit()
        return self.acked

    def commit(self, force_sync: bool = False) -> None:
        """Write the buffer and sync (unless policy none); advance ``acked``."""
        if self.failed is not None:
            raise JournalError(f"journal failed earlier: {self.failed!r}")
        try:
            if self.buf:
                self.size += write_all(self.fd, self.buf)
                self.buf.clear()
            if self.policy is not SyncPolicy.NONE or force_sync:
                datasync(self.fd)
        except BaseException as exc:
            self.failed = exc
            raise JournalError(f"journal write failed: {exc!r}") from exc
        self.pending = 0
        self.acked = self.seq
        if self.on_durable is not None and self.acked > self.reported:
            self.reported = self.acked
            self.on_durable(self.acked)

    def _create_segment(self, first_seq: int) -> None:
        path = self.directory / self.fmt.segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            write_all(fd, segment_header(first_seq, self.fmt))
            if self.policy is not SyncPolicy.NONE:
                datasync(fd)
                fsync_dir(self.directory)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.size = SEG_HDR.size
        self.first_seq = first_seq

    def rotate(self) -> None:
        """Sync, then start a new segment (unless the open one is empty)."""
        self.commit()
        if self.first_seq == self.seq + 1:  # the open segment is still empty
            return
        os.close(self.fd)
        self.fd = -1
        try:
            self._create_segment(self.seq + 1)
        except BaseException as exc:
            self.failed = exc
            raise JournalError(f"cannot start a journal segment: {exc!r}") from exc

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            if self.failed is None:
                self.commit(force_sync=True)
        finally:
            os.close(self.fd)
            self.fd = -1
