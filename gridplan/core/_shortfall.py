"""Pieces left with a unit out of range: repair them with an exact plan, or prove why none exists.

Internal to :func:`gridplan.core.partition.partition`. For each piece that still holds a unit out of
range after the heuristic, in order: the grouping proof (the atoms' weights cannot be grouped in range:
*counting*); the exact search on the whole piece when it is small enough (a plan found replaces the
heuristic's; none found: *exact*; budget spent: *limit*); for a bigger piece, an exact search on the
out-of-range unit and its neighbouring units (a plan found is used; none proves nothing: *limit*).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..config import SizeRange
from .exact import ExactLimits, grouping_feasible, search
from .unitgraph import UnitGraph

#: Most states of the grouping proof per piece.
GROUPING_STATES = 100_000


class StepBudget:
    """Steps left for every exact search of one partition call (deterministic: steps, never seconds)."""

    def __init__(self, steps: int):
        self.left = int(steps)

    def limits(self, limits: ExactLimits) -> ExactLimits:
        return replace(limits, steps=max(0, min(limits.steps, self.left)))

    def spend(self, steps: int) -> None:
        self.left -= steps


def _out_units(labels: np.ndarray, hh: np.ndarray, size: SizeRange, fixed: set[int]) -> list[int]:
    unit_hh = np.bincount(labels, weights=hh)
    used = np.bincount(labels) > 0  # a unit that joined a neighbour leaves its label unused
    bad = np.flatnonzero(used & ((unit_hh < size.lo - 1e-9) | (unit_hh > size.hi + 1e-9)))
    return [int(u) for u in bad if int(u) not in fixed]


def _relabel(labels: np.ndarray, nodes: np.ndarray, plan: np.ndarray) -> None:
    labels[nodes] = int(labels.max()) + 1 + plan


def _region(graph: UnitGraph, labels: np.ndarray, members: np.ndarray, unit: int, max_atoms: int) -> np.ndarray:
    """The nodes of ``unit`` and of the units around it (nearest first), at most ``max_atoms`` in all."""
    inside = np.isin(np.arange(graph.n), members)
    taken = {unit}
    nodes = list(np.flatnonzero(labels == unit))
    frontier = [unit]
    e = graph.edges
    while frontier:
        u = frontier.pop(0)
        mine = labels[e[:, 0]] == u
        touch = np.r_[labels[e[mine, 1]], labels[e[labels[e[:, 1]] == u, 0]]]
        ends = np.r_[e[mine, 1], e[labels[e[:, 1]] == u, 0]]
        for w in dict.fromkeys(int(x) for x, y in zip(touch, ends) if inside[y]):
            if w in taken:
                continue
            extra = np.flatnonzero(labels == w)
            if len(nodes) + len(extra) > max_atoms:
                continue
            taken.add(w)
            nodes += extra.tolist()
            frontier.append(w)
    return np.asarray(sorted(nodes), dtype=np.int64)


def prove_pieces(graph: UnitGraph, labels: np.ndarray, piece_of: np.ndarray, size: SizeRange, *, fixed: set[int],
                 skip: set[int], limits: ExactLimits, budget: StepBudget) -> tuple[dict[int, tuple[str, str]], int]:
    """Repair or explain every piece holding a unit out of range; ``labels`` is changed in place.

    Returns the verdict per piece, ``piece -> (kind, reason)``, for pieces still out of range, and the
    number of pieces where an exact plan replaced the heuristic's.
    """
    hh = graph.households
    verdicts: dict[int, tuple[str, str]] = {}
    replaced = 0
    pieces = sorted({int(piece_of[np.flatnonzero(labels == u)[0]]) for u in _out_units(labels, hh, size, fixed)} - skip - {-1})
    for p in pieces:
        members = np.flatnonzero(piece_of == p)
        sub, _ = graph.subgraph(members)
        total = float(sub.households.sum())
        n = sub.n
        grouped = grouping_feasible(sub.households, size, budget=GROUPING_STATES)
        if grouped is False:
            values = ", ".join(f"{v:g}" for v in np.unique(sub.households[sub.households > 0])[::-1][:6])
            verdicts[p] = ("counting", f"the {n} atoms of this piece ({total:g} households; weights {values}) cannot be grouped into units of {size} in any way")
            continue
        stopped = None  # steps of a whole-piece search that hit its limit
        if n <= limits.max_atoms:
            res = search(sub, size, limits=budget.limits(limits))
            budget.spend(res.steps)
            if res.status == "found":
                _relabel(labels, members, res.labels)
                replaced += 1
                continue
            if res.status == "none":
                verdicts[p] = ("exact", f"an exact search of the {n} atoms of this piece ({total:g} households, {res.steps:,} steps) "
                                        f"proved that no contiguous partition into units of {size} exists")
                continue
            stopped = res.steps
        # too big for a proof, or the proof ran out of steps: search the out-of-range units and their neighbours
        cap = limits.max_atoms if stopped is None else min(limits.local_atoms, n - 1)
        tried: list[int] = []
        for _ in range(n if cap > 0 else 0):
            bad = [u for u in _out_units(labels, hh, size, fixed) if piece_of[np.flatnonzero(labels == u)[0]] == p and u not in tried]
            if not bad:
                break
            unit = bad[0]
            tried.append(unit)
            region = _region(graph, labels, members, unit, cap)
            local, _ = graph.subgraph(region)
            res = search(local, size, limits=budget.limits(limits))
            budget.spend(res.steps)
            if res.status == "found":
                _relabel(labels, region, res.labels)
                replaced += 1
                tried = []
        if any(piece_of[np.flatnonzero(labels == u)[0]] == p for u in _out_units(labels, hh, size, fixed)):
            if stopped is None:
                why = f"this piece has {n} atoms ({total:g} households), more than an exact search takes ({limits.max_atoms})"
            else:
                why = f"an exact search of the {n} atoms of this piece ({total:g} households) stopped at its limit of {stopped:,} steps with no plan and no proof"
            verdicts[p] = ("limit", f"{why}; a search of the unit and its neighbours (≤ {cap} atoms) found no plan")
    return verdicts, replaced
