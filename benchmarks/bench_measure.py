"""Measuring and scoring for benchmarks/run.py: peak memory, a time-limited forked child, the table rows.

Every method labels the nodes (atoms) of one case's graph; :func:`score` turns the labels into the
figures of one row. Units never straddle two parents (every method partitions each parent on its own),
so the CV within parent is the spread of the grids of each community.

Examples
--------
>>> fmt("in_range", 0.9871), fmt("seconds", 1.234), fmt("units", 1234), fmt("cv", None)
('98.7%', '1.23', '1,234', 'n/a')
"""
from __future__ import annotations

import multiprocessing as mp
import threading
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
class PeakRss:
    """Samples this process's RSS (psutil) every 10 ms while in the ``with`` block; ``mb`` is None without psutil."""

    def __enter__(self) -> PeakRss:
        self.peak: float | None = None
        try:
            import psutil
        except ImportError:
            return self
        proc = psutil.Process()
        self.peak = proc.memory_info().rss
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.01):
                self.peak = max(self.peak, proc.memory_info().rss)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.peak is not None:
            self._stop.set()
            self._thread.join()
            import psutil

            self.peak = max(self.peak, psutil.Process().memory_info().rss)

    @property
    def mb(self) -> float | None:
        return None if self.peak is None else self.peak / 2**20


def timed(fn: Callable, *args) -> tuple[object, float, float | None]:
    """``fn(*args)``, its wall seconds and the peak RSS (MB) of this process meanwhile."""
    with PeakRss() as rss:
        t0 = time.perf_counter()
        out = fn(*args)
        secs = time.perf_counter() - t0
    return out, secs, rss.mb


_STATUS = None  # shared buffer a forked child writes its progress into (read on timeout)


def report_progress(text: str) -> None:
    """Where a slow peer is (shown when it runs out of time)."""
    if _STATUS is not None:
        _STATUS.value = text.encode()[:250]


def _child(conn, fn: Callable, args: tuple) -> None:
    try:
        conn.send(("ok", timed(fn, *args)))
    except ImportError as exc:
        conn.send(("error", f"not installed ({exc.name})"))
    except BaseException as exc:  # reported to the parent as the row's note
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:300] or traceback.format_exc(limit=1)))
    finally:
        conn.close()


def in_child(fn: Callable, args: tuple, timeout: float):
    """``("ok", timed(fn, *args))`` from a forked child, or ``("error", why)`` (failure, time limit)."""
    global _STATUS
    ctx = mp.get_context("fork")
    _STATUS = ctx.Array("c", 256)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            where = _STATUS.value.decode(errors="replace")
            return "error", f"timed out after {timeout:g} s" + (f", {where}" if where else "")
        return parent.recv()
    except EOFError:
        return "error", f"child died (exit code {proc.exitcode})"
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
