"""IALS figures: seconds per FFHQ-1024 generator forward and per inversion step.

The generator has IALS's FFHQ-1024 architecture with random weights (timing does not
depend on the values). One inversion step = synthesis + pixel loss + VGG-16 features
(relu1_1, relu1_2, pool2, relu4_2) at 256² + backward + Adam update, as in
:func:`s2e_lib.edit.ials.invert`. Runs on CUDA when available (also reported), else CPU
with at most 2 threads.
"""

from __future__ import annotations

import time

import torch


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def run(repeats: int = 1) -> dict:
    from s2e_lib.edit.ials.invert import InversionConfig, _vgg_input, inversion_loss
    from s2e_lib.edit.ials.pretrain import INVERSION_VGG_LAYERS
    from s2e_lib.edit.ials.stylegan1 import Generator, StyleGANConfig
    from s2e_lib.nn.vgg import VGGFeatures

    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(min(2, threads))
    try:
        torch.manual_seed(0)
        g = Generator(StyleGANConfig.ffhq1024()).eval().requires_grad_(False).to(device)
        vgg = VGGFeatures("vgg16", INVERSION_VGG_LAYERS).eval().to(device)
        w = g.broadcast(g.mapping(torch.randn(1, 512, device=device)))[0].detach()
        target = torch.rand(1, 3, 1024, 1024, device=device) * 2 - 1
        config = InversionConfig()
        with torch.no_grad():
            target_features = vgg(_vgg_input(target, config.vgg_size))

        def sync():
            if device == "cuda":
                torch.cuda.synchronize()

        def forward():
            with torch.no_grad():
                g.synthesis(w[None])
            sync()

        wplus = w.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([wplus], lr=config.lr)

        def inversion_step():
            total, _, _ = inversion_loss(g.synthesis(wplus[None]), target, vgg, target_features, config)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            sync()

        prefix = "gpu" if device == "cuda" else "cpu"
        return {
            "device": torch.cuda.get_device_name()
            if device == "cuda"
            else f"cpu x{torch.get_num_threads()} threads",
            f"{prefix}_seconds_per_1024_forward": round(_time(forward, repeats), 3),
            f"{prefix}_seconds_per_inversion_step": round(_time(inversion_step, repeats), 3),
            "generator_parameters_millions": round(sum(p.numel() for p in g.parameters()) / 1e6, 2),
        }
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    print(run())
