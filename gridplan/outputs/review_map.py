"""The review map: one self-contained HTML file that works on an intranet with no internet access.

Leaflet (JS, CSS and its images) is inlined from ``gridplan/static/`` and the plan is embedded as
compact JSON (coordinates in 1e-6 degree steps, delta-encoded, after simplification for display), so
the file needs nothing from the network. Communities, grids and micro-grids are toggleable layers,
drawn on a canvas so that a whole city stays responsive; every unit is coloured by how far its
households lie from the level's target (:func:`deviation_class`), has a tooltip (code, name,
households, range status, buildings, and the parts of divided buildings it holds) and a label from a zoom at
which units are about 100 px wide. The parts of divided buildings (footprint slices) are a layer of their own,
hatched and labelled with what each holds (``'3号楼 1–2单元'``); a part of upper floors only is drawn on top of the
slice it shares, outlined dashed.
A legend, a panel with the report's figures and, with ``compare``, the old plan as toggled layers (or the old
community boundaries a re-districting redrew) and the changed units outlined complete it.

Basemaps: ``'none'`` (default: offline), ``'osm'`` (OpenStreetMap tiles), ``'tianditu'`` (天地图 vec_w +
cva_w, aligned with CGCS2000). The Tianditu key must be configured (``GRIDPLAN_TIANDITU_KEY``) but is
never written into the file: the map reads it from its address (``map.html#tk=KEY``) or asks once and
keeps it in the browser's storage.

Examples
--------
>>> from gridplan.config import SizeRange
>>> deviation_class([250, 330, 400, 450, 520], SizeRange(300, 500, 400)).tolist()
['under', 'below', 'near', 'above', 'over']
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Literal, get_args

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..config import SizeRange, check_choice
from ..errors import OptionError, PlanWriteError
from ..model import LAYER_NAMES, Plan
from .parts import part_rows, unit_parts
from .tables import metric_crs, unit_names

__all__ = ["review_map", "write_review_map", "deviation_class", "changed_units", "Basemap", "BASEMAPS",
           "CLASS_COLOURS", "TIANDITU_KEY_ENV", "GENERATOR", "PARTS_TITLE", "OLD_COMMUNITIES_TITLE", "BUILDINGS_TITLE",
           "BUILDINGS_ZOOM", "share_text"]

Basemap = Literal["none", "osm", "tianditu"]
BASEMAPS: tuple[Basemap, ...] = get_args(Basemap)
TIANDITU_KEY_ENV = "GRIDPLAN_TIANDITU_KEY"
OLD_COMMUNITIES_TITLE = "Old community boundaries 原社区边界"
"""The title of the layer of old community boundaries (``compare`` = old communities)."""
GENERATOR = "gridplan review map"
"""The ``<meta name="generator">`` of every review map; an existing file without it is never overwritten."""

CLASS_COLOURS = {
    "under": ("#2166ac", "under range 低于下限"),
    "below": ("#92c5de", "below target 偏少"),
    "near": ("#1a9850", "within ±10% of target 适中"),
    "above": ("#fdae61", "above target 偏多"),
    "over": ("#b2182b", "over range 超过上限"),
}
"""Deviation class → (fill colour, legend label)."""

_TITLES = {"community": "Communities 社区", "grid": "Grids 网格", "micro": "Micro-grids 微网格"}
PARTS_TITLE = "Divided buildings 分拆楼栋"
"""The title of the layer of divided buildings' parts (present only when the plan divides a building)."""
BUILDINGS_TITLE = "Buildings 楼栋"
BUILDINGS_ZOOM = 16
"""The buildings layer is drawn (outlines only) from this zoom on."""
_STYLE = {"community": ("#111111", 3, 0.35, None), "grid": ("#333333", 1.5, 0.35, None), "micro": ("#555555", 0.8, 0.35, "3 3")}
_TOLERANCE = {"community": 2.0, "grid": 1.0, "micro": 0.5}
_SCALE = 1_000_000  # coordinates are stored as integers of 1e-6 degree (about 0.1 m)
_NEAR = 0.10


def deviation_class(households, size: SizeRange, *, near: float = _NEAR) -> np.ndarray:
    """``'under'``/``'over'`` the range, ``'below'``/``'above'`` the target by more than ``near``, else ``'near'``."""
    h = np.asarray(households, dtype=float)
    t = float(size.target)
    return np.select(
        [h < size.lo, h > size.hi, h < t * (1 - near), h > t * (1 + near)], ["under", "over", "below", "above"], "near"
    )


def share_text(share: float) -> str:
    """A share as a percentage floored to 0.1, so a share below 100% never prints as ``'100%'``.

    >>> share_text(0.9996), share_text(1.0), share_text(0.25), share_text(0.0004)
    ('99.9%', '100%', '25.0%', '<0.1%')
    """
    x = float(share)
    if x >= 1:
        return "100%"
    if 0 < x < 0.001:
        return "<0.1%"
    return f"{math.floor(x * 1000 + 1e-9) / 10:.1f}%"


def _buildings_layer(plan: Plan) -> dict:
    """The buildings (outlines, from zoom :data:`BUILDINGS_ZOOM`), searchable by id and name; one row per building."""
    b = plan.buildings.drop_duplicates("building_id")
    ll = b.to_crs(4326).geometry.to_numpy()
    names = b["name"].astype(object).where(b["name"].notna(), "").astype(str) if "name" in b.columns else [""] * len(b)
    rows = [{"c": str(i), "n": n, "h": format(round(float(h), 1), "g"), "g": _encode(g), "codes": [str(m)]}
            for i, n, h, g, m in zip(b["building_id"], names, b["households"], ll, b["micro_code"])]
    return {"key": "buildings", "title": BUILDINGS_TITLE, "show": True, "buildings": True, "minZoom": BUILDINGS_ZOOM,
            "range": "", "stroke": "#444444", "weight": 0.7, "fill": 0.0, "dash": None, "labelZoom": None,
            "labelDigits": 0, "changed": False, "units": rows}


def _encode(geom) -> list:
    """A polygon or multipolygon as [[ring, ...], ...], each ring delta-encoded integers [x0, y0, dx, dy, ...]."""
    polys = []
    for poly in shapely.get_parts(geom):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        rings = []
        for ring in (poly.exterior, *poly.interiors):
            xy = np.round(np.asarray(ring.coords)[:, :2] * _SCALE).astype(np.int64)
            keep = np.r_[True, np.any(np.diff(xy, axis=0) != 0, axis=1)]
            xy = xy[keep]
            if len(xy) >= 4:
                rings.append(np.r_[xy[:1], np.diff(xy, axis=0)].ravel().tolist())
        if rings:
            polys.append(rings)
    return polys


def _display(units: gpd.GeoDataFrame, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Simplified geometry (shared edges stay shared on a clean coverage) and label points, both in EPSG:4326."""
    crs = metric_crs(units)
    metric = units.to_crs(crs)
    geoms = np.asarray(metric.geometry.array, dtype=object)
    labels = shapely.point_on_surface(geoms)
    if tolerance_m > 0 and len(geoms):
        try:
            valid = bool(shapely.coverage_is_valid(geoms))
        except shapely.errors.GEOSException:
            valid = False
        geoms = shapely.coverage_simplify(geoms, tolerance_m) if valid else shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    back = gpd.GeoSeries(np.r_[geoms, labels], crs=crs).to_crs(4326).to_numpy()
    return back[: len(geoms)], back[len(geoms):]


def _label_zoom(areas_m2, lat: float, px: float = 100) -> float | None:
    """The zoom from which a typical unit (of the median area) is about ``px`` pixels across."""
    if not len(areas_m2):
        return None
    side = math.sqrt(max(float(np.median(np.asarray(areas_m2, dtype=float))), 1.0))
    metres_per_px_z0 = 156_543.03 * math.cos(math.radians(lat))
    return float(min(20, max(10, math.ceil(math.log2(px * metres_per_px_z0 / side)))))


def changed_units(new: gpd.GeoDataFrame, old: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0) -> dict[str, str]:
    """Units of ``new`` that differ from ``old``: code → why (``'new code'``, ``'boundary'``, ``'households'``, the
    last only when ``old`` has a ``households`` column)."""
    crs = metric_crs(new)
    ng = dict(zip(new["code"].astype(str), new.to_crs(crs).geometry))
    og = dict(zip(old["code"].astype(str), old.to_crs(crs).geometry)) if len(old) else {}
    oh = dict(zip(old["code"].astype(str), old["households"].astype(float))) if len(old) and "households" in old.columns else {}
    out = {}
    for code, h in zip(new["code"].astype(str), new["households"].astype(float)):
        if code not in og:
            out[code] = "new code 新编码"
            continue
        why = []
        moved = ng[code].symmetric_difference(og[code]).area
        if moved > max(tolerance_m2, 0.005 * ng[code].area):
            why.append(f"boundary 边界 ({moved:,.0f} m²)")
        if code in oh and abs(oh[code] - h) > 1e-9:
            why.append(f"households 户数 {oh[code]:g} → {h:g}")
        if why:
            out[code] = "; ".join(why)
    return out


def _layer(plan: Plan, level: str, names, *, key: str, title: str, show: bool, tolerance_m: float, lat: float,
           changed: dict | None = None, only: set | None = None, outline_only: bool = False, dash: str | None = None,
           units: gpd.GeoDataFrame | None = None) -> dict:
    """One layer of the page: ``plan``'s units of ``level`` (or ``units``, e.g. old communities, with ``plan``'s sizes)."""
    if units is None:
        units = plan.layer(level)
        held = unit_parts(plan, level)
    else:
        held = {}
    if only is not None:
        units = units[units["code"].astype(str).isin(only)]
        names = names.loc[units.index]
    size = plan.config.size(level)
    geoms, labels = _display(units, tolerance_m) if len(units) else (np.array([]), np.array([]))
    cls = deviation_class(units["households"], size)
    stroke, weight, fill, ldash = _STYLE[level]
    areas = units["area_m2"] if "area_m2" in units.columns else units.to_crs(metric_crs(units)).area if len(units) else []
    rows = []
    for code, name, h, b, k, g, p in zip(units["code"].astype(str), names, units["households"].astype(float),
                                         units["buildings"], cls, geoms, labels):
        row = {"c": code, "n": name, "h": format(round(h, 1), "g"), "b": int(b), "k": str(k), "g": _encode(g),
               "l": [round(p.x, 6), round(p.y, 6)]}
        if code in held:
            row["p"] = held[code]
        if changed and code in changed:
            row["x"] = changed[code]
        rows.append(row)
    return {"key": key, "title": title, "show": show, "range": f"{size.lo:g}–{size.hi:g}", "stroke": stroke,
            "weight": weight, "fill": 0.0 if outline_only else fill, "dash": dash if dash is not None else ldash,
            "labelZoom": None if only is not None else _label_zoom(areas, lat), "labelDigits": 12 if level == "community" else 3,
            "changed": only is not None and not outline_only, "units": rows,
            "level": level if not outline_only and only is None else None}


def _parts_layer(plan: Plan, lat: float) -> dict | None:
    """The parts of divided buildings, upper-floor-only parts last (drawn on top); one label per building, a line
    per part (``'3号楼 1单元 · 002'``); ``None`` when the plan divides no building."""
    parts = part_rows(plan)
    if not len(parts):
        return None
    parts = parts.iloc[np.argsort(parts["upper"].to_numpy(), kind="stable")]
    metric = parts.to_crs(metric_crs(parts))
    ll = gpd.GeoSeries(parts.geometry.to_numpy(), crs=parts.crs).to_crs(4326).to_numpy()
    rows = [{"c": bid, "t": label, "h": format(round(float(h), 1), "g"), "u": int(bool(up)), "g": _encode(g),
             "codes": [str(c), str(gc), str(m)]}
            for bid, label, h, up, g, c, gc, m in zip(parts["building_id"], parts["label"], parts["households"], parts["upper"], ll,
                                                      parts["community_code"], parts["grid_code"], parts["micro_code"])]
    labels = []
    for bid, held in parts.groupby("building_id", sort=True):
        at = gpd.GeoSeries([shapely.union_all(held.geometry.to_numpy()).representative_point()], crs=parts.crs).to_crs(4326).iloc[0]
        text = "\n".join(f"{t} · {m[-3:]}" for t, m in zip(held["label"], held["micro_code"].astype(str)))
        labels.append([round(at.x, 6), round(at.y, 6), text])
    footprints = metric.dissolve("building_id").area.to_numpy()
    return {"key": "parts", "title": PARTS_TITLE, "show": True, "parts": True, "range": "", "stroke": "#333333",
            "weight": 1, "fill": 1.0, "dash": None, "labelZoom": _label_zoom(footprints, lat, px=60), "labelDigits": 0,
            "changed": False, "units": rows, "labels": labels}


def _panel(plan: Plan, compare: Plan | gpd.GeoDataFrame | None, changes: dict, basemap: str) -> str:
    rep = plan.report
    levels = rep.get("levels", {})
    rows = "".join(
        f"<tr><td>{html.escape(_TITLES[lv])}</td><td>{f.get('count', 0):,}</td><td>{share_text(f.get('share_in_range', 0))}</td>"
        f"<td>{f.get('hh_min', 0):g}–{f.get('hh_max', 0):g}</td><td>{f.get('hh_mean', 0):g}</td>"
        f"<td>{f.get('cv_within_parent_median', 0):.2f}</td></tr>"
        for lv, f in levels.items() if lv in _TITLES
    )
    facts = [
        f"households 户数: {rep.get('input', {}).get('households', 0):,}; buildings 楼栋: {rep.get('input', {}).get('buildings', 0):,}",
        f"tier-2 crossings 跨主干路: {len(rep.get('crossings', []))}; infeasible pieces 不可行片区: {len(rep.get('infeasible', []))}; "
        f"out of range 超出范围: {len(rep.get('out_of_range', []))}; divided buildings 分拆楼栋: {len(rep.get('divided_buildings', []))}",
        f"gridplan {html.escape(str(rep.get('gridplan_version', '')))}, seed {rep.get('seed', '')}, start {html.escape(str(rep.get('start_date', '')))}",
    ]
    if isinstance(compare, Plan):
        parts = [f"{_TITLES[lv]}: {len(changes[lv])} changed" for lv in LAYER_NAMES]
        facts.append("compared with the old plan 与原方案比较: " + "; ".join(parts))
    elif compare is not None:
        facts.append(f"compared with the old communities 与原社区比较: {len(compare):,} old, {len(changes['community']):,} new or "
                     "changed communities (old boundaries dashed)")
    tdt = ""
    if basemap == "tianditu":
        tdt = ('<form id="gp-tdt">Tianditu key 天地图密钥 (kept in this browser only): '
               '<input type="password" size="20" autocomplete="off"> <button>OK</button></form>')
    return (
        "<details><summary><b>Plan figures 方案指标</b></summary>"
        "<table><tr><th>level</th><th>units</th><th>in range</th><th>households</th><th>mean</th><th>CV</th></tr>"
        f"{rows}</table>" + "".join(f"<div>{html.escape(x) if '<' not in x else x}</div>" for x in facts) + tdt + "</details>"
    )


def _asset(name: str) -> str:
    return resources.files("gridplan").joinpath("static", name).read_text(encoding="utf-8")


def _leaflet_css() -> str:
    css = _asset("leaflet.css")
    for img in ("layers.png", "layers-2x.png", "marker-icon.png"):
        data = resources.files("gridplan").joinpath("static", "images", img).read_bytes()
        css = css.replace(f"url(images/{img})", f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})")
    return css


_PAGE_CSS = """html,body,#map{height:100%;margin:0}#map{background:#f4f4f0}
.gp-box{background:#fff;padding:6px 8px;font:12px/1.4 sans-serif;border:1px solid #999;border-radius:4px;max-width:420px}
.gp-panel table{border-collapse:collapse}.gp-panel td,.gp-panel th{padding:1px 5px;text-align:right}
.gp-panel td:first-child,.gp-panel th:first-child{text-align:left}
.gp-swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle;opacity:.35}
.gp-search input{width:220px}.gp-hits div{cursor:pointer}.gp-hits div:hover{background:#eee}.gp-label.gp-hidden{display:none}
.gp-note{color:#555;margin-top:3px;white-space:pre-line}
.gp-label{font:11px sans-serif;color:#111;text-shadow:0 0 2px #fff,0 0 2px #fff;white-space:nowrap;transform:translate(-50%,-50%)}
.gp-label-community{font-weight:bold;font-size:13px}
.gp-label-parts{font-size:10px;white-space:pre;text-align:center}
.gp-hatch,.gp-hatch-upper{opacity:1}.gp-hatch{background:repeating-linear-gradient(45deg,#444 0 1px,#e0e0e0 1px 5px)}
.gp-hatch-upper{background:repeating-linear-gradient(-45deg,#444 0 1px,#fff 1px 5px);outline:1px dashed #333}"""


def review_map(
    plan: Plan, *, compare: Plan | gpd.GeoDataFrame | None = None, basemap: Basemap = "none", tianditu_key: str | None = None,
    tolerance_m: float | None = None, title: str = "gridplan review map",
) -> str:
    """The review map of ``plan`` as one self-contained HTML document.

    Parameters
    ----------
    plan
        The plan to review.
    compare
        An older plan of the same area: drawn as toggled layers, and the new units that differ from it
        outlined in a "changed" layer. Or the old communities a re-districting redrew (a GeoDataFrame with
        ``code``, ``name``, ``households``, ``buildings``, as
        ``gridplan.planning.diff.state_from_communities(path, plan).layers['community']`` gives them): their
        boundaries drawn dashed in a layer of their own (shown), the new and changed communities outlined.
    basemap
        ``'none'`` (works offline), ``'osm'`` or ``'tianditu'``.
    tianditu_key
        Checked to be present when ``basemap='tianditu'`` (default: ``$GRIDPLAN_TIANDITU_KEY``); never written out.
    tolerance_m
        Display simplification in metres; default 2 / 1 / 0.5 m for communities / grids / micro-grids.
    title
        The page title.

    Raises
    ------
    OptionError
        An unknown ``basemap``, ``'tianditu'`` with no key configured, or old communities without their counts.
    """
    check_choice("basemap", basemap, BASEMAPS)
    if basemap == "tianditu" and not (tianditu_key or os.environ.get(TIANDITU_KEY_ENV, "")).strip():
        raise OptionError(
            f"`basemap` was 'tianditu' but no Tianditu key is configured; set {TIANDITU_KEY_ENV} to your key "
            "(a browser key from the Tianditu console), or use --basemap osm or none. The key is never written into the map: "
            f"open it as map.html#tk=<key>, or paste the key into the map's panel once"
        )
    old_layers = _old_layers(compare)
    names = unit_names(plan)
    lat = float(plan.communities.to_crs(4326).geometry.union_all().centroid.y) if len(plan.communities) else 32.0
    tol = lambda lv: _TOLERANCE[lv] if tolerance_m is None else tolerance_m  # noqa: E731
    layers, changes = [], {lv: {} for lv in LAYER_NAMES}
    if isinstance(compare, Plan):
        old_names = unit_names(compare)
        for lv in LAYER_NAMES:
            changes[lv] = changed_units(plan.layer(lv), compare.layer(lv))
            layers.append(_layer(compare, lv, old_names[lv], key=f"old-{lv}", title=f"Old {_TITLES[lv]} 原方案", show=False,
                                 tolerance_m=tol(lv), lat=lat, outline_only=True, dash="6 4"))
    elif compare is not None:  # the old community polygons only: one layer of old boundaries, shown
        old = old_layers["community"]
        changes["community"] = changed_units(plan.communities, old)
        given = old["name"].astype(object).where(old["name"].notna(), "").astype(str) if "name" in old.columns else [""] * len(old)
        layers.append(_layer(plan, "community", pd.Series(list(given), index=old.index, dtype=object), key="old-community",
                             title=OLD_COMMUNITIES_TITLE, show=True, tolerance_m=tol("community"), lat=lat, outline_only=True,
                             dash="6 4", units=old))
    for lv in LAYER_NAMES:
        layers.append(_layer(plan, lv, names[lv], key=lv, title=_TITLES[lv], show=lv != "micro", tolerance_m=tol(lv), lat=lat,
                             changed=changes[lv]))
    parts = _parts_layer(plan, lat)
    if parts is not None:
        layers.append(parts)
    if len(plan.buildings):
        layers.append(_buildings_layer(plan))
    if compare is not None:
        for lv in [lv for lv in ("community", "grid") if lv in old_layers]:
            layers.append(_layer(plan, lv, names[lv], key=f"changed-{lv}", title=f"Changed {_TITLES[lv]} 变更", show=True,
                                 tolerance_m=tol(lv), lat=lat, changed=changes[lv], only=set(changes[lv])))
    targets = "\n".join(f"{_TITLES[lv]}: target {plan.config.size(lv).target:g} ({plan.config.size(lv)})" for lv in LAYER_NAMES)
    data = {
        "scale": _SCALE, "basemap": basemap, "compare": compare is not None, "targets": targets,
        "classes": {k: {"colour": c, "label": lab} for k, (c, lab) in CLASS_COLOURS.items()},
        "layers": layers, "panel": _panel(plan, compare, changes, basemap),
    }
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="generator" content="{GENERATOR}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>\n<style>{_leaflet_css()}\n{_PAGE_CSS}</style>\n"
        f'<script>{_asset("leaflet.js")}</script>\n</head><body><div id="map"></div>\n'
        f'<script type="application/json" id="gridplan-data">{blob}</script>\n'
        f'<script>{_asset("review_map.js")}</script>\n</body></html>\n'
    )


def _old_layers(compare: Plan | gpd.GeoDataFrame | None) -> dict[str, gpd.GeoDataFrame]:
    """The old units to compare with, per level (old community polygons: only ``'community'``)."""
    if compare is None:
        return {}
    if isinstance(compare, Plan):
        return {lv: compare.layer(lv) for lv in LAYER_NAMES}
    if not isinstance(compare, gpd.GeoDataFrame):
        raise OptionError(f"`compare` was a {type(compare).__name__}; expected a Plan or a GeoDataFrame of old communities")
    missing = [c for c in ("code", "households", "buildings") if c not in compare.columns]
    if missing:
        raise OptionError(f"`compare` (old communities) has no column {', '.join(map(repr, missing))}; give the old communities with "
                          "their households and buildings counted: gridplan.planning.diff.state_from_communities(path, plan)"
                          ".layers['community']")
    return {"community": compare}


def write_review_map(plan: Plan, out: str | PathLike, **options) -> Path:
    """Write :func:`review_map` to ``out`` (an ``.html`` file) and return its path.

    An existing file is replaced only when it is an earlier review map (its ``generator`` meta tag says so).

    Raises
    ------
    OptionError
        As :func:`review_map`.
    PlanWriteError
        ``out`` exists and is not a gridplan review map, or is a directory, or cannot be written.
    """
    target = Path(out).expanduser().absolute()
    if target.is_dir():
        raise PlanWriteError(f"--out {str(target)!r} is a directory; give the HTML file to write, e.g. {str(target / 'map.html')!r}")
    if target.exists():
        with open(target, encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
        if f'content="{GENERATOR}"' not in head:
            raise PlanWriteError(
                f"--out {str(target)!r} exists and is not a gridplan review map; choose another --out "
                "(gridplan never overwrites files it did not write)"
            )
    page = review_map(plan, **options)
    tmp = target.with_name(f".{target.name}.writing")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PlanWriteError(f"could not write {str(target)!r}: {exc}; choose another --out") from exc
    return target
