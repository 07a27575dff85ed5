"""A folium map of a plan, for notebooks: communities, grids and micro-grids as toggleable layers.

folium loads Leaflet from a CDN, so this map needs the internet; the plan directory's ``map.html`` and
``gridplan map`` use the self-contained review map of :mod:`gridplan.outputs.review_map` instead.

Grids are filled by how their households compare with the grid range (under / in range / over);
communities are thick outlines, micro-grids thin ones (off until switched on). Every unit has a
tooltip: code, households, range status, buildings and the parts of divided buildings it holds. The parts
themselves (footprint slices) are a layer of their own when the plan divides a building, an upper-floor-only
part drawn on top with a dashed outline. With ``basemap="none"`` the map has no tile layer and works offline.
"""
from __future__ import annotations

from typing import Literal, get_args

import folium
import geopandas as gpd
import numpy as np
import shapely

from ..config import SizeRange, check_choice
from ..model import Plan
from .review_map import PARTS_TITLE
from .parts import part_rows, unit_parts

__all__ = ["plan_map", "range_status", "LAYER_TITLES", "STATUS_COLOURS", "Basemap"]

Basemap = Literal["none", "osm"]

LAYER_TITLES = {"community": "Communities 社区", "grid": "Grids 网格", "micro": "Micro-grids 微网格"}
"""The name of each level's layer in the layer control."""

STATUS_COLOURS = {"under": "#4575b4", "in range": "#1a9850", "over": "#d73027"}
"""Fill colour of a grid by :func:`range_status`."""

_STYLE = {
    "community": {"color": "#222222", "weight": 4, "fill": False},
    "grid": {"color": "#444444", "weight": 2, "fillOpacity": 0.35},
    "micro": {"color": "#666666", "weight": 1, "dashArray": "3 3", "fillOpacity": 0.0},
}
_FIELDS = ["code", "households", "status", "range", "buildings", "parts"]
_ALIASES = ["code 编码", "households 户数", "status", "range", "buildings 楼栋", "parts 分部楼栋"]
_PART_FIELDS = ["label", "building_id", "households", "grid_code", "micro_code"]
_PART_ALIASES = ["part 分部", "building 楼栋", "households 户数", "grid 网格", "micro-grid 微网格"]


def range_status(households, size: SizeRange) -> np.ndarray:
    """``'under'``, ``'in range'`` or ``'over'`` for each count of households.

    Examples
    --------
    >>> range_status([250, 300, 500, 520], SizeRange(300, 500)).tolist()
    ['under', 'in range', 'in range', 'over']
    """
    h = np.asarray(households, dtype=float)
    return np.where(h < size.lo, "under", np.where(h > size.hi, "over", "in range"))


def plan_map(plan: Plan, *, basemap: Basemap = "osm", tolerance_m: float = 1.0) -> folium.Map:
    """A folium map of the plan's three levels.

    Parameters
    ----------
    plan
        The plan to draw.
    basemap
        ``"osm"`` for OpenStreetMap tiles, ``"none"`` for no tile layer (offline use).
    tolerance_m
        Simplification tolerance in metres for display (shared edges are kept shared when a layer is
        a clean coverage; otherwise each polygon is simplified keeping it valid).

    Returns
    -------
    folium.Map
        Save it with ``.save("map.html")``.

    Raises
    ------
    OptionError
        ``basemap`` is not one of 'none', 'osm'.
    """
    check_choice("basemap", basemap, get_args(Basemap))
    m = folium.Map(tiles="OpenStreetMap" if basemap == "osm" else None, control_scale=True)
    for level, title in LAYER_TITLES.items():
        units = _display_frame(plan.layer(level), plan.config.size(level), tolerance_m, unit_parts(plan, level))
        group = folium.FeatureGroup(name=title, show=level != "micro")
        if len(units):
            folium.GeoJson(
                units.to_json(drop_id=True),
                name=title,
                style_function=_styler(level),
                highlight_function=lambda _f: {"weight": 5, "color": "#ffcc00"},
                tooltip=folium.GeoJsonTooltip(fields=_FIELDS, aliases=_ALIASES, sticky=True),
            ).add_to(group)
        group.add_to(m)
    parts = part_rows(plan)
    if len(parts) and parts.crs is not None:
        parts = parts.iloc[np.argsort(parts["upper"].to_numpy(), kind="stable")].to_crs(4326)  # upper floors on top
        group = folium.FeatureGroup(name=PARTS_TITLE, show=True)
        folium.GeoJson(
            parts[[*_PART_FIELDS, "upper", "geometry"]].to_json(drop_id=True), name=PARTS_TITLE,
            style_function=lambda f: {"color": "#333333", "weight": 1.5 if f["properties"]["upper"] else 1,
                                      "dashArray": "4 3" if f["properties"]["upper"] else None,
                                      "fillColor": "#ffffff" if f["properties"]["upper"] else "#bbbbbb", "fillOpacity": 0.6},
            tooltip=folium.GeoJsonTooltip(fields=_PART_FIELDS, aliases=_PART_ALIASES, sticky=True),
        ).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(folium.Element(_legend(plan.config.grid)))
    bounds = _bounds(plan)
    if bounds is not None:
        m.fit_bounds(bounds)
    return m


def _display_frame(units: gpd.GeoDataFrame, size: SizeRange, tolerance_m: float, parts: dict[str, str] | None = None) -> gpd.GeoDataFrame:
    """The units with tooltip fields (``parts``: code → the divided buildings it holds), lightly simplified, in EPSG:4326."""
    if len(units) == 0 or units.crs is None:
        return gpd.GeoDataFrame({f: [] for f in _FIELDS}, geometry=gpd.GeoSeries([], crs=4326))
    hh = units["households"].astype(float).to_numpy()
    out = gpd.GeoDataFrame(
        {
            "code": units["code"].astype(str).to_numpy(),
            "households": [format(round(h, 1), "g") for h in hh],
            "status": range_status(hh, size),
            "range": f"{size.lo:g}–{size.hi:g}",
            "buildings": units["buildings"].to_numpy(),
            "parts": [(parts or {}).get(c, "") for c in units["code"].astype(str)],
        },
        geometry=units.geometry.to_numpy(),
        crs=units.crs,
    )
    metric = out.to_crs(out.estimate_utm_crs()) if out.crs.is_geographic else out
    geoms = np.asarray(metric.geometry.array, dtype=object)
    if tolerance_m > 0:
        if shapely.coverage_is_valid(geoms):
            geoms = shapely.coverage_simplify(geoms, tolerance_m)
        else:  # e.g. micro-grids that divide one building by floor overlap on its footprint
            geoms = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    return metric.set_geometry(gpd.GeoSeries(geoms, index=metric.index, crs=metric.crs)).to_crs(4326)


def _styler(level: str):
    base = _STYLE[level]

    def style(feature: dict) -> dict:
        if level != "grid":
            return base
        return {**base, "fillColor": STATUS_COLOURS.get(feature["properties"]["status"], "#999999")}

    return style


def _bounds(plan: Plan) -> list[list[float]] | None:
    layers = [g for g in (plan.communities, plan.grids, plan.micro_grids) if len(g) and g.crs is not None]
    if not layers:
        return None
    minx, miny, maxx, maxy = layers[0].to_crs(4326).total_bounds
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]


def _legend(size: SizeRange) -> str:
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{c};opacity:.6;'
        f'margin-right:4px"></span>{s}</div>'
        for s, c in STATUS_COLOURS.items()
    )
    return (
        '<div style="position:fixed;bottom:24px;left:10px;z-index:1000;background:white;padding:6px 8px;'
        f'font:12px sans-serif;border:1px solid #999;border-radius:4px">'
        f"<b>grid households ({size.lo:g}–{size.hi:g})</b>{rows}</div>"
    )
