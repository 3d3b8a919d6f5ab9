"""Coverage-guided fuzzing with atheris: each harness, bounded, in a subprocess.

libFuzzer takes over the process and exits, so each harness (``fuzz_*.py``)
runs as ``python fuzz_X.py CORPUS -runs=N -seed=S``: the seed is fixed (printed
in the test output; override with ``PROBO_FUZZ_SEED``, the run count with
``PROBO_FUZZ_RUNS``), the corpus starts from valid inputs (``seeds.py``), and
the test asserts exit code 0 and no crash artifact.  Where atheris has no
wheel (see the ``test`` extra's marker) the test skips -- except in CI
(``PROBO_REQUIRE_SERVICES=1`` or ``CI=true``) on Linux x86_64, where a missing
atheris is a failure.  The harnesses' ``check`` functions also run on the
seeds here directly, without atheris.  The libFuzzer runs are marked ``slow``
(a developer's ``pytest -m "not slow"`` leaves them out; CI runs them).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import seeds

HERE = Path(__file__).resolve().parent
SEED = int(os.environ.get("PROBO_FUZZ_SEED", "20240601"))
#: Runs per harness: about 5-15 s each on the project's 2-core test machine.
RUNS = {"restore": 100_000, "commands": 60_000, "journal": 3_000}
SCALE = float(os.environ.get("PROBO_FUZZ_RUNS", "1"))

HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None
WHEEL_PLATFORM = (
    sys.platform == "linux"
    and platform.machine() == "x86_64"
    and sys.version_info < (3, 15)
)
IN_CI = os.environ.get("PROBO_REQUIRE_SERVICES") == "1" or (
    os.environ.get("CI", "").lower() in ("1", "true")
)


def _harness(name: str):
    sys.path.insert(0, str(HERE))
    try:
        return __import__(f"fuzz_{name}")
    finally:
        sys.path.remove(str(HERE))


@pytest.mark.parametrize("name", sorted(seeds.SEEDS))
def test_harness_accepts_its_seeds(name):
    # The seeds are valid inputs: the harness checks pass on them, no atheris.
    check = _harness(name).check
    for data in seeds.SEEDS[name]():
        check(data)


def test_commands_harness_takes_an_older_format_record():
    # Found by this fuzzer in CI (seed 20240601): an Expire record of command
    # format 1 decodes and re-encodes as format 2, the same but for byte 0.
    _harness("commands").check(bytes.fromhex("010e017e000000553d61"))


@pytest.mark.slow  # 5-15 s a harness; `pytest -m "not slow"` leaves it out
@pytest.mark.parametrize("name", sorted(seeds.SEEDS))
def test_atheris_finds_nothing(name, tmp_path):
    if not HAVE_ATHERIS:
        if IN_CI and WHEEL_PLATFORM:
            pytest.fail("atheris is not installed (pip install '.[test]' in CI)")
        pytest.skip("atheris is not installed (no wheel for this platform/Python)")
    corpus = tmp_path / "corpus"
    seeds.write(name, corpus)
    runs = max(1, int(RUNS[name] * SCALE))
    scratch = tempfile.mkdtemp(
        prefix="probo-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
    cmd = [
        sys.executable,
        str(HERE / f"fuzz_{name}.py"),
        str(corpus),
        f"-runs={runs}",
        f"-seed={SEED}",
        "-keep_seed=1",
        "-max_total_time=60",
        "-print_final_stats=1",
        f"-artifact_prefix={tmp_path}/",
    ]
    print(f"fuzz_{name}: -seed={SEED} -runs={runs}:", " ".join(cmd))
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=240,
            env=dict(os.environ, PROBO_FUZZ_TMP=scratch),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tail = "\n".join(proc.stderr.splitlines()[-40:])
    artifacts = sorted(
        p.name
        for p in tmp_path.iterdir()
        if p.name.split("-")[0] in ("crash", "leak", "timeout", "oom", "slow")
    )
    assert proc.returncode == 0 and not artifacts, (
        f"fuzz_{name} -seed={SEED} exit {proc.returncode}, artifacts {artifacts}\n"
        f"{tail}"
    )
    done = [line for line in proc.stderr.splitlines() if line.startswith("Done ")]
    assert done, tail  # "Done N runs in S second(s)" (fewer if -max_total_time hit)
    print(f"fuzz_{name}: {done[-1]}")
