"""Training recipes: the settings each model is trained with by default (chosen by measurement).

The figures behind these choices are in ``docs/ser.md``: recipes are chosen by the mean
leave-one-corpus-out balanced accuracy over RAVDESS, ASED and nEMO (``tools/ser_loco.py``),
with the worst corpus reported beside it.
"""

from __future__ import annotations

from s2e_lib.audio.features import FeatureConfig
from s2e_lib.errors import InputError
from s2e_lib.ser.train import DEFAULT_FEATURES, TrainConfig

RECIPES: dict[str, dict] = {
    # the original project's setting: plain linear layer, no augmentation
    "linear": {
        "epochs": 100,
        "lr": 1e-3,
        "patience": 30,
        "weight_decay": 0.0,
        "augment": False,
        "label_smoothing": 0.0,
    },
    # utterance-relative pooled statistics + eGeMAPS + a pretrained GE2E voice encoder's
    # layers + the multilingual Whisper base's encoder layers 2-4 (FeatureConfig.whisper), 1
    # augmented copy of every training clip (gain, noise, band, codec, room, speed), corpus- and
    # label-balanced loss, 5 members (leave-one-corpus-out over RAVDESS, ASED, nEMO and EMOVO:
    # mean / worst 0.469 / 0.436, with tiny.en 0.443 / 0.356, without Whisper 0.398 / 0.357:
    # docs/ser.md); weight matrices stored in float16 (4,632 inputs x 256 x 5 members would be
    # 24 MB in float32)
    "mlp": {
        "epochs": 150,
        "lr": 1e-3,
        "patience": 40,
        "n_models": 5,
        "augment_copies": 1,
        "weights_dtype": "float16",
    },
    "crnn": {"epochs": 30, "patience": 10, "model_options": {"channels": [8, 16, 32, 32], "rnn_hidden": 32}},
}


#: Changes to a recipe when it is trained speaker-centred (:mod:`s2e_lib.ser.adapt`). With
#: the speaker's own voice taken out, a smaller MLP generalises better across corpora
#: (leave-one-corpus-out mean / worst, 3 members: 256-128 0.557 / 0.546, 128 0.569 / 0.564,
#: 64 0.579 / 0.564, 32 0.569 / 0.561; docs/ser.md).
SPEAKER_CENTRED: dict[str, dict] = {
    "mlp": {"model_options": {"hidden": [64], "dropout": 0.5}},
}


def recipe(model: str, speaker_centred: bool = False) -> tuple[TrainConfig, FeatureConfig]:
    """``(TrainConfig, FeatureConfig)`` of ``model``'s default recipe (its speaker-centred
    variant with ``speaker_centred``, for vector-feature models)."""
    if model not in RECIPES:
        raise InputError(f"unknown model {model!r}; expected one of: {', '.join(RECIPES)}")
    options = dict(RECIPES[model])
    if speaker_centred:
        options.update(SPEAKER_CENTRED.get(model, {}), speaker_centred=True)
    config = TrainConfig(model=model, **options)
    return config, FeatureConfig(kind=DEFAULT_FEATURES[model])
