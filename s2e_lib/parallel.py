"""Where per-file work runs: in this process, a local process pool, or a Dask cluster.

:func:`make_executor` returns a :class:`concurrent.futures.Executor` for the data stage's
per-take work (:func:`s2e_lib.data.prepare.prepare`) and the feature extraction of the
speech model (:func:`s2e_lib.audio.features.extract_files`):

* a ``dask.distributed`` cluster when a scheduler address is given (argument, or the
  environment variable :data:`SCHEDULER_ENV`): ``tcp://host:8786`` connects to a running
  scheduler; ``local:N`` starts a :class:`distributed.LocalCluster` of N worker processes
  (one thread each) for this run and closes it afterwards;
* otherwise joblib's reusable local process pool (loky) when ``jobs > 1``, the pool
  ``--jobs`` always used: its worker processes outlive one call, so repeated calls (one
  per augmented view in SER training) do not pay the start-up again;
* otherwise an executor that runs each call at once in this process (``jobs=1``).

:func:`run_ordered` submits the calls, shows one progress bar on the client and returns
the results in input order. Dask workers read inputs and write outputs by path, so every
path handed to them must be absolute and on a filesystem every worker mounts at the same
place (docs/scale.md); :meth:`DaskExecutor.check_shared` verifies that before the work.

This module imports nothing of the project's stages: any layer may use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import contextmanager
from typing import Any

from s2e_lib.errors import InputError, MissingResourceError, one_line

#: Environment variable naming the Dask scheduler (an address, or ``local:N``).
SCHEDULER_ENV = "S2E_DASK_SCHEDULER"
#: Environment variable overriding :data:`CONNECT_TIMEOUT_S`.
CONNECT_TIMEOUT_ENV = "S2E_DASK_CONNECT_TIMEOUT"
#: Seconds to wait for the scheduler before giving up with a one-line error.
CONNECT_TIMEOUT_S = 10.0
#: Seconds a scheduler has to send its handshake once connected (a real one needs milliseconds).
HANDSHAKE_TIMEOUT_S = 5.0
#: Values of the scheduler option/variable meaning "no scheduler: run locally".
_NO_SCHEDULER = ("", "none", "off")


def resolve_scheduler(scheduler: str | None = None) -> str | None:
    """The scheduler to use: ``scheduler`` if given, else :data:`SCHEDULER_ENV`, else None.

    ``""``, ``"none"`` and ``"off"`` mean no scheduler (local execution), so an explicit
    value can switch off an exported variable.
    """
    value = os.environ.get(SCHEDULER_ENV) if scheduler is None else scheduler
    if value is None or value.strip().lower() in _NO_SCHEDULER:
        return None
    return value.strip()


def connect_timeout() -> float:
    """Seconds :func:`make_executor` waits for a scheduler (:data:`CONNECT_TIMEOUT_ENV` or the default)."""
    text = os.environ.get(CONNECT_TIMEOUT_ENV)
    if not text:
        return CONNECT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{CONNECT_TIMEOUT_ENV}={text!r}: expected a number of seconds") from None
    if not value > 0:
        raise InputError(f"{CONNECT_TIMEOUT_ENV}={text!r}: expected a positive number of seconds")
    return value


def make_executor(scheduler: str | None = None, jobs: int = 1, timeout: float | None = None) -> Executor:
    """An executor for per-file work (see the module docstring); close it with ``shutdown()``.

    Parameters
    ----------
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:8786``, ``host:8786``), ``local:N`` for a
        throwaway local cluster of N worker processes (``local`` alone: one per CPU), or
        ``""``/``"none"`` for local execution. None reads :data:`SCHEDULER_ENV`.
    jobs : int
        Local worker processes when there is no scheduler; 1 runs calls in this process.
    timeout : float, optional
        Seconds to wait for the scheduler [default: :func:`connect_timeout`].

    Returns
    -------
    concurrent.futures.Executor
        :class:`DaskExecutor`, a local process pool, or :class:`InlineExecutor`.

    Raises
    ------
    InputError
        The scheduler cannot be reached within ``timeout`` or its address is malformed;
        ``local:N`` with a bad N.
    MissingResourceError
        A scheduler is asked for but ``dask.distributed`` is not installed.
    """
    address = resolve_scheduler(scheduler)
    if address is not None:
        return DaskExecutor.connect(address, timeout=connect_timeout() if timeout is None else timeout)
    if int(jobs) <= 1:
        return InlineExecutor()
    return LocalPool(int(jobs))


@contextmanager
def executor_scope(executor: Executor | None = None, scheduler: str | None = None, jobs: int = 1):
    """Yield ``executor`` as given (left open), or a new :func:`make_executor` one closed on exit."""
    if executor is not None:
        yield executor
        return
    made = make_executor(scheduler, jobs)
    try:
        yield made
    finally:
        made.shutdown(wait=True, cancel_futures=True)


def progress_bar(total: int, desc: str | None = None, unit: str = "it", progress: bool = True):
    """The one tqdm bar of a run, on the client (disabled when ``progress`` is false)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not progress)


def run_ordered(
    executor: Executor,
    fn: Callable[..., Any],
    calls: Iterable[tuple],
    progress: bool = True,
    desc: str | None = None,
    unit: str = "it",
    bar=None,
    max_in_flight: int = 1000,
) -> list:
    """``[fn(*args) for args in calls]`` on ``executor``, with one progress bar, in input order.

    ``bar`` continues a bar of the caller's (:func:`progress_bar`, left open), e.g. one
    that already counts work done without the executor; otherwise a bar is made here.
    At most ``max_in_flight`` calls are submitted at a time (so a million-take corpus does
    not become a million pending futures). The first call that raises cancels the calls
    not yet started and its exception is raised here; the workers' outputs stay as they
    are (each call must leave its outputs complete or absent, as ``prepare`` does).
    """
    calls = list(calls)
    results: list = [None] * len(calls)
    pending: dict[Future, int] = {}
    queue = iter(enumerate(calls))
    own_bar = bar is None
    if own_bar:
        bar = progress_bar(len(calls), desc, unit, progress)
    try:

        def refill() -> None:
            for index, args in queue:
                pending[executor.submit(fn, *args)] = index
                if len(pending) >= max_in_flight:
                    return

        refill()
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                results[index] = future.result()  # raises the call's own exception
                bar.update()
            refill()
        return results
    finally:
        for future in pending:
            future.cancel()
        if own_bar:
            bar.close()


class InlineExecutor(Executor):
    """Runs each submitted call at once in this process (``jobs=1``): no pickling, no pool."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as a pool does
            future.set_exception(exc)
        return future


class LocalPool(Executor):
    """joblib's reusable process pool (loky) of ``jobs`` workers.

    It is the pool ``joblib.Parallel`` itself uses (``joblib.executor``), so the two can
    alternate in one process (loky's bare ``get_reusable_executor`` would leave a pool
    ``joblib.Parallel`` then fails on). It survives ``shutdown()`` (idle workers exit by
    themselves after a few minutes), as ``--jobs`` always did through joblib.
    """

    def __init__(self, jobs: int):
        from joblib.executor import get_memmapping_executor

        self.jobs = int(jobs)
        self._pool = get_memmapping_executor(self.jobs)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Leaves the shared pool running for the next call."""


class DaskExecutor(Executor):
    """A ``dask.distributed`` client's executor (``client.get_executor()``).

    ``shutdown()`` closes the client, and the cluster when this executor started it
    (``local:N``). Use :meth:`connect` to make one.
    """

    def __init__(self, client, cluster=None):
        self.client = client
        self.cluster = cluster
        self._executor = client.get_executor(pure=False)

    @classmethod
    def connect(cls, address: str, timeout: float = CONNECT_TIMEOUT_S) -> DaskExecutor:
        """Connect to ``address`` (or start ``local:N``); a one-line :class:`InputError` if that fails."""
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingResourceError(
                f"scheduler {address!r}: dask.distributed is not installed "
                "(pip install 'dask[distributed]', the project's `scale` extra)"
            ) from None
        if address.lower() == "local" or address.lower().startswith("local:"):
            n_workers = _local_workers(address)
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: never clashes with a running cluster
            )
            try:
                return cls(Client(cluster, timeout=timeout), cluster)
            except BaseException:
                cluster.close()
                raise
        hint = f"start one with `dask scheduler`, or unset {SCHEDULER_ENV}"
        _probe_scheduler(address, timeout, hint)
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"dask scheduler {address}: cannot connect ({one_line(exc)}); {hint}") from None
        except (MemoryError, Exception) as exc:  # noqa: B014 - a server speaking another protocol
            # (an HTTP server on the port) sends bytes that Dask reads as a frame length of
            # exabytes: MemoryError, or any decoding error
            raise InputError(
                f"dask scheduler {address}: the server there is not a Dask scheduler "
                f"({type(exc).__name__}); {hint}"
            ) from None
        return cls(client)

    @property
    def n_workers(self) -> int:
        """Workers connected to the scheduler now."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            self._executor.shutdown(wait=wait and not cancel_futures)
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

    def check_shared(self, files: Mapping[str, int]) -> dict[str, list[str]]:
        """Which workers cannot see ``files`` (absolute path -> expected size in bytes).

        Returns ``{worker address: [paths it sees missing or with another size]}`` for
        the workers connected now; empty when every worker sees every file. A worker
        joining later is not checked.
        """
        seen = self.client.run(_file_sizes, sorted(files))
        wrong: dict[str, list[str]] = {}
        for worker, sizes in seen.items():
            bad = [p for p in sorted(files) if sizes.get(p) != files[p]]
            if bad:
                wrong[worker] = bad
        return wrong


def _probe_scheduler(address: str, timeout: float, hint: str) -> None:
    """Refuse, within ``timeout``, a TCP address where no Dask scheduler answers.

    A Dask server speaks first: on connecting it sends its handshake, a message whose first
    8 bytes are its (small) frame count. Something else on the port (an HTTP server) stays
    silent or sends other bytes, and Dask's own client then waits without end or reads them
    as a frame length of exabytes. Addresses of other schemes (``tls://``, ``ws://``) are
    left to Dask.
    """
    import socket

    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return
    host, _, port = rest.rpartition(":")
    if not host:
        host, port = rest, "8786"
    try:
        port_number = int(port)
    except ValueError:
        raise InputError(f"dask scheduler {address}: {port!r} is not a port number") from None
    try:
        with socket.create_connection((host.strip("[]"), port_number), timeout=timeout) as sock:
            sock.settimeout(min(timeout, HANDSHAKE_TIMEOUT_S))
            head = b""
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    raise InputError(f"dask scheduler {address}: the server closed the connection; {hint}")
                head += chunk
    except TimeoutError:
        raise InputError(
            f"dask scheduler {address}: no Dask scheduler answered within {min(timeout, HANDSHAKE_TIMEOUT_S):g} s "
            f"(something else listens there, or nothing); {hint}"
        ) from None
    except OSError as exc:
        raise InputError(
            f"dask scheduler {address}: cannot connect ({exc.strerror or exc}); {hint}"
        ) from None
    if not 0 < int.from_bytes(head, "little") < 1024:
        raise InputError(f"dask scheduler {address}: the server there is not a Dask scheduler; {hint}")


def _file_sizes(paths: list[str]) -> dict[str, int | None]:
    sizes: dict[str, int | None] = {}
    for path in paths:
        try:
            sizes[path] = os.stat(path).st_size
        except OSError:
            sizes[path] = None
    return sizes


def _local_workers(address: str) -> int:
    name, _, count = address.partition(":")
    if name.lower() != "local":
        raise InputError(f"scheduler {address!r}: expected an address (tcp://host:8786) or local:N")
    if not count:
        return max(1, os.cpu_count() or 1)
    try:
        n = int(count)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"scheduler {address!r}: local:N needs a positive number of workers")
    cores = max(1, os.cpu_count() or 1)
    if n > cores:  # more worker processes than cores only adds memory and start-up time
        import sys

        print(
            f"note: scheduler {address}: capped at this machine's {cores} cores (local:{cores})",
            file=sys.stderr,
        )
        return cores
    return n


def describe(executor: Executor) -> str:
    """A short name of where the work runs (for logs and the benchmark)."""
    if isinstance(executor, DaskExecutor):
        return f"dask {executor.client.scheduler.address} ({executor.n_workers} workers)"
    if isinstance(executor, LocalPool):
        return f"local pool ({executor.jobs} processes)"
    if isinstance(executor, InlineExecutor):
        return "this process"
    return type(executor).__name__


def note(message: str) -> None:
    """One line to stderr (client-side messages that are not errors)."""
    print(message, file=sys.stderr, flush=True)
