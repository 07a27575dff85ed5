"""Which roads, railways, rivers and walls bound grids, and how hard (DOMAIN.md §3).

Tier 1 (hard) is never crossed, tier 2 (strong) only where a piece is otherwise infeasible, tier 3
(soft) is a preferred cut line. The tags come from OpenStreetMap; the table is a configurable default.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import LineString
>>> roads = gpd.GeoDataFrame(
...     {"highway": ["primary", "footway", "residential"], "name": ["中山路", None, "石鼓路"]},
...     geometry=[LineString([(0, 0), (1, 0)])] * 3, crs=4326)
>>> classify_barriers(roads)[["tier", "kind", "name"]]
   tier              kind name
0     2   highway=primary  中山路
1     3  highway=residential  石鼓路
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InputError, first_ids

__all__ = ["DEFAULT_TIERS", "TAG_KEYS", "TIER_NAMES", "classify_barriers"]

logger = logging.getLogger(__name__)

#: Barrier tier by OSM key and value; values not listed are not barriers. [practice/proposal]
DEFAULT_TIERS: dict[str, dict[str, int]] = {
    "highway": {
        "motorway": 1, "motorway_link": 1, "trunk": 1, "trunk_link": 1,
        "primary": 2, "primary_link": 2, "secondary": 2, "secondary_link": 2,
        "tertiary": 3, "tertiary_link": 3, "residential": 3, "unclassified": 3,
        "living_street": 3, "service": 3,
    },
    "railway": {"rail": 1, "light_rail": 1, "narrow_gauge": 1},
    "waterway": {"river": 1, "canal": 1, "riverbank": 1, "stream": 3},
    "natural": {"water": 1},
    "landuse": {"reservoir": 1, "basin": 1},
    "barrier": {"wall": 3, "fence": 3},
}
#: The columns :func:`classify_barriers` reads tags from.
TAG_KEYS: tuple[str, ...] = ("highway", "railway", "waterway", "natural", "landuse", "barrier")
#: Words accepted in a ``tier`` column, besides 0–3.
TIER_NAMES: dict[str, int] = {"hard": 1, "strong": 2, "soft": 3, "none": 0}
_AREA_KINDS = {"natural=water", "waterway=riverbank", "landuse=reservoir", "landuse=basin"}
_TUNNEL_VALUES = {"yes", "building_passage", "culvert", "covered"}
_ID_COLUMNS = ("osm_id", "building_id", "id")


def _merged_tiers(tiers: Mapping | None) -> dict[str, dict[str, int]]:
    merged = {key: dict(values) for key, values in DEFAULT_TIERS.items()}
    for key, values in (tiers or {}).items():
        merged.setdefault(key, {}).update({str(v): int(t or 0) for v, t in dict(values).items()})
    return merged


def _row_ids(gdf: gpd.GeoDataFrame, mask: pd.Series) -> list:
    for col in _ID_COLUMNS:
        if col in gdf.columns:
            return gdf.loc[mask, col].tolist()
    return [f"row {i}" for i in np.flatnonzero(mask.to_numpy())]


def _parse_tier_column(gdf: gpd.GeoDataFrame) -> tuple[pd.Series, list[str]]:
    """The ``tier`` override per row (NaN where not given), and problems found."""
    raw = gdf["tier"]
    words = raw.map(lambda v: TIER_NAMES.get(v.strip().lower()) if isinstance(v, str) else None)
    nums = pd.to_numeric(raw.where(words.isna()), errors="coerce")
    value = words.astype(float).fillna(nums)
    given = raw.notna() & ~raw.map(lambda v: isinstance(v, str) and not v.strip())
    bad = given & ~value.isin([0, 1, 2, 3])
    problems = []
    if bad.any():
        problems.append(
            f"barriers: the `tier` column has {int(bad.sum())} value(s) that are not a tier, e.g. "
            f"{first_ids(raw[bad].unique().tolist(), 5)} at {first_ids(_row_ids(gdf, bad))}; use 1/2/3 "
            "(or 'hard'/'strong'/'soft'), 0/'none' to drop a feature, or leave it empty to use the tags"
        )
    return value.where(given), problems


def _is_under_ground(gdf: gpd.GeoDataFrame) -> pd.Series:
    out = pd.Series(False, index=gdf.index)
    if "tunnel" in gdf.columns:
        out |= gdf["tunnel"].astype("string").str.strip().str.lower().isin(_TUNNEL_VALUES).fillna(False)
    if "layer" in gdf.columns:
        out |= (pd.to_numeric(gdf["layer"], errors="coerce") < 0).fillna(False)
    return out.astype(bool)


def _with_kind_tags(gdf: gpd.GeoDataFrame, table: Mapping) -> gpd.GeoDataFrame:
    """A layer gridplan wrote (``tier``, ``kind`` = "natural=water", ``name``) with its tag columns back, so that
    reading it again keeps every feature as it was: its kind, and a water area as a polygon (a ``tier`` column
    alone would turn it into its outline). Tag columns the layer already has win.

    >>> b = gpd.GeoDataFrame({"tier": [1, 2], "kind": ["natural=water", "tier"]}, geometry=[None, None])
    >>> _with_kind_tags(b, DEFAULT_TIERS)["natural"].tolist()
    ['water', nan]
    """
    if "kind" not in gdf.columns:
        return gdf
    key, eq, value = (gdf["kind"].astype(str).str.partition("=")[i] for i in range(3))
    missing = sorted(k for k in set(key[eq == "="]) if k in table and k not in gdf.columns)
    if not missing:
        return gdf
    out = gdf.copy()
    for k in missing:
        out[k] = value.where((key == k) & (eq == "="))
    return out


def classify_barriers(gdf: gpd.GeoDataFrame, *, tiers: Mapping | None = None) -> gpd.GeoDataFrame:
    """Keep the features that are barriers and give each its tier.

    A feature's tier is the strongest (lowest) tier among its tags in ``tiers`` (merged over
    :data:`DEFAULT_TIERS`). Tunnels (``tunnel`` yes/building_passage/culvert) and anything with a
    negative ``layer`` are not barriers. A ``tier`` column overrides per feature: 1/2/3 or
    'hard'/'strong'/'soft'; 0 or 'none' drops the feature; empty uses the tags.

    Parameters
    ----------
    gdf
        Lines (and water polygons) with OSM tag columns ``highway``, ``railway``, ``waterway``,
        ``natural``, ``landuse``, ``barrier`` and/or a ``tier`` column; optional ``name``,
        ``tunnel``, ``layer``.
    tiers
        Changes to the default table, e.g. ``{"highway": {"service": 0, "pedestrian": 3}}``
        (0 makes a value no barrier).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``tier`` (int 1/2/3), ``kind`` (e.g. ``"highway=primary"``; for an override, the
        feature's first tag, or ``"tier"`` when it has none), ``name`` (``""`` when none) and geometry (lines; polygons for water
        areas), index 0..n-1, in ``gdf``'s CRS.

    Raises
    ------
    InputError
        When no tag column or ``tier`` column exists, or a ``tier`` value is not a tier.
    """
    table = _merged_tiers(tiers)
    gdf = _with_kind_tags(gdf, table)
    keys = [k for k in table if k in gdf.columns]
    if not keys and "tier" not in gdf.columns:
        raise InputError(
            f"barriers: none of the columns gridplan reads is present (found {first_ids(list(gdf.columns))}); "
            f"give OSM tag columns {', '.join(TAG_KEYS)} (as in an OSM extract), or a `tier` column "
            "with 1/2/3 per feature"
        )
    tier = pd.Series(np.nan, index=gdf.index)
    kind = pd.Series(pd.NA, index=gdf.index, dtype="object")
    any_tag = pd.Series(pd.NA, index=gdf.index, dtype="object")
    for key in keys:
        values = gdf[key].astype("string").str.strip()
        any_tag = any_tag.where(any_tag.notna() | values.isna(), key + "=" + values.astype(object))
        t = values.map(lambda v, key=key: table[key].get(v) if isinstance(v, str) else None).astype(float)
        t = t.where(t > 0)
        better = t.notna() & (tier.isna() | (t < tier))
        tier = tier.where(~better, t)
        kind = kind.where(~better, key + "=" + values.astype(object))
    tier = tier.where(~_is_under_ground(gdf))
    if "tier" in gdf.columns:
        override, problems = _parse_tier_column(gdf)
        if problems:
            raise InputError(problems)
        tier = override.where(override.notna(), tier)
        kind = kind.where(kind.notna() | override.isna(), any_tag.fillna("tier"))
    geom_ok = gdf.geometry.notna() & ~gdf.geometry.is_empty
    geom_ok &= gdf.geometry.geom_type.isin(["LineString", "MultiLineString", "Polygon", "MultiPolygon", "LinearRing"])
    keep = (tier > 0).fillna(False) & geom_ok
    out_kind = kind[keep].astype(str)
    geometry = gdf.geometry[keep]
    polygonal = geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    to_line = polygonal & ~out_kind.isin(_AREA_KINDS)
    geometry = geometry.where(~to_line, geometry.boundary)
    names = gdf["name"][keep] if "name" in gdf.columns else pd.Series("", index=geometry.index)
    out = gpd.GeoDataFrame(
        {
            "tier": tier[keep].astype("int64").to_numpy(),
            "kind": out_kind.to_numpy(),
            "name": names.map(lambda v: v if isinstance(v, str) else ("" if pd.isna(v) else str(v))).to_numpy(),
        },
        geometry=gpd.GeoSeries(geometry.to_numpy(), crs=gdf.crs),
    )
    logger.info("classified barriers: %d of %d features kept (tier 1: %d, tier 2: %d, tier 3: %d)",
                len(out), len(gdf), *(int((out["tier"] == t).sum()) for t in (1, 2, 3)))
    return out
