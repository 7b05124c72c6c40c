"""Face stage figures: ms per warp edit split into detect, align, warp, paste; glasses detection
and photo statistics (noise, blur); identity distances.

Runs on scikit-image's astronaut (512 px) and the same photo upscaled to 1024 px, warm
(models loaded once first), one edit per mission emotion at the default strength.
"""

from __future__ import annotations

import time

import numpy as np


def _ms(fn, repeat: int = 3):
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best, value


def run() -> dict:
    import cv2
    import skimage.data

    from s2e_lib.edit.warp import WarpEditor
    from s2e_lib.edit.warp.glasses import glasses_evidence
    from s2e_lib.edit.warp.photo import photo_stats
    from s2e_lib.emotions import MISSION_EMOTIONS
    from s2e_lib.face import align_face, detect_faces, identity_distance, paste_back

    editor = WarpEditor()
    figures: dict = {}
    start = time.perf_counter()
    detect_faces(skimage.data.astronaut())  # loads dlib's models
    figures["model_load_ms"] = round((time.perf_counter() - start) * 1e3, 1)
    for side in (512, 1024):
        image = skimage.data.astronaut()
        if side != 512:
            image = cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC)
        detect_ms, faces = _ms(lambda image=image: detect_faces(image))
        face = faces[0]
        glasses_ms, _ = _ms(lambda image=image, face=face: glasses_evidence(image, face.landmarks))
        stats_ms, _ = _ms(lambda image=image, face=face: photo_stats(image, face.landmarks))
        align_ms, aligned = _ms(lambda image=image, face=face: align_face(image, size=1024, face=face))
        paste_ms, _ = _ms(lambda image=image, a=aligned: paste_back(image, a.image, a))
        warp, total, distances = [], [], {}
        for emotion in MISSION_EMOTIONS:
            result = editor.edit(image, emotion, 1.0, faces=[face])
            t = result.info["timings_ms"]
            warp.append(t["align_ms"] + t["warp_ms"] + t["paste_ms"])
            ms, _ = _ms(lambda e=emotion, image=image: editor.edit(image, e, 1.0), repeat=1)
            total.append(ms)
            distances[emotion] = identity_distance(image, result.image, face_a=face)
        key = f"{side}px"
        figures[f"{key}_detect_ms"] = round(detect_ms, 1)
        figures[f"{key}_glasses_detect_ms"] = round(glasses_ms, 1)
        figures[f"{key}_photo_stats_ms"] = round(stats_ms, 1)
        figures[f"{key}_align_ffhq1024_ms"] = round(align_ms, 1)
        figures[f"{key}_paste_back_ms"] = round(paste_ms, 1)
        figures[f"{key}_warp_edit_ms"] = round(float(np.mean(warp)), 1)
        figures[f"{key}_edit_end_to_end_ms"] = round(float(np.mean(total)), 1)
        figures[f"{key}_identity_distance_mean"] = round(float(np.mean(list(distances.values()))), 3)
        for emotion, d in distances.items():
            figures[f"{key}_identity_distance_{emotion}"] = round(d, 3)
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
