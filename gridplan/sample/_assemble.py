"""The layers of the synthetic sample: compounds, walls, addresses, codes, EPSG:4326 (internal)."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString

from . import _buildings as bld
from . import _streets as st
from ._names import NameBook

__all__ = ["assemble", "CENTRE", "PROJECTED", "COUNTY"]

#: Longitude, latitude of the district's centre (Nanjing).
CENTRE = (118.78, 32.04)
PROJECTED = "EPSG:32650"
COUNTY = "320102"
ROAD_COLUMNS = ("osm_id", "highway", "waterway", "railway", "natural", "water", "barrier", "name")
NAMED = ("trunk", "primary", "secondary", "tertiary", "residential")


def _to_wgs84(geoms, side: float, angle: float) -> np.ndarray:
    """Local metres → turned by ``angle`` about the district centre → UTM 50N → EPSG:4326 (to 1e-7°)."""
    east, north = Transformer.from_crs("EPSG:4326", PROJECTED, always_xy=True).transform(*CENTRE)
    c, s = math.cos(angle), math.sin(angle)
    h = side / 2

    def place(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0] - h, xy[:, 1] - h
        return np.column_stack([east + c * x - s * y, north + s * x + c * y])

    utm = shapely.transform(np.asarray(geoms, dtype=object), place)
    wgs = gpd.GeoSeries(utm, crs=PROJECTED).to_crs(4326).values
    return shapely.transform(np.asarray(wgs, dtype=object), lambda a: np.round(a, 7))


def _walls(groups: dict[int, np.ndarray], geoms: np.ndarray, obstacles: np.ndarray,
           rng: np.random.Generator) -> list[LineString]:
    """Walls around about half of the compounds: a ring 6 m outside their buildings' hull,
    kept only when it touches no road, water or other building."""
    btree, otree = shapely.STRtree(geoms), shapely.STRtree(obstacles)
    walls = []
    for c, idx in groups.items():
        if rng.random() >= 0.5:
            continue
        ring = shapely.convex_hull(shapely.union_all(geoms[idx])).buffer(6.0, join_style="mitre").exterior
        ring = LineString(ring.coords)
        hit = set(btree.query(ring, predicate="intersects").tolist()) - set(idx.tolist())
        if not hit and not len(otree.query(ring, predicate="intersects")):
            walls.append(ring)
    return walls


def _addresses(geoms: np.ndarray, entity: np.ndarray, roads: list[st.Feature]) -> list[str]:
    """Address per building: ``新华路12号`` by the nearest named street, ``…号3幢`` inside a compound."""
    named = [f for f in roads if f.highway in NAMED and f.name and not f.geometry.is_empty]
    lines = np.array([f.geometry for f in named], dtype=object)
    cent = shapely.centroid(geoms)
    first = {}
    for i, e in enumerate(entity.tolist()):
        first.setdefault(e, i)
    heads = np.array(list(first.values()))
    near = shapely.STRtree(lines).query_nearest(cent[heads], all_matches=False)[1]
    proj = shapely.line_locate_point(lines[near], cent[heads])
    street = [named[k].name for k in near]
    order = sorted(range(len(heads)), key=lambda k: (street[k], int(near[k]), float(proj[k])))
    number, count = {}, {}
    for k in order:
        count[street[k]] = count.get(street[k], 0) + 1
        number[list(first)[k]] = f"{street[k]}{count[street[k]]}号"
    out, rank = [], {}
    for i, e in enumerate(entity.tolist()):
        if e.startswith("C"):
            rank[e] = rank.get(e, 0) + 1
            out.append(f"{number[e]}{rank[e]}幢")
        else:
            out.append(number[e])
    return out


def assemble(sk: st.Skeleton, feats: list[st.Feature], lots: list[bld.Lot], keep: list[np.ndarray],
             comm: np.ndarray, street: np.ndarray, zone_of: np.ndarray, names: NameBook, seed: int):
    """Buildings, roads and communities GeoDataFrames (EPSG:4326) from the generated pieces."""
    rng = np.random.default_rng([seed, 6])
    cols = {k: [] for k in ("geometry", "households", "units", "levels", "building", "compound", "compound_name")}
    groups: dict[int, np.ndarray] = {}
    for i, (lot, k) in enumerate(zip(lots, keep)):
        idx = np.flatnonzero(k)
        if not len(idx):
            continue
        hh = np.asarray(lot.households)[idx]
        lab = bld.compounds(np.asarray(lot.block)[idx], np.asarray(lot.along)[idx], hh > 0, rng,
                            0.6 if zone_of[i] == 0 else 0.9, np.asarray(lot.estate, bool)[idx])
        start = len(cols["geometry"])
        ids = {}
        for c in np.unique(lab[lab >= 0]).tolist():
            ids[c] = f"C{len(groups) + 1:04d}"
            groups[len(groups)] = start + np.flatnonzero(lab == c)
        cname = {c: names.compound() for c in ids}
        cols["geometry"] += [lot.geometry[j] for j in idx]
        for key in ("households", "units", "levels", "building"):
            cols[key] += np.asarray(getattr(lot, key))[idx].tolist()
        cols["compound"] += [ids.get(c) for c in lab.tolist()]
        cols["compound_name"] += [cname.get(c) for c in lab.tolist()]
    geoms = np.array(cols["geometry"], dtype=object)
    road_geoms = np.array([f.geometry for f in feats if not f.geometry.is_empty], dtype=object)
    walls = _walls(groups, geoms, road_geoms, rng)
    entity = np.array([c or f"b{i}" for i, c in enumerate(cols["compound"])], dtype=object)
    cols["name"] = _addresses(geoms, entity, feats)

    angle = math.radians(rng.uniform(6.0, 12.0))
    buildings = gpd.GeoDataFrame(
        {"building_id": [f"B{i + 1:06d}" for i in range(len(geoms))],
         **{k: np.asarray(cols[k], dtype=np.int64) for k in ("households", "units", "levels")},
         **{k: cols[k] for k in ("building", "compound", "compound_name", "name")}},
        geometry=_to_wgs84(geoms, sk.side, angle), crs=4326)

    rows = []
    for f in feats + [st.Feature(w, barrier="wall") for w in walls]:
        parts = shapely.get_parts(f.geometry)
        for p in parts if f.natural is None else [f.geometry]:
            if p.is_empty or p.geom_type not in ("LineString", "Polygon", "MultiPolygon"):
                continue
            rows.append((p, *(getattr(f, k) for k in ROAD_COLUMNS[1:])))
    roads = gpd.GeoDataFrame(
        {"osm_id": np.arange(230_000_001, 230_000_001 + len(rows), dtype=np.int64),
         **{k: [r[j + 1] for r in rows] for j, k in enumerate(ROAD_COLUMNS[1:])}},
        geometry=_to_wgs84([r[0] for r in rows], sk.side, angle), crs=4326)

    polys = [shapely.union_all([sk.superblocks[i] for i in np.flatnonzero(comm == c)]) for c in range(comm.max() + 1)]
    cstreet = [int(street[np.flatnonzero(comm == c)[0]]) for c in range(len(polys))]
    codes = [""] * len(polys)
    for s in sorted(set(cstreet)):
        mine = sorted((c for c in range(len(polys)) if cstreet[c] == s),
                      key=lambda c: (-round(polys[c].centroid.y, -1), round(polys[c].centroid.x, -1)))
        for r, c in enumerate(mine):
            codes[c] = f"{COUNTY}{s + 1:03d}{r + 1:03d}"
    perm = rng.permutation(len(polys))
    wgs = np.asarray(_to_wgs84(polys, sk.side, angle), dtype=object)
    for i in np.flatnonzero(~shapely.is_valid(wgs)):  # a ring pinched at one corner (floating point): the polygon without its speck
        wgs[i] = max(shapely.get_parts(shapely.make_valid(wgs[i])), key=lambda g: g.area)
    communities = gpd.GeoDataFrame(
        {"code": codes, "name": [names.community(int(perm[c])) for c in range(len(polys))]},
        geometry=wgs, crs=4326).sort_values("code", ignore_index=True)
    return buildings, roads, communities
