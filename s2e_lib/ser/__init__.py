"""Speech emotion recognition: models, training, checkpoints and prediction.

Public API used by other stages::

    from s2e_lib.ser import load_model, default_model_path, check_speech
    model = load_model()                          # EmotionModel (.labels)
    model.predict_proba(audio, sr=16000)          # {label: probability}
    model.predict_windows(audio, sr, window_s=3.0, hop_s=1.0)  # (times, probs)
"""

from s2e_lib.ser.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from s2e_lib.ser.models import CRNN, MODELS, LinearClassifier, MLPClassifier, ModelConfig, build_model
from s2e_lib.ser.predict import EmotionModel, check_speech, default_model_path, load_model

__all__ = [
    "CRNN",
    "MODELS",
    "CheckpointError",
    "EmotionModel",
    "LinearClassifier",
    "MLPClassifier",
    "ModelConfig",
    "TrainConfig",
    "build_model",
    "check_speech",
    "default_model_path",
    "fit",
    "load_checkpoint",
    "load_model",
    "read_checkpoint",
    "save_checkpoint",
]


def __getattr__(name: str):
    """``TrainConfig`` and ``fit`` load the training code on first use only (inference never needs it)."""
    if name in ("TrainConfig", "fit"):
        from s2e_lib.ser import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
