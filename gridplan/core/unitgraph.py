"""The plain graph the partitioner works on, and what a partition returns (no geopandas here).

A :class:`UnitGraph` holds households (or whatever the ranges count) on its nodes and a cut cost and a
barrier tier on its edges; :class:`Partition` holds the labels and a :class:`PieceIssue` for every piece
that could not be planned in range, with the kind of proof behind it.

Examples
--------
>>> g = UnitGraph.lattice(2, 2, households=100)
>>> g.n, g.edges.tolist()
(4, [[0, 1], [2, 3], [0, 2], [1, 3]])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..config import SizeRange, counts_in_range

__all__ = ["UnitGraph", "Partition", "PieceIssue", "ProofKind", "PROOF_KINDS", "least_bad_count", "as_rng", "gap"]

def as_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed, a Generator or None (seed 0): never the global RNG."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)



@dataclass(frozen=True)
class UnitGraph:
    """Nodes with households; undirected edges ``(i, j)`` with a cut ``cost`` and a barrier ``tier``.

    ``group`` and ``building`` (optional) are the keep-together rungs, coarsest first: each node's gated
    compound and, for the parts of a divided building, its building; -1 for none. The partitioner keeps a
    group whole wherever it fits in one unit (the compound if it fits, else each building).
    """

    households: np.ndarray
    edges: np.ndarray
    cost: np.ndarray
    tier: np.ndarray
    group: np.ndarray | None = None
    building: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "households", np.asarray(self.households, dtype=float))
        object.__setattr__(self, "edges", np.asarray(self.edges, dtype=np.int64).reshape(-1, 2))
        object.__setattr__(self, "cost", np.asarray(self.cost, dtype=float))
        object.__setattr__(self, "tier", np.asarray(self.tier, dtype=np.int8))
        for name in ("group", "building"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.households)

    def subgraph(self, nodes: np.ndarray) -> tuple[UnitGraph, np.ndarray]:
        """The graph induced by ``nodes`` (renumbered 0..) and the indices of the edges it kept."""
        nodes = np.asarray(nodes, dtype=np.int64)
        local = np.full(self.n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        keep = np.flatnonzero((local[self.edges[:, 0]] >= 0) & (local[self.edges[:, 1]] >= 0))
        sub = UnitGraph(
            self.households[nodes],
            local[self.edges[keep]],
            self.cost[keep],
            self.tier[keep],
            None if self.group is None else self.group[nodes],
            None if self.building is None else self.building[nodes],
        )
        return sub, keep

    @property
    def rungs(self) -> tuple[np.ndarray, ...]:
        """The keep-together rungs present (``group``, then ``building``), coarsest first."""
        return tuple(r for r in (self.group, self.building) if r is not None and (r >= 0).any())

    def without_groups(self) -> UnitGraph:
        """The same graph without compounds; buildings stay kept together."""
        return UnitGraph(self.households, self.edges, self.cost, self.tier, None, self.building)

    @classmethod
    def lattice(cls, rows: int, cols: int, *, households: float | np.ndarray = 1.0) -> UnitGraph:
        """A rows × cols lattice (4-neighbour), numbered row by row: handy for tests and examples."""
        idx = np.arange(rows * cols).reshape(rows, cols)
        e = np.vstack([np.c_[idx[:, :-1].ravel(), idx[:, 1:].ravel()], np.c_[idx[:-1].ravel(), idx[1:].ravel()]])
        hh = np.broadcast_to(np.asarray(households, dtype=float), (rows * cols,)).copy()
        return cls(hh, e, np.ones(len(e)), np.zeros(len(e), dtype=np.int8))



#: How a shortfall is proven: ``counting`` (no count of units fits the households, an atom is above the
#: maximum, or the atoms' weights cannot be grouped in range), ``exact`` (an exact search of the piece
#: found no contiguous partition in range) or ``limit`` (neither finished within its step budget).
ProofKind = Literal["counting", "exact", "limit"]
PROOF_KINDS: tuple[str, ...] = ("counting", "exact", "limit")


@dataclass(frozen=True)
class PieceIssue:
    """A piece that could not be planned as asked: the reason, what was done, and the kind of proof."""

    nodes: tuple[int, ...]
    households: float
    reason: str
    resolution: str
    kind: ProofKind = "counting"


@dataclass(frozen=True)
class Partition:
    """``labels[i]`` is the unit of node ``i`` (0..count-1); ``issues`` lists every infeasible piece.

    ``cv_bound`` is the lowest coefficient of variation of unit households the pieces and their atoms
    allow (each piece water-filled over its unit count, contiguity ignored: a lower bound).
    """

    labels: np.ndarray
    issues: tuple[PieceIssue, ...] = field(default_factory=tuple)
    cv_bound: float = 0.0

    @property
    def count(self) -> int:
        """Number of units."""
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def least_bad_count(total: float, size: SizeRange) -> tuple[int, float]:
    """The unit count for ``total`` households with the smallest relative deviation from ``size``.

    Returns the count and that deviation (0 when the count is feasible).

    Examples
    --------
    >>> least_bad_count(550, SizeRange(300, 500))  # two grids of 275 beat one of 550
    (2, 0.0833...)
    >>> least_bad_count(800, SizeRange(300, 500))
    (2, 0.0)
    """
    ok = counts_in_range(total, size)
    if len(ok):
        ideal = total / size.target
        return min(ok, key=lambda k: (abs(k - ideal), k)), 0.0
    if total <= 0:
        return 1, 1.0
    best = None
    for k in range(max(1, math.floor(total / size.hi)), math.ceil(total / size.lo) + 1):
        avg = total / k
        dev = max(0.0, avg / size.hi - 1.0, 1.0 - avg / size.lo)
        if best is None or dev < best[1] - 1e-12:
            best = (k, dev)
    return best


def gap(total: float, size: SizeRange) -> float:
    """How far ``total`` is from being splittable in range (0 when feasible); empty pieces count as 1."""
    return 1.0 if total <= 0 else least_bad_count(total, size)[1]

