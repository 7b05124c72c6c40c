"""Scan MEAD and RAVDESS trees into a manifest table; read, write and split manifests.

A manifest has one row per take (one utterance by one speaker in one emotion at one
intensity level) with the columns of :data:`MANIFEST_COLUMNS`. Scanning never stops at a
missing or broken part of a tree: each one becomes a problem record (``path``, ``stage``,
``error``) in ``df.attrs["problems"]`` and the rest of the tree is still listed.

MEAD layout (``../shared/notes/mead.md``)::

    <root>/<actor>/audio/<emotion>/level_<n>/<nnn>.m4a
    <root>/<actor>/video/<view>/<emotion>/level_<n>/<nnn>.mp4

RAVDESS layout::

    <root>/Actor_AA/03-01-EE-II-SS-RR-AA.wav     (audio-only speech)
    <root>/Actor_AA/01-01-EE-II-SS-RR-AA.mp4     (audio-video speech, optional)
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from s2e_lib.data.splits import _parse_str_list, assign_split, speaker_split  # noqa: F401 (old home; see s2e_lib.data.splits)
from s2e_lib.emotions import (
    MISSION_EMOTIONS,
    RAVDESS_CODES,
    UnknownEmotionError,
    parse_emotion,
    parse_emotions,
)
from s2e_lib.errors import InputError, media_problem, one_line
from s2e_lib.fileio import atomic_output

#: Columns of every manifest, in order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "corpus",
    "speaker",
    "gender",
    "emotion",
    "level",
    "utterance",
    "audio_path",
    "videos",
    "duration",
)

#: MEAD camera views (folder names under ``video/``).
MEAD_VIEWS: tuple[str, ...] = ("front", "down", "top", "left_30", "left_60", "right_30", "right_60")

AUDIO_SUFFIXES = (".m4a", ".wav", ".mp3", ".flac", ".aac", ".mp4")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")

_MEAD_ACTOR = re.compile(r"^[MW]\d{3}$")
_RAVDESS_ACTOR = re.compile(r"^Actor_(\d{2})$")
_RAVDESS_FILE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_LEVEL = re.compile(r"^level_(\d+)$")


def problem(path: str | os.PathLike, stage: str, error: str) -> dict:
    """One problem record: the file or folder, the stage that met it, and what is wrong.

    A path whose bytes are not UTF-8 is written with ``\\xNN`` escapes (``printable``), so
    ``problems.csv`` can always be written."""
    return {"path": printable(str(path)), "stage": stage, "error": printable(str(error))}


def printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (surrogate escapes) shown as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _utf8(value) -> bool:
    """Whether every text in a manifest row can be written as UTF-8 (and opened by FFmpeg)."""
    if isinstance(value, dict):
        return all(_utf8(v) for v in value.values())
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


# --- scanning ------------------------------------------------------------------------


def detect_format(root: str | os.PathLike) -> str:
    """Return ``"mead"`` or ``"ravdess"`` from the layout of ``root``.

    Raises
    ------
    InputError
        ``root`` is missing, not a folder, or holds neither layout.
    """
    root = _check_root(root)
    children = [p for p in root.iterdir() if p.is_dir()]
    if _ravdess_actor_dirs(root):
        return "ravdess"
    if any(_MEAD_ACTOR.match(p.name) or (p / "audio").is_dir() or (p / "video").is_dir() for p in children):
        return "mead"
    raise InputError(
        f"{root}: neither a MEAD tree (<actor>/audio/<emotion>/level_<n>/*.m4a) "
        "nor a RAVDESS tree (Actor_XX/*.wav)"
    )


def scan(
    root: str | os.PathLike,
    format: str = "auto",
    emotions: Iterable[str] | str | None = MISSION_EMOTIONS,
    levels: Iterable[int] | str | None = None,
    views: Iterable[str] | str | None = None,
    speakers: Iterable[str] | str | None = None,
    durations: bool = True,
) -> pd.DataFrame:
    """List every take of a MEAD or RAVDESS tree as a manifest table.

    Parameters
    ----------
    root : path-like
        The corpus root (the folder holding the actor folders).
    format : {"auto", "mead", "ravdess"}
        Corpus layout; ``"auto"`` detects it (:func:`detect_format`).
    emotions : iterable of str or str, optional
        Emotions to keep (aliases such as ``netural`` accepted; comma-separated string
        accepted). Default: the five mission emotions. None keeps every emotion.
    levels : iterable of int or str, optional
        Intensity levels to keep (MEAD 1-3, RAVDESS 1-2). None keeps all.
    views : iterable of str or str, optional
        MEAD camera views whose videos are listed (None: every view present). A view
        folder missing for an actor is reported as a problem.
    speakers : iterable of str or str, optional
        Speaker ids to keep (``M003``, ``Actor_01``). None keeps all.
    durations : bool
        Read each audio file's duration (seconds). A file that cannot be opened is
        left out of the table and reported as a problem. False leaves NaN.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`, one row per take, sorted by speaker, emotion,
        level, utterance. ``videos`` is a dict view -> path. ``df.attrs["problems"]``
        lists the missing or unreadable parts as dicts (path, stage, error).

    Raises
    ------
    InputError
        The root is missing or has no recognisable layout, or a filter is invalid.
    """
    root = _check_root(root).absolute()
    fmt = detect_format(root) if format in (None, "auto") else str(format).lower()
    if fmt not in ("mead", "ravdess"):
        raise InputError(f"unknown corpus format {format!r}; expected auto, mead or ravdess")
    if format not in (None, "auto"):
        try:
            found = detect_format(root)
        except InputError:
            found = fmt
        if found != fmt:
            raise InputError(f"{root}: looks like a {found.upper()} tree, not {fmt.upper()}")
    emotions_set = None if emotions is None else set(_parse_emotion_filter(emotions))
    levels_set = None if levels is None else set(_parse_int_list(levels, "level"))
    views_list = None if views is None else _parse_str_list(views)
    speakers_set = None if speakers is None else set(_parse_str_list(speakers))

    problems: list[dict] = []
    if fmt == "mead":
        rows = _scan_mead(root, emotions_set, levels_set, views_list, speakers_set, problems)
    else:
        rows = _scan_ravdess(root, emotions_set, levels_set, speakers_set, problems)
    kept = []
    for row in rows:  # a name that is not UTF-8 cannot be written to the CSVs (nor opened by FFmpeg)
        if _utf8(row):
            kept.append(row)
        else:
            problems.append(
                problem(
                    row["audio_path"],
                    "scan",
                    "a file or folder name is not valid UTF-8 (take skipped; rename it)",
                )
            )
    rows = kept
    if speakers_set is not None:
        found = {r["speaker"] for r in rows}
        for missing in sorted(speakers_set - found):
            problems.append(problem(root / missing, "scan", f"speaker {missing} not found"))

    if durations:
        kept = []
        for row in rows:
            try:
                row["duration"] = media_duration(row["audio_path"])
            except InputError as exc:
                problems.append(problem(row["audio_path"], "scan", _strip_path(exc, row["audio_path"])))
                continue
            kept.append(row)
        rows = kept

    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    if len(df):
        df = df.sort_values(["speaker", "emotion", "level", "utterance"], kind="stable").reset_index(
            drop=True
        )
    df["level"] = df["level"].astype(int)
    df["duration"] = df["duration"].astype(float)
    df.attrs["problems"] = problems
    df.attrs["root"] = str(root)
    df.attrs["format"] = fmt
    return df


def _scan_mead(root, emotions_set, levels_set, views_list, speakers_set, problems) -> list[dict]:
    rows: list[dict] = []
    actors = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for actor in actors:
        if not (_MEAD_ACTOR.match(actor.name) or (actor / "audio").is_dir() or (actor / "video").is_dir()):
            continue
        speaker = actor.name
        if speakers_set is not None and speaker not in speakers_set:
            continue
        gender = {"M": "M", "W": "F", "F": "F"}.get(speaker[:1].upper(), "")
        audio_dir = actor / "audio"
        video_dir = actor / "video"
        if not audio_dir.is_dir():
            problems.append(problem(audio_dir, "scan", "missing audio/ folder (takes of this actor skipped)"))
            continue
        takes = {}
        for emotion, level, folder in _emotion_level_dirs(audio_dir, emotions_set, levels_set, problems):
            for f in sorted(folder.iterdir()):
                if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES and not f.name.startswith("."):
                    key = (emotion, level, f.stem)
                    if key in takes:
                        problems.append(problem(f, "scan", f"duplicate take (also {takes[key]})"))
                        continue
                    takes[key] = f

        videos: dict[tuple, dict[str, str]] = {}
        if not video_dir.is_dir():
            problems.append(problem(video_dir, "scan", "missing video/ folder (audio only for this actor)"))
        else:
            present = sorted(p.name for p in video_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
            wanted = present if views_list is None else views_list
            for view in wanted:
                vdir = video_dir / view
                if not vdir.is_dir():
                    problems.append(problem(vdir, "scan", f"missing video view {view!r}"))
                    continue
                for emotion, level, folder in _emotion_level_dirs(vdir, emotions_set, levels_set, problems):
                    for f in sorted(folder.iterdir()):
                        if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith("."):
                            key = (emotion, level, f.stem)
                            if key not in takes:
                                problems.append(problem(f, "scan", "video without matching audio (skipped)"))
                                continue
                            videos.setdefault(key, {})[view] = str(f)

        for (emotion, level, utt), path in takes.items():
            rows.append(
                {
                    "corpus": "mead",
                    "speaker": speaker,
                    "gender": gender,
                    "emotion": emotion,
                    "level": level,
                    "utterance": utt,
                    "audio_path": str(path),
                    "videos": dict(sorted(videos.get((emotion, level, utt), {}).items())),
                    "duration": math.nan,
                }
            )
    return rows


def _emotion_level_dirs(parent: Path, emotions_set, levels_set, problems):
    """Yield (emotion, level, folder) for ``parent/<emotion>/level_<n>`` folders."""
    for edir in sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            emotion = parse_emotion(edir.name)
        except UnknownEmotionError:
            problems.append(problem(edir, "scan", f"unknown emotion folder {edir.name!r} (skipped)"))
            continue
        if emotions_set is not None and emotion not in emotions_set:
            continue
        for ldir in sorted(p for p in edir.iterdir() if p.is_dir()):
            m = _LEVEL.match(ldir.name)
            if not m:
                problems.append(problem(ldir, "scan", f"unexpected folder {ldir.name!r}, expected level_<n>"))
                continue
            level = int(m.group(1))
            if levels_set is not None and level not in levels_set:
                continue
            yield emotion, level, ldir


def _ravdess_actor_dirs(root: Path) -> list[Path]:
    dirs = [p for p in root.iterdir() if p.is_dir() and _RAVDESS_ACTOR.match(p.name)]
    if not dirs:  # e.g. root/Audio_Speech_Actors_01-24/Actor_01
        for sub in root.iterdir():
            if sub.is_dir():
                dirs.extend(p for p in sub.iterdir() if p.is_dir() and _RAVDESS_ACTOR.match(p.name))
    return sorted(dirs, key=lambda p: p.name)


def _scan_ravdess(root, emotions_set, levels_set, speakers_set, problems) -> list[dict]:
    rows: list[dict] = []
    for actor in _ravdess_actor_dirs(root):
        speaker = actor.name
        if speakers_set is not None and speaker not in speakers_set:
            continue
        actor_num = int(_RAVDESS_ACTOR.match(speaker).group(1))
        takes: dict[tuple, dict] = {}
        videos: dict[tuple, str] = {}
        for f in sorted(actor.iterdir()):
            if not f.is_file() or f.name.startswith("."):
                continue
            m = _RAVDESS_FILE.match(f.stem)
            if not m:
                problems.append(problem(f, "scan", "name is not MM-VV-EE-II-SS-RR-AA (skipped)"))
                continue
            modality, channel, ecode, icode, statement, rep, anum = m.groups()
            if channel != "01":  # song
                continue
            if ecode not in RAVDESS_CODES:
                problems.append(problem(f, "scan", f"unknown emotion code {ecode} (skipped)"))
                continue
            emotion = RAVDESS_CODES[ecode]
            level = int(icode)
            if int(anum) != actor_num:
                problems.append(problem(f, "scan", f"actor field {anum} differs from folder {speaker}"))
            if emotions_set is not None and emotion not in emotions_set:
                continue
            if levels_set is not None and level not in levels_set:
                continue
            key = (emotion, level, f"{statement}-{rep}")
            if modality == "03" and f.suffix.lower() in AUDIO_SUFFIXES:
                takes[key] = f
            elif modality == "01" and f.suffix.lower() in VIDEO_SUFFIXES:
                videos[key] = str(f)
        for key in sorted(set(videos) - set(takes)):
            # audio-video file without the audio-only file: its audio track is the take
            takes[key] = Path(videos[key])
        for (emotion, level, utt), path in takes.items():
            rows.append(
                {
                    "corpus": "ravdess",
                    "speaker": speaker,
                    "gender": "M" if actor_num % 2 else "F",
                    "emotion": emotion,
                    "level": level,
                    "utterance": utt,
                    "audio_path": str(path),
                    "videos": {"front": videos[(emotion, level, utt)]}
                    if (emotion, level, utt) in videos
                    else {},
                    "duration": math.nan,
                }
            )
    return rows


def media_duration(path: str | os.PathLike) -> float:
    """Duration in seconds of the first audio stream of ``path`` (wav, m4a, mp4...).

    Raises
    ------
    InputError
        The file is empty, unreadable or has no audio stream.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise InputError(f"{path}: empty file")
    if path.suffix.lower() in (".wav", ".flac"):
        import soundfile as sf

        try:
            info = sf.info(str(path))
            if info.frames > 0:
                return float(info.frames) / info.samplerate
        except Exception:  # fall back to PyAV, which reads more variants
            pass
    import av

    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise InputError(f"{path}: no audio stream")
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / 1_000_000
            else:  # count decoded samples
                seconds = sum(fr.samples / fr.sample_rate for fr in container.decode(stream))
    except InputError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: {media_problem(exc, 'audio')}") from None
    if not seconds > 0:
        raise InputError(f"{path}: no audio samples")
    return seconds


# --- manifest files ------------------------------------------------------------------


def write_manifest(df: pd.DataFrame, path: str | os.PathLike, relative: bool = True) -> Path:
    """Write a manifest as CSV, atomically.

    ``videos`` is stored as a JSON object string. With ``relative``, paths that lie under
    the manifest's folder are written relative to it, so a prepared tree can be moved;
    :func:`read_manifest` turns them back into absolute paths.
    """
    path = Path(path)
    table = manifest_table(df, path.parent if relative else None)
    with atomic_output(path) as tmp:
        table.to_csv(tmp, index=False)
    outside = _outside_paths(table, path.parent)
    if outside:  # declare where they live, so read_manifest accepts them
        roots = [os.path.normpath(Path(df.attrs["root"]).absolute())] if df.attrs.get("root") else []
        rest = [p for p in outside if not any(_under(p, r) for r in roots)]
        roots += [os.path.commonpath(rest)] if rest else []
        with atomic_output(_roots_file(path)) as tmp:
            tmp.write_text(json.dumps({"format": ROOTS_FORMAT, "roots": roots}, indent=2) + "\n")
    return path


#: ``format`` of the ``<manifest stem>.roots.json`` file :func:`write_manifest` writes
#: beside a manifest whose paths lie outside its folder.
ROOTS_FORMAT = "s2e-manifest-roots"


def _roots_file(manifest: Path) -> Path:
    return manifest.with_name(f"{manifest.stem}.roots.json")


def _outside_paths(table: pd.DataFrame, folder: Path) -> list[str]:
    """Absolute paths of ``table`` (audio_path, videos) that lie outside ``folder``."""
    base = os.path.normpath(Path(folder).absolute())
    found = []
    values = list(table["audio_path"]) if "audio_path" in table.columns else []
    if "videos" in table.columns:
        for v in table["videos"]:
            try:
                values.extend((json.loads(v) if isinstance(v, str) else (v or {})).values())
            except (json.JSONDecodeError, AttributeError):
                continue
    for v in values:
        if isinstance(v, str) and v and os.path.isabs(v) and not _under(os.path.normpath(v), base):
            found.append(os.path.normpath(v))
    return found


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def manifest_roots(path: str | os.PathLike) -> list[Path]:
    """Folders a manifest may point into: its own folder, the corpus root of a prepared
    tree (``prepare_params.json``), the roots :func:`write_manifest` declared
    (``<stem>.roots.json``) and the project's ``data/`` folder."""
    path = Path(path)
    roots = [path.parent.absolute()]
    for file, key in ((path.parent / "prepare_params.json", "root"), (_roots_file(path), "roots")):
        try:
            value = json.loads(file.read_text(encoding="utf-8")).get(key)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            continue
        for root in [value] if isinstance(value, str) else (value or []):
            if isinstance(root, str) and os.path.isabs(root):
                roots.append(Path(root))
    try:
        from s2e_lib.paths import project_paths

        roots.append(project_paths().data.absolute())
    except Exception:  # no project home: the other roots only
        pass
    return roots


def _inside_any(p: str, roots: list[Path]) -> bool:
    lexical, real = os.path.normpath(p), os.path.realpath(p)
    for root in roots:
        if _under(lexical, os.path.normpath(root)) or _under(real, os.path.realpath(root)):
            return True
    return False


def manifest_table(df: pd.DataFrame, base: str | os.PathLike | None = None) -> pd.DataFrame:
    """The table :func:`write_manifest` writes: ``videos`` as JSON, paths under ``base`` relative."""
    base = Path(base).resolve() if base is not None else None
    out = df.copy()
    out.attrs = {}

    def rel(p):
        if not isinstance(p, str) or not p:
            return p
        if base is not None:
            try:
                return Path(p).resolve().relative_to(base).as_posix()
            except ValueError:
                pass
        return str(Path(p).absolute())

    for col in ("audio_path", "source_path"):
        if col in out.columns:
            out[col] = out[col].map(rel)
    if "videos" in out.columns:
        out["videos"] = out["videos"].map(
            lambda v: (
                json.dumps({k: rel(x) for k, x in (v or {}).items()}, sort_keys=True)
                if isinstance(v, dict)
                else (v if isinstance(v, str) else "{}")
            )
        )
    return out


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest CSV written by :func:`write_manifest` (or by hand).

    Paths relative to the manifest's folder become absolute; ``videos`` becomes a dict;
    ``utterance`` stays a string (``"001"``), ``level`` an int.

    An ``audio_path`` or ``videos`` entry must stay inside the manifest's data roots
    (:func:`manifest_roots`): a relative path inside the manifest's folder, an absolute
    one inside any root. A crafted ``../../etc/passwd`` is refused.

    Raises
    ------
    InputError
        The file is missing, not a CSV, or lacks manifest columns, or a path in it lies
        outside its data roots (the message names the manifest, the row and the path).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    try:
        df = pd.read_csv(path, dtype={"utterance": str, "speaker": str, "gender": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a manifest CSV ({one_line(exc)})") from None
    missing = [c for c in ("speaker", "emotion", "level", "utterance", "audio_path") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: not a manifest (missing columns: {', '.join(missing)})")
    base = path.parent.resolve()
    roots = manifest_roots(path)

    def absolute(p):
        if not isinstance(p, str) or not p:
            return p
        q = Path(p)
        return str(q if q.is_absolute() else base / q)

    def checked(p, row: int, column: str):
        q = absolute(p)
        if not isinstance(q, str) or not q:
            return q
        inside = _inside_any(q, [base]) if not Path(p).is_absolute() else _inside_any(q, roots)
        if not inside:
            raise InputError(
                f"{path}: row {row + 1}: {column} {p!r} lies outside the manifest's data folder "
                f"{path.parent} (refused)"
            )
        return q

    if "source_path" in df.columns:  # provenance only: never read
        df["source_path"] = df["source_path"].map(absolute)
    df["audio_path"] = [checked(p, i, "audio_path") for i, p in enumerate(df["audio_path"])]
    if "videos" in df.columns:

        def parse_videos(text, row):
            try:
                value = json.loads(text) if isinstance(text, str) and text.strip() else {}
            except json.JSONDecodeError:
                raise InputError(f"{path}: videos column is not JSON: {text[:60]!r}") from None
            if not isinstance(value, dict):
                raise InputError(f"{path}: row {row + 1}: videos is not a JSON object: {text[:60]!r}")
            return {k: checked(v, row, f"video {k}") for k, v in value.items()}

        df["videos"] = [parse_videos(t, i) for i, t in enumerate(df["videos"])]
    else:
        df["videos"] = [{} for _ in range(len(df))]
    df["level"] = df["level"].astype(int)
    if "duration" in df.columns:
        df["duration"] = pd.to_numeric(df["duration"], errors="coerce").astype(float)
    df.attrs["problems"] = []
    return df


# --- small helpers ------------------------------------------------------------------


def _check_root(root) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise InputError(f"{root}: corpus folder not found")
    if not root.is_dir():
        raise InputError(f"{root}: is not a folder")
    return root


def _parse_int_list(value, what: str) -> list[int]:
    out = []
    for v in _parse_str_list(value) if isinstance(value, str) else value:
        text = str(v).strip().removeprefix("level_")
        try:
            out.append(int(text))
        except ValueError:
            raise InputError(f"invalid {what} {v!r}; expected an integer") from None
    return out


def _parse_emotion_filter(value) -> list[str]:
    try:
        return parse_emotions(value)
    except UnknownEmotionError as exc:
        raise InputError(str(exc)) from None


def _strip_path(exc: BaseException, path) -> str:
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text
