"""Stepping through a notebook in JupyterLab and saving it changes nothing git tracks, and
``s2e notebooks run`` says what it runs and how long it takes.

The save is JupyterLab's, minus the browser: jupytext's contents manager (the one JupyterLab
runs with jupytext installed) configured as ``s2e notebooks setup`` configures the venv's
Jupyter server, saving each notebook with the metadata a kernel of this venv adds
(kernelspec, ``language_info``), execution counts and outputs, in a fresh clone of the
notebooks with the git filter ``make install`` sets up. ``git status --porcelain`` must be
empty afterwards. tests/browser/ does the same through JupyterLab in Chromium.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from s2e_lib import workbook
from s2e_lib.workbook import (
    EXPECTED_TIMES,
    JUPYTER_HOOK_CONFIG,
    ExpectedTime,
    describe_duration,
    expected_time,
    install_git_filter,
    install_jupyter_hook,
    list_notebooks,
    run_notebook,
    strip_before_save,
)
from tests._git_checkout import git, notebook_checkout

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = list_notebooks(REPO / "notebooks")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _kernelspec() -> dict:
    """What JupyterLab in this venv writes as a notebook's kernelspec."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"display_name": spec.display_name, "language": spec.language, "name": "python3"}


LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.2",
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def quickstart_clone(tmp_path_factory) -> Path:
    return notebook_checkout(tmp_path_factory.mktemp("quickstart"), ["00_quickstart"])


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return notebook_checkout(tmp_path_factory.mktemp("all"), [p.stem for p in NOTEBOOKS])


def _save_as_jupyterlab(root: Path, name: str, hook: bool = True) -> None:
    """Open ``notebooks/NAME.ipynb`` through jupytext's contents manager and save it after a
    run: kernelspec and language_info of this venv's kernel, execution counts, outputs."""
    from jupytext.async_contentsmanager import AsyncTextFileContentsManager
    from traitlets.config import Config

    manager = AsyncTextFileContentsManager(
        root_dir=str(root), config=Config(JUPYTER_HOOK_CONFIG if hook else {})
    )

    async def step_through_and_save() -> None:
        path = f"notebooks/{name}.ipynb"
        nb = (await manager.get(path, content=True))["content"]
        nb["metadata"]["kernelspec"] = _kernelspec()
        nb["metadata"]["language_info"] = dict(LANGUAGE_INFO)
        count = 0
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                count += 1
                cell["execution_count"] = count
                cell["metadata"]["execution"] = {"iopub.status.idle": "2026-12-06T12:00:00Z"}
                cell["outputs"] = [
                    {"output_type": "stream", "name": "stdout", "text": f"cell {count}\n"},
                    {
                        "output_type": "display_data",
                        "data": {"image/png": PNG, "text/plain": "<Figure>"},
                        "metadata": {},
                    },
                ]
        await manager.save({"type": "notebook", "format": "json", "content": nb}, path)

    asyncio.run(step_through_and_save())


def _what_changed(root: Path) -> str:
    """``git status --porcelain`` and, for each changed file, the start of its diff against HEAD."""
    status = git(root, "status", "--porcelain")
    details = []
    for line in status.splitlines():
        rel = line[3:]
        if (root / rel).is_file() and git(root, "ls-files", rel):
            before = git(root, "show", f"HEAD:{rel}").splitlines()
            after = (root / rel).read_text(encoding="utf-8").splitlines()
            diff = list(difflib.unified_diff(before, after, f"HEAD:{rel}", rel, lineterm="", n=1))
            details.append("\n".join(diff[:30]))
    return status + "\n".join(details)


def _assert_save_leaves_git_clean(clone: Path, name: str) -> None:
    """After a save the .ipynb holds what git stores and the .py is byte for byte the committed
    one. A failure names the file and shows how it changed: a .py header or a kernelspec that
    differs means the pair was last synced with another setup (give the .ipynb this venv's
    kernelspec, then ``jupytext --sync notebooks/NAME.ipynb``)."""
    assert git(clone, "status", "--porcelain") == ""
    try:
        _save_as_jupyterlab(clone, name)
        assert git(clone, "status", "--porcelain") == "", _what_changed(clone)
        for suffix in (".ipynb", ".py"):
            rel = f"notebooks/{name}{suffix}"
            assert (clone / rel).read_text(encoding="utf-8") == git(clone, "show", f"HEAD:{rel}")
    finally:
        git(clone, "checkout", "--", ".")


def test_saving_the_quickstart_in_jupyterlab_leaves_git_status_clean(quickstart_clone):
    _assert_save_leaves_git_clean(quickstart_clone, "00_quickstart")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_saving_each_notebook_in_jupyterlab_leaves_git_status_clean(clone, notebook):
    _assert_save_leaves_git_clean(clone, notebook.stem)


@pytest.mark.slow
def test_without_the_save_hook_git_status_lists_the_saved_notebook(clone):
    """The control: git would strip the outputs on commit (``git diff`` is empty), but the file
    on disk grew, so ``git status`` lists it; the hook is what keeps the status clean."""
    name = NOTEBOOKS[0].stem
    try:
        _save_as_jupyterlab(clone, name, hook=False)
        saved = json.loads((clone / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
        assert any(cell.get("outputs") for cell in saved["cells"])
        assert git(clone, "status", "--porcelain").split() == ["M", f"notebooks/{name}.ipynb"]
        assert git(clone, "diff", "--stat") == ""  # what git would commit has not changed
    finally:
        git(clone, "checkout", "--", ".")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_metadata_is_what_jupyterlab_writes(notebook):
    nb = nbformat.read(notebook, as_version=4)
    assert nb.metadata["kernelspec"] == _kernelspec(), "give the .ipynb this venv's kernelspec"
    assert "language_info" not in nb.metadata  # the filter drops it: it names the Python version
    assert not notebook.with_suffix(".py").read_text(encoding="utf-8").startswith("# ---"), (
        f"{notebook.stem}.py has a metadata header: jupytext --sync {notebook.relative_to(REPO)}"
    )


def test_the_save_hook_leaves_notebooks_git_does_not_filter(tmp_path):
    """Outside a git checkout, and in one whose .gitattributes gives no filter, a saved
    notebook keeps its outputs: the hook only writes what git would store."""

    class Manager:
        root_dir = str(tmp_path)
        log = None

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    for place in ("plain", "repo"):
        folder = tmp_path / place
        folder.mkdir()
        if place == "repo":
            git(folder, "init", "-q")
        model = {"type": "notebook", "content": json.loads(nbformat.writes(nb))}
        strip_before_save(model, f"{place}/n.ipynb", Manager())
        assert model["content"]["cells"][0]["outputs"], place


def test_the_save_hook_strips_as_the_repository_filter_does(quickstart_clone):
    class Manager:
        root_dir = str(quickstart_clone)
        log = None

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells[0].execution_count = 1
    model = {"type": "notebook", "content": json.loads(nbformat.writes(nb))}
    strip_before_save(model, "notebooks/new.ipynb", Manager())
    cell = model["content"]["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "language_info" not in model["content"]["metadata"]
    text = {"type": "file", "format": "text", "content": "x = 1\n"}
    strip_before_save(text, "notebooks/new.py", Manager())
    assert text["content"] == "x = 1\n"


def test_setup_is_idempotent(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    with pytest.raises(workbook.S2EError, match="not a git checkout"):
        install_git_filter(repo)
    git(repo, "init", "-q")
    assert install_git_filter(repo)
    assert git(repo, "config", "--get", "filter.nbstripout.extrakeys").strip() == "metadata.language_info"
    assert "nbstripout" in git(repo, "check-attr", "filter", "--", "a.ipynb")
    assert install_git_filter(repo) == []
    prefix = tmp_path / "env"
    settings = prefix / workbook.JUPYTER_HOOK_FILE
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"ServerApp": {"open_browser": False}}), encoding="utf-8")
    assert install_jupyter_hook(prefix)
    written = json.loads(settings.read_text(encoding="utf-8"))
    assert written == {"ServerApp": {"open_browser": False}, **JUPYTER_HOOK_CONFIG}  # other settings kept
    assert install_jupyter_hook(prefix) == []


def test_this_environment_has_the_save_hook():
    """``make install`` (``s2e notebooks setup``) configured this venv's Jupyter server: the
    settings ``jupyter lab`` reads name :func:`strip_before_save` as the pre-save hook."""
    assert workbook.jupyter_save_hook() is strip_before_save, "run `make install` (s2e notebooks setup)"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_uses_an_output_widget(notebook):
    """papermill (nbclient) answers an ipywidgets Output widget on the kernel's shell channel
    while it waits there for the cell's reply, and sometimes misses the reply until the cell's
    timeout (jupyter/nbclient#312): ``make notebooks`` hung for the whole timeout in notebook
    05's ``widgets.interactive``. Show results in an Image or HTML widget the callbacks update."""
    source = notebook.with_suffix(".py").read_text(encoding="utf-8")
    found = re.findall(r"\binteract(?:ive)?\(|@(?:widgets\.)?interact\b|\bOutput\(", source)
    assert not found, f"{notebook.stem}.py uses {found}"


# --- run times ----------------------------------------------------------------------------


def test_every_notebook_has_expected_times():
    assert sorted(EXPECTED_TIMES) == [p.stem for p in NOTEBOOKS]
    for name, times in EXPECTED_TIMES.items():
        assert times.smoke > 0 and (times.full is None or times.full > 0), name


def test_the_readme_lists_the_expected_times():
    """README.md's table of run times shows :data:`EXPECTED_TIMES`, row for row."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\d\d_\w+)` +\| ([^|]+?) +\| ([^|]+?) +\|$", readme, flags=re.M)
    assert rows, "README.md has no run-time table (| `00_quickstart` | full | smoke |)"
    shown = {name: (full, smoke) for name, full, smoke in rows}
    expected = {
        name: (describe_duration(times.full), describe_duration(times.smoke))
        for name, times in EXPECTED_TIMES.items()
    }
    assert shown == expected


def test_durations_read_as_a_person_would_say_them(monkeypatch):
    assert describe_duration(38) == "about 40 s"
    assert describe_duration(2) == "about 5 s"
    assert describe_duration(150) == "about 2 min"  # round half to even: 2.5 -> 2
    assert describe_duration(14 * 60) == "about 14 min"
    assert describe_duration(2 * 3600) == "about 2 h"
    assert describe_duration(None) == "not measured yet"
    monkeypatch.setitem(EXPECTED_TIMES, "98_new", ExpectedTime(smoke=30, full=None))
    monkeypatch.setitem(EXPECTED_TIMES, "97_known", ExpectedTime(smoke=30, full=600))
    assert expected_time("98_new", smoke=True) == "about 30 s on 2 CPU cores"
    assert expected_time("98_new", smoke=False) == "full-mode time not measured yet (smoke mode: about 30 s)"
    assert expected_time("97_known", smoke=False) == "about 10 min on 2 CPU cores"
    assert expected_time("99_unknown", smoke=True) == "no run time recorded for it"


# --- the kernel's shutdown ------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    flag = sys.argv[1]
    def note(what):
        with open(flag, "a") as f:
            f.write(what + "\\n")
    signal.signal(signal.SIGINT, lambda *_: note("SIGINT"))
    signal.signal(signal.SIGTERM, lambda *_: (note("SIGTERM"), sys.exit(0)))
    note(f"ready {os.getpid()}")
    time.sleep(60)
    """
)


def test_papermill_shuts_the_kernel_down_without_an_interrupt(tmp_path):
    """jupyter_client interrupts (SIGINT to the kernel's process group) before every shutdown;
    after the last cell there is nothing to interrupt, and that stray signal is what made
    ipykernel print "KeyboardInterrupt caught in kernel." after a run. A process the last cell
    leaves in the kernel's process group sees the shutdown (SIGTERM from ipykernel), never a
    SIGINT."""
    flag = tmp_path / "signals.txt"
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("smoke = False")
    parameters.metadata["tags"] = ["parameters"]
    start_child = f"""
import subprocess, sys, time
from pathlib import Path
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}, {str(flag)!r}])
while not Path({str(flag)!r}).exists():
    time.sleep(0.05)
"""
    nb.cells = [parameters, nbformat.v4.new_code_cell(start_child)]
    nb.metadata["kernelspec"] = _kernelspec()
    source = tmp_path / "child.ipynb"
    nbformat.write(nb, source)
    try:
        run = run_notebook(source, output_dir=tmp_path / "out")
        assert run.ok, run.error
        lines = flag.read_text().splitlines()
        assert lines[0].startswith("ready ")
        assert "SIGINT" not in lines, lines
    finally:
        pid = int(flag.read_text().split()[1]) if flag.exists() else None
        if pid:
            subprocess.run(["kill", str(pid)], capture_output=True)


@pytest.mark.slow
def test_s2e_notebooks_run_says_what_it_runs_and_prints_no_kernel_errors(tmp_path):
    """``s2e notebooks run 00 --smoke``: the mode, the expected time, the time it took; and
    nothing on stderr but the progress bar (no "[IPKernelApp] ERROR | ..." from the kernel)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "s2e_lib.cli",
            "notebooks",
            "run",
            "00",
            "--smoke",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout.splitlines()
    assert out[0].startswith("smoke mode:")
    assert out[1] == f"[1/1] 00_quickstart: expect {expected_time('00_quickstart', smoke=True)}"
    assert re.fullmatch(r"ok  00_quickstart in \d+\.\d (s|min) -> .*00_quickstart\.ipynb", out[2])
    stderr = result.stderr.replace("\r", "\n").splitlines()
    assert not [line for line in stderr if "ERROR" in line or "KeyboardInterrupt" in line], stderr[-20:]
    assert any(re.search(r"00_quickstart: 100%.*cell", line) for line in stderr)  # papermill's bar
