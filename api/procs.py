"""Child processes of the service: forked clean, restricted, limited, and never outliving the server.

The service parses uploads and runs plans in child processes forked by one ``forkserver`` that has imported
gridplan once (a start costs milliseconds, and no child inherits the server's threads, database connections
or open files). Every process of the service first calls :func:`gridplan.inputs.formats.restrict_gdal`.

No orphans: the forkserver and every child ask Linux to SIGKILL them when their parent dies
(``prctl(PR_SET_PDEATHSIG)``), so ``kill -9`` of the server takes the forkserver down, which takes every
child down. The signal follows the parent *thread*, so :func:`acquire_forkserver` is called from the thread
that runs the service's start-up (uvicorn's main thread), and children are started from one long-lived
thread (:class:`Launcher`), never from a request's thread.

Examples
--------
>>> Limits(memory_bytes=2 * 1024**3).memory_bytes
2147483648
>>> exit_description(-9), exit_description(3)
('killed by signal SIGKILL', 'exit code 3')
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gridplan.inputs.formats import restrict_gdal

__all__ = [
    "Limits", "context", "acquire_forkserver", "release_forkserver", "enter_child", "relax_memory", "Launcher",
    "exit_description", "die_with_parent", "stop_all", "near_memory_limit", "EXIT_MEMORY", "PRELOAD",
]

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
#: exit code of a child that ran out of memory and could not say so otherwise
EXIT_MEMORY = 12
_EXIT_ORPHAN = 13
#: set (to the server's pid) only while the server starts its forkserver: tells the forkserver who it is
_FORKSERVER_ENV = "GRIDPLAN_FORKSERVER_OF"
#: modules the forkserver imports once, so that every child starts with them loaded (this one first)
PRELOAD = ("api.procs", "api.jobs", "api.parsing", "api.uploads", "gridplan.planning.plan", "gridplan.outputs.export",
           "gridplan.planning.redistrict", "gridplan.planning.diff", "gridplan.planning.inspect", "sqlite3",
           "sqlalchemy.dialects.sqlite.pysqlite", "psycopg", "sqlalchemy.dialects.postgresql.psycopg")

_FORKSERVER_PID: int | None = None  # in the forkserver and its children: the forkserver's pid
_START_VM: int | None = None  # in a child with a memory limit: its address space when it took the limit
_ALLOWANCE = 0  # ... and the bytes it may add
_LOCK = threading.Lock()
_USERS = 0  # services of this process using the forkserver


@dataclass(frozen=True)
class Limits:
    """What a child may use: address space beyond what it starts with, bytes per file, CPU seconds, where
    temporary files go. None: no limit (or the inherited temporary directory)."""

    memory_bytes: int | None = None
    file_bytes: int | None = None
    cpu_s: int | None = None
    tmpdir: str | None = None


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when its parent (thread) dies; exit at once when ``parent`` is
    given and is no longer the parent (it died before the request took effect)."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - the service runs on Linux
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:  # pragma: no cover
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}")
    if parent is not None and os.getppid() != parent:
        os._exit(_EXIT_ORPHAN)


def context() -> multiprocessing.context.BaseContext:
    """The ``forkserver`` context every child of the service is started with."""
    return multiprocessing.get_context("forkserver")


def acquire_forkserver() -> None:
    """Start the forkserver (with :data:`PRELOAD`) unless it runs; call from the service's start-up thread.

    Counted: :func:`release_forkserver` stops it when the last service of this process lets it go.
    """
    global _USERS
    with _LOCK:
        _USERS += 1
        multiprocessing.forkserver.set_forkserver_preload(list(PRELOAD))
        os.environ[_FORKSERVER_ENV] = str(os.getpid())
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            os.environ.pop(_FORKSERVER_ENV, None)


def release_forkserver() -> None:
    """Let the forkserver go; the last user stops it (after its children are gone)."""
    global _USERS
    with _LOCK:
        _USERS = max(0, _USERS - 1)
        if _USERS == 0:
            _stop_forkserver()


def _stop_forkserver() -> None:
    # multiprocessing has no public way to stop its forkserver; this is what its own `_stop` does, with a kill
    # instead of waiting for the last child to close its end of the "alive" pipe
    fs = multiprocessing.forkserver._forkserver
    with fs._lock:
        pid = fs._forkserver_pid
        if pid is None:
            return
        os.close(fs._forkserver_alive_fd)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):  # pragma: no cover - gone already
            pass
        address = fs._forkserver_address
        fs._forkserver_pid = fs._forkserver_alive_fd = fs._forkserver_address = None
        if address and not address.startswith("\0"):  # pragma: no cover - abstract sockets on Linux
            Path(address).unlink(missing_ok=True)


def _vm(field: str = "VmSize") -> int:
    """This process's address space now (``VmSize``) or at its peak (``VmPeak``), in bytes (0 when unknown)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return 0


def near_memory_limit() -> bool:
    """Whether this child's address space came close to its memory limit (within a quarter of its allowance,
    at least 64 MiB): then a failure is taken for lack of memory, which libraries do not always report as
    :class:`MemoryError` (pyproj, GDAL and numpy may fail in other ways when an allocation is refused)."""
    if _START_VM is None:
        return False
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        soft = _START_VM + _ALLOWANCE
    margin = max(64 * 1024**2, _ALLOWANCE // 4)
    return _vm("VmPeak") >= soft - margin


def enter_child(limits: Limits) -> None:
    """The first thing a child of the service does: die with its parent, restrict GDAL, take its limits.

    The memory limit is ``RLIMIT_AS``: the address space the child may add to what it starts with (the
    libraries the forkserver loaded, about 0.5 GB); past it an allocation fails with :class:`MemoryError`.
    Writing a file past ``file_bytes`` fails with ``EFBIG`` (``RLIMIT_FSIZE``; SIGXFSZ is ignored), and
    ``cpu_s`` CPU seconds end the child with SIGXCPU.
    """
    die_with_parent(_FORKSERVER_PID)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its children itself
    restrict_gdal()
    if limits.tmpdir is not None:
        os.makedirs(limits.tmpdir, exist_ok=True)
        os.environ["TMPDIR"] = os.environ["CPL_TMPDIR"] = limits.tmpdir
        tempfile.tempdir = limits.tmpdir
    if limits.memory_bytes is not None:
        global _START_VM, _ALLOWANCE
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        _START_VM, _ALLOWANCE = _vm(), limits.memory_bytes
        want = _START_VM + limits.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    if limits.file_bytes is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, hard))
    if limits.cpu_s is not None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, hard))


def relax_memory() -> None:
    """Lift the memory limit again (to the hard limit), so that a child that ran out can still say so."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def exit_description(exitcode: int | None) -> str:
    """How a child ended, in words."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class Launcher:
    """Starts the service's children from one long-lived thread.

    A child's PDEATHSIG fires when the *thread* that forked its parent ends, and multiprocessing starts the
    forkserver again, from the calling thread, when it has died: a request's thread (which ends when idle)
    must never be that thread.
    """

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridplan-launcher")

    def start(self, proc: multiprocessing.process.BaseProcess) -> None:
        self._pool.submit(proc.start).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def stop_all(procs: list, grace_s: float = 2.0) -> None:
    """Terminate ``procs``, then kill the ones still alive after ``grace_s``; reap them all."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    end = time.monotonic() + grace_s
    for p in procs:
        p.join(timeout=max(0.0, end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


def _on_import() -> None:
    """In the forkserver (a preloaded module's import is its only hook): die with the server, restrict GDAL."""
    global _FORKSERVER_PID
    server = os.environ.get(_FORKSERVER_ENV)
    if server is None or server != str(os.getppid()):
        return  # the server itself, or any other process importing this module
    os.environ.pop(_FORKSERVER_ENV, None)  # not for the children
    die_with_parent(int(server))
    restrict_gdal()
    _FORKSERVER_PID = os.getpid()


_on_import()
