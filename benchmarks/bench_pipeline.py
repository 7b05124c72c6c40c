"""End-to-end figures of ``s2e run`` on a 1024-px photo: warm (models loaded, in-process) and
cold (a new process) seconds, per-stage seconds, and peak RSS.

Goals on the 2-core development machine: warm < 1 s, cold < 6 s, peak RSS < 1.5 GB.
"""

from __future__ import annotations

import resource
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
    from s2e_lib.data.sample import make_speakers, synthesize

    face = folder / "astronaut_1024.png"
    Image.fromarray(cv2.resize(skimage.data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)).save(
        face
    )
    audio = folder / "voice.wav"
    write_wav(audio, np.asarray(synthesize(make_speakers(2)[0], "angry", 3, utterance=1, seed=0)))
    return audio, face


def run() -> dict:
    from s2e_lib.pipeline.run import Pipeline, RunConfig

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audio, face = _inputs(tmp)
        start = time.perf_counter()
        pipeline = Pipeline(RunConfig(overwrite=True)).warm_up()
        load_s = time.perf_counter() - start
        warm, stages = [], []
        for i in range(3):
            start = time.perf_counter()
            result = pipeline.run_pair(audio, face, tmp / f"warm{i}")
            warm.append(time.perf_counter() - start)
            stages.append(result["seconds"])
        median_stage = {k: round(statistics.median(s[k] for s in stages), 3) for k in stages[0]}

        cold = []
        for i in range(2):
            start = time.perf_counter()
            subprocess.run(
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
                ],
                check=True,
                capture_output=True,
            )
            cold.append(time.perf_counter() - start)
        children_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "photo_px": 1024,
        "models_load_seconds": round(load_s, 2),
        "warm_end_to_end_seconds": round(statistics.median(warm), 3),
        "warm_stage_seconds": median_stage,
        "cold_end_to_end_seconds": round(min(cold), 2),
        "cold_peak_rss_mb": round(children_peak_mb, 1),
        "warm_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
