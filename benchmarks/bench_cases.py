"""The cases of benchmarks/run.py and the graph every method partitions.

A case is read as a user would give it (:func:`load_case`), prepared and turned into gridplan's graph of
atoms once (:func:`build_case`): cells, plus the entrance/floor parts of buildings above the micro-grid
maximum (``Planner.build_graph``). gridplan then plans the communities once (``Planner.communities``), and
those are the parents every method partitions into grids.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

import gridplan
from gridplan.config import PlanConfig
from gridplan.core.partition import UnitGraph
from gridplan.inputs.validate import prepare
from gridplan.planning.planner import Planner, components

from bench_measure import connected_components

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
#: Cases read from ../shared/data: OSM extracts through gridplan.inputs.io.read_osm (``gridplan.load_osm``,
#: as ``gridplan plan --osm``), and Suzhou's footprints with storeys (no roads). The .osm.bz2 files hold the
#: same data as the .osm.pbf ones (../shared/data/README.md), so they are not run twice.
FILE_CASES = {
    "nanjing": "nanjing_xinjiekou.osm",
    "beijing": "beijing_wudaokou_2017.osm",
    "suzhou": "suzhou_gusu_buildings_floors.geojson",
    "monaco": "monaco_2023.osm.pbf",
    "porto": "porto_2020.osm.pbf",
}
ALL_CASES = ("sample", *FILE_CASES, "city")
CITY_HOUSEHOLDS = 1_000_000


def load_case(name: str):
    """(buildings, barriers) of a case, or a string saying why it is skipped."""
    if name == "sample":
        from gridplan.sample import sample_path

        return sample_path("buildings"), sample_path("roads")
    if name in FILE_CASES:
        path = SHARED / "data" / FILE_CASES[name]
        if not path.exists():
            return f"skipped: {path} not found (../shared is absent)"
        if path.suffix == ".geojson":
            import geopandas as gpd

            s = gpd.read_file(path)  # ids are all 0 upstream: number the rows; `Floor` is the storeys
            s = s.drop(columns=["Id"], errors="ignore").rename(columns={"Floor": "levels"})
            s.insert(0, "building_id", [f"sz{i}" for i in range(len(s))])
            return s, None
        osm = gridplan.load_osm(path)  # invalid OSM outlines repaired, compounds kept
        return osm.buildings, osm.barriers
    if name == "city":
        from gridplan.sample import make_city

        c = make_city(CITY_HOUSEHOLDS)
        return c.buildings, c.roads
    raise ValueError(f"case {name!r}; expected one of {', '.join(ALL_CASES)}")


@dataclass
class Case:
    """One case's graph of atoms, its communities (the parents) and what the peers need."""

    planner: Planner
    parent: np.ndarray  # community of each node, -1 for nodes left out (land cut off from every building)
    scopes: list[np.ndarray]  # the nodes of each community
    centroids: np.ndarray  # (n, 2) centroid of each node's land, metric work CRS
    zone: np.ndarray  # connected component of the graph (tier-1 zone) of each node
    buildings: int  # buildings planned
    seconds_graph: float  # prepare + cells + atoms + graph
    seconds_communities: float  # gridplan's community level

    @property
    def g(self) -> UnitGraph:
        return self.planner.g

    @property
    def building(self) -> np.ndarray:
        """Each node's divided building (-1: a whole cell)."""
        return self.planner.atoms.building

    @property
    def divided(self) -> int:
        """Buildings divided into parts (atoms with building >= 0)."""
        b = self.building
        return int(len(np.unique(b[b >= 0])))

    @property
    def total(self) -> float:
        return float(self.g.households[self.parent >= 0].sum())

    def parent_components(self) -> list[tuple[int, np.ndarray]]:
        """(community, nodes) of every connected piece of every community (METIS and GerryChain need connected graphs)."""
        return [(p, comp) for p, scope in enumerate(self.scopes) for comp in components(self.g, scope)]


def build_case(buildings, barriers) -> Case:
    """Prepare the inputs, build gridplan's graph of atoms and plan its communities, once."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "households estimated ..." on files without household counts
        prep = prepare(buildings, barriers)
    planner = Planner(prep, PlanConfig(), None)
    planner.build_graph()
    t1 = time.perf_counter()
    comm = planner.communities()
    t2 = time.perf_counter()
    parent = np.asarray(comm.labels, dtype=np.int64)
    order = np.argsort(parent, kind="stable")
    cut = np.searchsorted(parent[order], np.arange(parent.max() + 2))
    scopes = [order[cut[p] : cut[p + 1]] for p in range(len(cut) - 1)]
    cent = shapely.get_coordinates(shapely.centroid(np.asarray(planner.land, dtype=object)))
    zone = connected_components(planner.g.n, planner.g.edges)
    return Case(planner, parent, scopes, cent, zone, len(prep.buildings), t1 - t0, t2 - t1)
