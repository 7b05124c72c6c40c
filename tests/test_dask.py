"""The data stage on a dask.distributed cluster: prepare and feature extraction equal the local run.

The cluster tests start a ``LocalCluster`` of 2 worker processes (one thread each), as a
real cluster would run them: separate processes reading and writing the same filesystem.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from _data_trees import copy_tree, tiny_mead, tree_state  # noqa: F401 (fixture)

from s2e_lib import parallel
from s2e_lib.audio import FeatureConfig, extract_files
from s2e_lib.cli import main as s2e
from s2e_lib.data.prepare import prepare
from s2e_lib.errors import InputError

distributed = pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def _no_scheduler_from_the_environment(monkeypatch):
    monkeypatch.delenv(parallel.SCHEDULER_ENV, raising=False)


@pytest.fixture(scope="module")
def dask_executor():
    """A 2-process LocalCluster for this module, closed at its end."""
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    )
    executor = parallel.DaskExecutor(distributed.Client(cluster), cluster)
    try:
        yield executor
    finally:
        executor.shutdown()


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> content)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the executor layer (no cluster) ----------------------------------------------------


def test_resolve_scheduler_reads_the_environment(monkeypatch):
    assert parallel.resolve_scheduler(None) is None
    monkeypatch.setenv(parallel.SCHEDULER_ENV, " tcp://10.0.0.1:8786 ")
    assert parallel.resolve_scheduler(None) == "tcp://10.0.0.1:8786"
    assert parallel.resolve_scheduler("local:3") == "local:3"
    assert parallel.resolve_scheduler("") is None and parallel.resolve_scheduler("none") is None
    assert isinstance(parallel.make_executor(""), parallel.InlineExecutor)
    with pytest.raises(InputError, match="positive number of workers"):
        parallel.make_executor("local:0")
    monkeypatch.setenv(parallel.CONNECT_TIMEOUT_ENV, "soon")
    with pytest.raises(InputError, match="S2E_DASK_CONNECT_TIMEOUT"):
        parallel.connect_timeout()


def _square_or_fail(x: int) -> int:
    if x == 13:
        raise ValueError("thirteen")
    time.sleep(0.01)
    return x * x


@pytest.mark.parametrize("jobs", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_run_ordered_keeps_order_and_raises_the_first_error(jobs):
    executor = parallel.make_executor("", jobs=jobs)
    try:
        calls = [(x,) for x in range(12)]
        assert parallel.run_ordered(executor, _square_or_fail, calls, progress=False, max_in_flight=3) == [
            x * x for x in range(12)
        ]
        with pytest.raises(ValueError, match="thirteen"):
            parallel.run_ordered(executor, _square_or_fail, [(x,) for x in range(20)], progress=False)
    finally:
        executor.shutdown()
    # the local pool is joblib's own: joblib.Parallel still works after it, and it after that
    from joblib import Parallel, delayed

    assert Parallel(n_jobs=jobs)(delayed(_square_or_fail)(x) for x in range(3)) == [0, 1, 4]
    again = parallel.make_executor("", jobs=jobs)
    assert parallel.run_ordered(again, _square_or_fail, [(5,)], progress=False) == [25]


class CountingExecutor(parallel.InlineExecutor):
    """Runs calls in this process and counts them."""

    def __init__(self):
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


def test_finished_work_is_not_sent_to_the_executor(tiny_mead, tmp_path):  # noqa: F811
    options = {"speakers": "W001", "video": False, "progress": False}
    first = CountingExecutor()
    assert prepare(tiny_mead, tmp_path / "p", executor=first, **options).prepared == 10
    assert first.calls == 10
    resumed = CountingExecutor()
    assert prepare(tiny_mead, tmp_path / "p", executor=resumed, **options).skipped == 10
    assert resumed.calls == 0  # the client found every take finished
    next((tmp_path / "p" / "audio").rglob("*.wav")).unlink()
    redo = CountingExecutor()
    result = prepare(tiny_mead, tmp_path / "p", executor=redo, **options)
    assert (result.prepared, result.skipped, redo.calls) == (1, 9, 1)

    # feature extraction: cached clips are read by the client
    paths = sorted(str(p) for p in tmp_path.glob("p/audio/W001/*/level_*/*.wav"))
    config, cache = FeatureConfig(kind="stats"), tmp_path / "cache"
    filled = CountingExecutor()
    features = extract_files(paths, config, cache_dir=cache, progress=False, executor=filled)
    assert filled.calls == 10
    cached = CountingExecutor()
    again = extract_files(paths, config, cache_dir=cache, progress=False, executor=cached)
    assert cached.calls == 0 and all(np.array_equal(a, b) for a, b in zip(features, again, strict=True))
    next(cache.rglob("*.npy")).write_bytes(b"damaged")
    one = CountingExecutor()
    extract_files(paths, config, cache_dir=cache, progress=False, executor=one)
    assert one.calls == 1


def test_unreachable_scheduler_is_a_one_line_error_before_any_work(tiny_mead, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv(parallel.CONNECT_TIMEOUT_ENV, "1")
    out = tmp_path / "prepared"
    address = f"tcp://127.0.0.1:{closed_port()}"
    start = time.perf_counter()
    code = s2e(["prepare", "mead", "--root", str(tiny_mead), "--out", str(out), "--scheduler", address])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: dask scheduler " + address), err
    assert "cannot connect" in lines[0]
    assert not out.exists()  # nothing was written
    assert elapsed < 8
    # the environment variable is read as well
    monkeypatch.setenv(parallel.SCHEDULER_ENV, address)
    assert s2e(["prepare", "mead", "--root", str(tiny_mead), "--out", str(out)]) == 2
    assert "cannot connect" in capsys.readouterr().err and not out.exists()


# --- on a LocalCluster of 2 worker processes -------------------------------------------------


@pytest.mark.slow
def test_prepare_on_dask_is_byte_identical_to_local_and_resumes(tiny_mead, tmp_path, dask_executor):  # noqa: F811
    options = {"frame_step": 4, "progress": False}
    local = prepare(tiny_mead, tmp_path / "local", jobs=1, **options)
    with distributed.get_task_stream(dask_executor.client) as stream:
        remote = prepare(tiny_mead, tmp_path / "dask", executor=dask_executor, **options)
    assert (remote.prepared, remote.skipped, remote.failed) == (20, 0, 0)
    assert len({task["worker"] for task in stream.data}) == 2  # both worker processes took takes
    expected = tree_bytes(tmp_path / "local")
    assert "manifest.csv" in expected and any(name.endswith(".wav") for name in expected)
    assert any(name.endswith(".png") for name in expected)
    assert tree_bytes(tmp_path / "dask") == expected  # manifests, audio, frames, records
    assert (len(remote.frames), len(remote.problems)) == (len(local.frames), 0)

    # resumable on the cluster: the second run skips every take and rewrites no output
    state = tree_state(tmp_path / "dask" / "audio")
    again = prepare(tiny_mead, tmp_path / "dask", executor=dask_executor, **options)
    assert (again.prepared, again.skipped, again.failed) == (0, 20, 0)
    assert tree_state(tmp_path / "dask" / "audio") == state
    assert tree_bytes(tmp_path / "dask") == expected


@pytest.mark.slow
def test_prepare_on_dask_lists_problems_like_local(tiny_mead, tmp_path, dask_executor):  # noqa: F811
    root = copy_tree(tiny_mead, tmp_path / "MEAD")
    (root / "M001/audio/angry/level_3/002.m4a").write_bytes(b"not audio at all" * 50)
    options = {"video": False, "speakers": "M001", "progress": False}
    local = prepare(root, tmp_path / "local", **options)
    remote = prepare(root, tmp_path / "dask", executor=dask_executor, **options)
    assert (remote.prepared, remote.failed) == (local.prepared, local.failed) == (9, 1)
    assert (tmp_path / "dask/problems.csv").read_bytes() == (tmp_path / "local/problems.csv").read_bytes()
    assert "not a readable audio file" in (tmp_path / "dask/problems.csv").read_text()


@pytest.mark.slow
def test_prepare_refuses_workers_that_do_not_see_the_output(tiny_mead, tmp_path, dask_executor, monkeypatch):  # noqa: F811
    probe_sizes = parallel.DaskExecutor.check_shared

    # the real check on the real workers: same filesystem, nothing reported; a wrong size is
    seen = probe_sizes(dask_executor, {str(tiny_mead / "sample_info.json"): -1})
    assert len(seen) == 2 and all(paths == [str(tiny_mead / "sample_info.json")] for paths in seen.values())

    def unshared_output(self, files):
        return {"tcp://10.1.2.3:40000": [p for p in files if ".s2e-probe-" in p]}

    monkeypatch.setattr(parallel.DaskExecutor, "check_shared", unshared_output)
    out = tmp_path / "new" / "prepared"
    with pytest.raises(InputError, match=r"not visible from dask worker tcp://10\.1\.2\.3:40000") as info:
        prepare(tiny_mead, out, executor=dask_executor, progress=False)
    assert str(out) in str(info.value) and "same path" in str(info.value)
    assert not out.parent.exists()  # the folders it had created are gone again


@pytest.mark.slow
def test_extract_files_on_dask_equals_local(tiny_mead, tmp_path, dask_executor):  # noqa: F811
    from threadpoolctl import threadpool_limits

    paths = sorted(str(p) for p in tiny_mead.glob("*/audio/*/level_*/*.m4a"))[:10]
    config = FeatureConfig(kind="stats")
    remote = extract_files(paths, config, cache_dir=False, progress=False, executor=dask_executor)
    # Dask workers run BLAS on one thread (distributed's nanny.pre-spawn-environ): with the
    # same limit here the features are bit for bit the same...
    with threadpool_limits(1):
        local = extract_files(paths, config, cache_dir=False, progress=False)
    assert len(remote) == len(local) == 10
    for a, b in zip(local, remote, strict=True):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)
    # ...and with this process's default BLAS threads only the summation order differs
    default = extract_files(paths, config, cache_dir=False, progress=False)
    for a, b in zip(default, remote, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # the workers fill the (shared) cache; a local run then reads their arrays from it
    cache = tmp_path / "cache"
    extract_files(paths, config, cache_dir=cache, progress=False, executor=dask_executor)
    assert len(list(cache.rglob("*.npy"))) == 10
    cached = extract_files(paths, config, cache_dir=cache, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(remote, cached, strict=True))


@pytest.mark.slow
def test_cli_prepare_with_a_local_cluster_from_the_environment(tiny_mead, tmp_path, monkeypatch, capsys):  # noqa: F811
    options = ["--speakers", "W001", "--no-video"]
    assert s2e(["prepare", "mead", "--root", str(tiny_mead), "--out", str(tmp_path / "local"), *options]) == 0
    monkeypatch.setenv(parallel.SCHEDULER_ENV, "local:2")
    out = tmp_path / "dask"
    assert s2e(["prepare", "mead", "--root", str(tiny_mead), "--out", str(out), *options]) == 0
    assert "prepared 10, skipped 0" in capsys.readouterr().out
    assert tree_bytes(out) == tree_bytes(tmp_path / "local")
    # --scheduler none overrides the variable: local again, and every take is skipped as done
    assert (
        s2e(["prepare", "mead", "--root", str(tiny_mead), "--out", str(out), *options, "--scheduler", "none"])
        == 0
    )
    assert "prepared 0, skipped 10" in capsys.readouterr().out
    assert os.environ[parallel.SCHEDULER_ENV] == "local:2"
