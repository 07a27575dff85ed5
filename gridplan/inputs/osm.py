"""OpenStreetMap as planning input: an extract on disk, or a place name or bounding box fetched online.

Both paths give the same :class:`OsmInputs`: buildings (with their compound and whether they stand on
residential land), barrier features (tiered later by :func:`gridplan.inputs.barriers.classify_barriers`) and
compound outlines. Files are read with GDAL's OSM driver (:func:`gridplan.inputs.io.read_osm`), which tolerates
clipped extracts; online data comes through osmnx's Overpass query (:func:`fetch_osm`). Only ways with a
``highway`` tag become roads: building outlines never do.

Examples
--------
>>> sorted(OSM_TAGS)  # what an online query asks for
['barrier', 'building', 'highway', 'landuse', 'natural', 'railway', 'waterway']
>>> parse_bbox("118.77,32.03,118.79,32.05")
(118.77, 32.03, 118.79, 32.05)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..core.tessellate import off_land
from .barriers import classify_barriers
from .compounds import (MAX_ESTATE_HA, assign_compounds, compounds_from_osm, estate_outlines, read_compounds,
                        residential_land)
from ..errors import InputError, OptionError, first_ids
from .io import OsmData, drop_duplicate_buildings, read_osm
from .shape import ORIGIN_ATTR, OSM_ORIGIN

__all__ = ["OsmInputs", "load_osm", "fetch_osm", "osm_from_features", "OSM_TAGS", "parse_bbox"]

logger = logging.getLogger(__name__)

#: The tags asked of Overpass: everything :func:`gridplan.inputs.io.read_osm` takes from a file.
OSM_TAGS: dict[str, bool | list[str]] = {
    "building": True, "highway": True, "railway": True, "waterway": True, "natural": ["water"],
    "landuse": ["residential", "reservoir", "basin"], "barrier": ["wall", "fence"],
}
_BARRIER_KEYS = ("highway", "railway", "waterway", "natural", "barrier", "landuse")
_WATER = {("natural", "water"), ("waterway", "riverbank"), ("landuse", "reservoir"), ("landuse", "basin")}


@dataclass(frozen=True)
class OsmInputs:
    """What gridplan plans from OSM, in EPSG:4326.

    ``buildings``: building_id, building, levels, flats, name, compound, in_residential, geometry.
    ``barriers``: OSM tag columns for :func:`gridplan.inputs.barriers.classify_barriers`.
    ``compounds``: compound_id, kind, name, geometry of the gated compounds (walled or fenced areas, residential
    areas of estate size: :func:`gridplan.inputs.compounds.estate_outlines`, and given outlines). ``notes``: what
    was left out or assumed (buildings cut by the extract's edge, buildings standing on water).
    """

    buildings: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    source: str
    notes: tuple[str, ...]


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    merged = shapely.union_all(parts) if parts else None
    return merged if merged is not None and merged.geom_type in ("Polygon", "MultiPolygon") else None


def _leave_out_on_water(b: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, source: str) -> tuple[gpd.GeoDataFrame, str]:
    """The buildings on land, and a note listing those left out because they stand on water
    (:func:`gridplan.core.tessellate.off_land`): the id, the water and its name, first 10."""
    if b.empty or barriers is None or barriers.empty:
        return b, ""
    tiered = classify_barriers(barriers)
    if tiered.empty:
        return b, ""
    work = b.estimate_utm_crs()
    row = off_land(b.geometry.to_crs(work), tiered.to_crs(work))
    wet = row >= 0
    if not wet.any():
        return b, ""
    where = [f"{bid} on {tiered['kind'].iat[r]}" + (f" {tiered['name'].iat[r]}" if tiered["name"].iat[r] else "")
             for bid, r in zip(b["building_id"][wet], row[wet])]
    note = (f"{source}: left out {int(wet.sum())} buildings standing on water (a houseboat, a pier, a station on a "
            f"river bridge: no unit may cross the water to hold them) {first_ids(where)}; give their households "
            "to a unit by hand, or correct the water outline if they stand on land")
    logger.info(note)
    return b[~wet].reset_index(drop=True), note


def _finish(data: OsmData, source: str, compounds: gpd.GeoDataFrame | str | PathLike | None,
            osm_compounds: bool) -> OsmInputs:
    b = data.buildings.copy()
    notes = []
    if b.empty:
        raise InputError(f"{source}: no buildings (building=*) found; check the extract, place or bounding box")
    if data.clipped:
        notes.append(f"{source}: left out {len(data.clipped)} buildings cut by the extract's edge (ways with nodes "
                     f"outside the file) {first_ids(data.clipped)}; every whole building is kept")
    if data.unbuilt:
        notes.append(f"{source}: left out {len(data.unbuilt)} other features (roads, water, land use) the extract's "
                     f"edge cut to fewer nodes than a line or ring needs {first_ids(data.unbuilt)}")
    invalid = ~shapely.is_valid(np.asarray(b.geometry.values))
    if invalid.any():
        fixed = [_polygonal(g) for g in shapely.make_valid(np.asarray(b.geometry.values)[invalid])]
        b.loc[invalid, "geometry"] = gpd.GeoSeries(fixed, index=b.index[invalid], crs=b.crs)
        lost = b.geometry.isna() | b.geometry.is_empty
        notes.append(f"{source}: repaired {int(invalid.sum())} invalid footprints (self-intersecting outlines, as OSM "
                     f"often has) {first_ids(b.loc[invalid, 'building_id'])}"
                     + (f"; dropped {int(lost.sum())} with no area left {first_ids(b.loc[lost, 'building_id'])}" if lost.any() else ""))
        b = b[~lost].reset_index(drop=True)
    b, on_water = _leave_out_on_water(b, data.barriers, source)
    if on_water:
        notes.append(on_water)
    outlines = compounds_from_osm(data.compounds) if osm_compounds else compounds_from_osm(None)
    if compounds is not None:
        given = read_compounds(compounds).to_crs(4326)
        outlines = pd.concat([given, outlines.to_crs(4326)], ignore_index=True) if len(outlines) else given
        outlines = gpd.GeoDataFrame(outlines, geometry="geometry", crs=4326)
    b["in_residential"] = residential_land(b, outlines)  # every residential area, neighbourhoods too
    estates = estate_outlines(outlines)
    b["compound"] = assign_compounds(b, estates)
    counts = estates["kind"].value_counts().to_dict() if len(estates) else {}
    neighbourhoods = len(outlines) - len(estates)
    notes.append(f"{source}: {len(b):,} buildings, {len(data.barriers):,} barrier features, "
                 f"{b['compound'].nunique():,} compounds holding {int(b['compound'].notna().sum()):,} buildings "
                 f"(outlines: {', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'none'}"
                 + (f"; {neighbourhoods} landuse=residential areas over {MAX_ESTATE_HA:g} ha are neighbourhoods, not "
                    "compounds" if neighbourhoods else "")
                 + f"); {int(b['in_residential'].sum()):,} buildings on residential land")
    logger.info(notes[-1])
    return OsmInputs(b, data.barriers, estates.reset_index(drop=True), source, tuple(notes))


def load_osm(path: str | PathLike, *, compounds: gpd.GeoDataFrame | str | PathLike | None = None,
             osm_compounds: bool = True, max_uncompressed: int | None = None) -> OsmInputs:
    """Read an OSM extract (.osm, .osm.bz2, .osm.pbf) into buildings, barriers and compounds.

    Parameters
    ----------
    path
        The extract; its type is told by content.
    compounds
        Extra compound outlines (a polygon layer; see :func:`gridplan.inputs.compounds.read_compounds`); they win
        over OSM outlines where smaller.
    osm_compounds
        Take compounds from closed ``barrier=wall|fence`` rings and ``landuse=residential`` polygons of estate
        size (at most :data:`gridplan.inputs.compounds.MAX_ESTATE_HA` ha; larger ones are neighbourhoods).
    max_uncompressed
        Largest size a compressed extract may decompress to.

    Returns
    -------
    OsmInputs
    """
    data = read_osm(path, max_uncompressed=max_uncompressed)
    return _finish(data, f"OSM file {Path(path).name}",
                   compounds, osm_compounds)


def parse_bbox(text: str | tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``"W,S,E,N"`` in degrees → a tuple, checked.

    Examples
    --------
    >>> parse_bbox("118.77,32.03,118.79,32.05")
    (118.77, 32.03, 118.79, 32.05)
    >>> parse_bbox("32.03,118.77,32.05,118.79")
    Traceback (most recent call last):
    ...
    gridplan.errors.OptionError: `bbox` was '32.03,118.77,32.05,118.79'; expected W,S,E,N in degrees (west < east, south < north, latitudes within ±90), e.g. 118.77,32.03,118.79,32.05
    """
    parts = list(text) if isinstance(text, (tuple, list)) else str(text).replace(" ", "").split(",")
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        w = s = e = n = float("nan")
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise OptionError(f"`bbox` was {text!r}; expected W,S,E,N in degrees (west < east, south < north, latitudes "
                          "within ±90), e.g. 118.77,32.03,118.79,32.05")
    return w, s, e, n


def _column(features: gpd.GeoDataFrame, key: str) -> pd.Series:
    if key in features.columns:
        return features[key].astype(object).where(features[key].notna(), None)
    return pd.Series(None, index=features.index, dtype=object)


def osm_from_features(features: gpd.GeoDataFrame) -> OsmData:
    """Turn osmnx features (index ``(element, id)``, one column per tag) into :class:`~gridplan.inputs.io.OsmData`."""
    f = features.to_crs(4326) if features.crs is not None else features.set_crs(4326)
    idx = f.index
    if isinstance(idx, pd.MultiIndex):
        ids = [f"{str(e)[0]}{i}" for e, i in idx]
    else:
        ids = [str(i) for i in idx]
    f = f.reset_index(drop=True)
    ids = pd.Series(ids, index=f.index)
    geom = f.geometry
    polygonal = geom.geom_type.isin(["Polygon", "MultiPolygon"])
    building = _column(f, "building")
    is_b = building.notna() & polygonal & ids.str[0].isin(["w", "r"])
    b = gpd.GeoDataFrame(
        {
            "building_id": ids[is_b].to_numpy(),
            "building": building[is_b].astype(str).to_numpy(),
            "levels": pd.to_numeric(_column(f, "building:levels")[is_b], errors="coerce").astype(float).to_numpy(),
            "flats": pd.to_numeric(_column(f, "building:flats")[is_b], errors="coerce").astype(float).to_numpy(),
            "name": _column(f, "name")[is_b].to_numpy(),
        },
        geometry=gpd.GeoSeries(geom[is_b].to_numpy(), crs=4326),
    )
    b.attrs[ORIGIN_ATTR] = OSM_ORIGIN  # its levels are mappers' tags: validate treats bad ones as unknown
    b = drop_duplicate_buildings(b)
    cols = {k: _column(f, k) for k in _BARRIER_KEYS}
    linear = geom.geom_type.isin(["LineString", "MultiLineString"])
    water = pd.Series(False, index=f.index)
    for key, value in _WATER:
        water |= cols[key].eq(value).fillna(False).astype(bool)
    line_kinds = pd.concat([cols[k].notna() for k in ("highway", "railway", "waterway", "barrier")], axis=1).any(axis=1)
    keep = (linear & line_kinds) | (polygonal & water & building.isna())
    r = gpd.GeoDataFrame(
        {"osm_id": ids[keep].to_numpy(), **{k: v[keep].to_numpy() for k, v in cols.items()},
         "name": _column(f, "name")[keep].to_numpy(), "tunnel": _column(f, "tunnel")[keep].to_numpy(),
         "layer": pd.to_numeric(_column(f, "layer")[keep], errors="coerce").to_numpy()},
        geometry=gpd.GeoSeries(geom[keep].to_numpy(), crs=4326),
    )
    residential = cols["landuse"].eq("residential").fillna(False).astype(bool) & polygonal & building.isna()
    walls = cols["barrier"].isin(["wall", "fence"]).fillna(False).astype(bool) & building.isna() & ~residential
    wall_geoms = [g if g.geom_type in ("Polygon", "MultiPolygon")
                  else (shapely.Polygon(g.coords) if g.geom_type == "LineString" and g.is_closed and len(g.coords) >= 4 else None)
                  for g in geom[walls]]
    c = gpd.GeoDataFrame(
        {"osm_id": pd.concat([ids[residential], ids[walls]]).to_numpy(),
         "kind": ["landuse=residential"] * int(residential.sum()) + ("barrier=" + cols["barrier"][walls]).tolist(),
         "name": pd.concat([_column(f, "name")[residential], _column(f, "name")[walls]]).to_numpy()},
        geometry=gpd.GeoSeries(list(geom[residential]) + wall_geoms, crs=4326),
    )
    c = c[c.geometry.notna()]
    c = c[shapely.is_valid(np.asarray(c.geometry.values)) & (shapely.area(np.asarray(c.geometry.values)) > 0)]
    return OsmData(b, r, c.reset_index(drop=True))


def fetch_osm(*, place: str | None = None, bbox: str | tuple[float, float, float, float] | None = None,
              compounds: gpd.GeoDataFrame | str | PathLike | None = None, osm_compounds: bool = True) -> OsmInputs:
    """Download buildings, barriers and compounds from OpenStreetMap through osmnx (Overpass).

    Parameters
    ----------
    place
        A place name Nominatim resolves to a polygon, e.g. ``"玄武区, 南京市"``.
    bbox
        ``"W,S,E,N"`` or a tuple, in degrees; give ``place`` or ``bbox``, not both.
    compounds, osm_compounds
        As for :func:`load_osm`.

    Returns
    -------
    OsmInputs

    Raises
    ------
    OptionError
        Neither or both of ``place`` and ``bbox``, or a bad bounding box.
    InputError
        The place is not found, or nothing was returned.
    """
    if (place is None) == (bbox is None):
        raise OptionError("give a place name (--place) or a bounding box (--bbox W,S,E,N), one of them")
    import osmnx as ox
    from osmnx._errors import InsufficientResponseError

    where = f"place {place!r}" if place is not None else f"bbox {bbox}"
    try:
        if place is not None:
            features = ox.features_from_place(place, OSM_TAGS)
        else:
            features = ox.features_from_bbox(parse_bbox(bbox), OSM_TAGS)
    except InsufficientResponseError as exc:
        raise InputError(f"OpenStreetMap {where}: nothing found ({exc}); check the name or the bounding box") from exc
    except (TypeError, ValueError) as exc:  # osmnx: the place geocodes to a point, or no polygon
        raise InputError(f"OpenStreetMap {where}: {exc}; give a place that is an area (a district, a 街道), "
                         "or a bounding box") from exc
    logger.info("fetched %s: %d OSM features", where, len(features))
    return _finish(osm_from_features(features), f"OpenStreetMap {where}", compounds, osm_compounds)
