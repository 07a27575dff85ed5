"""The post roster (``posts.csv``): who is to be named for each grid, building, entrance and floor.

Xixiang's seven-level system (DOMAIN.md §2) staffs a plan with one grid worker (网格员) per grid, one
building head (楼栋长) per residential building, one entrance head (单元长) per entrance and one floor head
(楼层长) per floor of each entrance. :func:`posts` lists those posts, each with the codes of the units that
hold its scope and empty name and phone columns for the street office to fill in.

Examples
--------
>>> import gridplan
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> p = gridplan.plan(d.buildings, d.roads, seed=1)
>>> roster = posts(p, down_to="building")
>>> int((roster["post"] == "grid_worker").sum()) == len(p.grids)
True
>>> roster.columns.tolist()[:4]
['post', 'post_zh', 'scope', 'community_code']
"""
from __future__ import annotations

import logging
from typing import Literal, get_args

import pandas as pd

from ..config import check_choice
from ..model import Plan
from .parts import building_names, building_shapes, parse_run
from .tables import unit_names

__all__ = ["posts", "POST_KINDS", "POST_COLUMNS", "DownTo"]

logger = logging.getLogger(__name__)

DownTo = Literal["floor", "entrance", "building"]
POST_KINDS = {"grid_worker": "网格员", "building_head": "楼栋长", "entrance_head": "单元长", "floor_head": "楼层长"}
"""Post kinds, in the order of the hierarchy, and their Chinese names."""
POST_COLUMNS = (
    "post", "post_zh", "scope", "community_code", "grid_code", "micro_code", "building_id", "building_name",
    "entrance", "floor", "source", "holder_name", "holder_phone",
)
"""The columns of :func:`posts`, in order."""
_CODES = ("community_code", "grid_code", "micro_code")


def _joined(rows: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    """The three codes of ``rows`` (roster rows), each level's distinct codes sorted and ";"-joined."""
    if len(rows) == 1:
        return rows[0][:3]
    return tuple(";".join(sorted({r[i] for r in rows})) for i in range(3))  # type: ignore[return-value]


def _source(divided: bool, units: int | None, levels: int | None, units_source: str, levels_source: str) -> str:
    """Where a building's entrances and floors come from (the ``source`` column)."""
    if divided:
        return "roster"
    if units is None:
        return "levels-only" if levels is not None else "building-only"
    if levels is None:
        return "units-only"
    return "estimate" if any(str(s).startswith("estimate") for s in (units_source, levels_source)) else "input"


def posts(plan: Plan, *, down_to: DownTo = "floor") -> pd.DataFrame:
    """One row per post of ``plan``: grid workers, then per grid its buildings' heads, entrances and floors.

    Parameters
    ----------
    plan
        A plan (from :func:`gridplan.plan` or :func:`gridplan.outputs.reader.read_plan`).
    down_to
        The lowest post listed: ``'floor'`` (all four kinds), ``'entrance'`` (no floor heads) or
        ``'building'`` (grid workers and building heads only), to keep a city's roster short.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POST_COLUMNS`: ``post`` (a key of :data:`POST_KINDS`), ``post_zh``, ``scope`` (what
        the post covers: ``'第1社区第2网格'``, ``'3号楼 2单元 5层'``), the ``community_code``, ``grid_code``
        and ``micro_code`` of the units holding that scope (";"-joined when a building or an entrance is
        divided between units; a grid worker has no micro code, a floor is in exactly one micro-grid),
        ``building_id``, ``building_name`` (the input's ``name``, else empty), ``entrance`` and ``floor``
        (1-based, empty above that level), ``source`` and empty ``holder_name``/``holder_phone``.

        Only residential buildings (households > 0) get posts. Entrances and floors come from the
        roster's ``entrances``/``floors`` runs for a divided building (``source`` ``'roster'``; entrances
        or floors the runs leave open from the input's ``units``/``levels``), else from the input's
        ``units`` and ``levels`` (``'input'``; ``'estimate'`` when the input says they were estimated).
        Without ``units``, one entrance is assumed and its floors are ``levels`` (``'levels-only'``);
        without ``levels``, entrances have no floor heads (``'units-only'``); without either there is
        only the building head (``'building-only'``).
    """
    check_choice("down_to", down_to, get_args(DownTo))
    depth = {"building": 0, "entrance": 1, "floor": 2}[down_to]
    b = plan.buildings
    shapes = building_shapes(plan)
    given_names = {i: n for i, n in building_names(plan).items() if n != i}
    ids = b[plan.id_field].astype(str).to_numpy()
    codes = [b[c].astype(str).to_numpy() for c in _CODES]
    part = pd.to_numeric(b["part"], errors="coerce").fillna(0).to_numpy()
    ents = [parse_run(v) for v in b["entrances"]] if "entrances" in b.columns else [None] * len(b)
    flrs = [parse_run(v) for v in b["floors"]] if "floors" in b.columns else [None] * len(b)
    by_building: dict[str, list[tuple]] = {}
    for k, bid in enumerate(ids):
        by_building.setdefault(bid, []).append((codes[0][k], codes[1][k], codes[2][k], ents[k], flrs[k], part[k] > 0))

    households = shapes["households"].to_dict()
    shape = dict(zip(shapes.index, zip(shapes["units"], shapes["levels"], shapes["units_source"], shapes["levels_source"])))
    rows_by_grid: dict[str, list[tuple]] = {}
    for bid, rows in by_building.items():
        hh = households.get(bid)
        if hh is None:  # not in the input copy: count the roster's households
            hh = float(pd.to_numeric(b.loc[ids == bid, "households"], errors="coerce").sum())
        if not hh > 0:
            continue
        first = min((r[1], r[2]) for r in rows)
        rows_by_grid.setdefault(first[0], []).append((first[1], bid, rows))

    grids = plan.grids
    names = unit_names(plan)["grid"]
    out: list[tuple] = []
    for gcode, comm, gname in sorted(zip(grids["code"].astype(str), grids["parent_code"].astype(str), names)):
        out.append(("grid_worker", gname, comm, gcode, "", "", "", None, None, "plan"))
        for _, bid, rows in sorted(rows_by_grid.pop(gcode, [])):
            out += _building_posts(bid, rows, shape.get(bid, (None, None, "", "")), given_names.get(bid, ""), depth)
    for _, items in sorted(rows_by_grid.items()):  # buildings of a grid the layer lacks (a damaged plan)
        for _, bid, rows in sorted(items):
            out += _building_posts(bid, rows, shape.get(bid, (None, None, "", "")), given_names.get(bid, ""), depth)
    table = pd.DataFrame(out, columns=["post", "scope", *_CODES, "building_id", "building_name", "entrance", "floor", "source"])
    table.insert(1, "post_zh", table["post"].map(POST_KINDS))
    for col in ("entrance", "floor"):
        table[col] = pd.array(table[col], dtype="Int64")
    table["holder_name"] = ""
    table["holder_phone"] = ""
    logger.info("posts: %s", ", ".join(f"{(table['post'] == k).sum():,} {k}" for k in POST_KINDS))
    return table[list(POST_COLUMNS)]


def _building_posts(bid: str, rows: list[tuple], shape: tuple, name: str, depth: int) -> list[tuple]:
    """The posts of one building: its head, then per entrance its head and its floors' heads.

    ``rows`` are its roster rows ``(community, grid, micro, entrance run, floor run, divided)``; ``shape`` is
    ``(units, levels, units_source, levels_source)`` from the input.
    """
    units, levels = shape[:2]
    source = _source(any(r[5] for r in rows), *shape)
    label = name or bid
    out = [("building_head", label, *_joined(rows), bid, name, None, None, source)]
    if depth == 0:
        return out
    top_e = max([r[3][1] for r in rows if r[3]] + [units or 0])
    top_f = max([r[4][1] for r in rows if r[4]] + [levels or 0])
    if top_e == 0 and top_f > 0:
        top_e = 1  # storeys known, entrances not: one entrance
    for e in range(1, top_e + 1):
        held = [r for r in rows if r[3] is None or r[3][0] <= e <= r[3][1]] or rows
        where = f"{label} {e}单元"
        out.append(("entrance_head", where, *_joined(held), bid, name, e, None, source))
        if depth < 2:
            continue
        for f in range(1, top_f + 1):
            floor_rows = [r for r in held if r[4] is None or r[4][0] <= f <= r[4][1]] or held
            scope = f"{label} {f}层" if top_e == 1 else f"{where} {f}层"
            out.append(("floor_head", scope, *_joined(floor_rows[:1]), bid, name, e, f, source))
    return out
