"""Long recordings: one clip has a length limit checked before decoding; the timeline streams.

Regression tests for "Hardening round 2", must-fix 1: a valid 10-hour WAV drove
``s2e ser predict`` to 22 GB, and ``s2e run --timeline`` kept every video frame (~9 MB
per second of audio).
"""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from s2e_lib.audio import io as audio_io
from s2e_lib.audio.io import MAX_CLIP_SECONDS, audio_duration, check_clip_length, load_audio
from s2e_lib.cli import main
from s2e_lib.errors import InputError

SR = 16_000


def sparse_wav(path: Path, seconds: float, sr: int = SR) -> Path:
    """A 16-bit mono WAV whose header states ``seconds`` over a sparse (all-zero) file:
    hours of valid audio that cost no disk and no time to write."""
    data_bytes = int(seconds * sr) * 2
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data_bytes)
    return path


def speech_block() -> np.ndarray:
    """About 11 s of synthetic speech (five emotions of one sample speaker, short pauses)."""
    from s2e_lib.sample.voice import make_speakers, synthesize

    speaker = make_speakers(2)[0]
    pieces = []
    for i, emotion in enumerate(["angry", "neutral", "happy", "sad", "fear"]):
        pieces += [
            synthesize(speaker, emotion, 1 if emotion == "neutral" else 3, i),
            np.zeros(3200, np.float32),
        ]
    return np.concatenate(pieces)


def long_wav(path: Path, seconds: float, speech_seconds: float | None = None) -> Path:
    """``seconds`` of audio written in chunks: speech repeated throughout, or only over the
    first ``speech_seconds`` and digital silence after it."""
    import soundfile as sf

    block = speech_block()
    total = int(seconds * SR)
    voiced = total if speech_seconds is None else int(speech_seconds * SR)
    with sf.SoundFile(str(path), "w", SR, 1, "PCM_16") as f:
        done = 0
        while done < total:
            n = min(block.size, total - done)
            f.write(block[:n] if done < voiced else np.zeros(n, np.float32))
            done += n
    return path


def peak_rss_mb(args: list[str], timeout: float = 900) -> tuple[int, str, float]:
    """Run ``s2e ARGS`` in a child; (exit code, stderr, peak RSS of that child alone in MB).

    The child reports its own ``VmHWM`` (the high-water mark of its address space) at exit.
    ``ru_maxrss`` from ``wait4`` would not do: on Linux it keeps the RSS of the forked copy
    of this test process before ``exec``, which is over 1 GB late in a full test run.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "vmhwm"
        code = (
            "import atexit, sys\n"
            "def _report():\n"
            "    with open('/proc/self/status') as fh:\n"
            "        line = next(l for l in fh if l.startswith('VmHWM'))\n"
            f"    open({str(report)!r}, 'w').write(line.split()[1])\n"
            "atexit.register(_report)\n"
            "from s2e_lib.cli import main\n"
            f"sys.exit(main({list(map(str, args))!r}))\n"
        )
        try:
            result = subprocess.run(
                [sys.executable, "-c", code],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"s2e {' '.join(map(str, args))} ran over {timeout} s")
        rss_kb = float(report.read_text())
    return result.returncode, result.stderr, rss_kb / 1024


# --- one clip: the limit, before decoding ----------------------------------------------


def test_ten_hour_wav_refused_before_decoding(tmp_path):
    wav = sparse_wav(tmp_path / "ten_hours.wav", 10 * 3600)
    assert audio_duration(wav) == pytest.approx(36000.0)
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"36000 s of audio is longer than the 600 s limit of one clip"):
        load_audio(wav, max_seconds=MAX_CLIP_SECONDS)
    with pytest.raises(InputError, match="--max-seconds"):
        check_clip_length(wav, MAX_CLIP_SECONDS)
    assert time.perf_counter() - start < 1.0


def test_cli_ser_predict_refuses_ten_hours_in_one_line(tmp_path, capsys):
    wav = sparse_wav(tmp_path / "ten_hours.wav", 10 * 3600)
    start = time.perf_counter()
    code = main(["ser", "predict", str(wav)])
    seconds = time.perf_counter() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"error: {wav}: 36000 s of audio is longer than the 600 s limit of one clip "
        "(use --max-seconds to raise it, or --timeline)"
    ]
    assert seconds < 5.0


def test_cli_run_refuses_ten_hours_before_any_model(tmp_path, capsys):
    from s2e_lib.demo import astronaut_photo

    wav = sparse_wav(tmp_path / "ten_hours.wav", 10 * 3600)
    face = astronaut_photo(tmp_path)
    start = time.perf_counter()
    code = main(["run", "--audio", str(wav), "--face", str(face), "--out-dir", str(tmp_path / "out")])
    assert code == 2
    assert "36000 s of audio is longer than the 600 s limit" in capsys.readouterr().err
    assert time.perf_counter() - start < 5.0
    assert not (tmp_path / "out" / "result.json").exists()


@pytest.mark.slow
def test_ten_hour_refusal_costs_little_memory(tmp_path):
    """A child process refusing a 10-hour WAV stays small (decoding it took 22 GB)."""
    wav = sparse_wav(tmp_path / "ten_hours.wav", 10 * 3600)
    code, err, rss = peak_rss_mb(["ser", "predict", str(wav)], timeout=120)
    assert code == 2 and "limit of one clip" in err
    assert rss < 800, f"{rss:.0f} MB"


def test_unknown_duration_stops_decoding_at_the_limit(tmp_path, monkeypatch):
    """A header that states no duration: samples are counted and decoding stops at the limit,
    well before the end of a 10-hour file."""
    wav = sparse_wav(tmp_path / "ten_hours.wav", 10 * 3600)
    monkeypatch.setattr(audio_io, "_stream_seconds", lambda container, stream: None)
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"more than 60 s of audio is longer than the 60 s limit"):
        load_audio(wav, max_seconds=60)
    assert time.perf_counter() - start < 3.0


def test_limit_edges_and_offsets(tmp_path):
    wav = long_wav(tmp_path / "a.wav", 20.0)
    assert load_audio(wav, max_seconds=20).size == 20 * SR  # exactly the limit passes
    with pytest.raises(InputError, match="20 s of audio is longer than the 10 s limit"):
        load_audio(wav, max_seconds=10)
    assert load_audio(wav, max_seconds=10, offset=12).size == 8 * SR  # the kept part counts
    assert load_audio(wav, max_seconds=10, duration=5).size == 5 * SR
    full = load_audio(wav)
    np.testing.assert_array_equal(load_audio(wav, offset=3.0, duration=2.0), full[3 * SR : 5 * SR])


@pytest.mark.slow
def test_max_seconds_lets_an_eleven_minute_clip_through(tmp_path, capsys):
    wav = long_wav(tmp_path / "eleven_minutes.wav", 11 * 60, speech_seconds=8)
    assert main(["ser", "predict", str(wav)]) == 2
    assert "660 s of audio is longer than the 600 s limit" in capsys.readouterr().err
    assert main(["ser", "predict", "--max-seconds", "700", "--json", str(wav)]) == 0
    captured = capsys.readouterr()
    assert '"emotion"' in captured.out and captured.err == ""


def test_max_seconds_must_be_positive(tmp_path, capsys):
    wav = long_wav(tmp_path / "a.wav", 2.0)
    assert main(["ser", "predict", "--max-seconds", "0", str(wav)]) == 2
    assert "--max-seconds" in capsys.readouterr().err


# --- the timeline streams ----------------------------------------------------------------


@pytest.mark.slow
def test_timeline_memory_does_not_grow_with_length(tmp_path):
    """Peak RSS of ``s2e run --timeline --gif`` on 1 and on 3 minutes of speech differs by far
    less than the frames would take (keeping 600 more 246x276 RGB frames: about 120 MB; the
    MP4 and the GIF are encoded while the frames are made)."""
    from s2e_lib.demo import astronaut_photo

    face = astronaut_photo(tmp_path)
    peaks = {}
    for minutes in (1, 3):
        wav = long_wav(tmp_path / f"speech_{minutes}.wav", 60 * minutes)
        out = tmp_path / f"out_{minutes}"
        args = ["run", "--timeline", "--audio", str(wav), "--face", str(face), "--out-dir", str(out)]
        code, err, peaks[minutes] = peak_rss_mb([*args, "--fps", "5", "--hop", "1", "--gif"], timeout=600)
        assert code == 0, err
        assert (out / "animation.gif").stat().st_size > 0 and (out / "animation.mp4").stat().st_size > 0
    growth = peaks[3] - peaks[1]
    assert growth < 100, f"peak RSS {peaks[1]:.0f} MB for 1 min, {peaks[3]:.0f} MB for 3 min"
    assert peaks[3] < 1024


def test_speech_check_of_a_long_recording_is_segmented():
    """Past one clip's length the speech check works in 60 s segments and stops at the first
    speech; silence and NaN are still refused with the usual messages."""
    from s2e_lib.ser.predict import check_speech

    n = int((MAX_CLIP_SECONDS + 60) * SR)
    with pytest.raises(InputError, match=r"long\.wav: no speech found \(the recording is silent\)"):
        check_speech(np.zeros(n, np.float32), SR, "long.wav")
    audio = np.zeros(n, np.float32)
    audio[-5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        check_speech(audio, SR, "long.wav")
    block = speech_block()
    audio[:] = 0
    audio[: block.size] = block
    check_speech(audio, SR, "long.wav")  # speech in the first segment: one VAD pass of 60 s
