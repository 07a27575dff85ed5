"""Gated compounds (小区): outlines that group buildings the partition keeps in one grid when they fit.

A compound comes from a ``landuse=residential`` polygon, a closed ``barrier=wall|fence`` ring (OSM), or a
polygon layer the user gives (``--compounds``). Each building whose representative point lies inside an
outline gets that outline's id in its ``compound`` column (the smallest outline wins where they nest);
:func:`gridplan.plan` contracts each compound into one node at the grid level.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> b = gpd.GeoDataFrame({"building_id": ["a", "b", "c"]},
...                      geometry=[box(1, 1, 2, 2), box(5, 5, 6, 6), box(20, 20, 21, 21)], crs=32650)
>>> c = gpd.GeoDataFrame({"compound_id": ["estate", "court"], "kind": ["landuse=residential", "barrier=wall"]},
...                      geometry=[box(0, 0, 10, 10), box(4, 4, 7, 7)], crs=32650)
>>> assign_compounds(b, c).tolist()
['estate', 'court', None]
>>> residential_land(b, c).tolist()
[True, True, False]
"""
from __future__ import annotations

import logging
from os import PathLike

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError, first_ids

__all__ = ["read_compounds", "compounds_from_osm", "assign_compounds", "residential_land", "RESIDENTIAL_KIND"]

logger = logging.getLogger(__name__)

#: The ``kind`` of outlines that mark residential land (and so make ``building=yes`` a home).
RESIDENTIAL_KIND = "landuse=residential"
_ID_COLUMNS = ("compound_id", "compound", "id", "code", "name")


def compounds_from_osm(outlines: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Compound outlines from :attr:`gridplan.inputs.io.OsmData.compounds`: ids ``"landuse:w12"``, ``"wall:w34"``."""
    if outlines is None or outlines.empty:
        return gpd.GeoDataFrame({"compound_id": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
                                 "name": pd.Series(dtype=object)}, geometry=gpd.GeoSeries([], crs=4326))
    prefix = outlines["kind"].map(lambda k: "landuse" if k == RESIDENTIAL_KIND else str(k).split("=")[-1])
    return gpd.GeoDataFrame({"compound_id": (prefix + ":" + outlines["osm_id"].astype(str)).to_numpy(),
                             "kind": outlines["kind"].to_numpy(), "name": outlines["name"].to_numpy()},
                            geometry=gpd.GeoSeries(outlines.geometry.to_numpy(), crs=outlines.crs))


def read_compounds(source: gpd.GeoDataFrame | str | PathLike, *, id_field: str | None = None) -> gpd.GeoDataFrame:
    """Read a compounds layer given by the user: polygons, one per compound.

    Parameters
    ----------
    source
        A GeoDataFrame or any vector file :func:`gridplan.inputs.io.read_layer` reads.
    id_field
        The compound id column; by default the first of ``compound_id``, ``compound``, ``id``, ``code``,
        ``name`` present, else the row number (``"compound-0"``, …).

    Returns
    -------
    geopandas.GeoDataFrame
        ``compound_id`` (str), ``kind`` (``"given"``), ``name`` and polygon geometry.

    Raises
    ------
    InputError
        No CRS, features that are not polygons, a missing ``id_field``, or repeated ids.
    """
    from .io import read_layer

    gdf = source if isinstance(source, gpd.GeoDataFrame) else read_layer(source, role="compounds")
    problems = []
    if gdf.crs is None:
        problems.append("compounds: no CRS; declare it (gdf.set_crs(4326), or give the file a .prj)")
    if id_field is not None and id_field not in gdf.columns:
        problems.append(f"compounds: no id field {id_field!r} (columns: {first_ids(list(gdf.columns))}); "
                        "name the compound id column")
    field = id_field or next((c for c in _ID_COLUMNS if c in gdf.columns), None)
    ids = (gdf[field].astype(object).where(gdf[field].notna(), None) if field in gdf.columns
           else pd.Series([f"compound-{i}" for i in range(len(gdf))], index=gdf.index))
    ids = pd.Series([f"compound-{i}" if v is None else str(v) for i, v in enumerate(ids)], index=gdf.index)
    bad = ~gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad.any():
        problems.append(f"compounds: {int(bad.sum())} features are not polygons {first_ids(ids[bad])}; give each "
                        "compound as its outline polygon")
    dup = ids.duplicated(keep=False)
    if dup.any():
        problems.append(f"compounds: ids used more than once {first_ids(pd.unique(ids[dup]))}; give each compound "
                        "its own id (or merge its polygons)")
    if problems:
        raise InputError(problems)
    names = gdf["name"] if "name" in gdf.columns else pd.Series(None, index=gdf.index, dtype=object)
    return gpd.GeoDataFrame({"compound_id": ids.to_numpy(), "kind": "given", "name": names.to_numpy()},
                            geometry=gpd.GeoSeries(gdf.geometry.to_numpy(), crs=gdf.crs))


def _containing(buildings: gpd.GeoDataFrame, outlines: gpd.GeoDataFrame) -> np.ndarray:
    """Row of the smallest outline holding each building's representative point (-1: none)."""
    out = np.full(len(buildings), -1, dtype=np.int64)
    if outlines.empty or buildings.empty:
        return out
    work = outlines.to_crs(buildings.crs) if outlines.crs is not None and buildings.crs is not None else outlines
    points = shapely.point_on_surface(np.asarray(buildings.geometry.values))
    geoms = np.asarray(work.geometry.values)
    bi, oi = shapely.STRtree(geoms).query(points, predicate="within")
    if len(bi) == 0:
        return out
    area = shapely.area(geoms)[oi]
    order = np.lexsort((area, bi))  # per building, smallest first
    bi, oi = bi[order], oi[order]
    first = np.r_[True, bi[1:] != bi[:-1]]
    out[bi[first]] = oi[first]
    return out


def assign_compounds(buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame) -> pd.Series:
    """Each building's compound id (the smallest outline holding it), or None.

    Parameters
    ----------
    buildings
        Footprints with a CRS.
    compounds
        Outlines with ``compound_id`` (see :func:`read_compounds`, :func:`compounds_from_osm`).

    Returns
    -------
    pandas.Series
        Indexed like ``buildings``; object dtype.
    """
    row = _containing(buildings, compounds)
    ids = compounds["compound_id"].to_numpy(dtype=object) if len(compounds) else np.array([], dtype=object)
    values = [ids[r] if r >= 0 else None for r in row]
    logger.info("compounds: %d of %d buildings lie in %d compounds", sum(v is not None for v in values),
                len(values), len({v for v in values if v is not None}))
    return pd.Series(values, index=buildings.index, dtype=object)


def residential_land(buildings: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame) -> pd.Series:
    """Whether each building lies inside a residential land-use outline (``kind`` ``landuse=residential``
    or ``given``: a compound the user drew is residential)."""
    homes = compounds[compounds["kind"].isin([RESIDENTIAL_KIND, "given"])] if len(compounds) else compounds
    row = _containing(buildings, homes)
    return pd.Series(row >= 0, index=buildings.index, dtype=bool)
