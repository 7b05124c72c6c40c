"""Hardening round 3 (issue 26): odd inputs never hang or blow up memory, one writer per output
folder, batch names that never collide, clean errors for every fault. The fast tier."""

from __future__ import annotations

import os
import struct
import time

import numpy as np
import pytest

from s2e_lib.cli import main


def _run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.err.strip(), captured.out


def _one_error(code, err, *needles):
    assert code == 2, f"exit {code}: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture()
def fifos(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this system")
    wav, png = tmp_path / "x.wav", tmp_path / "f.png"
    os.mkfifo(wav)
    os.mkfifo(png)
    return wav, png


@pytest.mark.parametrize(
    "args",
    [
        lambda w, p, t: ["ser", "predict", w],
        lambda w, p, t: ["ser", "profile", w, "--out", t / "p.npz"],
        lambda w, p, t: ["edit", "--face", p, "--emotion", "happy", "--out", t / "o.png"],
        lambda w, p, t: ["align", "--face", p, "--out", t / "a.png"],
        lambda w, p, t: ["run", "--audio", w, "--face", p, "--out-dir", t / "out"],
    ],
    ids=["ser predict", "ser profile", "edit", "align", "run"],
)
def test_a_named_pipe_is_refused_by_name_and_never_read(fifos, tmp_path, capsys, args):
    wav, png = fifos
    start = time.perf_counter()
    code, err, _ = _run(args(wav, png, tmp_path), capsys)  # reading a FIFO would block forever
    _one_error(code, err, "named pipe (FIFO), not a regular")
    assert time.perf_counter() - start < 60


def _sparse_wav(path, rate: int, seconds: float = 1.0) -> None:
    data_bytes = int(rate * seconds) * 2
    with open(path, "wb") as fh:
        fh.write(b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE")
        fh.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16))
        fh.write(b"data" + struct.pack("<I", data_bytes))
        fh.seek(44 + data_bytes - 2)
        fh.write(b"\0\0")  # sparse: gigabytes on paper, a few kB on disk


def test_a_huge_sample_rate_is_refused_from_the_header(tmp_path, capsys):
    from s2e_lib.audio.io import MAX_SOURCE_RATE, load_audio

    path = tmp_path / "huge.wav"
    _sparse_wav(path, 2_000_000_000)
    start = time.perf_counter()
    code, err, _ = _run(["ser", "predict", path], capsys)
    _one_error(code, err, "huge.wav", "sample rate of 2000000000 Hz")
    assert time.perf_counter() - start < 30
    ok = tmp_path / "ok.wav"
    _sparse_wav(ok, MAX_SOURCE_RATE, seconds=0.5)  # the highest real rate still loads
    assert load_audio(ok).shape == (8000,)


def test_a_video_bomb_is_refused_before_its_frame_is_decoded(tmp_path, capsys):
    import av

    path = tmp_path / "bomb.mov"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width = stream.height = 12000
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame(12000, 12000, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert path.stat().st_size < 1_000_000
    start = time.perf_counter()
    code, err, _ = _run(["edit", "--face", path, "--emotion", "happy", "--out", tmp_path / "o.png"], capsys)
    _one_error(code, err, "bomb.mov", "too large to decode safely", "12000x12000")
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "o.png").exists()


def test_prepare_build_dataset_and_ser_train_take_the_folder_lock(sample_corpus, tmp_path, capsys):
    from s2e_lib.fileio import output_lock

    out = tmp_path / "prep"
    with output_lock(out):
        code, err, _ = _run(["prepare", "mead", "--root", sample_corpus, "--out", out], capsys)
        _one_error(code, err, "busy", str(out))
    assert not (out / "frames.csv").exists()
    code, err, _ = _run(
        ["prepare", "mead", "--root", sample_corpus, "--out", out, "--speakers", "M001"], capsys
    )
    assert code == 0, err
    assert not {".s2e.lock", ".s2e.lock.pid"} & {p.name for p in out.iterdir()}  # released and removed
    data = tmp_path / "pairs"
    with output_lock(data):
        code, err, _ = _run(["pix2pixhd", "build-dataset", "--prepared", out, "--out", data], capsys)
        _one_error(code, err, "busy", str(data))
    assert not (data / "pairs.csv").exists()
    model = tmp_path / "m.pt"
    with output_lock(tmp_path / ".m.pt.train"):
        code, err, _ = _run(["ser", "train", "--data", sample_corpus, "--out", model], capsys)
        _one_error(code, err, "busy", ".m.pt.train")
    assert not model.exists()


def test_a_failed_command_leaves_no_lock_folder_behind(tmp_path, capsys):
    code, err, _ = _run(["ser", "train", "--data", tmp_path / "nothing", "--out", tmp_path / "m.pt"], capsys)
    assert code == 2
    assert not (tmp_path / ".m.pt.train").exists()
    code, err, _ = _run(["prepare", "mead", "--root", tmp_path / "nothing", "--out", tmp_path / "p"], capsys)
    assert code == 2 and not (tmp_path / "p").exists()


@pytest.mark.parametrize("name", [".s2e.lock.pid", ".s2e.lock", ".s2e-probe-notes"])
def test_a_users_file_named_like_a_leftover_is_the_users(sample_corpus, tmp_path, capsys, name):
    from s2e_lib.data.prepare import is_own_leftover

    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("my own notes, not a pid\n")
    assert not is_own_leftover(out / name)
    code, err, _ = _run(["prepare", "mead", "--root", sample_corpus, "--out", out], capsys)
    _one_error(code, err, "not an s2e prepare folder")
    assert (out / name).read_text() == "my own notes, not a pid\n"
    # the project's own leftovers are recognised
    (tmp_path / ".s2e.lock.pid").write_text("12345\n")
    (tmp_path / ".s2e.lock").write_bytes(b"")
    assert is_own_leftover(tmp_path / ".s2e.lock.pid") and is_own_leftover(tmp_path / ".s2e.lock")
    probe = tmp_path / (".s2e-probe-" + "0" * 32)
    probe.write_bytes(probe.name.encode())
    assert is_own_leftover(probe)


def test_audio_of_every_length_in_the_fast_tier_has_finite_features():
    # guards the fallback gate's frame arithmetic on clips shorter than one analysis frame
    from s2e_lib.audio.speech import energy_speech_span

    for n in (0, 1, 100, 400, 641):
        assert energy_speech_span(np.zeros(n, np.float32)) is None


def test_batch_folder_names_never_collide(tmp_path):
    from pathlib import Path

    from s2e_lib.pipeline.run import _pair_key, pair_folder_names

    root = tmp_path / "voices"
    root.mkdir()
    files = [root / "a.m4a", root / "a.mp4", root / "x" / "y.m4a", root / "x_y.m4a", root / "A.M4A"]
    keys = [_pair_key(f, Path("me.jpg"), root, False) for f in files]
    names = pair_folder_names(keys)
    assert len({n.lower() for n in names}) == len(files)  # unique even on a case-blind disk
    assert names[1] == "a.mp4"  # a name nobody else has stays readable
    assert names[2].startswith("x_y.m4a~") and names[3].startswith("x_y.m4a~")
    assert pair_folder_names(keys) == names  # deterministic: a resumed batch finds its folders
    faces = [_pair_key(root / "a.m4a", Path(f), root, True) for f in ("me.jpg", "me.png")]
    assert len(set(pair_folder_names(faces))) == 2


def test_a_batch_with_colliding_names_writes_every_pair_to_its_own_folder(tmp_path, capsys, monkeypatch):
    import json

    from _ser_data import synth_clip
    from skimage import data as skdata

    from s2e_lib.audio import write_wav
    from s2e_lib.face.io import save_image

    voices = tmp_path / "voices"
    (voices / "x").mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_wav(voices / "x" / "y.wav", synth_clip("angry", 120.0, rng))
    write_wav(voices / "x_y.wav", synth_clip("happy", 200.0, rng))
    face = tmp_path / "face.png"
    save_image(skdata.astronaut(), face)
    out = tmp_path / "out"
    code, err, _ = _run(["run", "--audio", voices, "--face", face, "--out-dir", out, "--overwrite"], capsys)
    assert code == 0, err
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2
    audios = {json.loads((f / "result.json").read_text())["audio"] for f in folders}
    assert audios == {str((voices / "x" / "y.wav").resolve()), str((voices / "x_y.wav").resolve())}
    summary = (out / "summary.csv").read_text().splitlines()[1:]
    assert len({row.split(",")[-2] for row in summary}) == 2  # summary points at both folders


@pytest.fixture
def default_sigint():
    """Ctrl-C as Python sets it up (a test or library earlier in the session may have replaced
    the handler; these tests are about what a fresh ``s2e`` process does)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_opensmile_is_never_swallowed(default_sigint):
    import signal
    import threading

    from s2e_lib.audio.features import egemaps

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.normal(size=16000 * 30)).astype(np.float32)
    start = time.perf_counter()
    egemaps(audio)
    run_s = time.perf_counter() - start
    for delay in np.linspace(0.05, 0.8, 5) * run_s:
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                egemaps(audio)
                time.sleep(2 * run_s)  # a SIGINT after the call still lands here
        finally:
            timer.cancel()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_deferred_interrupt_raises_on_leaving_and_leaves_sig_ign_alone(default_sigint):
    import signal

    from s2e_lib.errors import deferred_interrupt

    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # held back: nothing is raised here
            reached = True
    assert reached
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_non_utf8_speaker_folder_is_a_problem_row_not_a_crash(sample_corpus, tmp_path, capsys):
    import shutil

    root = tmp_path / "corpus"
    shutil.copytree(sample_corpus / "M001", root / "M001")
    try:
        os.rename(root / "M001", os.path.join(os.fsencode(root), b"M\xff01"))
    except OSError:
        pytest.skip("this filesystem refuses names that are not UTF-8")
    shutil.copytree(sample_corpus / "W001", root / "W001")
    out = tmp_path / "prep"
    code, err, _ = _run(["prepare", "mead", "--root", root, "--out", out], capsys)
    assert code == 0, err
    problems = (out / "problems.csv").read_text(encoding="utf-8")
    assert "M\\xff01" in problems and "not valid UTF-8" in problems
    assert "W001" in (out / "manifest.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "column, value, needle",
    [
        ("level", "inf", "level"),
        ("level", "1e300", "level"),
        ("position", "-0.5", "position"),
        ("position", "7", "position"),
        ("path", "/etc/passwd", "inside the prepared folder"),
        ("path", "../../x.png", "inside the prepared folder"),
    ],
)
def test_crafted_values_in_frames_csv_are_refused_by_row(tmp_path, capsys, column, value, needle):
    import pandas as pd

    prepared = tmp_path / "prep"
    prepared.mkdir()
    row = {
        "speaker": "M001", "view": "front", "emotion": "happy", "level": "1", "utterance": "001",
        "frame_index": "0", "position": "0.5", "path": "frames/a.png", "aligned": "False",
    }  # fmt: skip
    rows = [dict(row), dict(row, emotion="neutral", path="frames/b.png")]
    rows[1][column] = value
    pd.DataFrame(rows).to_csv(prepared / "frames.csv", index=False)
    code, err, _ = _run(
        ["pix2pixhd", "build-dataset", "--prepared", prepared, "--out", tmp_path / "d"], capsys
    )
    _one_error(code, err, "frames.csv: row 3", needle)
    assert not (tmp_path / "d").exists()


def test_neutral_rows_sharing_one_path_are_reported_not_a_crash():
    import pandas as pd

    from s2e_lib.edit.pix2pixhd.build import pair_frames

    row = {
        "speaker": "M001", "view": "front", "emotion": "neutral", "level": 1.0, "utterance": "001",
        "frame_index": 0, "position": 0.5, "path": "frames/a.png", "aligned": False,
    }  # fmt: skip
    frames = pd.DataFrame([row, dict(row, frame_index=1)])
    pairs, problems = pair_frames(frames, ["neutral", "happy"], None)
    assert pairs.empty and any("no other neutral frame" in p["problem"] for p in problems)


@pytest.mark.parametrize("reply", [None, b"HTTP/1.0 400 Bad Request\r\n\r\n" * 4])
def test_a_server_that_is_not_a_dask_scheduler_is_named_in_one_line(reply, capsys, monkeypatch, tmp_path):
    import socket
    import threading

    from s2e_lib import parallel

    monkeypatch.setattr(parallel, "HANDSHAKE_TIMEOUT_S", 1.0)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    held = []

    def serve():
        conn, _ = server.accept()
        held.append(conn)
        if reply:
            conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    start = time.perf_counter()
    with pytest.raises(parallel.InputError) as info:
        parallel.make_executor(f"tcp://127.0.0.1:{port}")
    assert time.perf_counter() - start < 10
    assert f"127.0.0.1:{port}" in str(info.value)
    assert (
        ("not a Dask scheduler" in str(info.value))
        if reply
        else ("no Dask scheduler answered" in str(info.value))
    )
    for conn in held:
        conn.close()
    server.close()


def test_local_workers_are_capped_at_the_cores(capsys):
    from s2e_lib.parallel import _local_workers

    cores = os.cpu_count() or 1
    assert _local_workers("local:100000") == cores
    assert "capped" in capsys.readouterr().err
    assert _local_workers("local:1") == 1


def test_a_full_disk_is_named_even_when_the_writer_hides_the_errno(tmp_path, monkeypatch):
    import errno

    from s2e_lib import fileio

    monkeypatch.setattr(fileio, "disk_full", lambda folder: True)
    with pytest.raises(OSError) as info:
        with fileio.atomic_output(tmp_path / "m.pt") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    monkeypatch.setattr(fileio, "disk_full", lambda folder: False)
    with pytest.raises(RuntimeError):  # a real bug on a disk with space stays itself
        with fileio.atomic_output(tmp_path / "m.pt"):
            raise RuntimeError("a bug")


def test_prepare_on_a_full_disk_says_so_and_keeps_nothing_half_written(
    sample_corpus, tmp_path, capsys, monkeypatch
):
    import soundfile

    from s2e_lib import fileio

    def full(*args, **kwargs):
        raise soundfile.LibsndfileError(2, "System error.")  # what libsndfile says on ENOSPC

    monkeypatch.setattr(soundfile, "write", full)
    monkeypatch.setattr(fileio, "disk_full", lambda folder: True)
    out = tmp_path / "prep"
    code, err, _ = _run(["prepare", "mead", "--root", sample_corpus, "--out", out], capsys)
    _one_error(code, err, "no space left on device")
    assert not list(out.rglob("*.part*")) and not (out / "frames.csv").exists()


def test_ser_train_on_a_full_disk_says_so_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    import torch
    from _ser_data import make_corpus

    from s2e_lib import fileio

    corpus = make_corpus(tmp_path / "corpus", takes=2, speakers={"M001": 110.0, "W001": 200.0, "M002": 130.0})

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(fileio, "disk_full", lambda folder: True)
    model = tmp_path / "m.pt"
    args = ["ser", "train", "--data", corpus, "--model", "linear", "--epochs", "1", "--out", model]
    code, err, _ = _run(args, capsys)
    _one_error(code, err, "no space left on device")
    assert not model.exists() and not (tmp_path / ".m.pt.train").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (lambda t: ["ser", "profile", t / "a.wav", "--out", t / "p.txt"], "p.txt: expected a .npz file name"),
        (lambda t: ["ser", "train", "--data", t, "--out", t / "m.txt"], "m.txt: expected a .pt file name"),
    ],
    ids=["profile", "train"],
)
def test_model_and_profile_outputs_need_their_suffix(tmp_path, capsys, args, needle):
    code, err, _ = _run(args(tmp_path), capsys)
    _one_error(code, err, needle)


def test_a_truncated_heic_is_one_line(tmp_path, capsys):
    pillow_heif = pytest.importorskip("pillow_heif")
    from skimage import data as skdata

    image = pillow_heif.from_bytes(mode="RGB", size=(512, 512), data=skdata.astronaut().tobytes())
    path = tmp_path / "face.heic"
    try:
        image.save(path, quality=80)
    except Exception as exc:  # an encoder-less libheif build
        pytest.skip(f"pillow-heif cannot encode here ({exc})")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, err, _ = _run(["edit", "--face", path, "--emotion", "happy", "--out", tmp_path / "o.png"], capsys)
    _one_error(code, err, "face.heic")
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err


def test_the_sample_corpus_folder_honours_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "sample"
        args = ["sample", "--out", out, "--speakers", "1", "--utterances", "1", "--levels", "1", "--fps", "5"]
        code, err, _ = _run(args, capsys)
        assert code == 0, err
        assert (out.stat().st_mode & 0o777) == 0o755
    finally:
        os.umask(old)


def test_the_feature_cache_lives_in_the_users_cache_folder(monkeypatch, tmp_path):
    from s2e_lib.audio.features import feature_cache_dir
    from s2e_lib.paths import PACKAGE_DIR

    for var in ("S2E_HOME", "S2E_CACHE", "S2E_OUTPUTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    default = feature_cache_dir()
    assert PACKAGE_DIR.parent not in default.parents  # never inside the checkout
    assert (tmp_path / "xdg") in default.parents
    monkeypatch.setenv("S2E_CACHE", str(tmp_path / "c"))
    assert feature_cache_dir() == tmp_path / "c" / "features"


def test_an_interrupted_batch_stops_with_130_even_inside_opensmile_and_resumes(
    tmp_path, capsys, monkeypatch, default_sigint
):
    import signal

    from _ser_data import synth_clip
    from skimage import data as skdata

    from s2e_lib.audio import features as features_module
    from s2e_lib.audio import write_wav
    from s2e_lib.face.io import save_image

    voices = tmp_path / "voices"
    voices.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a.wav", "b.wav"):
        write_wav(voices / name, synth_clip("angry", 120.0, rng))
    face = tmp_path / "face.png"
    save_image(skdata.astronaut(), face)
    lib, _ = features_module._opensmile_lib()
    original = lib.OpenSMILE.external_sink_set_callback_ex
    fired = []

    def ctrl_c_inside_the_callback(self, name, callback):
        def sink(data, meta):
            if not fired:
                fired.append(True)
                os.kill(os.getpid(), signal.SIGINT)  # arrives while ctypes runs our callback
            return callback(data, meta)

        return original(self, name, sink)

    monkeypatch.setattr(lib.OpenSMILE, "external_sink_set_callback_ex", ctrl_c_inside_the_callback)
    out = tmp_path / "out"
    code, err, _ = _run(["run", "--audio", voices, "--face", face, "--out-dir", out], capsys)
    assert fired and code == 130 and err.splitlines()[-1] == "error: interrupted", err
    monkeypatch.undo()
    code, err, _ = _run(["run", "--audio", voices, "--face", face, "--out-dir", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a.wav", "b.wav"]
