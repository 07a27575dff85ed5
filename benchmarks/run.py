"""Benchmark gridplan's partitioner against general-purpose peers on the same cell graph.

Run from the repository root::

    .venv/bin/python benchmarks/run.py [--cases sample,nanjing,...] [--skip-city] [--timeout 120]

For each case the cell graph is built once with gridplan (buildings → cells → adjacency); every method
then splits the same graph at the grid level (300–500 households, target 400):

- ``gridplan``: :func:`gridplan.core.partition.partition` on the whole graph (it handles components itself);
- ``metis``: pymetis ``part_graph`` with ``contig=1``, per connected component, k ∝ households;
- ``gerrychain``: ``recursive_tree_part`` per connected component, ε = 0.25 around households / k;
- ``maxp``: spopt ``MaxPHeuristic`` per connected component, threshold 300 households;
- ``kmeans``: scikit-learn ``KMeans`` on cell centroids weighted by households, k = round(total / 400).

Slow peers (gerrychain, maxp) run in a forked child under a time limit. The tables are printed and
saved to ``benchmarks/results/latest.md``; ``benchmarks/README.md`` explains the columns.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

import gridplan
from gridplan.config import PlanConfig, SizeRange
from gridplan.core.partition import UnitGraph, partition
from gridplan.planning import Planner
from gridplan.inputs.validate import prepare

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
CHECKPLAN = SHARED / "tools" / "checkplan.py"
RESULTS = HERE / "results" / "latest.md"

GRID = SizeRange(300, 500, 400)
TIMEOUT = 120.0
#: Cases read from ../shared/data with gridplan.load_osm (the `--osm` path).
OSM_CASES = {
    "nanjing": "nanjing_xinjiekou.osm",
    "beijing": "beijing_wudaokou_2017.osm",
    "monaco": "monaco_2023.osm.pbf",
    "porto": "porto_2020.osm.pbf",
}
ALL_CASES = ("sample", *OSM_CASES, "city")
#: Columns of every table row, in order.
COLUMNS = ("method", "seconds", "units", "in_range", "min_hh", "max_hh", "contiguous", "tier1_crossings", "peak_rss_mb", "note")
HEADERS = ("method", "seconds", "units", "in range 300–500", "min hh", "max hh", "contiguous", "tier-1 crossings", "peak RSS MB", "note")


# ---- the shared graph ------------------------------------------------------------------------------
@dataclass
class BenchGraph:
    """The cell graph of one case, restricted to components that hold buildings (as the planner does)."""

    graph: UnitGraph
    centroids: np.ndarray  # (n, 2) in the metric work CRS
    cells: np.ndarray  # shapely polygons
    component: np.ndarray  # connected component (= tier-1 zone) of each cell
    seconds: float  # time to prepare inputs and build the graph
    buildings: int  # buildings planned

    @property
    def total(self) -> float:
        return float(self.graph.households.sum())

    @property
    def k(self) -> int:
        return max(1, round(self.total / GRID.target))

    def component_nodes(self) -> list[np.ndarray]:
        order = np.argsort(self.component, kind="stable")
        cut = np.searchsorted(self.component[order], np.arange(self.component.max() + 2))
        return [order[cut[c] : cut[c + 1]] for c in range(len(cut) - 1)]


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    m = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return csgraph.connected_components(m, directed=False)[1]


def build_graph(buildings, barriers=None) -> BenchGraph:
    """Prepare the inputs and build gridplan's cell graph once; drop components without buildings."""
    t0 = time.perf_counter()
    prep = prepare(buildings, barriers)
    planner = Planner(prep, PlanConfig(), None)
    planner.build_graph()
    g = planner.g
    comp = _components(g.n, g.edges)
    has_building = np.bincount(comp, weights=planner.bld_per_cell, minlength=comp.max() + 1) > 0
    keep = np.flatnonzero(has_building[comp])
    sub, _ = g.subgraph(keep)
    cells = np.asarray(planner.land, dtype=object)[keep]
    import shapely

    cent = shapely.get_coordinates(shapely.centroid(cells))
    return BenchGraph(sub, cent, cells, _components(sub.n, sub.edges), time.perf_counter() - t0, len(prep.buildings))


_STATUS = None  # shared buffer a forked child writes its progress into (read on timeout)


def _report(text: str) -> None:
    if _STATUS is not None:
        _STATUS.value = text.encode()[:250]


def _k_per_component(bg: BenchGraph) -> list[tuple[np.ndarray, int]]:
    """Each component's nodes with its unit count: round(households / target), at least 1, at most its nodes."""
    out = []
    for nodes in bg.component_nodes():
        hh = bg.graph.households[nodes].sum()
        out.append((nodes, int(min(len(nodes), max(1, round(hh / GRID.target))))))
    return out


# ---- the methods (each returns one label per cell) -------------------------------------------------
def run_gridplan(bg: BenchGraph) -> np.ndarray:
    return partition(bg.graph, GRID, rng=0).labels


def run_kmeans(bg: BenchGraph) -> np.ndarray:
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=min(bg.k, bg.graph.n), n_init=4, random_state=0)
    return km.fit_predict(bg.centroids, sample_weight=np.maximum(bg.graph.households, 1e-9))


def run_metis(bg: BenchGraph) -> np.ndarray:
    import pymetis

    labels = np.zeros(bg.graph.n, dtype=np.int64)
    nxt = 0
    for nodes, k in _k_per_component(bg):
        if k > 1:
            sub, keep = bg.graph.subgraph(nodes)
            e = np.vstack([sub.edges, sub.edges[:, ::-1]])
            w = np.concatenate([sub.cost, sub.cost])
            order = np.lexsort((e[:, 1], e[:, 0]))
            e, w = e[order], w[order]
            xadj = np.searchsorted(e[:, 0], np.arange(sub.n + 1)).astype(np.int64)
            _, part = pymetis.part_graph(
                k, pymetis.CSRAdjacency(xadj, e[:, 1]), vweights=np.rint(sub.households).astype(np.int64),
                eweights=np.maximum(1, np.rint(w)).astype(np.int64), options=pymetis.Options(contig=1, seed=0),
            )
            part = np.asarray(part, dtype=np.int64)
        else:
            part = np.zeros(len(nodes), dtype=np.int64)
        labels[nodes] = part + nxt
        nxt += int(part.max()) + 1
    return labels


def run_gerrychain(bg: BenchGraph) -> np.ndarray:
    import networkx as nx
    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part

    labels = np.zeros(bg.graph.n, dtype=np.int64)
    nxt = 0
    for c, (nodes, k) in enumerate(_k_per_component(bg)):
        if k > 1:
            sub, _ = bg.graph.subgraph(nodes)
            g = nx.Graph()
            g.add_nodes_from((i, {"households": float(h)}) for i, h in enumerate(sub.households))
            g.add_edges_from(map(tuple, sub.edges.tolist()))
            hh = float(sub.households.sum())
            _report(f"at component {c} of {bg.component.max() + 1} ({hh:,.0f} hh, {sub.n:,} cells, k={k})")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    assign = recursive_tree_part(Graph.from_networkx(g), range(k), hh / k, "households", 0.25, rng=0)
            except Exception as exc:
                raise RuntimeError(f"component {c} ({hh:,.0f} hh, {len(nodes)} cells, k={k}): {type(exc).__name__}: {exc}") from exc
            part = np.array([assign[i] for i in range(sub.n)], dtype=np.int64)
        else:
            part = np.zeros(len(nodes), dtype=np.int64)
        labels[nodes] = part + nxt
        nxt += int(part.max()) + 1
    return labels


def run_maxp(bg: BenchGraph) -> np.ndarray:
    import geopandas as gpd
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    labels = np.zeros(bg.graph.n, dtype=np.int64)
    nxt = 0
    for c, (nodes, _) in enumerate(_k_per_component(bg)):
        sub, _ = bg.graph.subgraph(nodes)
        if sub.households.sum() >= 2 * GRID.lo and sub.n > 1:
            _report(f"at component {c} of {bg.component.max() + 1} ({sub.households.sum():,.0f} hh, {sub.n:,} cells)")
            neigh = {i: [] for i in range(sub.n)}
            for a, b in sub.edges.tolist():
                neigh[a].append(b)
                neigh[b].append(a)
            gdf = gpd.GeoDataFrame(
                {"households": sub.households, "x": bg.centroids[nodes, 0], "y": bg.centroids[nodes, 1]},
                geometry=list(bg.cells[nodes]),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = MaxPHeuristic(gdf, W(neigh, silence_warnings=True), ["x", "y"], "households", GRID.lo)
                model.solve()
            part = np.asarray(model.labels_, dtype=np.int64)
            part = np.unique(part, return_inverse=True)[1]  # labels start at 1 (0: unassigned)
        else:
            part = np.zeros(sub.n, dtype=np.int64)
        labels[nodes] = part + nxt
        nxt += int(part.max()) + 1
    return labels


METHODS: dict[str, Callable[[BenchGraph], np.ndarray]] = {
    "gridplan": run_gridplan,
    "metis": run_metis,
    "gerrychain": run_gerrychain,
    "maxp": run_maxp,
    "kmeans": run_kmeans,
}
#: Peers that may run for long: run in a forked child under the time limit.
SLOW = {"gerrychain", "maxp"}


# ---- measuring -------------------------------------------------------------------------------------
class _PeakRss:
    """Samples this process's RSS (psutil) every 10 ms while in the ``with`` block; None without psutil."""

    def __enter__(self) -> _PeakRss:
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


def _timed(fn: Callable[[BenchGraph], np.ndarray], bg: BenchGraph) -> tuple[np.ndarray, float, float | None]:
    with _PeakRss() as rss:
        t0 = time.perf_counter()
        labels = fn(bg)
        secs = time.perf_counter() - t0
    return np.asarray(labels, dtype=np.int64), secs, rss.mb


def _child(conn, name: str, bg: BenchGraph) -> None:
    try:
        conn.send(("ok", _timed(METHODS[name], bg)))
    except BaseException as exc:  # reported to the parent as the row's note
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:300] or traceback.format_exc(limit=1)))
    finally:
        conn.close()


def _in_child(name: str, bg: BenchGraph, timeout: float):
    global _STATUS
    ctx = mp.get_context("fork")
    _STATUS = ctx.Array("c", 256)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, name, bg), daemon=True)
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


@dataclass
class Row:
    """One table row; figures are None where the method did not finish."""

    method: str
    seconds: float | None = None
    units: int | None = None
    in_range: float | None = None
    min_hh: float | None = None
    max_hh: float | None = None
    contiguous: float | None = None
    tier1_crossings: int | None = None
    peak_rss_mb: float | None = None
    note: str = ""
    labels: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return {c: getattr(self, c) for c in COLUMNS}


def score(bg: BenchGraph, labels: np.ndarray) -> dict:
    """Units, share in range, min/max households, share contiguous, units spanning tier-1 zones."""
    g = bg.graph
    labels = np.unique(labels, return_inverse=True)[1]
    n_units = int(labels.max()) + 1
    hh = np.bincount(labels, weights=g.households, minlength=n_units)
    inside = g.edges[labels[g.edges[:, 0]] == labels[g.edges[:, 1]]]
    piece = _components(g.n, inside)  # connected pieces of every unit
    pieces_per_unit = np.bincount(np.unique(np.c_[labels, piece], axis=0)[:, 0], minlength=n_units)
    zones_per_unit = np.bincount(np.unique(np.c_[labels, bg.component], axis=0)[:, 0], minlength=n_units)
    return {
        "units": n_units,
        "in_range": float(np.mean((hh >= GRID.lo) & (hh <= GRID.hi))),
        "min_hh": float(hh.min()),
        "max_hh": float(hh.max()),
        "contiguous": float(np.mean(pieces_per_unit == 1)),
        "tier1_crossings": int(np.sum(zones_per_unit > 1)),
    }


def run_method(name: str, bg: BenchGraph, *, timeout: float | None = TIMEOUT) -> Row:
    """Run one method on ``bg`` and score it; failures become a row with the reason in ``note``."""
    if name not in METHODS:
        raise ValueError(f"`name` was {name!r}; expected one of {', '.join(map(repr, METHODS))}")
    try:
        if name in SLOW and timeout is not None:
            status, payload = _in_child(name, bg, timeout)
            if status != "ok":
                return Row(name, note=f"n/a: {payload}")
            labels, secs, mb = payload
        else:
            labels, secs, mb = _timed(METHODS[name], bg)
    except ImportError as exc:
        return Row(name, note=f"n/a: not installed ({exc.name})")
    except Exception as exc:
        return Row(name, note=f"n/a: {type(exc).__name__}: {exc}"[:300])
    return Row(name, seconds=secs, peak_rss_mb=mb, labels=labels, **score(bg, labels))


def _fmt(col: str, v) -> str:
    if v is None:
        return "n/a" if col != "note" else ""
    if col in ("in_range", "contiguous"):
        return f"{v:.1%}"
    if col == "seconds":
        return f"{v:.2f}"
    if col in ("min_hh", "max_hh", "peak_rss_mb"):
        return f"{v:,.0f}"
    if col in ("units", "tier1_crossings"):
        return f"{v:,}"
    return str(v).replace("|", "/").replace("\n", " ")


def table(rows: list[Row]) -> str:
    """The rows as a markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(_fmt(c, r.as_dict()[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


# ---- the full pipeline -----------------------------------------------------------------------------
def full_pipeline(buildings, barriers, *, grids_only: bool = False, check: bool = True) -> list[str]:
    """Wall time and peak RSS of gridplan's pipeline; the referee's last line when ``check``."""
    out = []
    if grids_only:
        with _PeakRss() as rss:
            t0 = time.perf_counter()
            cfg = PlanConfig()
            pl = Planner(prepare(buildings, barriers), cfg, None)
            pl.build_graph()
            grids = pl.plan_level(pl.communities(), cfg.grid, 1, strong_tier=2, use_groups=True)
            secs = time.perf_counter() - t0
        n = int(grids.labels.max()) + 1
        out.append(f"- gridplan pipeline, grids only (prepare → cells → communities → grids): {secs:.1f} s, {n:,} grids, peak RSS {_fmt('peak_rss_mb', rss.mb)} MB")
    with _PeakRss() as rss:
        t0 = time.perf_counter()
        plan = gridplan.plan(buildings, barriers, seed=0)
        secs = time.perf_counter() - t0
    out.append(
        f"- gridplan.plan, all three levels: {secs:.1f} s ({len(plan.communities):,} communities, {len(plan.grids):,} grids "
        f"({plan.grids.in_range.mean():.1%} in range), {len(plan.micro_grids):,} micro-grids), peak RSS {_fmt('peak_rss_mb', rss.mb)} MB"
    )
    if check:
        out.append(f"- referee: {_referee(plan)}")
    return out


def _referee(plan) -> str:
    if not CHECKPLAN.exists():
        return f"n/a: {CHECKPLAN} not found"
    with tempfile.TemporaryDirectory(prefix="gridplan-bench-") as tmp:
        d = Path(plan.write(Path(tmp) / "plan", map_html=False))
        cmd = [sys.executable, str(CHECKPLAN), "--plan", str(d), "--buildings", str(d / "input_buildings.gpkg")]
        if (d / "input_barriers.gpkg").exists():
            cmd += ["--barriers", str(d / "input_barriers.gpkg")]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    return f"`{lines[-1].strip()}`" if lines else f"n/a: no output (exit {res.returncode})"


# ---- cases -----------------------------------------------------------------------------------------
def load_case(name: str):
    """(buildings, barriers) of a case, or a string saying why it is skipped."""
    if name == "sample":
        from gridplan.sample import sample_path

        return sample_path("buildings"), sample_path("roads")
    if name in OSM_CASES:
        path = SHARED / "data" / OSM_CASES[name]
        if not path.exists():
            return f"skipped: {path} not found (../shared is absent)"
        osm = gridplan.load_osm(path)  # as `gridplan plan --osm`: invalid OSM outlines repaired, compounds kept
        return osm.buildings, osm.barriers
    if name == "city":
        from gridplan.sample import make_city

        c = make_city(1_000_000)
        return c.buildings, c.roads
    raise ValueError(f"case {name!r}; expected one of {', '.join(ALL_CASES)}")


def run_case(name: str, *, methods=tuple(METHODS), timeout: float = TIMEOUT) -> str:
    """Everything measured for one case, as markdown."""
    t0 = time.perf_counter()
    case = load_case(name)
    if isinstance(case, str):
        return f"## {name}\n\n{case}\n"
    load_s = time.perf_counter() - t0
    buildings, barriers = case
    bg = build_graph(buildings, barriers)
    head = (
        f"## {name}\n\n{bg.buildings:,} buildings, {bg.total:,.0f} households, {bg.graph.n:,} cells, "
        f"{len(bg.graph.edges):,} edges, {bg.component.max() + 1:,} tier-1 zones; k = {bg.k:,}. "
        f"Load {load_s:.1f} s, graph {bg.seconds:.1f} s.\n"
    )
    rows = []
    for m in methods:
        rows.append(run_method(m, bg, timeout=timeout))
        print(f"  {name}/{m}: {rows[-1].note or f'{rows[-1].seconds:.1f} s'}", file=sys.stderr, flush=True)
    del bg
    pipe = full_pipeline(buildings, barriers, grids_only=(name == "city"))
    return head + "\n" + table(rows) + "\n\n" + "\n".join(pipe) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(ALL_CASES), help=f"comma-separated, of: {', '.join(ALL_CASES)}")
    ap.add_argument("--skip-city", action="store_true", help="leave out the 1,000,000-household generated city")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds allowed to each slow peer (gerrychain, maxp)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="markdown file the tables are saved to")
    a = ap.parse_args(argv)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in ALL_CASES]
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    bad += [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"unknown case or method {bad}; cases: {', '.join(ALL_CASES)}; methods: {', '.join(METHODS)}")
    if a.skip_city:
        cases = [c for c in cases if c != "city"]
    parts = [f"# gridplan benchmarks\n\ngridplan {gridplan.__version__}, Python {sys.version.split()[0]}, grid range {GRID}, "
             f"time limit {a.timeout:g} s for slow peers.\n"]
    print(parts[0], flush=True)
    for c in cases:
        parts.append(run_case(c, methods=methods, timeout=a.timeout))
        print(parts[-1], flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(parts), encoding="utf-8")
    print(f"saved {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
