"""Gated compounds (小区): outlines that group buildings the partition keeps in one grid when they fit.

A compound is an area closed by walls or fences (a closed OSM ``barrier=wall|fence`` ring, any size), a
``landuse=residential`` polygon of estate size (at most :data:`MAX_ESTATE_HA` hectares: larger ones are
neighbourhoods, whose buildings are residential land but no compound; see :func:`estate_outlines`), or a polygon
of a layer the user gives (``--compounds``, any size). Each building whose representative point lies inside an
outline gets that outline's id in its ``compound`` column (the smallest outline wins where they nest);
:func:`gridplan.plan` contracts each compound into one node at the grid level. :func:`compound_cover` says how
many buildings compounds cover (for ``inspect``).

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
>>> str(compound_cover(b.assign(compound=assign_compounds(b, c))))
'2 compounds hold 2 of 3 buildings (67%); the largest, estate, holds 1'
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from os import PathLike

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputError, first_ids

__all__ = ["read_compounds", "compounds_from_osm", "assign_compounds", "residential_land", "RESIDENTIAL_KIND",
           "MAX_ESTATE_HA", "estate_outlines", "CompoundCover", "compound_cover", "compounds_across_roads"]

logger = logging.getLogger(__name__)

#: The ``kind`` of outlines that mark residential land (and so make ``building=yes`` a home).
RESIDENTIAL_KIND = "landuse=residential"
_ID_COLUMNS = ("compound_id", "compound", "id", "code", "name")
#: The largest ``landuse=residential`` area taken as a gated compound, in hectares. A residential block
#: (居住街坊) of GB 50180-2018 is 2–4 ha (300–1,000 households); estates of 5–10 ha are common in older
#: cities (Wudaokou's are 2.3–6.5 ha). Larger residential areas are neighbourhoods drawn across many estates
#: and streets (Monaco's 105 ha one holds 485 buildings; Nanjing's of 12–44 ha hold 7–235). [proposal]
MAX_ESTATE_HA = 10.0


def compounds_from_osm(outlines: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Compound outlines from :attr:`gridplan.inputs.io.OsmData.compounds`: ids ``"landuse:w12"``, ``"wall:w34"``."""
    if outlines is None or outlines.empty:
        return gpd.GeoDataFrame({"compound_id": pd.Series(dtype=object), "kind": pd.Series(dtype=object),
                                 "name": pd.Series(dtype=object)}, geometry=gpd.GeoSeries([], crs=4326))
    prefix = outlines["kind"].map(lambda k: "landuse" if k == RESIDENTIAL_KIND else str(k).split("=")[-1])
    return gpd.GeoDataFrame({"compound_id": (prefix + ":" + outlines["osm_id"].astype(str)).to_numpy(),
                             "kind": outlines["kind"].to_numpy(), "name": outlines["name"].to_numpy()},
                            geometry=gpd.GeoSeries(outlines.geometry.to_numpy(), crs=outlines.crs))


def _hectares(outlines: gpd.GeoDataFrame) -> np.ndarray:
    geoms = outlines.geometry
    if outlines.crs is not None and outlines.crs.is_geographic and len(outlines):
        geoms = geoms.to_crs(outlines.estimate_utm_crs())
    return shapely.area(np.asarray(geoms.values)) / 1e4


def estate_outlines(outlines: gpd.GeoDataFrame, *, max_area_ha: float = MAX_ESTATE_HA) -> gpd.GeoDataFrame:
    """The outlines that are gated compounds: every wall or fence ring and every outline the user gave, and the
    ``landuse=residential`` areas of at most ``max_area_ha`` hectares (larger ones are neighbourhoods).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> c = gpd.GeoDataFrame({"compound_id": ["estate", "quarter", "walled"],
    ...                       "kind": ["landuse=residential", "landuse=residential", "barrier=wall"]},
    ...                      geometry=[box(0, 0, 200, 200), box(0, 0, 1000, 1000), box(0, 0, 900, 900)], crs=32650)
    >>> estate_outlines(c)["compound_id"].tolist()  # 4 ha, 100 ha, a walled 81 ha
    ['estate', 'walled']
    """
    if outlines.empty:
        return outlines
    big = outlines["kind"].eq(RESIDENTIAL_KIND).to_numpy() & (_hectares(outlines) > max_area_ha)
    if big.any():
        logger.info("compounds: %d landuse=residential areas larger than %g ha are neighbourhoods, not compounds %s",
                    int(big.sum()), max_area_ha, first_ids(outlines["compound_id"][big]))
    return outlines[~big]


@dataclass(frozen=True)
class CompoundCover:
    """How many buildings (and households) compounds cover: what ``inspect`` reports."""

    compounds: int
    buildings: int
    of_buildings: int
    households: int | None
    of_households: int | None
    largest: str | None
    largest_buildings: int

    def __str__(self) -> str:
        share = f" ({self.buildings / self.of_buildings:.0%})" if self.of_buildings else ""
        text = f"{self.compounds:,} compounds hold {self.buildings:,} of {self.of_buildings:,} buildings{share}"
        if self.households is not None and self.of_households:
            text += f", {self.households:,} of {self.of_households:,} households"
        if self.largest is not None:
            text += f"; the largest, {self.largest}, holds {self.largest_buildings:,}"
        return text


def compound_cover(buildings: pd.DataFrame) -> CompoundCover:
    """The buildings (and households, when the frame has them) in compounds, from its ``compound`` column.

    Examples
    --------
    >>> b = pd.DataFrame({"compound": ["a", "a", None, "b"], "households": [10, 20, 5, 0]})
    >>> c = compound_cover(b); (c.compounds, c.buildings, c.households, c.largest)
    (2, 3, 30, 'a')
    """
    comp = (buildings["compound"] if "compound" in buildings.columns else pd.Series(None, index=buildings.index))
    comp = comp.where(comp.notna() & (comp.astype(str).str.strip() != ""), None).dropna()
    counts = comp.value_counts()
    hh = buildings["households"] if "households" in buildings.columns else None
    return CompoundCover(
        compounds=int(len(counts)), buildings=int(len(comp)), of_buildings=int(len(buildings)),
        households=None if hh is None else int(hh.loc[comp.index].sum()),
        of_households=None if hh is None else int(hh.sum()),
        largest=str(counts.index[0]) if len(counts) else None, largest_buildings=int(counts.iloc[0]) if len(counts) else 0,
    )


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
        problems.append("compounds: no CRS; give the file its CRS (a .prj beside a shapefile, or save it as a GeoPackage)")
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


def compounds_across_roads(buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame | None, *,
                           min_length: float = 10.0) -> list[str]:
    """Compounds whose buildings lie on both sides of a strong road or a tier-1 line: ``'C1 (中山路)'``, one per
    compound. A compound is meant to be one walled estate, so a primary road or a river through the hull of
    its buildings (over at least ``min_length`` metres) is most often an outline drawn across the road by
    mistake. ``buildings`` (with ``compound``) and ``barriers`` (with ``tier``) share one metric CRS.

    Examples
    --------
    >>> from shapely.geometry import LineString, box
    >>> b = gpd.GeoDataFrame({"compound": ["C1", "C1", "C2", "C2"]},
    ...     geometry=[box(0, 0, 10, 10), box(40, 0, 50, 10), box(0, 40, 10, 50), box(15, 40, 25, 50)], crs=32650)
    >>> road = gpd.GeoDataFrame({"tier": [2], "name": ["中山路"]}, geometry=[LineString([(30, -20), (30, 60)])], crs=32650)
    >>> compounds_across_roads(b, road)
    ['C1 (中山路)']
    """
    if barriers is None or not len(barriers) or "compound" not in buildings.columns:
        return []
    strong = barriers[(barriers["tier"].to_numpy() <= 2) & np.isin(shapely.get_type_id(np.asarray(barriers.geometry.values)), [1, 2, 5])]
    grouped = buildings[buildings["compound"].notna()]
    if strong.empty or grouped.empty:
        return []
    tree = shapely.STRtree(np.asarray(strong.geometry.values, dtype=object))
    names = strong["name"] if "name" in strong.columns else pd.Series([None] * len(strong), index=strong.index)
    out = []
    for cid, g in grouped.groupby("compound", sort=True):
        if len(g) < 2:
            continue
        hull = shapely.convex_hull(shapely.union_all(np.asarray(g.geometry.values, dtype=object)))
        hits = tree.query(hull, predicate="intersects")
        long = [h for h in hits if shapely.length(shapely.intersection(strong.geometry.iloc[h], hull)) >= min_length]
        if long:
            label = next((str(names.iloc[h]) for h in long if isinstance(names.iloc[h], str) and names.iloc[h]), "an unnamed road")
            out.append(f"{cid} ({label})")
    return out
