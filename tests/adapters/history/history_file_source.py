"""A test-only durable EntrySource over the entry file of history_streams.py.

The kill tests write entries to a file while a child archiver, killed and
restarted over and over, reads them through this class.  It rereads nothing:
it parses the records appended since its last look, keeps them in memory, and
waits (polling, bounded by ``timeout``) when there is nothing new.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Sequence
from pathlib import Path

from probo_engine.adapters.entries import Entry, decode_entry

_LEN = struct.Struct("<I")


class FileEntrySource:
    def __init__(self, path: str | Path, poll: float = 0.02) -> None:
        self.path = Path(path)
        self.poll = poll
        self._entries: list[Entry] = []
        self._pos = 0
        self._tail = b""

    def _scan(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self._pos)
            data = self._tail + f.read()
            self._pos = f.tell()
        at = 0
        while at + 4 <= len(data):
            (n,) = _LEN.unpack_from(data, at)
            if at + 4 + n > len(data):
                break
            e = decode_entry(data[at + 4 : at + 4 + n])
            if e.seq != len(self._entries) + 1:
                raise ValueError(f"entry file: {e.seq} after {len(self._entries)}")
            self._entries.append(e)
            at += 4 + n
        self._tail = data[at:]

    def head(self) -> int:
        return len(self._entries)

    async def read(
        self, after: int, limit: int = 1024, timeout: float | None = None
    ) -> Sequence[Entry]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._scan()
            if len(self._entries) > after:
                return self._entries[after : after + limit]
            if deadline is not None and time.monotonic() >= deadline:
                return []
            await asyncio.sleep(self.poll)
