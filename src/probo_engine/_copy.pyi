"""Typing of the compiled binary ``COPY`` encoder (``_copy.pyx``)."""

from collections.abc import Iterable
from typing import Any

__test__: dict[str, str]

def encode_int_rows(rows: Iterable[tuple[Any, ...]], sizes: bytes) -> bytes: ...
