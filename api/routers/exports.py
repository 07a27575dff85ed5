"""GET /v1/plans/{id}/export: the files `gridplan export` delivers (gpkg, fgb, shp, csv tables), or the plan directory.

The delivery is built per request by :func:`gridplan.outputs.deliver.export_plan` (what ``gridplan export`` calls)
in a temporary directory, which is removed once the response is sent, or at once on an error. The query picks
what of it is answered:

==========  =========================================================================================
``gpkg``    ``gridplan.gpkg``: layers communities, grids, micro_grids, buildings
``fgb``     ``{level}.fgb`` with ``level``; without it one zip of the four
``shp``     with ``level`` the delivery's ``{level}.shp.zip`` (.shp .shx .dbf .prj .cpg and ``fields.csv``);
            without it one zip of every level's files and ``shapefile_fields.csv`` (never a zip of zips)
``csv``     ``table`` = codes (with 四至; one level's with ``level``, else a zip of the three), roster, posts
            or validation; ``level`` alone: that level's code table (buildings: the roster); neither: a zip of all
``zip``     the plan directory as ``gridplan plan`` wrote it
==========  =========================================================================================

Examples
--------
>>> _choose("shp", "grids", None, None, None).files, _choose("shp", "grids", None, None, None).filename
(('grids.shp.zip',), '-grids.shp.zip')
>>> _choose(None, None, "codes", None, None).files
('community_codes.csv', 'grid_codes.csv', 'micro_grid_codes.csv')
>>> _choose("gpkg", None, "codes", None, None)
Traceback (most recent call last):
...
api.errors.InvalidParameter: table was 'codes', a CSV table; send format=csv with it, or drop table for format=gpkg
"""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pyproj
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from gridplan.model import LAYER_NAMES
from gridplan.outputs.deliver import export_plan as deliver_plan, parse_crs
from gridplan.outputs.reader import read_plan

from .. import models as m
from ..common import PlanId, Svc, finished_dir, record_action
from ..errors import InvalidParameter
from ..openapi import error_responses, operation_id

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)

_UNITS = tuple(LAYER_NAMES.values())  # communities, grids, micro_grids
_LEVELS = (*_UNITS, "buildings")
#: what ``export_plan`` names its CSV tables (gridplan/outputs/deliver.py)
_CODE_TABLES = {"communities": "community_codes.csv", "grids": "grid_codes.csv", "micro_grids": "micro_grid_codes.csv"}
_TABLES = {"roster": "buildings.csv", "posts": "posts.csv", "validation": "validation.csv"}
_MEDIA = {"gpkg": "application/geopackage+sqlite3", "fgb": "application/octet-stream", "csv": "text/csv; charset=utf-8",
          "zip": "application/zip"}


@dataclass(frozen=True)
class Choice:
    """What a request asks for: the delivery format to build, the files of it to answer and how."""

    format: str
    files: tuple[str, ...]  # names in the delivery directory; several (or ``flatten``) are zipped into one
    filename: str  # the download's name after ``plan-{id}``: ``-grids.shp.zip``, ``.gpkg``
    flatten: bool = False  # shapefile zips unpacked into one zip

    @property
    def media_type(self) -> str:
        return _MEDIA["zip"] if self.filename.endswith(".zip") else _MEDIA[self.format]


def _refuse(field: str, value: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"{field} was {value!r}{why}", field=field)


def _choose(format: str | None, level: str | None, table: str | None, encoding: str | None,
            crs: str | None) -> Choice:
    """The files answering ``format``/``level``/``table``; 422 naming the field of a combination that has none."""
    fmt = format or ("csv" if table else "gpkg")
    if fmt == "zip":
        for field, value in (("level", level), ("table", table), ("crs", crs), ("encoding", encoding)):
            if value is not None:
                raise _refuse(field, value, ", but format=zip is the plan directory as it was written; drop "
                                            f"{field}, or send format=gpkg, fgb, shp or csv")
        return Choice("zip", (), ".zip")
    if table is not None and fmt != "csv":
        raise _refuse("table", table, f", a CSV table; send format=csv with it, or drop table for format={fmt}")
    if encoding == "gbk" and fmt != "shp":
        text = "CSV tables are UTF-8 with a byte-order mark" if fmt == "csv" else f"{fmt} text is always UTF-8"
        raise _refuse("encoding", encoding, f", which is for shapefiles only ({text}); send format=shp with it, "
                                            "or drop encoding")
    if fmt == "gpkg":
        if level is not None:
            raise _refuse("level", level, ", but format=gpkg holds every level as a layer; drop level, or send "
                                          "format=fgb or shp for one level")
        return Choice("gpkg", ("gridplan.gpkg",), ".gpkg")
    if fmt == "fgb":
        if level is not None:
            return Choice("fgb", (f"{level}.fgb",), f"-{level}.fgb")
        return Choice("fgb", tuple(f"{lv}.fgb" for lv in _LEVELS), ".fgb.zip")
    if fmt == "shp":
        if level is not None:
            return Choice("shp", (f"{level}.shp.zip",), f"-{level}.shp.zip")
        return Choice("shp", (*(f"{lv}.shp.zip" for lv in _LEVELS), "shapefile_fields.csv"), ".shp.zip", flatten=True)
    if crs is not None:
        raise _refuse("crs", crs, ", but CSV tables have no geometry; drop crs, or send format=gpkg, fgb or shp")
    return _csv_choice(level, table)


def _csv_choice(level: str | None, table: str | None) -> Choice:
    if table in _TABLES:
        if level is not None:
            raise _refuse("level", level, f", but level picks a code table (table=codes); drop it with table={table}")
        return Choice("csv", (_TABLES[table],), f"-{table}.csv")
    if level == "buildings":
        if table == "codes":
            raise _refuse("level", level, ", which has no code table; send table=roster for the buildings, or "
                                          f"level={', '.join(_UNITS[:-1])} or {_UNITS[-1]} with table=codes")
        return Choice("csv", (_TABLES["roster"],), "-roster.csv")
    if level is not None:
        return Choice("csv", (_CODE_TABLES[level],), f"-{level}-codes.csv")
    if table == "codes":
        return Choice("csv", tuple(_CODE_TABLES.values()), "-codes.csv.zip")
    return Choice("csv", (*_CODE_TABLES.values(), *_TABLES.values()), ".csv.zip")


def _check_area(crs: pyproj.CRS, given: str, plan) -> None:
    """422 naming ``crs`` when the plan's centre lies outside the area the CRS is defined for."""
    area = crs.area_of_use
    if area is None or area.west > area.east:  # unknown, or across the antimeridian: left to the user
        return
    w, s, e, n = plan.layer("community").to_crs(4326).total_bounds
    lon, lat = (w + e) / 2, (s + n) / 2
    if area.west <= lon <= area.east and area.south <= lat <= area.north:
        return
    raise _refuse("crs", given, f" ({crs.name}), which is for {area.name.rstrip('.')} ({area.west:g}..{area.east:g}E, "
                                f"{area.south:g}..{area.north:g}N), but the plan lies at {lon:.2f}E {lat:.2f}N; send "
                                "4490 (CGCS2000), 4326 (WGS84) or the EPSG code of a projected CRS for this area")


def _zip(out: Path, root: Path, choice: Choice) -> None:
    """Zip ``choice.files`` of ``root`` into ``out``; shapefile zips are unpacked into it (their own ``fields.csv``
    left out: ``shapefile_fields.csv`` lists every layer's fields)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in choice.files:
            if choice.flatten and name.endswith(".shp.zip"):
                with zipfile.ZipFile(root / name) as inner:
                    for info in inner.infolist():
                        if info.filename != "fields.csv":
                            zf.writestr(info, inner.read(info))
            else:
                zf.write(root / name, arcname=name)


_OK_CONTENT = {media: {"schema": {"type": "string", "format": "binary"}}
               for media in ("application/geopackage+sqlite3", "application/zip", "application/octet-stream")}


@router.get("/plans/{plan_id}/export", response_class=FileResponse, tags=["results"], responses={
    200: {"content": {**_OK_CONTENT, "text/csv": {"schema": {"type": "string"}}},
          "description": "the file: gpkg, fgb (octet-stream), csv, or a zip"}, **error_responses(404, 409, 422)},
          summary="download the plan as gridplan export delivers it (gpkg, fgb, shp, csv tables) or its directory (zip)")
def export_plan(
    svc: Svc, plan_id: PlanId,
    format: Annotated[m.ExportFormat | None, Query(description=(
        "gpkg (all levels as layers), fgb, shp (zipped), csv (tables) or zip (the plan directory); "
        "default gpkg, or csv when `table` is given"))] = None,
    level: Annotated[m.ExportLevel | None, Query(description=(
        "one level only (fgb, shp, csv); csv: that level's code table, buildings: the roster"))] = None,
    table: Annotated[m.ExportTable | None, Query(description=(
        "a csv table: codes (code tables with 四至; one level's with `level`), roster (buildings), "
        "posts (网格员, 楼栋长, 单元长, 楼层长) or validation (every rule per unit)"))] = None,
    encoding: Annotated[m.ExportEncoding | None, Query(description=(
        "shapefile text: utf-8 (the default) or gbk (code page 936, for older desktop GIS); other formats are UTF-8"))] = None,
    crs: Annotated[m.ExportCrs | None, Query(description=(
        "CRS of the geometry (gpkg, fgb, shp): 4490 (CGCS2000, the default), 4326 (WGS84) or EPSG:xxxx"))] = None,
) -> FileResponse:
    choice = _choose(format, level, table, encoding, crs)
    target = parse_crs(crs if crs is not None else 4490)  # a code pyproj does not know: 422 naming crs
    d = finished_dir(svc, plan_id)
    name = f"plan-{plan_id}"
    plan = None
    if choice.format != "zip":
        plan = read_plan(d)
        if crs is not None:
            _check_area(target, crs, plan)
    tmp = Path(tempfile.mkdtemp(prefix="gridplan-export-"))
    try:
        if plan is None:
            path = Path(shutil.make_archive(str(tmp / name), "zip", root_dir=d))
            detail = {"format": "zip"}
        else:
            delivery = deliver_plan(plan, tmp / "delivery", formats=[choice.format], crs=target.to_epsg(),
                                    encoding=encoding or "utf-8")
            detail = {"format": choice.format, "level": level, "table": table, "crs": delivery.crs,
                      "encoding": delivery.encoding}
            if len(choice.files) == 1 and not choice.flatten:
                path = delivery.path / choice.files[0]
            else:
                path = tmp / "export.zip"
                _zip(path, delivery.path, choice)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    record_action("export", plan_id, {k: v for k, v in detail.items() if v is not None})
    return FileResponse(path, media_type=choice.media_type, filename=name + choice.filename,
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))
