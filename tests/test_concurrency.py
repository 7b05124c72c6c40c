"""Two runs into one folder, no-clobber renames, resumable batches, damaged resume states."""

from __future__ import annotations

import csv
import errno
import json
import os

import pytest
import soundfile as sf

from s2e_lib.cli import main
from s2e_lib.demo import astronaut_photo
from s2e_lib.errors import InputError
from s2e_lib.fileio import OutputBusyError, atomic_output, output_lock
from s2e_lib.pipeline import run as run_module
from s2e_lib.pipeline.run import Pipeline, RunConfig, run_batch
from s2e_lib.sample.voice import SR, make_speakers, synthesize


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    """Three short synthetic recordings in a folder (sorted: a_angry, b_happy, c_sad)."""
    folder = tmp_path_factory.mktemp("voices")
    speaker = make_speakers(1)[0]
    for name, emotion in (("a_angry", "angry"), ("b_happy", "happy"), ("c_sad", "sad")):
        sf.write(folder / f"{name}.wav", synthesize(speaker, emotion, 3, 1), SR)
    return folder


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    return astronaut_photo(tmp_path_factory.mktemp("face"))


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(RunConfig(identity=False))


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_second_run_into_a_locked_folder_is_busy(voices, face, tmp_path, capsys):
    from filelock import FileLock

    out = tmp_path / "out"
    out.mkdir()
    lock = FileLock(out / ".s2e.lock", timeout=0)
    lock.acquire()
    try:
        (out / ".s2e.lock.pid").write_text("4242\n")
        before = _listing(out)
        code = main(
            ["run", "--audio", str(voices / "a_angry.wav"), "--face", str(face), "--out-dir", str(out)]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2
        assert err == [f"error: busy: {out} is being written by pid 4242"]
        assert _listing(out) == before  # nothing written
        code = main(["run", "--audio", str(voices), "--face", str(face), "--out-dir", str(out)])
        assert code == 2 and "busy:" in capsys.readouterr().err
        audio = str(voices / "a_angry.wav")
        code = main(["run", "--timeline", "--audio", audio, "--face", str(face), "--out-dir", str(out)])
        assert code == 2 and "busy:" in capsys.readouterr().err
        assert _listing(out) == before
    finally:
        lock.release()


def test_output_lock_records_the_holder_and_releases(tmp_path):
    out = tmp_path / "out"
    with output_lock(out):
        assert (out / ".s2e.lock.pid").read_text().strip() == str(os.getpid())
        with pytest.raises(OutputBusyError, match=rf"busy: .* by pid {os.getpid()}$"):
            with output_lock(out):
                pass
    assert not (out / ".s2e.lock.pid").exists()
    with output_lock(out):  # free again
        pass


def test_no_clobber_rename_keeps_the_other_writers_file(tmp_path):
    path = tmp_path / "result.json"
    with pytest.raises(InputError, match="exists"):
        with atomic_output(path, overwrite=False) as tmp:
            tmp.write_text("mine")
            path.write_text("theirs")  # another writer, between the check and the rename
    assert path.read_text() == "theirs"
    assert _listing(tmp_path) == ["result.json"]  # no temporary left behind


def test_no_clobber_without_hard_links_reserves_the_name(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "links not supported")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "out.txt"
    with atomic_output(path, overwrite=False) as tmp:
        tmp.write_text("first")
    assert path.read_text() == "first"
    other = tmp_path / "other.txt"
    with pytest.raises(InputError, match="exists"):
        with atomic_output(other, overwrite=False) as tmp:
            tmp.write_text("mine")
            other.write_text("theirs")
    assert other.read_text() == "theirs"
    assert _listing(tmp_path) == ["other.txt", "out.txt"]


def test_an_interrupted_batch_resumes(voices, face, pipeline, tmp_path, monkeypatch):
    out = tmp_path / "batch"
    real_write = run_module.write_text_atomic
    calls = []

    def interrupt_second_result(path, *args, **kwargs):
        if path.name == "result.json":
            calls.append(path)
            if len(calls) == 2:
                raise KeyboardInterrupt
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(run_module, "write_text_atomic", interrupt_second_result)
    with pytest.raises(KeyboardInterrupt):
        run_batch(voices, face, out, pipeline=pipeline, progress=False)
    monkeypatch.undo()
    first, second, third = (out / n for n in ("a_angry.wav", "b_happy.wav", "c_sad.wav"))
    assert (first / "result.json").exists()
    assert (second / "edited.png").exists() and not (second / "result.json").exists()
    assert not third.exists() and not (out / "summary.csv").exists()
    assert not (out / ".s2e.lock.pid").exists()  # the lock went with the interrupted run
    stamps = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}

    results = run_batch(voices, face, out, pipeline=pipeline, progress=False)
    assert [r.ok for r in results] == [True, True, True]
    assert [r.resumed for r in results] == [True, False, False]
    for folder in (first, second, third):
        result = json.loads((folder / "result.json").read_text())
        assert all(os.path.exists(p) for p in result["outputs"].values())
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == stamps  # untouched
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["ok"] * 3
    assert [os.path.basename(row["out_dir"]) for row in rows] == ["a_angry.wav", "b_happy.wav", "c_sad.wav"]
    assert not [p for p in out.rglob("*.part*")]

    # A third run finds everything done and rewrites the summary only.
    again = run_batch(voices, face, out, pipeline=pipeline, progress=False)
    assert all(r.resumed for r in again)


def test_resume_refuses_a_result_of_another_pair(voices, face, pipeline, tmp_path):
    out = tmp_path / "one"
    out.mkdir()
    (out / "result.json").write_text(json.dumps({"audio": "/elsewhere.wav", "face": str(face)}))
    state, _ = run_module.pair_state(out, voices / "a_angry.wav", face, pipeline.config)
    assert state == "other"
    (out / "result.json").unlink()
    (out / "edited.png").write_bytes(b"half")
    assert run_module.pair_state(out, voices / "a_angry.wav", face, pipeline.config)[0] == "partial"


def test_cli_rejects_resume_with_overwrite(voices, face, tmp_path, capsys):
    args = ["run", "--audio", str(voices), "--face", str(face), "--out-dir", str(tmp_path / "o")]
    assert main([*args, "--resume", "--overwrite"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_truncated_pix2pixhd_resume_state_is_reported_and_training_restarts(tmp_path):
    from _pix2pixhd_tree import make_prepared_tree

    from s2e_lib.edit.pix2pixhd.build import build_dataset
    from s2e_lib.edit.pix2pixhd.checkpoint import load_checkpoint
    from s2e_lib.edit.pix2pixhd.config import get_config
    from s2e_lib.edit.pix2pixhd.train import train

    prepared = make_prepared_tree(tmp_path / "prepared")
    pairs = tmp_path / "pairs"
    build_dataset(prepared, pairs, size=16, emotions=["angry"], views=["left_30"], progress=False)
    config = get_config(
        "tiny",
        size=16,
        ngf=8,
        n_downsampling=1,
        n_blocks=1,
        ndf=8,
        n_layers_d=1,
        num_d=1,
        steps=4,
        log_every=1,
    )
    run = tmp_path / "run"
    train(pairs, run, config, stop_after=2, progress=False)
    checkpoint = run / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])  # damaged after it was written
    notes = []
    result = train(pairs, run, resume=True, progress=False, log=notes.append)
    assert len(notes) == 1 and "ignored unreadable resume state" in notes[0] and str(checkpoint) in notes[0]
    assert result.step == 4
    assert load_checkpoint(checkpoint)["step"] == 4
    assert list(result.losses["step"]) == [1, 2, 3, 4]  # restarted: no rows from the lost run
    with output_lock(run), pytest.raises(OutputBusyError):  # one training run per folder
        train(pairs, run, resume=True, progress=False)


LOCK_FILES = {".s2e.lock", ".s2e.lock.pid"}

#: One writer of the stress test: takes the folder's lock (again on busy), checks nobody else
#: is inside, increments a counter with a read-sleep-write and leaves.
_WRITER = """
import os, sys, time
from pathlib import Path
from s2e_lib.fileio import OutputBusyError, output_lock

out, rounds = Path(sys.argv[1]), int(sys.argv[2])
done = 0
while done < rounds:
    try:
        with output_lock(out):
            inside = os.open(out / "inside", os.O_WRONLY | os.O_CREAT | os.O_EXCL)  # fails on overlap
            counter = out / "counter"
            value = int(counter.read_text()) if counter.exists() else 0
            time.sleep(0.002)
            counter.write_text(str(value + 1))
            os.close(inside)
            os.unlink(out / "inside")
        done += 1
    except OutputBusyError:
        time.sleep(0.0005)
"""


def test_output_lock_leaves_no_lock_file_and_takes_over_a_killed_runs(tmp_path):
    from filelock import FileLock, Timeout

    out = tmp_path / "out"
    with output_lock(out):
        assert LOCK_FILES <= {p.name for p in out.iterdir()}
        with pytest.raises(Timeout):  # the same lock as filelock's on that file
            FileLock(out / ".s2e.lock", timeout=0).acquire()
    assert _listing(out) == []  # released: no lock file left
    (out / ".s2e.lock").write_bytes(b"")  # what a killed run leaves
    (out / ".s2e.lock.pid").write_text("4242\n")
    with output_lock(out):
        assert (out / ".s2e.lock.pid").read_text().strip() == str(os.getpid())
    assert _listing(out) == []
    (out / ".s2e.lock").write_text("a user's notes\n")  # not ours: locked through, never removed
    with output_lock(out):
        pass
    assert _listing(out) == [".s2e.lock"] and (out / ".s2e.lock").read_text() == "a user's notes\n"


def test_writers_exclude_each_other_although_the_lock_file_is_removed_each_time(tmp_path):
    """Removing the lock file on release opens a race (a writer locks the old file just after
    it was removed, while another creates and locks the new one): three processes taking and
    releasing the lock 40 times each never overlap and lose no update."""
    import subprocess
    import sys

    out = tmp_path / "shared"
    out.mkdir()
    rounds = 40
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(out), str(rounds)], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [w.communicate(timeout=120)[1].decode() for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0], errors
    assert int((out / "counter").read_text()) == 3 * rounds
    assert _listing(out) == ["counter"]


def test_a_process_waiting_on_the_lock_file_still_excludes_the_next_writer(tmp_path):
    """Another process waits on ``.s2e.lock`` (filelock, blocking) while a run holds it; the run
    ends and removes the file: the waiter gets the lock, and a writer arriving then is busy."""
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    waiter = (
        "import sys, time\nfrom pathlib import Path\nfrom filelock import FileLock\n"
        "out = Path(sys.argv[1])\nwith FileLock(out / '.s2e.lock', timeout=30):\n"
        "    (out / 'held').write_text('')\n    time.sleep(1.5)\n    (out / 'held').unlink()\n"
    )
    with output_lock(out):
        process = subprocess.Popen([sys.executable, "-c", waiter, str(out)])
        time.sleep(1.0)  # the waiter is polling the held lock
        assert not (out / "held").exists()
    deadline = time.monotonic() + 20
    while not (out / "held").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (out / "held").exists(), "the waiter never got the lock"
    with pytest.raises(OutputBusyError):
        with output_lock(out):
            pass
    assert process.wait(timeout=30) == 0
    with output_lock(out):  # free again
        pass


def test_a_finished_run_leaves_no_lock_in_its_folders(voices, face, tmp_path, capsys):
    out = tmp_path / "one"
    assert (
        main(["run", "--audio", str(voices / "b_happy.wav"), "--face", str(face), "--out-dir", str(out)]) == 0
    )
    assert not LOCK_FILES & {p.name for p in out.rglob("*")}
    batch = tmp_path / "batch"
    assert main(["run", "--audio", str(voices), "--face", str(face), "--out-dir", str(batch)]) == 0
    assert not LOCK_FILES & {p.name for p in batch.rglob("*")}
    edited = tmp_path / "edited" / "face.png"
    assert main(["edit", "--face", str(face), "--emotion", "happy", "--out", str(edited)]) == 0
    assert _listing(edited.parent) == ["face.png"]
    capsys.readouterr()


def test_a_writer_that_opened_the_lock_file_just_before_it_was_removed_is_not_its_holder(
    tmp_path, monkeypatch
):
    """The race of removing the lock file, made to happen: writer B opens ``.s2e.lock``; the
    holder A finishes (removes the file, unlocks) and C creates and locks a new one; B then
    locks the old, removed file. B must see it is not the lock and find the folder busy."""
    from pathlib import Path

    out = tmp_path / "out"
    holder_a, writer_c = output_lock(out), output_lock(out)
    holder_a.__enter__()
    real_open, raced = os.open, []

    def open_then_race(path, *args, **kwargs):
        fd = real_open(path, *args, **kwargs)
        if Path(path).name == ".s2e.lock" and not raced:
            raced.append(path)
            holder_a.__exit__(None, None, None)
            writer_c.__enter__()
        return fd

    monkeypatch.setattr(os, "open", open_then_race)
    with pytest.raises(OutputBusyError, match=f"by pid {os.getpid()}"):
        with output_lock(out):  # writer B
            pytest.fail("two writers hold the folder")
    monkeypatch.undo()
    assert raced
    writer_c.__exit__(None, None, None)
    assert _listing(out) == []
