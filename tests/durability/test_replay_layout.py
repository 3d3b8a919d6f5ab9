"""The C replayer's record offsets are the ones commands.py derives.

commands.py builds each command's binary layout from its record class (u8
version, u8 code, then int64 fields as 8 bytes and bools as 1 byte, names
last); _replay.pyx reads the batchable ones at named offsets.  Both must give
the same fixed size and the same byte offset for every field.
"""

import pytest

from probo_engine.commands import COMMANDS

_replay = pytest.importorskip("probo_engine._replay")


def _derived(code: int) -> tuple[int, dict[str, int]]:
    spec = COMMANDS[code]
    offsets: dict[str, int] = {}
    pos = 2
    for name, kind in zip(spec.fields, spec.kinds, strict=True):
        if kind is str:
            continue
        offsets[name] = pos
        pos += 8 if kind is int else 1
    return pos, offsets


def test_every_replayed_command_has_the_codec_layout() -> None:
    layout = _replay.record_layout()
    assert layout, "the replayer lists no layouts"
    for code, (size, offsets) in layout.items():
        assert (size, offsets) == _derived(code), COMMANDS[code].name


def test_fixed_size_commands_match_the_encoded_size() -> None:
    for code, (size, _offsets) in _replay.record_layout().items():
        spec = COMMANDS[code]
        if not spec.names:
            assert spec.size == size, spec.name
