"""A synthetic Chinese city district to plan: buildings, barriers and 24 oversized old communities.

The sample is generated, not surveyed: a deterministic script lays out a district around Nanjing
(118.78E, 32.04N) in UTM zone 50N (EPSG:32650) and returns it in EPSG:4326. It has arterials ~500 m
apart, local streets, dead ends and service lanes, a trunk road (应天大街), a meandering river
(秦淮河, centre line plus water polygon), a railway along the east edge, gated compounds (小区, some
walled), walk-ups, mid-rise and towers (some over 100 households), two high-rise estates near the centre
(gated compounds of 8–12 towers of 26–33 storeys with 2–4 entrances, 200–300 households each; one below
20,000 households, none below 8,000), and a few
schools, shops and offices. Old communities tile the district along the major roads; most are oversized
(> 3,000 households).
Planted awkward cases: a superblock of ~120 households fenced by arterials, and a piece of ~550
households fenced by the railway, the trunk road and the river (one grid too big, two too small).

The bundled files in ``sample_geo/`` are ``write_sample(...)`` of the default district; the tests
check that they still equal what the generator makes.

Examples
--------
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=4)
>>> abs(int(d.buildings["households"].sum()) - 3000) <= 90
True
>>> len(d.communities), d.buildings.crs.to_epsg()
(4, 4326)
>>> sorted(d.roads["highway"].dropna().unique())[:3]
['primary', 'residential', 'secondary']
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from . import _buildings as bld
from . import _regions as reg
from . import _streets as st
from ._assemble import CENTRE, assemble
from ._names import NameBook
from ..config import check_choice
from ..errors import OptionError

__all__ = ["SampleDistrict", "make_district", "make_city", "write_sample", "sample_path", "LAYERS", "CENTRE"]

log = logging.getLogger(__name__)

LAYERS = ("buildings", "roads", "communities")
SAMPLE_VERSION = 2
_ZONE_ORDER = ("walkup", "midrise", "mixed", "tower")
#: Households per km² of superblock a zone can hold when full (measured on generated districts).
_ZONE_CAPACITY = {"walkup": 9000.0, "midrise": 11500.0, "mixed": 13000.0, "tower": 20000.0}
#: Households of a high-rise estate, on average (measured: 8–12 towers of 200–300), to pick enough candidates.
_ESTATE_HOUSEHOLDS = 2_400
_FILE_DATE = "2024-01-01T00:00:00.000Z"
_BUNDLED = Path(__file__).resolve().parents[2] / "sample_geo"


@dataclass(frozen=True)
class SampleDistrict:
    """The layers of a generated district, all in EPSG:4326.

    ``buildings``: ``building_id``, ``households``, ``units``, ``levels``, ``building``, ``compound``,
    ``compound_name``, ``name``, Polygon footprints. ``roads``: barrier lines and water polygons with
    OSM-like ``osm_id``, ``highway``, ``waterway``, ``railway``, ``natural``, ``water``, ``barrier``,
    ``name``. ``communities``: the old communities, ``code`` (12 digits), ``name``, Polygon.
    """

    buildings: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame


def make_district(*, seed: int = 2024, households: int = 60_000, communities: int = 24) -> SampleDistrict:
    """Generate a district of about ``households`` households in ``communities`` old communities.

    Parameters
    ----------
    seed
        Seed of every random choice; the same seed gives the same district.
    households
        Households in the district (the result is within ±3%); the area grows with it
        (60,000 households: about 3.2 km × 3.2 km).
    communities
        Number of old community polygons; at most the number of superblocks between major roads.

    Returns
    -------
    SampleDistrict
        Buildings, roads and communities in EPSG:4326.

    Examples
    --------
    >>> d = make_district(households=3000, communities=4, seed=1)
    >>> bool(d.buildings["building_id"].is_unique and d.communities["code"].str.len().eq(12).all())
    True
    """
    estates = 2 if households >= 20_000 else 1 if households >= 8_000 else 0  # an estate holds ~2,400
    return _build(households, communities, seed, density=6000.0, estates=estates)


def make_city(households: int = 1_000_000, *, seed: int = 7) -> SampleDistrict:
    """Generate a city-sized sample for benchmarks (1,000,000 households: about 15 km × 15 km).

    Same generator as :func:`make_district`, with more trunk roads and rivers, one old community per ~2,500
    households, and high-rise like a Chinese city: about 45% of the households live in estates of 26–33-storey
    towers (one per superblock, nearest the centre first).

    Examples
    --------
    >>> c = make_city(5000, seed=3)
    >>> len(c.communities)
    2
    """
    return _build(households, max(1, round(households / 2500)), seed, density=4500.0, high_rise=0.45)


def _check(households: int, communities: int, seed: int) -> None:
    problems = []
    if not isinstance(households, (int, np.integer)) or households < 500:
        problems.append(f"`households` was {households!r}; expected a whole number of at least 500, e.g. 60000")
    if not isinstance(communities, (int, np.integer)) or communities < 1:
        problems.append(f"`communities` was {communities!r}; expected a whole number of at least 1, e.g. 24")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        problems.append(f"`seed` was {seed!r}; expected a non-negative whole number, e.g. 2024")
    if problems:
        raise OptionError("; ".join(problems))


def _specials(sk: st.Skeleton, rep: list) -> list[tuple[list[int], int]]:
    """Planted awkward cases: (superblocks, households) for the ~550 hard-fenced piece and the ~120 block."""
    out = []
    hard = shapely.union_all([sk.boundary.exterior, *sk.hard_lines])
    pieces = sorted((p for p in shapely.get_parts(shapely.polygonize(shapely.get_parts(hard)))
                     if sk.boundary.contains(p.representative_point()) and p.area > 50_000),
                    key=lambda p: p.area)
    if pieces:
        out.append(([i for i, r in enumerate(rep) if pieces[0].contains(r)], 550))
    taken = set(out[0][0]) if out else set()
    edge = sk.boundary.exterior.buffer(5.0)
    inner = [i for i, p in enumerate(sk.superblocks) if i not in taken and not p.intersects(edge)]
    if inner:
        out.append(([min(inner, key=lambda i: sk.superblocks[i].area)], 120))
    return out


def _estates(blocks: list[list], candidates: list[int], xy: np.ndarray, thetas: list[float], centre, seed: int, *,
             count: int | None, quota: float) -> dict[int, bld.Lot]:
    """High-rise estates, one per superblock, nearest ``centre`` first: in each candidate superblock the largest of
    its three largest blocks that holds :data:`~gridplan.sample._buildings.ESTATE_TOWERS` towers; until ``count``
    estates (when given) or ``quota`` households."""
    out: dict[int, bld.Lot] = {}
    total = 0
    order = sorted(candidates, key=lambda i: (math.hypot(*(xy[i] - centre)), i))
    for i in order:
        if (count is not None and len(out) >= count) or (count is None and total >= quota):
            break
        for b in sorted(range(len(blocks[i])), key=lambda k: (-blocks[i][k].area, k))[:3]:
            lot = bld.fill_estate(blocks[i][b], b, thetas[i], tuple(xy[i]), np.random.default_rng([seed, 7, i, b]))
            if lot is not None:
                out[i] = lot
                total += sum(lot.households)
                break
    return out


def _build(households: int, n_comm: int, seed: int, *, density: float, estates: int | None = None,
           high_rise: float = 0.0) -> SampleDistrict:
    _check(households, n_comm, seed)
    side = 1000.0 * math.sqrt(households / density)
    names = NameBook(np.random.default_rng([seed, 1]))
    sk = st.skeleton(side, np.random.default_rng([seed, 0]), names)
    sbs = sk.superblocks
    n = len(sbs)
    if n_comm > n:
        raise OptionError(f"`communities` was {n_comm}; a {households:,}-household district has only {n} superblocks "
                          f"between major roads; give at most {n}")
    rep = [p.representative_point() for p in sbs]
    area = np.array([p.area for p in sbs])
    xy = np.array([[p.centroid.x, p.centroid.y] for p in sbs])
    adj = reg.adjacency(sbs)
    rng = np.random.default_rng([seed, 2])
    street, comm = reg.nested_regions(adj, area, xy, max(1, round(n_comm / 6)), n_comm, rng)
    specials = _specials(sk, rep) if n >= 12 else []
    fixed = {i: k for k, (group, _) in enumerate(specials) for i in group}

    # household totals per community (spread 0.6–1.8× the mean, larger ones on larger areas)
    c_area = np.bincount(comm, area, n_comm)
    free = np.array([i not in fixed for i in range(n)])
    fixed_hh = np.zeros(n_comm)
    for group, hh in specials:
        for i, share in zip(group, reg.apportion(hh, area[group])):
            fixed_hh[comm[i]] += share
    target = np.empty(n_comm, int)
    target[np.argsort(c_area * rng.uniform(0.75, 1.25, n_comm), kind="stable")] = reg.spread(households, n_comm)
    n_free = np.bincount(comm, free.astype(float), n_comm)
    target = reg.clip_redistribute(target, fixed_hh + 300 * n_free, np.full(n_comm, np.inf))
    free_area = np.bincount(comm, area * free, n_comm) / 1e6
    zone_of = np.zeros(n, int)
    for c in range(n_comm):
        need = (target[c] - fixed_hh[c]) / max(free_area[c], 1e-6)
        z = next((k for k, name in enumerate(_ZONE_ORDER) if 0.85 * _ZONE_CAPACITY[name] >= need), 3)
        zone_of[comm == c] = min(3, z + (rng.random() < 0.15))
    zone_of[list(fixed)] = 0
    # high-rise estates near the centre, at most one per community: their superblocks are tower zones, with one
    # estate block each (where one fits)
    centre = np.array([side / 2, side / 2])
    n_cand = ((estates + 1 if estates else 0) if estates is not None
              else math.ceil(1.3 * high_rise * households / _ESTATE_HOUSEHOLDS))
    candidates, used = [], set()
    for i in sorted((i for i in range(n) if free[i]), key=lambda i: (math.hypot(*(xy[i] - centre)), i)):
        if len(candidates) < n_cand and comm[i] not in used:
            candidates.append(i)
            used.add(comm[i])
    zone_of[candidates] = 3

    # local streets, then the blocks left between every road's clearance
    thetas = [st.orientation(p) for p in sbs]
    feats = list(sk.features)
    for i, p in enumerate(sbs):
        feats += st.local_streets(p, sk.corridor, _ZONE_ORDER[zone_of[i]], thetas[i],
                                  np.random.default_rng([seed, 3, i]), names)
    geoms = np.array([f.geometry for f in feats], dtype=object)
    clear = np.array([f.clearance for f in feats])
    buffered = shapely.buffer(geoms[clear > 0], clear[clear > 0], quad_segs=2)
    tree = shapely.STRtree(buffered)
    blocks = []
    for p in sbs:
        near = tree.query(p, predicate="intersects")
        land = p.difference(shapely.union_all(buffered[near])) if len(near) else p
        blocks.append([b for b in shapely.get_parts(land) if b.area > 600.0])

    estate = _estates(blocks, candidates, xy, thetas, centre, seed, count=estates, quota=high_rise * households)
    for i, lot in estate.items():
        fixed_hh[comm[i]] += sum(lot.households)
    target = reg.clip_redistribute(target, fixed_hh + 300 * n_free, np.full(n_comm, np.inf))

    def fill(i: int, attempt: int) -> bld.Lot:
        skip = frozenset(estate[i].block[:1]) if i in estate else frozenset()
        return bld.fill_superblock(blocks[i], _ZONE_ORDER[zone_of[i]], thetas[i], tuple(xy[i]),
                                   np.random.default_rng([seed, 4, i, attempt]), skip)

    lots = [fill(i, 0) for i in range(n)]
    cap = np.array([sum(lot.households) for lot in lots], float)
    for attempt in range(1, 4):  # more capacity where a community cannot reach its total
        short = [c for c in range(n_comm) if cap[(comm == c) & free].sum() < 1.15 * (target[c] - fixed_hh[c])]
        short_sb = [i for i in range(n) if comm[i] in short and free[i] and zone_of[i] < 3]
        for group, hh in specials:
            if cap[group].sum() < 1.3 * hh:
                short_sb += [i for i in group if zone_of[i] < 3]
        if not short_sb:
            break
        for i in short_sb:
            zone_of[i] += 1
            lots[i] = fill(i, attempt)
            cap[i] = sum(lots[i].households)
    room = np.array([cap[(comm == c) & free].sum() for c in range(n_comm)])
    target = reg.clip_redistribute(target, fixed_hh, fixed_hh + 0.95 * room)

    # thin every superblock down to its share
    sb_target = np.zeros(n, int)
    for c in range(n_comm):
        idx = np.flatnonzero((comm == c) & free)
        if len(idx):
            sb_target[idx] = np.minimum(cap[idx], reg.apportion(int(target[c] - fixed_hh[c]), cap[idx]))
    for group, hh in specials:
        sb_target[group] = reg.apportion(hh, cap[group])
    rng_thin = np.random.default_rng([seed, 5])
    keep = []
    for i, lot in enumerate(lots):
        void = lot.geometry[rng_thin.integers(len(lot.geometry))].centroid.coords[0] if lot.geometry else (0, 0)
        keep.append(bld.thin(lot, int(sb_target[i]), void))
    for i, lot in estate.items():  # every tower of an estate is kept
        lots[i] = bld.merge(lots[i], lot)
        keep[i] = np.concatenate([keep[i], np.ones(len(lot.geometry), bool)])
    for z, name in enumerate(_ZONE_ORDER):
        on = zone_of == z
        log.debug("zone %s: %d superblocks, %.0f households/km² when full", name, on.sum(),
                  cap[on].sum() / max(area[on].sum() / 1e6, 1e-9))
    log.info("sample: %d high-rise estates, %d households", len(estate), sum(sum(lot.households) for lot in estate.values()))
    log.info("sample: %d superblocks, %d communities, %d buildings kept of %d, %d households (capacity %d)",
             n, n_comm, sum(int(k.sum()) for k in keep), sum(len(k) for k in keep),
             sum(int(np.asarray(lot.households)[k].sum()) for lot, k in zip(lots, keep)), int(cap.sum()))
    return SampleDistrict(*assemble(sk, feats, lots, keep, comm, street, zone_of, names, seed))


def write_sample(directory: str | PathLike, *, seed: int = 2024) -> dict[str, Path]:
    """Write the default district as ``buildings.gpkg``, ``roads.gpkg``, ``communities.gpkg``.

    Files are replaced atomically and carry a fixed timestamp, so the same seed writes byte-identical
    files (with the same GDAL).

    Returns
    -------
    dict of str to Path
        Layer name → file written.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    d = make_district(seed=seed)
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _FILE_DATE})
    paths = {}
    try:
        for name in LAYERS:
            path = out / f"{name}.gpkg"
            tmp = out / f".{name}.tmp.gpkg"
            tmp.unlink(missing_ok=True)
            pyogrio.write_dataframe(getattr(d, name), tmp, layer=name, driver="GPKG")
            os.replace(tmp, path)
            paths[name] = path
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})
    log.info("wrote sample (seed %d) to %s: %s", seed, out, ", ".join(p.name for p in paths.values()))
    return paths


def sample_path(name: str = "buildings") -> Path:
    """Path of the bundled ``sample_geo/<name>.gpkg``; generated into a cache when not bundled.

    When gridplan runs from an installed copy without ``sample_geo/``, the sample is written once into
    ``$XDG_CACHE_HOME/gridplan/sample`` (default ``~/.cache/gridplan/sample``) and that path returned.

    Examples
    --------
    >>> sample_path("communities").name
    'communities.gpkg'
    >>> sample_path("streets")
    Traceback (most recent call last):
    ...
    gridplan.errors.OptionError: `name` was 'streets'; expected one of 'buildings', 'roads', 'communities'
    """
    check_choice("name", name, LAYERS)
    bundled = _BUNDLED / f"{name}.gpkg"
    if bundled.exists():
        return bundled
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gridplan" / "sample" / f"v{SAMPLE_VERSION}"
    if not (cache / f"{name}.gpkg").exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".sample-"))
        try:
            write_sample(tmp)
            try:
                tmp.rename(cache)
            except OSError:  # another process finished first
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return cache / f"{name}.gpkg"
