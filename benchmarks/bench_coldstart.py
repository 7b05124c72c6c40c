"""Cold-start figures: a new process classifying one clip, and one doing the whole ``s2e run``,
each as a ratio to a bare ``python -c "import torch, dlib, numpy"`` measured in the same run.

Goals (issue 11): ``s2e ser predict`` on one clip ≤ 2.0× the baseline, ``s2e run`` ≤ 2.5×.
Each figure is the best of three runs (the least disturbed by other work on the machine).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3


def _best(args: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> dict:
    from benchmarks.bench_pipeline import _inputs
    from s2e_lib.ser import default_model_path

    if not default_model_path().exists():
        return {"skipped": "no speech emotion model"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio, face = _inputs(tmp)
        baseline = _best([sys.executable, "-c", "import torch, dlib, numpy"])
        predict = _best([sys.executable, "-m", "s2e_lib.cli", "ser", "predict", str(audio)])
        run_args = [sys.executable, "-m", "s2e_lib.cli", "run", "--audio", str(audio), "--face", str(face)]
        end_to_end = _best([*run_args, "--out-dir", str(tmp / "out"), "--overwrite"])
    return {
        "baseline_import_torch_dlib_numpy_seconds": round(baseline, 2),
        "ser_predict_cold_seconds": round(predict, 2),
        "ser_predict_cold_ratio": round(predict / baseline, 2),
        "ser_predict_cold_ratio_goal": 2.0,
        "run_cold_seconds": round(end_to_end, 2),
        "run_cold_ratio": round(end_to_end / baseline, 2),
        "run_cold_ratio_goal": 2.5,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
