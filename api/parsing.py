"""Uploads are read and inspected in a child process, with a time and memory limit, a few at a time.

:meth:`Parser.parse` runs :func:`api.uploads.read_and_inspect` in a child of the forkserver (see
:mod:`api.procs`) and waits at most ``GRIDPLAN_PARSE_TIMEOUT_S`` for it: a bad upload can stall, bloat or
crash only its own process, never the server, its other requests or its database connection. The child
writes its temporary files (decompressed OSM, extracted zip members) into the upload's own folder, never
past ``GRIDPLAN_MAX_UNCOMPRESSED_BYTES`` a file, and refuses layers with more features or vertices than the
settings allow. At most ``GRIDPLAN_PARSE_SLOTS`` parses run at once (:meth:`Parser.slot`); an upload that
finds none free within ``GRIDPLAN_PARSE_WAIT_S`` is answered 429.

The child answers with one message: ``("ok", summary, log lines)`` or the problem (see :func:`raise_for`).

Examples
--------
>>> raise_for(("too_large", "buildings: b.gpkg holds 9 features, more than 1", "buildings"))
Traceback (most recent call last):
...
api.errors.PayloadTooLarge: buildings: b.gpkg holds 9 features, more than 1
"""
from __future__ import annotations

import errno
import logging
import math
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gridplan.errors import InputError, OptionError
from gridplan.inputs.io import check_geopackage

from . import procs
from .errors import PayloadTooLarge
from .limits import is_no_space, no_space, too_many
from .settings import Settings

__all__ = ["Caps", "Parser", "parse_in_this_process", "raise_for", "TooLarge"]

logger = logging.getLogger(__name__)

_TMP = ".tmp"  # inside the upload's folder: where the child's temporary files go
_FILE_SLACK = 1 << 20
#: formats whose feature count GDAL knows without reading the features
_COUNTED = ("gpkg", "fgb")
_MAX_LOG_LINES = 200


class TooLarge(Exception):
    """In the child: a layer past a limit (413)."""

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.detail, self.field = detail, field


@dataclass(frozen=True)
class Caps:
    """What an upload may hold, and how much checking it gets (from :class:`~api.settings.Settings`)."""

    max_uncompressed: int
    max_features: int
    max_vertices: int
    feasibility_max_buildings: int = 0

    @classmethod
    def of(cls, settings: Settings) -> Caps:
        return cls(settings.max_uncompressed_bytes, settings.max_features, settings.max_vertices,
                   settings.feasibility_max_buildings)


# ---- in the child --------------------------------------------------------------------------------------


def _count_before(directory: Path, files: Mapping[str, Mapping], caps: Caps) -> None:
    """Refuse a GeoPackage or FlatGeobuf whose one layer says it holds too many features, before reading it."""
    import pyogrio

    for role, meta in files.items():
        if meta["format"] not in _COUNTED:
            continue
        path = directory / meta["stored"]
        if meta["format"] == "gpkg":
            check_geopackage(path, what=f"{role} file", shown=meta["filename"])  # before GDAL runs anything in it
        try:
            layers = pyogrio.list_layers(path)
            if len(layers) != 1:
                continue  # read_layer names the problem
            n = int(pyogrio.read_info(path, layer=str(layers[0][0]))["features"])
        except Exception:  # noqa: BLE001 - an unreadable file: read_layer says why
            continue
        _check_features(role, meta["filename"], n, caps)


def _check_features(role: str, shown: str, n: int, caps: Caps) -> None:
    if n > caps.max_features:
        raise TooLarge(f"{role}: {shown} holds {n:,} features, more than the limit of {caps.max_features:,} per layer; "
                       "clip it to the area to plan, or raise GRIDPLAN_MAX_FEATURES", field=role)


def _check_after(layers: Mapping, files: Mapping[str, Mapping], caps: Caps) -> None:
    """Refuse layers with too many features or vertices (counted on what was read)."""
    import shapely

    for role, gdf in layers.items():
        if gdf is None:
            continue
        meta = files.get(role) or files["buildings"]  # OSM barriers come from the buildings file
        _check_features(role, meta["filename"], len(gdf), caps)
        vertices = int(shapely.get_num_coordinates(gdf.geometry.values).sum())
        if vertices > caps.max_vertices:
            raise TooLarge(f"{role}: {meta['filename']} holds {vertices:,} vertices, more than the limit of "
                           f"{caps.max_vertices:,} per layer; simplify or clip it, or raise GRIDPLAN_MAX_VERTICES",
                           field=role)


def parse_in_this_process(directory: Path, files: Mapping[str, Mapping], options: Mapping, caps: Caps) -> tuple:
    """Read, check and inspect an upload here; the child's answer as a message (never raises)."""
    from .uploads import read_and_inspect

    lines: list[str] = []
    handler = _ListHandler(lines)
    logging.getLogger().addHandler(handler)
    try:
        _count_before(directory, files, caps)
        summary = read_and_inspect(directory, files, options, caps.max_uncompressed, caps.feasibility_max_buildings,
                                   check=lambda layers: _check_after(layers, files, caps))
        return ("ok", summary, lines[:_MAX_LOG_LINES])
    except TooLarge as exc:
        return ("too_large", exc.detail, exc.field)
    except MemoryError:
        procs.relax_memory()
        return ("memory",)
    except Exception as exc:  # noqa: BLE001 - everything else is told to the server, which logs it
        if procs.near_memory_limit():  # an allocation refused, whatever the library made of it
            procs.relax_memory()
            return ("memory",)
        if isinstance(exc, InputError):
            return ("input", list(exc.problems))
        if isinstance(exc, OptionError):  # a read option the library cannot use: the client's, as a 422
            return ("input", [str(exc)])
        if is_no_space(exc):
            return ("nospace",)
        if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            return ("file_too_large",)
        return ("error", "".join(traceback.format_exception(exc)))
    finally:
        logging.getLogger().removeHandler(handler)


class _ListHandler(logging.Handler):
    """Collects the log lines of gridplan and the service in the child, for the server's log."""

    def __init__(self, lines: list[str]):
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in ("gridplan", "api") and len(self.lines) < _MAX_LOG_LINES:
            self.lines.append(f"{record.name}: {record.getMessage()}")


def _child(conn, directory: str, files: dict, options: dict, caps: Caps, limits: procs.Limits) -> None:
    procs.enter_child(limits)
    for name in ("gridplan", "api"):
        logging.getLogger(name).setLevel(logging.INFO)
    msg = parse_in_this_process(Path(directory), files, options, caps)
    try:
        conn.send(msg)
    except MemoryError:  # pragma: no cover - the summary itself did not fit
        procs.relax_memory()
        conn.send(("memory",))
    conn.close()


# ---- in the server -------------------------------------------------------------------------------------


def raise_for(msg: tuple | None, *, settings: Settings | None = None, exit_info: str = "") -> dict:
    """The summary in a child's answer, or the error it stands for (None: the child died without one)."""
    s = settings or Settings()
    kind = msg[0] if msg else None
    if kind == "ok":
        for line in msg[2]:
            logger.info("while reading an upload: %s", line)
        return msg[1]
    if kind == "input":
        raise InputError(msg[1])
    if kind == "too_large":
        raise PayloadTooLarge(msg[1], field=msg[2])
    if kind == "memory":
        raise PayloadTooLarge(f"reading the upload needed more memory than GRIDPLAN_PARSE_MEMORY_BYTES allows "
                              f"({s.parse_memory_bytes:,} bytes beyond the libraries every process loads); upload a "
                              "smaller area, or raise the limit")
    if kind == "file_too_large":
        raise PayloadTooLarge(f"a file in the upload decompresses past the limit of {s.max_uncompressed_bytes:,} bytes "
                              "(GRIDPLAN_MAX_UNCOMPRESSED_BYTES); upload it uncompressed, or raise the limit")
    if kind == "nospace":
        raise no_space("reading the upload")
    if kind == "error":
        raise RuntimeError(f"reading an upload failed in its process:\n{msg[1]}")
    raise InputError(f"reading the upload stopped its process ({exit_info or 'no answer'}): the file is probably "
                     "damaged (check that it opens in QGIS, or export it again), or needs more memory than "
                     f"GRIDPLAN_PARSE_MEMORY_BYTES ({s.parse_memory_bytes:,} bytes) allows")


class Parser:
    """Runs the parses of uploads in child processes, at most ``settings.parse_slots`` at once."""

    def __init__(self, settings: Settings, launcher: procs.Launcher):
        self.settings, self.launcher = settings, launcher
        self._slots = threading.BoundedSemaphore(settings.parse_slots)
        self._lock = threading.Lock()
        self._active: set = set()
        self._closed = False

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a parse slot; 429 with Retry-After when none is free within ``parse_wait_s``."""
        if not self._slots.acquire(timeout=self.settings.parse_wait_s):
            raise too_many(f"all {self.settings.parse_slots} upload slots are busy reading other uploads; try again "
                           "in a few seconds (GRIDPLAN_PARSE_SLOTS sets how many uploads are read at once)",
                           retry_after=math.ceil(max(self.settings.parse_wait_s, 1.0)))
        try:
            yield
        finally:
            self._slots.release()

    def parse(self, directory: Path, files: Mapping[str, Mapping], options: Mapping) -> dict:
        """Read and inspect the stored upload in ``directory`` in a child process; its summary, or the error."""
        s = self.settings
        tmp = directory / _TMP
        limits = procs.Limits(memory_bytes=s.parse_memory_bytes, file_bytes=s.max_uncompressed_bytes + _FILE_SLACK,
                              cpu_s=math.ceil(s.parse_timeout_s) + 5, tmpdir=str(tmp))
        ctx = procs.context()
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(send, str(directory), dict(files), dict(options), Caps.of(s), limits),
                           name=f"gridplan-parse-{directory.name}", daemon=True)
        started = time.monotonic()
        try:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the service is stopping")
                self._active.add(proc)
            self.launcher.start(proc)
            send.close()  # the child holds the only write end: EOF when it dies
            msg, info = None, ""
            if recv.poll(s.parse_timeout_s):
                try:
                    msg = recv.recv()
                except (EOFError, OSError):
                    msg = None
            else:
                proc.kill()
                raise InputError(f"reading and inspecting the upload took longer than {s.parse_timeout_s:g} s, the limit "
                                 "(GRIDPLAN_PARSE_TIMEOUT_S); upload a smaller area, a simpler file (a GeoPackage of "
                                 "plain tables, no views), or raise the limit")
            proc.join(timeout=10)
            if msg is None:
                info = procs.exit_description(proc.exitcode)
                if proc.exitcode == -signal.SIGXCPU:  # the CPU backstop of the time limit
                    raise InputError(f"reading and inspecting the upload took longer than {s.parse_timeout_s:g} s "
                                     "of CPU, the limit (GRIDPLAN_PARSE_TIMEOUT_S); upload a smaller area or raise it")
            logger.info("parsed upload %s in %.2f s", directory.name, time.monotonic() - started)
            return raise_for(msg, settings=s, exit_info=info)
        finally:
            send.close()
            recv.close()
            if proc.pid is not None:
                if proc.is_alive():
                    proc.kill()
                proc.join(timeout=10)
            with self._lock:
                self._active.discard(proc)
            shutil.rmtree(tmp, ignore_errors=True)

    def shutdown(self) -> None:
        """Stop the parses that run (their requests answer 422/500) and refuse new ones."""
        with self._lock:
            self._closed = True
            active = [p for p in self._active if p.pid is not None]
        procs.stop_all(active, grace_s=0.5)
