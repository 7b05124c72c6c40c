"""Small corpus trees for the data-stage tests (imported by tests/test_data*.py)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2e_lib import sample as sample_module

#: The tiny MEAD tree: 2 speakers (M001, W001) x 5 emotions, level 3 (+ neutral level 1),
#: 2 utterances each: 20 takes, audio + front video, neutral face (no editor: fast).
TINY = {"n_speakers": 2, "utterances": 2, "levels": (3,), "expression": "none"}


def _cache_dir(request, name: str) -> Path:
    sources = sorted(Path(sample_module.__file__).parent.glob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + repr(TINY).encode()).hexdigest()[:16]
    try:
        return Path(request.config.cache.mkdir(f"s2e_{name}_{digest}"))
    except Exception:  # cache provider disabled
        return request.getfixturevalue("tmp_path_factory").mktemp(name)


@pytest.fixture(scope="session")
def tiny_mead(request) -> Path:
    """A read-only tiny MEAD tree (see :data:`TINY`); copy it before changing it."""
    folder = _cache_dir(request, "tiny_mead") / "mead"
    if not (folder / sample_module.INFO_FILE).is_file():
        if folder.exists():
            shutil.rmtree(folder)
        sample_module.make_sample_corpus(folder, seed=0, **TINY)
    return folder


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime (to prove a tree was not written)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def make_ravdess_tree(root: Path) -> Path:
    """A RAVDESS-named tree: 2 actors, a few emotions, plus a song file, a bad name and a corrupt wav."""
    speakers = sample_module.make_speakers(2, seed=0)
    codes = {"01": "neutral", "02": "calm", "05": "angry", "04": "sad"}
    for actor, spk in zip((1, 2), speakers, strict=True):
        folder = root / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for ecode, emotion in codes.items():
            intensities = ("01",) if ecode == "01" else ("01", "02")
            for icode in intensities:
                for statement in ("01", "02"):
                    audio = sample_module.synthesize(
                        spk, emotion if emotion != "calm" else "neutral", 3, int(statement)
                    )
                    name = f"03-01-{ecode}-{icode}-{statement}-01-{actor:02d}.wav"
                    sf.write(folder / name, audio[: 16000 // 2], 16000, subtype="PCM_16")
        # a sung take (vocal channel 02) is not speech: ignored
        sf.write(folder / f"03-02-05-01-01-01-{actor:02d}.wav", np.zeros(1600, np.float32), 16000)
    (root / "Actor_01" / "notes.wav").write_bytes(b"RIFF....")  # bad name
    (root / "Actor_02" / "03-01-05-02-02-02-02.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)  # corrupt
    return root
