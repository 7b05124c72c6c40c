"""Leave-one-corpus-out comparison of SER recipes on the shared corpora (developer tool).

    .venv/bin/python tools/ser_loco.py --name mlp-aug3 --json '{"model": "mlp", "augment_copies": 3}'

Trains on RAVDESS, ASED, nEMO and EMOVO with one corpus held out in turn, scores TurEV as a
test-only corpus (its licence allows evaluation, not a shipped model), fits the calibration
temperature on the held-out corpora, and appends one JSON line per run to
outputs/ser_loco.jsonl (figures in docs/ser.md); ``--report DIR`` also writes report.json /
report.md / confusion.png there (the report `s2e ser calibrate` reads).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from s2e_lib.audio.features import FeatureConfig
from s2e_lib.paths import project_paths
from s2e_lib.ser.crosscorpus import cross_corpus_report, load_corpora, loco_markdown, write_report
from s2e_lib.ser.recipes import recipe

CORPORA = {
    "ravdess": "ravdess16k",
    "ased": "ased16k/manifest.csv",
    "nemo": "nemo16k/manifest.csv",
    "emovo": "emovo16k/manifest.csv",
    "turev": "turev16k/manifest.csv",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(project_paths().shared / "data"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--json", default="{}", help="TrainConfig fields over the model's recipe")
    parser.add_argument("--features", default="{}", help="FeatureConfig fields")
    parser.add_argument("--test-only", default="turev")
    parser.add_argument("--within", action="store_true")
    parser.add_argument("--robustness", action="store_true")
    parser.add_argument(
        "--conditions", default=None, help="with --robustness: comma-separated conditions (default: all)"
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", default=None, help="also write the report files into this new folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, feature_config = recipe(args.model)
    for key, value in json.loads(args.json).items():
        setattr(config, key, value)
    feature_config = FeatureConfig(**{**feature_config.to_dict(), **json.loads(args.features)})
    test_only = [c for c in args.test_only.split(",") if c]
    sources = [f"{args.shared}/{path}" for path in CORPORA.values()]
    start = time.perf_counter()
    data = load_corpora(sources, feature_config, config, n_jobs=args.jobs, progress=False)
    extract_s = time.perf_counter() - start
    report = cross_corpus_report(
        data,
        config,
        feature_config,
        test_only=test_only,
        within=args.within,
        robustness=args.robustness,
        robustness_conditions=args.conditions.split(",") if args.conditions else None,
        n_jobs=args.jobs,
        log=lambda line: print(line, flush=True),
    )
    report.update({"name": args.name, "extract_seconds": round(extract_s, 1)})
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    out = project_paths().outputs / "ser_loco.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write(json.dumps(report, default=float) + "\n")
    if args.report:
        write_report(report, args.report)
    print(loco_markdown(report))
    print(json.dumps({"name": args.name, **report["selection"], "wall_seconds": report["wall_seconds"]}))


if __name__ == "__main__":
    main()
