"""Safe output writing: temp file then rename, no overwrite without consent.

Every writer in the library goes through :func:`atomic_output` so an interrupted run
(an error, Ctrl-C) never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from s2e_lib.errors import InputError, S2EError
from s2e_lib.paths import project_paths


class OutputExistsError(S2EError):
    """The output exists and the caller did not allow overwriting it."""


def is_user_data(path: str | os.PathLike) -> bool:
    """True when ``path`` lies under the project's ``data/`` folder (user data)."""
    try:
        Path(path).resolve().relative_to(project_paths().data.resolve())
        return True
    except ValueError:
        return False


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an output path before any work is done.

    Raises :class:`OutputExistsError` if it exists and ``overwrite`` is false (existing
    files under ``data/`` are never overwritten, whatever ``overwrite`` says), and
    :class:`InputError` if its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file path")
    if path.exists():
        if is_user_data(path):
            raise OutputExistsError(f"{path}: exists under data/ and user data is never overwritten")
        if not overwrite:
            raise OutputExistsError(f"{path}: already exists (pass --overwrite to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{parent}: cannot create output folder ({exc.strerror or exc})") from None
    if not os.access(parent, os.W_OK):
        raise InputError(f"{parent}: output folder is not writable")
    return path


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, overwrite: bool = True, own_output: bool = False
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps the final suffix (so writers that infer the format from
    it work). On any exception, KeyboardInterrupt included, the temporary file is
    removed and ``path`` is left as it was.

    ``own_output=True`` is for a stage updating files it generated itself (e.g. a
    resumable ``s2e prepare`` tree, which may live under ``data/``): the user-data and
    overwrite checks are skipped.

    Examples
    --------
    >>> with atomic_output("out/figure.png") as tmp:  # doctest: +SKIP
    ...     fig.savefig(tmp)
    """
    path = Path(path)
    if not own_output and (not overwrite or is_user_data(path)):
        check_output(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files: give the output the user's umask
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` if it is an existing regular file, else raise a one-line InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a {what}")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: {what} is not readable")
    return path
