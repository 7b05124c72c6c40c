"""Safe output writing: temp file then rename, no overwrite without consent.

Every writer in the library goes through :func:`atomic_output` so an interrupted run
(an error, Ctrl-C) never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import errno
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


def check_output(
    path: str | os.PathLike, overwrite: bool = False, suffixes: tuple[str, ...] | None = None
) -> Path:
    """Validate an output path before any work is done.

    Raises :class:`OutputExistsError` if it exists and ``overwrite`` is false (existing
    files under ``data/`` are never overwritten, whatever ``overwrite`` says), and
    :class:`InputError` if its folder cannot be created or written, or its suffix is not
    one of ``suffixes`` (a model saved as ``m.txt`` would be found by no one).
    """
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: expected a {' or '.join(suffixes)} file name")
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
    no_clobber = not own_output and (not overwrite or is_user_data(path))
    if no_clobber:
        check_output(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files: give the output the user's umask
            os.chmod(tmp, 0o666 & ~_umask())
        if no_clobber:  # the exists-check and the rename in one step
            _rename_no_clobber(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        full = not isinstance(exc, (OSError, KeyboardInterrupt)) and disk_full(path.parent)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if full:  # a writer that hides the errno (libsndfile's "System error.", torch's enforce)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise


#: Below this many free bytes a write that failed without an errno is taken as a full disk.
DISK_FULL_BYTES = 1 << 20


def disk_full(folder: str | os.PathLike) -> bool:
    """Whether the filesystem of ``folder`` has (almost) no space left for an unprivileged writer."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):
        return False
    return stats.f_bavail * stats.f_frsize < DISK_FULL_BYTES


_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS}


def _rename_no_clobber(tmp: Path, path: Path) -> None:
    """Move ``tmp`` onto ``path`` unless ``path`` exists (checked in the same step).

    A hard link fails atomically when the name is taken; where links are unsupported
    (some network and FAT file systems) the name is reserved with ``O_CREAT|O_EXCL``
    before the rename.
    """

    def exists() -> InputError:
        if is_user_data(path):
            return InputError(f"{path}: exists under data/ and user data is never overwritten")
        return InputError(f"{path}: exists (use --overwrite)")

    try:
        os.link(tmp, path)
    except FileExistsError:
        raise exists() from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask()))
        except FileExistsError:
            raise exists() from None
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()  # the empty placeholder reserved above
            raise
        return
    os.unlink(tmp)


class OutputBusyError(S2EError):
    """Another process holds the lock on an output folder."""


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike, name: str = ".s2e.lock") -> Iterator[Path]:
    """Hold an exclusive lock on the output folder ``folder`` (created if needed).

    The lock is ``flock`` on ``folder/.s2e.lock`` (acquired without waiting; the same lock
    as ``filelock.FileLock`` on that file); the holder's pid goes to ``folder/.s2e.lock.pid``.
    A second writer gets :class:`OutputBusyError` ("busy: DIR is being written by pid N")
    before writing anything. Use one per run around everything the run writes into ``folder``.

    On release both files are removed, so a finished command leaves no lock behind: the lock
    file is unlinked *while still locked*, and only when the name still points at the file
    we locked and it is empty (a user's file of that name is left alone). A process that
    opened the old file just before it was unlinked and locks it just after is not the
    holder: after locking, the name must still point at the file it locked, else it tries
    again on the name's new file (which another writer may hold: then it is busy). A run
    that is killed leaves both files; they are free (the kernel drops a dead process's lock)
    and the next run takes them over and removes them. Where ``flock`` is unavailable (no
    ``fcntl``, or a filesystem that refuses it) ``filelock`` does the locking and the lock file
    stays.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create output folder ({exc.strerror or exc})") from None
    lock_path = folder / name
    pid_path = folder / f"{name}.pid"
    try:
        fd = _flock_nowait(lock_path)
    except _NoFlock:
        with _filelock_nowait(lock_path, pid_path, folder):
            yield folder
        return
    if fd is None:
        raise _busy(folder, pid_path)
    try:
        with contextlib.suppress(OSError):
            pid_path.write_text(f"{os.getpid()}\n", encoding="utf-8")
        yield folder
    finally:
        try:
            with contextlib.suppress(OSError):
                pid_path.unlink()
            with contextlib.suppress(OSError):
                mine = os.fstat(fd)
                if mine.st_size == 0 and os.path.samestat(mine, os.lstat(lock_path)):
                    os.unlink(lock_path)  # still locked: nobody can hold this file as the lock
        finally:
            os.close(fd)  # releases the lock


class _NoFlock(Exception):
    """``flock`` cannot lock files here (no ``fcntl``, or the filesystem refuses it)."""


#: How often :func:`_flock_nowait` follows a lock file replaced under it before it calls the
#: folder busy (each time, a holder finished and another writer started in between).
_FLOCK_TRIES = 20


def _flock_nowait(lock_path: Path) -> int | None:
    """A descriptor of ``lock_path`` holding its exclusive ``flock``; ``None`` when another
    process holds it. Raises :class:`_NoFlock` where ``flock`` is unavailable."""
    try:
        import fcntl
    except ImportError:
        raise _NoFlock from None
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_FLOCK_TRIES):
        fd = os.open(lock_path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return None
            if exc.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise _NoFlock from None
            raise
        try:
            current = os.lstat(lock_path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            return fd
        os.close(fd)  # the holder before us removed the file we locked: lock the name's new file
    return None


@contextlib.contextmanager
def _filelock_nowait(lock_path: Path, pid_path: Path, folder: Path) -> Iterator[None]:
    """:func:`output_lock` by ``filelock`` (its soft lock where ``flock`` is unavailable)."""
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise _busy(folder, pid_path) from None
    try:
        with contextlib.suppress(OSError):
            pid_path.write_text(f"{os.getpid()}\n", encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            pid_path.unlink()
        lock.release()


def _busy(folder: Path, pid_path: Path) -> OutputBusyError:
    try:
        holder = f"pid {int(pid_path.read_text().strip())}"
    except (OSError, ValueError):
        holder = "another process"
    return OutputBusyError(f"busy: {folder} is being written by {holder}")


def remove_if_only_locks(folder: str | os.PathLike) -> None:
    """Remove ``folder`` when it holds nothing but the lock files of :func:`output_lock` (a run
    that failed before writing anything leaves no folder behind)."""
    folder = Path(folder)
    try:
        names = {p.name for p in folder.iterdir()}
    except OSError:
        return
    if names <= {".s2e.lock", ".s2e.lock.pid"}:
        with contextlib.suppress(OSError):
            for name in names:
                (folder / name).unlink()
            folder.rmdir()


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
    if not path.is_file():  # reading a FIFO blocks forever; a device never ends
        raise InputError(f"{path}: is {not_regular_kind(path)}, not a regular {what}")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: {what} is not readable")
    return path


def not_regular_kind(path: str | os.PathLike) -> str:
    """What a path that exists but is neither a folder nor a regular file is, in words."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "an unreadable entry"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "neither a file nor a folder"


_UNSAFE_NAME_CHARS = frozenset('/\\:*?"<>|')


def safe_name(text: object) -> str:
    """``text`` as one safe path component (a file or folder name taken from data).

    Separators (``/``, ``\\``), characters Windows refuses, NUL and other control
    characters become ``_``; ``..`` runs become ``__``; a leading dot becomes ``_`` (no
    hidden or relative names); the result is never empty. Ordinary names pass unchanged;
    a name that had to change gets ``~`` and 8 hex digits of its SHA-1, so two different
    inputs never share an output name. Deterministic.

    Examples
    --------
    >>> safe_name("M003")
    'M003'
    >>> safe_name("../../X")[:8]
    '______X~'
    """
    import hashlib

    original = os.fsdecode(text) if isinstance(text, bytes | os.PathLike) else str(text)
    chars = [
        "_" if (c in _UNSAFE_NAME_CHARS or ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF) else c
        for c in original
    ]
    name = "".join(chars).replace("..", "__").strip()
    if name.startswith("."):
        name = "_" + name[1:]
    if not name:
        name = "_"
    if name != original or len(name.encode("utf-8")) > 200:
        digest = hashlib.sha1(original.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        while len(name.encode("utf-8")) > 180:
            name = name[:-1]
        name = f"{name}~{digest}"
    return name


def path_inside(root: str | os.PathLike, *parts: str | os.PathLike) -> Path:
    """``root / parts...``, resolved; InputError naming the path when it is not inside ``root``.

    Use it for every output path built from data (CSV fields, manifest rows, file names)
    so a crafted ``../`` or absolute part can never write outside the output folder.
    """
    base = Path(root).resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        shown = Path(root).joinpath(*parts)
        raise InputError(f"{shown}: resolves outside the output folder {root}")
    return target
