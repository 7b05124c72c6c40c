"""Run the workbook's notebooks with papermill, and keep the committed notebooks what git stores.

Executed copies go to ``outputs/notebooks/<name>.ipynb``; the committed notebooks in
``notebooks/`` stay output-free. ``smoke=True`` injects ``smoke = True`` into each
notebook's ``parameters`` cell so it finishes in well under a minute on a CPU.
:data:`EXPECTED_TIMES` holds how long each notebook takes on 2 CPU cores, in both modes:
``s2e notebooks run`` announces it before each notebook, and README.md's table is checked
against it.

Stepping through a notebook in JupyterLab and saving it leaves ``git status`` clean:

- git sends every ``.ipynb`` through nbstripout (``.gitattributes``), which drops outputs,
  execution counts and the metadata a kernel writes (:data:`NBSTRIPOUT_EXTRA_KEYS`);
- JupyterLab writes a notebook that git strips exactly as git would store it
  (:func:`strip_before_save`, a Jupyter server pre-save hook): with outputs in the file, git
  lists it as modified even though ``git diff`` shows nothing, because git compares the
  file's size before it runs any filter;
- jupytext writes the paired ``.py`` without a metadata header (``notebooks/jupytext.toml``),
  so neither the jupytext version nor the kernel's name lands in it.

:func:`setup_checkout` (``s2e notebooks setup``, run by ``make install``) sets up the git filter
and the hook.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from s2e_lib.errors import InputError, S2EError
from s2e_lib.paths import project_paths


class NotebookFailed(S2EError):
    """A notebook raised while executing; the message names the notebook and cell."""

    exit_code = 1


@dataclass
class NotebookRun:
    name: str
    output: Path
    seconds: float
    ok: bool
    error: str = ""
    parameters: dict = field(default_factory=dict)


def list_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The workbook notebooks, in their numbered order."""
    folder = Path(folder) if folder else project_paths().notebooks
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def resolve_notebooks(names: list[str] | tuple[str, ...], folder: Path | None = None) -> list[Path]:
    """Match names like ``00``, ``00_quickstart`` or ``00_quickstart.ipynb`` to notebooks."""
    available = list_notebooks(folder)
    if not names:
        return available
    chosen = []
    for name in names:
        stem = Path(name).stem
        matches = [p for p in available if p.stem == stem or p.stem.startswith(stem + "_") or p.name == name]
        if len(matches) != 1:
            known = ", ".join(p.stem for p in available)
            raise S2EError(f"{name}: no single notebook matches (known: {known})")
        chosen.append(matches[0])
    return chosen


def parameter_names(notebook: Path) -> list[str]:
    """Names assigned in the cell tagged ``parameters``, as papermill reads them (empty if
    there is none). papermill skips a line it cannot parse (one ``=`` per line: keep ``=``
    out of a parameter's comment), so a test checks it finds every assignment."""
    import papermill as pm

    return list(pm.inspect_notebook(str(notebook)))


def check_parameters(parameters: dict, declared: dict[Path, list[str]]) -> None:
    """Refuse a parameter no chosen notebook declares (a typo would otherwise be dropped),
    naming the key and the notebooks' parameters; raises :class:`InputError` before any run."""
    known = {name for names in declared.values() for name in names}
    unknown = [key for key in parameters if key not in known]
    if unknown:
        which = ", ".join(p.stem for p in declared)
        listed = ", ".join(sorted(known)) or "none"
        raise InputError(f"-p {unknown[0]}: not a parameter of {which} (parameters: {listed})")


@dataclass(frozen=True)
class ExpectedTime:
    """How long one notebook takes on 2 CPU cores (no GPU), in seconds, with ``../shared``
    present; ``full=None`` while the full-mode time has not been measured."""

    smoke: float
    full: float | None


#: Run time of each notebook on 2 CPU cores, the one place these figures live: ``s2e notebooks
#: run`` announces them before each notebook, and README.md's table must show the same
#: (a test compares them). Smoke times: ``s2e notebooks run --smoke`` on a 2-core machine
#: shared with other work, first run (the feature cache empty; later runs of 02 take about
#: 20 s). 00's full time: four runs, 24 to 42 s. None: not measured yet, announced as such.
EXPECTED_TIMES: dict[str, ExpectedTime] = {
    "00_quickstart": ExpectedTime(smoke=35, full=35),
    "01_mead_preparation": ExpectedTime(smoke=20, full=40),
    "02_speech_emotion_classifier": ExpectedTime(smoke=110, full=84 * 60),
    "03_pix2pixhd_sign_editing": ExpectedTime(smoke=20, full=52 * 60),
    "04_ials_editing": ExpectedTime(smoke=20, full=65),
    "05_expression_warp": ExpectedTime(smoke=15, full=7 * 60),
}


def describe_duration(seconds: float | None) -> str:
    """``"about 40 s"``, ``"about 3 min"``, ``"about 1.5 h"``; ``"not measured yet"`` for None."""
    if seconds is None:
        return "not measured yet"
    if seconds < 90:
        return f"about {max(5, 5 * round(seconds / 5))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {round(seconds / 3600, 1):g} h"


def expected_time(name: str, smoke: bool) -> str:
    """What to expect from notebook ``name`` in the chosen mode, in words."""
    times = EXPECTED_TIMES.get(name)
    if times is None:
        return "no run time recorded for it"
    if smoke:
        return f"{describe_duration(times.smoke)} on 2 CPU cores"
    if times.full is None:
        return f"full-mode time not measured yet (smoke mode: {describe_duration(times.smoke)})"
    return f"{describe_duration(times.full)} on 2 CPU cores"


def describe_mode(smoke: bool) -> str:
    """The one line ``s2e notebooks run`` starts with: which mode, and what it means."""
    if smoke:
        return "smoke mode: small data and few epochs, to check that every cell runs (what CI executes)"
    return "full mode: every notebook at its full settings (add --smoke for the quick check CI runs)"


#: matplotlib backend of the kernels papermill starts: figures are stored in the executed notebook.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@functools.cache
def _kernel_manager_class():
    """jupyter_client's kernel manager without the interrupt it sends before a shutdown.

    jupyter_client (since 7) sends SIGINT to the kernel's process group before every
    shutdown request, to stop a cell that is still running. papermill shuts the kernel down
    only after the last cell has replied, so there is nothing to stop; the signal still
    reaches whatever the kernel is doing at that instant (ipykernel then logs
    ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.`` if it is handling a
    message) and every process a cell left running in the kernel's process group. The
    shutdown request alone ends the kernel; one that does not end is terminated and then
    killed as before (``shutdown_wait_time``).
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # set by shutdown_kernel before it interrupts
                return
            await super()._async_interrupt_kernel()

        interrupt_kernel = _async_interrupt_kernel

    return QuietShutdownKernelManager


#: Seconds one cell may run before papermill stops the notebook: a hung kernel is caught in
#: smoke mode within this, while full mode allows the long training and feature cells.
SMOKE_CELL_TIMEOUT = 1800
FULL_CELL_TIMEOUT = 4 * 3600


def run_notebook(
    notebook: Path,
    parameters: dict | None = None,
    smoke: bool = False,
    output_dir: Path | None = None,
    timeout: int | None = None,
    progress: bool = False,
) -> NotebookRun:
    """Execute one notebook with papermill; never raises for a failing cell (see ``ok``).
    ``progress`` shows papermill's bar of executed cells (tqdm, on stderr). ``timeout`` is per
    cell: by default :data:`SMOKE_CELL_TIMEOUT` in smoke mode, :data:`FULL_CELL_TIMEOUT` at full
    settings (a cold feature cache makes notebook 02's leave-one-corpus-out cell longer than
    30 minutes on 2 cores)."""
    import papermill as pm

    if timeout is None:
        timeout = SMOKE_CELL_TIMEOUT if smoke else FULL_CELL_TIMEOUT

    parameters = dict(parameters or {})
    if smoke:
        parameters["smoke"] = True
    output_dir = Path(output_dir) if output_dir else project_paths().outputs / "notebooks"
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / notebook.name
    start = time.perf_counter()
    env_backup = os.environ.get("MPLBACKEND")
    # the kernel inherits this process's environment: with a non-interactive backend such as
    # Agg (which tests and headless scripts set) every plt.show() would draw nothing, and the
    # executed copy would lose its figures; the inline backend puts them in the notebook
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(notebook.parent),
            progress_bar={"desc": notebook.stem, "unit": "cell", "leave": True} if progress else False,
            execution_timeout=timeout,
            # the kernel's own log (e.g. ipykernel 7's "running over TCP without encryption"
            # for a kernel on 127.0.0.1) is noise here; cell output and errors go to the
            # executed notebook and PapermillExecutionError as before
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            kernel_manager_class=_kernel_manager_class(),
        )
        ok, error = True, ""
    except pm.PapermillExecutionError as exc:
        ok = False
        error = f"{notebook.name}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue}"
    finally:
        if env_backup is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backup
    return NotebookRun(notebook.stem, output, time.perf_counter() - start, ok, error, parameters)


def run_notebooks(
    names: list[str] | tuple[str, ...] = (),
    parameters: dict | None = None,
    smoke: bool = False,
    output_dir: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> list[NotebookRun]:
    """Execute several notebooks in order; raise :class:`NotebookFailed` if any failed.

    ``echo`` receives the lines a user follows the run by: the mode first, then before each
    notebook its expected time (:data:`EXPECTED_TIMES`) and after it the time it took.
    ``progress`` shows papermill's bar of executed cells for each notebook.
    """
    notebooks = resolve_notebooks(list(names))
    declared = {notebook: parameter_names(notebook) for notebook in notebooks}
    check_parameters(parameters or {}, declared)
    say = echo or (lambda line: None)
    say(describe_mode(smoke))
    runs = []
    for index, notebook in enumerate(notebooks, 1):
        say(f"[{index}/{len(notebooks)}] {notebook.stem}: expect {expected_time(notebook.stem, smoke)}")
        # Pass each notebook only the parameters it declares (a key may be another's).
        own = {k: v for k, v in (parameters or {}).items() if k in declared[notebook]}
        run = run_notebook(notebook, own, smoke=smoke, output_dir=output_dir, progress=progress)
        runs.append(run)
        took = f"{run.seconds:.1f} s" if run.seconds < 90 else f"{run.seconds / 60:.1f} min"
        say(f"{'ok' if run.ok else 'FAILED'}  {notebook.stem} in {took} -> {run.output}")
    failed = [r for r in runs if not r.ok]
    if failed:
        raise NotebookFailed("; ".join(r.error for r in failed))
    return runs


# --- notebooks as git stores them ---------------------------------------------------------

#: Notebook metadata nbstripout drops besides outputs, execution counts and its own defaults:
#: ``language_info`` carries the kernel's Python version, so the same notebook saved from
#: another Python would differ. ``kernelspec`` stays: it is what JupyterLab in this venv writes
#: (``python3``, "Python 3 (ipykernel)"), and it tells JupyterLab which kernel to start.
NBSTRIPOUT_EXTRA_KEYS = ("metadata.language_info",)

#: The Jupyter server setting that runs the hook, merged by :func:`install_jupyter_hook` into
#: ``PREFIX/etc/jupyter/jupyter_server_config.json`` (a ``jupyter_server_config.d/`` file would
#: only be read for ``jpserver_extensions``).
JUPYTER_HOOK_CONFIG = {"ContentsManager": {"pre_save_hook": "s2e_lib.workbook.strip_before_save"}}
JUPYTER_HOOK_FILE = Path("etc") / "jupyter" / "jupyter_server_config.json"


def _git(args: list[str], cwd: Path) -> str | None:
    """``git ARGS`` run in ``cwd``: its stdout, or None when git is missing or fails."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def git_clean_command(path: Path) -> tuple[str, Path] | None:
    """The clean command of the git filter that applies to ``path`` and the checkout's top
    folder, where git runs it; None outside a git checkout or when no filter applies."""
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        return None
    attribute = _git(["check-attr", "filter", "--", Path(path).name], folder)
    name = attribute.rsplit(": ", 1)[-1].strip() if attribute else ""
    if name in ("", "unspecified", "unset", "set"):
        return None
    clean = (_git(["config", "--get", f"filter.{name}.clean"], folder) or "").strip()
    top = (_git(["rev-parse", "--show-toplevel"], folder) or "").strip()
    return (clean, Path(top)) if clean and top else None


def as_git_stores(path: Path, text: str) -> str | None:
    """``text``, a file's content at ``path``, as git would store it: through the clean command
    of the git filter that applies to ``path`` (nbstripout for ``*.ipynb`` here), run as git runs
    it. None when no filter applies; raises :class:`S2EError` when the filter fails."""
    found = git_clean_command(path)
    if found is None:
        return None
    clean, top = found
    relative = Path(path).resolve().relative_to(top.resolve()).as_posix()
    command = clean.replace("%f", shlex.quote(relative))
    try:
        result = subprocess.run(
            command,
            shell=True,
            cwd=top,
            input=text,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )
    except subprocess.TimeoutExpired as exc:
        raise S2EError(f"{path}: git's clean filter ({clean}) took over 120 s") from exc
    if result.returncode != 0:
        raise S2EError(f"{path}: git's clean filter ({clean}) failed: {result.stderr.strip()[:200]}")
    return result.stdout


def strip_before_save(model: dict, path: str, contents_manager, **kwargs) -> None:
    """Jupyter server pre-save hook: a notebook that git filters is written as git would store it.

    JupyterLab saves a notebook with its outputs, the kernel's ``language_info`` and execution
    counts. git strips them on commit (nbstripout), but a file on disk that differs in size
    from what git stores is listed by ``git status`` as modified although ``git diff`` shows
    nothing. Writing the stripped notebook keeps ``git status`` clean after stepping through a
    notebook; the outputs stay on screen until the notebook is closed, and ``s2e notebooks run``
    keeps executed copies with outputs in ``outputs/notebooks/``. Notebooks outside a git
    checkout, or that no git filter applies to, are saved unchanged; so is a notebook whose
    filter fails (with a warning in the server's log), so a save is never lost.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    import nbformat

    os_path = Path(contents_manager.root_dir) / path
    try:
        text = nbformat.writes(nbformat.from_dict(model["content"]))
        stored = as_git_stores(os_path, text)
        if stored is not None:
            model["content"] = json.loads(stored)
    except (S2EError, OSError, ValueError) as exc:
        contents_manager.log.warning("%s: saved with its outputs (%s)", path, exc)


def install_git_filter(repo: Path) -> list[str]:
    """Set up nbstripout as the git filter of the checkout at ``repo`` (``nbstripout --install``)
    with :data:`NBSTRIPOUT_EXTRA_KEYS`; returns what changed (empty if it was set up already).
    Raises :class:`S2EError` when ``repo`` is not a git checkout."""
    repo = Path(repo)
    if _git(["rev-parse", "--git-dir"], repo) is None:
        raise S2EError(f"{repo}: not a git checkout")
    before = {
        key: _git(["config", "--get", key], repo)
        for key in ("filter.nbstripout.clean", "filter.nbstripout.extrakeys")
    }
    result = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--install"], cwd=repo, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise S2EError(f"{repo}: nbstripout --install failed: {result.stderr.strip()[:200]}")
    keys = " ".join(NBSTRIPOUT_EXTRA_KEYS)
    if _git(["config", "filter.nbstripout.extrakeys", keys], repo) is None:
        raise S2EError(f"{repo}: could not set git config filter.nbstripout.extrakeys")
    changed = []
    if before["filter.nbstripout.clean"] != _git(["config", "--get", "filter.nbstripout.clean"], repo):
        changed.append(f"git filter: notebooks reach git without outputs (nbstripout, in {repo})")
    if (before["filter.nbstripout.extrakeys"] or "").strip() != keys:
        changed.append(f"git filter: nbstripout also drops {keys}")
    return changed


def install_jupyter_hook(prefix: Path | None = None) -> list[str]:
    """Make JupyterLab run :func:`strip_before_save`: :data:`JUPYTER_HOOK_CONFIG` merged into
    ``PREFIX/etc/jupyter/jupyter_server_config.json`` (``PREFIX``: this Python's environment,
    the venv or conda env that runs JupyterLab; other settings in the file are kept).
    Returns what changed."""
    target = Path(prefix or sys.prefix) / JUPYTER_HOOK_FILE
    hook = JUPYTER_HOOK_CONFIG["ContentsManager"]["pre_save_hook"]
    try:
        config = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else {}
    except ValueError as exc:
        raise S2EError(f"{target}: not valid JSON ({exc}); add {JUPYTER_HOOK_CONFIG} to it yourself") from exc
    if config.get("ContentsManager", {}).get("pre_save_hook") == hook:
        return []
    config.setdefault("ContentsManager", {})["pre_save_hook"] = hook
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise S2EError(f"{target}: cannot write the JupyterLab save hook ({exc.strerror or exc})") from exc
    return [f"JupyterLab: saves a notebook as git stores it ({target})"]


def jupyter_save_hook() -> object:
    """The pre-save hook a Jupyter server started from this environment would run (its
    configuration files read as ``jupyter lab`` reads them), or None."""
    from jupyter_server.serverapp import ServerApp

    app = ServerApp()
    app.load_config_file()
    value = app.config.get("ContentsManager", {}).get("pre_save_hook")
    if isinstance(value, str):
        from traitlets.utils.importstring import import_item

        return import_item(value)
    return value


def setup_checkout(home: Path | None = None, prefix: Path | None = None) -> list[str]:
    """Set up a checkout so notebooks stay what git stores (``s2e notebooks setup``): the git
    filter when ``home`` (default: the project home) is a git checkout, and JupyterLab's save
    hook in ``prefix`` (default: this environment). Returns what changed."""
    home = Path(home) if home else project_paths().home
    changed = []
    if _git(["rev-parse", "--git-dir"], home) is not None:
        changed += install_git_filter(home)
    return changed + install_jupyter_hook(prefix)
