"""Estimate households per building when no ledger gives them.

The rule is deliberately simple and documented, so a planner can check it by hand::

    households = round(footprint area m² × storeys ÷ gross floor area per household)

- footprint area is measured in a projected CRS (the local UTM zone when the data is geographic);
- storeys come from the levels field; else a default by building type (``building`` column: apartments
  and residential 6, house/detached 2, yes 3, ...; see :data:`DEFAULT_LEVELS`); else 3;
- gross floor area per household defaults to 100 m² [proposal; configurable];
- ``flats`` (OSM ``building:flats``) wins over the area estimate where present;
- non-residential types (:data:`NON_RESIDENTIAL`) and footprints under 30 m² get 0.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> b = gpd.GeoDataFrame({"building": ["apartments", "school", "yes"], "levels": [None, 4, 2]},
...                      geometry=[box(0, 0, 20, 50), box(0, 0, 50, 50), box(0, 0, 10, 10)], crs=32650)
>>> est = estimate_households(b)
>>> est.households.tolist(), est.source.tolist()
([60, 0, 2], ['estimate', 'non-residential', 'estimate'])
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["HouseholdEstimate", "estimate_households", "DEFAULT_LEVELS", "NON_RESIDENTIAL", "FALLBACK_LEVELS"]

logger = logging.getLogger(__name__)

#: Storeys assumed by ``building`` type when no levels are given. [proposal]
DEFAULT_LEVELS: dict[str, float] = {
    "apartments": 6, "residential": 6, "dormitory": 5, "yes": 3, "terrace": 2, "semidetached_house": 2,
    "house": 2, "detached": 2, "bungalow": 1, "farm": 2, "cabin": 1, "static_caravan": 1,
}
#: Storeys assumed when nothing else is known. [proposal]
FALLBACK_LEVELS = 3.0
#: Building types that hold no households. [proposal]
NON_RESIDENTIAL: frozenset[str] = frozenset({
    "commercial", "retail", "office", "industrial", "school", "university", "college", "kindergarten",
    "hospital", "church", "cathedral", "chapel", "mosque", "temple", "shrine", "synagogue", "religious",
    "warehouse", "shed", "garage", "garages", "carport", "kiosk", "roof", "hut", "service",
    "train_station", "transportation", "public", "civic", "government", "hotel", "supermarket",
    "stadium", "sports_hall", "sports_centre", "parking", "toilets", "greenhouse", "barn", "stable",
    "cowshed", "farm_auxiliary", "construction", "ruins", "bridge", "gatehouse", "pavilion",
    "castle", "fire_station", "museum", "library", "theatre", "cinema", "power", "transformer_tower",
    "water_tower", "bunker", "tower", "monument", "no",
})
SOURCES = ("field", "flats", "estimate", "non-residential", "too-small")


@dataclass(frozen=True)
class HouseholdEstimate:
    """Households per building (int64) and where each value came from.

    ``source`` is one of ``"field"`` (the user's value, set by :func:`gridplan.validate.prepare`),
    ``"flats"``, ``"estimate"``, ``"non-residential"`` or ``"too-small"``.
    """

    households: pd.Series
    source: pd.Series
    levels: pd.Series


def _area_m2(buildings: gpd.GeoDataFrame) -> pd.Series:
    if buildings.crs is None:
        raise InputError("buildings: no CRS, so footprint areas cannot be measured; declare it, "
                         "e.g. gdf.set_crs(4326)")
    geoms = buildings.geometry
    if buildings.crs.is_geographic:
        geoms = geoms.to_crs(buildings.to_crs(4326).estimate_utm_crs())
    return pd.Series(geoms.area.to_numpy(), index=buildings.index).fillna(0.0)


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    levels_field: str | None = "levels",
    floor_area_per_household: float = 100.0,
    default_levels: Mapping[str, float] | float = DEFAULT_LEVELS,
    flats_field: str | None = "flats",
    type_field: str = "building",
    min_footprint_m2: float = 30.0,
    non_residential: frozenset[str] | set[str] = NON_RESIDENTIAL,
) -> HouseholdEstimate:
    """Estimate households per building from footprint area × storeys.

    Parameters
    ----------
    buildings
        Footprints with a CRS (areas are measured in metres; geographic data is projected to UTM).
    levels_field
        Column with storeys; missing or non-positive values fall back to the default.
    floor_area_per_household
        Gross floor area per household in m² (100 by default). [proposal]
    default_levels
        Storeys by building type (mapping; unknown types get :data:`FALLBACK_LEVELS`), or one number
        for every building.
    flats_field
        Column with a count of flats (OSM ``building:flats``); it wins where present.
    type_field
        Column with the building type (OSM ``building``); used for default storeys and to find
        non-residential buildings.
    min_footprint_m2
        Footprints smaller than this hold no households (sheds, kiosks, slivers).
    non_residential
        Building types with no households.

    Returns
    -------
    HouseholdEstimate
        ``households`` (int64, >= 0), ``source`` and the ``levels`` used (float), indexed like
        ``buildings``.
    """
    if not floor_area_per_household > 0:
        raise InputError(f"`floor_area_per_household` was {floor_area_per_household!r}; give a positive area "
                         "in m², e.g. 100")
    index = buildings.index
    area = _area_m2(buildings)
    types = (buildings[type_field].astype("string").str.strip().str.lower()
             if type_field in buildings.columns else pd.Series(pd.NA, index=index, dtype="string"))
    if isinstance(default_levels, Mapping):
        lookup = {str(k).lower(): float(v) for k, v in default_levels.items()}
        by_type = types.map(lambda t: lookup.get(t, FALLBACK_LEVELS) if isinstance(t, str) else FALLBACK_LEVELS)
        by_type = by_type.astype(float)
    else:
        by_type = pd.Series(float(default_levels), index=index)
    levels = pd.Series(np.nan, index=index)
    if levels_field and levels_field in buildings.columns:
        levels = pd.to_numeric(buildings[levels_field], errors="coerce").astype(float)
        levels = levels.where(levels > 0)
    levels = levels.fillna(by_type)
    households = (area * levels / floor_area_per_household).round()
    source = pd.Series("estimate", index=index, dtype=object)
    non_res = types.isin(list(non_residential)).fillna(False).astype(bool)
    tiny = (area < min_footprint_m2) & ~non_res
    households[non_res | tiny] = 0
    source[non_res] = "non-residential"
    source[tiny] = "too-small"
    if flats_field and flats_field in buildings.columns:
        flats = pd.to_numeric(buildings[flats_field], errors="coerce").astype(float)
        has = (flats >= 0).fillna(False).astype(bool)
        households[has] = flats[has].round()
        source[has] = "flats"
    households = households.fillna(0).clip(lower=0).astype("int64")
    logger.info("estimated households: %d buildings, %d households (%s)", len(index), int(households.sum()),
                ", ".join(f"{k}: {v}" for k, v in source.value_counts().items()))
    return HouseholdEstimate(households, source, levels)
