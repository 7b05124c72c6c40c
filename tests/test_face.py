"""Face stage: image loading, dlib landmarks, FFHQ / 5-point alignment, paste-back, identity."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from s2e_lib.errors import InputError
from s2e_lib.face import (
    FFHQ_5POINT_TEMPLATE_1024,
    align_face,
    detect_faces,
    identity_distance,
    largest_face,
    load_image,
    paste_back,
    read_image,
    transform_points,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def face(astronaut):
    return largest_face(astronaut)


def test_detects_the_astronaut_with_68_landmarks(astronaut, face):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    assert face.landmarks.shape == (68, 2)
    x0, y0, x1, y1 = face.box
    inside = (face.landmarks[:, 0] >= x0 - 5) & (face.landmarks[:, 0] <= x1 + 5)
    assert inside.mean() > 0.9
    # anatomy: eyes above the nose tip above the mouth above the chin, image-left eye left
    assert (
        face.landmarks[36:42, 1].mean() < face.landmarks[30, 1] < face.landmarks[62, 1] < face.landmarks[8, 1]
    )
    assert face.landmarks[36:42, 0].mean() < face.landmarks[42:48, 0].mean()
    assert 30 < face.interocular < 60  # the astronaut's face is ~90 px wide


def test_no_face_is_an_empty_list_and_a_clear_error():
    blank = np.full((200, 200, 3), 128, np.uint8)
    assert detect_faces(blank) == []
    with pytest.raises(InputError, match="blank.png: no face found"):
        largest_face(blank, where="blank.png")


@pytest.mark.parametrize("degrees", [45, 90, -120, 180])
def test_a_tilted_or_turned_face_gets_its_landmarks(astronaut, face, degrees):
    """dlib alone placed an eye on the cheek at 45° (mean error 0.17 IOD) and found no face
    from 50° on; the upright copy keeps every landmark within a few pixels of where the
    upright photo's landmarks land when turned the same way."""
    import cv2

    from s2e_lib.face.detect import roll_degrees

    height, width = astronaut.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    turned = cv2.warpAffine(astronaut, turn, (width, height), borderMode=cv2.BORDER_REFLECT)
    truth = face.landmarks @ turn[:, :2].T + turn[:, 2]
    faces = detect_faces(turned)
    assert len(faces) == 1
    error = np.linalg.norm(faces[0].landmarks - truth, axis=1) / face.interocular
    assert error.mean() < 0.04 and error.max() < 0.1
    assert roll_degrees(faces[0].landmarks) == pytest.approx(roll_degrees(truth), abs=3)
    x0, y0, x1, y1 = faces[0].box
    assert (faces[0].landmarks[:, 0] > x0 - 5).all() and (faces[0].landmarks[:, 0] < x1 + 5).all()


def test_a_small_face_in_a_large_phone_photo_is_found(astronaut, face):
    """A 12-megapixel photo with the person across the room: the 640 px copy the detector
    first sees holds the astronaut's 88 px face at 14 px (it was "no face found"); the
    larger copy finds it, with the landmarks of the photo it came from."""
    canvas = np.full((3024, 4032, 3), 128, np.uint8)
    canvas[1000:1512, 1500:2012] = astronaut
    faces = detect_faces(canvas)
    assert len(faces) == 1
    error = np.linalg.norm(faces[0].landmarks - (face.landmarks + (1500, 1000)), axis=1) / face.interocular
    assert error.mean() < 0.03


def test_turned_copies_find_no_face_where_there_is_none():
    """The search in turned copies (only when upright shows no face) finds nothing in a cat,
    a coffee cup or noise."""
    skimage_data = pytest.importorskip("skimage.data")
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for image in (skimage_data.chelsea(), skimage_data.coffee(), noise):
        assert detect_faces(image) == []


def test_weak_secondary_detections_need_the_cnn_to_confirm_them(astronaut):
    """Beside Grace Hopper, the HOG detector also 'found' a face (score 0.06) in the
    astronaut's mission patch; dlib's CNN detector does not confirm it, so two faces are
    returned. A real but dim and blurred second face (HOG score ~0.06) is confirmed and kept."""
    import cv2

    cbook = pytest.importorskip("matplotlib.cbook")
    hopper = cv2.resize(load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)), (400, 487))
    canvas = np.full((520, 920, 3), 200, np.uint8)
    canvas[:512, :512], canvas[:487, 515:915] = astronaut, hopper
    faces = detect_faces(canvas)
    assert len(faces) == 2
    assert {f.box[0] > 512 for f in faces} == {True, False}  # one face in each photo

    dim = cv2.GaussianBlur(cv2.resize(astronaut, None, fx=0.7, fy=0.7), (0, 0), 2.0)
    dim = (dim * 0.35).astype(np.uint8)
    canvas = np.full((700, 1100, 3), 120, np.uint8)
    canvas[:512, :512], canvas[: dim.shape[0], 530 : 530 + dim.shape[1]] = astronaut, dim
    faces = detect_faces(canvas, upsample=1, detect_side=1100)
    assert len(faces) == 2 and min(f.score for f in faces) < 0.3


def test_the_frontal_detector_is_cached_and_finds_the_same_faces(astronaut, s2e_home):
    """dlib builds its frontal detector in 0.3 s; saved once in the cache folder it loads in
    about 1 ms. The saved one finds exactly what dlib's own finds; a broken file is rebuilt,
    and an unwritable cache folder only costs the time."""
    import dlib

    from s2e_lib.face import models
    from s2e_lib.fileio import _umask

    path = models.detector_cache_path()
    assert path is not None and str(path).startswith(str(s2e_home)) and not path.exists()
    built = models.detector.__wrapped__()
    assert path.is_file() and path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    loaded = models.detector.__wrapped__()
    assert loaded is not built and models._is_frontal(loaded)
    reference = dlib.get_frontal_face_detector()
    for image in (astronaut, astronaut[::2, ::2], np.ascontiguousarray(astronaut[:, ::-1])):
        assert [str(r) for r in loaded(image, 1)] == [str(r) for r in reference(image, 1)]
    path.write_bytes(b"not a detector")  # truncated by a crash, or another file by that name
    again = models.detector.__wrapped__()
    assert models._is_frontal(again) and path.stat().st_size > 100_000
    path.unlink()
    path.parent.chmod(0o500)
    try:
        if not os.access(path.parent, os.W_OK):  # (root writes anywhere)
            assert models._is_frontal(models.detector.__wrapped__()) and not path.exists()
    finally:
        path.parent.chmod(0o755)


def test_load_image_handles_modes_and_exif(tmp_path, astronaut):
    rgb = Image.fromarray(astronaut)
    rgb.convert("L").save(tmp_path / "gray.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(tmp_path / "rgba.png")
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    exif = Image.Exif()
    exif[274] = 6  # rotate 90° clockwise to display
    rgb.crop((0, 0, 512, 300)).save(tmp_path / "rotated.jpg", exif=exif)
    for name in ("gray.png", "rgba.png", "cmyk.jpg", "gray16.png"):
        image = load_image(tmp_path / name)
        assert image.shape == (512, 512, 3) and image.dtype == np.uint8, name
    gray = load_image(tmp_path / "gray16.png")
    assert np.abs(gray[..., 0].astype(int) - np.asarray(rgb.convert("L")).astype(int)).max() <= 1
    assert load_image(tmp_path / "rotated.jpg").shape == (512, 300, 3)
    assert np.abs(load_image(tmp_path / "cmyk.jpg").astype(int) - astronaut).mean() < 12
    assert read_image(tmp_path / "gray16.png").dtype == np.uint16
    assert read_image(tmp_path / "rgba.png").shape == (512, 512, 4)
    assert read_image(tmp_path / "gray.png").ndim == 2


def test_an_iphone_heic_photo_is_read_and_edited(astronaut, tmp_path, capsys):
    """HEIC (what iPhones save by default) through pillow-heif: read upright, edited, and
    found by a batch's folder scan."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from s2e_lib.cli import main
    from s2e_lib.pipeline.run import IMAGE_SUFFIXES

    pillow_heif.register_heif_opener()
    photo = tmp_path / "IMG_0001.HEIC"
    Image.fromarray(astronaut).save(photo, format="HEIF", quality=90)
    image = load_image(photo)
    assert image.shape == astronaut.shape
    assert np.abs(image.astype(int) - astronaut).mean() < 4.0  # lossy, but the same photo
    assert (
        main(["edit", "--face", str(photo), "--emotion", "happy", "--out", str(tmp_path / "happy.jpg")]) == 0
    )
    assert Image.open(tmp_path / "happy.jpg").size == (512, 512)
    assert photo.suffix.lower() in IMAGE_SUFFIXES


def test_pillow_heif_loads_only_for_a_heic_photo(astronaut, tmp_path):
    """A JPEG is read without importing pillow-heif (60 ms of a cold run); a HEIC photo
    saved under a .jpg name is still read, pillow-heif registered on the miss."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    Image.fromarray(astronaut).save(tmp_path / "heic_named.jpg", format="HEIF", quality=90)
    Image.fromarray(astronaut).save(tmp_path / "plain.jpg", quality=90)
    code = (
        "import sys; from s2e_lib.face.io import load_image\n"
        f"load_image({str(tmp_path / 'plain.jpg')!r}); print('pillow_heif' in sys.modules)\n"
        f"image = load_image({str(tmp_path / 'heic_named.jpg')!r}); print(image.shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["False", str(astronaut.shape)]
    # writing a .heic registers it too, in a process that never read one
    code = (
        "from s2e_lib.face.io import load_image, save_image\n"
        f"save_image(load_image({str(tmp_path / 'plain.jpg')!r}), {str(tmp_path / 'out.heic')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    with Image.open(tmp_path / "out.heic") as im:
        assert im.format == "HEIF" and im.size == astronaut.shape[1::-1]


def test_a_video_is_read_as_its_first_frame(sample_corpus, tmp_path, capsys):
    """MEAD's video takes as faces: the first frame, where a take starts from rest."""
    import av

    from s2e_lib.cli import main

    video = next((sample_corpus / "W003" / "video").rglob("*.mp4"))
    with av.open(str(video)) as container:
        first = next(container.decode(container.streams.video[0])).to_ndarray(format="rgb24")
    image = load_image(video)
    assert image.shape == first.shape and image.dtype == np.uint8
    assert np.abs(image.astype(int) - first).mean() < 1.0
    assert main(["edit", "--face", str(video), "--emotion", "sad", "--out", str(tmp_path / "sad.png")]) == 0
    assert Image.open(tmp_path / "sad.png").size == (first.shape[1], first.shape[0])

    audio_only = tmp_path / "voice.mp4"  # an .mp4 holding only sound
    audio_only.write_bytes(next((sample_corpus / "W003" / "audio").rglob("*.m4a")).read_bytes())
    with pytest.raises(InputError, match="voice.mp4: no video stream"):
        load_image(audio_only)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 512)
    with pytest.raises(
        InputError,
        match=r"broken.mp4: not a readable video file \(invalid data found when processing input\)$",
    ):
        load_image(broken)


def test_load_image_refuses_bad_files(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.png: not an image"):
        load_image(tmp_path / "notes.png")
    with pytest.raises(InputError, match="missing.jpg: image not found"):
        load_image(tmp_path / "missing.jpg")
    Image.new("RGB", (10, 10)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="too small"):
        load_image(tmp_path / "tiny.png")


@pytest.mark.parametrize("method", ["ffhq", "five-point"])
def test_alignment_round_trip(astronaut, face, method):
    aligned = align_face(astronaut, size=512, method=method, face=face)
    assert aligned.image.shape == (512, 512, 3) and aligned.image.dtype == np.uint8
    assert aligned.matrix.shape == (2, 3)
    # eyes level and centred in the crop
    lm = aligned.landmarks
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    assert abs(eye_l[1] - eye_r[1]) < 0.03 * 512
    assert abs((eye_l[0] + eye_r[0]) / 2 - 256) < 0.05 * 512
    restored = paste_back(astronaut, aligned.image, aligned)
    assert restored.shape == astronaut.shape and restored.dtype == np.uint8
    diff = np.abs(restored.astype(int) - astronaut.astype(int))
    assert diff.mean() < 1.0
    x0, y0, x1, y1 = (int(v) for v in face.box)
    assert diff[y0:y1, x0:x1].mean() < 2.0


def test_five_point_alignment_hits_the_template(astronaut, face):
    aligned = align_face(astronaut, size=1024, method="five-point", face=face)
    points = transform_points(face.landmarks[[45, 42, 36, 39, 33]], aligned.matrix)
    assert np.abs(points - FFHQ_5POINT_TEMPLATE_1024).mean() < 25


def test_paste_back_blends_an_edit_and_keeps_mode(astronaut, face):
    aligned = align_face(astronaut, size=256, face=face)
    edited = aligned.image.copy()
    edited[96:160, 96:160] = (255, 0, 0)  # a red square in the middle of the crop
    out = paste_back(astronaut, edited, aligned)
    centre = transform_points(
        np.array([[128.0, 128.0]]), np.linalg.inv(np.vstack([aligned.matrix, [0, 0, 1]]))[:2]
    )[0]
    cx, cy = int(centre[0]), int(centre[1])
    assert out[cy, cx, 0] > 240 and out[cy, cx, 1] < 20
    assert np.array_equal(out[:20, :20], astronaut[:20, :20])  # far from the face: untouched
    gray = astronaut.mean(2).astype(np.uint8)
    assert paste_back(gray, edited, aligned).shape == gray.shape
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 77, np.uint8)])
    out_rgba = paste_back(rgba, edited, aligned)
    assert out_rgba.shape == rgba.shape and (out_rgba[..., 3] == 77).all()


def test_identity_compares_the_same_face_of_a_group_photo(astronaut):
    """In a group photo the edited face is compared with itself, not with the largest face."""
    import matplotlib.cbook

    from s2e_lib.edit.warp import WarpEditor

    hopper = load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    group = np.full((600, 1024, 3), 128, np.uint8)
    group[:512, :512] = astronaut
    group[:, 512:] = hopper
    faces = detect_faces(group)
    small = min(faces, key=lambda f: f.area)
    assert len(faces) >= 2 and small.box[2] <= 512  # the astronaut is the smaller face
    assert identity_distance(group, group.copy(), face_a=small) == pytest.approx(0.0, abs=1e-6)
    edited = WarpEditor().edit(group, "sad", 1.0, faces=[small]).image
    assert 0.05 < identity_distance(group, edited, face_a=small) < 0.6


def test_identity_distance(astronaut, face, shared_data):
    assert identity_distance(astronaut, astronaut, face_a=face, face_b=face) == pytest.approx(0.0, abs=1e-6)
    other = load_image(shared_data / "faces" / "06.jpeg")
    assert identity_distance(astronaut, other, face_a=face) > 0.6


def test_ffhq_face_crop_is_ffhqs_square_tightened_on_the_face():
    from s2e_lib.face import largest_face
    from s2e_lib.face.align import FACE_ZOOM, alignment_matrix, ffhq_quad, transform_points
    from s2e_lib.sample.face import base_face

    face = largest_face(base_face(256))
    loose = alignment_matrix(face.landmarks, 128, "ffhq")
    tight = alignment_matrix(face.landmarks, 128, "ffhq-face")
    scale = lambda m: np.sqrt(abs(np.linalg.det(m[:, :2])))  # noqa: E731
    assert scale(tight) / scale(loose) == pytest.approx(1 / FACE_ZOOM, rel=1e-6)
    mouth = transform_points(face.landmarks[[48, 54]], tight)
    eyes = transform_points(face.landmarks[[36, 45]], tight)
    assert 30 < mouth[1, 0] - mouth[0, 0] < 60  # the mouth spans 30-60 of 128 px
    assert eyes[:, 1].mean() < 64 < mouth[:, 1].mean()  # eyes above the centre, mouth below
    assert ffhq_quad(face.landmarks).shape == (4, 2)
