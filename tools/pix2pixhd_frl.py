"""Measure a pix2pixHD FRL London model on its held-out people and draw docs/pix2pixhd.md's figure.

Edits every held-out person's neutral photo with the model (the path ``s2e edit --editor
pix2pixhd`` takes) and with the warp editor (the default editor, for comparison), then prints
:func:`s2e_lib.edit.pix2pixhd.evaluate.evaluate_heldout`'s summary at each strength, the warp
editor's judge rates on the same people, and writes a figure: per person the neutral crop, the
warp editor's smile, the model's smile and the real smile.

    .venv/bin/python tools/pix2pixhd_frl.py --checkpoint RUN/generator.pt \
        --data PAIRS/heldout [--strength 1 --strength 1.5] [--figure docs/figures/x.jpg] [--people 8]

The figure shows FRL London photos (CC BY 4.0, L. DeBruine & B. Jones 2017; the participants
consented to altered use) and edits of them; keep the credit beside it.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from PIL import Image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="held-out pair folder (build-frl's OUT/heldout)")
    parser.add_argument("--strength", type=float, action="append", default=None)
    parser.add_argument("--figure", default=None, help="write the comparison figure here (.jpg/.png)")
    parser.add_argument("--people", type=int, default=8, help="people in the figure")
    parser.add_argument("--json", default=None, help="write every summary here")
    args = parser.parse_args(argv)

    from s2e_lib.edit.pix2pixhd.dataset import load_rgb
    from s2e_lib.edit.pix2pixhd.evaluate import evaluate_heldout, format_summary
    from s2e_lib.edit.pix2pixhd.frl import pair_matrices
    from s2e_lib.edit.warp import WarpEditor, exemplars
    from s2e_lib.face import judge, judge_human, largest_face
    from s2e_lib.face.identity import identity_distance

    strengths = args.strength or [1.0]
    summaries = {}
    first = None
    for strength in strengths:
        report = evaluate_heldout(args.checkpoint, args.data, strength=strength)
        summaries[f"pix2pixhd@{strength:g}"] = report.summary
        print(f"== pix2pixHD, strength {strength:g}")
        print(format_summary(report.summary))
        first = first or report

    # the warp editor (the default every user sees) on the same people, for comparison; each person is
    # left out of its smile exemplar library
    import cv2
    import pandas as pd

    pairs = pd.read_csv(f"{args.data}/pairs.csv", dtype={"speaker": str})
    warp, fer = WarpEditor(), judge.FERJudge()
    human = judge_human.HumanEmotionJudge() if judge_human.available() else None
    warp_crops = {}
    for strength in strengths:
        hits, hits_h, ids = [], [], []
        for row in pairs.itertuples():
            neutral = load_rgb(row.source_a)
            face = largest_face(neutral)
            with exemplars.excluding([row.speaker]):  # never the person's own smile
                edited = warp.edit(neutral, row.emotion, strength=strength, faces=[face]).image
            hits.append(fer.top(edited)[0] == row.emotion)
            if human is not None:
                hits_h.append(human.top(edited)[0] == row.emotion)
            ids.append(identity_distance(neutral, edited, face_a=face))
            if strength == strengths[0] and row.speaker in first.edits:
                real = load_rgb(row.source_b)
                matrix, _, _ = pair_matrices(
                    face.landmarks,
                    largest_face(real).landmarks,
                    first.edits[row.speaker][0].shape[0],
                    "ffhq-face",
                )
                side = first.edits[row.speaker][0].shape[0]
                warp_crops[row.speaker] = cv2.warpAffine(
                    edited, matrix, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
                )
        summary = {"fer": float(np.mean(hits)), "identity": float(np.mean(ids))}
        if hits_h:
            summary["human"] = float(np.mean(hits_h))
        summaries[f"warp@{strength:g}"] = summary
        print(f"== warp editor, strength {strength:g}: {json.dumps(summary)}")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summaries, f, indent=2)
    if args.figure:
        columns = []
        for speaker in list(first.edits)[: args.people]:
            a, out, b = first.edits[speaker]
            columns.append(np.vstack([a, warp_crops.get(speaker, np.zeros_like(a)), out, b]))
        grid = np.hstack(columns)
        scale = 2 if grid.shape[0] < 600 else 1
        Image.fromarray(grid).resize(
            (grid.shape[1] * scale, grid.shape[0] * scale), Image.Resampling.LANCZOS
        ).save(args.figure, quality=90)
        print(f"figure: {args.figure} (rows: neutral, warp editor, pix2pixHD, real smile)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
