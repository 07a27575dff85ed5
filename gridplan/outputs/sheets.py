"""Printable sheets for grid workers: one A4 page per community and per grid (PNG, and a PDF of all).

Each sheet shows the unit outlined in red on its neighbours, its children (grids or micro-grids) with
their codes, its buildings labelled with their ids, the named streets, rivers and railways around it,
a title with code, name, households, population and buildings, the 四至 (east/south/west/north), a scale
bar and a north arrow. The parts of divided buildings it holds are hatched (an upper-floor-only part on top,
outlined dashed), labelled with what they hold and the child unit holding them (``'3号楼 1–2单元 (002)'``),
the whole footprint dotted; the listing at the foot names the parts each child holds. Drawing is in the local projected CRS, so the scale bar is exact; no basemap is
needed. With a look-up URL (``lookup_url``), each building carries a QR door code that opens its look-up
in the service (:mod:`~gridplan.outputs.doorcodes`), and each grid gets door-code pages of labels to print
for the doors (``doorcodes_<grid>.png``, and ``doorcodes.pdf``). Chinese text needs a CJK font (Debian: ``fonts-noto-cjk`` or ``fonts-wqy-microhei``); without
one the sheets are still drawn and one warning says what to install.
"""
from __future__ import annotations

import math
import warnings
from os import PathLike
from pathlib import Path

import pandas as pd
import shapely
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from ..config import check_choice
from .deliver import replace_dir
from .doorcodes import door_pages, grid_buildings, lookup_template, page_names, place_codes
from ..model import Plan
from .parts import part_rows, unit_parts
from .tables import code_table, metric_crs, unit_names

__all__ = ["write_sheets", "sheet_figure", "cjk_font", "Sheets"]

_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                 "Droid Sans Fallback", "AR PL UMing CN", "SimHei", "Microsoft YaHei", "PingFang SC")
_CJK_FILES = ("notosanscjk", "notoserifcjk", "sourcehan", "wqy", "droidsansfallback", "uming", "ukai", "simhei", "msyh")
_TIER_STYLE = {1: ("#1f78b4", 2.5), 2: ("#e31a1c", 1.8), 3: ("#999999", 0.8)}
_CHILD = {"community": "grid", "grid": "micro"}
_LEVEL_ZH = {"community": "社区 community", "grid": "网格 grid"}
_AXES = [0.06, 0.14, 0.88, 0.77]
_AXES_RATIO = (_AXES[3] * 11.69) / (_AXES[2] * 8.27)  # height / width of the map on an A4 page


class Sheets(tuple):
    """The sheet files written (relative names), as a tuple; ``.path`` is the directory."""

    path: Path


def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or ``None``."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    for fam in _CJK_FAMILIES:
        if fam in names:
            return fam
    for path in font_manager.findSystemFonts():  # installed after matplotlib built its cache
        if any(k in Path(path).name.lower().replace("-", "").replace("_", "") for k in _CJK_FILES):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((fam for fam in _CJK_FAMILIES if fam in names), None)


def _nice_length(width_m: float) -> float:
    raw = width_m / 4
    exp = 10 ** math.floor(math.log10(max(raw, 1e-9)))
    return max(m * exp for m in (1, 2, 5) if m * exp <= raw) if raw >= 1 else 1.0


def _scale_bar(ax, x0: float, y0: float, length: float) -> None:
    h = length / 20
    for i in range(2):
        ax.add_patch(_rect(x0 + i * length / 2, y0, length / 2, h, "black" if i == 0 else "white"))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0 + length / 2, y0 + 1.6 * h, label, ha="center", va="bottom", fontsize=8)
    ax.text(x0, y0 - 0.4 * h, "0", ha="center", va="top", fontsize=7)


def _rect(x, y, w, h, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="black", linewidth=0.8, zorder=10)


def _north_arrow(ax) -> None:
    ax.annotate("N", xy=(0.95, 0.97), xytext=(0.95, 0.87), xycoords="axes fraction", ha="center", va="center",
                fontsize=12, fontweight="bold", arrowprops={"facecolor": "black", "width": 4, "headwidth": 12}, zorder=11)


def _draw_polys(ax, geoms, **kw) -> None:
    for g in geoms:
        for poly in shapely.get_parts(g):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            for ring in (poly.exterior, *poly.interiors):
                x, y = ring.xy
                ax.plot(x, y, **kw)


def _draw_parts(ax, parts, level: str, code: str, label: bool, family: dict) -> None:
    """The parts of divided buildings held by unit ``code``: hatched, upper-floor-only parts on top and dashed,
    each building's whole footprint dotted, and labelled with a line per part: what it holds and its child unit."""
    mine = parts[parts[f"{level}_code"].astype(str) == code]
    child = f"{_CHILD[level]}_code"
    whole = {bid: shapely.union_all(parts.loc[parts["building_id"] == bid].geometry.to_numpy()) for bid in dict.fromkeys(mine["building_id"])}
    _draw_polys(ax, whole.values(), color="#444444", linewidth=0.7, linestyle=":", zorder=3)
    for upper in (False, True):
        for g in mine.loc[mine["upper"] == upper].geometry:
            for poly in shapely.get_parts(g):
                if poly.geom_type == "Polygon":
                    ax.fill(*poly.exterior.xy, facecolor="#f0f0f0" if upper else "#c8c8c8", edgecolor="#333333",
                            hatch="\\\\" if upper else "////", linewidth=0.9 if upper else 0.6,
                            linestyle="--" if upper else "-", zorder=3.6 if upper else 3.3)
    if not label:
        return
    for bid, held in mine.groupby("building_id", sort=False):  # one label per building, a line per part, above it
        x0, _, x1, top = whole[bid].bounds
        lines = [f"{text} ({kid[-3:]})" for text, kid in zip(held["label"], held[child].astype(str))]
        ax.text((x0 + x1) / 2, top, "\n".join(lines), fontsize=5.5, ha="center", va="bottom", zorder=7, clip_on=True,
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.6}, **family)


def _parts_listing(row: pd.Series, kids_codes, child_parts: dict[str, str], level: str) -> str:
    """The foot of the sheet's listing of divided buildings: what this unit and each child hold of them."""
    items = [f"本{'社区' if level == 'community' else '网格'} this {level}: {row['parts']}"] if row.get("parts") else []
    items += [f"{c[-3:]}: {child_parts[c]}" for c in kids_codes if child_parts.get(c)]
    return ("分部楼栋 divided buildings — " + "; ".join(items)) if items else ""


def sheet_figure(plan: Plan, level: str, code: str, *, row: pd.Series, names: dict, crs=None, font: str | None = None,
                 parts=None, child_parts: dict[str, str] | None = None, lookup_url: str | None = None) -> Figure:
    """The sheet of one community or grid as a matplotlib Figure (A4 portrait).

    ``parts`` (:func:`~gridplan.outputs.parts.part_rows` in ``crs``) and ``child_parts`` (the children's
    :func:`~gridplan.outputs.parts.unit_parts`) are computed when not given; pass them when drawing many sheets.
    With ``lookup_url`` (a template holding ``{building_id}``, see :func:`~gridplan.outputs.doorcodes.lookup_template`)
    each building gets its QR door code, labelled with its id, on it or as near as there is room.
    """
    template = lookup_template(lookup_url) if lookup_url is not None else None
    crs = crs or metric_crs(plan.communities)
    parts = part_rows(plan).to_crs(crs) if parts is None else parts
    child_parts = unit_parts(plan, _CHILD[level]) if child_parts is None else child_parts
    units = plan.layer(level).to_crs(crs)
    unit = units.loc[units["code"].astype(str) == code].geometry.iloc[0]
    minx, miny, maxx, maxy = unit.bounds
    pad = 0.12 * max(maxx - minx, maxy - miny, 50.0)
    w, h = maxx - minx + 2 * pad, maxy - miny + 2 * pad
    w, h = max(w, h / _AXES_RATIO), max(h, w * _AXES_RATIO)  # the axes' shape, so the map is not stretched
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    view = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    fig = Figure(figsize=(8.27, 11.69))
    FigureCanvasAgg(fig)
    family = {"fontfamily": font} if font else {}
    fig.text(0.06, 0.965, f"{_LEVEL_ZH[level]} {code}  {row['name']}", fontsize=15, **family)
    fig.text(0.06, 0.94, f"户数 households {row['households']:,}   人口 population {row['population']:,}   "
             f"楼栋 buildings {row['buildings']:,}   面积 area {row['area_m2']:,.0f} m²", fontsize=9.5, **family)
    if level != "community":
        fig.text(0.06, 0.922, f"上级 parent {row['parent_code']} {row['parent_name']}", fontsize=9.5, **family)
    ax = fig.add_axes(_AXES)
    ax.set_aspect("equal")
    near = units[units.intersects(view) & (units["code"].astype(str) != code)]
    for poly in shapely.get_parts(unit):
        ax.fill(*poly.exterior.xy, color="#fff7e6", zorder=0)
    _draw_polys(ax, near.geometry, color="#bbbbbb", linewidth=0.8, zorder=1)
    for c, g in zip(near["code"].astype(str), near.geometry):
        p = g.intersection(view).representative_point()
        if not p.is_empty:
            ax.text(p.x, p.y, c[-3:], color="#999999", fontsize=8, ha="center", clip_on=True)
    child_level = _CHILD[level]
    kids = plan.layer(child_level).to_crs(crs)
    kids = kids[kids["parent_code"].astype(str) == code]
    _draw_polys(ax, kids.geometry, color="#555555", linewidth=0.9, linestyle="--", zorder=2)
    for c, g in zip(kids["code"].astype(str), kids.geometry):
        p = g.representative_point()
        ax.text(p.x, p.y, c[-3:], color="#333333", fontsize=9, fontweight="bold", ha="center", va="center", zorder=6,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})
    b = plan.buildings.to_crs(crs)
    b = b[b[f"{level}_code"].astype(str) == code]
    label = b[plan.id_field].nunique() <= 120
    b = b[pd.to_numeric(b["part"], errors="coerce").fillna(0).to_numpy() < 1].drop_duplicates(subset=[plan.id_field])
    for g in b.geometry:
        for poly in shapely.get_parts(g):
            if poly.geom_type == "Polygon":
                ax.fill(*poly.exterior.xy, color="#9e9e9e", alpha=0.8, zorder=3)
    x0, y0, x1, y1 = view.bounds
    missed = _door_codes(ax, plan, level, code, template, view.bounds, crs, family) if template else []
    if label:
        for bid, g in zip(b[plan.id_field].astype(str), b.geometry):
            if template and bid not in missed:
                continue  # labelled under its code
            p = g.representative_point()
            ax.text(p.x, p.y, bid, fontsize=5.5, ha="center", va="center", zorder=7, clip_on=True)
    _draw_parts(ax, parts, level, code, label, family)
    if plan.input_barriers is not None and len(plan.input_barriers):
        bar = plan.input_barriers.to_crs(crs)
        bar = bar[bar.intersects(view)]
        labelled = set()
        for tier, name, g in zip(bar["tier"], bar.get("name", pd.Series([""] * len(bar), index=bar.index)), bar.geometry):
            colour, width = _TIER_STYLE.get(int(tier), ("#999999", 0.8))
            clipped = g.intersection(view)
            lines = shapely.boundary(clipped) if clipped.geom_type in ("Polygon", "MultiPolygon") else clipped
            for part in shapely.get_parts(lines):
                if part.geom_type == "LineString" and not part.is_empty:
                    ax.plot(*part.xy, color=colour, linewidth=width, zorder=4, alpha=0.8)
            if isinstance(name, str) and name and name not in labelled and not clipped.is_empty:
                p = shapely.line_interpolate_point(lines, 0.5, normalized=True) if lines.length > 0 else clipped.representative_point()
                ax.text(p.x, p.y, name, fontsize=9, color=colour, ha="center", va="center", zorder=8,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "alpha": 0.85}, **family)
                labelled.add(name)
    _draw_polys(ax, [unit], color="#d7301f", linewidth=2.8, zorder=5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    _north_arrow(ax)
    length = _nice_length(x1 - x0)
    _scale_bar(ax, x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0), length)
    sides = f"四至  东至 {row['east'] or '—'}；南至 {row['south'] or '—'}；西至 {row['west'] or '—'}；北至 {row['north'] or '—'}"
    fig.text(0.06, 0.115, sides, fontsize=10.5, **family)
    kids_txt = "、".join(f"{c[-3:]} ({h:g})" for c, h in zip(kids["code"].astype(str), kids["households"].astype(float)))
    fig.text(0.06, 0.085, f"{'网格 grids' if level == 'community' else '微网格 micro-grids'} (户数): {kids_txt}", fontsize=8, **family)
    listing = _parts_listing(row, kids["code"].astype(str), child_parts, level)
    if listing:
        fig.text(0.06, 0.062, listing, fontsize=7.5, wrap=True, va="top", **family)
    if missed:
        fig.text(0.06, 0.048, f"门牌码 door codes of {len(missed):,} building{'s' if len(missed) != 1 else ''} found no room "
                 f"on the map; they are on the door-code pages (doorcodes_<grid>.png): {'、'.join(missed[:10])}"
                 f"{' …' if len(missed) > 10 else ''}", fontsize=7, color="#333333", wrap=True, **family)
    fig.text(0.06, 0.03, f"gridplan {plan.report.get('gridplan_version', '')} · start {row['start_date']} · {crs}"
             " · red: this unit; dashed: its children; blue: river/railway/expressway; red lines: arterial roads"
             "; hatched: part of a divided building (dashed: upper floors only; dotted: its whole footprint)",
             fontsize=6.5, color="#666666", wrap=True)
    return fig


def write_sheets(plan: Plan, out: str | PathLike, *, levels=("community", "grid"), dpi: int = 150, pdf: bool = True,
                 progress=None, lookup_url: str | None = None) -> Sheets:
    """Write one PNG sheet per unit of ``levels`` (``community_<code>.png``, ``grid_<code>.png``) and,
    with ``pdf``, all of them in ``sheets.pdf``, into the directory ``out`` (new, empty or an earlier set).
    ``progress(stage, n)``, when given, is told ``("sheets", 1)`` after each sheet (and door-code page).

    With ``lookup_url``, a URL template holding ``{building_id}`` (e.g.
    ``https://HOST/v1/public/KEY/buildings/{building_id}``), every building on a sheet carries a QR code of its
    look-up URL (the id URL-quoted), and every grid gets door-code pages: ``doorcodes_<grid>.png`` (then
    ``doorcodes_<grid>_2.png``…, 12 labels a page) and, with ``pdf``, all of them in ``doorcodes.pdf``.

    Returns
    -------
    Sheets
        The file names written; ``.path`` is the directory.

    Raises
    ------
    OptionError
        A level other than 'community' or 'grid', or a ``lookup_url`` that is not an http(s) URL holding
        ``{building_id}``.
    PlanWriteError
        ``out`` holds files that are not earlier sheets, or writing failed.
    """
    for level in levels:
        check_choice("level", level, tuple(_LEVEL_ZH))
    template = lookup_template(lookup_url) if lookup_url is not None else None
    font = cjk_font()
    if font is None:
        warnings.warn("no font with Chinese glyphs is installed, so Chinese names on the sheets show as boxes; "
                      "install one (Debian: apt-get install fonts-noto-cjk or fonts-wqy-microhei)", UserWarning, stacklevel=2)
    crs = metric_crs(plan.communities)
    names = unit_names(plan)
    parts = part_rows(plan).to_crs(crs)
    child_parts = {level: unit_parts(plan, _CHILD[level]) for level in levels}

    def build(tmp: Path) -> list[str]:
        files = []
        pages = PdfPages(tmp / "sheets.pdf") if pdf else None
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Glyph .* missing from font")
                for level in levels:
                    for _, row in code_table(plan, level, names=names).iterrows():
                        fig = sheet_figure(plan, level, row["code"], row=row, names=names, crs=crs, font=font, parts=parts,
                                           child_parts=child_parts[level], lookup_url=template)
                        name = f"{level}_{row['code']}.png"
                        fig.savefig(tmp / name, dpi=dpi)
                        if pages is not None:
                            pages.savefig(fig)
                        files.append(name)
                        if progress is not None:
                            progress("sheets", 1)
        finally:
            if pages is not None:
                pages.close()
        files += ["sheets.pdf"] if pdf else []
        return files + (_write_door_pages(plan, tmp, template, names, font, dpi, pdf, progress) if template else [])

    extra = {"levels": list(levels), "dpi": dpi, **({"lookup_url": template} if template else {})}
    path, files = replace_dir(out, "sheets", build, extra=extra)
    result = Sheets(files)
    result.path = path
    return result


def _door_codes(ax, plan: Plan, level: str, code: str, template: str, view: tuple, crs, family: dict) -> list[str]:
    """Put the door codes of unit ``code``'s buildings on its map ``ax`` (clear of the north arrow and the scale
    bar); the ids of those that found no room."""
    x0, y0, x1, y1 = view
    w, h = x1 - x0, y1 - y0
    mm = w / (_AXES[2] * 8.27 * 25.4)
    avoid = [(x0 + 0.9 * w, y0 + 0.82 * h, x1, y1), (x0, y0, x0 + 0.35 * w, y0 + 0.1 * h)]
    return place_codes(ax, grid_buildings(plan, level, code, crs=crs), template, view, mm, avoid=avoid, family=family)


def _write_door_pages(plan: Plan, tmp: Path, template: str, names: dict, font, dpi: int, pdf: bool, progress) -> list[str]:
    """Write every grid's door-code pages into ``tmp`` (PNGs, and ``doorcodes.pdf`` with ``pdf``); their names."""
    files = []
    book = PdfPages(tmp / "doorcodes.pdf") if pdf else None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            for _, row in code_table(plan, "grid", names=names).iterrows():
                figs = door_pages(plan, row["code"], row=row, template=template, font=font)
                for name, fig in zip(page_names(row["code"], len(figs)), figs):
                    fig.savefig(tmp / name, dpi=dpi)
                    if book is not None:
                        book.savefig(fig)
                    files.append(name)
                    if progress is not None:
                        progress("sheets", 1)
    finally:
        if book is not None:
            book.close()
    return [*files, "doorcodes.pdf"] if pdf else files
