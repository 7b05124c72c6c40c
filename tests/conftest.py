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


@pytest.fixture(scope="session")
def sample_corpus(request, tmp_path_factory) -> Path:
    """The default synthetic sample corpus (MEAD layout, m4a + front mp4), made once.

    Kept in pytest's cache keyed by a hash of the generator (and warp editor) sources,
    so later sessions reuse it until that code changes. Treat it as read-only.
    """
    import hashlib

    from s2e_lib import sample as sample_module

    sources = [
        *sorted(Path(sample_module.__file__).parent.glob("*.py")),
        *sorted((REPO / "s2e_lib" / "edit" / "warp").glob("*.py")),
    ]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources if p.is_file())).hexdigest()[:16]
    try:
        folder = Path(request.config.cache.mkdir(f"s2e_sample_{digest}"))
    except Exception:  # no cache provider (-p no:cacheprovider)
        folder = tmp_path_factory.mktemp("s2e_sample")
    corpus = folder / "sample"
    return sample_module.ensure_sample_corpus(corpus)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests train and run small models: one torch thread is fastest on a shared 2-core
    machine (two threads were measured up to 30× slower under contention)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_dask_scheduler_from_the_shell(monkeypatch):
    """A developer's ``S2E_DASK_SCHEDULER`` must not send every test's work to their cluster."""
    monkeypatch.delenv("S2E_DASK_SCHEDULER", raising=False)
