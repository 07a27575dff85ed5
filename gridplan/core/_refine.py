"""Boundary moves between neighbouring units: range repair, then balance (internal to the partitioner)."""
from __future__ import annotations

import numpy as np

from ..config import SizeRange
from .unitgraph import UnitGraph


def refine_labels(graph: UnitGraph, labels: np.ndarray, size: SizeRange, fixed: set[int], *, rounds: int = 30, balance: bool = True) -> int:
    """Move boundary nodes between neighbouring units to bring units into range, then to balance them.

    A move takes node ``v`` from unit A to a unit B it touches through a block or soft-street edge (never
    only through a tier-2 edge, so no new strong-road crossing appears), and only if A stays connected
    and keeps households. Range repair accepts a move that lowers the summed range violation of A and B;
    the balance pass one that keeps both in range and brings them closer to the target without
    lengthening the cut much. Returns the number of moves.
    """
    n = graph.n
    if n == 0 or len(graph.edges) == 0:
        return 0
    hh = graph.households
    e = graph.edges
    src = np.concatenate([e[:, 0], e[:, 1]])
    dst = np.concatenate([e[:, 1], e[:, 0]])
    tier = np.concatenate([graph.tier, graph.tier])
    cost = np.concatenate([graph.cost, graph.cost])
    order = np.argsort(src, kind="stable")
    src, dst, tier, cost = src[order], dst[order], tier[order], cost[order]
    ptr = np.searchsorted(src, np.arange(n + 1))
    nbrs = [dst[ptr[v] : ptr[v + 1]].tolist() for v in range(n)]
    ntier = [tier[ptr[v] : ptr[v + 1]].tolist() for v in range(n)]
    ncost = [cost[ptr[v] : ptr[v + 1]].tolist() for v in range(n)]
    units = int(labels.max()) + 1
    unit_hh = np.bincount(labels, weights=hh, minlength=units).tolist()
    members: list[set[int]] = [set() for _ in range(units)]
    for v, u in enumerate(labels.tolist()):
        members[u].add(v)
    lo, hi, target = size.lo, size.hi, size.target

    def viol(h: float) -> float:
        return max(0.0, lo - h, h - hi) / target

    def stays_connected(u: int, vs: tuple[int, ...]) -> bool:
        rest = members[u] - set(vs)
        if not rest or sum(hh[x] for x in rest) <= 0:
            return False
        start = next(iter(rest))
        seen = {start}
        stack = [start]
        while stack:
            x = stack.pop()
            for y in nbrs[x]:
                if y in rest and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return len(seen) == len(rest)

    def candidates(u: int):
        """Moves (nodes, a, b) on the boundary of unit u: the nodes leave a for b; one of a, b is u.

        A node with households may bring along one empty node (land with no households) that stands
        between it and the other unit, so empty land does not block a move.
        """
        for v in members[u]:
            for x, t in zip(nbrs[v], ntier[v]):
                w = int(labels[x])
                if w == u or w in fixed or t == 2:
                    continue
                yield (v,), u, w  # give v to w
                yield (x,), w, u  # take x from w
                if hh[v] <= 0:  # v is empty: give it with a neighbour of it in u
                    for y in nbrs[v]:
                        if labels[y] == u and hh[y] > 0:
                            yield (v, y), u, w
                if hh[x] <= 0:  # x is empty: take it with a neighbour of it in w
                    for y in nbrs[x]:
                        if labels[y] == w and hh[y] > 0:
                            yield (x, y), w, u

    def delta_cut(vs: tuple[int, ...], a: int, b: int) -> float:
        d = 0.0
        for v in vs:
            for x, c in zip(nbrs[v], ncost[v]):
                if x in vs:
                    continue
                if labels[x] == a:
                    d += c
                elif labels[x] == b:
                    d -= c
        return d

    moves = 0
    for phase in ("range", "balance") if balance else ("range",):
        for _ in range(rounds):
            changed = False
            if phase == "range":
                todo = sorted((u for u in range(units) if u not in fixed and viol(unit_hh[u]) > 0), key=lambda u: -viol(unit_hh[u]))
            else:
                todo = sorted((u for u in range(units) if u not in fixed), key=lambda u: -abs(unit_hh[u] - target))
            for u in todo:
                if phase == "range" and unit_hh[u] < lo and members[u]:
                    # a unit too small to stand may join a neighbour whole, if the two fit as one
                    joins = {int(labels[x]) for v in members[u] for x, t in zip(nbrs[v], ntier[v]) if t != 2} - {u} - fixed
                    joins = [w for w in joins if unit_hh[w] + unit_hh[u] <= hi]
                    if joins:
                        w = min(joins, key=lambda w: (abs(unit_hh[w] + unit_hh[u] - target), w))
                        for v in members[u]:
                            labels[v] = w
                        members[w] |= members[u]
                        members[u] = set()
                        unit_hh[w] += unit_hh[u]
                        unit_hh[u] = 0.0
                        fixed.add(u)  # gone: never a target again
                        moves += 1
                        changed = True
                        continue
                best = None
                for v, a, b in candidates(u):
                    h = float(sum(hh[x] for x in v))
                    ha, hb = unit_hh[a] - h, unit_hh[b] + h
                    if phase == "range":
                        gain = viol(ha) + viol(hb) - viol(unit_hh[a]) - viol(unit_hh[b])
                        if gain >= -1e-9:
                            continue
                        key = (gain, delta_cut(v, a, b))
                    else:
                        if h <= 0 or viol(ha) > 0 or viol(hb) > 0:
                            continue
                        gain = ((ha - target) ** 2 + (hb - target) ** 2 - (unit_hh[a] - target) ** 2 - (unit_hh[b] - target) ** 2) / target**2
                        dc = delta_cut(v, a, b)
                        own = sum(sum(ncost[x]) for x in v)
                        if gain >= -0.005 or dc > 0.5 * own:
                            continue
                        key = (gain + 0.002 * dc / max(own, 1e-9), dc)
                    if best is None or key < best[0]:
                        if stays_connected(a, v):
                            best = (key, v, a, b)
                if best is not None:
                    _, v, a, b = best
                    for x in v:
                        members[a].discard(x)
                        members[b].add(x)
                        labels[x] = b
                        unit_hh[a] -= hh[x]
                        unit_hh[b] += hh[x]
                    moves += 1
                    changed = True
            if not changed:
                break
    return moves

