"""Voice → emotion → face for one pair or a batch of pairs.

:class:`Pipeline` loads the speech model and the editor once (``warm`` use: notebooks,
batches, the benchmark) and processes pairs with :meth:`Pipeline.run_pair`, which writes

- ``result.json`` — inputs, emotion, every probability, strength used, editor, faces
  found and edited, identity distance, per-stage seconds, versions (:data:`RESULT_KEYS`
  lists the keys);
- ``edited.png`` — the full photo, edited;
- ``summary.png`` — input | edited | probability bars.

:func:`run_batch` accepts files or folders for audio and face, processes every pair with a
progress bar, and writes ``summary.csv``; one bad file only fails its own row.

Inputs are checked before any speech work: the face photo is decoded and its faces
detected (:meth:`Pipeline.check_face`), the recording's header read (decodable, not too
long: :meth:`Pipeline.check_audio`). A batch checks every input first
(:func:`plan_batch`), then works on the pairs whose inputs passed
(:func:`run_plan`); a pair refused by the checks gets a failed row and no folder.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2e_lib import __version__
from s2e_lib.audio.io import MAX_CLIP_SECONDS
from s2e_lib.edit.base import edit_warnings, face_count_warnings
from s2e_lib.emotions import RAVDESS_CODES
from s2e_lib.errors import InputError, S2EError
from s2e_lib.face.io import save_image
from s2e_lib.fileio import (
    atomic_output,
    check_output,
    output_lock,
    path_inside,
    remove_if_only_locks,
    safe_name,
    write_text_atomic,
)
from s2e_lib.pipeline.strength import (
    auto_strength,
    confidence_from_probabilities,
    level_from_path,
    parse_strength,
)
from s2e_lib.ser.calibration import is_uncertain

#: Recordings a folder is searched for (any file PyAV decodes works when named directly):
#: phone voice memos (.m4a, .3gp, .amr), messenger voice notes (.opus, .ogg), Apple (.aiff, .caf).
AUDIO_SUFFIXES = (
    ".wav", ".m4a", ".mp3", ".flac", ".ogg", ".aac", ".mp4", ".mov", ".webm", ".opus",
    ".aiff", ".aif", ".caf", ".3gp", ".amr", ".wma", ".mka",
)  # fmt: skip
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif")

RESULT_KEYS = (
    "audio",
    "face",
    "emotion",
    "probabilities",
    "confidence",
    "uncertain",
    "strength",
    "strength_mode",
    "level",
    "editor",
    "all_faces",
    "faces_found",
    "faces_edited",
    "identity_distance",
    "blendshapes",
    "warnings",
    "seconds",
    "outputs",
    "versions",
)


@dataclass
class RunConfig:
    """Options of ``s2e run``.

    Attributes
    ----------
    editor : str
        ``warp`` (default, offline), ``pix2pixhd`` (needs ``checkpoint``), ``ials`` (needs ``pretrain``).
    strength : str or float
        ``"auto"`` (from the classifier's confidence, see :mod:`s2e_lib.pipeline.strength`) or 0…1.5.
    model : path, optional
        Speech-emotion checkpoint (default: the shipped model).
    overwrite : bool
        Replace existing output files.
    identity : bool
        Compute the dlib identity distance between input and edited face, and the blendshape
        self-check (:func:`s2e_lib.face.mesh.blendshape_record`: did the edit raise what the
        emotion raises on a real face?).
    max_seconds : float or None
        Longest recording one pair accepts, checked before decoding (``--max-seconds``;
        None = no limit). ``--timeline`` streams and ignores it.
    all_faces : bool
        Edit every face of the photo (warp editor only), not only the largest.
    voice_profile : path, optional
        The speaker's voice profile (``s2e ser profile``): the voice is then heard relative
        to the speaker's usual voice by the speaker-centred model (``model`` when given,
        else the shipped ``speaker.pt``; :mod:`s2e_lib.ser.adapt`).
    adapt : bool
        Like ``voice_profile``, with the profile made from the recordings being processed
        (:meth:`Pipeline.adapt_to`: a batch's recordings, or a timeline's own windows), all
        taken to be one speaker.
    """

    editor: str = "warp"
    strength: str | float = "auto"
    model: str | None = None
    checkpoint: str | None = None
    pretrain: str | None = None
    overwrite: bool = False
    identity: bool = True
    summary_figure: bool = True
    max_seconds: float | None = MAX_CLIP_SECONDS
    all_faces: bool = False
    voice_profile: str | None = None
    adapt: bool = False


@dataclass
class PairResult:
    audio: str
    face: str
    out_dir: str
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    resumed: bool = False  # complete from an earlier run into the same folder: skipped


def versions() -> dict[str, str]:
    """Versions of the library and the packages that shape results."""
    import importlib.metadata as md

    out = {"s2e_lib": __version__}
    for dist in ("numpy", "torch", "librosa", "dlib-bin", "opencv-python-headless"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "absent"
    return out


@dataclass
class Photo:
    """A face photo with its detected faces (largest first) and, on demand, the identity
    descriptor of the largest face."""

    image: np.ndarray
    faces: list
    _descriptor: np.ndarray | None = None

    def descriptor(self) -> np.ndarray:
        if self._descriptor is None:
            from s2e_lib.face.identity import face_descriptor

            self._descriptor = face_descriptor(self.image, self.faces[0])
        return self._descriptor


class Pipeline:
    """Loads the speech model and the editor once; processes (audio, face) pairs."""

    def __init__(self, config: RunConfig | None = None):
        self.config = config or RunConfig()
        self.fixed_strength = parse_strength(self.config.strength)
        if self.config.all_faces and self.config.editor != "warp":
            raise InputError(f"all faces: only the warp editor edits several faces, not {self.config.editor}")
        self._model = None
        self._editor = None
        self._photos: dict[tuple, Photo] = {}
        self._profile = None
        self._profile_source = self.config.voice_profile
        if self.config.voice_profile and self.config.adapt:
            raise InputError("--voice-profile and --adapt are two sources of one voice profile: give one")
        if self.config.voice_profile:  # a bad profile is refused before any work
            from s2e_lib.ser.adapt import VoiceProfile

            self._profile = VoiceProfile.load(self.config.voice_profile)

    @property
    def model(self):
        if self._model is None:
            from s2e_lib.ser import load_model

            wants_profile = self.config.adapt or self._profile is not None
            model = (
                load_model(self.config.model, speaker_centred=True)
                if wants_profile
                else load_model(self.config.model)
            )
            if wants_profile and not model.speaker_centred:
                raise InputError(
                    f"{model.path}: not a speaker-centred model; --voice-profile and --adapt need one"
                )
            if self._profile is not None:
                self._profile.check(model.feature_config, self.config.voice_profile)
                model.use_profile(self._profile)
            elif model.speaker_centred and not self.config.adapt:  # adapt: the profile comes in adapt_to
                raise InputError(
                    f"{model.path}: a speaker-centred model needs a voice profile (--voice-profile or --adapt)"
                )
            self._model = model
        return self._model

    @property
    def editor(self):
        if self._editor is None:
            from s2e_lib.edit import get_editor

            options = {}
            if self.config.checkpoint:
                options["checkpoint"] = self.config.checkpoint
            if self.config.pretrain:
                options["pretrain"] = self.config.pretrain
            self._editor = get_editor(self.config.editor, **options)
        return self._editor

    def adapt_to(self, audio_paths, progress: bool = True) -> None:
        """Hear every following recording against the voice profile of ``audio_paths`` (one
        speaker, at least 2 with speech; files without speech are left out of it, their own
        pairs report them). Needs ``config.adapt``."""
        paths = list(dict.fromkeys(str(p) for p in audio_paths))
        done = self.model.read_files(
            paths,
            self.config.max_seconds,
            on_error=lambda path, exc: None,
            progress=progress and len(paths) > 1,
        )
        self.model.adapt_to(done)
        self._profile, self._profile_source = self.model.profile, f"the {len(done)} recordings of this run"

    def use_profile(self, profile, source: str) -> None:
        """Hear the voice against ``profile`` from now on (``source`` is recorded in results)."""
        self.model.use_profile(profile)
        self._profile, self._profile_source = profile, source

    def profile_record(self) -> dict:
        """``{"voice_profile": {"path", "n_clips"}}`` when the voice is heard against a profile
        (``path``: the profile file, or what it was made from), else ``{}``."""
        if self._profile is None:
            return {}
        return {"voice_profile": {"path": str(self._profile_source), "n_clips": self._profile.n_clips}}

    def warm_up(self) -> Pipeline:
        """Load models now (so the first pair's timings are warm)."""
        _ = self.model, self.editor
        from s2e_lib.face import detect_faces

        detect_faces(np.zeros((64, 64, 3), dtype=np.uint8))
        return self

    def check_audio(self, audio_path: str | os.PathLike) -> float | None:
        """Refuse a recording that cannot be opened, holds no audio stream or is longer than
        ``config.max_seconds`` (its header only: nothing is decoded); returns the stated
        duration in seconds (None when the header states none)."""
        from s2e_lib.audio.io import check_clip_length

        return check_clip_length(audio_path, self.config.max_seconds)

    def check_face(self, face_path: str | os.PathLike) -> Photo:
        """The photo (:meth:`photo`), refused when it cannot be decoded or shows no face large
        enough to edit. Cheap next to the speech work, so run it first."""
        from s2e_lib.face.detect import MIN_FACE_PX

        photo = self.photo(face_path)
        if not photo.faces:
            raise InputError(f"{face_path}: no face found")
        if photo.faces[0].width < MIN_FACE_PX:
            raise InputError(
                f"{face_path}: face is too small ({photo.faces[0].width:.0f} px wide; "
                f"at least {MIN_FACE_PX} px needed)"
            )
        return photo

    def classify(self, audio_path: str | os.PathLike) -> tuple[np.ndarray, dict[str, float]]:
        """Load, check and classify a recording; returns the audio and label probabilities."""
        from s2e_lib.audio import load_audio

        audio = load_audio(audio_path, max_seconds=self.config.max_seconds)
        probabilities = self.model.predict_proba(audio, sr=16000, path=audio_path)  # checks the speech
        return audio, {k: float(v) for k, v in probabilities.items()}

    def photo(self, face_path: str | os.PathLike) -> Photo:
        """The loaded photo and its detected faces, cached per file (a batch reuses a face)."""
        from s2e_lib.face import detect_faces, load_image

        path = Path(face_path)
        stat = path.stat() if path.exists() else None
        key = (str(path.resolve()), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)
        if key not in self._photos:
            image = load_image(path)
            if len(self._photos) >= 8:
                self._photos.pop(next(iter(self._photos)))
            self._photos[key] = Photo(image, detect_faces(image))
        return self._photos[key]

    def strength_for(
        self, probabilities: dict[str, float], audio_path: str | os.PathLike | None
    ) -> tuple[float, str]:
        if self.fixed_strength is not None:
            return self.fixed_strength, "fixed"
        return auto_strength(probabilities, level_from_path(audio_path)), "auto"

    def run_pair(
        self,
        audio_path: str | os.PathLike,
        face_path: str | os.PathLike,
        out_dir: str | os.PathLike,
        replace_partial: bool = False,
        emotion: str | None = None,
    ) -> dict[str, Any]:
        """Process one pair into ``out_dir``; returns the result dict (also in result.json).

        ``emotion`` overrides the emotion heard in the voice (the probabilities stay the voice's).

        ``result.json`` is written last: a folder without it is an incomplete pair.
        ``replace_partial=True`` (see :func:`pair_state`) replaces the files an interrupted
        run left in ``out_dir`` for this pair, whatever ``overwrite`` says.
        """
        out_dir = Path(out_dir)
        outputs = {name: out_dir / name for name in ("result.json", "edited.png", "summary.png")}
        seconds: dict[str, float] = {}

        tick = time.perf_counter()  # the face first: "no face found" must not wait for the speech work
        photo = self.check_face(face_path)
        image, faces = photo.image, photo.faces
        seconds["load_face"] = time.perf_counter() - tick
        if not replace_partial:
            for path in outputs.values():
                check_output(path, overwrite=self.config.overwrite)

        tick = time.perf_counter()
        audio, probabilities = self.classify(audio_path)
        seconds["speech_emotion"] = time.perf_counter() - tick
        emotion = emotion or max(probabilities, key=probabilities.get)
        strength, mode = self.strength_for(probabilities, audio_path)

        tick = time.perf_counter()
        try:
            if self.config.all_faces:
                edit = self.editor.edit(image, emotion, strength, faces=faces, all_faces=True)
            else:
                edit = self.editor.edit(image, emotion, strength, faces=faces[:1])
        except S2EError as exc:  # e.g. "image: no face found": name the file
            message = str(exc)
            if str(face_path) not in message:
                message = f"{face_path}: {message.removeprefix('image: ')}"
            raise type(exc)(message) from None
        edited = edit.image
        faces_edited = int(edit.info.get("n_faces", 1))
        seconds["edit"] = time.perf_counter() - tick

        distance = None
        if self.config.identity and faces:
            from s2e_lib.face.detect import Face, landmarks_for_box
            from s2e_lib.face.identity import face_descriptor

            tick = time.perf_counter()
            # The edited face sits in the same box: re-predict its landmarks there instead of
            # detecting again (a strong edit can also defeat the detector).
            edited_face = Face(faces[0].box, landmarks_for_box(edited, faces[0].box))
            distance = float(np.linalg.norm(face_descriptor(edited, edited_face) - photo.descriptor()))
            seconds["identity"] = time.perf_counter() - tick
        blendshapes: dict = {"available": False, "why": "not measured (identity off)"}
        if self.config.identity and faces:
            from s2e_lib.face.mesh import blendshape_record

            tick = time.perf_counter()
            blendshapes = blendshape_record(image, edited, emotion, strength, faces[0].box)
            seconds["blendshapes"] = time.perf_counter() - tick

        tick = time.perf_counter()
        _save_image(edited, outputs["edited.png"], self.config.overwrite, own_output=replace_partial)
        if self.config.summary_figure:
            from s2e_lib.viz.pipeline import summary_image

            box = face_box(image, faces[0]) if faces else None
            if box is not None:  # show the face, not the whole photo
                left, top, right, bottom = box
                shown = (image[top:bottom, left:right], edited[top:bottom, left:right])
            else:
                shown = (image, edited)
            summary = summary_image(
                *shown,
                probabilities,
                emotion,
                strength,
                title=f"{take_name(audio_path)} -> {Path(face_path).name}",
            )
            _save_image(summary, outputs["summary.png"], self.config.overwrite, own_output=replace_partial)
        else:
            outputs.pop("summary.png")
        seconds["write"] = time.perf_counter() - tick
        seconds["total"] = sum(seconds.values())

        result = {
            "audio": str(Path(audio_path).resolve()),
            "face": str(Path(face_path).resolve()),
            "emotion": emotion,
            "probabilities": probabilities,
            "confidence": round(confidence_from_probabilities(probabilities), 4),
            "uncertain": is_uncertain(probabilities),
            "strength": strength,
            "strength_mode": mode,
            "level": level_from_path(audio_path),
            "editor": self.config.editor,
            "all_faces": self.config.all_faces,
            "faces_found": len(faces),
            "faces_edited": faces_edited,
            "identity_distance": distance,
            "blendshapes": blendshapes,
            "warnings": _audio_warnings(audio)
            + (
                [
                    f"uncertain: the voice's top emotion has probability {max(probabilities.values()):.2f}; "
                    "the edit strength follows it"
                ]
                if is_uncertain(probabilities)
                else []
            )
            + face_count_warnings(len(faces), faces_edited, self.config.all_faces)
            + edit_warnings(edit.info)
            + ([blendshapes["warning"]] if blendshapes.get("warning") else []),
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
            "outputs": {k: str(v) for k, v in outputs.items()},
            "versions": versions(),
        }
        if self._profile is not None:  # heard against the speaker's usual voice
            result.update(self.profile_record())
            result["warnings"] += self._profile.warnings
        if replace_partial:
            with atomic_output(outputs["result.json"], own_output=True) as tmp:
                tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
        else:
            write_text_atomic(
                outputs["result.json"], json.dumps(result, indent=2), overwrite=self.config.overwrite
            )
        return result


def pair_state(
    pair_dir: str | os.PathLike, audio: str | os.PathLike, face: str | os.PathLike, config: RunConfig
) -> tuple[str, dict[str, Any]]:
    """What an earlier run left in ``pair_dir`` for this pair and configuration.

    Returns ``(state, result)``: ``"complete"`` (its ``result.json`` — written last — names
    this audio, face, editor and strength, and the outputs it lists exist; ``result`` is its
    content), ``"partial"`` (only this pair's files from an interrupted run: redo it, replacing
    them), ``"fresh"`` (none of the output files) or ``"other"`` (a ``result.json`` of another
    pair or configuration, or unreadable: not ours to replace).
    """
    pair_dir = Path(pair_dir)
    names = ("result.json", "edited.png", "summary.png")
    result_path = pair_dir / "result.json"
    if not result_path.exists():
        return ("partial" if any((pair_dir / n).exists() for n in names) else "fresh"), {}
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "other", {}
    if not isinstance(result, dict):
        return "other", {}
    fixed = parse_strength(config.strength)
    same = (
        result.get("audio") == str(Path(audio).resolve())
        and result.get("face") == str(Path(face).resolve())
        and result.get("editor") == config.editor
        and bool(result.get("all_faces", False)) == config.all_faces
        and result.get("strength_mode") == ("auto" if fixed is None else "fixed")
        and (fixed is None or result.get("strength") == fixed)
    )
    if not same:
        return "other", {}
    outputs = result.get("outputs")
    # the names, looked up in pair_dir: the recorded paths may be relative to another cwd
    if not isinstance(outputs, dict) or not all((pair_dir / Path(p).name).exists() for p in outputs.values()):
        return "partial", {}
    return "complete", result


#: The summary shows the whole photo when the face's box covers more than this share of it.
#: (At 0.6, a speaker's face filling half the width of a tall photo was shown at a quarter
#: of the panel's height, the edit hard to see.)
WHOLE_PHOTO = 0.8


def face_box(image: np.ndarray, face=None, margin: float = 0.6) -> tuple[int, int, int, int] | None:
    """A square box around ``face`` (default: the largest detected) with ``margin``·width each
    side, or None when there is no face or the box would keep most of the photo anyway
    (over :data:`WHOLE_PHOTO` of its area: a tight portrait is shown whole)."""
    from s2e_lib.face import detect_faces
    from s2e_lib.face.geometry import face_crop_box

    if face is None:
        faces = detect_faces(image)
        if not faces:
            return None
        face = faces[0]
    left, top, right, bottom = face_crop_box(face, image.shape, margin=margin)
    if (right - left) * (bottom - top) > WHOLE_PHOTO * image.shape[0] * image.shape[1]:
        return None
    return left, top, right, bottom


_MEAD_TAKE = re.compile(
    r"(?P<actor>[^/\\]+)[/\\]audio[/\\](?P<emotion>[^/\\]+)[/\\]level_(?P<level>\d+)[/\\](?P<take>[^/\\]+)\.\w+$"
)
_RAVDESS_TAKE = re.compile(r"(?:^|[/\\])\d{2}-\d{2}-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\.\w+$")


def take_name(audio_path: str | os.PathLike) -> str:
    """A recording named as a take: actor, emotion, level and take for the MEAD layout
    (``M003/audio/angry/level_3/001.m4a`` → ``M003 angry level 3, take 001``), actor,
    emotion and intensity for RAVDESS file names, else the file name."""
    text = os.fsdecode(audio_path)
    mead = _MEAD_TAKE.search(text)
    if mead:
        return f"{mead['actor']} {mead['emotion']} level {mead['level']}, take {mead['take']}"
    ravdess = _RAVDESS_TAKE.search(text)
    if ravdess:
        emotion, intensity, statement, repetition, actor = ravdess.groups()
        strength = {"01": "normal", "02": "strong"}.get(intensity, intensity)
        return (
            f"RAVDESS actor {int(actor)} {RAVDESS_CODES.get(emotion, emotion)} ({strength}), "
            f"statement {int(statement)} take {int(repetition)}"
        )
    return Path(text).name


def _audio_warnings(audio: np.ndarray) -> list[str]:
    from s2e_lib.ser.predict import audio_warnings  # loaded with the speech model already

    return audio_warnings(audio)


def _save_image(image: np.ndarray, path: Path, overwrite: bool, own_output: bool = False) -> None:
    if own_output:  # a file an interrupted run left for this pair: replace it
        with atomic_output(path, own_output=True) as tmp:
            save_image(image, tmp, overwrite=True, format="PNG", compress_level=1)
        return
    save_image(image, path, overwrite=overwrite, format="PNG", compress_level=1)


def collect_files(path: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """A file → [file]; a folder → its files with ``suffixes`` (recursively, sorted)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if path.is_file():
        return [path]
    if not path.is_dir():
        from s2e_lib.fileio import not_regular_kind

        raise InputError(f"{path}: is {not_regular_kind(path)}, not a regular {what} file or a folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise InputError(f"{path}: folder holds no {what} files ({', '.join(suffixes)})")
    return files


def _pair_key(audio: Path, face: Path, audio_root: Path, many_faces: bool) -> tuple[str, str]:
    """(readable folder name, the pair's identity): the audio's path below the folder with its
    suffix (``a.m4a`` and ``a.mp4`` are two recordings), and the face's file name."""
    rel = audio.relative_to(audio_root) if audio_root.is_dir() else Path(audio.name)
    name = "_".join(rel.parts)
    identity = "/".join(rel.parts) + ("//" + face.name if many_faces else "")
    # one safe folder name (file names may hold control characters or bytes that are not UTF-8)
    return safe_name(f"{name}__{face.name}" if many_faces else name), identity


def pair_folder_names(keys: list[tuple[str, str]]) -> list[str]:
    """Unique folder names for pairs: a readable name stays as it is unless another pair's
    name equals it (ignoring case, as macOS and Windows do); then every such name gets ``~``
    and 8 hex digits of the SHA-1 of its pair's identity (``x/y.m4a`` and ``x_y.m4a``)."""
    import hashlib
    from collections import Counter

    counts = Counter(name.lower() for name, _ in keys)
    names = []
    for name, identity in keys:
        if counts[name.lower()] > 1:
            digest = hashlib.sha1(identity.encode("utf-8", "surrogateescape")).hexdigest()[:8]
            name = f"{name}~{digest}"
        names.append(name)
    return names


SUMMARY_COLUMNS = (
    "audio",
    "face",
    "status",
    "emotion",
    "confidence",
    "strength",
    "identity_distance",
    "seconds",
    "out_dir",
    "error",
)


@dataclass
class PlannedPair:
    """One (audio, face) pair of a batch and the folder it goes to; ``error`` when an input
    check refused it (it is then never worked on and gets no folder)."""

    audio: Path
    face: Path
    out_dir: Path
    error: str = ""


@dataclass
class BatchPlan:
    """Every pair of a run, its inputs checked (:func:`plan_batch`), ready for :func:`run_plan`."""

    out_dir: Path
    single: bool  # two files: the pair writes straight into out_dir
    pairs: list[PlannedPair]
    problems: dict[Path, str] = field(default_factory=dict)  # input file -> why it was refused

    @property
    def refused(self) -> list[PlannedPair]:
        """The pairs an input check refused."""
        return [p for p in self.pairs if p.error]


def plan_batch(
    audio: str | os.PathLike,
    face: str | os.PathLike,
    out_dir: str | os.PathLike,
    pipeline: Pipeline,
    progress: bool = True,
) -> BatchPlan:
    """List every (audio, face) pair and check every input before any work.

    Each recording's header is read (decodable, has audio, not longer than
    ``max_seconds``) and each photo decoded with its faces detected, once per file. Nothing
    is written and no model is loaded.

    Raises
    ------
    InputError
        A missing input, a folder without inputs, an output folder that cannot be created,
        or, for a single pair (two files), the first problem with either file.
    """
    from tqdm.auto import tqdm

    audio_files = collect_files(audio, AUDIO_SUFFIXES, "audio")
    face_files = collect_files(face, IMAGE_SUFFIXES, "image")
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    single = len(audio_files) == 1 and len(face_files) == 1 and Path(audio).is_file() and Path(face).is_file()
    if single:  # one pair: its problem is the command's error
        pipeline.check_face(face_files[0])
        pipeline.check_audio(audio_files[0])
        return BatchPlan(out_dir, True, [PlannedPair(audio_files[0], face_files[0], out_dir)])
    problems: dict[Path, str] = {}
    inputs = [(f, pipeline.check_face) for f in face_files] + [(a, pipeline.check_audio) for a in audio_files]
    for path, check in tqdm(inputs, desc="checking inputs", unit="file", disable=not progress):
        try:
            check(path)
        except S2EError as exc:
            problems[path] = str(exc)
    combos = [(a, f) for a in audio_files for f in face_files]
    names = pair_folder_names([_pair_key(a, f, Path(audio), len(face_files) > 1) for a, f in combos])
    pairs = []
    for (audio_file, face_file), name in zip(combos, names, strict=True):
        error = problems.get(face_file) or problems.get(audio_file) or ""
        pairs.append(PlannedPair(audio_file, face_file, out_dir / name, error))
    return BatchPlan(out_dir, False, pairs, problems)


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that cannot be created or written, without creating it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    ancestor = out_dir
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{out_dir}: cannot create output folder ({ancestor} is not a folder)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{out_dir}: cannot create output folder ({ancestor} is not writable)")


def run_batch(
    audio: str | os.PathLike,
    face: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: RunConfig | None = None,
    progress: bool = True,
    pipeline: Pipeline | None = None,
    resume: bool | None = None,
) -> list[PairResult]:
    """Process every (audio, face) pair; write ``out_dir/summary.csv``.

    A single pair (two files) writes straight into ``out_dir``; otherwise each pair gets
    ``out_dir/<audio path>[__<face file>]/`` (unique: :func:`pair_folder_names`). Every input is checked first
    (:func:`plan_batch`); pairs with a bad input fail their row and get no folder.

    The run holds an exclusive lock on ``out_dir`` (:func:`~s2e_lib.fileio.output_lock`): a
    second run into the same folder stops with "busy: …" before writing anything.

    ``resume`` (default: on for batches, off for a single pair; ignored with ``overwrite``):
    pairs an earlier run completed (their ``result.json``, written last, is there) are skipped
    and reported from it, pairs it left incomplete are redone, their partial files replaced
    (see :func:`pair_state`); ``summary.csv`` is rewritten from all pairs.
    """
    pipeline = pipeline or Pipeline(config)
    plan = plan_batch(audio, face, out_dir, pipeline, progress=progress)
    return run_plan(plan, pipeline, progress=progress, resume=resume)


def run_plan(
    plan: BatchPlan, pipeline: Pipeline, progress: bool = True, resume: bool | None = None
) -> list[PairResult]:
    """Work on the pairs of ``plan`` (see :func:`run_batch`); refused pairs become failed rows.

    A pair that fails during the work leaves no folder it created behind (its files are
    written atomically, ``result.json`` last); a single pair that fails leaves no output
    folder it created.
    """
    created = not plan.out_dir.exists()
    try:
        with output_lock(plan.out_dir):
            return _run_plan(plan, pipeline, progress, resume)
    except S2EError:
        if created and plan.single:
            remove_if_only_locks(plan.out_dir)
        raise


def _run_plan(plan: BatchPlan, pipeline: Pipeline, progress: bool, resume: bool | None) -> list[PairResult]:
    from tqdm.auto import tqdm

    single, out_dir = plan.single, plan.out_dir
    resume = (not single if resume is None else resume) and not pipeline.config.overwrite
    results: list[PairResult] = []
    bar = tqdm(plan.pairs, desc="s2e run", unit="pair", disable=not progress or single)
    for pair in bar:
        audio_file, face_file, pair_dir = pair.audio, pair.face, pair.out_dir
        if pair.error:
            results.append(
                PairResult(str(audio_file), str(face_file), str(pair_dir), False, error=pair.error)
            )
            continue
        existed = pair_dir.exists()
        try:
            if not single:  # a pair folder (e.g. a symlink left there) must not lead outside out_dir
                path_inside(out_dir, pair_dir.name)
            state, previous = (
                pair_state(pair_dir, audio_file, face_file, pipeline.config) if resume else ("fresh", {})
            )
            if state == "complete":  # done by an earlier run into this folder
                results.append(
                    PairResult(str(audio_file), str(face_file), str(pair_dir), True, previous, resumed=True)
                )
                continue
            result = pipeline.run_pair(audio_file, face_file, pair_dir, replace_partial=state == "partial")
            results.append(PairResult(str(audio_file), str(face_file), str(pair_dir), True, result))
        except S2EError as exc:
            if single:
                raise
            if not existed:  # the pair's own empty folder goes with its failure
                with contextlib.suppress(OSError):
                    pair_dir.rmdir()
            results.append(PairResult(str(audio_file), str(face_file), str(pair_dir), False, error=str(exc)))
    if not single:
        summary_csv = out_dir / "summary.csv"
        write_summary_csv(
            results,
            summary_csv,
            overwrite=pipeline.config.overwrite or (resume and _own_summary(summary_csv)),
        )
    return results


def _own_summary(path: Path) -> bool:
    """True when ``path`` is absent or a ``summary.csv`` written by :func:`run_batch`."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:  # names may not be UTF-8
            return fh.readline().startswith("audio,face,")
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError):
        return False


def write_summary_csv(results: list[PairResult], path: Path, overwrite: bool = False) -> Path:
    """Write the batch's ``summary.csv``. File names that are not valid UTF-8 (``x\\xffy.wav``)
    are written back as their original bytes (``surrogateescape``), never lost."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS)
    writer.writeheader()
    for r in results:
        writer.writerow(
            {
                "audio": r.audio,
                "face": r.face,
                "status": "ok" if r.ok else "failed",
                "emotion": r.result.get("emotion", ""),
                "confidence": r.result.get("confidence", ""),
                "strength": r.result.get("strength", ""),
                "identity_distance": r.result.get("identity_distance", ""),
                "seconds": r.result.get("seconds", {}).get("total", ""),
                "out_dir": os.fsdecode(r.out_dir),
                "error": r.error,
            }
        )
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8", errors="surrogateescape")
    return Path(path)


def config_dict(config: RunConfig) -> dict[str, Any]:
    return asdict(config)
