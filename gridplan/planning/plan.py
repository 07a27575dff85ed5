"""The pipeline: inputs → cells → communities → grids → micro-grids → :class:`~gridplan.model.Plan`.

Examples
--------
>>> import gridplan
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> p = gridplan.plan(d.buildings, d.roads, seed=1)
>>> int(p.grids.households.sum()) == int(d.buildings.households.sum())
True
>>> p.grids.code.str.len().unique().tolist()
[15]
"""
from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from . import __version__
from .codes import sequence_codes
from .config import PlanConfig, SizeRange
from .divide import divide_building, entrance_slices
from .graph import CellGraph, cell_graph
from .metrics import level_figures
from .model import Plan
from .errors import OptionError
from .partition import UnitGraph, partition
from .tessellate import locate, tessellate
from .units import dissolve, divided_polygons, single_polygon
from .validate import PreparedInput, prepare

__all__ = ["plan"]

log = logging.getLogger(__name__)


@dataclass
class _Level:
    """Labels of one level over the cells, with the parent of each unit and the issues found."""

    labels: np.ndarray  # unit per cell, -1 for excluded cells
    parent: np.ndarray  # parent unit of each unit
    issues: list[dict]
    #: per unit: the code it keeps from a previous plan (a tuple of part codes for a divided building), or None
    origin: list | None = None
    #: communities only: the 9-digit parent (street-office) code of each unit, and its name
    parent_codes: list[str] | None = None
    names: list[str] | None = None


def _components(graph: UnitGraph, nodes: np.ndarray) -> list[np.ndarray]:
    sub, _ = graph.subgraph(nodes)
    m = sparse.coo_matrix((np.ones(len(sub.edges)), (sub.edges[:, 0], sub.edges[:, 1])), shape=(sub.n, sub.n))
    ncomp, lab = csgraph.connected_components(m, directed=False)
    return [nodes[lab == c] for c in range(ncomp)]


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([seed, *path])


class _Planner:
    def __init__(self, prep: PreparedInput, cfg: PlanConfig, progress: Callable[[str, int], None] | None):
        self.prep = prep
        self.cfg = cfg
        self.progress = progress or (lambda stage, n: None)
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
        self.tess = tessellate(b.geometry, self.prep.barriers, area=area, extra_lines=extra, progress=lambda n: self.progress("cells", n))
        compound = b["compound"] if "compound" in b.columns else pd.Series([None] * len(b))
        compound = compound.where(compound.notna() & (compound.astype(str).str.strip() != ""), None)
        group = pd.factorize(compound, use_na_sentinel=True)[0]
        self.cg: CellGraph = cell_graph(self.tess, self.prep.barriers, households=b["households"].to_numpy(), group=group)
        self.g = self.cg.graph
        self.bld_per_cell = np.bincount(self.tess.cell_of_building, minlength=self.g.n)

    # ---- levels ------------------------------------------------------------------------------------
    def plan_level(self, parents: _Level | None, size: SizeRange, level: int, strong_tier: int | None, use_groups: bool) -> _Level:
        """Partition each parent unit's cells (or the whole graph) into units of ``size``."""
        g = self.g if use_groups else UnitGraph(self.g.households, self.g.edges, self.g.cost, self.g.tier)
        labels = np.full(g.n, -1, dtype=np.int64)
        parent_of: list[int] = []
        issues: list[dict] = []
        if parents is None:
            scopes = [np.flatnonzero(np.ones(g.n, bool))]
        else:
            order = np.argsort(parents.labels, kind="stable")
            cut = np.searchsorted(parents.labels[order], np.arange(parents.labels.max() + 2))
            scopes = [order[cut[p] : cut[p + 1]] for p in range(len(cut) - 1)]
        for p, scope in enumerate(scopes):
            sub, _ = g.subgraph(scope)
            result = partition(sub, size, rng=_rng(self.cfg.seed, level, p), strong_tier=strong_tier)
            labels[scope] = result.labels + len(parent_of)
            for issue in result.issues:
                issues.append({"parent": p, "cells": scope[list(issue.nodes)], "households": issue.households, "reason": issue.reason, "resolution": issue.resolution})
            parent_of.extend([p] * result.count)
            self.progress(("communities", "grids", "micro-grids")[level], 1)
        return _Level(labels, np.asarray(parent_of, dtype=np.int64), issues)

    def communities(self) -> _Level:
        """Given community polygons, or a partition of the graph with the community range."""
        comm = self.prep.communities
        keep = np.zeros(self.g.n, bool)
        for comp in _components(self.g, np.arange(self.g.n)):
            keep[comp] = self.bld_per_cell[comp].sum() > 0
        self.excluded = ~keep
        if comm is None:
            sub, _ = self.g.subgraph(np.flatnonzero(keep))
            result = partition(sub, self.cfg.community, rng=_rng(self.cfg.seed, 0), strong_tier=None)
            labels = np.full(self.g.n, -1, dtype=np.int64)
            labels[keep] = result.labels
            idx = np.flatnonzero(keep)
            issues = [{"parent": 0, "cells": idx[list(i.nodes)], "households": i.households, "reason": i.reason, "resolution": i.resolution} for i in result.issues]
            self.community_source = None
            return _Level(labels, np.zeros(result.count, dtype=np.int64), issues)
        which = locate(shapely.point_on_surface(self.tess.cells), comm.geometry.values)
        # inside each community, land cut off from every building is left out
        for c in range(len(comm)):
            cells = np.flatnonzero(which == c)
            for comp in _components(self.g, cells) if len(cells) else []:
                if self.bld_per_cell[comp].sum() == 0:
                    which[comp] = -1
        self.excluded = which < 0
        present = np.unique(which[which >= 0])
        relabel = np.full(len(comm), -1, dtype=np.int64)
        relabel[present] = np.arange(len(present))
        self.community_source = present
        labels = np.where(which >= 0, relabel[np.maximum(which, 0)], -1)
        return _Level(labels, np.zeros(len(present), dtype=np.int64), [])


def _unit_table(geoms, codes, parents, hh, nb, cfg: PlanConfig, size: SizeRange, crs) -> gpd.GeoDataFrame:
    g = np.asarray(geoms, dtype=object)
    return gpd.GeoDataFrame(
        {
            "code": pd.array(codes, dtype="string"),
            "parent_code": pd.array(parents, dtype="string"),
            "households": np.asarray(hh, dtype=np.int64),
            "population": np.rint(np.asarray(hh, dtype=float) * cfg.persons_per_household).astype(np.int64),
            "buildings": np.asarray(nb, dtype=np.int64),
            "area_m2": np.round(shapely.area(g), 1),
            "perimeter_m": np.round(shapely.length(g), 1),
            "in_range": (np.asarray(hh) >= size.lo) & (np.asarray(hh) <= size.hi),
        },
        geometry=g,
        crs=crs,
    )


def plan(
    buildings,
    barriers=None,
    communities=None,
    *,
    id_field: str = "building_id",
    households_field: str = "households",
    units_field: str = "units",
    levels_field: str = "levels",
    compound_field: str = "compound",
    community_size: str | SizeRange = "1000:3000:2000",
    grid_size: str | SizeRange = "300:500:400",
    micro_size: str | SizeRange = "30:100:50",
    seed: int = 0,
    street_code: str = "000000000",
    persons_per_household: float = 2.62,
    estimate: str = "auto",
    input_crs: str = "auto",
    fix_geometry: bool = False,
    start_date: str | None = None,
    redistrict: Literal["keep", "oversized", "all"] = "keep",
    community_count: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> Plan:
    """Plan communities → grids → micro-grids from building footprints and barrier lines.

    Parameters
    ----------
    buildings
        Building footprints (or land parcels) with households: a GeoDataFrame or a path to any vector
        file gridplan reads (see :func:`gridplan.io.read_layer`).
    barriers
        Roads, railways, rivers and water areas (OSM tags or a ``tier`` column), or None.
    communities
        Community polygons to keep (grids are planned inside each); None plans communities too.
    id_field, households_field, units_field, levels_field, compound_field
        Columns of the buildings: id, households, entrances, storeys, keep-together compound.
    community_size, grid_size, micro_size
        ``"MIN:MAX"`` or ``"MIN:MAX:TARGET"`` households per unit.
    seed
        The same inputs and seed give identical plans.
    street_code
        9-digit code (6 county + 3 street office) that community codes extend.
    persons_per_household
        Population = households × this (2.62, the 7th census).
    estimate, input_crs, fix_geometry
        How households are filled in, coordinate conversion, geometry repair: see
        :func:`gridplan.validate.prepare`.
    start_date
        ISO date recorded as every unit's start date (default: today).
    redistrict
        With ``communities``: ``'keep'`` keeps every given community; ``'oversized'`` splits those
        above the community range into balanced, contiguous new ones (the others keep their boundaries
        and codes); ``'all'`` re-splits every community. New communities take the next free codes of
        their street office; see :func:`gridplan.redistrict.redistrict` for the change list.
    community_count
        With ``redistrict``: the number of communities wanted in total (e.g. 35); an infeasible count
        raises :class:`~gridplan.errors.InfeasibleError` listing the feasible ones.
    progress
        Callable ``(stage, steps_done)`` for progress reporting.

    Returns
    -------
    Plan
    """
    cfg = PlanConfig(
        community=SizeRange.parse(community_size, name="community_size"),
        grid=SizeRange.parse(grid_size, name="grid_size"),
        micro=SizeRange.parse(micro_size, name="micro_size"),
        persons_per_household=persons_per_household,
        street_code=street_code,
        seed=int(seed),
    )
    start_date = start_date or _dt.date.today().isoformat()
    from .config import check_choice

    check_choice("redistrict", redistrict, ("keep", "oversized", "all"))
    if redistrict != "keep" and communities is None:
        raise OptionError(f"`redistrict` was {redistrict!r} but no `communities` were given; give the old community polygons to split")
    if community_count is not None and redistrict == "keep":
        raise OptionError(f"`community_count` was {community_count!r} with `redistrict='keep'`; give redistrict='oversized' or 'all' to change the count")
    prep = prepare(
        buildings, barriers, communities, id_field=id_field, households_field=households_field, units_field=units_field,
        levels_field=levels_field, compound_field=compound_field, estimate=estimate, input_crs=input_crs, fix_geometry=fix_geometry,
    )
    from ._assemble import assemble

    pl = _Planner(prep, cfg, progress)
    pl.build_graph()
    comm = pl.communities()
    book = None
    if redistrict != "keep":
        from .redistrict import split_communities

        comm, book = split_communities(pl, comm, mode=redistrict, count=community_count, start_date=start_date)
    grids = pl.plan_level(comm, cfg.grid, 1, strong_tier=2, use_groups=True)
    micro = pl.plan_level(grids, cfg.micro, 2, strong_tier=2, use_groups=False)
    result = assemble(pl, comm, grids, micro, start_date=start_date, version=__version__, book=book)
    if redistrict != "keep":
        from .redistrict import retire_split

        retire_split(result, pl, start_date)
    return result
