"""Every workbook notebook: committed without outputs, has a parameters cell with
``smoke``, and executes in smoke mode with papermill on a real kernel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2e_lib.workbook import list_notebooks, parameter_names, resolve_notebooks, run_notebook

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = list_notebooks(REPO / "notebooks")
EXPECTED = [
    "00_quickstart",
    "01_mead_preparation",
    "02_speech_emotion_classifier",
    "03_pix2pixhd_sign_editing",
    "04_ials_editing",
]


def test_expected_notebooks_exist():
    stems = [nb.stem for nb in NOTEBOOKS]
    assert stems[: len(EXPECTED)] == EXPECTED


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_clean(notebook):
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{notebook.name} has outputs"
            assert cell["execution_count"] is None
    assert nb["cells"][0]["cell_type"] == "markdown", "first cell must be the markdown header"
    assert "smoke" in parameter_names(notebook)


def test_resolve_notebooks_by_prefix():
    assert [p.stem for p in resolve_notebooks(["00"], REPO / "notebooks")] == ["00_quickstart"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_smoke_mode(notebook, tmp_path):
    run = run_notebook(notebook, smoke=True, output_dir=tmp_path)
    assert run.ok, run.error
    executed = json.loads(run.output.read_text())
    assert executed["metadata"]["papermill"]["parameters"]["smoke"] is True
    # papermill injects a cell after the parameters cell
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
