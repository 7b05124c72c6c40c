"""Run the workbook's notebooks with papermill.

Executed copies go to ``outputs/notebooks/<name>.ipynb``; the committed notebooks in
``notebooks/`` stay output-free. ``smoke=True`` injects ``smoke = True`` into each
notebook's ``parameters`` cell so it finishes in well under a minute on a CPU.
"""

from __future__ import annotations

import os
import time
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


#: matplotlib backend of the kernels papermill starts: figures are stored in the executed notebook.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def run_notebook(
    notebook: Path,
    parameters: dict | None = None,
    smoke: bool = False,
    output_dir: Path | None = None,
    timeout: int = 1800,
) -> NotebookRun:
    """Execute one notebook with papermill; never raises for a failing cell (see ``ok``)."""
    import papermill as pm

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
            progress_bar=False,
            execution_timeout=timeout,
            # the kernel's own log (e.g. ipykernel 7's "running over TCP without encryption"
            # for a kernel on 127.0.0.1) is noise here; cell output and errors go to the
            # executed notebook and PapermillExecutionError as before
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
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
) -> list[NotebookRun]:
    """Execute several notebooks in order with a progress bar; raise if any failed."""
    from tqdm.auto import tqdm

    notebooks = resolve_notebooks(list(names))
    declared = {notebook: parameter_names(notebook) for notebook in notebooks}
    check_parameters(parameters or {}, declared)
    runs = []
    bar = tqdm(notebooks, desc="notebooks", unit="nb", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(notebook.stem)
        # Pass each notebook only the parameters it declares (a key may be another's).
        own = {k: v for k, v in (parameters or {}).items() if k in declared[notebook]}
        runs.append(run_notebook(notebook, own, smoke=smoke, output_dir=output_dir))
    failed = [r for r in runs if not r.ok]
    if failed:
        raise NotebookFailed("; ".join(r.error for r in failed))
    return runs
