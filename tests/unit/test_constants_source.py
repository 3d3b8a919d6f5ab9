"""One source of truth for the core's constants: the enums of _types.pxd.

``_book.CONSTANTS`` (from which batch.py takes its codes and against which
types.py, commands.py and tests/reference.py are checked elsewhere) must list
every value-carrying enum of _types.pxd under the same name and value, and
nothing under those prefixes that the .pxd does not define.  The snapshot
format's sizes in _snapshot.pxd are checked against docs/snapshot.md's record
sizes through the golden files (tests/snapshot).
"""

import re
from pathlib import Path

import pytest

_book = pytest.importorskip("probo_engine._book")

PXD = Path(_book.__file__).with_name("_types.pxd")
PREFIXES = ("SIDE_", "OUTCOME_", "BOOK_", "TIF_", "STP_", "FILL_", "CANCEL_",
            "MARKET_", "FEE_", "EV_", "CMD_", "REJ_")  # fmt: skip


def _pxd_enums() -> dict[str, int]:
    text = PXD.read_text()
    out: dict[str, int] = {}
    for name, value in re.findall(r"^\s+([A-Z][A-Z0-9_]*) = (-?\d+)\b", text, re.M):
        out[name] = int(value)
    return out


def test_pxd_is_where_the_enums_are() -> None:
    enums = _pxd_enums()
    assert enums["EV_FILL"] == 3 and enums["REJ_UNKNOWN_ORDER"] == 302


def test_constants_table_is_exactly_the_pxd_enums() -> None:
    pxd = {k: v for k, v in _pxd_enums().items() if k.startswith(PREFIXES)}
    table = {k: v for k, v in _book.CONSTANTS.items() if k.startswith(PREFIXES)}
    assert table == pxd


def test_limits_come_from_the_c_header() -> None:
    header = Path(_book.__file__).with_name("_c") / "bits.h"
    text = header.read_text()
    for name in ("MAX_QTY", "MAX_PAYOUT", "MAX_LEVELS", "MAX_TOTAL_CASH"):
        m = re.search(rf"#define PROBO_{name} (\d+)", text)
        assert m is not None, name
        assert _book.CONSTANTS[name] == int(m.group(1)), name
