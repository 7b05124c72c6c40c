"""A pretrained speaker-verification voice encoder (GE2E) as a fixed feature extractor.

Wan et al. 2018, "Generalized end-to-end loss for speaker verification": a 3-layer LSTM
(256 units) over 40-band mel frames, a linear layer with ReLU, L2-normalised to a
256-dimensional utterance embedding. The weights are the ``pretrained.pt`` that the
``resemblyzer`` wheel ships (Corentin Jemine / Resemble AI, Apache-2.0; trained on
LibriSpeech, VoxCeleb 1 and 2), read from the installed package's folder with
``torch.load(weights_only=True)`` without importing the package (which would import
librosa and webrtcvad); only the GE2E loss's two similarity scalars are left out.

Why a speaker encoder for emotion: trained on thousands of speakers over many microphones
and rooms, its embedding summarises voice quality and speaking style in a way that
transfers across corpora (x-vectors carry emotion: Pappagari et al. 2020). Measured on our
corpora (docs/ser.md), appending it to the utterance statistics and eGeMAPS lifts the
leave-one-corpus-out balanced accuracy of a linear model from 0.372 to 0.411 and its worst
corpus from 0.324 to 0.410.

Differences from Resemblyzer's ``VoiceEncoder.embed_utterance``: the input is our version-2
front end (active-speech level normalised, Silero VAD speech only) instead of Resemblyzer's
-30 dBFS volume normalisation and webrtcvad silence trimming, and partial utterances are
1.6 s windows every 0.8 s (Resemblyzer: every ~0.77 s, ``rate=1.3``) with a clip shorter than
1.6 s zero-padded to one window. The network and mel front end are Resemblyzer's exactly
(``librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)``, power,
not log: computed here with :mod:`s2e_lib.audio.dsp`, equal to librosa, so no librosa import).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from s2e_lib.audio import dsp
from s2e_lib.errors import MissingResourceError

SAMPLE_RATE = 16000
N_MELS = 40
N_FFT = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
PARTIAL_FRAMES = 160  # 1.6 s
PARTIAL_STEP = 80  # 0.8 s
EMBEDDING_DIM = 256
HIDDEN = 256
LAYERS = 3
#: The LSTM layers (1-based) whose outputs :func:`layer_statistics` pools.
POOLED_LAYERS = (2, 3)
#: Frames at the start of each 1.6 s window left out of the pooled statistics: the LSTM
#: starts from a zero state and its first outputs describe the start-up, not the voice.
WARMUP_FRAMES = 20
#: Length of :func:`layer_statistics`: the embedding, then mean and standard deviation of
#: each pooled layer's outputs.
LAYER_STATS_DIM = EMBEDDING_DIM + 2 * HIDDEN * len(POOLED_LAYERS)


def weights_path() -> Path:
    """``pretrained.pt`` inside the installed ``resemblyzer`` package (not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError("the GE2E voice encoder needs its weights: pip install resemblyzer")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise MissingResourceError(f"{path}: the GE2E voice encoder's weights are missing")
    return path


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """Power mel spectrogram frames ``(n_frames, 40)`` of 16 kHz audio, as the encoder expects.

    Equal to ``librosa.feature.melspectrogram(y=audio, sr=16000, n_fft=400, hop_length=160,
    n_mels=40).T`` (centred frames, zero padding, Slaney mel filters).
    """
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    S = dsp.stft_magnitude(y, n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=N_FFT, center=True) ** 2
    M = dsp.mel_filterbank(SAMPLE_RATE, N_FFT, n_mels=N_MELS, fmin=0.0, fmax=SAMPLE_RATE / 2)
    return np.ascontiguousarray((M @ S).T.astype(np.float32))


def partial_windows(mels: np.ndarray) -> np.ndarray:
    """Overlapping 1.6 s windows ``(n_windows, 160, 40)`` covering the frames (zero-padded)."""
    n = mels.shape[0]
    if n < PARTIAL_FRAMES:
        mels = np.pad(mels, ((0, PARTIAL_FRAMES - n), (0, 0)))
        n = PARTIAL_FRAMES
    starts = list(range(0, n - PARTIAL_FRAMES + 1, PARTIAL_STEP))
    return np.stack([mels[s : s + PARTIAL_FRAMES] for s in starts])


@lru_cache(maxsize=1)
def _encoder():
    import torch
    from torch import nn

    class VoiceEncoder(nn.Module):
        """Resemblyzer's ``VoiceEncoder`` network (same parameter names)."""

        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
            self.linear = nn.Linear(HIDDEN, EMBEDDING_DIM)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            return self.project(hidden[-1])

        def project(self, last_hidden):
            """The last LSTM layer's final state → unit-length partial embeddings."""
            embeds = torch.relu(self.linear(last_hidden))
            return embeds / torch.norm(embeds, dim=1, keepdim=True).clamp_min(1e-12)

    state = torch.load(weights_path(), map_location="cpu", weights_only=True)["model_state"]
    model = VoiceEncoder()
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
    return model.eval()


@lru_cache(maxsize=1)
def _layers():
    """The encoder's 3-layer LSTM as three 1-layer LSTMs (same weights), to read each layer's outputs."""
    import torch
    from torch import nn

    lstm = _encoder().lstm
    layers = []
    for index in range(LAYERS):
        layer = nn.LSTM(N_MELS if index == 0 else HIDDEN, HIDDEN, 1, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(layer, f"{name}_l0").copy_(getattr(lstm, f"{name}_l{index}"))
        layers.append(layer.eval())
    return layers


def embed_utterance(audio: np.ndarray) -> np.ndarray:
    """The 256-dimensional GE2E embedding of a 16 kHz clip (float32, unit length).

    The clip is cut into 1.6 s partial utterances every 0.8 s, each is embedded, and the mean
    is L2-normalised (GE2E's utterance embedding). Pass speech already level-normalised and
    reduced to voiced spans (:func:`s2e_lib.audio.features.prepare_speech`).
    """
    import torch

    windows = partial_windows(mel_frames(audio))
    with torch.inference_mode():
        partials = _encoder()(torch.from_numpy(windows))
    return _utterance_embedding(partials).numpy().astype(np.float32)


def _utterance_embedding(partials):
    """GE2E's utterance embedding: the L2-normalised mean of the partial embeddings."""
    mean = partials.mean(dim=0)
    return mean / mean.norm().clamp_min(1e-12)


def layer_statistics(audio: np.ndarray) -> np.ndarray:
    """The GE2E embedding followed by pooled statistics of the encoder's hidden layers.

    Returns ``LAYER_STATS_DIM`` (1,280) float32 values: the embedding of
    :func:`embed_utterance` (computed in the same pass), then for each layer of
    :data:`POOLED_LAYERS` the mean and the standard deviation over frames of its 256
    outputs, pooled over every 1.6 s window after its first :data:`WARMUP_FRAMES` frames.

    Why the hidden layers: the embedding is trained to keep who is speaking and to drop how
    they speak; the middle and upper LSTM layers still carry more of the "how". On our
    corpora (docs/ser.md), a logistic regression on layer 2 + 3 statistics alone reaches a
    leave-one-corpus-out balanced accuracy of 0.448 against 0.399 for the embedding alone.
    """
    import torch

    windows = torch.from_numpy(partial_windows(mel_frames(audio)))
    pooled = []
    with torch.inference_mode():
        hidden = windows
        for number, layer in enumerate(_layers(), start=1):
            hidden, _ = layer(hidden)
            if number in POOLED_LAYERS:
                frames = hidden[:, WARMUP_FRAMES:].reshape(-1, HIDDEN)
                pooled += [frames.mean(dim=0), frames.std(dim=0, correction=0)]
        embedding = _utterance_embedding(_encoder().project(hidden[:, -1]))
    return torch.cat([embedding, *pooled]).numpy().astype(np.float32)
