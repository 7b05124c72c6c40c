"""Speaker-held-out cross-validation of SER configurations on cached features (developer tool).

    .venv/bin/python tools/ser_experiments.py --data ../shared/data/ravdess16k \
        --name crnn --json '{"model": "crnn", "epochs": 40}'

Appends one JSON line per run to outputs/ser_experiments.jsonl (figures in docs/ser.md).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from s2e_lib.audio.features import FeatureConfig, extract_files
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.paths import project_paths
from s2e_lib.ser.dataset import scan_speech
from s2e_lib.ser.evaluate import cross_validate
from s2e_lib.ser.train import DEFAULT_FEATURES, TrainConfig, labels_of


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(project_paths().shared / "data" / "ravdess16k"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--json", default="{}", help="TrainConfig fields")
    parser.add_argument("--features", default="{}", help="FeatureConfig fields")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = TrainConfig(**json.loads(args.json))
    feature_config = FeatureConfig(**{"kind": DEFAULT_FEATURES[config.model], **json.loads(args.features)})
    df = scan_speech(args.data)
    features = extract_files(df["audio_path"], feature_config, progress=False)
    genders = dict(zip(df["speaker"], df["gender"], strict=False))
    augmented = {
        s: extract_files(df["audio_path"], feature_config, progress=False, speed=s) for s in config.speeds
    }
    start = time.perf_counter()
    result = cross_validate(
        features,
        labels_of(df["emotion"]),
        df["speaker"],
        genders,
        len(MISSION_EMOTIONS),
        config,
        feature_config,
        args.folds,
        log=lambda line: print(line, flush=True),
        augmented=augmented,
    )
    record = {
        "name": args.name,
        "config": config.to_dict(),
        "features": feature_config.to_dict(),
        "accuracy": round(result["accuracy"], 4),
        "balanced_accuracy": round(result["balanced_accuracy"], 4),
        "folds": [round(f["accuracy"], 3) for f in result["folds"]],
        "train_seconds_per_model": round(result["train_seconds"], 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "confusion": result["confusion"],
    }
    out = project_paths().outputs / "ser_experiments.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    np.save(project_paths().outputs / f"ser_cv_probs_{args.name}.npy", result["probabilities"])
    print(
        json.dumps(
            {
                k: record[k]
                for k in (
                    "name",
                    "accuracy",
                    "balanced_accuracy",
                    "folds",
                    "train_seconds_per_model",
                    "wall_seconds",
                )
            }
        )
    )


if __name__ == "__main__":
    main()
