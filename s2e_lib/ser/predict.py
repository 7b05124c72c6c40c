"""Using a trained SER model: check the audio, predict label probabilities, window long clips.

>>> from s2e_lib.ser import load_model            # doctest: +SKIP
>>> model = load_model()                           # the shipped default model
>>> model.predict_proba(audio, sr=16000)           # {"angry": 0.71, "neutral": 0.05, ...}
>>> times, probs = model.predict_windows(audio, 16000, window_s=3.0, hop_s=1.0)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from s2e_lib.audio.features import FeatureConfig, extract
from s2e_lib.audio.io import MAX_CLIP_SECONDS, SAMPLE_RATE, load_audio
from s2e_lib.audio.speech import (
    DIGITAL_SILENCE_DBFS,
    active_level_dbfs,
    energy_speech_span,
    speech_seconds,
    speech_spans,
)
from s2e_lib.errors import InputError, MissingResourceError, S2EError
from s2e_lib.nn import default_device
from s2e_lib.paths import ASSETS_DIR
from s2e_lib.ser.checkpoint import load_checkpoint
from s2e_lib.ser.infer import predict_logits

#: Clips shorter than this are refused (seconds).
MIN_SECONDS = 0.3
#: A clip needs at least this much speech found by the voice-activity detector (seconds).
MIN_SPEECH_SECONDS = 0.15
#: Clips longer than this are classified in windows whose probabilities are averaged.
MAX_SINGLE_SECONDS = 6.0
#: Recordings longer than one clip (a timeline) are searched for speech in segments this
#: long, stopping at the first speech, so the check's memory and time do not grow with length.
LONG_CHECK_SEGMENT_SECONDS = 60.0
#: Windows featurised and classified at once (bounds memory on long recordings).
WINDOW_BATCH = 256


def default_model_path(speaker_centred: bool = False) -> Path:
    """The shipped model: ``s2e_lib/assets/ser/default.pt`` (``$S2E_SER_MODEL`` overrides), or
    with ``speaker_centred`` the one used with a voice profile, ``assets/ser/speaker.pt``
    (``$S2E_SER_SPEAKER_MODEL`` overrides)."""
    env = os.environ.get("S2E_SER_SPEAKER_MODEL" if speaker_centred else "S2E_SER_MODEL")
    if env:
        return Path(env).expanduser()
    return ASSETS_DIR / "ser" / ("speaker.pt" if speaker_centred else "default.pt")


class SpeechSpans(list):
    """Speech spans of a clip; ``fallback`` when the voice-activity detector heard nothing and
    they are the loud voiced sound :func:`check_speech` fell back to."""

    def __init__(self, spans=(), fallback: bool = False):
        super().__init__(spans)
        self.fallback = fallback


def check_speech(
    audio: np.ndarray, sr: int = SAMPLE_RATE, path: str | os.PathLike | None = None
) -> list[tuple[int, int]] | None:
    """Raise :class:`InputError` naming ``path`` for audio that cannot hold classifiable speech.

    Returns the speech spans the detector found (None for recordings longer than one clip,
    which are checked segment by segment), for the features to reuse.

    Refused: non-finite samples, clips under :data:`MIN_SECONDS`, digital silence, and
    clips in which Silero VAD finds under :data:`MIN_SPEECH_SECONDS` of speech *and* no loud
    voiced sound rises above the background (:func:`~s2e_lib.audio.speech.energy_speech_span`:
    silence, noise, hum, music). A half-second shouted word or a word over loud noise that
    the detector misses is classified from that sound instead (:func:`audio_warnings` says
    so). The detector runs on the level-normalised clip, so quiet but clear speech (peak
    -60 dBFS) is accepted: there is no fixed level gate.
    """
    name = str(path) if path is not None else "audio"
    audio = np.asarray(audio).reshape(-1)
    if audio.size == 0:
        raise InputError(f"{name}: no audio samples")
    if audio.size > MAX_CLIP_SECONDS * sr:  # longer than one clip: a timeline
        _check_long_speech(audio, sr, name)
        return None
    if not np.all(np.isfinite(audio)):
        raise InputError(f"{name}: audio contains NaN or infinite samples")
    seconds = audio.size / sr
    if seconds < MIN_SECONDS:
        raise InputError(f"{name}: too short ({seconds:.2f} s; at least {MIN_SECONDS} s of speech needed)")
    level = active_level_dbfs(audio, sr)
    if not np.isfinite(level) or level < DIGITAL_SILENCE_DBFS:
        raise InputError(f"{name}: no speech found (the recording is silent)")
    spans = speech_spans(audio, sr)
    found = speech_seconds(spans, sr)
    if found < MIN_SPEECH_SECONDS:
        fallback = energy_speech_span(audio, sr)
        if fallback is None:
            raise InputError(
                f"{name}: no speech found (the voice-activity detector heard {found:.2f} s of speech "
                "and no voiced sound rises above the background; silence, noise or music?)"
            )
        return SpeechSpans([fallback], fallback=True)
    return spans


def _check_long_speech(audio: np.ndarray, sr: int, name: str) -> None:
    """:func:`check_speech` for recordings longer than one clip, in bounded memory: the
    level is measured on the whole (chunked frame powers), the voice-activity detector runs
    on :data:`LONG_CHECK_SEGMENT_SECONDS` segments until it has heard enough speech."""
    segment = int(LONG_CHECK_SEGMENT_SECONDS * sr)
    for first in range(0, audio.size, segment):
        if not np.all(np.isfinite(audio[first : first + segment])):
            raise InputError(f"{name}: audio contains NaN or infinite samples")
    level = active_level_dbfs(audio, sr)
    if not np.isfinite(level) or level < DIGITAL_SILENCE_DBFS:
        raise InputError(f"{name}: no speech found (the recording is silent)")
    found = 0.0
    for first in range(0, audio.size, segment):
        found += speech_seconds(speech_spans(audio[first : first + segment], sr), sr)
        if found >= MIN_SPEECH_SECONDS:
            return
    raise InputError(
        f"{name}: no speech found (the voice-activity detector heard {found:.2f} s of speech; "
        "silence, noise or music?)"
    )


def window_starts(n_samples: int, sr: int, window_s: float, hop_s: float) -> np.ndarray:
    """Start samples of windows covering the whole clip (the last one ends at the clip's end)."""
    window = int(round(window_s * sr))
    hop = max(1, int(round(hop_s * sr)))
    if n_samples <= window:
        return np.array([0])
    n = int(math.ceil((n_samples - window) / hop)) + 1
    return np.minimum(np.arange(n) * hop, n_samples - window)


class EmotionModel:
    """A loaded SER checkpoint with its feature extractor.

    Attributes
    ----------
    labels : list of str
        Output labels, in order.
    feature_config : FeatureConfig
    metadata : dict
        The checkpoint's metadata (data summary, metrics, configs, version).
    """

    def __init__(self, model: torch.nn.Module, payload: dict, path: Path | None = None, device: str = "cpu"):
        self.model = model.eval()
        self.path = path
        self.device = device
        self.labels = list(payload["labels"])
        self.feature_config = FeatureConfig.from_dict(payload["feature_config"])
        self.metadata = {k: v for k, v in payload.items() if k != "state_dicts"}
        self.profile = None
        #: Logits are divided by it before the softmax (:mod:`s2e_lib.ser.calibration`;
        #: fitted on held-out corpora, stored in the checkpoint's ``calibration``; 1 = none).
        self.temperature = float((payload.get("calibration") or {}).get("temperature", 1.0))

    def __repr__(self) -> str:
        name = self.metadata.get("model_config", {}).get("name")
        return f"EmotionModel({name}, labels={self.labels}, path={self.path})"

    @property
    def speaker_centred(self) -> bool:
        """Whether the model hears clips relative to their speaker's voice profile
        (:mod:`s2e_lib.ser.adapt`); it then needs :attr:`profile` set."""
        return bool(self.metadata.get("train_config", {}).get("speaker_centred", False))

    def use_profile(self, profile) -> None:
        """Classify every following clip relative to ``profile`` (a
        :class:`~s2e_lib.ser.adapt.VoiceProfile` of this model's features; None to clear)."""
        if profile is not None:
            profile.check(self.feature_config)
        self.profile = profile

    def features(
        self, audio: np.ndarray, sr: int = SAMPLE_RATE, spans: list[tuple[int, int]] | None = None
    ) -> np.ndarray:
        """This model's input features of one clip (``spans``: speech already detected in it),
        before any speaker centring."""
        return extract(audio, sr, self.feature_config, spans)

    def _inputs(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        if not self.speaker_centred:
            return feats
        if self.profile is None:
            raise InputError(
                f"{self.path}: a speaker-centred model needs a voice profile: make one with "
                "`s2e ser profile`, or classify several clips of one speaker together (--adapt)"
            )
        return [f - self.profile.mean for f in feats]

    def proba_of_features(self, feats: list[np.ndarray]) -> np.ndarray:
        """Probabilities, shape (len(feats), n_labels), of features from :meth:`features`
        (centred on :attr:`profile` when the model is speaker-centred)."""
        logits = predict_logits(self.model, self._inputs(feats))
        return torch.softmax(logits / self.temperature, dim=1).numpy()

    def _proba(self, clips: list[np.ndarray], sr: int) -> np.ndarray:
        """Probabilities of ``clips`` (views into one recording), :data:`WINDOW_BATCH` at a
        time, so a long recording never holds every window's features at once."""
        out = []
        for first in range(0, len(clips), WINDOW_BATCH):
            out.append(
                self.proba_of_features([self.features(c, sr) for c in clips[first : first + WINDOW_BATCH]])
            )
        return np.concatenate(out) if len(out) != 1 else out[0]

    def predict_windows(
        self, audio: np.ndarray, sr: int = SAMPLE_RATE, window_s: float = 3.0, hop_s: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Label probabilities of overlapping windows, for an emotion timeline.

        Returns
        -------
        times : np.ndarray, shape (n_windows,)
            Centre of each window, seconds from the start.
        probs : np.ndarray, shape (n_windows, n_labels)
            Probabilities in :attr:`labels` order (a clip shorter than ``window_s`` is one window).
        """
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        starts = window_starts(audio.size, sr, window_s, hop_s)
        window = min(audio.size, int(round(window_s * sr)))
        clips = [audio[s : s + window] for s in starts]
        times = (starts + window / 2) / sr
        return times.astype(np.float64), self._proba(clips, sr)

    def clip_features(
        self, audio: np.ndarray, sr: int = SAMPLE_RATE, path: str | os.PathLike | None = None
    ) -> list[np.ndarray]:
        """Features of one recording as :meth:`predict_proba` classifies it (checked with
        :func:`check_speech`): one vector, or one per 4 s window holding speech when it is
        longer than :data:`MAX_SINGLE_SECONDS` (sequence models: one array per window)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        return self._clip_features(audio, sr, check_speech(audio, sr, path))

    def _clip_features(self, audio: np.ndarray, sr: int, spans) -> list[np.ndarray]:
        if audio.size / sr <= MAX_SINGLE_SECONDS:
            return [self.features(audio, sr, spans)]
        starts = window_starts(audio.size, sr, 4.0, 2.0)
        clips = [audio[s : s + int(4.0 * sr)] for s in starts]
        voiced = [c for c in clips if _has_speech(c, sr)] or clips
        return [self.features(c, sr) for c in voiced]

    def proba_of_clip(self, feats: list[np.ndarray]) -> dict[str, float]:
        """Label probabilities of one recording from its :meth:`clip_features` (windows averaged)."""
        probs = np.concatenate(
            [self.proba_of_features(feats[i : i + WINDOW_BATCH]) for i in range(0, len(feats), WINDOW_BATCH)]
        ).mean(axis=0)
        return {label: float(p) for label, p in zip(self.labels, probs, strict=False)}

    def predict_proba(
        self, audio: np.ndarray, sr: int = SAMPLE_RATE, path: str | os.PathLike | None = None
    ) -> dict[str, float]:
        """Probability of every label for one recording (checked with :func:`check_speech`).

        Recordings longer than :data:`MAX_SINGLE_SECONDS` are cut into 4 s windows (2 s hop);
        the probabilities of windows holding speech are averaged.
        """
        return self.proba_of_clip(self.clip_features(audio, sr, path))

    def file_features(self, path: str | os.PathLike, max_seconds: float | None = None) -> tuple[list, list]:
        """``(clip_features, warnings)`` of one audio file (InputError when bad)."""
        audio = load_audio(path, sr=SAMPLE_RATE, max_seconds=max_seconds)
        spans = check_speech(audio, SAMPLE_RATE, path)
        return self._clip_features(audio, SAMPLE_RATE, spans), audio_warnings(audio, SAMPLE_RATE, spans)

    def _result(self, path, feats: list, warnings: list) -> dict:
        from s2e_lib.ser.calibration import UNCERTAIN_BELOW, is_uncertain

        probs = self.proba_of_clip(feats)
        if self.speaker_centred:
            warnings = warnings + self.profile.warnings
        uncertain = is_uncertain(probs)
        if uncertain:
            top = max(probs, key=probs.get)
            warnings = warnings + [
                f"uncertain: the top emotion ({top}) has probability {probs[top]:.2f} "
                f"(below {UNCERTAIN_BELOW}); the voice may mix emotions or differ from the training data"
            ]
        return {
            "file": str(path),
            "emotion": max(probs, key=probs.get),
            "probabilities": probs,
            "uncertain": uncertain,
            "warnings": warnings,
        }

    def predict_file(self, path: str | os.PathLike, max_seconds: float | None = None) -> dict:
        """``{"file", "emotion", "probabilities", "uncertain", "warnings"}`` for one audio file
        (InputError when bad; ``uncertain``: :func:`s2e_lib.ser.calibration.is_uncertain`).

        ``max_seconds`` refuses longer recordings before decoding them (``s2e ser predict``
        passes :data:`~s2e_lib.audio.io.MAX_CLIP_SECONDS` unless ``--max-seconds`` says otherwise).
        """
        return self._result(path, *self.file_features(path, max_seconds))

    def profile_of(self, feats_per_clip: list[list[np.ndarray]], files=()):
        """The :class:`~s2e_lib.ser.adapt.VoiceProfile` of clips given as :meth:`clip_features`
        (a long clip's windows count as one clip)."""
        from s2e_lib.ser.adapt import VoiceProfile

        means = [np.mean(np.stack(f), axis=0) for f in feats_per_clip]
        return VoiceProfile.from_features(means, self.feature_config, files)

    def read_files(
        self, paths, max_seconds: float | None = None, on_error=None, progress: bool = False
    ) -> list[tuple]:
        """``(path, clip_features, warnings)`` of every file that holds speech
        (:meth:`file_features`); bad files are passed to ``on_error(path, exc)`` (raised when
        it is None) and left out."""
        from tqdm.auto import tqdm

        done = []
        for path in tqdm(paths, desc="reading", unit="file", disable=not progress):
            try:
                done.append((path, *self.file_features(path, max_seconds)))
            except S2EError as exc:
                if on_error is None:
                    raise
                on_error(path, exc)
        return done

    def adapt_to(self, done: list[tuple]) -> None:
        """Hear every following clip against the voice profile of the clips ``done`` (from
        :meth:`read_files`; one speaker). They are usually the clips to be classified, so at
        least 2 are needed: one clip against itself alone is the zero vector, no answer."""
        if len(done) < 2:
            raise InputError(
                f"adapting to the speaker needs at least 2 recordings with speech, got {len(done)}: "
                "give more clips of the speaker, or a voice profile"
            )
        self.use_profile(self.profile_of([f for _, f, _ in done], [str(p) for p, _, _ in done]))

    def predict_files(
        self, paths, adapt: bool = False, max_seconds: float | None = None, on_error=None
    ) -> list[dict]:
        """:meth:`predict_file` of several files, each feature extracted once.

        ``adapt=True`` (speaker-centred models) first makes the voice profile of all the
        files that hold speech (one speaker assumed, :meth:`adapt_to`) and classifies each
        relative to it. Bad files are passed to ``on_error(path, exc)`` (raised when it is
        None) and skipped.
        """
        done = self.read_files(paths, max_seconds, on_error)
        if adapt:
            self.adapt_to(done)
        return [self._result(path, feats, warnings) for path, feats, warnings in done]


#: Above this share of samples at full scale a recording is reported as heavily clipped.
CLIPPING_SHARE = 0.005


def audio_warnings(audio: np.ndarray, sr: int = SAMPLE_RATE, spans=None) -> list[str]:
    """Problems that make a label unreliable without making the clip unusable.

    Heavy clipping (over :data:`CLIPPING_SHARE` of the samples at or beyond 99.9 % of full
    scale), which distorts the spectrum the features describe, and a clip of one clip's length
    whose speech the voice-activity detector missed (classified from its loudest voiced sound,
    :func:`check_speech`). Clips without speech (silence, noise, random bytes decoded as
    noise) are refused by :func:`check_speech` instead. ``spans``: what :func:`check_speech`
    returned for this clip (else the detector runs again to tell).
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    warnings: list[str] = []
    if spans is None and 0 < audio.size <= MAX_SINGLE_SECONDS * sr and np.all(np.isfinite(audio)):
        if speech_seconds(speech_spans(audio, sr), sr) < MIN_SPEECH_SECONDS:
            span = energy_speech_span(audio, sr)
            spans = SpeechSpans([] if span is None else [span], fallback=span is not None)
    if getattr(spans, "fallback", False) and spans:
        start, stop = spans[0]
        warnings.append(
            "the voice-activity detector heard no speech; classified the "
            f"{(stop - start) / sr:.2f} s loud voiced sound (a shouted or noisy word?)"
        )
    if audio.size:
        share = float(np.count_nonzero(np.abs(audio) >= 0.999)) / audio.size
        if share > CLIPPING_SHARE:
            warnings.append(
                f"heavy clipping: {100 * share:.1f}% of samples at full scale; the label may be unreliable"
            )
    return warnings


def _has_speech(audio: np.ndarray, sr: int) -> bool:
    try:
        check_speech(audio, sr)
    except InputError:
        return False
    return True


def load_model(
    path: str | os.PathLike | None = None,
    device: str | None = None,
    labels=None,
    speaker_centred: bool = False,
) -> EmotionModel:
    """Load an SER checkpoint (default: :func:`default_model_path`, of ``speaker_centred``) as an
    :class:`EmotionModel`.

    Raises
    ------
    MissingResourceError
        No path given and the default model is absent.
    CheckpointError
        The file is not a fitting SER checkpoint (e.g. other ``labels`` than requested).
    """
    if path is None:
        path = default_model_path(speaker_centred)
        if not path.exists():
            raise MissingResourceError(
                f"{path}: no speech emotion model; train one with `s2e ser train --data DATA --out {path}`"
            )
    device = device or default_device()
    model, payload = load_checkpoint(path, labels=labels, device=device)
    return EmotionModel(model, payload, Path(path), device)
