"""Shared fixtures: paths to ../shared (skipping when absent) and an isolated S2E_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("S2E_SHARED", REPO.parent / "shared"))

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it skip when it is absent (a user's fresh clone)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is absent")
    return path


@pytest.fixture()
def s2e_home(tmp_path, monkeypatch) -> Path:
    """A throwaway project home so tests never touch the real data/ or outputs/."""
    monkeypatch.setenv("S2E_HOME", str(tmp_path))
    for var in ("S2E_DATA", "S2E_MODELS", "S2E_OUTPUTS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path
