"""Training under torchrun (DDP, gloo on this CPU): pix2pixHD and SER, resume across world sizes,
mixed precision's CUDA branches forced on the CPU, and the process-group helpers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from _pix2pixhd_tree import make_prepared_tree

from s2e_lib.cli import main
from s2e_lib.edit.pix2pixhd.build import build_dataset
from s2e_lib.edit.pix2pixhd.config import get_config
from s2e_lib.edit.pix2pixhd.dataset import StepBatchSampler
from s2e_lib.edit.pix2pixhd.train import Pix2PixHDTrainer, ShardedStepSampler, amp_settings
from s2e_lib.nn import distributed

LOSSES = ["G_GAN", "G_feat", "G_L1", "D_real", "D_fake", "L1"]


def torchrun(args: list[str], nproc: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node N -m s2e_lib.cli ARGS`` (gloo on a CPU)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    return subprocess.run(
        [*command, "-m", "s2e_lib.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def read_checkpoint(run) -> dict:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)


# --- fast: helpers, sharding, mixed precision ------------------------------------------------------


def test_launch_environment_and_devices(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.launch_environment() == (0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.launch_environment() == (3, 8, 1)
    assert distributed.process_device("cuda", 1, 8) == torch.device("cuda", 1)  # one GPU per process
    assert distributed.process_device("cuda:0", 1, 8) == torch.device("cuda", 0)  # explicit: kept
    assert distributed.process_device("cpu", 1, 8) == torch.device("cpu")
    assert distributed.process_device("cuda", 0, 1) == torch.device("cuda")
    assert distributed.backend_for(torch.device("cuda", 1)) == "nccl"
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    monkeypatch.setenv("RANK", "8")
    with pytest.raises(Exception, match="RANK=8, WORLD_SIZE=8"):
        distributed.launch_environment()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(Exception, match="RANK='x' is not an integer"):
        distributed.launch_environment()


def test_helpers_are_identities_in_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.distributed_session("cpu") as session:
        assert (session.rank, session.world_size, session.backend, session.is_main) == (0, 1, None, True)
        assert not torch.distributed.is_initialized()  # nothing started for one process
        values = torch.tensor([1.0, 2.0])
        assert distributed.all_reduce_mean(values) is values
        assert distributed.broadcast_object({"a": 1}) == {"a": 1}
        module = torch.nn.Linear(2, 2)
        assert distributed.wrap_ddp(module, session.device) is module


def test_shards_put_together_are_the_global_batch():
    sampler = StepBatchSampler(n=7, batch_size=4, start_step=0, end_step=5, seed=3, hflip=True)
    shards = [list(ShardedStepSampler(sampler, rank, 2)) for rank in range(2)]
    assert all(len(s) == 5 for s in shards)
    for step, batch in enumerate(sampler):
        assert shards[0][step] + shards[1][step] == batch
        assert len(shards[0][step]) == 2
    with pytest.raises(ValueError, match="not a multiple of 3"):
        ShardedStepSampler(sampler, 0, 3)


def test_amp_policy_picks_the_cuda_branches():
    bf16, fp16 = torch.bfloat16, torch.float16
    assert amp_settings("cuda", True, bf16_supported=True) == (True, bf16, False)
    assert amp_settings("cuda", True, bf16_supported=False) == (True, fp16, True)  # GradScaler
    assert amp_settings("cuda", False, bf16_supported=True)[0] is False
    assert amp_settings("cpu", True, bf16_supported=False)[0] is False  # CPU: full precision
    assert amp_settings("cpu", True, False, forced_dtype=fp16) == (True, fp16, True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_forced_autocast_on_cpu_trains(dtype):
    """The CUDA mixed-precision path (autocast, and GradScaler for float16), forced on the CPU."""
    config = get_config("tiny", size=8, ngf=8, n_blocks=1, ndf=8, num_d=1, hflip=False)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    y = torch.rand(2, 3, 8, 8) * 2 - 1
    full = Pix2PixHDTrainer(config, 3, "cpu")
    mixed = Pix2PixHDTrainer(config, 3, "cpu", amp_dtype=dtype)
    assert not full.use_amp and mixed.use_amp and mixed.amp_dtype == dtype
    assert mixed.scaler.is_enabled() == (dtype == torch.float16)
    with torch.autocast("cpu", dtype=mixed.amp_dtype, enabled=mixed.use_amp):
        assert mixed.generator(x).dtype == dtype  # the forward really runs in reduced precision
    before = {k: v.clone() for k, v in mixed.generator.state_dict().items()}
    a, b = full.step(x, y), mixed.step(x, y)
    assert all(np.isfinite(v) for v in b.values())
    assert a != b and abs(a["L1"] - b["L1"]) < 0.05  # reduced precision: close, not equal
    if dtype == torch.float16:
        # the scaler starts at 2**16: float16 gradients overflow, the step is skipped and the
        # scale backs off until updates go through (its state goes in the checkpoint)
        for _ in range(20):
            if max_difference(before, mixed.generator.state_dict()) > 0:
                break
            mixed.step(x, y)
        assert mixed.state_dict()["scaler"]["scale"] < 2.0**16
    assert max_difference(before, mixed.generator.state_dict()) > 0  # the update happened


# --- slow: torchrun with 2 processes ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp_pairs")
    make_prepared_tree(root / "prepared")
    build_dataset(
        root / "prepared",
        root / "pairs",
        condition="label",
        size=16,
        speakers=["M001"],
        progress=False,
    )
    return root / "pairs"


def p2p_args(pairs, out, *extra) -> list[str]:
    # 400 steps: the learning rate stays at 2e-4 over the steps trained here (decay starts at 200)
    common = ["--size", "16", "--batch-size", "2", "--steps", "400", "--log-every", "1", "--threads", "1"]
    return ["pix2pixhd", "train", "--data", str(pairs), "--out", str(out), *common, *extra]


@pytest.fixture(scope="module")
def runs(pairs, tmp_path_factory):
    """Stopped after step 3: one process and torchrun with 2 (global batch 2); and one process
    straight to step 6."""
    root = tmp_path_factory.mktemp("ddp_runs")
    previous = torch.get_num_threads()
    try:
        assert main(p2p_args(pairs, root / "one", "--stop-after", "3")) == 0
        assert main(p2p_args(pairs, root / "straight", "--stop-after", "6")) == 0
    finally:
        torch.set_num_threads(previous)
    two = torchrun(p2p_args(pairs, root / "two", "--stop-after", "3"))
    assert two.returncode == 0, two.stderr[-3000:]
    return pairs, root, two


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(runs):
    _, root, two = runs
    assert two.stdout.count("step 3 in") == 1  # only rank 0 reports
    one_state, two_state = read_checkpoint(root / "one"), read_checkpoint(root / "two")
    assert one_state["step"] == two_state["step"] == 3
    for key in ("G", "D"):
        assert max_difference(one_state[key], two_state[key]) < 1e-5, key
    later = read_checkpoint(root / "straight")  # step 6: the weights do move from step to step
    assert max_difference(one_state["G"], later["G"]) > 1e-4
    one_log = pd.read_csv(root / "one" / "losses.csv")
    two_log = pd.read_csv(root / "two" / "losses.csv")
    assert two_log["step"].tolist() == [1, 2, 3]  # one writer, one row per step
    np.testing.assert_allclose(two_log[LOSSES].to_numpy(), one_log[LOSSES].to_numpy(), rtol=1e-5, atol=1e-6)
    assert not list((root / "two").glob(".*.part*"))  # atomic writes left nothing behind
    assert (root / "two" / "generator.pt").is_file()
    assert '"processes": 2' in (root / "two" / "run.json").read_text()


@pytest.mark.slow
def test_resume_with_another_world_size_continues_the_loss_curve(runs, tmp_path):
    pairs, root, _ = runs
    straight = pd.read_csv(root / "straight" / "losses.csv")
    # stopped under torchrun with 2 processes, resumed as 1 process
    shutil.copytree(root / "two", tmp_path / "two_then_one")
    assert main(p2p_args(pairs, tmp_path / "two_then_one", "--resume", "--stop-after", "6")) == 0
    # stopped as 1 process, resumed under torchrun with 2 processes
    shutil.copytree(root / "one", tmp_path / "one_then_two")
    resumed = torchrun(p2p_args(pairs, tmp_path / "one_then_two", "--resume", "--stop-after", "6"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name in ("two_then_one", "one_then_two"):
        log = pd.read_csv(tmp_path / name / "losses.csv")
        assert log["step"].tolist() == list(range(1, 7)), name
        np.testing.assert_allclose(
            log[LOSSES].to_numpy(), straight[LOSSES].to_numpy(), rtol=1e-5, atol=1e-6, err_msg=name
        )
        state = read_checkpoint(tmp_path / name)
        assert state["step"] == 6
        assert max_difference(state["G"], read_checkpoint(root / "straight")["G"]) < 1e-5, name


@pytest.mark.slow
def test_resume_after_torchrun_is_killed(pairs, tmp_path):
    """SIGTERM to torchrun (what a scheduler's preemption sends) mid-run; the last checkpoint
    resumes and continues the uninterrupted run's loss curve (same world size: over tens of
    GAN steps, the 1e-7 rounding differences between world sizes grow past 1e-5)."""
    extra = ["--stop-after", "30"]
    straight = torchrun(p2p_args(pairs, tmp_path / "straight", *extra))
    assert straight.returncode == 0, straight.stderr[-3000:]
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += ["-m", "s2e_lib.cli", *p2p_args(pairs, run, *extra, "--checkpoint-every", "2")]
    with open(tmp_path / "torchrun.log", "w") as output:
        proc = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 240
            while not (run / "checkpoint.pt").is_file():
                assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the kill"
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode != 0
    killed_at = read_checkpoint(run)["step"]
    assert 2 <= killed_at < 30
    resumed_run = torchrun(p2p_args(pairs, run, "--resume", *extra))
    assert resumed_run.returncode == 0, resumed_run.stderr[-3000:]
    expected = pd.read_csv(tmp_path / "straight" / "losses.csv")
    resumed = pd.read_csv(run / "losses.csv")
    assert resumed["step"].tolist() == list(range(1, 31))  # rows after the checkpoint were redone
    np.testing.assert_allclose(resumed[LOSSES].to_numpy(), expected[LOSSES].to_numpy(), rtol=1e-6, atol=1e-7)
    final = read_checkpoint(run)
    assert final["step"] == 30
    assert max_difference(final["G"], read_checkpoint(tmp_path / "straight")["G"]) < 1e-6


@pytest.mark.slow
def test_global_batch_must_split_evenly(pairs, tmp_path):
    result = torchrun(p2p_args(pairs, tmp_path / "run", "--batch-size", "3", "--stop-after", "1"))
    assert result.returncode != 0
    assert "error: batch size 3 is the global batch and must be a multiple of the 2" in result.stderr
    assert "(pass --batch-size 4, or another multiple of 2)" in result.stderr
    assert "note:" not in result.stderr  # the batch the user gave is not changed
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def _train_command(monkeypatch, capsys, world: int, out, *extra) -> tuple[int, object, str]:
    """``s2e pix2pixhd train --config tiny`` as rank 0 of ``world`` torchrun processes, with
    training replaced by a stand-in: the exit code, the config train() got, stderr."""
    from pathlib import Path
    from types import SimpleNamespace

    import s2e_lib.edit.pix2pixhd.train as train_module

    got = {}

    def fake_train(data, out, config, **_kwargs):
        got["config"] = config
        return SimpleNamespace(
            vgg_note="", losses=pd.DataFrame(), step=0, run=Path(out), seconds_per_step=0.0
        )

    monkeypatch.setattr(distributed, "launch_environment", lambda: (0, world, 0))
    monkeypatch.setattr(train_module, "train", fake_train)
    code = main(["pix2pixhd", "train", "--data", "pairs", "--out", str(out), "--config", "tiny", *extra])
    return code, got.get("config"), capsys.readouterr().err


def test_the_presets_batch_is_raised_to_split_over_the_processes(monkeypatch, capsys, tmp_path):
    assert get_config("tiny").batch_size == 1
    code, config, err = _train_command(monkeypatch, capsys, 2, tmp_path / "run")
    assert code == 0 and config.batch_size == 2, err
    assert err.strip().splitlines() == [
        "note: --config tiny's global batch of 1 raised to 2, the smallest multiple of the "
        "2 torchrun processes (--batch-size sets another)"
    ]
    code, config, err = _train_command(monkeypatch, capsys, 3, tmp_path / "run")
    assert config.batch_size == 3 and "raised to 3" in err
    # one process, a --batch-size the user gave (train() refuses one that does not split), a
    # run being resumed (its recorded batch is used): unchanged, without a note
    for world, extra in [(1, ()), (2, ("--batch-size", "3")), (2, ("--batch-size", "4"))]:
        code, config, err = _train_command(monkeypatch, capsys, world, tmp_path / "run", *extra)
        assert config.batch_size == (int(extra[1]) if extra else 1) and "note" not in err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"")
    code, config, err = _train_command(monkeypatch, capsys, 2, tmp_path / "run", "--resume")
    assert config.batch_size == 1 and "note" not in err


@pytest.mark.slow
def test_torchrun_trains_the_tiny_preset_without_batch_size(pairs, tmp_path):
    """`torchrun --nproc_per_node 2 -m s2e_lib.cli pix2pixhd train --config tiny` (batch 1) ran
    only with --batch-size raised by hand."""
    run = tmp_path / "run"
    args = ["pix2pixhd", "train", "--data", str(pairs), "--out", str(run), "--config", "tiny"]
    result = torchrun([*args, "--size", "16", "--steps", "400", "--stop-after", "1", "--threads", "1"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("note: --config tiny's global batch of 1 raised to 2") == 1  # rank 0 only
    recorded = pd.read_json(run / "run.json", typ="series")
    assert recorded["processes"] == 2 and recorded["config"]["batch_size"] == 2 and recorded["step"] == 1
    assert (run / "generator.pt").is_file()


@pytest.mark.slow
def test_ser_train_under_torchrun_matches_one_process(tmp_path, s2e_home):
    """The linear recipe (no dropout, no BatchNorm, no augmentation) is exactly data-parallel."""
    from _ser_data import make_corpus

    from s2e_lib.paths import project_paths
    from s2e_lib.ser.checkpoint import read_checkpoint as read_ser

    corpus = make_corpus(tmp_path / "corpus", takes=1)
    args = ["ser", "train", "--data", str(corpus), "--model", "linear", "--epochs", "4", "--threads", "1"]
    two = torchrun([*args, "--out", str(tmp_path / "two.pt")])  # S2E_HOME: the feature cache in tmp
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count('"path"') == 1  # rank 0 reports
    cached = list((project_paths().outputs / "cache" / "features").rglob("*.npy"))
    assert len(cached) == 20  # the 2 processes filled the cache, each clip once
    assert main([*args, "--out", str(tmp_path / "one.pt")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pt" or p.name.startswith(".")) == [
        "one.pt",
        "two.pt",
    ]  # no work folder left behind
    one_state, two_state = read_ser(tmp_path / "one.pt"), read_ser(tmp_path / "two.pt")
    assert max_difference(one_state["state_dicts"][0], two_state["state_dicts"][0]) < 1e-5
    one_loss = [h["train_loss"] for h in one_state["history"][0]]
    two_loss = [h["train_loss"] for h in two_state["history"][0]]
    assert len(one_loss) == 4
    np.testing.assert_allclose(two_loss, one_loss, rtol=1e-5)


LOCAL_ENHANCER_SCRIPT = """
import sys

import torch

from s2e_lib.edit.pix2pixhd.config import get_config
from s2e_lib.edit.pix2pixhd.train import Pix2PixHDTrainer
from s2e_lib.nn.distributed import distributed_session


def run(session):  # like pix2pixhd.train: the trainer (and its DDP wrappers) ends with the run
    config = get_config(
        "tiny", size=16, ngf=8, ngf_local=4, n_downsampling=1, n_blocks=1, n_blocks_local=1,
        local_enhancer=True, ndf=8, num_d=1, batch_size=2,
    )
    trainer = Pix2PixHDTrainer(config, 3, session.device)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(6, 2, 3, 16, 16, generator=generator) * 2 - 1
    y = torch.rand(6, 2, 3, 16, 16, generator=generator) * 2 - 1
    share = 2 // session.world_size
    mine = slice(session.rank * share, (session.rank + 1) * share)
    for step, phase in enumerate(["global", "global", "local", "local", "joint", "joint"]):
        trainer.step(x[step, mine], y[step, mine], phase)
    if session.is_main:
        torch.save(trainer.generator.state_dict(), sys.argv[1])


torch.set_num_threads(1)
with distributed_session("cpu") as session:
    run(session)
"""


@pytest.mark.slow
def test_local_enhancer_phases_under_torchrun(tmp_path):
    """G's DDP wrapper is rebuilt per phase (G1 alone, G2 with G1 frozen, both): 2 processes
    end where one process does."""
    script = tmp_path / "phases.py"
    script.write_text(LOCAL_ENHANCER_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "one.pt")], env=env, timeout=300)
    assert one.returncode == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = subprocess.run([*command, str(script), str(tmp_path / "two.pt")], env=env, timeout=300)
    assert two.returncode == 0
    a = torch.load(tmp_path / "one.pt", weights_only=True)
    b = torch.load(tmp_path / "two.pt", weights_only=True)
    assert max_difference(a, b) < 1e-5
