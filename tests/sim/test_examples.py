"""The examples run: the two scripts, and the notebook (executed with nbclient).

The notebook writes its figures to ``$PROBO_EXAMPLES_OUT``, a temporary
directory here, so the test leaves the repository clean; the PNGs committed
under ``examples/`` come from running the notebook in place.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOK = EXAMPLES / "simulate_convergence.ipynb"
FIGURES = [
    "convergence_price.png",
    "convergence_spread.png",
    "convergence_depth.png",
    "convergence_pnl.png",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLES,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_quickstart_runs_and_shows_every_fill_kind():
    out = _run(str(EXAMPLES / "quickstart.py"))
    for word in ("MINT", "TRANSFER", "MERGE", "YES book", "NO book", "asha", "chen"):
        assert word in out, word
    assert len((EXAMPLES / "quickstart.py").read_text().splitlines()) <= 30


def test_replay_day_prints_summary_statistics():
    out = _run(str(EXAMPLES / "replay_day.py"), "--orders", "20000", "--users", "50")
    for word in (
        "replayed 20,000 commands",
        "commands/s",
        "orders",
        "cancels",
        "transfer",
        "mint",
        "merge",
        "volume",
        "VWAP",
        "spread",
        "invariants hold",
        "hour",
    ):
        assert word in out, word


def test_replay_day_on_a_kalshi_grid():
    out = _run(
        str(EXAMPLES / "replay_day.py"),
        "--orders",
        "5000",
        "--payout",
        "100",
        "--tick",
        "1",
        "--seed",
        "3",
    )
    assert "replayed 5,000 commands" in out


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None


def test_committed_figures_exist():
    for name in FIGURES:
        assert (EXAMPLES / name).read_bytes()[:8] == PNG_MAGIC, name


@pytest.mark.slow  # executes the whole notebook
def test_notebook_executes_and_writes_its_figures(tmp_path, monkeypatch):
    pytest.importorskip("nbclient")
    import nbformat
    from nbclient import NotebookClient

    # A kernel spec for *this* interpreter, so the notebook runs against the
    # probo_engine under test whatever other "python3" kernels are installed.
    spec = tmp_path / "jupyter" / "kernels" / "probo-sim-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    sys.executable,
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "probo-sim-test",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    out = tmp_path / "figures"
    monkeypatch.setenv("PROBO_EXAMPLES_OUT", str(out))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="probo-sim-test",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()

    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, name
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors
    printed = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    )
    assert "P&L by type" in printed
