"""``import probo_engine`` must stay light: no third-party module at all."""

import subprocess
import sys

import probo_engine
from probo_engine import _book, types

THIRD_PARTY = {
    "numpy",
    "pandas",
    "redis",
    "asyncpg",
    "psycopg",
    "websockets",
    "starlette",
    "uvicorn",
    "msgspec",
    "sortedcontainers",
    "hypothesis",
    "matplotlib",
}


def test_import_pulls_in_no_third_party_module():
    code = (
        "import sys, probo_engine\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    loaded = set(out.split(","))
    assert "probo_engine" in loaded
    assert not loaded & THIRD_PARTY, loaded & THIRD_PARTY


def test_public_names_are_exported():
    for name in probo_engine.__all__:
        assert hasattr(probo_engine, name), name
    assert probo_engine.__version__.count(".") == 2


def _pairs():
    pairs = {
        "SIDE": types.Side,
        "OUTCOME": types.Outcome,
        "BOOK": types.BookSide,
        "TIF": types.TimeInForce,
        "STP": types.SelfTrade,
        "FILL": types.FillKind,
        "CANCEL": types.CancelReason,
        "MARKET": types.MarketStatus,
        "EV": types.EventKind,
        "CMD": types.Command,
        "REJ": types.RejectReason,
        "FEE": types.FeeMode,
    }
    yield from pairs.items()


def test_python_enums_mirror_the_c_enums():
    c = dict(_book.CONSTANTS)
    for prefix, enum in _pairs():
        c_members = {
            k[len(prefix) + 1 :]: v for k, v in c.items() if k.startswith(prefix + "_")
        }
        py_members = {m.name: m.value for m in enum}
        assert c_members == py_members, prefix


def test_event_fields_match_the_event_record():
    assert tuple(types.Event._fields) == _book.EVENT_FIELDS
