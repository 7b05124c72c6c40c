"""The frames table: ``<prepared>/frames.csv``, one row per saved video frame.

Written by :func:`s2e_lib.data.prepare.prepare` (``s2e prepare ... --frames``) and
read by the pix2pixHD pair builder. ``path`` is relative to the prepared folder;
``aligned`` (whether the frame is already an aligned face crop) may be absent in older
tables and then reads as false.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from s2e_lib.errors import InputError, one_line

FRAME_COLUMNS = (
    "speaker",
    "view",
    "emotion",
    "level",
    "utterance",
    "frame_index",
    "position",
    "path",
    "aligned",
)
#: Columns a readable table may lack (filled in by :func:`read_frames`).
OPTIONAL_FRAME_COLUMNS = ("aligned",)


def read_frames(path: str | os.PathLike) -> pd.DataFrame:
    """Read a frames table and check its columns.

    Parameters
    ----------
    path : path
        The prepared folder holding ``frames.csv``, or that file itself.

    Returns
    -------
    pandas.DataFrame
        The table with ``aligned`` as bool, ``level`` and ``position`` numeric (NaN when
        blank) and ``frame_index`` int.

    Raises
    ------
    InputError
        When the folder or the file is missing, unreadable, or a column is absent.
    """
    path = Path(path)
    if path.name == "frames.csv" and not path.is_dir():
        prepared, path = path.parent, path
    else:
        prepared, path = path, path / "frames.csv"
    if not prepared.is_dir():
        raise InputError(f"{prepared}: prepared data folder not found")
    if not path.is_file():
        raise InputError(f"{path}: not found (run `s2e prepare ... --frames` first)")
    try:
        frames = pd.read_csv(path, dtype={"speaker": str, "view": str, "emotion": str, "utterance": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({one_line(exc)})") from None
    missing = [c for c in FRAME_COLUMNS if c not in OPTIONAL_FRAME_COLUMNS and c not in frames.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    if "aligned" not in frames.columns:
        frames["aligned"] = False
    frames["aligned"] = frames["aligned"].astype(str).str.lower().isin(("true", "1", "yes"))
    frames["level"] = pd.to_numeric(frames["level"], errors="coerce")
    frames["position"] = pd.to_numeric(frames["position"], errors="coerce")
    frames["frame_index"] = pd.to_numeric(frames["frame_index"], errors="coerce").fillna(0)
    _check_values(frames, path, prepared)
    frames["frame_index"] = frames["frame_index"].astype(int)
    return frames


def _check_values(frames: pd.DataFrame, table: Path, prepared: Path) -> None:
    """One line naming the first row whose value no prepare run writes: a level or position
    that is not a finite number in range, a negative or huge frame index, or a ``path`` that
    leaves the prepared folder (absolute, ``..``): such a table was edited or crafted, and its
    paths are never read."""
    import math

    def bad(row: int, column: str, value, why: str):
        return InputError(f"{table}: row {row + 2}: {column} {value!r} {why}")

    for i, value in enumerate(frames["level"]):
        if not (math.isnan(value) or (0 <= value <= 100 and float(value).is_integer())):
            raise bad(i, "level", value, "is not an intensity level (a whole number 0-100, or blank)")
    for i, value in enumerate(frames["position"]):
        if not (math.isnan(value) or 0.0 <= value <= 1.0):
            raise bad(i, "position", value, "is not a position in the take (0 to 1, or blank)")
    for i, value in enumerate(frames["frame_index"]):
        if not (0 <= value < 2**31):
            raise bad(i, "frame_index", value, "is not a frame number")
    for i, value in enumerate(frames["path"].astype(str)):
        relative = Path(value)
        if relative.is_absolute() or ".." in relative.parts or value.strip() in ("", "nan", "."):
            raise bad(i, "path", value, "is not a file inside the prepared folder (it is never read)")
