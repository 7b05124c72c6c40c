"""Speaker adaptation: hear how a clip differs from the speaker's usual voice.

Most of what separates one corpus from another (voice, language, microphone, room) is
constant over one speaker's recordings, while emotion changes from clip to clip. A
*speaker-centred* model (``TrainConfig.speaker_centred``, the shipped
``assets/ser/speaker.pt``) therefore sees each clip's feature vector minus the mean
vector of that speaker's clips, their **voice profile**:

- in training, every speaker's mean is taken over their own clips (each augmented copy
  over the same copy of the speaker's clips, so profile and clip share the conditions);
- in use, the profile comes from a few unlabelled clips of the same person
  (``s2e ser profile``), or from the clips being classified themselves
  (``s2e ser predict --adapt``, ``s2e ser eval`` with a speaker-centred model).

Measured (docs/ser.md, "Speaker adaptation"): the shipped ``speaker.pt`` reaches a
leave-one-corpus-out balanced accuracy of 0.688 mean / 0.638 worst over four corpora with
each speaker's profile from all their clips, against 0.469 / 0.436 for the plain recipe on the
same features; on the earlier features (logistic regression) 0.447 → 0.574 with a profile
from all of a speaker's clips, 0.56 from 10, 0.52 from 3-5;
a profile from one emotion only (e.g. only angry clips) falls back to about the
unadapted figure (0.43-0.48). So a profile should hold **several clips in several
moods** (or everyday speech), ideally ten or more; fewer than :data:`MIN_PROFILE_CLIPS`
gives a warning.

Only vector features (``stats``, ``egemaps``, ``...ge2e-layers``) can be centred;
sequence features (``logmel``) cannot.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2e_lib.audio.features import FeatureConfig
from s2e_lib.errors import InputError, one_line
from s2e_lib.fileio import atomic_output, check_output

#: Fewer clips than this in a profile gives a warning (3-5 clips: 0.52, 10: 0.56 LOCO).
MIN_PROFILE_CLIPS = 5
PROFILE_FORMAT = "s2e-voice-profile-1"


def speaker_means(features: Sequence[np.ndarray], speakers: Sequence[str]) -> dict[str, np.ndarray]:
    """Mean feature vector of every speaker's rows.

    Parameters
    ----------
    features : sequence of np.ndarray, shape (n_features,)
    speakers : sequence of str
        The speaker of each row.
    """
    speakers = np.asarray(speakers).astype(str)
    if len(speakers) != len(features):
        raise ValueError(f"{len(features)} feature vectors but {len(speakers)} speakers")
    stacked = np.stack(features).astype(np.float64) if len(features) else np.zeros((0, 0))
    if stacked.ndim != 2:
        raise InputError("speaker adaptation needs vector features (one vector per clip), not sequences")
    return {s: stacked[speakers == s].mean(axis=0) for s in np.unique(speakers)}


def centre_by_speaker(features: Sequence[np.ndarray], speakers: Sequence[str]) -> list[np.ndarray]:
    """Every row minus the mean of its speaker's rows (:func:`speaker_means`), in float32."""
    means = speaker_means(features, speakers)
    return [
        (np.asarray(f, dtype=np.float64) - means[s]).astype(np.float32)
        for f, s in zip(features, np.asarray(speakers).astype(str), strict=True)
    ]


def centre_views(
    features: Sequence[np.ndarray], views: Sequence[Sequence[np.ndarray]], speakers: Sequence[str]
) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """:func:`centre_by_speaker` of the clean features and of every augmented copy, each
    copy by its own speaker means (a profile recorded in the clip's conditions)."""
    return centre_by_speaker(features, speakers), [centre_by_speaker(v, speakers) for v in views]


@dataclass
class VoiceProfile:
    """The mean feature vector of one speaker's clips, for a speaker-centred model.

    Attributes
    ----------
    mean : np.ndarray, shape (n_features,)
    n_clips : int
        Clips the mean was taken over.
    feature_config : FeatureConfig
        The features the mean is of; a model with other features refuses the profile.
    files : list of str
        The clips' names (for the record only).
    """

    mean: np.ndarray
    n_clips: int
    feature_config: FeatureConfig
    files: list = field(default_factory=list)

    @classmethod
    def from_features(
        cls, features: Sequence[np.ndarray], feature_config: FeatureConfig, files: Sequence[str] = ()
    ) -> VoiceProfile:
        """The profile of a speaker's clips' feature vectors (windows of a long clip count as
        one clip: pass their mean)."""
        if not len(features):
            raise InputError("a voice profile needs at least one clip with speech")
        mean = speaker_means(features, ["speaker"] * len(features))["speaker"]
        return cls(mean.astype(np.float32), len(features), feature_config, [str(f) for f in files])

    @property
    def warnings(self) -> list[str]:
        if self.n_clips < MIN_PROFILE_CLIPS:
            return [
                f"voice profile from {self.n_clips} clip(s); {MIN_PROFILE_CLIPS} or more in several "
                "moods give a steadier one"
            ]
        return []

    def check(self, feature_config: FeatureConfig, name: str = "voice profile") -> None:
        """Raise InputError unless the profile's features are ``feature_config``'s."""
        if self.feature_config != feature_config or self.mean.shape[0] == 0:
            raise InputError(
                f"{name}: made with features {self.feature_config.kind!r} (version "
                f"{self.feature_config.version}); this model uses {feature_config.kind!r} (version "
                f"{feature_config.version}): make the profile again with this model"
            )

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the profile as an ``.npz`` file (no pickles), atomically."""
        path = check_output(path, overwrite=overwrite)
        meta = {
            "format": PROFILE_FORMAT,
            "n_clips": self.n_clips,
            "feature_config": self.feature_config.to_dict(),
            "files": self.files,
        }
        with atomic_output(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, mean=self.mean.astype(np.float32), meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> VoiceProfile:
        """Read a profile written by :meth:`save` (InputError naming the file when it is not one)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                mean = np.asarray(data["mean"], dtype=np.float32)
                meta = json.loads(str(data["meta"]))
            if meta.get("format") != PROFILE_FORMAT or mean.ndim != 1:
                raise ValueError("not a voice profile")
            return cls(
                mean, int(meta["n_clips"]), FeatureConfig.from_dict(meta["feature_config"]), meta["files"]
            )
        except FileNotFoundError:
            raise InputError(f"{path}: no such voice profile") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"{path}: not a voice profile written by `s2e ser profile` ({one_line(exc)})"
            ) from None
