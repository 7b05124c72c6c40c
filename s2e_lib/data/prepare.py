"""Turn a MEAD or RAVDESS tree into a prepared tree: 16 kHz wavs, face frames, manifests.

Layout of ``<out>``::

    manifest.csv                                   one row per prepared take
    audio/<speaker>/<emotion>/level_<n>/<utt>.wav  16 kHz mono PCM
    frames/<speaker>/<view>/<emotion>/level_<n>/<utt>/<frame:05d>.png
    frames.csv                                     one row per saved frame
    problems.csv                                   path, stage, error
    prepare_params.json                            the marker: parameters, fingerprint, root
    .prepared/<speaker>/<emotion>/level_<n>/<utt>.json   per-take record (resume)

Resuming: each take's record holds a fingerprint of the parameters that shape its
outputs and the size and mtime of its sources; a later run with the same fingerprint
and unchanged sources skips the take. Every file is written under a temporary name and
renamed, so an interrupted run never leaves a partial file under a final name. The
source tree is only read. Only an empty or new folder, or one carrying
``prepare_params.json`` (this stage's marker), is written to: a user's folder is never
taken over. Names of folders and files come from the corpus through
:func:`s2e_lib.fileio.safe_name` and never leave ``<out>``.

Where the takes run: in this process (``jobs=1``), a local process pool (``jobs=N``) or
a ``dask.distributed`` cluster (``scheduler=ADDRESS`` or ``S2E_DASK_SCHEDULER``; see
:mod:`s2e_lib.parallel` and docs/scale.md). Each take is independent and idempotent, so
all three give the same tree byte for byte. Dask workers read the corpus and write
``<out>`` by absolute path: both must be on a filesystem every worker mounts at the same
place, which :func:`prepare` checks before the work.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from s2e_lib.audio.io import write_wav
from s2e_lib.data.frames import FRAME_COLUMNS
from s2e_lib.data.manifest import MANIFEST_COLUMNS, manifest_table, problem, scan
from s2e_lib.data.video import FRAME_SELECTIONS, read_frames, select_frames, write_image
from s2e_lib.emotions import MISSION_EMOTIONS
from s2e_lib.errors import InputError, one_line
from s2e_lib.fileio import atomic_output, output_lock, path_inside, remove_if_only_locks, safe_name
from s2e_lib.parallel import DaskExecutor, executor_scope, note, progress_bar, run_ordered

PROBLEM_COLUMNS = ("path", "stage", "error")
RECORD_DIR = ".prepared"
#: Bump when the prepared outputs change meaning, so old records are redone.
PREPARE_VERSION = 1
#: The marker file of a prepared tree; a non-empty ``--out`` without it is refused.
PARAMS_FILE = "prepare_params.json"
#: ``format`` key of :data:`PARAMS_FILE` (older trees lack it and are recognised by
#: their ``version`` and ``fingerprint`` keys).
PREPARE_FORMAT = "s2e-prepare"
#: Name prefix of the file that shows Dask workers see ``<out>`` (removed at once).
PROBE_PREFIX = ".s2e-probe-"

FrameTransform = Callable[[np.ndarray], np.ndarray]


@dataclass
class PrepareResult:
    """What :func:`prepare` did: counts, the tables it wrote, and where."""

    out: Path
    prepared: int = 0
    skipped: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0
    manifest: pd.DataFrame = field(default_factory=pd.DataFrame)
    frames: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> str:
        """One line: prepared, skipped as done, failed, problems, and where."""
        return (
            f"prepared {self.prepared}, skipped {self.skipped} (already done), failed {self.failed}; "
            f"{len(self.frames)} frames, {len(self.problems)} problems -> {self.out}"
        )


class FaceAligner:
    """A ``frame_transform`` that aligns the largest face of a frame to an FFHQ crop.

    Picklable (dlib models load lazily in each worker). Raises the face stage's error
    when a frame has no detectable face; :func:`prepare` records that as a problem.
    """

    def __init__(self, size: int = 256, method: str = "ffhq"):
        self.size = int(size)
        self.method = method
        self.fingerprint = f"align_face:{method}:{self.size}"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from s2e_lib.face import align_face

        return align_face(image, size=self.size, method=self.method).image


def prepare(
    root: str | os.PathLike,
    out: str | os.PathLike,
    format: str = "auto",
    emotions: Iterable[str] | str | None = MISSION_EMOTIONS,
    levels: Iterable[int] | str | None = None,
    views: Iterable[str] | str | None = ("front",),
    speakers: Iterable[str] | str | None = None,
    frame_step: int = 5,
    frames: str = "all",
    max_frames: int | None = None,
    image_format: str = "png",
    frame_transform: FrameTransform | None = None,
    audio: bool = True,
    video: bool = True,
    sr: int = 16_000,
    jobs: int = 1,
    progress: bool = True,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> PrepareResult:
    """Prepare a MEAD or RAVDESS tree into ``out`` (see the module docstring for the layout).

    Parameters
    ----------
    root, out : path-like
        The corpus and the prepared tree (created; must not lie inside ``root``).
    format, emotions, levels, views, speakers
        As in :func:`s2e_lib.data.scan`. ``views`` defaults to the front camera.
    frame_step : int
        Keep every N-th video frame.
    frames : {"all", "first", "middle", "last"}
        Which stepped frames to keep (see :func:`s2e_lib.data.video.select_frames`).
    max_frames : int, optional
        At most K frames per video.
    image_format : {"png", "jpg"}
        Frame file format.
    frame_transform : callable, optional
        ``image -> image`` applied to every frame before saving (e.g.
        :class:`FaceAligner`); its ``fingerprint`` attribute (or name) is part of the
        resume fingerprint. A frame it fails on is skipped and listed in problems.
    audio, video : bool
        Prepare the audio and/or the frames.
    sr : int
        Sample rate of the prepared wavs.
    jobs : int
        Local worker processes (without a scheduler); 1 runs in this process.
    progress : bool
        Show one tqdm progress bar (on the client when the takes run on Dask).
    scheduler : str, optional
        A Dask scheduler address or ``local:N`` (see :func:`s2e_lib.parallel.make_executor`);
        None reads ``S2E_DASK_SCHEDULER``, ``""`` forces local execution. ``jobs`` is then
        unused. ``root`` and ``out`` must be visible at the same paths on every worker.
    executor : concurrent.futures.Executor, optional
        Run the takes on this executor instead (left open; ``jobs`` and ``scheduler`` unused).

    Returns
    -------
    PrepareResult
        Counts and the manifest, frames and problems tables (also written to ``out``).

    Raises
    ------
    InputError
        Bad root, an ``out`` inside the source tree, or invalid parameters; a scheduler
        that cannot be reached; Dask workers that do not see ``root`` or ``out``. All of
        these are raised before any take is prepared. Broken files are not raised: they
        become rows of ``problems.csv``.
    """
    start = time.perf_counter()
    root = Path(root).expanduser().absolute()
    out = Path(out).expanduser().absolute()
    _check_out(root, out)
    if image_format.lower().lstrip(".") not in ("png", "jpg", "jpeg"):
        raise InputError(f"unknown image format {image_format!r}; expected png or jpg")
    image_format = "jpg" if image_format.lower().lstrip(".") in ("jpg", "jpeg") else "png"
    if frames not in FRAME_SELECTIONS:
        raise InputError(f"unknown frame selection {frames!r}; expected one of {', '.join(FRAME_SELECTIONS)}")
    select_frames(1, frame_step, frames, max_frames)  # validates the numbers
    # one writer per output folder (as s2e run); connected before the scan, so an
    # unreachable scheduler fails in seconds
    existed = out.exists()
    top = out  # the highest folder this call creates
    while not top.parent.exists():
        top = top.parent
    try:
        with output_lock(out), executor_scope(executor, scheduler, jobs) as runner:
            return _prepare(
                root,
                out,
                runner,
                start,
                dict(format=format, emotions=emotions, levels=levels, views=views, speakers=speakers),
                frame_step=frame_step,
                frames=frames,
                max_frames=max_frames,
                image_format=image_format,
                frame_transform=frame_transform,
                audio=audio,
                video=video,
                sr=sr,
                progress=progress,
            )
    finally:
        if not existed:  # a run that failed before writing anything leaves no folder
            remove_if_only_locks(out)
            if not out.exists() and top != out:
                for folder in out.parents:
                    try:
                        folder.rmdir()  # only when empty
                    except OSError:
                        break
                    if folder == top:
                        break


def _prepare(
    root: Path,
    out: Path,
    runner: Executor,
    start: float,
    filters: dict,
    frame_step: int,
    frames: str,
    max_frames: int | None,
    image_format: str,
    frame_transform: FrameTransform | None,
    audio: bool,
    video: bool,
    sr: int,
    progress: bool,
) -> PrepareResult:
    df = scan(root, durations=False, **filters)
    problems: list[dict] = list(df.attrs.get("problems", []))
    if df.empty:
        raise InputError(f"{root}: no takes match the filters (emotions/levels/speakers)")
    params = {
        "version": PREPARE_VERSION,
        "sr": sr,
        "audio": audio,
        "video": video,
        "frame_step": frame_step,
        "frames": frames,
        "max_frames": max_frames,
        "image_format": image_format,
        "transform": _transform_name(frame_transform),
    }
    fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    rows = df.to_dict("records")
    # the topmost folder this run creates, removed again if the workers cannot see it
    created = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(runner, DaskExecutor):
        try:
            _check_workers_see(runner, rows[0]["audio_path"], out)
        except InputError:
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
            raise
    marker = {"format": PREPARE_FORMAT, **params, "fingerprint": fingerprint, "root": str(root)}
    _write_marker(out, marker)  # first, so an interrupted first run can be resumed

    # finished takes are found here, not sent to the workers: a resumed run of a large
    # corpus then costs one record read per take instead of a round trip through a pool
    results: list[dict | None] = [None] * len(rows)
    todo: list[int] = []
    bar = progress_bar(len(rows), "prepare", "take", progress)
    try:
        for index, row in enumerate(rows):
            results[index] = finished_take(row, out, fingerprint, params["video"])
            if results[index] is None:
                todo.append(index)
            else:
                bar.update()
        computed = run_ordered(
            runner,
            prepare_take,
            ((rows[i], out, params, fingerprint, frame_transform) for i in todo),
            bar=bar,
        )
    finally:
        bar.close()
    for index, res in zip(todo, computed, strict=True):
        results[index] = res

    manifest_rows, frame_rows = [], []
    result = PrepareResult(out=out)
    for row, res in zip(rows, results, strict=True):
        problems.extend(res["problems"])
        if res["status"] == "skipped":
            result.skipped += 1
        elif res["status"] == "failed":
            result.failed += 1
            continue
        else:
            result.prepared += 1
        frame_rows.extend(res["frames"])
        entry = {k: row[k] for k in MANIFEST_COLUMNS}
        entry["source_path"] = row["audio_path"]
        if audio:
            entry["audio_path"] = str(out / res["audio"])
            entry["duration"] = res["duration"]
            result.audio_seconds += res["duration"] if res["status"] == "prepared" else 0.0
        entry["n_frames"] = len(res["frames"])
        manifest_rows.append(entry)

    result.manifest = pd.DataFrame(manifest_rows, columns=[*MANIFEST_COLUMNS, "source_path", "n_frames"])
    result.frames = pd.DataFrame(frame_rows, columns=list(FRAME_COLUMNS))
    result.problems = pd.DataFrame(problems, columns=list(PROBLEM_COLUMNS))
    with replace_atomic(out / "manifest.csv") as tmp:
        manifest_table(result.manifest, base=out).to_csv(tmp, index=False)
    with replace_atomic(out / "frames.csv") as tmp:
        result.frames.to_csv(tmp, index=False)
    with replace_atomic(out / "problems.csv") as tmp:
        result.problems.to_csv(tmp, index=False)
    _write_marker(out, marker)
    result.seconds = time.perf_counter() - start
    return result


def _check_workers_see(runner: DaskExecutor, source: str, out: Path) -> None:
    """Raise :class:`InputError` unless every connected worker sees ``source`` and ``out``.

    A probe file written into ``out`` here must appear, with its size, on each worker:
    a worker with its own (unshared) folder at the same path is caught too.
    """
    probe = out / f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    probe.write_bytes(probe.name.encode())
    try:
        n_workers = runner.n_workers
        if n_workers == 0:
            note("dask: no workers connected yet; the takes wait for workers (shared paths unchecked)")
            return
        wanted = {str(source): os.stat(source).st_size, str(probe): probe.stat().st_size}
        wrong = runner.check_shared(wanted)
    finally:
        probe.unlink(missing_ok=True)
    if wrong:
        worker, paths = next(iter(wrong.items()))
        missing = out if str(probe) in paths else paths[0]
        raise InputError(
            f"{missing}: not visible from dask worker {worker} ({len(wrong)} of {n_workers} workers); "
            "the corpus and the output must be on a filesystem every worker mounts at the same path"
        )


def take_key(row: dict) -> tuple[str, str, str, str]:
    """(speaker, emotion, level_<n>, utterance) of a manifest row."""
    return str(row["speaker"]), str(row["emotion"]), f"level_{int(row['level'])}", str(row["utterance"])


def prepare_take(
    row: dict,
    out: Path,
    params: dict,
    fingerprint: str,
    frame_transform: FrameTransform | None = None,
) -> dict:
    """Prepare one take (its audio and its videos' frames); never raises for bad files.

    Returns a dict with ``status`` ("prepared", "skipped" or "failed"), ``audio``
    (wav path relative to ``out``), ``duration``, ``frames`` (rows of frames.csv) and
    ``problems``.
    """
    done = finished_take(row, out, fingerprint, params["video"])
    if done is not None:
        return done
    speaker, emotion, level_dir, utt = take_key(row)
    s_speaker, s_emotion, s_utt = safe_name(speaker), safe_name(emotion), safe_name(utt)
    record_path = path_inside(out, RECORD_DIR, s_speaker, s_emotion, level_dir, f"{s_utt}.json")
    audio_rel = Path("audio") / s_speaker / s_emotion / level_dir / f"{s_utt}.wav"
    path_inside(out, audio_rel)
    videos = dict(row.get("videos") or {}) if params["video"] else {}
    stats = _source_stats(_take_sources(row, videos))

    problems: list[dict] = []
    outputs: list[str] = []
    duration = float("nan")
    if params["audio"]:
        from s2e_lib.audio import load_audio

        try:
            wav = load_audio(row["audio_path"], sr=params["sr"])
            write_wav(out / audio_rel, wav, params["sr"], own_output=True)
            duration = len(wav) / params["sr"]
            outputs.append(audio_rel.as_posix())
        except InputError as exc:
            problems.append(problem(row["audio_path"], "audio", _strip(exc, row["audio_path"])))
            return {
                "status": "failed",
                "audio": None,
                "duration": duration,
                "frames": [],
                "problems": problems,
            }

    frame_rows: list[dict] = []
    for view, vpath in sorted(videos.items()):
        rel_dir = Path("frames") / s_speaker / safe_name(view) / s_emotion / level_dir / s_utt
        target = path_inside(out, rel_dir)
        if target.exists():  # stale frames of an earlier run with other parameters
            shutil.rmtree(target)
        try:
            rows_v, probs_v = _extract_frames(vpath, out, rel_dir, params, frame_transform)
        except InputError as exc:
            problems.append(problem(vpath, "video", _strip(exc, vpath)))
            continue
        problems.extend(probs_v)
        for r in rows_v:
            r.update(speaker=speaker, view=view, emotion=emotion, level=int(row["level"]), utterance=utt)
            outputs.append(r["path"])
        frame_rows.extend(rows_v)

    frame_rows = [{k: r[k] for k in FRAME_COLUMNS} for r in frame_rows]
    if not problems:  # a take with a broken video is retried next time
        record = {
            "fingerprint": fingerprint,
            "sources": stats,
            "audio": audio_rel.as_posix() if params["audio"] else None,
            "duration": duration,
            "outputs": outputs,
            "frames": frame_rows,
        }
        with replace_atomic(record_path) as tmp:
            tmp.write_text(json.dumps(record), encoding="utf-8")
    return {
        "status": "prepared",
        "audio": audio_rel.as_posix() if params["audio"] else None,
        "duration": duration,
        "frames": frame_rows,
        "problems": problems,
    }


def finished_take(row: dict, out: Path, fingerprint: str, video: bool = True) -> dict | None:
    """The "skipped" result of a take already prepared, or None when it must be (re)done.

    Done means: its record carries ``fingerprint``, its sources have the recorded size
    and mtime, and every output it lists exists.
    """
    speaker, emotion, level_dir, utt = take_key(row)
    # folder and file names come from the corpus (folder and file names): one safe
    # component each, and every output path is checked to stay inside ``out``
    s_speaker, s_emotion, s_utt = safe_name(speaker), safe_name(emotion), safe_name(utt)
    record_path = path_inside(out, RECORD_DIR, s_speaker, s_emotion, level_dir, f"{s_utt}.json")
    record = _read_record(record_path)
    if not record or record.get("fingerprint") != fingerprint:
        return None
    videos = dict(row.get("videos") or {}) if video else {}
    if record.get("sources") != _source_stats(_take_sources(row, videos)):
        return None
    if not all((out / p).is_file() for p in record.get("outputs", [])):
        return None
    return {
        "status": "skipped",
        "audio": record.get("audio"),
        "duration": record.get("duration", float("nan")),
        "frames": record.get("frames", []),
        "problems": [],
    }


def _take_sources(row: dict, videos: dict) -> dict[str, str]:
    return {"audio": row["audio_path"], **{f"video:{v}": p for v, p in videos.items()}}


def _extract_frames(
    vpath, out: Path, rel_dir: Path, params: dict, frame_transform
) -> tuple[list[dict], list[dict]]:
    from s2e_lib.data.video import count_frames

    n = count_frames(vpath)
    indices = select_frames(n, params["frame_step"], params["frames"], params["max_frames"])
    rows, problems = [], []
    (out / rel_dir).mkdir(parents=True, exist_ok=True)
    for index, image in read_frames(vpath, indices):
        if frame_transform is not None:
            try:
                image = frame_transform(image)
            except Exception as exc:  # the face stage's own error (no face, dlib failure...)
                problems.append(
                    problem(f"{vpath}#frame={index}", "align", f"{type(exc).__name__}: {one_line(exc)}")
                )
                continue
        rel = rel_dir / f"{index:05d}.{params['image_format']}"
        with replace_atomic(out / rel) as tmp:
            write_image(tmp, image)
        rows.append(
            {
                "frame_index": index,
                "position": round(index / max(n - 1, 1), 4),
                "path": rel.as_posix(),
                "aligned": frame_transform is not None,
            }
        )
    return rows, problems


# --- small helpers ------------------------------------------------------------------


def replace_atomic(path: str | os.PathLike):
    """Atomic writer for this stage's own outputs: the prepared tree (possibly under
    ``data/``) is updated by re-runs, so existing files are replaced."""
    return atomic_output(path, own_output=True)


def _check_out(root: Path, out: Path) -> None:
    if not root.is_dir():
        raise InputError(f"{root}: corpus folder not found")
    r, o = root.resolve(), out.resolve()
    if o == r or r in o.parents:
        raise InputError(
            f"{out}: the output must not be inside the source tree {root} (it is never written to)"
        )
    if o.exists() and not o.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    # a run killed while holding the output lock (fileio.output_lock) leaves its files, and one
    # killed while checking the Dask workers its probe; they do not make a folder "used" (a
    # user's file that only shares such a name does)
    used = o.is_dir() and any(not is_own_leftover(p) for p in o.iterdir())
    if used and not is_prepared_tree(o):
        raise InputError(
            f"{out}: not an s2e prepare folder (no {PARAMS_FILE}); choose an empty or new folder"
        )


def is_own_leftover(path: Path) -> bool:
    """True for a file this project leaves in an output folder when a run is killed: the lock
    (an empty ``.s2e.lock``), its pid file (one decimal pid) or a Dask probe (a
    ``.s2e-probe-<32 hex>`` file holding its own name). Anything else under those names is a
    user's file."""
    import re

    try:
        if not path.is_file() or path.stat().st_size > 64:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    if path.name == ".s2e.lock":
        return data == b""
    if path.name == ".s2e.lock.pid":
        return re.fullmatch(rb"\d{1,10}\n?", data) is not None
    if re.fullmatch(re.escape(PROBE_PREFIX) + "[0-9a-f]{32}", path.name):
        return data == path.name.encode()
    return False


def is_prepared_tree(folder: str | os.PathLike) -> bool:
    """True when ``folder`` carries the marker :func:`prepare` writes (:data:`PARAMS_FILE`).

    Only such a folder is resumed (files in it replaced, stale frame folders removed).
    """
    marker = Path(folder) / PARAMS_FILE
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    if "format" in data:
        return data["format"] == PREPARE_FORMAT
    return isinstance(data.get("version"), int) and isinstance(data.get("fingerprint"), str)


def _write_marker(out: Path, marker: dict) -> None:
    with replace_atomic(out / PARAMS_FILE) as tmp:
        tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _source_stats(sources: dict[str, str]) -> dict[str, list[int]]:
    stats = {}
    for key, p in sources.items():
        try:
            st = os.stat(p)
            stats[key] = [st.st_size, st.st_mtime_ns]
        except OSError:
            stats[key] = [-1, -1]
    return stats


def _read_record(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _transform_name(transform) -> str | None:
    if transform is None:
        return None
    name = getattr(transform, "fingerprint", None)
    if name:
        return str(name)
    return f"{getattr(transform, '__module__', '')}.{getattr(transform, '__qualname__', type(transform).__qualname__)}"


def _strip(exc: BaseException, path) -> str:
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else one_line(exc)
