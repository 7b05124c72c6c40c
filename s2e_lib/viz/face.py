"""Figures for the face stage: landmarks, alignment, labelled edit grids, identity bars.

:func:`edit_grid` needs only numpy and PIL (the CLI uses it); the ``plot_*`` functions
import matplotlib when called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from s2e_lib.face.align import invert_affine, transform_points
from s2e_lib.face.detect import Face
from s2e_lib.face.geometry import face_crop_box
from s2e_lib.face.io import to_rgb


def _tile(image: np.ndarray, box, size: int):
    from PIL import Image

    crop = to_rgb(image, check_size=False)[box[1] : box[3], box[0] : box[2]]
    return Image.fromarray(crop).resize((size, size), Image.LANCZOS)


def edit_grid(
    image: np.ndarray,
    editor,
    emotions: Sequence[str],
    strengths: Sequence[float] = (0.0, 0.5, 1.0, 1.5),
    face: Face | None = None,
    tile: int = 192,
    crop: bool = True,
    label_height: int = 22,
    label_width: int = 90,
    blendshapes: bool = True,
) -> np.ndarray:
    """A labelled grid of edits: one row per emotion, one column per strength.

    Parameters
    ----------
    image : numpy.ndarray
        The photo (RGB uint8).
    editor
        An :class:`~s2e_lib.edit.base.Editor` (e.g. ``WarpEditor()``).
    emotions, strengths
        Rows and columns.
    face : Face, optional
        The face to edit and crop around (detected when omitted).
    tile : int
        Side of each cell in pixels.
    crop : bool
        Show a square around the face rather than the whole photo.
    blendshapes : bool
        Write each edited cell's blendshape rises under it (the self-check of
        :func:`s2e_lib.face.mesh.blendshape_check`; ``(no)`` marks what did not move), when the
        face mesh is installed.

    Returns
    -------
    numpy.ndarray
        RGB uint8 grid with a header row (strengths) and a label column (emotions).
    """
    from PIL import Image, ImageDraw

    from s2e_lib.face.detect import largest_face

    if face is None:
        face = largest_face(image)
    box = face_crop_box(face, image.shape) if crop else (0, 0, image.shape[1], image.shape[0])
    grid = Image.new(
        "RGB", (label_width + tile * len(strengths), label_height + tile * len(emotions)), "white"
    )
    draw = ImageDraw.Draw(grid)
    for j, s in enumerate(strengths):
        draw.text((label_width + j * tile + tile // 2 - 24, 5), f"strength {s:g}", fill=(0, 0, 0))
    from s2e_lib.face import mesh

    before = mesh.face_mesh(image, face.box) if blendshapes and mesh.available() else None
    for i, emotion in enumerate(emotions):
        draw.text((6, label_height + i * tile + tile // 2 - 6), str(emotion), fill=(0, 0, 0))
        for j, s in enumerate(strengths):
            edited = image if s == 0 else editor.edit(image, emotion, s, faces=[face]).image
            x, y = label_width + j * tile, label_height + i * tile
            grid.paste(_tile(edited, box, tile), (x, y))
            if before is not None and s > 0:
                text = mesh.short_deltas(mesh.blendshape_check(before, edited, emotion))
                if text:
                    _caption(draw, text, (x, y + tile), tile)
    return np.asarray(grid)


def _caption(draw, text: str, bottom_left: tuple[int, int], width: int) -> None:
    """A line of small white text on a dark band along the bottom of a grid cell (wrapped to two lines)."""
    x, bottom = bottom_left
    chars = max(8, width // 6)
    lines = [""]
    for part in text.split(", "):  # wrap between the items, never inside one
        joined = f"{lines[-1]}, {part}" if lines[-1] else part
        if len(joined) <= chars or not lines[-1]:
            lines[-1] = joined
        else:
            lines.append(part)
    height = 12 * len(lines) + 2
    draw.rectangle((x, bottom - height, x + width - 1, bottom - 1), fill=(20, 20, 20))
    for k, line in enumerate(lines):
        draw.text((x + 3, bottom - height + 1 + 12 * k), line, fill=(255, 255, 255))


def draw_landmarks(image: np.ndarray, faces: Sequence[Face], radius: int = 2) -> np.ndarray:
    """A copy of ``image`` (RGB) with each face's box and 68 landmarks drawn (OpenCV)."""
    import cv2

    out = to_rgb(image, check_size=False).copy()
    scale = max(1, round(max(out.shape[:2]) / 500))
    for face in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (0, 200, 255), scale)
        for k, (x, y) in enumerate(face.landmarks):
            colour = (
                (255, 60, 60)
                if k < 17
                else (60, 255, 60)
                if k < 27
                else (255, 255, 0)
                if k < 36
                else (60, 160, 255)
                if k < 48
                else (255, 60, 255)
            )
            cv2.circle(out, (int(round(x)), int(round(y))), radius * scale, colour, -1, lineType=cv2.LINE_AA)
    return out


def plot_landmarks(image: np.ndarray, faces: Sequence[Face], ax=None, title: str = "dlib 68 landmarks"):
    """Show the photo with boxes and landmarks."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 5))[1]
    ax.imshow(draw_landmarks(image, faces))
    ax.set_title(title)
    ax.axis("off")
    return ax


def plot_alignment(image: np.ndarray, aligned_list: Sequence, axes=None):
    """The photo with each crop's square outlined, next to the crops (one per method)."""
    import matplotlib.pyplot as plt

    n = len(aligned_list)
    if axes is None:
        _, axes = plt.subplots(1, n + 1, figsize=(4 * (n + 1), 4))
    axes[0].imshow(image)
    for aligned, colour in zip(aligned_list, ("tab:orange", "tab:cyan", "tab:green"), strict=False):
        s = aligned.size
        corners = transform_points(
            np.array([[0, 0], [s, 0], [s, s], [0, s], [0, 0]]), invert_affine(aligned.matrix)
        )
        axes[0].plot(corners[:, 0], corners[:, 1], color=colour, label=aligned.method)
    axes[0].legend(loc="lower right")
    axes[0].set_title("crop squares")
    axes[0].axis("off")
    for ax, aligned in zip(axes[1:], aligned_list, strict=True):
        ax.imshow(aligned.image)
        ax.set_title(f"{aligned.method} {aligned.size}²")
        ax.axis("off")
    return axes


def plot_identity(distances: dict[str, float], ax=None, threshold: float = 0.6, goal: float = 0.35):
    """Bar chart of identity distance per edit, with dlib's same-person threshold and the goal
    (issue 15: at most 0.35 on average over the emotional edits)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 3))[1]
    names = list(distances)
    ax.bar(names, [distances[k] for k in names], color="tab:blue")
    ax.axhline(threshold, color="tab:red", ls="--", label=f"dlib same-person {threshold}")
    ax.axhline(goal, color="tab:green", ls=":", label=f"goal ≤ {goal}")
    ax.set_ylabel("identity distance")
    ax.legend(loc="upper left", fontsize=8)
    return ax
