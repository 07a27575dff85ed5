"""A finished plan's results: units as GeoJSON (by bbox or code), the map, the change list, building look-ups."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path as PathParam, Query, Response
from fastapi.responses import FileResponse

from .. import models as m
from ..common import CODE_LENGTH, GEOJSON, UNIT_NAME, GeoJSONResponse, PlanId, Svc, building_lookup, finished_dir, map_path
from ..errors import InvalidParameter, NotFound
from ..openapi import error_responses, operation_id
from ..results import parse_bbox

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)


@router.get("/plans/{plan_id}/map.html", response_class=FileResponse, tags=["results"], responses={
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "the review map"},
    **error_responses(404, 409)}, summary="the plan's HTML map")
def get_map(svc: Svc, plan_id: PlanId) -> FileResponse:
    return FileResponse(map_path(svc, plan_id), media_type="text/html; charset=utf-8")



@router.get("/plans/{plan_id}/changes", response_class=FileResponse, tags=["results"], responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "the change list"},
    **error_responses(404, 409)}, summary="the change list of a re-districting plan (changes.csv)")
def get_changes(svc: Svc, plan_id: PlanId) -> FileResponse:
    path = finished_dir(svc, plan_id) / "changes.csv"
    if not path.is_file():
        raise NotFound(f"plan {plan_id!r} is not a re-districting plan, so it has no change list", field="plan_id")
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"plan-{plan_id}-changes.csv")


@router.get("/plans/{plan_id}/buildings/{building_id:path}", response_model=m.BuildingLookup, tags=["results"],
            responses=error_responses(404, 409), summary="the community, grid and micro-grid(s) of a building")
def get_building(svc: Svc, plan_id: PlanId,
                 building_id: Annotated[str, PathParam(description="the building's id", max_length=200)]) -> m.BuildingLookup:
    return building_lookup(svc, plan_id, building_id)


@router.get("/plans/{plan_id}/{level}", response_class=GeoJSONResponse, response_model=None, tags=["results"],
            responses={200: {"model": m.FeatureCollection, "description": "the units as GeoJSON (EPSG:4326)"},
                       **error_responses(404, 409, 422, explicit=True)},
            summary="the units of one level as GeoJSON, optionally filtered by bbox or looked up by code")
def get_level(
    svc: Svc, plan_id: PlanId, level: m.LevelPath,
    bbox: Annotated[str | None, Query(description="W,S,E,N in degrees (EPSG:4326), W <= E and S <= N: the units that "
                                                  "intersect it", max_length=200, pattern=m.BBOX_PATTERN)] = None,
    code: Annotated[str | None, Query(description="a unit code of this level: 12 digits for a community, 15 for a "
                                                  "grid, 18 for a micro-grid", pattern=m.CODE_PATTERN)] = None,
) -> Response:
    box = None
    if bbox is not None:
        try:
            box = parse_bbox(bbox)
        except ValueError as exc:
            raise InvalidParameter(str(exc), field="bbox") from None
    path = finished_dir(svc, plan_id) / f"{level}.geojson"
    if box is None and code is None:
        return FileResponse(path, media_type=GEOJSON)
    layer = svc.cache.layer(plan_id, path)
    if code is not None and code not in layer.index:
        unit, n = UNIT_NAME[level], CODE_LENGTH[level]
        why = "" if len(code) == n else f" (a {unit} code has {n} digits)"
        raise NotFound(f"plan {plan_id!r} has no {unit} {code!r}{why}", field="code")
    return Response(layer.geojson(bbox=box, code=code), media_type=GEOJSON)

