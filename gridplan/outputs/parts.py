"""Parts of divided buildings as users read them: runs of entrances and floors, labels ("3号楼 1–2单元",
"2单元 1–15层", "1–15层"), the parts each unit holds, and the part rows maps and sheets draw.

A divided building has one roster row per part (``part`` ≥ 1) with its ``entrances`` and ``floors`` runs
(``'1-2'``, ``'1-15'``; floors empty for whole entrances); its entrance and storey counts come from the
plan's input buildings (:func:`building_shapes`).

Examples
--------
>>> part_label([((1, 2), None)], units=4)
'1–2单元'
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable

import geopandas as gpd
import pandas as pd

from ..model import Plan

__all__ = ["LEVEL_CODE", "parse_run", "part_label", "column_lookup", "building_names", "building_shapes", "roster_parts",
           "unit_parts", "part_rows"]

#: The roster column holding each level's code.
LEVEL_CODE = {"community": "community_code", "grid": "grid_code", "micro": "micro_code"}
_RUN = re.compile(r"^\s*(\d+)\s*(?:[-–~]\s*(\d+))?\s*$")


# ---- building parts: "1–2单元", "2单元 1–15层", "1–15层" ------------------------------------------


def parse_run(text: object) -> tuple[int, int] | None:
    """A roster run (``'1-2'``, ``'3'``, ``'1–15'``) as ``(first, last)``; ``None`` when empty or unreadable.

    >>> parse_run("1-2"), parse_run("15"), parse_run(""), parse_run(None)
    ((1, 2), (15, 15), None, None)
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    m = _RUN.match(str(text))
    if m is None:
        return None
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) else a
    return (min(a, b), max(a, b))


def _count(value: object) -> int | None:
    """A count of entrances or storeys (≥ 1), or ``None`` when missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return int(round(v)) if math.isfinite(v) and v >= 1 else None


def _runs(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted integers as contiguous runs: ``[1, 2, 3, 7]`` → ``[(1, 3), (7, 7)]``."""
    out: list[list[int]] = []
    for n in sorted(set(numbers)):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return [(a, b) for a, b in out]


def _run_text(run: tuple[int, int]) -> str:
    return str(run[0]) if run[0] == run[1] else f"{run[0]}–{run[1]}"


def part_label(rows: Iterable[tuple[tuple[int, int] | None, tuple[int, int] | None]], *, units: int | None = None,
               levels: int | None = None) -> str:
    """What ``rows`` of one building hold, in the words of a roster: ``'1–2单元'``, ``'2单元 1–15层'``, ``'1–15层'``.

    Each row is ``(entrances, floors)``, two ``(first, last)`` runs, ``None`` for all of them. Entrances
    come first, floors second (DOMAIN.md §2); a building of one entrance names only its floors. Whole
    entrances next to each other are joined; ``''`` when the rows hold the whole building.

    Examples
    --------
    >>> part_label([((1, 2), None)], units=4)
    '1–2单元'
    >>> part_label([((2, 2), (1, 15))], units=2, levels=30)
    '2单元 1–15层'
    >>> part_label([((1, 1), (1, 15))], units=1, levels=30)
    '1–15层'
    >>> part_label([((1, 1), (1, 16)), ((1, 1), (17, 31)), ((2, 2), (1, 10))], units=3, levels=31)
    '1单元、2单元 1–10层'
    """
    rows = list(rows)
    top = max([r[1] for r, _ in rows if r is not None] + [units or 0, 1])
    held: dict[int, set[int] | None] = {}  # entrance -> floors held (None: every floor)
    for ents, floors in rows:
        for e in range(ents[0], ents[1] + 1) if ents else range(1, top + 1):
            if floors is None or held.get(e, set()) is None:
                held[e] = None
            else:
                held.setdefault(e, set()).update(range(floors[0], floors[1] + 1))
    if levels:
        held = {e: None if f is not None and f >= set(range(1, levels + 1)) else f for e, f in held.items()}
    if len(held) == top and all(f is None for f in held.values()):
        return ""
    pieces = []
    for run in _runs(e for e, f in held.items() if f is None):
        pieces.append((run[0], f"{_run_text(run)}单元"))
    for e, floors in held.items():
        if floors is not None:
            where = "" if top == 1 else f"{e}单元 "
            pieces.append((e, "、".join(f"{where}{_run_text(r)}层" for r in _runs(floors))))
    return "、".join(text for _, text in sorted(pieces))


def column_lookup(plan: Plan, columns: tuple[str, ...]) -> dict[str, str]:
    """Building id → the first of ``columns`` found in the roster, else in the input buildings (non-empty text only)."""
    for source in (plan.buildings, plan.input_buildings):
        col = next((c for c in columns if c in source.columns), None)
        if col is not None:
            values = source[col].astype(object).where(source[col].notna(), "").astype(str).str.strip()
            return {i: v for i, v in zip(source[plan.id_field].astype(str), values) if v and v.lower() != "nan"}
    return {}


def building_names(plan: Plan) -> dict[str, str]:
    """Building id → its name (the input's ``name`` column) or, without one, its id."""
    names = column_lookup(plan, ("name",))
    return {i: names.get(i, i) for i in plan.buildings[plan.id_field].astype(str).unique()}


def building_shapes(plan: Plan) -> pd.DataFrame:
    """Per input building (index: its id as text): ``households``, ``units`` and ``levels`` (``None`` when unknown)
    and their ``units_source``/``levels_source`` when the input carries them (else ``''``)."""
    b = plan.input_buildings
    index = pd.Index(b[plan.id_field].astype(str), name="building_id")
    out = pd.DataFrame({"households": pd.to_numeric(b["households"], errors="coerce").fillna(0).to_numpy()}, index=index)
    for c in ("units", "levels", "units_source", "levels_source"):
        values = b[c].to_numpy() if c in b.columns else [None] * len(b)
        out[c] = pd.Series([_count(v) for v in values] if c in ("units", "levels") else
                           ["" if pd.isna(v) else str(v) for v in values], index=index, dtype=object)
    return out


def roster_parts(plan: Plan) -> pd.DataFrame:
    """The roster rows of divided buildings: id, the three codes, entrance and floor runs, and the part label."""
    b = plan.buildings
    part = pd.to_numeric(b["part"], errors="coerce").fillna(0).to_numpy() > 0
    d = b.loc[part]
    out = pd.DataFrame({
        "building_id": d[plan.id_field].astype(str).to_numpy(),
        **{c: d[c].astype(str).to_numpy() for c in LEVEL_CODE.values()},
        "ents": [parse_run(v) for v in (d["entrances"] if "entrances" in d.columns else [None] * len(d))],
        "flrs": [parse_run(v) for v in (d["floors"] if "floors" in d.columns else [None] * len(d))],
    }, index=d.index)
    shapes = building_shapes(plan)
    units = shapes["units"].to_dict()
    levels = shapes["levels"].to_dict()
    out["label"] = [part_label([(e, f)], units=units.get(i), levels=levels.get(i))
                    for i, e, f in zip(out["building_id"], out["ents"], out["flrs"])]
    return out


def unit_parts(plan: Plan, level: str) -> dict[str, str]:
    """Unit code → the divided buildings it holds part of: ``'3号楼 1–2单元; 5号楼 1–15层'``."""
    rows = roster_parts(plan)
    if rows.empty:
        return {}
    names = building_names(plan)
    shapes = building_shapes(plan)
    key = LEVEL_CODE[level]
    held: dict[str, list[str]] = {}
    for bid, g in rows.groupby("building_id", sort=True):
        if g[key].nunique() < 2:
            continue  # one unit of this level holds the whole building
        for code, h in g.groupby(key, sort=True):
            label = part_label(zip(h["ents"], h["flrs"]), units=shapes["units"].get(bid), levels=shapes["levels"].get(bid))
            held.setdefault(code, []).append(f"{names.get(bid, bid)} {label}".strip())
    return {code: "; ".join(items) for code, items in held.items()}


def part_rows(plan: Plan) -> gpd.GeoDataFrame:
    """The roster rows of divided buildings (``part`` ≥ 1), in the plan's CRS, for maps and sheets: ``building_id``,
    ``label`` (``'3号楼 1–2单元'``), ``part_label``, the three codes, ``households``, ``upper`` (the part holds only
    floors above the first: drawn on top) and the part's footprint slice."""
    b = plan.buildings
    keep = pd.to_numeric(b["part"], errors="coerce").fillna(0).to_numpy() > 0
    table = roster_parts(plan)
    names = building_names(plan)
    return gpd.GeoDataFrame({
        "building_id": table["building_id"].to_numpy(),
        "label": [f"{names.get(i, i)} {lab}".strip() for i, lab in zip(table["building_id"], table["label"])],
        "part_label": table["label"].to_numpy(),
        **{c: table[c].to_numpy() for c in LEVEL_CODE.values()},
        "households": b.loc[keep, "households"].to_numpy(),
        "upper": [f is not None and f[0] > 1 for f in table["flrs"]],
    }, geometry=b.geometry.to_numpy()[keep], crs=b.crs)


