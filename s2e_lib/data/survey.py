"""What is in a speech corpus: clips, speakers, durations, emotions, loudness, formats, terms.

A survey reads every clip of one or more corpora once (through the project's own readers:
:func:`s2e_lib.ser.dataset.scan_corpora` for MEAD / RAVDESS folders and manifest CSVs) and
measures, per clip, its sample rate, channels, format and duration from the header and
two levels from the samples:

``loudness_lufs``
    BS.1770-4 integrated loudness of the whole clip (``pyloudnorm``: K-weighting, 400 ms
    blocks, absolute gate at -70 LUFS and relative gate 10 LU below the ungated mean).
    NaN for a clip shorter than one 400 ms block or one that is digital silence.
``active_level_dbfs``
    The project's active-speech level (:func:`s2e_lib.audio.speech.active_level_dbfs`:
    the mean power of the 25 ms frames within 30 dB of the loudest), the level every clip
    is normalised to before the speech-emotion features. It is what the corpora's
    ``SOURCE.md`` tables quote.

Both scale exactly with gain: a clip made 6 dB louder reads 6 LU (6 dB) higher. The
measures are cached per clip (keyed by the resolved path, size and modification time) in
``<cache>/survey`` (:attr:`s2e_lib.paths.ProjectPaths.cache`), so a second survey of the
same corpora reads headers only from the cache: notebook 01 reruns in seconds.

:func:`corpus_summary` and :func:`emotion_summary` turn the clip table into the figures a
training plan needs (class balance, hours, speakers, which corpus lacks which emotion,
how much louder each emotion is than neutral); :func:`corpus_info` reads a corpus's
language and licence from its ``SOURCE.md`` (or the README of the folder above).

>>> from s2e_lib.data.survey import find_corpora, survey_corpora, corpus_summary  # doctest: +SKIP
>>> clips = survey_corpora(find_corpora("../shared/data").values())  # doctest: +SKIP
>>> corpus_summary(clips)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from s2e_lib.emotions import ALL_EMOTIONS, MISSION_EMOTIONS
from s2e_lib.errors import InputError, one_line

#: Bump when a measure changes, to invalidate the survey caches.
SURVEY_VERSION = 1

#: Columns :func:`measure_clip` returns, in order.
MEASURE_COLUMNS: tuple[str, ...] = (
    "sample_rate",
    "channels",
    "format",
    "duration",
    "loudness_lufs",
    "active_level_dbfs",
    "peak_dbfs",
    "error",
)

#: Languages of the layouts the project scans itself (manifest corpora name theirs in SOURCE.md).
LAYOUT_LANGUAGES = {"ravdess": "English", "mead": "English", "sample": "synthetic"}

_CACHE_KEY = ("path", "size", "mtime_ns")
_METERS: dict[int, object] = {}


# --- finding corpora and their terms ----------------------------------------------------


def find_corpora(folder: str | os.PathLike) -> dict[str, Path]:
    """The speech corpora directly inside ``folder``, as sources the scanners read.

    Parameters
    ----------
    folder : path-like
        A folder of corpora, e.g. ``../shared/data`` (``ravdess16k/``, ``ased16k/`` ...).

    Returns
    -------
    dict
        Folder name -> source, sorted by name: the folder's ``manifest.csv`` when it has
        one, else the folder itself when it is a MEAD or RAVDESS tree. Other folders (face
        sets, model files) are left out; a missing ``folder`` gives an empty dict.
    """
    from s2e_lib.data.manifest import detect_format

    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (child / "manifest.csv").is_file():
            found[child.name] = child / "manifest.csv"
            continue
        try:
            detect_format(child)
        except (InputError, OSError):
            continue
        found[child.name] = child
    return found


def corpus_info(source: str | os.PathLike) -> dict[str, str]:
    """A corpus's language and terms of use, as its documentation states them.

    Reads the folder's ``SOURCE.md`` (its ``Language ...`` sentence and its ``Licence`` /
    ``Terms`` paragraph); without one, the section of a ``README.md`` one or two folders up
    whose heading names ``data/<folder>/`` (its first paragraph).

    Parameters
    ----------
    source : path-like
        A corpus folder or its ``manifest.csv``.

    Returns
    -------
    dict
        ``corpus`` (folder name), ``language`` ("" when not stated), ``licence`` (a short
        tag such as ``CC BY-NC-SA 4.0`` or ``research use``; "" when nothing is stated)
        and ``terms`` (the paragraph it was read from, on one line).
    """
    path = Path(source)
    folder = path.parent if path.suffix.lower() == ".csv" else path
    info = {"corpus": folder.name, "language": "", "licence": "", "terms": ""}
    source_md = folder / "SOURCE.md"
    if source_md.is_file():
        paragraphs = _paragraphs(source_md.read_text(encoding="utf-8", errors="replace"))
        for text in paragraphs:
            match = re.match(r"Language\s+([A-Z][\w-]*)", text)
            if match and not info["language"]:
                info["language"] = match.group(1)
            if re.match(r"(Licen[cs]e|Terms)\b", text) and not info["terms"]:
                info["terms"] = text
    else:
        for readme in (folder.parent / "README.md", folder.parent.parent / "README.md"):
            if readme.is_file():
                section = _readme_section(readme.read_text(encoding="utf-8", errors="replace"), folder.name)
                if section:
                    info["terms"] = section
                    break
    if not info["language"]:
        layout = next((k for k in LAYOUT_LANGUAGES if folder.name.lower().startswith(k)), None)
        info["language"] = LAYOUT_LANGUAGES.get(layout, "")
    info["licence"] = licence_tag(info["terms"])
    return info


def licence_tag(text: str) -> str:
    """A short licence name found in ``text``: a Creative Commons tag (``CC BY-NC-SA 4.0``),
    else ``research use`` when the text restricts use to research, else ""."""
    cc = re.search(r"\bCC[ -]BY(?:[- ](?:NC|SA|ND))*[ -]\d\.\d", text)
    if cc:
        return re.sub(r"^CC[ -]", "CC ", cc.group(0)).replace(" NC", "-NC").replace(" SA", "-SA")
    if re.search(r"\bresearch\b", text, re.IGNORECASE):
        return "research use"
    return ""


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _readme_section(text: str, name: str) -> str:
    """The first paragraph under a heading that names ``data/<name>/``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#") and re.search(rf"data/{re.escape(name)}/?\b", line):
            body = []
            for rest in lines[i + 1 :]:
                if rest.startswith("#"):
                    break
                body.append(rest)
            paragraphs = _paragraphs("\n".join(body))
            return paragraphs[0] if paragraphs else ""
    return ""


# --- measuring clips --------------------------------------------------------------------


def measure_clip(path: str | os.PathLike) -> dict:
    """Header facts and levels of one audio file (the columns :data:`MEASURE_COLUMNS`).

    WAV and FLAC are read at their own rate and channels with ``soundfile``; other formats
    (MEAD's m4a) through PyAV, mixed to mono at the stream's rate. A file that cannot be
    read gives NaN measures and its reason in ``error`` (never an exception), so one bad
    clip does not stop a survey.

    Returns
    -------
    dict
        ``sample_rate`` (Hz), ``channels``, ``format`` (e.g. ``FLAC PCM_16``), ``duration``
        (s), ``loudness_lufs`` (BS.1770 integrated), ``active_level_dbfs``, ``peak_dbfs``
        (sample peak over all channels) and ``error`` ("" when read).
    """
    row = dict.fromkeys(MEASURE_COLUMNS, math.nan)
    row.update(format="", error="")
    try:
        audio, rate, channels, fmt = _read(Path(path))
    except Exception as exc:  # a survey lists the bad clip and goes on
        row["error"] = one_line(exc)
        return row
    row.update(sample_rate=int(rate), channels=int(channels), format=fmt, duration=len(audio) / rate)
    if len(audio):
        peak = float(np.max(np.abs(audio)))
        row["peak_dbfs"] = 20.0 * math.log10(peak) if peak > 0 else -math.inf
        row["loudness_lufs"] = integrated_loudness(audio, rate)
        from s2e_lib.audio.speech import active_level_dbfs

        mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
        level = active_level_dbfs(mono, rate)
        row["active_level_dbfs"] = level if math.isfinite(level) else math.nan
    return row


def integrated_loudness(audio: np.ndarray, sr: int) -> float:
    """BS.1770-4 integrated loudness (LUFS) of ``audio`` (samples, or samples × channels).

    NaN when the clip is shorter than one 400 ms gating block or is silent (below the
    -70 LUFS absolute gate); more than five channels are mixed to mono first (BS.1770
    weights only five).
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 2 and audio.shape[1] == 1:
        audio = audio[:, 0]
    elif audio.ndim == 2 and audio.shape[1] > 5:
        audio = audio.mean(axis=1)
    if audio.shape[0] <= int(0.4 * sr):
        return math.nan
    meter = _METERS.get(int(sr))
    if meter is None:
        import pyloudnorm

        meter = _METERS[int(sr)] = pyloudnorm.Meter(int(sr))
    with np.errstate(divide="ignore"):
        value = float(meter.integrated_loudness(audio))
    return value if math.isfinite(value) else math.nan


def _read(path: Path) -> tuple[np.ndarray, int, int, str]:
    """(samples × channels float32, rate, channels, format) of one file."""
    if path.suffix.lower() in (".wav", ".flac", ".ogg", ".aiff", ".aif"):
        import soundfile as sf

        try:
            info = sf.info(str(path))
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
            return audio, int(rate), int(info.channels), f"{info.format} {info.subtype}"
        except Exception:  # e.g. a WAV variant libsndfile does not read: PyAV below
            pass
    import av

    from s2e_lib.audio.io import _channels, load_audio

    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise InputError(f"{path}: no audio stream")
        stream = streams[0]
        rate = int(stream.codec_context.sample_rate or stream.rate)
        channels = _channels(stream)
        fmt = f"{container.format.name.split(',')[0].upper()} {stream.codec_context.name}"
    audio = load_audio(path, sr=rate)
    return audio[:, None], rate, channels, fmt


def survey_cache_dir() -> Path:
    """Default cache folder of the survey: ``<cache>/survey`` (:attr:`ProjectPaths.cache`)."""
    from s2e_lib.paths import project_paths

    return project_paths().cache / "survey"


def measure_clips(
    paths: Sequence[str | os.PathLike],
    cache_dir: str | os.PathLike | bool | None = None,
    n_jobs: int = 1,
    progress: bool = True,
    desc: str = "survey",
) -> pd.DataFrame:
    """:func:`measure_clip` of many files, in order, with one ``tqdm`` bar and a disk cache.

    Parameters
    ----------
    paths : sequence of path-like
    cache_dir : path-like, optional
        Folder of the cache (default :func:`survey_cache_dir`); False disables it. One CSV
        per folder of clips holds a row per clip keyed by resolved path, size and
        modification time, so a changed file is measured again.
    n_jobs : int
        Local worker processes for the clips not in the cache (1: in this process).
    progress : bool
        Show the progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per path (same order), columns ``path`` + :data:`MEASURE_COLUMNS`.
    """
    from s2e_lib.parallel import executor_scope, progress_bar, run_ordered

    paths = [str(p) for p in paths]
    keys = [_file_key(p) for p in paths]
    cache_file = None
    cached: dict[tuple, dict] = {}
    if cache_dir is not False and paths:
        folder = Path(cache_dir) if cache_dir else survey_cache_dir()
        common = os.path.commonpath([k[0] for k in keys])
        digest = hashlib.sha1(common.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        cache_file = folder / f"v{SURVEY_VERSION}-{digest}.csv"
        cached = _read_cache(cache_file)
    rows: list[dict | None] = [cached.get(k) for k in keys]
    todo = [i for i, r in enumerate(rows) if r is None]
    bar = progress_bar(len(paths), desc, "clip", progress)
    try:
        bar.update(len(paths) - len(todo))
        if todo:
            with executor_scope(None, "", n_jobs if len(todo) >= 16 else 1) as runner:
                computed = run_ordered(runner, measure_clip, ((paths[i],) for i in todo), bar=bar)
            for i, row in zip(todo, computed, strict=True):
                rows[i] = row
    finally:
        bar.close()
    if cache_file is not None and todo:
        fresh = {keys[i]: rows[i] for i in todo if keys[i][1] >= 0}
        _write_cache(cache_file, fresh)
    table = pd.DataFrame(
        [{c: r.get(c) for c in MEASURE_COLUMNS} for r in rows], columns=list(MEASURE_COLUMNS)
    )
    table.insert(0, "path", paths)
    for column in MEASURE_COLUMNS:
        if column not in ("format", "error"):
            table[column] = pd.to_numeric(table[column], errors="coerce")
    table["format"] = table["format"].fillna("").astype(str)
    table["error"] = table["error"].fillna("").astype(str)
    return table


def _file_key(path: str) -> tuple[str, int, int]:
    resolved = os.path.realpath(path)
    try:
        stat = os.stat(resolved)
    except OSError:
        return (resolved, -1, -1)  # missing: measured (an error row), never cached
    return (resolved, int(stat.st_size), int(stat.st_mtime_ns))


def _read_cache(cache_file: Path) -> dict[tuple, dict]:
    if not cache_file.is_file():
        return {}
    try:
        table = pd.read_csv(cache_file, keep_default_na=False, na_values=[""], dtype={"format": str})
    except (OSError, ValueError, pd.errors.ParserError):
        return {}  # a damaged cache: measured again
    if not set(_CACHE_KEY + MEASURE_COLUMNS) <= set(table.columns):
        return {}
    out = {}
    for record in table.to_dict("records"):
        key = (str(record["path"]), int(record["size"]), int(record["mtime_ns"]))
        row = {c: record[c] for c in MEASURE_COLUMNS}
        row["format"] = "" if pd.isna(row["format"]) else str(row["format"])
        row["error"] = "" if pd.isna(row["error"]) else str(row["error"])
        out[key] = row
    return out


def _write_cache(cache_file: Path, fresh: dict[tuple, dict]) -> None:
    """Merge ``fresh`` rows into the cache file (under a lock; other surveys may write it too)."""
    from filelock import FileLock, Timeout

    from s2e_lib.fileio import atomic_output

    if not fresh:
        return
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache_file) + ".lock", timeout=30):
            merged = _read_cache(cache_file)
            merged.update(fresh)
            table = pd.DataFrame(
                [dict(zip(_CACHE_KEY, key, strict=True)) | row for key, row in merged.items()],
                columns=list(_CACHE_KEY + MEASURE_COLUMNS),
            )
            with atomic_output(cache_file, own_output=True) as tmp:
                table.to_csv(tmp, index=False)
    except (OSError, Timeout):
        pass  # a cache that cannot be written only costs time next run


# --- surveying corpora ------------------------------------------------------------------


def survey_corpora(
    sources: Iterable[str | os.PathLike] | pd.DataFrame,
    emotions: Iterable[str] | None = None,
    max_per_corpus: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | bool | None = None,
    n_jobs: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Every clip of ``sources`` with its corpus labels and its measures.

    Parameters
    ----------
    sources : iterable of path-like, or pandas.DataFrame
        Corpus folders (MEAD, RAVDESS) or manifest CSVs, read by
        :func:`s2e_lib.ser.dataset.scan_corpora`; or a table it returned.
    emotions : iterable of str, optional
        Emotions to keep; None keeps every emotion a corpus has (RAVDESS's calm, disgusted
        and surprised too).
    max_per_corpus : int, optional
        Keep a seeded sample of at most this many clips per corpus, spread over its
        emotions in turn (a quick look, and smoke runs).
    seed : int
        Seed of that sample.
    cache_dir, n_jobs, progress
        As :func:`measure_clips`.

    Returns
    -------
    pandas.DataFrame
        The scanner's columns (``corpus, speaker, gender, emotion, level, utterance,
        audio_path``; ``speaker`` prefixed ``<corpus>/`` when there are several corpora;
        ``gender`` lower-cased ``f`` / ``m`` / ``""``) and :data:`MEASURE_COLUMNS`
        (``duration`` measured from the file). ``attrs["sources"]`` lists the sources.

    Raises
    ------
    InputError
        A source is missing or holds no audio of ``emotions``.
    """
    from s2e_lib.ser.dataset import scan_corpora

    if isinstance(sources, pd.DataFrame):
        table = sources.copy()
    else:
        sources = [Path(s) for s in sources]
        if not sources:
            raise InputError("no corpus to survey")
        table = scan_corpora(sources, emotions=ALL_EMOTIONS if emotions is None else emotions)
    if emotions is not None and isinstance(sources, pd.DataFrame):
        table = table[table["emotion"].isin(list(emotions))]
    if max_per_corpus:
        table = _spread_sample(table, int(max_per_corpus), seed)
    table = table.reset_index(drop=True)
    measures = measure_clips(table["audio_path"].astype(str).tolist(), cache_dir, n_jobs, progress)
    columns = ("corpus", "speaker", "gender", "emotion", "level", "utterance", "audio_path", "source")
    keep = [c for c in columns if c in table]
    out = pd.concat([table[keep], measures.drop(columns="path")], axis=1)
    out["gender"] = out["gender"].fillna("").astype(str).str.strip().str[:1].str.lower()
    out.attrs["sources"] = [str(s) for s in table.attrs.get("sources", [])]
    if "source" not in out:
        out["source"] = _sources_of(out["audio_path"], out.attrs["sources"])
    return out


def _sources_of(paths: pd.Series, sources: Sequence[str]) -> list[str]:
    """Each clip's source (the deepest source folder, or manifest's folder, that holds it; "" if none).

    Compared with symlinks resolved: a corpus folder reached through a link (``../shared/data/x``
    linked elsewhere) lists its clips under their real paths, and got no source, so no licence."""
    folders = [
        (os.path.realpath(Path(s).parent if Path(s).suffix.lower() == ".csv" else s), str(s)) for s in sources
    ]
    folders.sort(key=lambda f: len(f[0]), reverse=True)
    out = []
    for path in paths.astype(str):
        path = os.path.realpath(path)
        out.append(next((src for folder, src in folders if path.startswith(folder + os.sep)), ""))
    return out


def _spread_sample(table: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows per corpus, taken from its emotions in turn, each shuffled by ``seed``."""
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for _, group in table.groupby("corpus", sort=True):
        queues = [list(rng.permutation(g.index.to_numpy())) for _, g in group.groupby("emotion", sort=True)]
        picked: list[int] = []
        while len(picked) < n and any(queues):
            for queue in queues:
                if queue and len(picked) < n:
                    picked.append(int(queue.pop(0)))
        keep += picked
    return table.loc[sorted(keep)]


# --- summaries --------------------------------------------------------------------------


def _ordered(values, order=MISSION_EMOTIONS) -> list[str]:
    values = list(dict.fromkeys(values))
    return [v for v in order if v in values] + sorted(v for v in values if v not in order)


def corpus_summary(clips: pd.DataFrame, emotions: Sequence[str] = MISSION_EMOTIONS) -> pd.DataFrame:
    """One row per corpus: size, speakers, durations, formats, loudness.

    Parameters
    ----------
    clips : pandas.DataFrame
        A :func:`survey_corpora` table.
    emotions : sequence of str
        The emotions a corpus is checked for (``missing``): default the mission five.

    Returns
    -------
    pandas.DataFrame
        Indexed by corpus: ``clips``, ``speakers`` (with ``female`` / ``male`` counts),
        ``clips_per_speaker`` (min–max), ``emotions`` (those present, mission first),
        ``missing`` (of ``emotions``), ``hours``, ``median_s`` / ``min_s`` / ``max_s`` (clip
        duration), ``sample_rates``, ``channels``, ``formats``, ``loudness_lufs`` (median),
        ``unreadable`` (clips that could not be read); and, when the table has a ``source``
        column (:func:`survey_corpora`'s), ``language`` and ``licence`` from
        :func:`corpus_info`.
    """
    rows = {}
    for corpus, group in clips.groupby("corpus", sort=True):
        info = {}
        if "source" in group and group["source"].iloc[0]:
            found = corpus_info(group["source"].iloc[0])
            info = {"language": found["language"], "licence": found["licence"]}
        ok = group[group["error"] == ""]
        per_speaker = group.groupby("speaker").size()
        genders = group.drop_duplicates("speaker")["gender"]
        present = _ordered(group["emotion"].unique())
        rows[corpus] = {
            "clips": len(group),
            "speakers": int(group["speaker"].nunique()),
            "female": int((genders == "f").sum()),
            "male": int((genders == "m").sum()),
            "clips_per_speaker": f"{per_speaker.min()}–{per_speaker.max()}",
            "emotions": ", ".join(present),
            "missing": ", ".join(e for e in emotions if e not in present),
            "hours": round(float(ok["duration"].sum()) / 3600, 3),
            "median_s": round(float(ok["duration"].median()), 2),
            "min_s": round(float(ok["duration"].min()), 2),
            "max_s": round(float(ok["duration"].max()), 2),
            "sample_rates": _values(ok["sample_rate"].dropna().astype(int)),
            "channels": _values(ok["channels"].dropna().astype(int)),
            "formats": _values(ok["format"]),
            "loudness_lufs": round(float(ok["loudness_lufs"].median()), 1),
            "unreadable": int((group["error"] != "").sum()),
            **info,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("corpus")


def _values(series: pd.Series) -> str:
    return ", ".join(str(v) for v in sorted(series.unique()))


def emotion_summary(clips: pd.DataFrame, reference: str = "neutral") -> pd.DataFrame:
    """One row per corpus and emotion: counts, share, duration and loudness.

    Parameters
    ----------
    clips : pandas.DataFrame
        A :func:`survey_corpora` table.
    reference : str
        The emotion levels are compared with (``*_vs_<reference>`` columns).

    Returns
    -------
    pandas.DataFrame
        Columns ``corpus, emotion, clips, share`` (of the corpus's clips), ``minutes``,
        ``median_s``, ``loudness_lufs`` and ``active_level_dbfs`` (medians),
        ``loudness_vs_neutral`` (LU) and ``active_vs_neutral`` (dB): the median's distance
        from the reference emotion's median in the same corpus (NaN where the corpus lacks
        the reference).
    """
    rows = []
    for corpus, group in clips.groupby("corpus", sort=True):
        ok = group[group["error"] == ""]
        ref = ok[ok["emotion"] == reference]
        ref_lufs = float(ref["loudness_lufs"].median()) if len(ref) else math.nan
        ref_active = float(ref["active_level_dbfs"].median()) if len(ref) else math.nan
        for emotion in _ordered(group["emotion"].unique()):
            these = ok[ok["emotion"] == emotion]
            lufs = float(these["loudness_lufs"].median())
            active = float(these["active_level_dbfs"].median())
            rows.append(
                {
                    "corpus": corpus,
                    "emotion": emotion,
                    "clips": int((group["emotion"] == emotion).sum()),
                    "share": round(float((group["emotion"] == emotion).mean()), 3),
                    "minutes": round(float(these["duration"].sum()) / 60, 2),
                    "median_s": round(float(these["duration"].median()), 2),
                    "loudness_lufs": round(lufs, 1),
                    "active_level_dbfs": round(active, 1),
                    f"loudness_vs_{reference}": round(lufs - ref_lufs, 1),
                    f"active_vs_{reference}": round(active - ref_active, 1),
                }
            )
    return pd.DataFrame(rows)


def missing_emotions(clips: pd.DataFrame, emotions: Sequence[str] = MISSION_EMOTIONS) -> dict[str, list[str]]:
    """Corpus -> the ``emotions`` it has no clip of (corpora that lack none are left out)."""
    out = {}
    for corpus, group in clips.groupby("corpus", sort=True):
        present = set(group["emotion"])
        missing = [e for e in emotions if e not in present]
        if missing:
            out[str(corpus)] = missing
    return out
