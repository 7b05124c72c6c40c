"""Reading photos into RGB uint8 arrays, whatever their mode, bit depth or EXIF rotation.

:func:`load_image` accepts what cameras and image editors write (JPEG with an EXIF
orientation, HEIC/HEIF from phones through ``pillow-heif``, 8/16-bit grayscale, palette,
RGBA, CMYK, 16-bit PNG/TIFF) and refuses the
rest with one line naming the file. A video (MEAD's ``video/<view>/...mp4`` takes) is read as its
first frame, where a take starts from rest. :func:`to_rgb` does the same for in-memory arrays,
and :func:`restore_mode` gives an edited RGB array back the caller's layout (gray,
RGBA with the original alpha, 16-bit).
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np

from s2e_lib.errors import InputError, one_line
from s2e_lib.fileio import require_file

#: Longest side accepted, in pixels. Larger photos are refused rather than decoded into
#: gigabytes of memory (a 16k x 16k RGB image is 768 MB).
MAX_SIDE = 16384
#: Shortest side accepted: below this no face can carry 68 usable landmarks.
MIN_SIDE = 32


@functools.lru_cache(maxsize=1)
def _heif_support() -> bool:
    """Let Pillow open HEIC/HEIF (what iPhones save by default) with ``pillow-heif``."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - a core dependency
        return False
    pillow_heif.register_heif_opener()
    return True


#: Suffixes whose files need pillow-heif (registered on first use).
HEIF_SUFFIXES = (".heic", ".heif", ".hif", ".avif")
#: ISO-BMFF major brands of HEIF/AVIF files (bytes 8-12, after ``ftyp``).
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


def _is_heif(path) -> bool:
    """Whether ``path`` needs pillow-heif: by its suffix, or a HEIF/AVIF header under another name.
    pillow-heif is imported only then (60 ms of every cold run otherwise)."""
    if Path(path).suffix.lower() in HEIF_SUFFIXES:
        return True
    with open(path, "rb") as fh:
        head = fh.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


#: Files read as video (their first frame) rather than as a photo.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")


def _check_size(width: int, height: int, where: str) -> None:
    if max(width, height) > MAX_SIDE:
        raise InputError(f"{where}: image is too large ({width}x{height} px; at most {MAX_SIDE} px a side)")
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{where}: image is too small ({width}x{height} px; at least {MIN_SIDE} px a side)")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as an RGB uint8 array of shape (H, W, 3), upright.

    Parameters
    ----------
    path : str or PathLike
        Any image Pillow reads (JPEG, PNG, TIFF, WebP, BMP, ...).

    Returns
    -------
    numpy.ndarray
        RGB uint8, rotated according to the EXIF orientation tag. Grayscale is
        replicated to three channels, transparency is composited onto white, CMYK is
        converted, 16-bit and float images are scaled to 8 bits.

    Raises
    ------
    InputError
        The file is missing, not an image, truncated, or too large / too small.
    """
    return _decode(path, pil_to_rgb)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo keeping its layout: H×W (gray, uint8 or uint16), H×W×3 RGB or H×W×4 RGBA.

    EXIF rotation is applied. Palette images become RGB (RGBA with transparency), CMYK
    becomes RGB, 32-bit integer and float images are scaled to 8 bits. Use this when the
    output must match the input's mode (``s2e edit``); :func:`load_image` for RGB.
    """
    return _decode(path, _keep_layout)


def _keep_layout(im, where: str) -> np.ndarray:
    mode = im.mode
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im).copy()
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16)
    if mode in ("LA", "PA") or (mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA")).copy()
    if mode in ("I", "F"):
        return _to_uint8(np.asarray(im))
    if mode == "1":
        return np.asarray(im.convert("L")).copy()
    return np.asarray(im.convert("RGB")).copy()


def _decode(path: str | os.PathLike, convert) -> np.ndarray:
    """Open ``path`` with Pillow (size checks, EXIF rotation) and ``convert(im, where)`` it;
    every decoding problem becomes one InputError naming the file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = require_file(path, "image")
    if Path(path).suffix.lower() in VIDEO_SUFFIXES:
        from s2e_lib.media import read_frames

        (_, frame), *_ = read_frames(path, [0], max_side=MAX_SIDE)
        _check_size(frame.shape[1], frame.shape[0], str(path))
        return convert(Image.fromarray(frame), str(path))
    try:
        if _is_heif(path):
            _heif_support()
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_size(im.width, im.height, str(path))
                im.load()
                return convert(ImageOps.exif_transpose(im), str(path))
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image (Pillow cannot identify it)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path}: image is too large to decode safely") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot read image ({one_line(exc)})") from None


def pil_to_rgb(im, where: str = "image") -> np.ndarray:
    """Convert a Pillow image of any mode to an RGB uint8 array."""
    from PIL import Image

    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return to_rgb(np.asarray(im), where)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    if mode == "CMYK":
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8).copy()


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):  # 32-bit "I" images, usually 16-bit data
        top = 65535 if array.max(initial=0) > 255 else 255
        return (np.clip(array, 0, top).astype(np.float64) * (255.0 / top)).round().astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        top = 1.0 if np.nanmax(array, initial=0.0) <= 1.0 else 255.0
        return (np.clip(np.nan_to_num(array), 0, top) * (255.0 / top)).round().astype(np.uint8)
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    raise InputError(f"unsupported image dtype {array.dtype}")


def to_rgb(image: np.ndarray, where: str = "image", check_size: bool = True) -> np.ndarray:
    """Return ``image`` (H×W gray, H×W×1, ×3 RGB or ×4 RGBA; any bit depth) as RGB uint8.

    Alpha is dropped (the colour under it is kept, so pasting back with the same alpha
    restores the photo exactly).
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(_to_uint8(array)[..., None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        array = _to_uint8(array[..., :3])
    else:
        raise InputError(f"{where}: expected an H×W, H×W×3 or H×W×4 image array, got shape {array.shape}")
    if check_size:
        _check_size(array.shape[1], array.shape[0], where)
    return np.ascontiguousarray(array)


def is_monochrome(image: np.ndarray, tolerance: float = 2.0) -> bool:
    """True for an RGB(A) photo whose colour channels are equal (a black-and-white scan saved as RGB).

    ``tolerance`` is in 8-bit grey levels (JPEG chroma noise on a gray image stays below it);
    99.9 % of pixels must be within it, so a few stray coloured pixels do not count.
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] < 3:
        return False
    rgb = _to_uint8(array[..., :3]).astype(np.int16)
    spread = np.maximum(np.abs(rgb[..., 0] - rgb[..., 1]), np.abs(rgb[..., 2] - rgb[..., 1]))
    return bool(np.quantile(spread, 0.999) <= tolerance)


def restore_mode(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Give the edited RGB uint8 array ``rgb`` the layout and dtype of the input ``like``.

    Gray inputs get luminance (ITU-R 601, as Pillow's ``convert("L")``), RGBA inputs get
    their original alpha back, 16-bit inputs are scaled back to 16 bits. A black-and-white
    photo stored as RGB (three equal channels, :func:`is_monochrome`) stays black-and-white:
    the editor's colour sources (teeth, lips, warm shadows) would otherwise tint it.
    """
    like = np.asarray(like)
    out = rgb
    gray_layout = like.ndim == 2 or (like.ndim == 3 and like.shape[2] == 1)
    if gray_layout or is_monochrome(like):
        gray = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        out = np.clip(gray.round(), 0, 255).astype(np.uint8)
        if like.ndim == 3 and like.shape[2] == 1:
            out = out[..., None]
        elif not gray_layout:
            out = np.repeat(out[..., None], 3, axis=2)
    if like.ndim == 3 and like.shape[2] == 4:
        alpha = _to_uint8(like[..., 3])
        out = np.concatenate([out, alpha[..., None]], axis=2)
    if like.dtype == np.uint16:
        out = out.astype(np.uint16) * 257
    elif np.issubdtype(like.dtype, np.floating):
        top = 1.0 if np.nanmax(like, initial=0.0) <= 1.0 else 255.0
        out = out.astype(like.dtype) * (top / 255.0)
    return out


def save_image(image: np.ndarray, path: str | os.PathLike, overwrite: bool = False, **options) -> Path:
    """Write an image array atomically (format from the suffix); refuses to overwrite by default.

    The project's one image writer. ``options`` go to Pillow's ``save`` (e.g.
    ``compress_level=1`` for fast PNGs); JPEGs default to quality 95.
    """
    from PIL import Image

    from s2e_lib.fileio import atomic_output

    path = Path(path)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    im = Image.fromarray(array)
    if path.suffix.lower() in (".jpg", ".jpeg") and im.mode == "RGBA":
        im = im.convert("RGB")
    if path.suffix.lower() in HEIF_SUFFIXES:  # writing one: nothing to sniff yet
        _heif_support()
    with atomic_output(path, overwrite=overwrite) as tmp:
        kwargs = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}
        im.save(tmp, **{**kwargs, **options})
    return path
