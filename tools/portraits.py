"""Build the 11 portraits the warp editor is judged on and never tuned on (docs/face.md).

They are test and sample images that two PyPI source distributions ship:

- ``face_recognition`` 1.3.0 (MIT; ``tests/test_images``): ``obama.jpg``, ``obama2.jpg``,
  ``obama3.jpg``, ``biden.jpg`` (official U.S. government portraits, public domain);
- ``insightface`` 2.1 (``insightface/data/images``): ``Tom_Hanks_54745.png`` and the group photo
  ``t1.jpg``, whose six faces are each cut out around dlib's face box grown to 2.2× its width
  (:func:`face_crops`), image-left to image-right: ``t1_0`` … ``t1_5``.

The images stay outside the repository (their licences differ from the project's); this tool
fetches the two source archives with ``pip download`` (a developer tool: it needs the package
index, the product never does) or reads them from ``--archives DIR``, and writes the 11 photos
to ``OUT``. Then::

    .venv/bin/python tools/portraits.py /tmp/portraits
    .venv/bin/python tools/judge_warp.py --faces /tmp/portraits [--strength 1.5] [--variants ...]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

#: (sdist, member inside it, name written) of the single portraits.
SINGLE = (
    ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama.jpg", "obama.jpg"),
    ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama2.jpg", "obama2.jpg"),
    ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/obama3.jpg", "obama3.jpg"),
    ("face_recognition-1.3.0.tar.gz", "face_recognition-1.3.0/tests/test_images/biden.jpg", "biden.jpg"),
    ("insightface-2.1.tar.gz", "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png", "hanks.png"),
)
GROUP = ("insightface-2.1.tar.gz", "insightface-2.1/insightface/data/images/t1.jpg", "t1")
REQUIREMENTS = ("face_recognition==1.3.0", "insightface==2.1")
#: A group face is cut out as a square this many times its dlib box's width.
CROP_SCALE = 2.2


class PortraitError(Exception):
    """A missing or broken source archive (one line: the file and the problem)."""


def face_crops(rgb: np.ndarray, scale: float = CROP_SCALE) -> list[np.ndarray]:
    """Every face dlib's frontal detector finds in ``rgb``, image-left to image-right, each cut
    out as a square ``scale`` × its box's width around the box's centre (clipped at the border)."""
    import dlib

    boxes = sorted(dlib.get_frontal_face_detector()(rgb, 1), key=lambda b: b.left())
    crops = []
    for b in boxes:
        half = int(scale * b.width() / 2)
        cx, cy = (b.left() + b.right()) // 2, (b.top() + b.bottom()) // 2
        y0, y1 = max(cy - half, 0), min(cy + half, rgb.shape[0])
        x0, x1 = max(cx - half, 0), min(cx + half, rgb.shape[1])
        crops.append(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return crops


def _download(folder: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(folder)]
    result = subprocess.run(cmd + list(REQUIREMENTS), capture_output=True, text=True)
    if result.returncode != 0:
        last = " ".join(result.stderr.split())[-300:]
        raise PortraitError(f"pip download {' '.join(REQUIREMENTS)} failed: {last}")


def build(out: Path, archives: Path) -> list[Path]:
    """Write the 11 portraits into ``out`` from the two source archives in ``archives``."""
    from PIL import Image

    written = []
    out.mkdir(parents=True, exist_ok=True)
    for sdist, member, name in SINGLE + (GROUP,):
        path = archives / sdist
        if not path.is_file():
            raise PortraitError(f"{path}: source archive not found")
        with tarfile.open(path) as tar:
            data = tar.extractfile(member)
            if data is None:
                raise PortraitError(f"{path}: {member} is missing")
            payload = data.read()
        if name != GROUP[2]:  # written as shipped (no second JPEG compression)
            target = out / name
            target.write_bytes(payload)
            written.append(target)
            continue
        image = Image.open(io.BytesIO(payload)).convert("RGB")
        for k, crop in enumerate(face_crops(np.asarray(image))):
            target = out / f"{name}_{k}.png"
            Image.fromarray(crop).save(target)
            written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the portraits into")
    parser.add_argument("--archives", type=Path, help="folder already holding the two .tar.gz (no download)")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out}: folder is not empty (nothing is overwritten)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        archives = args.archives
        try:
            if archives is None:
                archives = Path(tmp)
                _download(archives)
            written = build(args.out, archives)
        except PortraitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"{len(written)} portraits in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
