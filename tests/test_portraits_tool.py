"""tools/portraits.py: the 11 never-tuned-on portraits, cut from two source archives (offline here:
archives with the same member names are built from scikit-image's astronaut)."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from tools import portraits


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def archives(tmp_path):
    from skimage import data

    face = np.ascontiguousarray(data.astronaut()[:300])  # (her shoulder patch is a second "face")
    group = np.concatenate([face, face[:, ::-1]], axis=1)  # two faces side by side
    members = {sdist: {} for sdist, _, _ in portraits.SINGLE}
    for sdist, member, _ in portraits.SINGLE:
        members[sdist][member] = _png(face)
    members.setdefault(portraits.GROUP[0], {})[portraits.GROUP[1]] = _png(group)
    folder = tmp_path / "archives"
    folder.mkdir()
    for sdist, files in members.items():
        with tarfile.open(folder / sdist, "w:gz") as tar:
            for name, payload in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return folder, face


def test_face_crops_are_squares_around_each_face_left_to_right(archives):
    _, face = archives
    group = np.concatenate([face, face[:, ::-1]], axis=1)
    crops = portraits.face_crops(group)
    assert len(crops) == 2
    import dlib

    box = dlib.get_frontal_face_detector()(face, 1)[0]
    side = int(portraits.CROP_SCALE * box.width() / 2) * 2
    for crop in crops:
        assert crop.shape[0] <= side and crop.shape[1] <= side and min(crop.shape[:2]) > 0.8 * side
        assert len(dlib.get_frontal_face_detector()(crop, 1)) == 1  # the face is inside its crop
    # image-left to image-right: the right crop is the left one's mirror image
    small = [np.asarray(Image.fromarray(c).convert("L").resize((64, 64)), np.float32) for c in crops]
    assert np.abs(small[0] - small[1][:, ::-1]).mean() < 0.5 * np.abs(small[0] - small[1]).mean()


def test_build_writes_the_portraits_and_never_overwrites(archives, tmp_path, capsys):
    folder, _ = archives
    out = tmp_path / "out"
    assert portraits.main([str(out), "--archives", str(folder)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([n for _, _, n in portraits.SINGLE] + ["t1_0.png", "t1_1.png"])
    assert "7 portraits" in capsys.readouterr().out
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert portraits.main([str(out), "--archives", str(folder)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_missing_archive_is_one_clear_error(tmp_path, capsys):
    assert portraits.main([str(tmp_path / "out"), "--archives", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "source archive not found" in err and "\n" not in err
