"""End-to-end figures of ``s2e run`` on a 1024-px photo: warm (models loaded, in-process) and
cold (a new process) seconds, per-stage seconds, and peak RSS of each process; and
``s2e run --timeline`` on generated 15 s and 60 s recordings against a cold single
``s2e run`` measured in the same benchmark.

Goals on the 2-core development machine: warm < 1 s, cold < 6 s, peak RSS < 1.5 GB; a
60 s timeline in at most 4x a cold single run, its peak memory flat in the length.
Every measurement runs in its own child process, so other benchmarks sharing the
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


def _speech(path: Path, seconds: float) -> Path:
    """``seconds`` of generated speech (one sample speaker's five emotions, repeated)."""
    import numpy as np

    from s2e_lib.audio import write_wav
    from s2e_lib.sample import make_speakers, synthesize

    speaker = make_speakers(2)[0]
    block = np.concatenate(
        [
            piece
            for i, emotion in enumerate(["angry", "neutral", "happy", "sad", "fear"])
            for piece in (synthesize(speaker, emotion, 3, utterance=i, seed=0), np.zeros(3200, np.float32))
        ]
    )
    return write_wav(path, np.resize(block, int(seconds * 16000)).astype(np.float32))


def _cli_child(args: list[str], folder: Path) -> tuple[float, float, float]:
    """``s2e ARGS`` in a new process: (wall seconds, CPU seconds, that process's own peak
    RSS in MB). CPU seconds (user + system, every thread) are less disturbed than wall
    seconds by other work on a shared machine.

    The child reports its ``VmHWM`` at exit (``ru_maxrss`` could carry the RSS of the
    forked copy of this process before ``exec``)."""
    report = folder / f"vmhwm_{time.monotonic_ns()}"
    code = (
        "import atexit, resource, sys\n"
        "def _report():\n"
        "    with open('/proc/self/status') as fh:\n"
        "        line = next(l for l in fh if l.startswith('VmHWM'))\n"
        "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
        f"    open({str(report)!r}, 'w').write(line.split()[1] + ' ' + str(usage.ru_utime + usage.ru_stime))\n"
        "atexit.register(_report)\n"
        "from s2e_lib.cli import main\n"
        f"sys.exit(main({list(map(str, args))!r}))\n"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"s2e {' '.join(args[:2])} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    peak_kb, cpu = report.read_text().split()
    return seconds, float(cpu), float(peak_kb) / 1024


def timeline_figures(folder: Path, face: Path, single_audio: Path) -> dict:
    """A 60 s and a 15 s ``s2e run --timeline`` (MP4 only, then 60 s with ``--gif``) and a
    cold single ``s2e run`` (best of two), all cold processes of this benchmark."""
    single = [
        _cli_child(
            ["run", "--audio", single_audio, "--face", face, "--out-dir", folder / "single", "--overwrite"],
            folder,
        )
        for _ in range(2)
    ]
    single_s, single_cpu = min(s for s, _, _ in single), min(c for _, c, _ in single)
    figures: dict = {
        "single_run_cold_seconds": round(single_s, 2),
        "single_run_cold_cpu_seconds": round(single_cpu, 2),
    }
    peaks = {}
    for seconds, gif in ((60, False), (15, False), (60, True)):
        audio = folder / f"speech_{seconds}.wav"
        if not audio.exists():
            _speech(audio, seconds)
        out = folder / f"timeline_{seconds}{'_gif' * gif}"
        args = ["run", "--timeline", "--audio", audio, "--face", face, "--out-dir", out, "--overwrite"]
        wall, cpu, peak = _cli_child([*args, "--gif"] if gif else args, folder)
        name = f"timeline_{seconds}s{'_gif' * gif}"
        figures[f"{name}_seconds"] = round(wall, 2)
        figures[f"{name}_ratio_to_single_run"] = round(wall / single_s, 2)
        figures[f"{name}_cpu_seconds"] = round(cpu, 2)
        figures[f"{name}_cpu_ratio_to_single_run"] = round(cpu / single_cpu, 2)
        figures[f"{name}_peak_rss_mb"] = round(peak, 1)
        result = json.loads((out / "result.json").read_text())
        figures[f"{name}_stage_seconds"] = result["seconds"]
        figures[f"{name}_mp4_mb"] = round((out / "animation.mp4").stat().st_size / 2**20, 2)
        if gif:
            figures[f"{name}_gif_mb"] = round((out / "animation.gif").stat().st_size / 2**20, 2)
            figures[f"{name}_gif_size_px"] = result["gif_size"]
        else:
            peaks[seconds] = peak
            figures[f"{name}_video_size_px"] = result["video_size"]
            figures[f"{name}_edits_rendered"] = result["edits_rendered"]
    figures["timeline_60s_ratio_goal"] = 4.0
    figures["timeline_peak_rss_60s_minus_15s_mb"] = round(peaks[60] - peaks[15], 1)
    figures["timeline_peak_rss_60s_over_15s"] = round(peaks[60] / peaks[15], 3)
    return figures


def run(timeline_only: bool = False) -> dict:
    if timeline_only:
        with tempfile.TemporaryDirectory() as tmp:
            audio, face = _inputs(Path(tmp))
            return timeline_figures(Path(tmp), face, audio)
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
        timeline = timeline_figures(tmp, face, audio)
    return {
        "photo_px": 1024,
        "models_load_seconds": round(warm["load"], 2),
        "warm_end_to_end_seconds": round(statistics.median(warm["warm"]), 3),
        "warm_stage_seconds": median_stage,
        "warm_process_peak_rss_mb": round(warm_rss, 1),
        "cold_end_to_end_seconds": round(min(cold), 2),
        "cold_peak_rss_mb": round(max(cold_rss), 1),
        **timeline,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--warm-child"]:
        warm_child(*sys.argv[2:5])
    else:  # --timeline: only the timeline figures
        print(json.dumps(run(timeline_only=sys.argv[1:2] == ["--timeline"])))
