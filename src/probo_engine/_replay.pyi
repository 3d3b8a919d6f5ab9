"""Typing of the compiled journal replay and command stream loop (``_replay.pyx``)."""

import os
from collections.abc import Callable
from typing import Any, final

__test__: dict[str, str]
LITTLE_ENDIAN: bool

def crc32(data: bytes | bytearray | memoryview, value: int = 0) -> int: ...
def append_record(buf: bytearray, payload: bytes, seq: int) -> None: ...
def record_layout() -> dict[int, tuple[int, dict[str, int]]]: ...

@final
class Replayer:
    def __init__(self, engine: Any, max_version: int, chunk: int = 2048) -> None: ...
    @property
    def applied(self) -> int: ...
    def replay(
        self,
        data: bytes | bytearray | memoryview,
        off: int,
        seq: int,
        skip_to: int,
        path: str | os.PathLike[str],
        on_chunk: Callable[[int, int], object] | None = None,
    ) -> tuple[int, int, int, bool]: ...

def apply_stream(
    engine: Any,
    batch: list[Any],
    start: int,
    seq: int,
    last_ts: int,
    window: Any,
    wsize: int,
    max_version: int,
    entries: bytearray,
    md: dict[int, bytearray],
    replies: dict[bytes, bytearray],
) -> tuple[int, int, int]: ...
def resp_scan(
    buf: bytes | bytearray | memoryview, at: int, pending: int
) -> tuple[int, int]: ...
def xread_head(buf: bytes | bytearray | memoryview) -> tuple[int, int] | None: ...
def apply_stream_raw(
    engine: Any,
    buf: bytes | bytearray | memoryview,
    at: int,
    count: int,
    seq: int,
    last_ts: int,
    window: Any,
    wsize: int,
    max_version: int,
    entries: bytearray,
    md: dict[int, bytearray],
    replies: dict[bytes, bytearray],
) -> tuple[int, int, int, int, bytes | None]: ...
