"""Exact answers for small pieces: a plan in range when one exists, else a proof that none does.

:func:`search` partitions a small connected graph into contiguous units whose households all lie in a
:class:`~gridplan.config.SizeRange`, by depth-first search over connected sets: the unit holding the
lowest-numbered unplaced node is chosen among every connected set of in-range weight that holds it
(nearest the piece's mean first, then along the cheapest boundary); what is left falls apart into
components, each of which must pass the counting check (some count of units fits its households) and
is then solved on its own; components proved impossible are remembered by their node bitmask. A branch
stops early when a part of what is left can no longer change and fails the counting check. The search is complete, so ``"none"`` is a proof
that no contiguous in-range partition exists. It counts its steps and stops at a budget (never a clock),
so the same graph gives the same answer on any machine.

:func:`grouping_feasible` ignores contiguity: can the atoms' weights be grouped at all into sums in
range? "7 towers of 208 at 300:500" cannot (only pairs fit, and 7 is odd), which is a counting proof.

Examples
--------
A star: three towers of 250 households around a gate house of 10, 300:500 per grid::

        1
        |
    2 - 0 - 3

Two grids of 380 would fit the total, but every tower reaches the others only through node 0::

>>> import numpy as np
>>> from gridplan.config import SizeRange
>>> from gridplan.core.unitgraph import UnitGraph
>>> star = UnitGraph([10, 250, 250, 250], [[0, 1], [0, 2], [0, 3]], [1, 1, 1], [0, 0, 0])
>>> r = search(star, SizeRange(300, 500))
>>> r.status, r.labels
('none', None)

A path of 150 - 104 - 104 - 150 (a tower of 208 by its two entrances between two blocks of 150)::

>>> path = UnitGraph([150, 104, 104, 150], [[0, 1], [1, 2], [2, 3]], [1, 1, 1], [0, 0, 0])
>>> r = search(path, SizeRange(200, 300))
>>> r.status, r.labels.tolist()
('found', [0, 0, 1, 1])
>>> grouping_feasible(np.full(7, 208.0), SizeRange(300, 500), budget=10_000)
False
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..config import SizeRange, counts_in_range
from .unitgraph import UnitGraph

__all__ = ["ExactLimits", "ExactResult", "search", "grouping_feasible"]


@dataclass(frozen=True)
class ExactLimits:
    """Deterministic limits of the exact search (steps, never seconds).

    ``max_atoms``: the largest piece searched; ``steps``: the budget of one search; ``call_steps``: the
    budget shared by all searches of one :func:`~gridplan.core.partition.partition` call;
    ``local_atoms``: the largest neighbourhood of an out-of-range unit searched when the whole piece
    ran out of steps.
    """

    max_atoms: int = 40
    steps: int = 200_000
    call_steps: int = 2_000_000
    local_atoms: int = 24


@dataclass(frozen=True)
class ExactResult:
    """``status``: ``found`` (``labels`` 0..k-1 per node), ``none`` (proved impossible), ``limit`` (the
    budget ran out) or ``skipped`` (the graph is bigger than ``max_atoms``); ``steps`` used."""

    status: Literal["found", "none", "limit", "skipped"]
    labels: np.ndarray | None
    steps: int
    method: str = "dfs"


#: Connected sets the search sorts at a time (nearest the mean first) before it tries them.
BATCH = 256


class _OutOfSteps(Exception):
    pass


def _rim_order(graph: UnitGraph) -> np.ndarray:
    """Nodes breadth-first from a node farthest from node 0 (component by component), so that the
    lowest-numbered node left is always on the rim of what is left."""
    n = graph.n
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in graph.edges.tolist():
        adj[a].append(b)
        adj[b].append(a)

    def bfs(start: int, seen: list[bool]) -> list[int]:
        out, seen[start] = [start], True
        for x in out:
            for y in sorted(adj[x]):
                if not seen[y]:
                    seen[y] = True
                    out.append(y)
        return out

    order: list[int] = []
    done = [False] * n
    for s in range(n):
        if done[s]:
            continue
        far = bfs(s, [False] * n)[-1]
        order += bfs(far, done)
    return np.asarray(order, dtype=np.int64)


def _first_seen(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. in the order they first appear."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.ravel()]


def _fits(total: float, size: SizeRange) -> bool:
    return len(counts_in_range(total, size)) > 0


def search(graph: UnitGraph, size: SizeRange, *, limits: ExactLimits = ExactLimits()) -> ExactResult:
    """Partition ``graph`` into contiguous units of ``size`` households, or prove that none exists.

    Parameters
    ----------
    graph
        A small graph (at most ``limits.max_atoms`` nodes); it need not be connected.
    size
        The range every unit must meet.
    limits
        The node and step budgets.

    Returns
    -------
    ExactResult
        ``found`` with labels numbered by lowest node, ``none`` (a proof), ``limit`` or ``skipped``.
    """
    n = graph.n
    if n > limits.max_atoms:
        return ExactResult("skipped", None, 0)
    if n == 0:
        return ExactResult("found", np.zeros(0, dtype=np.int64), 0)
    order = _rim_order(graph)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    w = [float(x) for x in graph.households[order]]
    nbr = [0] * n
    edge_cost: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for (a, b), c in zip(rank[graph.edges].tolist(), graph.cost.tolist()):
        nbr[a] |= 1 << b
        nbr[b] |= 1 << a
        edge_cost[a].append((1 << b, c))
        edge_cost[b].append((1 << a, c))
    lo, hi = size.lo - 1e-9, size.hi + 1e-9
    steps = [0]
    budget = limits.steps
    failed: set[int] = set()
    solved: dict[int, list[int]] = {}

    def tick() -> None:
        steps[0] += 1
        if steps[0] > budget:
            raise _OutOfSteps

    def weight(mask: int) -> float:
        total, m = 0.0, mask
        while m:
            low = m & -m
            total += w[low.bit_length() - 1]
            m ^= low
        return total

    def components(mask: int) -> list[int]:
        out = []
        while mask:
            seed = mask & -mask
            comp, frontier = seed, seed
            while frontier:
                tick()
                low = frontier & -frontier
                frontier ^= low
                new = nbr[low.bit_length() - 1] & mask & ~comp
                comp |= new
                frontier |= new
            out.append(comp)
            mask &= ~comp
        return out

    def order_key(c: tuple[float, int], mean: float) -> tuple[int, float, int]:
        """Nearest the mean first (in steps of 5 % of it), then the cheapest boundary, then by nodes."""
        ws, s = c
        cut, m = 0.0, s
        while m:
            low = m & -m
            m ^= low
            cut += sum(cost for bit, cost in edge_cost[low.bit_length() - 1] if not bit & s)
        return int(abs(ws - mean) // (0.05 * mean)), cut, s

    def dead_end(rest: int, cand: int, excl: int, ws: float) -> bool:
        """Whether no set grown from here can work: a part of ``rest`` that can no longer change fails
        the counting check, or too few households are left within reach to make the set's minimum."""
        live, frontier, free = cand, cand, rest & ~excl
        while frontier:
            low = frontier & -frontier
            frontier ^= low
            new = nbr[low.bit_length() - 1] & free & ~live
            live |= new
            frontier |= new
        if ws < lo and ws + weight(live) < lo:
            return True
        dead = rest & ~live
        while dead:
            seed = dead & -dead
            comp, frontier, touches = seed, seed, False
            while frontier:
                low = frontier & -frontier
                frontier ^= low
                around = nbr[low.bit_length() - 1] & rest
                touches = touches or bool(around & live)
                new = around & dead & ~comp
                comp |= new
                frontier |= new
            dead &= ~comp
            if not touches and not _fits(weight(comp), size):
                return True
        return False

    def candidates(mask: int, mean: float):
        """Every connected set in ``mask`` holding its lowest node, with weight in range: in batches of
        :data:`BATCH`, each nearest ``mean`` first."""
        v = mask & -mask
        found: list[tuple[float, int]] = []
        stack = [(v, w[v.bit_length() - 1], nbr[v.bit_length() - 1] & mask, 0)]
        while stack:
            tick()
            s, ws, cand, excl = stack.pop()
            if dead_end(mask & ~s, cand, excl, ws):
                continue
            if ws >= lo:
                found.append((ws, s))
                if len(found) >= BATCH:
                    yield from sorted(found, key=lambda c: order_key(c, mean))
                    found = []
            while cand:
                u = cand & -cand
                cand ^= u
                wu = w[u.bit_length() - 1]
                if ws + wu <= hi:
                    grown = cand | (nbr[u.bit_length() - 1] & mask & ~s & ~excl & ~u)
                    stack.append((s | u, ws + wu, grown, excl))
                excl |= u
        yield from sorted(found, key=lambda c: order_key(c, mean))

    def solve(mask: int) -> list[int] | None:
        """Units (bitmasks) partitioning the connected ``mask``, or None when there are none."""
        if mask in solved:
            return solved[mask]
        if mask in failed:
            return None
        total = weight(mask)
        if not _fits(total, size):
            failed.add(mask)
            return None
        ks = counts_in_range(total, size)
        mean = total / min(ks, key=lambda k: (abs(total / k - size.target), k))
        for ws, s in candidates(mask, mean):
            rest = components(mask & ~s)
            if not all(_fits(weight(c), size) for c in rest):
                continue
            plan = [s]
            for c in rest:
                sub = solve(c)
                if sub is None:
                    plan = None
                    break
                plan += sub
            if plan is not None:
                solved[mask] = plan
                return plan
        failed.add(mask)
        return None

    try:
        units: list[int] = []
        for comp in components((1 << n) - 1):
            sub = solve(comp)
            if sub is None:
                return ExactResult("none", None, steps[0])
            units += sub
    except _OutOfSteps:
        return ExactResult("limit", None, budget)
    ranked = np.empty(n, dtype=np.int64)
    for u, m in enumerate(units):
        for i in range(n):
            if m >> i & 1:
                ranked[i] = u
    labels = ranked[rank]
    return ExactResult("found", _first_seen(labels), steps[0])


def grouping_feasible(weights: np.ndarray, size: SizeRange, *, budget: int = 100_000) -> bool | None:
    """Whether ``weights`` can be grouped (ignoring contiguity) into sums that all lie in ``size``.

    Atoms with no weight join any group, so they are ignored. Returns None when there are more than six
    distinct weights or the budget of states runs out (nothing proved).

    Examples
    --------
    >>> grouping_feasible(np.array([208.0] * 6), SizeRange(300, 500))
    True
    >>> grouping_feasible(np.array([208.0] * 6 + [10.0]), SizeRange(300, 500))  # a pair takes the 10
    True
    >>> grouping_feasible(np.array([600.0, 100.0]), SizeRange(300, 500))
    False
    """
    w = np.asarray(weights, dtype=float)
    w = w[w > 0]
    if not len(w):
        return False
    if (w > size.hi + 1e-9).any():
        return False
    values, counts = np.unique(w, return_counts=True)
    if len(values) > 6:
        return None
    values = values[::-1].tolist()  # heaviest first
    lo, hi = size.lo - 1e-9, size.hi + 1e-9
    seen: dict[tuple[int, ...], bool] = {}
    states = [0]

    def groups(rest: tuple[int, ...], first: int):
        """Sub-vectors of ``rest`` holding one atom of type ``first``, with an in-range sum."""
        def rec(i: int, taken: list[int], total: float):
            if i == len(rest):
                if total >= lo:
                    yield tuple(taken)
                return
            top = rest[i] - (1 if i == first else 0)
            for c in range(top + 1):
                t = total + c * values[i]
                if t > hi:
                    break
                yield from rec(i + 1, taken + [c + (1 if i == first else 0)], t)
        yield from rec(0, [], values[first])

    def ok(rest: tuple[int, ...]) -> bool:
        if not any(rest):
            return True
        if rest in seen:
            return seen[rest]
        states[0] += 1
        if states[0] > budget:
            raise _OutOfSteps
        first = next(i for i, c in enumerate(rest) if c)
        result = any(ok(tuple(r - g for r, g in zip(rest, grp))) for grp in groups(rest, first))
        seen[rest] = result
        return result

    try:
        return ok(tuple(int(c) for c in counts[::-1]))
    except _OutOfSteps:
        return None
