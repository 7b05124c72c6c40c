"""A fresh git clone of some notebooks as they are in this working tree (shared by the
workbook git test and the JupyterLab browser test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> str:
    """``git *args`` in ``repo``; its stdout (raises on failure)."""
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def notebook_checkout(base: Path, names: list[str]) -> Path:
    """A fresh clone of notebooks ``names`` (their .ipynb/.py pairs, with .gitattributes,
    .gitignore and notebooks/jupytext.toml) as they are in this working tree, with the git
    filter ``make install`` sets up; ``git status`` in it is clean."""
    from s2e_lib.workbook import install_git_filter

    origin = base / "origin"
    (origin / "notebooks").mkdir(parents=True)
    for name in (".gitattributes", ".gitignore"):
        shutil.copy2(REPO / name, origin / name)
    shutil.copy2(REPO / "notebooks" / "jupytext.toml", origin / "notebooks")
    for name in names:
        for suffix in (".ipynb", ".py"):
            shutil.copy2(REPO / "notebooks" / f"{name}{suffix}", origin / "notebooks")
    git(origin, "init", "-q")
    install_git_filter(origin)
    git(origin, "add", "-A")
    git(origin, "-c", "user.name=test", "-c", "user.email=test@example.org", "commit", "-qm", "notebooks")
    clone = base / "clone"
    git(base, "clone", "-q", str(origin), str(clone))
    assert install_git_filter(clone), "a fresh clone has no filter yet: install_git_filter sets it"
    assert git(clone, "status", "--porcelain") == ""
    return clone
