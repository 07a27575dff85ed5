"""GET /v1/plans/{id}/export: the plan as files (gpkg, csv, zip, shp)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from gridplan.outputs.deliver import export_plan as deliver_plan
from gridplan.outputs.reader import read_plan

from .. import models as m
from ..common import PlanId, Svc, finished_dir, record_action
from ..errors import InvalidParameter
from ..openapi import error_responses, operation_id

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)


def _export_formats() -> dict[str, str]:
    """Formats GET /export offers: format -> what it is."""
    formats = {
        "gpkg": "plan.gpkg: layers communities, grids, micro_grids, buildings in the input's CRS",
        "csv": "buildings.csv: the building roster (UTF-8)",
        "zip": "the whole plan directory, zipped",
    }
    formats["shp"] = "zipped shapefiles per level and the buildings, CGCS2000 (EPSG:4490), UTF-8, with field tables"
    return formats



@router.get("/plans/{plan_id}/export", response_class=FileResponse, tags=["results"], responses={
    200: {"content": {"application/geopackage+sqlite3": {"schema": {"type": "string", "format": "binary"}},
                      "text/csv": {"schema": {"type": "string"}},
                      "application/zip": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the file"}, **error_responses(404, 409, 422)},
          summary="download the plan: gpkg, csv (building roster), zip (the plan directory) or shp (zipped shapefiles)")
def export_plan(svc: Svc, plan_id: PlanId,
                format: Annotated[m.ExportFormat, Query(description="gpkg, csv, zip or shp")] = "gpkg") -> FileResponse:
    formats = _export_formats()
    if format not in formats:
        raise InvalidParameter(f"`format` was {format!r}; expected one of {', '.join(map(repr, formats))}",
                               field="format")
    d = finished_dir(svc, plan_id)
    record_action("export", plan_id, {"format": format})
    name = f"plan-{plan_id}"
    if format == "gpkg":
        return FileResponse(d / "plan.gpkg", media_type="application/geopackage+sqlite3", filename=f"{name}.gpkg")
    if format == "csv":
        return FileResponse(d / "buildings.csv", media_type="text/csv; charset=utf-8", filename=f"{name}-buildings.csv")
    tmp = Path(tempfile.mkdtemp(prefix="gridplan-export-"))
    try:
        root = d
        if format == "shp":
            root = deliver_plan(read_plan(d), tmp / "delivery", formats=["shp"]).path
            name += "-shp"
        archive = shutil.make_archive(str(tmp / name), "zip", root_dir=root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(archive, media_type="application/zip", filename=f"{name}.zip",
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))

