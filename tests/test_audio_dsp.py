"""s2e_lib.audio.dsp against librosa 0.11: the numpy-only primitives must give the same numbers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from s2e_lib.audio import dsp

librosa = pytest.importorskip("librosa")

SR = 16000
STFT = {"n_fft": 512, "hop_length": 160, "win_length": 400}


def _vowel(seconds: float = 2.3, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Harmonics of a gliding f0 (120 → 220 Hz) under formant-like peaks, plus a little noise."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = np.linspace(120.0, 220.0, t.size)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros_like(t)
    for h in range(1, 40):
        freq = h * f0
        gain = sum(
            np.exp(-0.5 * ((freq - fc) / bw) ** 2) for fc, bw in ((700, 130), (1200, 150), (2600, 250))
        )
        y += np.where(freq < sr / 2, (0.2 + gain) / h, 0.0) * np.sin(h * phase)
    y *= np.hanning(t.size) ** 0.1
    y += 0.003 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _noise(n: int = 20000, seed: int = 1) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


SIGNALS = {
    "vowel": _vowel(),
    "noise": _noise(),
    "short": _noise(700, seed=2),
}


def assert_close(ours: np.ndarray, ref: np.ndarray, rtol: float = 1e-4, atol_scale: float = 1e-4) -> None:
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    atol = atol_scale * float(np.nanmax(np.abs(ref))) if ref.size else 0.0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture(scope="module", params=list(SIGNALS))
def signal(request):
    return request.param, SIGNALS[request.param]


@pytest.fixture(scope="module")
def spec(signal):
    name, y = signal
    return name, y, np.abs(librosa.stft(y, **STFT))


def test_frame_signal_is_a_view_like_librosa():
    y = _noise(5000)
    frames = dsp.frame_signal(y, 400, 160)
    assert np.shares_memory(frames, y)
    np.testing.assert_array_equal(frames, librosa.util.frame(y, frame_length=400, hop_length=160).T)
    with pytest.raises(ValueError):
        dsp.frame_signal(y[:100], 400, 160)


@pytest.mark.filterwarnings("ignore:n_fft=.*too large")
@pytest.mark.parametrize("kw", [STFT, {"n_fft": 2048, "hop_length": 512, "win_length": 2048}])
@pytest.mark.parametrize("center", [True, False])
def test_stft_magnitude(signal, kw, center):
    _, y = signal
    if not center and y.size < kw["n_fft"]:
        pytest.skip("librosa needs one full frame without centring")
    ours = dsp.stft_magnitude(y, center=center, **kw)
    ref = np.abs(librosa.stft(y, center=center, window="hann", pad_mode="constant", **kw))
    assert ours.dtype == ref.dtype == np.float32
    assert_close(ours, ref)


@pytest.mark.parametrize("chunk, block", [(7, 20), (7, 7), (128, 2048)])
def test_chunked_transforms(monkeypatch, chunk, block):
    """Chunk boundaries must not change the results."""
    monkeypatch.setattr(dsp, "_CHUNK_FRAMES", chunk)
    monkeypatch.setattr(dsp, "_MEL_BLOCK_FRAMES", block)
    monkeypatch.setattr(dsp, "_YIN_CHUNK_FRAMES", chunk)
    y = SIGNALS["vowel"][:9000]
    assert_close(dsp.stft_magnitude(y, **STFT), np.abs(librosa.stft(y, **STFT)))
    mel = librosa.feature.melspectrogram(y=y, sr=SR, **STFT, n_mels=64, fmin=50.0, fmax=8000.0)
    assert_close(dsp.log_mel_spectrogram(y), np.log(mel + 1e-6))
    kw = {"fmin": 60.0, "fmax": 500.0, "sr": SR, "frame_length": 1024, "hop_length": 160}
    np.testing.assert_allclose(dsp.yin(y, **kw), librosa.yin(y, **kw), rtol=1e-4)


@pytest.mark.parametrize(
    "sr, n_fft, n_mels, fmin, fmax",
    [(16000, 512, 64, 50.0, 8000.0), (16000, 512, 40, 0.0, None), (44100, 2048, 128, 0.0, None)],
)
def test_mel_filterbank(sr, n_fft, n_mels, fmin, fmax):
    ours = dsp.mel_filterbank(sr, n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.dtype == np.float32 and not ours.flags.writeable
    assert_close(ours, ref, atol_scale=1e-6)


@pytest.mark.parametrize("ref", [1.0, np.max])
@pytest.mark.parametrize("top_db", [80.0, None])
def test_power_to_db(spec, ref, top_db):
    _, _, S = spec
    assert_close(
        dsp.power_to_db(S**2, ref=ref, top_db=top_db), librosa.power_to_db(S**2, ref=ref, top_db=top_db)
    )


def _mel_db(S):
    return librosa.power_to_db(
        librosa.feature.melspectrogram(S=S**2, sr=SR, n_mels=64, fmin=50.0, fmax=8000.0)
    )


@pytest.mark.parametrize("n_mfcc", [13, 20, 64])
def test_mfcc(spec, n_mfcc):
    _, _, S = spec
    S_db = _mel_db(S)
    ours = dsp.mfcc(S_db, n_mfcc=n_mfcc)
    ref = librosa.feature.mfcc(S=S_db, n_mfcc=n_mfcc)
    assert ours.dtype == ref.dtype
    assert_close(ours, ref)


def test_dct_ortho_is_orthonormal():
    D = dsp.dct_ortho(32, 32)
    np.testing.assert_allclose(D @ D.T, np.eye(32), atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("width", [3, 5, 9])
def test_delta(spec, order, width):
    _, _, S = spec
    M = librosa.feature.mfcc(S=_mel_db(S), n_mfcc=20)
    if M.shape[-1] < width:
        with pytest.raises(ValueError):
            dsp.delta(M, width=width, order=order)
        return
    ours = dsp.delta(M, width=width, order=order)
    ref = librosa.feature.delta(M, width=width, order=order, axis=-1)
    assert ours.dtype == ref.dtype
    assert_close(ours, ref)


def test_delta_exact_width():
    M = np.random.default_rng(3).standard_normal((4, 9))
    for order in (1, 2):
        assert_close(dsp.delta(M, width=9, order=order), librosa.feature.delta(M, width=9, order=order))


def test_rms_from_spectrogram(spec):
    _, _, S = spec
    ours = dsp.rms_from_spectrogram(S, frame_length=512)
    ref = librosa.feature.rms(S=S, frame_length=512)
    assert ours.dtype == ref.dtype
    assert_close(ours, ref)


def test_spectral_centroid_rolloff_flatness(spec):
    _, _, S = spec
    assert_close(dsp.spectral_centroid(S, SR, 512), librosa.feature.spectral_centroid(S=S, sr=SR, n_fft=512))
    for roll in (0.85, 0.5):
        assert_close(
            dsp.spectral_rolloff(S, SR, 512, roll_percent=roll),
            librosa.feature.spectral_rolloff(S=S, sr=SR, n_fft=512, roll_percent=roll),
        )
    for power in (2.0, 1.0):
        assert_close(
            dsp.spectral_flatness(S, power=power), librosa.feature.spectral_flatness(S=S, power=power)
        )


def test_spectral_silent_frames():
    S = np.zeros((257, 5), dtype=np.float32)
    S[:, 2:] = np.abs(np.random.default_rng(4).standard_normal((257, 3)))
    assert_close(dsp.spectral_centroid(S, SR, 512), librosa.feature.spectral_centroid(S=S, sr=SR))
    assert_close(dsp.spectral_rolloff(S, SR, 512), librosa.feature.spectral_rolloff(S=S, sr=SR))
    assert_close(dsp.spectral_flatness(S), librosa.feature.spectral_flatness(S=S))


@pytest.mark.parametrize("kw", [{"fmin": 100.0, "n_bands": 5}, {"fmin": 200.0, "n_bands": 4, "linear": True}])
def test_spectral_contrast(spec, kw):
    _, _, S = spec
    assert_close(
        dsp.spectral_contrast(S, SR, 512, **kw),
        librosa.feature.spectral_contrast(S=S, sr=SR, n_fft=512, **kw),
    )


@pytest.mark.parametrize("frame_length, hop_length", [(400, 160), (2048, 512)])
@pytest.mark.parametrize("center", [True, False])
def test_zero_crossing_rate(signal, frame_length, hop_length, center):
    _, y = signal
    y = y.copy()
    y[100:140] = 0.0  # exact zeros count as positive
    if not center and y.size < frame_length:
        pytest.skip("no full frame")
    ours = dsp.zero_crossing_rate(y, frame_length=frame_length, hop_length=hop_length, center=center)
    ref = librosa.feature.zero_crossing_rate(
        y, frame_length=frame_length, hop_length=hop_length, center=center
    )
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize(
    "kw",
    [
        {"fmin": 60.0, "fmax": 500.0, "frame_length": 1024, "hop_length": 160},
        {"fmin": 80.0, "fmax": 400.0, "frame_length": 2048},
    ],
)
def test_yin(signal, kw):
    name, y = signal
    ours = dsp.yin(y, sr=SR, **kw)
    ref = librosa.yin(y, sr=SR, **kw)
    assert ours.shape == ref.shape
    if name == "vowel":
        voiced = (ref > 100) & (ref < 260)
        assert voiced.mean() > 0.8
        np.testing.assert_allclose(ours[voiced], ref[voiced], rtol=1e-4)
    # Noise has no pitch: the chosen trough may flip on float rounding, but almost never does.
    assert np.mean(np.isclose(ours, ref, rtol=1e-4)) >= 0.98


def test_log_mel_spectrogram(signal):
    _, y = signal
    ours = dsp.log_mel_spectrogram(y)
    ref = np.log(
        librosa.feature.melspectrogram(
            y=y,
            sr=SR,
            n_fft=512,
            win_length=400,
            hop_length=160,
            n_mels=64,
            fmin=50.0,
            fmax=8000.0,
            power=2.0,
        )
        + 1e-6
    )
    assert ours.dtype == np.float32
    assert_close(ours, ref)


def _peak_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, 1 / sr)[np.argmax(spectrum)])


@pytest.mark.parametrize("orig_sr, target_sr", [(44100, 16000), (16000, 22050), (48000, 16000)])
def test_resample(orig_sr, target_sr):
    t = np.arange(int(1.5 * orig_sr)) / orig_sr
    y = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    out = dsp.resample(y, orig_sr, target_sr)
    assert out.dtype == np.float32
    assert abs(out.size - y.size * target_sr / orig_sr) <= 0.01 * y.size * target_sr / orig_sr
    assert abs(_peak_hz(out, target_sr) - 440.0) < 2.0
    assert abs(np.abs(out[1000:-1000]).max() - 0.5) < 0.02


def test_resample_same_rate_is_identity():
    y = np.arange(10, dtype=np.float64)
    out = dsp.resample(y, 16000, 16000)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, y)


def test_import_does_not_load_librosa_or_scipy_signal():
    code = (
        "import sys, s2e_lib.audio.dsp\n"
        "bad = [m for m in ('librosa', 'scipy.signal', 'numba', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
