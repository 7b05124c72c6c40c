"""End-to-end figures of ``s2e run`` on a 1024-px photo: warm (models loaded, in-process) and
cold (a new process) seconds, per-stage seconds, and peak RSS of each process.

Goals on the 2-core development machine: warm < 1 s, cold < 6 s, peak RSS < 1.5 GB.
Both measurements run in their own child process, so other benchmarks sharing the
``make bench`` process do not inflate the memory figures.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _inputs(folder: Path) -> tuple[Path, Path]:
    import cv2
    import numpy as np
    import skimage.data
    from PIL import Image

    from s2e_lib.audio import write_wav
    from s2e_lib.sample import make_speakers, synthesize

    face = folder / "astronaut_1024.png"
    Image.fromarray(cv2.resize(skimage.data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)).save(
        face
    )
    audio = folder / "voice.wav"
    write_wav(audio, np.asarray(synthesize(make_speakers(2)[0], "angry", 3, utterance=1, seed=0)))
    return audio, face


def _run_child(args: list[str]) -> tuple[float, float, str]:
    """Run a child process; returns (wall seconds, its own peak RSS in MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[2:5]} exited {proc.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, stdout


def warm_child(audio: str, face: str, out: str) -> None:
    """In a fresh process: load models once, then time three pairs; print JSON."""
    from s2e_lib.pipeline.run import Pipeline, RunConfig

    start = time.perf_counter()
    pipeline = Pipeline(RunConfig(overwrite=True)).warm_up()
    load_s = time.perf_counter() - start
    warm, stages = [], []
    for i in range(3):
        start = time.perf_counter()
        result = pipeline.run_pair(audio, face, Path(out) / f"warm{i}")
        warm.append(time.perf_counter() - start)
        stages.append(result["seconds"])
    print(json.dumps({"load": load_s, "warm": warm, "stages": stages}))


def run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio, face = _inputs(tmp)
        _, warm_rss, stdout = _run_child(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_pipeline",
                "--warm-child",
                str(audio),
                str(face),
                str(tmp),
            ]
        )
        warm = json.loads(stdout.strip().splitlines()[-1])
        median_stage = {
            k: round(statistics.median(s[k] for s in warm["stages"]), 3) for k in warm["stages"][0]
        }
        cold, cold_rss = [], []
        for i in range(2):
            seconds, rss, _ = _run_child(
                [
                    sys.executable,
                    "-m",
                    "s2e_lib.cli",
                    "run",
                    "--audio",
                    str(audio),
                    "--face",
                    str(face),
                    "--out-dir",
                    str(tmp / f"cold{i}"),
                ]
            )
            cold.append(seconds)
            cold_rss.append(rss)
    return {
        "photo_px": 1024,
        "models_load_seconds": round(warm["load"], 2),
        "warm_end_to_end_seconds": round(statistics.median(warm["warm"]), 3),
        "warm_stage_seconds": median_stage,
        "warm_process_peak_rss_mb": round(warm_rss, 1),
        "cold_end_to_end_seconds": round(min(cold), 2),
        "cold_peak_rss_mb": round(max(cold_rss), 1),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--warm-child"]:
        warm_child(*sys.argv[2:5])
    else:
        print(json.dumps(run()))
