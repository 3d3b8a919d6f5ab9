"""atheris harness: the command decoders, binary and JSON.

Run: ``python tests/fuzz/fuzz_commands.py CORPUS_DIR [-runs=N] [-seed=S] ...``
(seeds: ``python tests/fuzz/seeds.py OUT``, use ``OUT/commands``).

Every input goes to :func:`~probo_engine.commands.decode` and to
:func:`~probo_engine.commands.from_json`; both may only raise
``CommandDecodeError``.  What decodes must re-encode canonically: binary
``encode(decode(b)) == b`` for the current layout (an older, shorter layout
re-encodes at full length and decodes to the same record), and JSON
``from_json(to_json(c)) == c``, ``to_dict`` giving plain ints and bools.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzing import count, reason  # noqa: E402

from probo_engine.commands import (  # noqa: E402
    FORMAT_VERSION,
    CommandDecodeError,
    decode,
    encode,
    from_dict,
    from_json,
    spec_of,
    to_dict,
    to_json,
)


def same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Equal records: same class, same values, same types (True is not 1)."""
    return type(a) is type(b) and [(type(v), v) for v in a] == [(type(v), v) for v in b]


def check_binary(data: bytes) -> None:
    try:
        cmd = decode(data)
    except CommandDecodeError as exc:
        reason(exc)
        return
    count("binary decoded")
    raw = encode(cmd)
    if len(data) == spec_of(cmd).size:
        if data[0] == FORMAT_VERSION:
            assert raw == data, f"not canonical: {data.hex()} -> {raw.hex()}"
        else:  # an older format of the same layout: only the version byte moves
            assert raw[1:] == data[1:], f"{data.hex()} -> {raw.hex()}"
    assert same(decode(raw), cmd)
    assert same(decode(bytearray(data)), cmd)
    assert same(decode(memoryview(data)), cmd)
    assert same(from_dict(to_dict(cmd)), cmd)


def check_json(data: bytes) -> None:
    for text in (data, data.decode("utf-8", "replace")):
        try:
            cmd = from_json(text)
        except CommandDecodeError as exc:
            reason(exc)
            continue
        count("json decoded")
        assert same(from_json(to_json(cmd)), cmd)
        assert same(decode(encode(cmd)), cmd)


def check(data: bytes) -> None:
    check_binary(data)
    check_json(data)


if __name__ == "__main__":
    from fuzzing import run

    run(check)
