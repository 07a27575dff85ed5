"""Entrances (单元) and storeys (层) of every building: checked where given, estimated where not.

Part of :func:`gridplan.inputs.validate.prepare`, which always returns ``units`` and ``levels`` as whole numbers
≥ 1, with ``units_source`` and ``levels_source`` (:data:`SHAPE_SOURCES`):

- ``"given"``: the buildings' own field (``units_field``/``levels_field``); ``"ledger"``: a ledger's column
  (:func:`gridplan.inputs.ledger.join_ledger`);
- storeys ``"estimate-households"``: back from counted households, round(households × dwelling m² ÷
  (footprint × usable share)), the household estimate read backwards;
- storeys ``"estimate-type"``: by building type, as the household estimate assumed them
  (:func:`gridplan.inputs.households.levels_by_type`);
- entrances ``"estimate-length"``: round(long side of the footprint's oriented envelope ÷
  ``entrance_length_m``), between 1 and households ÷ storeys (a floor of an entrance holds at least one home);
- ``"no-households"``: 1 and 1 for a building with no households whose shape is unknown (nothing to divide).

A given value that is not a whole number from 1 to ``max_levels``/``max_units`` is a mistake in the data:
:func:`check_shape` reports it naming the buildings. A value from OpenStreetMap (``building:levels=0`` on a
roof, ``2.5`` for an attic) is a mapper's tag, not the user's count: it is treated as unknown, with a note.

Examples
--------
>>> from shapely.geometry import box
>>> long_side(np.array([box(0, 0, 60, 12), box(0, 0, 12, 60)], dtype=object)).tolist()
[60.0, 60.0]
>>> estimate_units(np.array([60.0, 60.0, 10.0]), np.array([48, 6, 20]), np.array([6, 6, 2]),
...                HouseholdRules()).tolist()
[4, 1, 1]
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..errors import first_ids, plural
from .households import ESTIMATED_SOURCES, HouseholdRules, levels_by_type

__all__ = ["SHAPE_SOURCES", "ORIGIN_ATTR", "OSM_ORIGIN", "check_shape", "long_side", "estimate_units", "estimate_levels",
           "building_shape", "division_estimates", "shape_note"]

#: Every value of ``units_source`` / ``levels_source``.
SHAPE_SOURCES = ("given", "ledger", "estimate-households", "estimate-type", "estimate-length", "no-households")
#: ``buildings.attrs[ORIGIN_ATTR]`` is ``OSM_ORIGIN`` on a layer read from OpenStreetMap (set by
#: :mod:`gridplan.inputs.io` and :func:`gridplan.inputs.osm.osm_from_features`; kept by copies and joins).
ORIGIN_ATTR = "gridplan_origin"
OSM_ORIGIN = "osm"

_WHAT = {"units": ("entrances", "max_units", "is it the households, or the flats?"),
         "levels": ("storeys", "max_levels", "is it the height in metres?")}


_ONE = {"are not numbers": "is not a number", "are not whole numbers": "is not a whole number"}


def _half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, float) + 0.5)


def check_shape(raw: pd.Series, field: str, kind: str, ids: pd.Series, rules: HouseholdRules, *,
                from_osm: bool) -> tuple[pd.Series, list[str], list[str]]:
    """The valid whole ``units``/``levels`` of a column (NaN where empty or unusable), problems and notes.

    ``kind`` is ``"units"`` or ``"levels"``. Empty values are unknown (estimated). Non-numeric, zero,
    negative, non-integer values and values above ``rules.max_units``/``max_levels`` are problems naming the
    buildings, or with ``from_osm`` a note, the value treated as unknown.
    """
    what, limit_name, hint = _WHAT[kind]
    limit = getattr(rules, limit_name)
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    given = raw.notna() & (raw.astype(str).str.strip() != "")
    bad = {
        "are not numbers": given & ~np.isfinite(num),
        "are 0 or negative": given & (num <= 0),
        "are not whole numbers": given & np.isfinite(num) & (num > 0) & (num % 1 != 0),
        f"are above {limit} (HouseholdRules.{limit_name})": given & np.isfinite(num) & (num > limit),
    }
    problems, notes = [], []
    for why, mask in bad.items():
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            continue
        example = raw[mask].iloc[0]
        shown = f"{float(example):g}" if isinstance(example, (int, float, np.number)) else repr(example)
        verb = _ONE.get(why, why.replace("are ", "is ", 1)) if int(mask.sum()) == 1 else why
        head = f"buildings: {plural(int(mask.sum()), 'value')} of {field!r} {verb}, e.g. {shown} {first_ids(ids[mask])}"
        if from_osm:
            notes.append(f"{head}: OpenStreetMap tags that are not a count of {what}; treated as unknown and estimated")
        else:
            fix = f"no building has that many {what}: check the column ({hint})" if "above" in why else \
                f"give whole numbers of {what} from 1 to {limit}"
            problems.append(f"{head}; {fix}, or leave them empty to estimate them")
    unusable = np.logical_or.reduce([m.fillna(False).to_numpy(bool) for m in bad.values()])
    return num.where(given & ~unusable), problems, notes


def long_side(geoms: np.ndarray) -> np.ndarray:
    """The long side (m) of each footprint's oriented envelope (minimum rotated rectangle)."""
    env = shapely.oriented_envelope(np.asarray(geoms, dtype=object))
    out = shapely.length(env)  # a line or point envelope: its length
    polys = shapely.get_type_id(env) == 3
    if polys.any():
        ring = shapely.get_coordinates(shapely.get_exterior_ring(env[polys]))
        corners = ring.reshape(-1, 5, 2)  # a rectangle's closed ring: 5 points
        sides = np.hypot(*np.diff(corners[:, :3], axis=1).transpose(2, 0, 1))
        out[polys] = sides.max(axis=1)
    return out


def estimate_units(length: np.ndarray, households: np.ndarray, levels: np.ndarray, rules: HouseholdRules) -> np.ndarray:
    """Entrances: clip(round(length ÷ entrance length), 1, max(1, households // levels))."""
    upper = np.maximum(1, np.asarray(households, np.int64) // np.maximum(np.asarray(levels, np.int64), 1))
    return np.clip(_half_up(np.asarray(length, float) / rules.entrance_length_m), 1, upper).astype(np.int64)


def estimate_levels(households: np.ndarray, area: np.ndarray, rules: HouseholdRules) -> np.ndarray:
    """Storeys back from households: round(households × dwelling m² ÷ (area × usable share)), 1 to max_levels."""
    area = np.maximum(np.asarray(area, float), 1e-9)
    raw = np.asarray(households, float) * rules.dwelling_m2 / (area * rules.usable_share)
    return np.clip(_half_up(raw), 1, rules.max_levels).astype(np.int64)


def building_shape(geoms: np.ndarray, households: pd.Series, household_source: pd.Series, types: pd.Series,
                   units: pd.Series, levels: pd.Series, units_source: pd.Series, levels_source: pd.Series,
                   rules: HouseholdRules) -> pd.DataFrame:
    """``units``, ``levels`` (int64 ≥ 1), ``units_source``, ``levels_source`` for every building.

    ``units``/``levels`` are the checked values (NaN: unknown) and ``*_source`` where each known one came
    from; ``geoms`` are in metres; ``types`` the building types (for storeys by type).
    """
    index = households.index
    hh = households.to_numpy(np.int64)
    residential = hh > 0
    counted = residential & ~household_source.isin(list(ESTIMATED_SOURCES)).to_numpy()
    lv = levels.to_numpy(float, copy=True)
    lv_src = levels_source.to_numpy(object).copy()
    need = np.isnan(lv)
    back = need & counted
    lv[back] = estimate_levels(hh[back], shapely.area(geoms[back]), rules)
    lv_src[back] = "estimate-households"
    typed = need & residential & ~counted
    lv[typed] = _half_up(levels_by_type(types[typed], rules).to_numpy()).clip(1, rules.max_levels)
    lv_src[typed] = "estimate-type"
    rest = need & ~residential
    lv[rest], lv_src[rest] = 1, "no-households"

    un = units.to_numpy(float, copy=True)
    un_src = units_source.to_numpy(object).copy()
    need = np.isnan(un)
    est = need & residential
    un[est] = estimate_units(long_side(geoms[est]), hh[est], lv[est], rules)
    un_src[est] = "estimate-length"
    rest = need & ~residential
    un[rest], un_src[rest] = 1, "no-households"
    return pd.DataFrame({"units": un.astype(np.int64), "levels": lv.astype(np.int64),
                         "units_source": un_src, "levels_source": lv_src}, index=index)


def division_estimates(shape: pd.DataFrame, rules: HouseholdRules) -> dict:
    """What the report says of the shape estimates: counts per source and the rules used (JSON-ready)."""
    def counts(col: str) -> dict[str, int]:
        return {str(k): int(v) for k, v in shape[col].value_counts().sort_index().items()}

    return {
        "units_estimated": int(shape["units_source"].str.startswith("estimate").sum()),
        "levels_estimated": int(shape["levels_source"].str.startswith("estimate").sum()),
        "units_sources": counts("units_source"),
        "levels_sources": counts("levels_source"),
        "rules": {"entrance_length_m": float(rules.entrance_length_m), "dwelling_m2": float(rules.dwelling_m2),
                  "usable_share": float(rules.usable_share), "max_levels": int(rules.max_levels),
                  "max_units": int(rules.max_units), "fallback_levels": float(rules.fallback_levels),
                  "default_levels": {str(k): float(v) for k, v in rules.default_levels.items()}},
    }


def shape_note(estimates: dict) -> str | None:
    """One line for ``PreparedInput.notes`` saying how many entrances and storeys were estimated, or None."""
    u, lv = estimates["units_estimated"], estimates["levels_estimated"]
    if not (u or lv):
        return None
    src = estimates["levels_sources"]
    return (f"building shape: entrances estimated for {u:,} buildings (footprint long side ÷ "
            f"{estimates['rules']['entrance_length_m']:g} m), storeys for {lv:,} "
            f"({src.get('estimate-households', 0):,} from households, {src.get('estimate-type', 0):,} by type); "
            "give them in the units/levels columns (`units_field`, `levels_field`) or the ledger")

