"""Every workbook notebook: paired with its py:percent script, has a parameters cell
with ``smoke`` that papermill reads in full, reaches git without outputs, and executes
in smoke mode with papermill on a real kernel."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from s2e_lib.workbook import list_notebooks, parameter_names, resolve_notebooks, run_notebook

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = list_notebooks(NOTEBOOK_DIR)
EXPECTED = [
    "00_quickstart",
    "01_mead_preparation",
    "02_speech_emotion_classifier",
    "03_pix2pixhd_sign_editing",
    "04_ials_editing",
    "05_expression_warp",
]


def _cells(path: Path) -> list[tuple[str, str, list[str]]]:
    import jupytext

    nb = jupytext.read(path)
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def _parameters_cell(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook.name}: expected one cell tagged 'parameters'"
    return cells[0].source


def _assert_no_outputs(nb: dict, where: str) -> None:
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{where} has outputs"
            assert cell["execution_count"] is None, f"{where} has execution counts"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)


def _in_git_repo() -> bool:
    return shutil.which("git") is not None and _git("rev-parse", "--git-dir").returncode == 0


def test_expected_notebooks_exist():
    stems = [nb.stem for nb in NOTEBOOKS]
    assert stems[: len(EXPECTED)] == EXPECTED


def test_notebooks_are_paired_with_percent_scripts():
    config = (NOTEBOOK_DIR / "jupytext.toml").read_text(encoding="utf-8")
    assert 'formats = "ipynb,py:percent"' in config
    scripts = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    assert scripts == [nb.stem for nb in NOTEBOOKS], "every notebook needs its .py pair, and no orphan .py"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_agrees_with_its_script(notebook):
    """The .ipynb and the .py carry the same cells (types, sources, tags): run
    ``jupytext --sync notebooks/*.ipynb`` after editing either outside JupyterLab."""
    script = notebook.with_suffix(".py")
    assert _cells(notebook) == _cells(script), f"{notebook.name} and {script.name} differ: jupytext --sync"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_header_and_parameters(notebook):
    nb = nbformat.read(notebook, as_version=4)
    assert nb.cells[0].cell_type == "markdown", "first cell must be the markdown header"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    names = parameter_names(notebook)
    assert "smoke" in names
    # papermill skips a line it cannot parse (e.g. a second '=' in a comment), which would
    # drop that parameter from `s2e notebooks run -p`: it must find every assignment.
    assigned = []
    for node in ast.parse(_parameters_cell(notebook)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        assigned += [t.id for t in targets if isinstance(t, ast.Name)]
    assert names == assigned
    # papermill shows each parameter's trailing comment as its help (`papermill --help-notebook`)
    import papermill

    helpless = [k for k, v in papermill.inspect_notebook(str(notebook)).items() if not v["help"].strip()]
    assert not helpless, f"parameters without a '# help' comment: {helpless}"


def test_git_strips_notebook_outputs():
    lines = (REPO / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert "*.ipynb filter=nbstripout" in [line.strip() for line in lines]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_commits_without_outputs(notebook):
    """What git would commit: the working-tree file through nbstripout's clean filter
    (exactly as git runs it: the notebook on stdin), so a notebook stepped through in
    JupyterLab (autosave writes outputs into it) still passes; and the committed and
    staged blobs, where there are any."""
    cleaned = subprocess.run(
        [sys.executable, "-m", "nbstripout"],
        input=notebook.read_text(encoding="utf-8"),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    _assert_no_outputs(json.loads(cleaned), f"{notebook.name} after nbstripout")

    if not _in_git_repo():
        pytest.skip("not a git checkout")
    rel = notebook.relative_to(REPO).as_posix()
    if _git("ls-files", "--error-unmatch", rel).returncode != 0:
        pytest.skip(f"{rel} is not tracked yet")
    for rev in ("HEAD", ""):  # the last commit, then the index (the next commit)
        blob = _git("cat-file", "blob", f"{rev}:{rel}")
        if blob.returncode == 0:
            _assert_no_outputs(json.loads(blob.stdout), f"{rev or 'the index'}:{rel}")


def test_resolve_notebooks_by_prefix():
    assert [p.stem for p in resolve_notebooks(["00"], NOTEBOOK_DIR)] == ["00_quickstart"]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_in_smoke_mode(notebook, tmp_path):
    run = run_notebook(notebook, smoke=True, output_dir=tmp_path)
    assert run.ok, run.error
    executed = json.loads(run.output.read_text())
    assert executed["metadata"]["papermill"]["parameters"]["smoke"] is True
    # papermill injects a cell after the parameters cell
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    # the executed copy keeps its figures: a cell that calls plt.show() at top level has an
    # image (with the Agg backend tests and scripts set, the kernel drew nothing)
    for index, cell in enumerate(executed["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and any(line == "plt.show()" for line in source.splitlines()):
            images = [o for o in cell["outputs"] if "image/png" in o.get("data", {})]
            assert images, f"{notebook.name}: cell {index} shows a figure but kept no image"


def test_a_failing_cell_is_reported_and_the_kernel_log_stays_quiet(tmp_path, capfd):
    """A cell that raises makes ``run_notebook`` return ``ok=False`` with the cell's error
    (never an exception), and the kernel's own log lines (ipykernel 7 warns about TCP on
    127.0.0.1 at every start) do not reach the user's terminal."""
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("smoke = False")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [
        parameters,
        nbformat.v4.new_code_cell("print('first cell ran')"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "broken.ipynb"
    nbformat.write(nb, source)
    run = run_notebook(source, smoke=True, output_dir=tmp_path / "out")
    assert not run.ok
    assert "ZeroDivisionError" in run.error and "broken.ipynb" in run.error
    executed = json.loads(run.output.read_text())
    assert any(
        "first cell ran" in "".join(o.get("text", ""))
        for c in executed["cells"]
        for o in c.get("outputs", [])
    )
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
    assert "WARNING" not in captured.err
