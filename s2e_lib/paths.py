"""Where data, models and outputs live.

The project home is ``$S2E_HOME`` when set, else the repository root (the folder that
holds ``pyproject.toml`` above this package), else the current directory for an
installed (non-editable) package. Nothing else in the library hard-codes a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"


def _default_home() -> Path:
    env = os.environ.get("S2E_HOME")
    if env:
        return Path(env).expanduser().resolve()
    repo = PACKAGE_DIR.parent
    if (repo / "pyproject.toml").exists():
        return repo
    return Path.cwd().resolve()


@dataclass(frozen=True)
class ProjectPaths:
    """The project's folders, all derived from one ``home``.

    Attributes
    ----------
    home : Path
        Root of the workbook (``$S2E_HOME`` or the repository root).
    """

    home: Path

    @property
    def data(self) -> Path:
        """User data (MEAD, RAVDESS, prepared corpora). Never overwritten by the library."""
        return Path(os.environ.get("S2E_DATA", self.home / "data"))

    @property
    def sample(self) -> Path:
        """The generated offline sample corpus (MEAD layout)."""
        return self.data / "sample"

    @property
    def models(self) -> Path:
        """Trained checkpoints and downloaded third-party weights."""
        return Path(os.environ.get("S2E_MODELS", self.home / "models"))

    @property
    def outputs(self) -> Path:
        """Executed notebooks, figures and run records."""
        return Path(os.environ.get("S2E_OUTPUTS", self.home / "outputs"))

    @property
    def cache(self) -> Path:
        """Caches that can be rebuilt (SER features): ``$S2E_CACHE``; with ``$S2E_HOME`` set,
        ``<home>/outputs/cache``; else the user's cache folder (``platformdirs``:
        ``~/.cache/speech2expression`` on Linux), never inside a checkout or beside a
        model the user writes."""
        env = os.environ.get("S2E_CACHE")
        if env:
            return Path(env).expanduser()
        if os.environ.get("S2E_HOME"):
            return self.outputs / "cache"
        import platformdirs

        return Path(platformdirs.user_cache_dir("speech2expression", appauthor=False))

    @property
    def notebooks(self) -> Path:
        return self.home / "notebooks"

    @property
    def shared(self) -> Path:
        """The read-only ``../shared`` folder beside a development checkout (may not exist)."""
        return Path(os.environ.get("S2E_SHARED", self.home.parent / "shared"))

    @property
    def ials_pretrain(self) -> Path:
        """Default location of a user's IALS ``pretrain/`` folder."""
        return Path(os.environ.get("S2E_IALS_PRETRAIN", self.models / "ials" / "pretrain"))


def project_paths() -> ProjectPaths:
    """The paths for the current environment (re-reads ``S2E_*`` variables each call)."""
    return ProjectPaths(home=_default_home())
