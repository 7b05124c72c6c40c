"""The condition given to pix2pixHD: the original project's five "signs", or label channels.

The original drew a shape at the centre of a neutral frame (``sign`` condition); the
network learned to turn "neutral face + shape" into that emotion's face. A centred
sign covers the nose and mouth, exactly what the network has to change, so the default
here is a corner. The ``label`` condition instead appends one constant channel per
emotion (one-hot) to the image. Both can be scaled by the intensity level.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from s2e_lib.emotions import MISSION_EMOTIONS, SIGNS, parse_emotion
from s2e_lib.errors import InputError

CONDITIONS: tuple[str, ...] = ("sign", "label")
POSITIONS: tuple[str, ...] = ("corner", "center", "top-left", "top-right", "bottom-left", "bottom-right")

#: Frame size the SIGNS sizes were drawn at (the original project's ~512² frames).
SIGN_REFERENCE_SIZE = 512

#: MEAD intensity levels run 1..3.
MAX_LEVEL = 3


def level_weight(level: int | float | None, max_level: int = MAX_LEVEL) -> float:
    """Condition strength for an intensity level: ``level / max_level`` clipped to [0, 1]
    (1.0 when the level is unknown)."""
    if level is None or (isinstance(level, float) and np.isnan(level)):
        return 1.0
    return float(np.clip(float(level) / max_level, 0.0, 1.0))


def sign_geometry(
    emotion: str, shape: tuple[int, int], position: str = "corner"
) -> tuple[tuple[int, int], int]:
    """Centre ``(x, y)`` and size (radius or half-side) in pixels of ``emotion``'s sign.

    Sizes scale with ``min(H, W) / 512``. ``corner`` means top-left, inset so the whole
    shape fits with a margin of a tenth of its size.
    """
    emotion = parse_emotion(emotion, allowed=SIGNS)
    if position not in POSITIONS:
        raise InputError(f"unknown sign position {position!r}; expected one of: {', '.join(POSITIONS)}")
    h, w = shape[:2]
    size = max(2, int(round(SIGNS[emotion]["size"] * min(h, w) / SIGN_REFERENCE_SIZE)))
    if position == "center":
        return (w // 2, h // 2), size
    # Corners sit on the largest sign's footprint so every emotion's sign shares a centre.
    largest = max(max(2, int(round(s["size"] * min(h, w) / SIGN_REFERENCE_SIZE))) for s in SIGNS.values())
    inset = largest + max(1, largest // 10)
    corner = "top-left" if position == "corner" else position
    x = inset if corner.endswith("left") else w - 1 - inset
    y = inset if corner.startswith("top") else h - 1 - inset
    return (x, y), size


def draw_sign(image: np.ndarray, emotion: str, position: str = "corner", weight: float = 1.0) -> np.ndarray:
    """Return a copy of an RGB uint8 ``image`` with ``emotion``'s sign drawn on it.

    Parameters
    ----------
    image : np.ndarray
        RGB uint8 (H, W, 3).
    emotion : str
        One of the five mission emotions (aliases accepted).
    position : str
        ``corner`` (top-left, default), a named corner, or ``center`` (the original).
    weight : float
        Opacity in [0, 1]; the intensity level scales it (1 = the original solid sign).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"draw_sign needs an RGB uint8 image, got shape {image.shape} dtype {image.dtype}")
    emotion = parse_emotion(emotion, allowed=SIGNS)
    spec = SIGNS[emotion]
    center, size = sign_geometry(emotion, image.shape, position)
    color = tuple(int(c) for c in spec["color_bgr"][::-1])  # the table is BGR, images are RGB
    thickness = int(spec["thickness"])
    if thickness > 0:
        thickness = max(1, int(round(thickness * min(image.shape[:2]) / SIGN_REFERENCE_SIZE)))
    layer = image.copy()
    if spec["shape"] == "circle":
        cv2.circle(layer, center, size, color, thickness, lineType=cv2.LINE_AA)
    else:
        x, y = center
        cv2.rectangle(layer, (x - size, y - size), (x + size, y + size), color, thickness)
    weight = float(np.clip(weight, 0.0, 1.0))
    if weight >= 1.0:
        return layer
    blended = image.astype(np.float32) * (1 - weight) + layer.astype(np.float32) * weight
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def sign_sheet(size: int = 128, position: str = "center", background: int = 64) -> dict[str, np.ndarray]:
    """Each mission emotion's sign on a plain grey square (for figures)."""
    canvas = np.full((size, size, 3), background, np.uint8)
    return {emotion: draw_sign(canvas, emotion, position) for emotion in MISSION_EMOTIONS}


def label_channels(
    emotion: str, shape: tuple[int, int], emotions: tuple[str, ...] = MISSION_EMOTIONS, weight: float = 1.0
) -> torch.Tensor:
    """One-hot emotion planes ``(len(emotions), H, W)``, the hot one filled with ``weight``."""
    emotion = parse_emotion(emotion, allowed=emotions)
    planes = torch.zeros(len(emotions), *shape[:2])
    planes[emotions.index(emotion)] = float(weight)
    return planes


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) → float tensor (3, H, W) in [-1, 1]."""
    return (
        torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
        .permute(2, 0, 1)
        .float()
        .div(127.5)
        .sub(1.0)
    )


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """Float tensor (3, H, W) in [-1, 1] → RGB uint8 (H, W, 3)."""
    array = tensor.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().byte()
    return array.permute(1, 2, 0).numpy()


def condition_input(
    image: np.ndarray,
    emotion: str,
    condition: str = "sign",
    position: str = "corner",
    weight: float = 1.0,
    emotions: tuple[str, ...] = MISSION_EMOTIONS,
    sign_drawn: bool = False,
) -> torch.Tensor:
    """The generator input for a neutral RGB uint8 ``image`` and a target ``emotion``.

    ``sign``: the image with the sign drawn (3 channels; pass ``sign_drawn=True`` if it
    is already there). ``label``: the image plus one-hot planes (3 + len(emotions)).
    """
    if condition == "sign":
        drawn = image if sign_drawn else draw_sign(image, emotion, position, weight)
        return image_to_tensor(drawn)
    if condition == "label":
        return torch.cat([image_to_tensor(image), label_channels(emotion, image.shape, emotions, weight)])
    raise InputError(f"unknown condition {condition!r}; expected one of: {', '.join(CONDITIONS)}")


def input_channels(condition: str, emotions: tuple[str, ...] = MISSION_EMOTIONS) -> int:
    """Generator input channels for a condition mode."""
    if condition == "sign":
        return 3
    if condition == "label":
        return 3 + len(emotions)
    raise InputError(f"unknown condition {condition!r}; expected one of: {', '.join(CONDITIONS)}")
