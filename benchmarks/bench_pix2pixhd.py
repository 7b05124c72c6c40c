"""pix2pixHD figures: CPU (or GPU) seconds per training step for the tiny and paper configs.

One step = a G update and a D update on a batch of 1 (the paper's batch size), random
tensors standing in for a pair. The tiny config runs at its 64² size; the paper config
(G1 + local enhancer, 3 discriminators) runs in its joint phase at 512² on a CPU (1024²
takes minutes per step there; ``S2E_BENCH_P2P_PAPER_SIZES=256,512,1024`` picks sizes)
and at 256², 512² and 1024² on a GPU. ``S2E_BENCH_THREADS`` sets torch's CPU threads
(default 1: on a shared CPU more threads mostly contend).
"""

from __future__ import annotations

import os
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
    finally:
        torch.set_num_threads(previous)
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
