"""The planner: the cells and graph of one input, the per-level state and the level loop.

This is what :func:`gridplan.plan`, re-districting (:mod:`gridplan.planning.split`) and re-plans
(:mod:`gridplan.planning.replan`) share: a :class:`Planner` builds the cells and their graph once, plans
communities and then each level inside the one above (:meth:`Planner.communities`,
:meth:`Planner.plan_level`), and :func:`gridplan.planning.assemble.assemble` turns the three
:class:`Level` objects into the :class:`~gridplan.model.Plan`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from ..config import PlanConfig, SizeRange
from ..core.atoms import divide_cells
from ..core.graph import CellGraph, cell_graph
from ..core.partition import UnitGraph, partition
from ..core.tessellate import locate, tessellate
from ..inputs.validate import PreparedInput

__all__ = ["Level", "Planner", "components", "rng_for", "TREES"]

#: Spanning trees drawn per cut, by level (0 communities, 1 grids, 2 micro-grids). Grids carry the balance
#: target (CV ≤ 0.10 within each community): 8 trees bring the sample's median from 0.100 to 0.096 and
#: mean Polsby–Popper from 0.546 to 0.549 (seeds 0–2) for about 2 s more per plan.
TREES = {0: 4, 1: 8, 2: 4}


@dataclass
class Level:
    """One level of a plan over the cells: the unit of each cell, the parent of each unit and the issues found.

    :meth:`Planner.communities` and :meth:`Planner.plan_level` make one; re-districting and re-plans build
    their own (with ``origin``, the codes units keep) and hand all three to
    :func:`gridplan.planning.assemble.assemble`. ``issues`` are dicts with ``parent`` (unit index),
    ``cells``, ``households``, ``reason`` and ``resolution``.
    """

    labels: np.ndarray  # unit per cell, -1 for excluded cells
    parent: np.ndarray  # parent unit of each unit
    issues: list[dict]
    #: per unit: the code it keeps from a previous plan (a tuple of part codes for a divided building), or None
    origin: list | None = None
    #: communities only: the 9-digit parent (street-office) code of each unit, and its name
    parent_codes: list[str] | None = None
    names: list[str] | None = None
    #: per parent unit: the lowest CV of its children the atoms allow (``Partition.cv_bound``), if known
    cv_bounds: list[float] | None = None
    #: per unit: a polygon kept exactly as it was (output CRS: a kept given community, a unit a re-plan keeps), or None
    fixed: list | None = None


def components(graph: UnitGraph, nodes: np.ndarray) -> list[np.ndarray]:
    """The connected pieces of the subgraph of ``graph`` on ``nodes``, as arrays of node ids.

    Examples
    --------
    >>> g = UnitGraph.lattice(1, 4)  # 0 - 1 - 2 - 3
    >>> [c.tolist() for c in components(g, np.array([0, 1, 3]))]
    [[0, 1], [3]]
    """
    sub, _ = graph.subgraph(nodes)
    m = sparse.coo_matrix((np.ones(len(sub.edges)), (sub.edges[:, 0], sub.edges[:, 1])), shape=(sub.n, sub.n))
    ncomp, lab = csgraph.connected_components(m, directed=False)
    return [nodes[lab == c] for c in range(ncomp)]


def rng_for(seed: int, *path: int) -> np.random.Generator:
    """The generator of one step of a plan: seeded by the plan's seed and the step's place (level, parent,
    attempt, ...), so every step draws the same numbers whatever ran before it.

    Examples
    --------
    >>> float(rng_for(0, 1, 2).random()) == float(rng_for(0, 1, 2).random())
    True
    """
    return np.random.default_rng([seed, *path])


class Planner:
    """The cells and adjacency graph of one prepared input, and the level loop over them.

    After :meth:`build_graph`: ``tess`` (:class:`~gridplan.core.tessellate.Tessellation`), ``atoms``
    (:class:`~gridplan.core.atoms.Atoms`: the nodes, i.e. the cells with divisible buildings cut into their
    parts), ``cg`` (:class:`~gridplan.core.graph.CellGraph` over the nodes), ``g`` (its
    :class:`~gridplan.core.partition.UnitGraph`), ``land`` (the polygon each node brings to a unit),
    ``bld_per_cell`` (buildings per node), ``node_of_building`` (a building's node: its only one, or
    its first part's) and ``pair_node``/``pair_building`` (every node a building stands on). After :meth:`communities`: ``excluded`` (cells left out) and ``community_source``
    (the given community of each unit, or None). ``prep``, ``cfg`` and ``b`` (the buildings) are the inputs.
    Re-districting sets ``extra_report`` (merged into the report) and ``formed_from``.

    Examples
    --------
    >>> from gridplan.config import PlanConfig
    >>> from gridplan.inputs.validate import prepare
    >>> from gridplan.sample import make_district
    >>> d = make_district(households=3000, communities=1)
    >>> pl = Planner(prepare(d.buildings, d.roads), PlanConfig(seed=1), None)
    >>> pl.build_graph()
    >>> comm = pl.communities()
    >>> grids = pl.plan_level(comm, pl.cfg.grid, 1, strong_tier=2, use_groups=True)
    >>> len(grids.parent) == int(grids.labels.max()) + 1, bool((grids.labels[~pl.excluded] >= 0).all())
    (True, True)
    """

    def __init__(self, prep: PreparedInput, cfg: PlanConfig, progress: Callable[[str, int], None] | None):
        self.prep = prep
        self.cfg = cfg
        self.progress = progress or (lambda stage, n: None)
        #: ``progress.total(stage, n)``, when the callback has one: how many steps a stage will take
        self.total = getattr(progress, "total", None) or (lambda stage, n: None)
        self.b = prep.buildings

    # ---- cells and graph ---------------------------------------------------------------------------
    def build_graph(self, extra_lines: np.ndarray | None = None) -> None:
        """Cells and their adjacency graph; ``extra_lines`` (work CRS) also cut the blocks (a re-plan
        passes the previous plan's unit boundaries, so every new cell lies inside one previous unit)."""
        b, comm = self.b, self.prep.communities
        area = extra = None
        if comm is not None:
            area = shapely.make_valid(shapely.union_all(comm.geometry.values))
            extra = shapely.boundary(np.asarray(comm.geometry.values, dtype=object))
        if extra_lines is not None and len(extra_lines):
            extra = np.concatenate([extra, extra_lines]) if extra is not None else np.asarray(extra_lines, dtype=object)
        self.tess = tessellate(b.geometry, self.prep.barriers, area=area, extra_lines=extra, progress=lambda n: self.progress("cells", n),
                                total=lambda n: self.total("cells", n))
        compound = b["compound"] if "compound" in b.columns else pd.Series([None] * len(b))
        compound = compound.where(compound.notna() & (compound.astype(str).str.strip() != ""), None)
        group = pd.factorize(compound, use_na_sentinel=True)[0]
        hh = b["households"].to_numpy(dtype=float)
        cells = cell_graph(self.tess, self.prep.barriers, households=hh, group=group)
        self.cg, self.atoms = divide_cells(cells, self.tess, np.asarray(b.geometry.values, dtype=object), hh,
                                           units=b["units"].to_numpy(dtype=float) if "units" in b.columns else None,
                                           levels=b["levels"].to_numpy(dtype=float) if "levels" in b.columns else None,
                                           size=self.cfg.micro, weight=self.weights(), compound=group)
        self.g = self.cg.graph
        self.land = self.atoms.land
        # buildings per node: a divided building counts once, on its first part (whose node is its cell)
        self.bld_per_cell = np.r_[np.bincount(self.tess.cell_of_building, minlength=self.atoms.n_cells),
                                  np.zeros(self.g.n - self.atoms.n_cells, dtype=np.int64)]
        self.node_of_building = self.tess.cell_of_building
        #: every (node, building) pair (:meth:`~gridplan.core.atoms.Atoms.building_nodes`)
        self.pair_node, self.pair_building = self.atoms.building_nodes(self.node_of_building)

    def nodes_of_buildings(self, mask: np.ndarray) -> np.ndarray:
        """The nodes holding any of the buildings ``mask`` selects (every part of a divided one)."""
        out = np.zeros(self.g.n, bool)
        out[self.pair_node[np.asarray(mask)[self.pair_building]]] = True
        return out

    def atoms_population(self) -> np.ndarray:
        """Persons per node: each building's ``population`` (households × persons per household where the
        input has none) shared over its parts in proportion to their households."""
        b = self.b
        pop = b["population"].to_numpy(dtype=float) if "population" in b.columns else b["households"].to_numpy(dtype=float) * self.cfg.persons_per_household
        return self.atoms.spread(pop, self.tess.cell_of_building)

    def weights(self) -> np.ndarray:
        """What the ranges count per building: households, or persons with ``balance="population"``."""
        if self.cfg.balance == "population":
            return self.b["population"].to_numpy(dtype=float)
        return self.b["households"].to_numpy(dtype=float)

    # ---- levels ------------------------------------------------------------------------------------
    def plan_level(self, parents: Level | None, size: SizeRange, level: int, strong_tier: int | None, use_groups: bool) -> Level:
        """Partition each parent unit's cells (or the whole graph) into units of ``size``."""
        g = self.g if use_groups else self.g.without_groups()
        labels = np.full(g.n, -1, dtype=np.int64)
        parent_of: list[int] = []
        issues: list[dict] = []
        bounds: list[float] = []
        if parents is None:
            scopes = [np.flatnonzero(np.ones(g.n, bool))]
        else:
            order = np.argsort(parents.labels, kind="stable")
            cut = np.searchsorted(parents.labels[order], np.arange(parents.labels.max() + 2))
            scopes = [order[cut[p] : cut[p + 1]] for p in range(len(cut) - 1)]
        self.total(("communities", "grids", "micro-grids")[level], len(scopes))
        for p, scope in enumerate(scopes):
            sub, _ = g.subgraph(scope)
            result = partition(sub, size, rng=rng_for(self.cfg.seed, level, p), strong_tier=strong_tier, trees=TREES[level])
            labels[scope] = result.labels + len(parent_of)
            for issue in result.issues:
                issues.append({"parent": p, "cells": scope[list(issue.nodes)], "households": issue.households, "reason": issue.reason, "resolution": issue.resolution, "kind": issue.kind})
            bounds.append(result.cv_bound)
            parent_of.extend([p] * result.count)
            self.progress(("communities", "grids", "micro-grids")[level], 1)
        return Level(labels, np.asarray(parent_of, dtype=np.int64), issues, cv_bounds=bounds)

    def communities(self) -> Level:
        """Given community polygons, or a partition of the graph with the community range."""
        comm = self.prep.communities
        keep = np.zeros(self.g.n, bool)
        for comp in components(self.g, np.arange(self.g.n)):
            keep[comp] = self.bld_per_cell[comp].sum() > 0
        self.excluded = ~keep
        if comm is None:
            sub, _ = self.g.subgraph(np.flatnonzero(keep))
            result = partition(sub, self.cfg.community, rng=rng_for(self.cfg.seed, 0), strong_tier=None)
            labels = np.full(self.g.n, -1, dtype=np.int64)
            labels[keep] = result.labels
            idx = np.flatnonzero(keep)
            issues = [{"parent": 0, "cells": idx[list(i.nodes)], "households": i.households, "reason": i.reason, "resolution": i.resolution, "kind": i.kind} for i in result.issues]
            self.community_source = None
            return Level(labels, np.zeros(result.count, dtype=np.int64), issues)
        which = locate(shapely.point_on_surface(self.tess.cells), comm.geometry.values)[self.atoms.cell]
        # inside each community, land cut off from every building is left out
        for c in range(len(comm)):
            cells = np.flatnonzero(which == c)
            for comp in components(self.g, cells) if len(cells) else []:
                if self.bld_per_cell[comp].sum() == 0:
                    which[comp] = -1
        self.excluded = which < 0
        present = np.unique(which[which >= 0])
        relabel = np.full(len(comm), -1, dtype=np.int64)
        relabel[present] = np.arange(len(present))
        self.community_source = present
        labels = np.where(which >= 0, relabel[np.maximum(which, 0)], -1)
        return Level(labels, np.zeros(len(present), dtype=np.int64), [])
