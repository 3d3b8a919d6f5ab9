"""Seed corpora for the atheris harnesses, built from valid inputs.

``python tests/fuzz/seeds.py OUT`` writes ``OUT/restore``, ``OUT/commands`` and
``OUT/journal``; the pytest driver (``test_atheris.py``) calls :func:`write`.
Seeds are made fresh from the current code (plus the committed golden
snapshot), so they follow format changes without a stored corpus to refresh.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for sub in ("durability", "snapshot"):
    if str(TESTS / sub) not in sys.path:
        sys.path.insert(0, str(TESTS / sub))

from cmdstream import make_stream  # noqa: E402

GOLDEN = TESTS / "snapshot" / "golden"


def restore_seeds() -> list[bytes]:
    """The golden snapshots and the states of a scripted stream at a few points."""
    from probo_engine import Core
    from probo_engine.commands import apply

    out = [p.read_bytes() for p in sorted(GOLDEN.glob("v*.bin"))]
    out.append(Core().snapshot())
    core = Core(max_open_orders=60)
    stream = make_stream(seed=5, n=400)
    for i, cmd in enumerate(stream, 1):
        apply(core, cmd)
        if i in (10, 60, 150, 400):
            out.append(core.snapshot())
    return out


def command_seeds() -> list[bytes]:
    """One binary and one JSON encoding of each command type, and older layouts."""
    from probo_engine.commands import COMMANDS, encode, to_json

    seen: dict[type, tuple[int, ...]] = {}
    for cmd in make_stream(seed=7, n=2000):
        seen.setdefault(type(cmd), cmd)
    out = []
    for spec in COMMANDS.values():
        cmd = seen.get(spec.cls)
        if cmd is None:  # a type the stream never makes: all ones, bools true
            cmd = spec.cls(*(k(1) for k in spec.kinds))
        raw = encode(cmd)
        out.append(raw)
        out.extend(raw[:size] for size in spec.legacy)
        out.append(to_json(cmd).encode())
    return out


def journal_seeds() -> list[bytes]:
    """Journal segments written by a ``DurableEngine`` running a scripted stream."""
    from probo_engine.journal import DurableEngine

    out = []
    for seed, n in ((3, 12), (4, 60)):
        with tempfile.TemporaryDirectory() as tmp:
            with DurableEngine.open(tmp, policy="none") as dur:
                for cmd in make_stream(seed=seed, n=n):
                    dur.execute(cmd)
            out += [p.read_bytes() for p in sorted(Path(tmp).glob("journal-*.wal"))]
    return out


SEEDS = {"restore": restore_seeds, "commands": command_seeds, "journal": journal_seeds}


def write(name: str, directory: Path) -> list[Path]:
    """Write the seeds of harness ``name`` into ``directory``, one file each."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(SEEDS[name]()):
        path = directory / f"seed-{i:03d}"
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    root = Path(sys.argv[1])
    for name in SEEDS:
        print(name, len(write(name, root / name)), "seeds")
