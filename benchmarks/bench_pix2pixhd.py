"""pix2pixHD figures: CPU (or GPU) seconds per training step for the tiny and paper configs.

One step = a G update and a D update on a batch of 1 (the paper's batch size), random
tensors standing in for a pair. The tiny config runs at its 64² size; the paper config
(G1 + local enhancer, 3 discriminators) runs in its joint phase at 512² on a CPU (1024²
takes minutes per step there; ``S2E_BENCH_P2P_PAPER_SIZES=256,512,1024`` picks sizes)
and at 256², 512² and 1024² on a GPU. ``S2E_BENCH_THREADS`` sets torch's CPU threads
(default 1: on a shared CPU more threads mostly contend).

Data parallel: seconds per step of the tiny config on a global batch of
``S2E_BENCH_DDP_BATCH`` (default 4) pairs under ``torchrun --nproc_per_node 1`` and ``2``
(gloo, CPU, one thread per process; the best of 3 launches of 20 steps, as other jobs on a
shared machine only ever slow a run down), and their ratio (the speed-up; 2 would be perfect).
The same global batch either way, so this is strong scaling: each of 2 processes does half
the work per step and then all-reduces the gradients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import torch

from s2e_lib.edit.pix2pixhd.config import default_device, get_config
from s2e_lib.edit.pix2pixhd.model import count_parameters
from s2e_lib.edit.pix2pixhd.train import Pix2PixHDTrainer


def seconds_per_step(config, device, steps: int = 2, in_channels: int = 3) -> float:
    """Mean seconds of ``steps`` training steps after one warm-up step."""
    trainer = Pix2PixHDTrainer(config, in_channels, device)
    x = torch.rand(config.batch_size, in_channels, config.size, config.size) * 2 - 1
    y = torch.rand(config.batch_size, 3, config.size, config.size) * 2 - 1
    step_phase = "joint" if config.local_enhancer else "single"
    trainer.step(x, y, step_phase)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(x, y, step_phase)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def _ddp_worker(steps: int, batch: int) -> None:
    """Under torchrun: time ``steps`` tiny steps on this process's share of ``batch``."""
    from s2e_lib.nn.distributed import barrier, distributed_session

    torch.set_num_threads(1)
    with distributed_session("cpu") as session:
        config = get_config("tiny", batch_size=batch)
        trainer = Pix2PixHDTrainer(config, 3, session.device)
        generator = torch.Generator().manual_seed(session.rank)
        share = batch // session.world_size
        x = torch.rand(share, 3, config.size, config.size, generator=generator) * 2 - 1
        y = torch.rand(share, 3, config.size, config.size, generator=generator) * 2 - 1
        trainer.step(x, y)  # warm-up: DDP buckets, allocator
        barrier()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.step(x, y)
        barrier()
        seconds = (time.perf_counter() - start) / steps
        if session.is_main:
            print(json.dumps({"seconds_per_step": seconds, "processes": session.world_size}))


def ddp_seconds_per_step(processes: int, steps: int = 10, batch: int = 4) -> float:
    """Seconds per tiny step on a global batch of ``batch`` under torchrun with ``processes``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(processes),
    ]
    command += ["-m", "benchmarks.bench_pix2pixhd", "--ddp-worker", str(steps), str(batch)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode:
        raise RuntimeError(f"torchrun failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_step"])


def run() -> dict:
    device = default_device()
    threads = int(os.environ.get("S2E_BENCH_THREADS", "1"))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    figures: dict = {"device": str(device), "torch_threads": threads}
    try:
        tiny = get_config("tiny")
        figures["tiny_size_px"] = tiny.size
        figures["tiny_generator_params"] = count_parameters(Pix2PixHDTrainer(tiny, 3, "cpu").generator)
        figures[f"tiny_{tiny.size}px_seconds_per_step"] = round(seconds_per_step(tiny, device, steps=10), 4)
        default_sizes = "256,512,1024" if device.type == "cuda" else "512"
        sizes = [int(s) for s in os.environ.get("S2E_BENCH_P2P_PAPER_SIZES", default_sizes).split(",")]
        paper = get_config("paper")
        figures["paper_generator_params"] = count_parameters(Pix2PixHDTrainer(paper, 3, "cpu").generator)
        for size in sizes:
            config = get_config("paper", size=size)
            steps = 5 if device.type == "cuda" else 1
            figures[f"paper_{size}px_seconds_per_step"] = round(
                seconds_per_step(config, device, steps=steps), 3
            )
        batch = int(os.environ.get("S2E_BENCH_DDP_BATCH", "4"))
        figures["ddp_cpu_global_batch"] = batch
        one = min(ddp_seconds_per_step(1, steps=20, batch=batch) for _ in range(3))
        two = min(ddp_seconds_per_step(2, steps=20, batch=batch) for _ in range(3))
        figures["ddp_cpu_1proc_seconds_per_step"] = round(one, 4)
        figures["ddp_cpu_2proc_seconds_per_step"] = round(two, 4)
        figures["ddp_cpu_speedup_2_vs_1"] = round(one / two, 2)
        figures["cpu_cores"] = os.cpu_count()
    finally:
        torch.set_num_threads(previous)
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--ddp-worker":
        _ddp_worker(int(sys.argv[2]), int(sys.argv[3]))
    else:
        print(json.dumps(run(), indent=2))
