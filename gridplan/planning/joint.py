"""Joint redraw: the communities to re-district are cut together, across the old lines between them.

The step of :func:`gridplan.planning.split.split_communities` that decides *what* is redrawn and cuts it:

1. **Scopes.** Old communities are adjacent when an edge of the planner's graph joins their cells
   (:func:`old_adjacency`; tier-1 lines are never edges). With ``mode='oversized'`` the oversized
   communities form clusters of adjacent ones (:func:`clusters`), each one scope; with ``mode='all'``
   every community is one scope.
2. **Regions.** A scope's cells fall apart into pieces where tier-1 lines cut them. A piece that could be
   communities of its own stays a separate region (so no new community spans the river); a piece that
   could not (a corner of 200 households across the railway) is bridged to the nearest other piece
   (:func:`regions`).
3. **Counts.** Each region can hold a range of counts (:func:`span`, with mean sizes 2% inside the
   range's bounds where possible, as a cut into communities of 2,990 under a 3,000 maximum rarely exists); a total ``count`` outside the sum
   of those ranges is first met by adding the fewest neighbours of the scopes (:meth:`Scopes.grow`:
   each addition the one that moves the feasible totals most towards ``count``).
4. **Cuts.** Each region is partitioned with the old boundaries as preferred cut lines (cut cost × 0.4
   between cells of different old communities, × 1.5 inside one; cuts within 30% of an even split are
   compared by cost alone); of a few seeded attempts the one with
   the asked count, then the fewest households out of range, then the most households kept with their
   old community is taken (:func:`cut_region`, :func:`core_figures`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from ..config import SizeRange, counts_in_range
from ..core.partition import ExactLimits, Partition, UnitGraph, least_bad_count, partition
from .planner import Planner, components, rng_for

__all__ = ["Region", "Scopes", "CoreFigures", "span", "old_adjacency", "clusters", "regions", "with_bridges", "cut_region", "core_figures"]

#: Cut-cost factors of the joint redraw: old boundaries are preferred cut lines, an old community's inside is dearer.
OLD_LINE_COST, INSIDE_COST = 0.4, 1.5
#: Cut cost of a bridge joining two pieces across a hard barrier (cheap: a good boundary).
BRIDGE_COST = 0.05
#: Share of the community range a joint redraw's mean size keeps from its bounds when counts are handed out.
MARGIN = 0.02
#: Seeded attempts per region of a joint redraw (the best is kept).
ATTEMPTS = 3
#: Balance tolerance of the joint cuts (see :func:`~gridplan.core.partition.partition`): cuts within it are
#: compared by cut cost alone, so they follow the old lines; balance moves after the cuts are off (range
#: repairs stay). On a generated district of 24 old communities (78,034 households, 12 oversized) → 35,
#: households kept with their old community: 71.0% with 0.04 and balance moves, 74.2% with these.
BALANCE, REFINE = 0.3, False


def span(households: float, size: SizeRange, margin: float = 0.0) -> tuple[int, int]:
    """The fewest and most communities ``households`` can be cut into in range (the least-bad count twice
    when none fits). With ``margin``, the mean size must keep that share of the range's bounds away from
    them (a cut into 6 of 2,988 households, 0.4% under a 3,000 maximum, rarely exists), where that leaves
    any count.

    >>> span(5500, SizeRange(1000, 3000)), span(800, SizeRange(1000, 3000)), span(17926, SizeRange(1000, 3000), MARGIN)
    ((2, 5), (1, 1), (7, 17))
    """
    ok = counts_in_range(households, size)
    if not len(ok):
        return (least_bad_count(households, size)[0],) * 2
    safe = counts_in_range(households, SizeRange(size.lo * (1 + margin), size.hi * (1 - margin))) if margin else ok
    ok = safe if len(safe) else ok
    return ok.start, ok.stop - 1


def old_adjacency(graph: UnitGraph, labels: np.ndarray, n: int) -> list[set[int]]:
    """Per old community (``labels`` over the nodes, -1 none), the old communities an edge joins it to.

    >>> g = UnitGraph.lattice(1, 4)  # 0 - 1 - 2 - 3
    >>> old_adjacency(g, np.array([0, 0, 1, 2]), 3)
    [{1}, {0, 2}, {1}]
    """
    a, b = labels[graph.edges[:, 0]], labels[graph.edges[:, 1]]
    m = (a >= 0) & (b >= 0) & (a != b)
    adj: list[set[int]] = [set() for _ in range(n)]
    for x, y in np.unique(np.sort(np.c_[a[m], b[m]], axis=1), axis=0).tolist():
        adj[x].add(y)
        adj[y].add(x)
    return adj


def clusters(adj: list[set[int]], members: list[int]) -> list[frozenset[int]]:
    """The groups of ``members`` joined through adjacent members, in order of their lowest member.

    >>> clusters([{1}, {0, 2}, {1}, set()], [0, 2, 3])  # 0 and 2 touch only through 1, not a member
    [frozenset({0}), frozenset({2}), frozenset({3})]
    """
    left, out = set(members), []
    for m in sorted(members):
        if m not in left:
            continue
        group, stack = {m}, [m]
        left.discard(m)
        while stack:
            for y in adj[stack.pop()] & left:
                left.discard(y)
                group.add(y)
                stack.append(y)
        out.append(frozenset(group))
    return out


@dataclass(frozen=True)
class Region:
    """Cells of a scope cut together: sorted node ids and the bridges (node pairs) joining its pieces."""

    cells: np.ndarray
    bridges: tuple[tuple[int, int], ...]
    households: float


def regions(pl: Planner, cells: np.ndarray, size: SizeRange | None) -> list[Region]:
    """The regions of ``cells``: the pieces tier-1 lines cut apart, each piece that cannot be communities of
    its own in ``size`` bridged to the nearest other piece (smallest first). ``size=None`` bridges every
    piece, so there is one region."""
    hh = pl.g.households
    pieces = [np.sort(c) for c in components(pl.g, np.asarray(cells, dtype=np.int64))]
    pieces.sort(key=lambda p: int(p[0]))
    bridges: list[list[tuple[int, int]]] = [[] for _ in pieces]
    while len(pieces) > 1:
        tot = [float(hh[p].sum()) for p in pieces]
        weak = [i for i in range(len(pieces)) if size is None or not len(counts_in_range(tot[i], size))]
        if not weak:
            break
        i = min(weak, key=lambda i: (tot[i], int(pieces[i][0])))
        others = np.concatenate([p for j, p in enumerate(pieces) if j != i])
        near, dist = shapely.STRtree(pl.land[others]).query_nearest(pl.land[pieces[i]], return_distance=True, all_matches=False)
        k = int(np.argmin(dist))
        a, b = int(pieces[i][near[0][k]]), int(others[near[1][k]])
        j = next(j for j, p in enumerate(pieces) if j != i and b in set(p.tolist()))
        pieces[j] = np.sort(np.concatenate([pieces[j], pieces[i]]))
        bridges[j] += bridges[i] + [(a, b)]
        del pieces[i], bridges[i]
    return [Region(p, tuple(br), float(hh[p].sum())) for p, br in zip(pieces, bridges)]


def with_bridges(pl: Planner, cells: np.ndarray, bridges, old_labels: np.ndarray | None = None) -> UnitGraph:
    """The subgraph of ``cells`` (sorted) plus cheap tier-3 ``bridges`` (node pairs); with ``old_labels``,
    edges between cells of different old communities cost less and edges inside one cost more."""
    sub, keep = pl.g.subgraph(cells)
    cost = sub.cost
    if old_labels is not None:
        e = pl.g.edges[keep]
        cost = cost * np.where(old_labels[e[:, 0]] != old_labels[e[:, 1]], OLD_LINE_COST, INSIDE_COST)
    if not len(bridges):
        return UnitGraph(sub.households, sub.edges, cost, sub.tier, sub.group, sub.building)
    extra = np.searchsorted(cells, np.asarray(bridges, dtype=np.int64))
    return UnitGraph(sub.households, np.vstack([sub.edges, extra]), np.r_[cost, np.full(len(extra), BRIDGE_COST)],
                     np.r_[sub.tier, np.full(len(extra), 3)], sub.group, sub.building)


@dataclass(frozen=True)
class CoreFigures:
    """How new communities keep their old ones' households (:func:`core_figures`).

    Per new unit: ``core`` (the old community giving it most households), ``share`` (that part of its
    households) and ``kept`` (its households that lie in the new community holding most of their old
    community: *kept with their old community*). ``households`` is the total over all units.
    """

    core: np.ndarray
    share: np.ndarray
    kept: np.ndarray
    households: float

    @property
    def overall(self) -> float:
        """Households kept with their old community / all households."""
        return float(self.kept.sum() / self.households) if self.households else 1.0


def core_figures(new: np.ndarray, old: np.ndarray, households: np.ndarray) -> CoreFigures:
    """Core preservation of ``new`` labels against ``old`` ones over the same nodes (-1: none).

    Examples
    --------
    Old community 0 (nodes 0–2) and 1 (nodes 3–5); the new unit 1 takes node 2 from old 0:

    >>> f = core_figures(np.array([0, 0, 1, 1, 1, 1]), np.array([0, 0, 0, 1, 1, 1]), np.full(6, 100.0))
    >>> f.core.tolist(), f.share.round(2).tolist(), f.kept.tolist(), round(f.overall, 3)
    ([0, 1], [1.0, 0.75], [200.0, 300.0], 0.833)
    """
    m = (new >= 0) & (old >= 0)
    n_new, n_old = int(new.max()) + 1, int(old.max()) + 1
    overlap = np.zeros((n_new, n_old))
    np.add.at(overlap, (new[m], old[m]), households[m])
    successor = overlap.argmax(axis=0)  # per old community: the new one holding most of it (ties: the first)
    kept = np.bincount(successor, weights=overlap[successor, np.arange(n_old)], minlength=n_new)
    total = overlap.sum(axis=1)
    share = np.divide(overlap.max(axis=1), total, out=np.ones(n_new), where=total > 0)
    return CoreFigures(overlap.argmax(axis=1), share, kept, float(total.sum()))


def cut_region(pl: Planner, graph: UnitGraph, k: int, size: SizeRange, old_local: np.ndarray, path: tuple[int, ...]) -> Partition:
    """``graph`` (a region's) cut into ``k`` communities: the best of :data:`ATTEMPTS` seeded partitions by
    (the count asked, fewest households out of range, most households kept with their old community).
    The attempts run without the exact search; the best one runs again with it when a unit is out of range."""
    h = float(graph.households.sum())
    target = SizeRange(size.lo, size.hi, h / k) if k in counts_in_range(h, size) else size

    def attempt(i: int, exact: ExactLimits | None) -> tuple[tuple, Partition]:
        result = partition(graph, target, rng=rng_for(pl.cfg.seed, 0, *path, i), strong_tier=None, balance=BALANCE, refine=REFINE, exact=exact)
        unit_hh = np.bincount(result.labels, weights=graph.households)
        out = float(np.maximum(0, np.maximum(size.lo - unit_hh, unit_hh - size.hi)).sum())
        kept = float(core_figures(result.labels, old_local, graph.households).kept.sum())
        return (abs(result.count - k), out, -kept), result

    best = None
    for i in range(ATTEMPTS):
        key, result = attempt(i, None)
        if best is None or key < best[0]:
            best = (key, result, i)
    key, result, i = best
    return attempt(i, ExactLimits())[1] if key[1] > 0 else result


class Scopes:
    """The scopes of a joint redraw over the old communities of ``labels`` (see the module docstring)."""

    def __init__(self, pl: Planner, labels: np.ndarray, households: np.ndarray, codes: list[str], size: SizeRange):
        self.pl, self.labels, self.hh, self.codes, self.size = pl, labels, households, codes, size
        self.n = len(households)
        self.adj = old_adjacency(pl.g, labels, self.n)
        self._regions: dict[frozenset[int], list[Region]] = {}

    def regions(self, scope: frozenset[int]) -> list[Region]:
        """The regions of one scope (cached)."""
        if scope not in self._regions:
            self._regions[scope] = regions(self.pl, np.flatnonzero(np.isin(self.labels, sorted(scope))), self.size)
        return self._regions[scope]

    def totals(self, scopes: list[frozenset[int]]) -> tuple[int, int, float, float]:
        """Feasible totals (fewest, most) with these scopes redrawn and the rest kept, and the same without
        rounding (households / maximum, households / minimum), which tells additions apart."""
        kept = self.n - sum(len(s) for s in scopes)
        spans = [span(r.households, self.size, MARGIN) for s in scopes for r in self.regions(s)]
        h = sum(float(self.hh[sorted(s)].sum()) for s in scopes)
        return kept + sum(a for a, _ in spans), kept + sum(b for _, b in spans), kept + h / self.size.hi, kept + h / self.size.lo

    def _distance(self, scopes: list[frozenset[int]], count: int) -> tuple[int, float]:
        """How far the feasible totals miss ``count``, then the unrounded total on that side (not clipped:
        an addition that moves it on is progress even before the rounded totals move)."""
        lo, hi, lo_c, hi_c = self.totals(scopes)
        if lo > count:
            return lo - count, lo_c
        return (count - hi, -hi_c) if hi < count else (0, 0.0)

    def grow(self, scopes: list[frozenset[int]], count: int) -> tuple[list[frozenset[int]], list[int]]:
        """Add neighbours of the scopes, one at a time, while the feasible totals miss ``count``: each time
        the one bringing them closest (ties: fewer households, then the lower code). A neighbour joins the
        scopes it touches into one. Returns the scopes and the neighbours added, in order."""
        added: list[int] = []
        now = self._distance(scopes, count)
        while now[0] > 0:
            inside = set().union(*scopes)
            best = None
            for c in sorted(set().union(*(self.adj[m] for m in inside)) - inside):
                touched = [s for s in scopes if self.adj[c] & s]
                trial = [s for s in scopes if not self.adj[c] & s] + [frozenset({c}).union(*touched)]
                key = (*self._distance(trial, count), float(self.hh[c]), self.codes[c])
                if best is None or key < best[0]:
                    best = (key, trial, c)
            if best is None or best[0][:2] >= now:
                break
            now, scopes = best[0][:2], best[1]
            added.append(best[2])
        return sorted(scopes, key=min), added
