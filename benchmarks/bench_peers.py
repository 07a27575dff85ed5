"""The methods of benchmarks/run.py: each labels the atoms of every community of a case with grids.

Every method partitions each parent (a community gridplan planned) on its own, on the same graph of atoms:

- ``gridplan``: :func:`gridplan.core.partition.partition` on each community's subgraph, ``rng=0``, as
  ``Planner.plan_level`` does (keep-together compounds and buildings, strong roads crossed only where needed);
- ``metis``: pymetis ``part_graph`` with ``contig=1`` on each connected piece of each community;
- ``gerrychain``: ``recursive_tree_part`` on each connected piece of each community, ε = 0.25;
- ``maxp``: spopt ``MaxPHeuristic`` on each connected piece of each community, threshold 300 households;
- ``kmeans``: scikit-learn ``KMeans`` on each community's atom centroids, weighted by households.

The peers' unit count (:func:`count_for`) is the count gridplan's
:func:`~gridplan.core.partition.least_bad_count` gives for the piece's households: the feasible count
nearest households / target, else the count least out of range; at most the piece's atoms. Each method
returns ``(labels, info)``: a unit per node (-1 for nodes outside every community) and figures of its own.
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable

import numpy as np

from gridplan.core.partition import least_bad_count, partition
from gridplan.planning.planner import TREES, rng_for

from bench_cases import Case
from bench_measure import GRID, report_progress


def count_for(households: float, atoms: int) -> int:
    """The unit count the peers get for a piece: ``least_bad_count``, capped at the piece's atoms.

    >>> count_for(1000, 50), count_for(550, 50), count_for(9000, 4)
    (2, 2, 4)
    """
    return int(min(atoms, max(1, least_bad_count(float(households), GRID)[0])))


class _Labeller:
    """Hands out unit ids: each parent piece's local labels 0..k-1 are shifted past those already used."""

    def __init__(self, n: int):
        self.labels = np.full(n, -1, dtype=np.int64)
        self.next = 0

    def put(self, nodes: np.ndarray, part: np.ndarray) -> None:
        part = np.unique(np.asarray(part, dtype=np.int64), return_inverse=True)[1]
        self.labels[nodes] = part + self.next
        self.next += int(part.max()) + 1 if len(part) else 0


def run_gridplan(case: Case) -> tuple[np.ndarray, dict]:
    """gridplan's grid level inside each community; ``info`` counts out-of-range grids by proof kind."""
    g = case.g
    out = _Labeller(g.n)
    kinds: Counter = Counter()
    bounds = []
    for p, scope in enumerate(case.scopes):
        sub, _ = g.subgraph(scope)
        result = partition(sub, GRID, rng=rng_for(0, 1, p), trees=TREES[1])  # as Planner.plan_level draws grids
        hh = np.bincount(result.labels, weights=sub.households, minlength=result.count)
        bad = set(np.flatnonzero((hh < GRID.lo) | (hh > GRID.hi)).tolist())
        for issue in result.issues:  # each out-of-range grid counted once, under the first proof covering it
            covered = bad & set(np.unique(result.labels[list(issue.nodes)]).tolist())
            kinds[issue.kind] += len(covered)
            bad -= covered
        kinds["unexplained"] += len(bad)
        bounds.append(result.cv_bound)
        out.put(scope, result.labels)
    return out.labels, {"out_by_proof": dict(kinds), "cv_bound_median": float(np.median(bounds)) if bounds else 0.0}


def run_kmeans(case: Case) -> tuple[np.ndarray, dict]:
    from sklearn.cluster import KMeans

    out = _Labeller(case.g.n)
    for scope in case.scopes:
        hh = case.g.households[scope]
        k = count_for(hh.sum(), len(scope))
        if k > 1:
            km = KMeans(n_clusters=k, n_init=4, random_state=0)
            part = km.fit_predict(case.centroids[scope], sample_weight=np.maximum(hh, 1e-9))
        else:
            part = np.zeros(len(scope), dtype=np.int64)
        out.put(scope, part)
    return out.labels, {}


def _per_component(case: Case, split: Callable[[object, int, str], np.ndarray]) -> np.ndarray:
    """``split(subgraph, k, where)`` on every connected piece of every community whose count is above 1."""
    out = _Labeller(case.g.n)
    pieces = case.parent_components()
    for i, (p, nodes) in enumerate(pieces):
        sub, _ = case.g.subgraph(nodes)
        k = count_for(sub.households.sum(), sub.n)
        where = f"piece {i} of {len(pieces)} (community {p}, {sub.households.sum():,.0f} hh, {sub.n:,} atoms, k={k})"
        report_progress(f"at {where}")
        out.put(nodes, split(sub, k, where) if k > 1 else np.zeros(sub.n, dtype=np.int64))
    return out.labels


def run_metis(case: Case) -> tuple[np.ndarray, dict]:
    import pymetis

    def split(sub, k, where):
        e = np.vstack([sub.edges, sub.edges[:, ::-1]])
        w = np.concatenate([sub.cost, sub.cost])
        order = np.lexsort((e[:, 1], e[:, 0]))
        e, w = e[order], w[order]
        xadj = np.searchsorted(e[:, 0], np.arange(sub.n + 1)).astype(np.int64)
        _, part = pymetis.part_graph(
            k, pymetis.CSRAdjacency(xadj, e[:, 1]), vweights=np.rint(sub.households).astype(np.int64),
            eweights=np.maximum(1, np.rint(w)).astype(np.int64), options=pymetis.Options(contig=1, seed=0),
        )
        return np.asarray(part, dtype=np.int64)

    return _per_component(case, split), {}


def run_gerrychain(case: Case) -> tuple[np.ndarray, dict]:
    import networkx as nx
    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part

    def split(sub, k, where):
        g = nx.Graph()
        g.add_nodes_from((i, {"households": float(h)}) for i, h in enumerate(sub.households))
        g.add_edges_from(map(tuple, sub.edges.tolist()))
        hh = float(sub.households.sum())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assign = recursive_tree_part(Graph.from_networkx(g), range(k), hh / k, "households", 0.25, rng=0)
        except Exception as exc:
            raise RuntimeError(f"{where}: {type(exc).__name__}: {exc}") from exc
        return np.array([assign[i] for i in range(sub.n)], dtype=np.int64)

    return _per_component(case, split), {}


def run_maxp(case: Case) -> tuple[np.ndarray, dict]:
    import geopandas as gpd
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    land = np.asarray(case.planner.land, dtype=object)
    out = _Labeller(case.g.n)
    pieces = case.parent_components()
    for i, (p, nodes) in enumerate(pieces):
        sub, _ = case.g.subgraph(nodes)
        part = np.zeros(sub.n, dtype=np.int64)
        if sub.households.sum() >= 2 * GRID.lo and sub.n > 1:
            report_progress(f"at piece {i} of {len(pieces)} (community {p}, {sub.households.sum():,.0f} hh, {sub.n:,} atoms)")
            neigh = {j: [] for j in range(sub.n)}
            for a, b in sub.edges.tolist():
                neigh[a].append(b)
                neigh[b].append(a)
            gdf = gpd.GeoDataFrame({"households": sub.households, "x": case.centroids[nodes, 0], "y": case.centroids[nodes, 1]},
                                   geometry=list(land[nodes]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = MaxPHeuristic(gdf, W(neigh, silence_warnings=True), ["x", "y"], "households", GRID.lo)
                model.solve()
            part = np.asarray(model.labels_, dtype=np.int64)  # 0: unassigned, kept as a unit of its own
        out.put(nodes, part)
    return out.labels, {}


METHODS: dict[str, Callable[[Case], tuple[np.ndarray, dict]]] = {
    "gridplan": run_gridplan,
    "metis": run_metis,
    "gerrychain": run_gerrychain,
    "maxp": run_maxp,
    "kmeans": run_kmeans,
}
#: Peers that may run for long: run in a forked child under the time limit.
SLOW = {"gerrychain", "maxp"}
