"""The cases of benchmarks/run.py and the graph every method partitions.

A case is read as a user would give it (:func:`load_case`), prepared and turned into gridplan's graph of
atoms once (:func:`build_case`): cells, plus the entrance/floor parts of buildings above the micro-grid
maximum (``Planner.build_graph``). gridplan then plans the communities once (``Planner.communities``), and
those are the parents every method partitions into grids.
"""
from __future__ import annotations

import argparse
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

from bench_measure import MEMORY_GB, connected_components

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


@dataclass(frozen=True)
class Source:
    """Where a case comes from: a built-in case (``name`` alone), an OSM extract, or buildings (and barriers) files.

    ``args()`` are the options that give it to ``run.py`` and ``bench_pipeline.py``:

    >>> Source.of(osm="x/porto.osm.pbf").args(), Source.of(buildings="b.gpkg", barriers="r.gpkg").name
    (['--osm', 'x/porto.osm.pbf'], 'b.gpkg')
    >>> Source.of(case="sample").args()
    ['--case', 'sample']
    """

    name: str
    osm: Path | None = None
    buildings: Path | None = None
    barriers: Path | None = None

    @classmethod
    def of(cls, *, case: str | None = None, osm=None, buildings=None, barriers=None) -> Source:
        """One of ``case``, ``osm`` and ``buildings`` (``barriers`` goes with ``osm`` or ``buildings``)."""
        given = [k for k, v in (("case", case), ("osm", osm), ("buildings", buildings)) if v is not None]
        if len(given) != 1:
            raise ValueError(f"give one of case, osm and buildings (got {', '.join(given) or 'none'})")
        if barriers is not None and case is not None:
            raise ValueError("`barriers` goes with `osm` or `buildings`, not with a built-in case")
        if case is not None:
            if case not in ALL_CASES:
                raise ValueError(f"case {case!r}; expected one of {', '.join(ALL_CASES)}")
            return cls(case)
        path = Path(osm if osm is not None else buildings)
        return cls(path.name, osm=Path(osm) if osm is not None else None,
                   buildings=Path(buildings) if buildings is not None else None,
                   barriers=Path(barriers) if barriers is not None else None)

    def args(self) -> list[str]:
        if self.osm is None and self.buildings is None:
            return ["--case", self.name]
        out = ["--osm", str(self.osm)] if self.osm is not None else ["--buildings", str(self.buildings)]
        return out + (["--barriers", str(self.barriers)] if self.barriers is not None else [])


def source_options(ap: argparse.ArgumentParser) -> None:
    """The options that give one case (shared with run.py's file options)."""
    ap.add_argument("--osm", type=Path, help="an OpenStreetMap extract (.osm, .osm.pbf, .osm.bz2, ...): buildings and barriers")
    ap.add_argument("--buildings", type=Path, help="any buildings file gridplan reads (GeoPackage, GeoJSON, shapefile, ...)")
    ap.add_argument("--barriers", type=Path, help="roads, railways, rivers for --buildings (or instead of the extract's, with --osm)")
    ap.add_argument("--memory-gb", type=float, default=MEMORY_GB, help="address space allowed to each run, GB (RLIMIT_AS)")


def load_case(source: str | Source):
    """(buildings, barriers) of a case, or a string saying why it is skipped.

    A file case is read as ``gridplan plan`` reads it: ``--osm`` through :func:`gridplan.load_osm` (its
    barriers unless ``--barriers`` is given), ``--buildings``/``--barriers`` as paths ``prepare`` reads.
    """
    if isinstance(source, Source) and source.osm is not None:
        osm = gridplan.load_osm(source.osm)
        return osm.buildings, source.barriers if source.barriers is not None else osm.barriers
    if isinstance(source, Source) and source.buildings is not None:
        return source.buildings, source.barriers
    name = source.name if isinstance(source, Source) else source
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
