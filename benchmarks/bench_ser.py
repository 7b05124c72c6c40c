"""Speech emotion figures: feature extraction speed (× real time), inference ms per clip, training time.

Runs on generated audio (no data needed); with ``../shared/data/ravdess16k`` present it also
times real clips. Training time is one member of the shipped recipe on 400 synthetic clips'
features, so the figure is comparable across machines.
"""

from __future__ import annotations

import time

import numpy as np

SR = 16_000


def _clip(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 * (1 + 0.2 * np.sin(2 * np.pi * 0.7 * t))
    y = sum(np.sin(2 * np.pi * h * np.cumsum(f0) / SR) / h for h in range(1, 10))
    y = 0.2 * y * (1 + 0.5 * np.sin(2 * np.pi * 4 * t)) + 0.005 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def run() -> dict:
    import torch

    from s2e_lib.audio.features import FeatureConfig, extract
    from s2e_lib.ser import default_model_path, load_model
    from s2e_lib.ser.recipes import recipe
    from s2e_lib.ser.train import TrainConfig, fit

    torch.set_num_threads(1)
    clips = [_clip(3.5, k) for k in range(12)]
    seconds = sum(c.size for c in clips) / SR
    figures: dict = {"clip_seconds": 3.5}
    for kind, version in (("original", 1), ("stats", 1), ("stats", 2), ("stats+egemaps", 2), ("logmel", 2)):
        config = FeatureConfig(kind=kind, version=version)
        extract(clips[0], SR, config)  # warm-up (librosa/numba first-call costs)
        start = time.perf_counter()
        for c in clips:
            extract(c, SR, config)
        figures[f"features_{kind}_v{version}_x_realtime"] = round(seconds / (time.perf_counter() - start), 1)

    path = default_model_path()
    if path.exists():
        model = load_model(path, device="cpu")
        model.predict_proba(clips[0], SR)
        start = time.perf_counter()
        for c in clips:
            model.predict_proba(c, SR)
        figures["default_model_ms_per_clip"] = round(1000 * (time.perf_counter() - start) / len(clips), 1)
        long = np.concatenate(clips[:9])  # 31.5 s, windowed
        start = time.perf_counter()
        model.predict_proba(long, SR)
        figures["default_model_ms_per_30s_recording"] = round(1000 * (time.perf_counter() - start), 1)
        figures["default_model_file_mb"] = round(path.stat().st_size / 1e6, 2)
    else:
        figures["default_model"] = "absent"

    config, feature_config = recipe("mlp")
    rng = np.random.default_rng(0)
    dim = len(extract(clips[0], SR, feature_config))
    centres = rng.normal(0, 1, size=(5, dim))
    y = rng.integers(0, 5, size=400)
    feats = [(centres[k] + rng.normal(0, 2, size=dim)).astype(np.float32) for k in y]
    member = TrainConfig(**{**config.to_dict(), "n_models": 1, "patience": config.epochs})
    start = time.perf_counter()
    fit(feats[:320], y[:320], feats[320:], y[320:], 5, member, progress=False, device="cpu")
    figures["train_mlp_member_400clips_seconds"] = round(time.perf_counter() - start, 1)
    figures["train_mlp_epochs"] = member.epochs
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
