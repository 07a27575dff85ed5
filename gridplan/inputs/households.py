"""Households per building, from the most trusted source at hand.

In order of trust (each building takes the first that applies; ``source`` records which):

1. ``"ledger"`` / ``"ledger-population"``: a household ledger (台账) joined by building id
   (:func:`gridplan.inputs.ledger.join_ledger`); a row giving only population counts population ÷ persons per
   household;
2. ``"field"``: the user's own households column (set by :func:`gridplan.inputs.validate.prepare`);
3. ``"flats"``: OSM ``building:flats``;
4. ``"population"``: a population column ÷ persons per household (a count beats a guess, so it ranks
   above the footprint estimate; it is used only when no households figure is known);
5. ``"estimate"``: footprint area × storeys × usable share ÷ dwelling size, rounded; ``"estimate-capped"``
   when that exceeds storeys × the most dwellings a floor plate plausibly holds;
6. zero, visibly: ``"non-residential"`` (a non-residential type, or a large generic ``building=yes``
   footprint outside residential land use) and ``"too-small"`` (sheds, kiosks, slivers).

Every number is a field of :class:`HouseholdRules` (defaults and their basis in ``docs/inputs.md``):

- usable share 0.75 of the gross floor area is dwelling space (得房率 of multi-storey housing, 70–80 %)
  [practice]; dwelling size 72 m² of usable space, so 96 m² gross per household: the 7th census
  (2020) gives 36.5 m² of floor space per urban resident × 2.62 persons [std: census];
- storeys by building type when untagged (:data:`DEFAULT_LEVELS`) [proposal];
- ``building=yes`` (and untyped footprints) count as residential inside a ``landuse=residential`` polygon,
  and elsewhere up to 2,000 m² of footprint; larger generic footprints outside residential land use are
  offices, malls, halls and factories in the extracts we measured, so they get 0 [proposal];
- at most 16 dwellings per floor (two to four entrances of four flats; slab blocks) [proposal];
- a building's shape (:mod:`gridplan.inputs.shape`): one entrance (单元) per 15 m of the footprint's long side
  [proposal: the sample's walk-ups and slabs measure 15.0 m per entrance]; at most 150 storeys and 30
  entrances (a larger value is a mistake in the data) [proposal];
- at most 3,000 households in one building: the largest residential towers hold 1,000–2,000 homes, so a
  larger count is a mistake in the data (a population, an area, a district total) unless the planner says
  it is not (``accept_large=True``) [proposal].

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> b = gpd.GeoDataFrame({"building": ["apartments", "school", "yes", "yes"], "levels": [None, 4, 2, 3]},
...                      geometry=[box(0, 0, 20, 50), box(0, 0, 50, 50), box(0, 0, 10, 10),
...                                box(0, 0, 100, 100)], crs=32650)
>>> est = estimate_households(b)
>>> est.households.tolist(), est.source.tolist()
([62, 0, 2, 0], ['estimate', 'non-residential', 'estimate', 'non-residential'])
>>> est.reason.tolist()
['', 'building=school', '', 'building=yes, 10000 m² outside residential land use']
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import Findings, InputError, first_ids, plural
from .columns import DEFAULT_FIELDS, data_columns, missing_field

__all__ = [
    "HouseholdEstimate", "HouseholdRules", "estimate_households", "levels_by_type", "DEFAULT_LEVELS",
    "NON_RESIDENTIAL", "FALLBACK_LEVELS", "GENERIC_TYPES", "SOURCES", "ESTIMATED_SOURCES", "given_households",
    "given_population", "check_counts", "NOT_A_COUNT",
]

logger = logging.getLogger(__name__)

#: Storeys assumed by ``building`` type when no levels are given. [proposal]
DEFAULT_LEVELS: Mapping[str, float] = MappingProxyType({
    "apartments": 6, "residential": 6, "dormitory": 5, "yes": 3, "terrace": 2, "semidetached_house": 2,
    "house": 2, "detached": 2, "bungalow": 1, "farm": 2, "cabin": 1, "static_caravan": 1,
})
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
#: Types that say only "a building": the footprint-size rule decides whether they are homes.
GENERIC_TYPES: frozenset[str] = frozenset({"yes", "building", "true", "1"})
#: Every value of ``household_source``, most trusted first.
SOURCES = ("ledger", "ledger-population", "field", "flats", "population", "estimate", "estimate-capped",
           "non-residential", "too-small")
#: The sources whose households are a guess from the footprint, not a count.
ESTIMATED_SOURCES = frozenset({"estimate", "estimate-capped"})
#: Not a count of households in one building whatever the flags (and beyond what the figures hold)
NOT_A_COUNT = 10_000_000


@dataclass(frozen=True)
class HouseholdRules:
    """The household estimate's rules; every number configurable (see the module docstring).

    Examples
    --------
    >>> HouseholdRules().gross_m2_per_household
    96.0
    >>> HouseholdRules(non_residential=HouseholdRules().non_residential - {"hotel"}).is_non_residential("hotel")
    False
    """

    usable_share: float = 0.75
    dwelling_m2: float = 72.0
    persons_per_household: float = 2.62
    default_levels: Mapping[str, float] = field(default_factory=lambda: DEFAULT_LEVELS)
    fallback_levels: float = FALLBACK_LEVELS
    non_residential: frozenset[str] = NON_RESIDENTIAL
    generic_types: frozenset[str] = GENERIC_TYPES
    generic_max_m2: float | None = 2000.0
    min_footprint_m2: float = 30.0
    max_dwellings_per_floor: float | None = 16.0
    entrance_length_m: float = 15.0
    max_levels: int = 150
    max_units: int = 30
    max_households_per_building: int = 3000

    def __post_init__(self) -> None:
        problems = []
        for name in ("usable_share", "dwelling_m2", "persons_per_household", "fallback_levels", "entrance_length_m",
                     "max_levels", "max_units", "max_households_per_building"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                problems.append(f"`{name}` was {v!r}; give a positive number")
        if not 0 < self.usable_share <= 1:
            problems.append(f"`usable_share` was {self.usable_share!r}; give a share between 0 and 1, e.g. 0.75")
        for name in ("generic_max_m2", "max_dwellings_per_floor"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                problems.append(f"`{name}` was {v!r}; give a positive number, or None to switch the rule off")
        if problems:
            raise InputError(problems)
        object.__setattr__(self, "non_residential", frozenset(str(t).lower() for t in self.non_residential))
        object.__setattr__(self, "generic_types", frozenset(str(t).lower() for t in self.generic_types))

    @property
    def gross_m2_per_household(self) -> float:
        """Gross floor area per household: dwelling size ÷ usable share."""
        return round(self.dwelling_m2 / self.usable_share, 6)

    def is_non_residential(self, building_type: str) -> bool:
        """Whether a ``building`` value holds no households under these rules."""
        return str(building_type).strip().lower() in self.non_residential

    def with_changes(self, **changes: object) -> HouseholdRules:
        """A copy with some rules changed (``non_residential_add``/``_remove`` edit the set)."""
        add = set(changes.pop("non_residential_add", ()) or ())
        remove = set(changes.pop("non_residential_remove", ()) or ())
        if add or remove:
            base = changes.get("non_residential", self.non_residential)
            changes["non_residential"] = (frozenset(base) | add) - remove
        return replace(self, **changes)


@dataclass(frozen=True)
class HouseholdEstimate:
    """Households per building (int64), where each value came from (:data:`SOURCES`), the storeys used
    (float), and a short reason for every zero or capped value (``""`` otherwise)."""

    households: pd.Series
    source: pd.Series
    levels: pd.Series
    reason: pd.Series


def _area_m2(buildings: gpd.GeoDataFrame) -> pd.Series:
    if buildings.crs is None:
        raise InputError("buildings: no CRS, so footprint areas cannot be measured; declare the CRS of the "
                         "coordinates, e.g. `input_crs='EPSG:4326'` (see gridplan.inputs.validate.prepare)")
    geoms = buildings.geometry
    if buildings.crs.is_geographic:
        geoms = geoms.to_crs(buildings.to_crs(4326).estimate_utm_crs())
    return pd.Series(geoms.area.to_numpy(), index=buildings.index).fillna(0.0)


def _number(buildings: gpd.GeoDataFrame, column: str | None) -> pd.Series:
    if column and column in buildings.columns:
        return pd.to_numeric(buildings[column], errors="coerce").astype(float)
    return pd.Series(np.nan, index=buildings.index)


def levels_by_type(types: pd.Series, rules: HouseholdRules) -> pd.Series:
    """Storeys assumed per building from its type (``rules.default_levels``, else ``rules.fallback_levels``).

    Examples
    --------
    >>> levels_by_type(pd.Series(["Apartments", None, "shed"]), HouseholdRules()).tolist()
    [6.0, 3.0, 3.0]
    """
    lookup = {str(k).lower(): float(v) for k, v in rules.default_levels.items()}
    clean = types.astype("string").str.strip().str.lower()
    return clean.map(lambda t: lookup.get(t, rules.fallback_levels) if isinstance(t, str) else rules.fallback_levels
                     ).astype(float)


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    rules: HouseholdRules | None = None,
    levels_field: str | None = "levels",
    flats_field: str | None = "flats",
    population_field: str | None = "population",
    type_field: str = "building",
    residential_field: str | None = "in_residential",
) -> HouseholdEstimate:
    """Households per building from ``building:flats``, population, or footprint area × storeys.

    Parameters
    ----------
    buildings
        Footprints with a CRS (areas are measured in metres; geographic data is projected to UTM).
    rules
        The estimate's numbers and type lists (default :class:`HouseholdRules`).
    levels_field
        Column with storeys; missing or non-positive values fall back to the default by type.
    flats_field
        Column with a count of flats (OSM ``building:flats``); it wins where present.
    population_field
        Column with residents; households = population ÷ persons per household where no flats are given.
    type_field
        Column with the building type (OSM ``building``); used for default storeys and the
        non-residential rule.
    residential_field
        Boolean column: the footprint lies in a ``landuse=residential`` polygon (see :mod:`gridplan.inputs.osm`).
        Generic footprints (``building=yes``) inside one are homes whatever their size.

    Returns
    -------
    HouseholdEstimate
        Indexed like ``buildings``.
    """
    rules = rules or HouseholdRules()
    index = buildings.index
    area = _area_m2(buildings)
    types = (buildings[type_field].astype("string").str.strip().str.lower()
             if type_field in buildings.columns else pd.Series(pd.NA, index=index, dtype="string"))
    levels = _number(buildings, levels_field)
    levels = levels.where(levels > 0).fillna(levels_by_type(types, rules))

    raw = area * levels * rules.usable_share / rules.dwelling_m2
    households = raw.round()
    source = pd.Series("estimate", index=index, dtype=object)
    reason = pd.Series("", index=index, dtype=object)
    if rules.max_dwellings_per_floor is not None:
        cap = np.floor(levels * rules.max_dwellings_per_floor)
        capped = households > cap
        households[capped] = cap[capped]
        source[capped] = "estimate-capped"
        reason[capped] = [f"capped at {lv:g} storeys × {rules.max_dwellings_per_floor:g} dwellings"
                          for lv in levels[capped]]

    typed_non_res = types.isin(list(rules.non_residential)).fillna(False).astype(bool)
    generic = (types.isin(list(rules.generic_types)) | types.isna()).fillna(True).astype(bool)
    in_res = (buildings[residential_field].fillna(False).astype(bool)
              if residential_field and residential_field in buildings.columns else pd.Series(False, index=index))
    big_generic = pd.Series(False, index=index)
    if rules.generic_max_m2 is not None:
        big_generic = generic & ~in_res & (area > rules.generic_max_m2)
    non_res = typed_non_res | big_generic
    tiny = (area < rules.min_footprint_m2) & ~non_res
    households[non_res | tiny] = 0
    source[non_res] = "non-residential"
    source[tiny] = "too-small"
    reason[typed_non_res] = "building=" + types[typed_non_res].astype(str)
    reason[big_generic] = [f"building={t if isinstance(t, str) else '(none)'}, {a:.0f} m² outside residential land use"
                           for t, a in zip(types[big_generic], area[big_generic])]
    reason[tiny] = [f"footprint {a:.0f} m² < {rules.min_footprint_m2:g} m²" for a in area[tiny]]

    population = _number(buildings, population_field)
    has_pop = (population >= 0).fillna(False).astype(bool)
    households[has_pop] = (population[has_pop] / rules.persons_per_household).round()
    source[has_pop] = "population"
    reason[has_pop] = ""
    flats = _number(buildings, flats_field)
    has_flats = (flats >= 0).fillna(False).astype(bool)
    households[has_flats] = flats[has_flats].round()
    source[has_flats] = "flats"
    reason[has_flats] = ""

    households = households.fillna(0).clip(lower=0).astype("int64")
    logger.info("estimated households: %d buildings, %d households (%s)", len(index), int(households.sum()),
                ", ".join(f"{k}: {v}" for k, v in source.value_counts().items()))
    return HouseholdEstimate(households, source, levels, reason)


def _are(mask: pd.Series) -> str:
    return "is" if int(mask.sum()) == 1 else "are"


def given_households(b: gpd.GeoDataFrame, field: str, estimate: str, ids: pd.Series,
                     out: Findings, rules: HouseholdRules) -> tuple[pd.Series, pd.Series]:
    """Households the buildings' ``field`` gives (NaN where to estimate) and the mask of rows to estimate.

    Part of :func:`gridplan.inputs.validate.prepare`, which documents ``estimate``; what is wrong goes to ``out``.
    """
    n = len(b)
    nan = pd.Series(np.nan, index=b.index)
    if estimate == "all":
        out.notes.append(f"households estimated for all {plural(n, 'building')} (estimate='all')")
        return nan, pd.Series(True, index=b.index)
    if field not in b.columns:
        if field != DEFAULT_FIELDS["households_field"]:  # named by the user: a mistake, never a reason to estimate
            out.problems.append(missing_field(b, "households_field", field) +
                                ", or estimate every building's households with `estimate='all'`")
        elif estimate == "never":
            out.problems.append(f"buildings: no households column {field!r} (columns: {first_ids(data_columns(b))}) "
                                "and `estimate='never'`; name the households column with `households_field`, or "
                                "allow an estimate with `estimate='auto'`")
        else:
            msg = (f"buildings have no households field {field!r}: households estimated for all {plural(n, 'building')} "
                   f"from footprint area × storeys × {rules.usable_share:g} usable ÷ {rules.dwelling_m2:g} m² per "
                   "dwelling (non-residential types and large building=yes footprints outside residential land "
                   "use count 0)")
            out.notes.append(msg)
            out.warnings.append(msg + "; name your own counts with `households_field`")
        return nan, pd.Series(True, index=b.index)
    raw = b[field]
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    missing = raw.isna()
    non_num = ~missing & (num.isna() | ~np.isfinite(num))
    if non_num.any():
        out.problems.append(f"buildings: {plural(int(non_num.sum()), 'value')} of {field!r} {_are(non_num)} not numbers, e.g. "
                            f"{raw[non_num].iloc[0]!r} {first_ids(ids[non_num])}; give whole numbers of households")
    negative = (num < 0).fillna(False)
    if negative.any():
        out.problems.append(f"buildings: {plural(int(negative.sum()), 'negative value')} of {field!r}, e.g. "
                            f"{num[negative].iloc[0]:g} {first_ids(ids[negative])}; households must be >= 0")
    absurd = (num > NOT_A_COUNT).fillna(False)
    if absurd.any():
        out.problems.append(f"buildings: {plural(int(absurd.sum()), 'value')} of {field!r} above {NOT_A_COUNT:,}, "
                            f"e.g. {num[absurd].iloc[0]:g} {first_ids(ids[absurd])}; no building holds that many "
                            "households: check the column (is it population, or an area?)")
    if missing.any() and estimate != "missing":
        out.problems.append(f"buildings: {plural(int(missing.sum()), 'building')} with no {field!r} value "
                            f"{first_ids(ids[missing])}; fill them in, or pass `estimate='missing'` to estimate "
                            "just those")
    if missing.any() and estimate == "missing":
        out.notes.append(f"households estimated for {plural(int(missing.sum()), 'building')} with no {field!r} value")
    fractional = (num.notna() & (num % 1 != 0) & ~non_num & ~negative)
    if fractional.any():
        out.notes.append(f"rounded {plural(int(fractional.sum()), 'non-integer households value')} to whole households")
    return num.where(~non_num & ~absurd).round(), missing


def check_counts(households: pd.Series, source: pd.Series, ids: pd.Series, field: str, rules: HouseholdRules,
                 accept_large: bool, out: Findings) -> None:
    """All households 0, or buildings above the plausible most, are mistakes in the data."""
    if int(households.sum()) == 0:
        counts = ", ".join(f"{k} {int(v):,}" for k, v in source.value_counts().items())
        out.problems.append(f"buildings: all {plural(len(households), 'building')} have 0 households (sources: {counts}), "
                            f"so there is nothing to plan; give the households column with `households_field` "
                            f"(was {field!r}), or estimate them from the footprints with `estimate='all'`")
    limit = rules.max_households_per_building
    large = (households > limit) & ~source.isin(list(ESTIMATED_SOURCES))
    if large.any() and not accept_large:
        shown = [f"{i} ({h:,})" for i, h in zip(ids[large], households[large])]
        out.problems.append(f"buildings: {plural(int(large.sum()), 'building')} with more than {limit:,} households "
                            f"{first_ids(shown)}, more than a building holds; check the counts (a population? a "
                            "total of several buildings?), or plan them as they are with `accept_large=True`")
    elif large.any():
        out.notes.append(f"households: {plural(int(large.sum()), 'building')} above {limit:,} households accepted "
                         f"(accept_large) {first_ids(ids[large])}")


def given_population(b: gpd.GeoDataFrame, field: str, ids: pd.Series, out: Findings) -> pd.Series:
    """Residents per building where the field gives them (NaN elsewhere); non-numbers and negatives are problems."""
    if field not in b.columns:
        return pd.Series(np.nan, index=b.index)
    raw = b[field]
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    given = raw.notna() & (raw.astype(str).str.strip() != "")
    bad = (given & (~np.isfinite(num) | (num < 0))).fillna(False).astype(bool)
    if bad.any():
        out.problems.append(f"buildings: {plural(int(bad.sum()), 'value')} of {field!r} {_are(bad)} not numbers of persons >= 0, e.g. "
                            f"{raw[bad].iloc[0]!r} {first_ids(ids[bad])}; correct them, or leave them empty to "
                            "count households × persons per household")
    return num.where(given & ~bad)
