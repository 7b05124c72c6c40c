"""Box geometry around detected faces (crops for figures and summaries)."""

from __future__ import annotations

from s2e_lib.face.detect import Face


def face_crop_box(face: Face, shape: tuple[int, ...], margin: float = 0.35) -> tuple[int, int, int, int]:
    """A square (left, top, right, bottom) around ``face`` with ``margin``·width on each side, clipped."""
    x0, y0, x1, y1 = face.box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = (0.5 + margin) * max(x1 - x0, y1 - y0)
    h, w = shape[:2]
    return (max(0, int(cx - half)), max(0, int(cy - half)), min(w, int(cx + half)), min(h, int(cy + half)))
