"""Typing of the compiled binary ``COPY`` encoder (``_copy.pyx``)."""

from collections.abc import Iterable
from typing import Any

__test__: dict[str, str]
NULLABLE: int
BYTEA: int

def encode_rows(rows: Iterable[tuple[Any, ...]], columns: bytes) -> bytes: ...
