"""Door codes (以房找人): a QR code per building that opens the building's look-up in the gridplan service.

A look-up URL template names where a building's record is read, with ``{building_id}`` where its id goes
(``https://HOST/v1/public/KEY/buildings/{building_id}`` for a public read-only link, or
``https://HOST/v1/plans/PLAN_ID/buildings/{building_id}`` for readers with a viewer token); the id is
URL-quoted when filled in, so ids holding Chinese characters or ``/`` give working links.

The codes are drawn as matplotlib paths (one filled path of the dark modules on a white square), so they
stay vector in the sheets' PDF and are rasterised sharply in their PNGs:

- :func:`place_codes` puts a code on each building of a sheet's map (on the building, else as near to it as
  there is room, with a leader line), and says which buildings found no room;
- :func:`door_pages` draws a grid's door-code pages: A4 sheets of labels, one per building, to print and
  stick on the doors (error correction Q, so a scuffed label still reads).

>>> lookup_link(lookup_template("https://gp.example.org/v1/public/k1/buildings/{building_id}"), "3号楼/2")
'https://gp.example.org/v1/public/k1/buildings/3%E5%8F%B7%E6%A5%BC%2F2'
"""
from __future__ import annotations

import math
from urllib.parse import quote, urlsplit

import numpy as np
import pandas as pd
import segno
import shapely
import shapely.ops
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Affine2D

from ..errors import OptionError
from ..model import Plan
from .parts import building_names

__all__ = ["PLACEHOLDER", "EXAMPLE", "lookup_template", "lookup_link", "qr_path", "draw_code", "place_codes",
           "grid_buildings", "door_pages", "page_count", "page_names", "LABELS_PER_PAGE"]

PLACEHOLDER = "{building_id}"
EXAMPLE = "https://gridplan.example.org/v1/public/KEY/buildings/{building_id}"
_MAX_TEMPLATE = 300  # characters: longer links make denser codes that phones read badly from a door
#: Size of a code on a sheet's map (with its 2-module quiet zone), and of a door label's code (4 modules), in mm.
MAP_CODE_MM = 18.0
LABEL_CODE_MM = 42.0
_COLS, _ROWS = 3, 4
LABELS_PER_PAGE = _COLS * _ROWS
_PAGE_IN = (8.27, 11.69)


def lookup_template(url: str) -> str:
    """``url`` checked as a look-up URL template: http or https, a host, ``{building_id}`` once and no other braces.

    Raises
    ------
    OptionError
        Naming ``lookup_url``, the value and an example of a good one.
    """
    text = str(url).strip()
    fix = f"give an http(s) URL with {PLACEHOLDER} where the building's id goes, e.g. {EXAMPLE}"
    if text.count(PLACEHOLDER) != 1:
        raise OptionError(f"`lookup_url` was {text!r}: it must hold {PLACEHOLDER} once; {fix}")
    rest = text.replace(PLACEHOLDER, "x")
    if "{" in rest or "}" in rest:
        raise OptionError(f"`lookup_url` was {text!r}: {PLACEHOLDER} is its only placeholder, and it holds other braces; {fix}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in rest):
        raise OptionError(f"`lookup_url` was {text!r}: a URL holds no spaces or control characters; {fix}")
    if len(text) > _MAX_TEMPLATE:
        raise OptionError(f"`lookup_url` has {len(text)} characters; give at most {_MAX_TEMPLATE} (a shorter link makes "
                          f"a code that reads from further away), e.g. {EXAMPLE}")
    try:
        parts = urlsplit(rest)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError as exc:
        raise OptionError(f"`lookup_url` was {text!r}: not a URL ({exc}); {fix}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise OptionError(f"`lookup_url` was {text!r}: only http:// and https:// URLs with a host are accepted; {fix}")
    whole = urlsplit(text)
    if PLACEHOLDER in whole.netloc or PLACEHOLDER in whole.fragment:
        raise OptionError(f"`lookup_url` was {text!r}: {PLACEHOLDER} must be in the path or query, not the host or "
                          f"the #fragment; {fix}")
    if parts.username is not None or parts.password is not None:
        raise OptionError(f"`lookup_url` was {text!r}: a code printed on a door carries no user name or password; give "
                          f"the host alone, with a public read-only link for readers without a token, e.g. {EXAMPLE}")
    return text


def lookup_link(template: str, building_id: object) -> str:
    """The look-up URL of one building: ``template`` (checked by :func:`lookup_template`) with its id URL-quoted."""
    return template.replace(PLACEHOLDER, quote(str(building_id), safe=""))


def qr_path(url: str, *, error: str = "m", border: int = 2) -> MplPath:
    """The dark modules of ``url``'s QR code as one path in the unit square (y up), ``border`` modules of quiet
    zone included; each row's runs of dark modules are one rectangle."""
    matrix = np.asarray(segno.make_qr(url, error=error, boost_error=False).matrix, dtype=bool)
    n = matrix.shape[0] + 2 * border
    verts, codes = [], []
    for r, row in enumerate(matrix):
        padded = np.concatenate(([False], row, [False]))
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        y0, y1 = (n - border - r - 1) / n, (n - border - r) / n
        for a, b in zip(edges[::2], edges[1::2]):
            x0, x1 = (border + a) / n, (border + b) / n
            verts += [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
            codes += [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY]
    return MplPath(verts, codes)


def draw_code(target, url: str, x: float, y: float, size: float, *, transform=None, error: str = "m", border: int = 2,
              zorder: float = 9) -> None:
    """Draw ``url``'s QR code as a white square of side ``size`` with its lower-left corner at (``x``, ``y``) on
    ``target`` (an Axes, in data units, or a Figure, in figure fractions when ``transform`` is its transFigure)."""
    path = qr_path(url, error=error, border=border)
    scaled = MplPath(np.asarray(path.vertices) * size + (x, y), path.codes)
    kw = {"transform": transform} if transform is not None else {}
    add = target.add_artist  # not add_patch: it walks every module to update data limits the sheets set themselves
    add(Rectangle((x, y), size, size, facecolor="white", edgecolor="none", zorder=zorder, **kw))
    add(PathPatch(scaled, facecolor="black", edgecolor="none", zorder=zorder + 0.01, **kw))


def grid_buildings(plan: Plan, level: str, code: str, *, crs=None) -> pd.DataFrame:
    """The buildings unit ``code`` of ``level`` holds, whole or in part, sorted by id: ``building_id`` (text),
    ``name``, ``households`` (those in this unit), ``parts`` (what it holds of a divided building, else ``''``)
    and ``geometry`` (the footprint, or the union of its parts here; in ``crs`` when given)."""
    b = plan.buildings if crs is None else plan.buildings.to_crs(crs)
    here = b[b[f"{level}_code"].astype(str) == code]
    ids = here[plan.id_field].astype(str)
    names = building_names(plan)
    part = pd.to_numeric(here["part"], errors="coerce").fillna(0).to_numpy()
    labels = here["part_label"].fillna("").astype(str) if "part_label" in here.columns else pd.Series("", index=here.index)
    rows = []
    for bid in sorted(ids.unique()):
        mine = (ids == bid).to_numpy()
        held = [lab for lab, p in zip(labels[mine], part[mine]) if p >= 1 and lab]
        rows.append({"building_id": bid, "name": names.get(bid, bid), "households": float(here.loc[mine, "households"].sum()),
                     "parts": "、".join(held), "geometry": shapely.union_all(here.geometry.to_numpy()[mine])})
    return pd.DataFrame(rows, columns=["building_id", "name", "households", "parts", "geometry"])


def _free(boxes: np.ndarray, placed: np.ndarray, gap: float) -> np.ndarray:
    """Which of ``boxes`` (k × 4: x0, y0, x1, y1) keep ``gap`` clear of every one of ``placed`` (n × 4)."""
    b, p = boxes[:, None, :], placed[None, :, :]
    hit = (p[..., 0] < b[..., 2] + gap) & (p[..., 2] > b[..., 0] - gap) & (p[..., 1] < b[..., 3] + gap) & (p[..., 3] > b[..., 1] - gap)
    return ~hit.any(axis=1)


def place_codes(ax, buildings: pd.DataFrame, template: str, view: tuple[float, float, float, float], mm: float,
                *, avoid: list[tuple[float, float, float, float]] = (), family: dict | None = None) -> list[str]:
    """Draw a code of :data:`MAP_CODE_MM` on each of ``buildings`` (:func:`grid_buildings`) on the map ``ax``,
    its id under it; ``mm`` is the data length of a millimetre on paper. A code goes on its building's
    representative point, else on the nearest free place of a spiral around it (with a leader line), never
    overlapping another code, ``avoid`` (boxes in data units) or the map's edge. Buildings are taken in the
    order given (:func:`grid_buildings` sorts them by id), so the same sheet is drawn the same way every time.

    Returns the ids of the buildings for which there was no room (their codes are on the door-code pages).
    """
    size, gap, caption = MAP_CODE_MM * mm, 1.0 * mm, 3.0 * mm
    x0, y0, x1, y1 = view
    placed = np.asarray(list(avoid), dtype=float).reshape(-1, 4)
    offsets = np.array([(0.0, 0.0)] + [(r * math.cos(a), r * math.sin(a)) for r in np.arange(0.6, 6.01, 0.6) * size
                                       for a in np.linspace(0, 2 * math.pi, 8 + int(r / size * 4), endpoint=False)])
    missed = []
    for bid, geom in zip(buildings["building_id"], buildings["geometry"]):
        p = geom.representative_point()
        centres = offsets + (p.x, p.y)
        boxes = np.column_stack([centres[:, 0] - size / 2, centres[:, 1] - size / 2 - caption,
                                 centres[:, 0] + size / 2, centres[:, 1] + size / 2])
        ok = (boxes[:, 0] >= x0 + gap) & (boxes[:, 1] >= y0 + gap) & (boxes[:, 2] <= x1 - gap) & (boxes[:, 3] <= y1 - gap)
        ok &= _free(boxes, placed, gap) if len(placed) else True
        if not ok.any():
            missed.append(bid)
            continue
        k = int(np.argmax(ok))
        (cx, cy), box = centres[k], boxes[k]
        placed = np.vstack([placed, box])
        if k:
            near = shapely.ops.nearest_points(shapely.box(*box), p)[0]
            ax.plot([near.x, p.x], [near.y, p.y], color="black", linewidth=0.6, zorder=8.5)
            ax.plot([p.x], [p.y], marker="o", markersize=1.8, color="black", zorder=8.5)
        draw_code(ax, lookup_link(template, bid), cx - size / 2, cy - size / 2, size)
        ax.text(cx, cy - size / 2 - 0.3 * mm, bid, fontsize=5.5, ha="center", va="top", zorder=9.1, clip_on=True,
                bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none"}, **(family or {}))
    return missed


def page_names(code: str, pages: int) -> list[str]:
    """The PNG names of grid ``code``'s door-code pages: ``doorcodes_<code>.png``, then ``doorcodes_<code>_2.png``…"""
    return [f"doorcodes_{code}.png" if n == 1 else f"doorcodes_{code}_{n}.png" for n in range(1, pages + 1)]


def page_count(plan: Plan) -> int:
    """How many door-code pages :func:`door_pages` draws for all the grids of ``plan``."""
    counts = plan.buildings.groupby(plan.buildings["grid_code"].astype(str))[plan.id_field].nunique()
    return int(sum(math.ceil(n / LABELS_PER_PAGE) for n in counts if n))


def door_pages(plan: Plan, code: str, *, row: pd.Series, template: str, font: str | None = None) -> list[Figure]:
    """The door-code pages of grid ``code`` (``row``: its code-table row): A4, :data:`LABELS_PER_PAGE` labels a
    page inside dashed cut lines, each with the building's code (error correction Q), id, name, households and,
    for a divided building, the parts this grid holds."""
    family = {"fontfamily": font} if font else {}
    held = grid_buildings(plan, "grid", code)
    chunks = [held.iloc[i:i + LABELS_PER_PAGE] for i in range(0, len(held), LABELS_PER_PAGE)]
    w_mm, h_mm = _PAGE_IN[0] * 25.4, _PAGE_IN[1] * 25.4
    cell_w, cell_h = (w_mm - 20) / _COLS, (h_mm - 45) / _ROWS
    pages = []
    for n, chunk in enumerate(chunks, start=1):
        fig = Figure(figsize=_PAGE_IN)
        FigureCanvasAgg(fig)
        mm = Affine2D().scale(1 / w_mm, 1 / h_mm) + fig.transFigure  # millimetres from the page's lower-left corner
        fig.text(10, h_mm - 12, f"门牌码 door codes · 网格 grid {code}  {row['name']}", fontsize=14, transform=mm, **family)
        fig.text(10, h_mm - 19, f"上级 parent {row['parent_code']} {row['parent_name']} · 楼栋 buildings {len(held):,}"
                 f" · page {n}/{len(chunks)} · 扫码查看楼栋 scan to look the building up", fontsize=8.5, transform=mm, **family)
        for i, b in enumerate(chunk.itertuples(index=False)):
            left, top = 10 + (i % _COLS) * cell_w, h_mm - 25 - (i // _COLS) * cell_h
            fig.add_artist(Rectangle((left, top - cell_h), cell_w, cell_h, fill=False, linestyle=(0, (4, 3)), linewidth=0.5,
                                     edgecolor="#888888", transform=mm))
            qx, qtop = left + (cell_w - LABEL_CODE_MM) / 2, top - 4
            draw_code(fig, lookup_link(template, b.building_id), qx, qtop - LABEL_CODE_MM, LABEL_CODE_MM, transform=mm,
                      error="q", border=4)
            lines = [b.building_id] + ([str(b.name)] if b.name != b.building_id else [])
            lines.append(f"{b.parts} · 户数 households {b.households:g}" if b.parts else f"户数 households {b.households:g}")
            fig.text(left + cell_w / 2, qtop - LABEL_CODE_MM - 2, "\n".join(lines), ha="center", va="top", fontsize=8,
                     transform=mm, **family)
        fig.text(10, 8, f"gridplan {plan.report.get('gridplan_version', '')} · {template}",
                 fontsize=6.5, color="#666666", transform=mm)
        pages.append(fig)
    return pages
