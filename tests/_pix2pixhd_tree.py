"""A small prepared tree (PNG frames + frames.csv) for the pix2pixHD tests, made from scratch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

MOUTHS = {"neutral": 0, "happy": 1, "sad": -1, "angry": -1, "fear": 2}


def face_frame(emotion: str, position: float, shape=(48, 64), tint: int = 0) -> np.ndarray:
    """A cartoon face whose mouth shows the emotion (frames are wider than tall)."""
    h, w = shape
    image = np.full((h, w, 3), (40, 60 + tint, 90), np.uint8)
    cx, cy = w // 2, h // 2
    cv2.ellipse(image, (cx, cy), (w // 5, h // 3), 0, 0, 360, (220, 180, 150), -1)
    for dx in (-w // 12, w // 12):
        cv2.circle(image, (cx + dx, cy - h // 10), 2, (30, 30, 30), -1)
    mouth = MOUTHS[emotion]
    y = cy + h // 6
    if mouth == 2:
        cv2.circle(image, (cx, y), 3 + int(2 * position), (120, 0, 0), -1)
    elif mouth == 0:
        cv2.line(image, (cx - 5, y), (cx + 5, y), (120, 0, 0), 1)
    else:
        start, end = (0, 180) if mouth == 1 else (180, 360)
        cv2.ellipse(image, (cx, y - 2 * mouth), (6, 3), 0, start, end, (120, 0, 0), 1)
    if emotion == "angry":
        cv2.line(image, (cx - 9, cy - h // 6), (cx - 3, cy - h // 8), (30, 30, 30), 1)
        cv2.line(image, (cx + 9, cy - h // 6), (cx + 3, cy - h // 8), (30, 30, 30), 1)
    return image


# (speaker, view, emotion, level, utterance, positions)
TAKES = [
    ("M001", "front", "neutral", 1, "001", (0.0, 0.5, 1.0)),
    ("M001", "front", "neutral", 1, "002", (0.0, 0.5, 1.0)),
    ("M001", "front", "happy", 1, "001", (0.0, 0.5, 1.0)),
    ("M001", "front", "happy", 3, "005", (0.2, 0.9)),
    ("M001", "front", "sad", 2, "002", (0.1, 0.6)),
    ("M001", "left_30", "neutral", 1, "001", (0.0, 1.0)),
    ("M001", "left_30", "angry", 3, "001", (0.3,)),
    ("W002", "front", "happy", 2, "001", (0.0, 1.0)),  # W002 has no neutral frames
]


def make_prepared_tree(root: Path, takes=TAKES) -> Path:
    """Write ``root/frames/...png`` and ``root/frames.csv`` as ``s2e prepare`` would."""
    rows = []
    for speaker, view, emotion, level, utterance, positions in takes:
        folder = root / "frames" / speaker / view / emotion / f"level_{level}" / utterance
        folder.mkdir(parents=True, exist_ok=True)
        for i, position in enumerate(positions):
            path = folder / f"{i * 10:05d}.png"
            Image.fromarray(face_frame(emotion, position, tint=10 * (speaker == "W002"))).save(path)
            rows.append(
                {
                    "speaker": speaker,
                    "view": view,
                    "emotion": emotion,
                    "level": level,
                    "utterance": utterance,
                    "frame_index": i * 10,
                    "position": position,
                    "path": str(path.relative_to(root)),
                    "aligned": False,
                }
            )
    pd.DataFrame(rows).to_csv(root / "frames.csv", index=False)
    return root
