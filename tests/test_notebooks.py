"""The lesson notebooks: clean committed outputs, and an end-to-end run under nbval.

``test_notebook_under_nbval`` runs each notebook the way CI does, in a fresh kernel with the fast
profile (``VISDOMKIT_FAST=1``), and nbval compares every cell's output with the committed one,
except in cells marked ``# NBVAL_IGNORE_OUTPUT``. It runs nbval in a child pytest because nbval
collects ``.ipynb`` files only with ``--nbval`` on the command line; the child's report is shown
when it fails. The same command by hand::

    VISDOMKIT_FAST=1 .venv/bin/python -m pytest --nbval --nbval-current-env notebooks
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# What must never be in a committed output: local paths and anything that looks like a secret.
FORBIDDEN = re.compile(
    r"/work/|/tmp/|/root/|/home/|/Users/|[A-Za-z]:\\\\|authtoken|password=|token=", re.IGNORECASE
)


def _cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def test_the_five_lessons_are_there():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_come_from_one_clean_run(notebook):
    code = [c for c in _cells(notebook) if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run top to bottom in a fresh kernel"
    for n, cell in enumerate(code, 1):
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"cell {n} raised {out.get('ename')}"
            text = json.dumps({k: v for k, v in out.items() if k != "data"})
            text += json.dumps({k: v for k, v in out.get("data", {}).items() if "image" not in k})
            found = FORBIDDEN.search(text)
            assert found is None, f"cell {n} output contains {found.group(0)!r}"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_under_nbval(notebook):
    pytest.importorskip("nbval", reason="nbval comes with the 'notebooks' extra")
    env = dict(os.environ, VISDOMKIT_FAST="1", PYTHONUNBUFFERED="1")
    env.pop("VISDOMKIT_SERVER", None)  # each notebook starts a server of its own
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "-q",
        str(notebook.relative_to(ROOT)),
    ]
    proc = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540, check=False
    )
    assert proc.returncode == 0, (
        f"nbval failed on {notebook.name}:\n{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}"
    )
