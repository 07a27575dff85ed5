"""Range-aware partition of a unit graph: the pure core of gridplan (no geopandas here).

A :class:`UnitGraph` has households on its nodes and, on its edges, a cut cost (the length of boundary
two cells share, weighted by what lies between them) and a barrier tier (0 inside a block, 2 across a
strong road, 3 across a soft one; tier-1 barriers are never edges). :func:`partition` splits it into
units whose households fall inside a :class:`~gridplan.config.SizeRange`:

1. nodes heavier than the maximum become units of their own (a tower that is a micro-grid alone);
2. each connected component is split into *pieces* along tier-2 edges; a piece whose households no count
   of units can fit (e.g. 120 households fenced in by primary roads) is merged with a neighbouring piece
   across the road, and that crossing is reported;
3. each piece gets the unit count closest to households / target among the feasible counts (or, when
   none is feasible, the least-bad count, reported), and is cut by recursive bisection: a random
   spanning tree is drawn (blocks first, then soft roads, then strong ones), every tree edge is scored
   by the households on each side and the exact cost of the graph cut it makes, and the cheapest cut that
   keeps both sides feasible and balanced is taken. Both sides of a tree cut are connected, so every unit
   is contiguous by construction, and every unit is inside its range whenever the cut exists. The
   counts of the pieces of one parent are chosen together (:func:`~gridplan.core.balance.choose_counts`),
   so the parent's units are even;
4. boundary moves repair ranges and balance neighbours (:mod:`gridplan.core._refine`);
5. every piece still holding a unit out of range is searched exactly (:mod:`gridplan.core.exact`): a plan
   found replaces the heuristic's, else the shortfall is proved. Each :class:`PieceIssue` says which
   proof it rests on: ``counting`` (no count of units fits; an atom above the maximum; the atoms' weights
   cannot be grouped in range), ``exact`` (no contiguous partition in range exists) or ``limit`` (neither
   finished within the step budget).

Examples
--------
A 3 × 4 lattice of 100-household blocks, cut into units of 300–500 households::

    0 - 1 - 2 - 3
    |   |   |   |
    4 - 5 - 6 - 7
    |   |   |   |
    8 - 9 -10 -11

>>> import numpy as np
>>> from gridplan.config import SizeRange
>>> g = UnitGraph.lattice(3, 4, households=100)
>>> result = partition(g, SizeRange(300, 500), rng=1)
>>> sorted(np.bincount(result.labels, weights=g.households).tolist())
[400.0, 400.0, 400.0]
>>> result.issues
()
"""
from __future__ import annotations

import logging
import math

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..config import SizeRange
from ._refine import refine_labels
from ._shortfall import StepBudget, prove_pieces
from ._trees import SMALL, Tree, small_tree, subtree_mask, tree_cut_figures
from .balance import choose_counts, cv_bound
from .exact import ExactLimits
from .unitgraph import PROOF_KINDS, Partition, PieceIssue, ProofKind, UnitGraph, as_rng, gap, least_bad_count

__all__ = ["UnitGraph", "Partition", "PieceIssue", "ProofKind", "PROOF_KINDS", "ExactLimits", "partition", "least_bad_count", "as_rng"]

log = logging.getLogger(__name__)

#: Order in which a spanning tree takes edges: inside blocks first, then across soft, then strong roads.
_TREE_BASE = {0: 0.0, 3: 1.0, 2: 2.0}
_BALANCE_STEPS = (0.04, 0.08, 0.15, 0.3, math.inf)
#: A cut that misses its window by more than this share of a unit is refused; one unit fewer is tried.
_MAX_VIOLATION = 0.25


class _Partitioner:
    """One call of :func:`partition`: holds the graph, the rng and the labels being filled."""

    def __init__(self, graph: UnitGraph, size: SizeRange, rng: np.random.Generator, trees: int, strong_tier: int | None, balance: float):
        self.strong_tier = strong_tier
        self.retries = 3  # redraws of a feasible piece whose cuts left a unit out of range
        # cuts whose imbalance is within the first step are compared by cut cost alone
        self.balance_steps = tuple(x for x in _BALANCE_STEPS if x > balance) if balance > _BALANCE_STEPS[0] else _BALANCE_STEPS
        if balance > _BALANCE_STEPS[0]:
            self.balance_steps = (balance, *self.balance_steps)
        self.g = graph
        self.size = size
        self.rng = rng
        self.trees = trees
        self.labels = np.full(graph.n, -1, dtype=np.int64)
        self.next = 0
        self.issues: list[PieceIssue] = []
        self.piece_of = np.full(graph.n, -1, dtype=np.int64)  # the piece of every node (-1: heavy or empty)
        self.infeasible_pieces: set[int] = set()  # pieces no count of units fits (counting proofs)
        self.cv_bound = 0.0
        self.alone = 0  # see run()

    def new_label(self, nodes: np.ndarray) -> None:
        self.labels[nodes] = self.next
        self.next += 1

    # ---- pieces -------------------------------------------------------------------------------------
    def components(self, nodes: np.ndarray, edge_ids: np.ndarray, drop_tier: int | None = None) -> list[np.ndarray]:
        """Connected components of ``nodes`` using ``edge_ids`` (minus edges of ``drop_tier``)."""
        if len(nodes) == 0:
            return []
        if drop_tier is not None:
            edge_ids = edge_ids[self.g.tier[edge_ids] != drop_tier]
        local = np.full(self.g.n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        e = local[self.g.edges[edge_ids]]
        e = e[(e[:, 0] >= 0) & (e[:, 1] >= 0)]
        m = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(nodes), len(nodes)))
        ncomp, lab = csgraph.connected_components(m, directed=False)
        order = np.argsort(lab, kind="stable")
        splits = np.cumsum(np.bincount(lab, minlength=ncomp))[:-1]
        return [nodes[c] for c in np.split(order, splits)]

    def merge_pieces(self, pieces: list[np.ndarray], edge_ids: np.ndarray) -> list[np.ndarray]:
        """Merge infeasible pieces with neighbours across tier-2 edges while that makes them less infeasible."""
        owner = np.full(self.g.n, -1, dtype=np.int64)
        for p, nodes in enumerate(pieces):
            owner[nodes] = p
        strong = edge_ids[self.g.tier[edge_ids] == self.strong_tier]
        pe = owner[self.g.edges[strong]]
        pe = np.unique(np.sort(pe[(pe[:, 0] >= 0) & (pe[:, 1] >= 0) & (pe[:, 0] != pe[:, 1])], axis=1), axis=0)
        nbr: dict[int, set[int]] = {p: set() for p in range(len(pieces))}
        for a, b in pe.tolist():
            nbr[a].add(b)
            nbr[b].add(a)
        total = {p: float(self.g.households[nodes].sum()) for p, nodes in enumerate(pieces)}
        members = {p: [p] for p in range(len(pieces))}
        changed = True
        while changed:
            changed = False
            for r in sorted(total, key=lambda r: (total[r], r)):
                if r not in total or gap(total[r], self.size) == 0.0:
                    continue
                best = None
                before_r = gap(total[r], self.size)
                for q in sorted(nbr[r]):
                    merged = gap(total[r] + total[q], self.size)
                    if merged < before_r + gap(total[q], self.size) - 1e-12 and (best is None or (merged, total[q]) < best[:2]):
                        best = (merged, total[q], q)
                if best is None:
                    continue
                q = best[2]
                total[q] += total.pop(r)
                members[q] += members.pop(r)
                for x in nbr.pop(r):
                    nbr[x].discard(r)
                    if x != q:
                        nbr[x].add(q)
                        nbr[q].add(x)
                changed = True
        return [np.concatenate([pieces[p] for p in members[r]]) for r in sorted(members)]

    # ---- the driver ---------------------------------------------------------------------------------
    def run(self) -> None:
        g, size = self.g, self.size
        all_nodes = np.arange(g.n)
        all_edges = np.arange(len(g.edges))
        heavy = all_nodes[g.households > size.hi]
        for v in heavy:
            self.new_label(np.array([v]))
            self.issues.append(PieceIssue((int(v),), float(g.households[v]), f"one indivisible unit holds {g.households[v]:g} households, above the maximum {size.hi:g}", "made a unit of its own", "counting"))
        rest = all_nodes[g.households <= size.hi]
        empty, all_pieces = [], []
        for comp in self.components(rest, all_edges):
            h = float(g.households[comp].sum())
            if h <= 0:
                empty.append(comp)
                continue
            pieces = [comp] if self.strong_tier is None else self.components(comp, all_edges, drop_tier=self.strong_tier)
            if len(pieces) > 1:
                pieces = self.merge_pieces(pieces, all_edges)
            all_pieces += pieces
        # the counts of the pieces of one parent are chosen together, so its units are even (not at the
        # community level, whose pieces are the street's separate components: there, alone)
        totals = [float(g.households[p].sum()) for p in all_pieces]
        counts = choose_counts(totals, size) if self.strong_tier is not None else [least_bad_count(t, size)[0] for t in totals]
        self.cv_bound = cv_bound(totals + g.households[heavy].tolist(), counts + [1] * len(heavy),
                                 [g.households[p].tolist() for p in all_pieces] + [[h] for h in g.households[heavy].tolist()])
        # the only piece here, so no barrier cuts it off: 1 alone, 1 + n beside n heavy nodes (0: other pieces)
        self.alone = 1 + len(heavy) if len(all_pieces) == 1 else 0
        for i, (piece, k) in enumerate(zip(all_pieces, counts)):
            self.piece_of[piece] = i
            self.plan_piece(piece, k, i)
        for comp in empty:
            self.attach_or_label(comp)

    def attach_or_label(self, comp: np.ndarray) -> None:
        """An empty component: join an adjacent labelled unit (a heavy node) across no tier-2 line, else make
        it a unit of its own, reported."""
        e = self.g.edges
        inside = np.zeros(self.g.n, bool)
        inside[comp] = True
        touch = (inside[e[:, 0]] ^ inside[e[:, 1]]) & (self.g.tier != self.strong_tier)
        other = np.where(inside[e[touch, 0]], e[touch, 1], e[touch, 0])
        other = other[self.labels[other] >= 0]
        if len(other):
            self.labels[comp] = self.labels[other[0]]
        else:
            self.new_label(comp)
            crossed = "" if self.strong_tier is None else f" or tier-{self.strong_tier}"
            self.issues.append(PieceIssue(tuple(int(x) for x in comp), 0.0, f"a piece with no households, cut off from every other unit here by tier-1{crossed} lines",
                                          "made a unit of its own (listed in empty_units)", "counting"))

    def plan_piece(self, nodes: np.ndarray, k: int, piece: int) -> None:
        h = float(self.g.households[nodes].sum())
        dev = least_bad_count(h, self.size)[1]
        if dev > 0:
            self.infeasible_pieces.add(piece)
            if h <= 0:
                reason = "no households"
            elif k == 1 and h < self.size.lo and self.alone:
                beside = f" beside {self.alone - 1} unit(s) above the maximum" if self.alone > 1 else ", all its parent holds"
                reason = f"{h:g} households{beside}, fewer than the minimum {self.size.lo:g}: too few for one unit"
            elif k == 1 and h < self.size.lo:
                reason = f"{h:g} households, fewer than the minimum {self.size.lo:g}, cut off from other households by barriers it may not cross"
            else:
                lo_k, hi_k = math.floor(h / self.size.hi), math.ceil(h / self.size.lo)
                reason = (
                    f"{h:g} households: {lo_k} unit(s) would be too big, {lo_k + 1} too small"
                    if hi_k - lo_k <= 1
                    else f"{h:g} households fit no count of units in {self.size}"
                )
            avg = h / k
            self.issues.append(PieceIssue(tuple(int(x) for x in nodes), h, reason, f"split into {k} unit(s) of about {avg:.0f} households (the least-bad count)", "counting"))
        # a feasible piece whose cuts leave a unit out of range is drawn again (up to `retries` times);
        # the best draw is kept: fewest households out of range, then the most even
        start, best = self.next, None
        for attempt in range(1 + (self.retries if dev == 0 else 0)):
            self.next = start
            self.bisect(nodes, k, h)
            unit_hh = np.bincount(self.labels[nodes] - start, weights=self.g.households[nodes])
            out = float(np.maximum(0, np.maximum(self.size.lo - unit_hh, unit_hh - self.size.hi)).sum())
            score = (out, float(np.std(unit_hh)))
            if best is None or score < best[0]:
                best = (score, self.labels[nodes].copy(), self.next)
            if out == 0:
                break
        self.labels[nodes], self.next = best[1], best[2]

    def bisect(self, nodes: np.ndarray, k: int, total: float) -> None:
        size = self.size
        avg = total / k
        lo, hi = min(size.lo, avg), max(size.hi, avg)  # an infeasible piece widens its own range
        stack = [(nodes, k)]
        while stack:
            nodes, k = stack.pop()
            if k <= 1 or len(nodes) == 1:
                self.new_label(nodes)
                continue
            pos = int((self.g.households[nodes] > 0).sum())
            if pos < k:  # never more units than nodes with households
                k = max(pos, 1)
                if k == 1:
                    self.new_label(nodes)
                    continue
            side, k1, violation = self.best_cut(nodes, k, lo, hi)
            total = float(self.g.households[nodes].sum())
            if violation > _MAX_VIOLATION and total / (k - 1) <= hi * (1 + _MAX_VIOLATION):
                log.debug("no cut of %d nodes into %d units fits; trying %d", len(nodes), k, k - 1)
                stack.append((nodes, k - 1))
                continue
            stack.append((nodes[~side], k - k1))
            stack.append((nodes[side], k1))

    def best_cut(self, nodes: np.ndarray, k: int, lo: float, hi: float) -> tuple[np.ndarray, int, float]:
        """Draw spanning trees and return the best cut: mask of one side, its unit count, its range violation."""
        sub, _ = self.g.subgraph(nodes)
        w = sub.households
        total = float(w.sum())
        pos_total = int((w > 0).sum())
        s = total / k
        k1_lo, k1_hi = (1, k - 1) if k < 6 else (math.ceil(k / 3), k // 3 * 2 + (k % 3 > 1))
        best: tuple | None = None  # (step, cost, violation, node, k1, tree)
        tries = 0
        steps = self.balance_steps
        while tries < self.trees or (best is None or best[0] >= len(steps) - 1) and tries < 4 * self.trees:
            tries += 1
            tree = self.spanning_tree(sub)
            hh_below, cut, pos_below = tree_cut_figures(sub, tree)
            k1 = np.clip(np.rint(hh_below / s), 1, k - 1).astype(np.int64)
            win_lo = np.maximum(lo * k1, total - hi * (k - k1))
            win_hi = np.minimum(hi * k1, total - lo * (k - k1))
            violation = np.maximum(0.0, np.maximum(win_lo - hh_below, hh_below - win_hi)) / s
            # each side needs at least one node with households per unit it will be cut into
            violation += np.maximum(0, k1 - pos_below) + np.maximum(0, (k - k1) - (pos_total - pos_below))
            imbalance = np.abs(hh_below - k1 * s) / s
            preferred = (k1 >= k1_lo) & (k1 <= k1_hi)
            step = np.searchsorted(np.asarray(steps), imbalance, side="left")
            step = np.where((violation > 0) | ~preferred, len(steps), step)
            step[tree.root] = len(steps) + 1
            key = np.lexsort((cut, violation, step))
            i = int(key[0])
            cand = (int(step[i]), float(violation[i]), float(cut[i]), i, int(k1[i]), tree)
            if best is None or cand[:3] < best[:3]:
                best = cand
        _, violation, _, node, k1, tree = best
        return subtree_mask(tree, node), k1, violation

    def spanning_tree(self, sub: UnitGraph) -> Tree:
        n = sub.n
        base = np.select([sub.tier == 0, sub.tier == 3], [_TREE_BASE[0], _TREE_BASE[3]], _TREE_BASE[2])
        # inside each band, an edge that is cheap to cut tends to join the tree late, so it is more
        # often the edge a cut removes: r ** (cost / median cost) leans towards 1 for cheap edges
        rel = sub.cost / max(float(np.median(sub.cost)), 1e-9) if len(sub.cost) else sub.cost
        weight = base + self.rng.random(len(sub.edges)) ** np.clip(rel, 0.5, 2.0) * 0.999 + 1e-6
        if n <= SMALL:
            return small_tree(n, sub.edges, weight, int(self.rng.integers(n)))
        m = sparse.coo_matrix((weight, (sub.edges[:, 0], sub.edges[:, 1])), shape=(n, n)).tocsr()
        mst = csgraph.minimum_spanning_tree(m)
        root = int(self.rng.integers(n))
        order, pred = csgraph.breadth_first_order(mst, root, directed=False, return_predecessors=True)
        if len(order) != n:
            raise RuntimeError(f"internal: piece of {n} nodes is not connected ({len(order)} reached)")
        depth = csgraph.dijkstra(mst, directed=False, indices=root, unweighted=True).astype(np.int64)
        return Tree(root, order, pred, depth, mst)



def _contract(graph: UnitGraph, size: SizeRange, rungs: tuple[np.ndarray, ...]) -> tuple[UnitGraph, np.ndarray]:
    """Contract keep-together groups into single nodes: each node joins the coarsest of ``rungs`` whose
    connected group fits in one unit (a compound, else its building); the others stay as they are.

    Returns the contracted graph and, for each original node, its node in the contracted graph. A
    group that is not connected on its own is contracted component by component.

    >>> g = UnitGraph([100, 100, 100, 100], [[0, 1], [1, 2], [2, 3]], [1, 1, 1], [0, 0, 0],
    ...               group=[0, 0, 0, -1], building=[-1, 5, 5, -1])
    >>> _contract(g, SizeRange(150, 250), g.rungs)[1].tolist()  # the compound (300) is too big: building 5 (200) fits
    [0, 1, 1, 2]
    """
    n = graph.n
    if not rungs:
        return graph, np.arange(n)
    key = np.arange(n) + n * (len(rungs) + 1)  # singletons
    placed = np.zeros(n, bool)
    for r, grp in enumerate(rungs):
        same = (grp[graph.edges[:, 0]] == grp[graph.edges[:, 1]]) & (grp[graph.edges[:, 0]] >= 0)
        e = graph.edges[same]
        m = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
        _, comp = csgraph.connected_components(m, directed=False)
        hh_comp = np.bincount(comp, weights=graph.households)
        free = np.bincount(comp, weights=placed.astype(float), minlength=comp.max() + 1) == 0
        fits = (grp >= 0) & ~placed & free[comp] & (hh_comp[comp] <= size.hi)
        key[fits] = r * n + comp[fits]
        placed |= fits
    _, first, new = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    new = rank[new.ravel()]  # contracted nodes in the order of their first node
    hh = np.bincount(new, weights=graph.households)
    ce = new[graph.edges]
    keep = ce[:, 0] != ce[:, 1]
    ce, cost, tier = ce[keep], graph.cost[keep], graph.tier[keep]
    ce.sort(axis=1)
    # merge parallel edges: add costs, keep the strongest barrier (lowest non-zero tier; 0 if any block edge)
    uniq, inv = np.unique(ce, axis=0, return_inverse=True)
    inv = inv.ravel()
    cost_m = np.bincount(inv, weights=cost, minlength=len(uniq))
    tier_key = np.where(tier == 0, 9, tier)
    tier_m = np.full(len(uniq), 9, dtype=np.int64)
    np.minimum.at(tier_m, inv, tier_key)
    tier_m = np.where(tier_m == 9, 0, tier_m)
    return UnitGraph(hh, uniq.reshape(-1, 2), cost_m, tier_m), new


def _join_empty_units(graph: UnitGraph, labels: np.ndarray, strong_tier: int | None) -> None:
    """A unit with no households that touches another unit across an edge of no ``strong_tier`` line joins
    it (the fullest such neighbour); ``labels`` is changed in place. Joining adds no households, so no
    range changes, and the joint unit stays contiguous.

    >>> g = UnitGraph([0, 50, 50], [[0, 1], [1, 2]], [1, 1], [0, 2])
    >>> labels = np.array([0, 1, 2]); _join_empty_units(g, labels, 2); labels.tolist()
    [1, 1, 2]
    """
    for _ in range(graph.n):
        unit_hh = np.bincount(labels, weights=graph.households)
        used = np.bincount(labels) > 0
        e = graph.edges[graph.tier != strong_tier] if strong_tier is not None else graph.edges
        a, b = labels[e[:, 0]], labels[e[:, 1]]
        cross = a != b
        a, b = np.r_[a[cross], b[cross]], np.r_[b[cross], a[cross]]
        empty = used & (unit_hh <= 0)
        pick = empty[a] & (unit_hh[b] > 0)
        if not pick.any():
            return
        u = int(a[pick][0])
        to = b[pick & (a == u)]
        labels[labels == u] = int(to[np.argmax(unit_hh[to])])


def _finer(coarse: np.ndarray, coarse_of: np.ndarray, fine_of: np.ndarray, n_fine: int) -> np.ndarray:
    """Values on the nodes of a coarse contraction, carried to the nodes of a finer one (they nest)."""
    out = np.empty(n_fine, dtype=coarse.dtype)
    out[fine_of] = coarse[coarse_of]
    return out


def partition(
    graph: UnitGraph,
    size: SizeRange,
    *,
    rng: int | np.random.Generator | None = None,
    trees: int = 4,
    strong_tier: int | None = 2,
    refine: bool = True,
    balance: float = 0.04,
    exact: ExactLimits | None = ExactLimits(),
) -> Partition:
    """Split ``graph`` into contiguous units of ``size`` households (see the module docstring).

    Parameters
    ----------
    graph
        Nodes with households (or whatever the ranges count); edges with cut cost and barrier tier.
        Keep-together groups (``graph.group``, then ``graph.building``: see :attr:`UnitGraph.rungs`) are
        never split when they fit in one unit, unless only splitting one brings a unit into range.
    size
        The range of households per unit, and the target inside it.
    rng
        Seed or Generator; the same graph and seed give the same labels.
    trees
        Spanning trees drawn per cut (more: better cuts, slower).
    strong_tier
        Edges of this tier are crossed only where a piece is otherwise infeasible (``None``: crossed
        freely, as communities may cross primary roads).
    balance
        Cuts that leave each side within this share of a unit of its ideal size are compared by cut
        cost alone (a wider tolerance follows streets more, balances less).
    refine
        After bisection, move boundary nodes between neighbouring units to repair ranges (always) and
        to balance households (when True).
    exact
        Step budgets of the exact search run on every piece still holding a unit out of range (its
        plan replaces the heuristic's; else it proves the shortfall); ``None``: no exact search.

    Returns
    -------
    Partition
        Labels 0..count-1, the infeasible pieces, each with the kind of its proof (``counting``,
        ``exact`` or ``limit``), and the CV bound the atoms allow.
    """
    rng = as_rng(rng)
    rungs = graph.rungs
    contracted, node_of = _contract(graph, size, rungs)
    worker = _Partitioner(contracted, size, rng, trees, strong_tier, balance)
    worker.run()
    fixed = {int(worker.labels[i.nodes[0]]) for i in worker.issues if i.reason.startswith("one indivisible")}
    moves = refine_labels(contracted, worker.labels, size, set(fixed), balance=refine)
    verdicts: dict[int, tuple[str, str]] = {}
    budget = StepBudget(exact.call_steps) if exact is not None else None
    skip = set(worker.infeasible_pieces)
    if exact is not None:
        verdicts, replaced = prove_pieces(contracted, worker.labels, worker.piece_of, size, fixed=fixed, skip=skip, limits=exact, budget=budget)
        if replaced and refine:
            moves += refine_labels(contracted, worker.labels, size, set(fixed), balance=True)
    labels, piece_of, level_of = worker.labels, worker.piece_of, node_of
    # a group kept whole may leave a unit out of range: rung by rung (compounds, then buildings, then
    # their parts), repair ranges on the finer nodes, dividing a group only where that brings units into range
    for r in range(1, len(rungs) + 1):
        finer, fine_of = _contract(graph, size, rungs[r:]) if r < len(rungs) else (graph, np.arange(graph.n))
        labels = _finer(labels, level_of, fine_of, finer.n)
        piece_of = _finer(piece_of, level_of, fine_of, finer.n)
        level_of = fine_of
        unit_hh = np.bincount(labels, weights=finer.households)
        if not ((unit_hh < size.lo) | (unit_hh > size.hi)).any():
            continue
        moves += refine_labels(finer, labels, size, set(fixed), balance=False)
        if exact is not None:
            # a coarser rung's proof (its atoms could not be grouped) does not hold for finer atoms: search again
            fine, _ = prove_pieces(finer, labels, piece_of, size, fixed=fixed, skip=skip, limits=exact, budget=budget)
            verdicts.update(fine)
    labels = labels[level_of]
    piece_of = piece_of[level_of]
    _join_empty_units(graph, labels, strong_tier)
    log.debug("refinement: %d moves", moves)
    labels = np.unique(labels, return_inverse=True)[1].ravel()  # units that joined a neighbour leave gaps
    issues = tuple(
        PieceIssue(tuple(int(x) for x in np.flatnonzero(np.isin(node_of, list(i.nodes)))), i.households, i.reason, i.resolution, i.kind)
        for i in worker.issues
    )
    # every unit still out of range is reported, also when its piece was feasible on paper
    covered = {int(labels[x]) for i in issues for x in i.nodes}
    unit_hh = np.bincount(labels, weights=graph.households)
    for u in np.flatnonzero((unit_hh < size.lo) | (unit_hh > size.hi)):
        if int(u) not in covered:
            nodes = np.flatnonzero(labels == u)
            kind, why = verdicts.get(int(piece_of[nodes[0]]), (
                "limit", "no contiguous cut of the buildings here was found" + ("" if exact is None else " (no exact search ran: the step budget was spent)")))
            issues = (*issues, PieceIssue(tuple(int(x) for x in nodes), float(unit_hh[u]), f"{unit_hh[u]:g} households, outside {size}: {why}",
                                          "kept as the closest unit found", kind))
    return Partition(labels, issues, worker.cv_bound)
