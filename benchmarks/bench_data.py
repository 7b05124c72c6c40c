"""Data-stage figures: sample corpus generation time, prepare throughput, resume cost, and
prepare throughput (takes/s) in this process, on the local process pool and on a Dask
LocalCluster of 1 and 2 worker processes, all on the same generated tree."""

from __future__ import annotations

import importlib
import tempfile
import time
from pathlib import Path

#: Where the executors comparison runs the takes: label -> (scheduler, jobs).
EXECUTORS = {
    "serial": ("", 1),
    "local_pool_2": ("", 2),
    "dask_1_worker": ("local:1", 1),
    "dask_2_workers": ("local:2", 1),
}
#: Calls that do nothing, timed per executor (its overhead per take).
EMPTY_CALLS = 500


def run() -> dict:
    from s2e_lib.data.prepare import prepare
    from s2e_lib.sample import make_sample_corpus, make_speakers, synthesize

    figures: dict = {}
    speaker = make_speakers(1)[0]
    synthesize(speaker, "angry", 3, 1)  # warm up imports
    start = time.perf_counter()
    n_synth = 0
    for emotion in ("angry", "neutral", "fear", "happy", "sad"):
        for utt in (1, 2):
            audio = synthesize(speaker, emotion, 3, utt)
            n_synth += len(audio)
    seconds = time.perf_counter() - start
    figures["synth_audio_seconds_per_wall_second"] = round(n_synth / 16000 / seconds, 1)

    with tempfile.TemporaryDirectory(prefix="s2e-bench-data-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        corpus = make_sample_corpus(tmp / "sample", seed=0)
        figures["sample_corpus_generation_seconds"] = round(time.perf_counter() - start, 2)
        figures["sample_corpus_takes"] = sum(1 for _ in corpus.rglob("*.m4a"))

        result = prepare(corpus, tmp / "prepared", frame_step=5, progress=False)
        figures["prepare_takes"] = result.prepared
        figures["prepare_frames"] = len(result.frames)
        figures["prepare_audio_seconds"] = round(result.audio_seconds, 1)
        figures["prepare_wall_seconds"] = round(result.seconds, 2)
        figures["prepare_audio_seconds_per_wall_second"] = round(result.audio_seconds / result.seconds, 1)

        audio_only = prepare(corpus, tmp / "audio_only", video=False, progress=False)
        figures["prepare_audio_only_audio_seconds_per_wall_second"] = round(
            audio_only.audio_seconds / audio_only.seconds, 1
        )
        again = prepare(corpus, tmp / "prepared", frame_step=5, progress=False)
        figures["prepare_resume_seconds"] = round(again.seconds, 2)
        figures["prepare_resume_skipped"] = again.skipped
        figures.update(executor_throughput(corpus, tmp))
    return figures


def executor_throughput(corpus: Path, tmp: Path, rounds: int = 3) -> dict:
    """Prepare ``corpus`` (audio + every 5th frame) on each of :data:`EXECUTORS`.

    Every executor is started first and its workers import the prepare code before any
    clock starts (start-up is reported apart). Then ``rounds`` rounds run each executor
    in turn into a fresh folder (interleaved, so a burst of load from other jobs hits all
    of them); the best round of each is reported, since on a shared machine the slow
    rounds measure the neighbours. A run includes the scan and the CSVs, as a user's run
    does. Ratios are against the serial run. Last, each executor runs
    :data:`EMPTY_CALLS` calls that do nothing: their rate is its own overhead per take.
    """
    import shutil

    from s2e_lib.data.prepare import prepare
    from s2e_lib.parallel import DaskExecutor, make_executor, run_ordered

    figures: dict = {}
    labels = list(EXECUTORS)
    try:
        importlib.import_module("distributed")
    except ImportError:
        figures["dask_skipped"] = "dask.distributed is not installed"
        labels = [label for label in labels if not EXECUTORS[label][0]]
    executors = {}
    try:
        for label in labels:
            scheduler, jobs = EXECUTORS[label]
            start = time.perf_counter()
            executors[label] = make_executor(scheduler, jobs=jobs)
            _warm_up(executors[label], jobs)
            if isinstance(executors[label], DaskExecutor) or jobs > 1:
                figures[f"prepare_{label}_startup_seconds"] = round(time.perf_counter() - start, 2)
        best: dict[str, float] = {}
        for _ in range(rounds):
            for label in labels:
                out = tmp / f"by_{label}"
                shutil.rmtree(out, ignore_errors=True)
                result = prepare(corpus, out, frame_step=5, progress=False, executor=executors[label])
                best[label] = max(best.get(label, 0.0), result.prepared / result.seconds)
        # the executor's own cost per call: empty calls, one progress bar, results in order
        for label in labels:
            start = time.perf_counter()
            run_ordered(executors[label], _empty_call, [()] * EMPTY_CALLS, progress=False)
            figures[f"{label}_empty_calls_per_second"] = round(EMPTY_CALLS / (time.perf_counter() - start))
    finally:
        # last started, first closed: each LocalCluster restores the log level it found
        for executor in reversed(list(executors.values())):
            executor.shutdown()
    for label in labels:
        figures[f"prepare_{label}_takes_per_second"] = round(best[label], 2)
        if label != "serial":
            figures[f"prepare_{label}_speedup_vs_serial"] = round(best[label] / best["serial"], 2)
    if "dask_2_workers" in best:
        figures["prepare_dask_2_vs_1_workers"] = round(best["dask_2_workers"] / best["dask_1_worker"], 2)
    return figures


def _empty_call() -> None:
    return None


def _warm_up(executor, jobs: int) -> None:
    """Have every worker import the prepare code (and PyAV) before the clock starts."""
    from s2e_lib.parallel import DaskExecutor

    if isinstance(executor, DaskExecutor):
        executor.client.run(importlib.import_module, "s2e_lib.data.prepare")
        return
    futures = [executor.submit(_import_and_wait, "s2e_lib.data.prepare") for _ in range(2 * jobs)]
    for future in futures:
        future.result()


def _import_and_wait(module: str) -> None:
    importlib.import_module(module)
    time.sleep(0.2)  # keeps this worker busy so the next call lands on another one
