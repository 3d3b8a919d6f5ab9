"""Packaging: the sdist builds from its own files; metadata; the module CLI.

Building the sdist needs the ``build`` frontend (``pip install build``) and
network access for its isolated environment; without ``build`` those tests
skip.  CI builds the sdist, installs from it and runs the tests (.ci/run).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_python_m_probo_engine_help_exits_0() -> None:
    for flag in ("--help", "-h"):
        proc = subprocess.run(
            [sys.executable, "-m", "probo_engine", flag],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "usage: python -m probo_engine" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "probo_engine", "--bogus"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown command" in proc.stderr


def test_metadata_license_urls_classifiers() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["license"] == "MIT"  # an SPDX expression, not a table
    assert project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert {"Homepage", "Changelog", "Issues"} <= set(project["urls"])
    versions = {
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    assert {"3.10", "3.11", "3.12", "3.13"} <= versions
    assert not any(c.startswith("License ::") for c in project["classifiers"])
    requires = meta["build-system"]["requires"]
    assert any(r.startswith("setuptools>=77") for r in requires)


def test_release_build_has_no_debug_info() -> None:
    text = (ROOT / "setup.py").read_text()
    assert '"-g0"' in text and "--strip-debug" in text


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # (a ``build/`` directory left by ``setup.py build_ext`` imports as a
    # namespace package: look for the frontend's __main__)
    if importlib.util.find_spec("build.__main__") is None:
        pytest.skip("the sdist build needs the frontend: pip install build")
    out = tmp_path_factory.mktemp("sdist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = out.glob("probo_engine-*.tar.gz")
    return path


@pytest.mark.slow  # builds an sdist
def test_sdist_ships_the_cython_sources_not_generated_c(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for need in (
        "src/probo_engine/_book.pyx",
        "src/probo_engine/_book.pxd",
        "src/probo_engine/_replay.pyx",
        "src/probo_engine/_snapshot.pyx",
        "src/probo_engine/_invariants.pyx",
        "src/probo_engine/_lifecycle.pyx",
        "src/probo_engine/_lifecycle.pxd",
        "src/probo_engine/_funds.pyx",
        "src/probo_engine/_expiry.pyx",
        "src/probo_engine/_queries.pyx",
        "src/probo_engine/_results.pyx",
        "src/probo_engine/_results.pxd",
        "src/probo_engine/_args.pyx",
        "src/probo_engine/_args.pxd",
        "src/probo_engine/_layout.pyx",
        "src/probo_engine/_copy.pyx",
        "src/probo_engine/_copy.pyi",
        "src/probo_engine/_types.pxd",
        "src/probo_engine/_rules.pxd",
        "src/probo_engine/_c/crc32.h",
        "src/probo_engine/_c/debug.h",
        "src/probo_engine/_c/pyint.h",
        "src/probo_engine/_book.pyi",
        "src/probo_engine/py.typed",
        "LICENSE",
        "setup.py",
        "pyproject.toml",
        "tests/snapshot/golden/v1.bin",
        "tests/conftest.py",
    ):
        assert need in names, need
    assert not any(n.endswith((".c", ".so")) for n in names)
