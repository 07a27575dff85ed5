"""Measuring and scoring for benchmarks/run.py: a forked child under time and memory limits, the table rows.

Every method labels the nodes (atoms) of one case's graph; :func:`score` turns the labels into the
figures of one row. Units never straddle two parents (every method partitions each parent on its own),
so the CV within parent is the spread of the grids of each community.

Examples
--------
>>> fmt("in_range", 0.9871), fmt("seconds", 1.234), fmt("units", 1234), fmt("cv", None)
('98.7%', '1.23', '1,234', 'n/a')
"""
from __future__ import annotations

import errno
import multiprocessing as mp
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from gridplan.config import PlanConfig
from gridplan.core.metrics import cv_within_parent

GRID = PlanConfig().grid  # 300:500, target 400
#: Columns of every table row, in order, and their headers.
COLUMNS = ("method", "seconds", "units", "in_range", "cv", "min_hh", "max_hh", "contiguous", "tier1_crossings",
           "split_buildings", "peak_rss_mb", "note")
HEADERS = ("method", "seconds", "units", f"in range {GRID.lo:g}–{GRID.hi:g}", "CV within parent (median)", "min hh",
           "max hh", "contiguous", "tier-1 crossings", "buildings split across grids", "peak RSS MB", "note")


def connected_components(n: int, edges: np.ndarray) -> np.ndarray:
    """The connected component of each of ``n`` nodes joined by ``edges``.

    >>> connected_components(4, np.array([[0, 1], [2, 3]])).tolist()
    [0, 0, 1, 1]
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    m = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return csgraph.connected_components(m, directed=False)[1]


# ---- memory and time -------------------------------------------------------------------------------
#: Address space each method's child may use, GB (``resource.RLIMIT_AS``; ``run.py --memory-gb``).
MEMORY_GB = 4.0


def limit_memory(gb: float | None) -> None:
    """Cap this process's address space at ``gb`` GB (``RLIMIT_AS``; never above the hard limit); None: no cap.

    The cap counts the whole address space, the pages a forked child shares with its parent included, so
    an allocation past it raises ``MemoryError`` instead of swapping the machine.
    """
    if gb is None:
        return
    soft = int(gb * 2**30)
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def peak_rss_mb() -> float:
    """This process's peak resident set (``ru_maxrss``), MB; in a forked child it starts at the pages it shares."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def over_limit(gb: float) -> str:
    """The note of a method stopped by the memory cap.

    >>> over_limit(4)
    'over the memory limit (4 GB)'
    """
    return f"over the memory limit ({gb:g} GB)"


def out_of_memory(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it came from) is an allocation the memory cap refused.

    Under ``RLIMIT_AS`` that is a ``MemoryError``, an ``OSError`` ENOMEM, or an ``ImportError`` whose
    shared library could not be mapped.

    >>> out_of_memory(OSError(errno.ENOMEM, "Cannot allocate memory")), out_of_memory(ValueError("x"))
    (True, False)
    """
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
            return True
        if isinstance(exc, ImportError) and any(t in str(exc) for t in ("Cannot allocate memory", "failed to map segment")):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def first_problem(message: str) -> str:
    r"""The first line of an error, with the problem itself when that line only announces a list.

    >>> first_problem("1 problem with the input:\n  - buildings: no such file; check the path")
    '1 problem with the input: - buildings: no such file; check the path'
    """
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()] or [""]
    return f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]


_STATUS = None  # shared buffer a forked child writes its progress into (read on timeout)


def report_progress(text: str) -> None:
    """Where a slow peer is (shown when it runs out of time)."""
    if _STATUS is not None:
        _STATUS.value = text.encode()[:250]


def _child(conn, fn: Callable, args: tuple, memory_gb: float | None) -> None:
    try:
        limit_memory(memory_gb)
        t0 = time.perf_counter()
        out = fn(*args)
        conn.send(("ok", (out, time.perf_counter() - t0, peak_rss_mb())))
    except BaseException as exc:  # noqa: BLE001 - every failure is the row's note
        conn.send(("error", _why(exc, memory_gb)))
    finally:
        conn.close()


def _why(exc: BaseException, memory_gb: float | None) -> str:
    if memory_gb is not None and out_of_memory(exc):
        return over_limit(memory_gb)
    if isinstance(exc, ImportError):
        return f"not installed ({exc.name})"
    return f"{type(exc).__name__}: {exc}"[:300] or traceback.format_exc(limit=1)


def in_child(fn: Callable, args: tuple, timeout: float | None = None, memory_gb: float | None = MEMORY_GB):
    """``("ok", (fn(*args), seconds, peak RSS MB))`` from a forked child, or ``("error", why)``.

    The child runs under ``memory_gb`` (:func:`limit_memory`) and ``timeout`` seconds (None: no limit); its
    peak RSS is its own ``ru_maxrss``. A failure, the time limit, the memory cap or a crash is ``why``.

    >>> in_child(sum, ([1, 2, 3],))[1][0]
    6
    >>> in_child(bytearray, (8 * 2**30,), memory_gb=1)
    ('error', 'over the memory limit (1 GB)')
    """
    global _STATUS
    ctx = mp.get_context("fork")
    _STATUS = ctx.Array("c", 256)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args, memory_gb), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            where = _STATUS.value.decode(errors="replace")
            return "error", f"timed out after {timeout:g} s" + (f", {where}" if where else "")
        return parent.recv()
    except EOFError:
        proc.join()
        cap = f" under the memory limit ({memory_gb:g} GB): perhaps over it" if memory_gb is not None else ""
        return "error", f"child died (exit code {proc.exitcode}){cap}"
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        _STATUS = None


# ---- rows ------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One table row; figures are None where the method did not finish."""

    method: str
    seconds: float | None = None
    units: int | None = None
    in_range: float | None = None
    cv: float | None = None
    min_hh: float | None = None
    max_hh: float | None = None
    contiguous: float | None = None
    tier1_crossings: int | None = None
    split_buildings: int | None = None
    peak_rss_mb: float | None = None
    note: str = ""
    labels: np.ndarray | None = field(default=None, repr=False)
    info: dict = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict:
        return {c: getattr(self, c) for c in COLUMNS}


def score(graph, parent: np.ndarray, building: np.ndarray, zone: np.ndarray, labels: np.ndarray) -> dict:
    """The figures of one labelling of the nodes with ``parent >= 0`` (``labels`` -1 elsewhere).

    ``graph`` is the case's :class:`~gridplan.core.partition.UnitGraph`, ``parent`` each node's community,
    ``building`` each node's divided building (-1 for a whole cell), ``zone`` each node's connected
    component of the graph (a tier-1 zone). A unit's parent is the parent of its nodes.

    >>> from gridplan.core.partition import UnitGraph
    >>> g = UnitGraph.lattice(1, 4, households=[300.0, 100, 300, 400])
    >>> f = score(g, np.array([0, 0, 0, 1]), np.array([-1, 5, 5, -1]), np.zeros(4, int), np.array([0, 0, 1, 2]))
    >>> f["units"], f["in_range"], f["split_buildings"], round(f["cv"], 3)
    (3, 1.0, 1, 0.071)
    """
    sel = np.flatnonzero(parent >= 0)
    if (labels[sel] < 0).any():
        raise ValueError(f"{int((labels[sel] < 0).sum())} planned nodes were left without a unit; every method must label every node of every parent")
    lab = np.full(graph.n, -1, dtype=np.int64)
    lab[sel] = np.unique(labels[sel], return_inverse=True)[1]
    n_units = int(lab[sel].max()) + 1
    hh = np.bincount(lab[sel], weights=graph.households[sel], minlength=n_units)
    unit_parent = np.zeros(n_units, dtype=np.int64)
    unit_parent[lab[sel]] = parent[sel]
    e = graph.edges[(lab[graph.edges[:, 0]] >= 0) & (lab[graph.edges[:, 0]] == lab[graph.edges[:, 1]])]
    piece = connected_components(graph.n, e)[sel]  # connected pieces of every unit
    pieces_per_unit = np.bincount(np.unique(np.c_[lab[sel], piece], axis=0)[:, 0], minlength=n_units)
    zones_per_unit = np.bincount(np.unique(np.c_[lab[sel], zone[sel]], axis=0)[:, 0], minlength=n_units)
    parts = sel[building[sel] >= 0]
    per_building = np.unique(np.c_[building[parts], lab[parts]], axis=0)[:, 0] if len(parts) else np.zeros(0, np.int64)
    return {
        "units": n_units,
        "in_range": float(np.mean((hh >= GRID.lo) & (hh <= GRID.hi))),
        "cv": float(cv_within_parent(hh, unit_parent).median()),
        "min_hh": float(hh.min()),
        "max_hh": float(hh.max()),
        "contiguous": float(np.mean(pieces_per_unit == 1)),
        "tier1_crossings": int(np.sum(zones_per_unit > 1)),
        "split_buildings": int(np.sum(np.unique(per_building, return_counts=True)[1] > 1)),
    }


def fmt(col: str, v) -> str:
    """One cell of the table."""
    if v is None:
        return "n/a" if col != "note" else ""
    if col in ("in_range", "contiguous"):
        return f"{v:.1%}"
    if col == "seconds":
        return f"{v:.2f}"
    if col == "cv":
        return f"{v:.3f}"
    if col in ("min_hh", "max_hh", "peak_rss_mb"):
        return f"{v:,.0f}"
    if col in ("units", "tier1_crossings", "split_buildings"):
        return f"{v:,}"
    return str(v).replace("|", "/").replace("\n", " ")


def table(rows: list[Row]) -> str:
    """The rows as a markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(fmt(c, r.as_dict()[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)
