"""The gridplan service: a thin FastAPI app over the library, built by :func:`create_app`.

Nothing happens at import time: ``create_app(settings)`` builds the app, and its lifespan starts the
:class:`~api.service.Service` (database, forkserver, plan dispatcher). Run it with ``gridplan serve`` or
``uvicorn --factory api.app:create_app`` (one process per data directory: the plan processes and the job
table belong to it).
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, File, Form, Path as PathParam, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

import gridplan
from gridplan.inputs.households import HouseholdRules

from . import limits
from . import models as m
from .db import DatasetRecord, PlanRecord, lock_dataset, utcnow
from .errors import Conflict, InvalidParameter, NotFound, install_handlers
from .jobs import STAGES
from .limits import BodyLimit, is_no_space, no_space, too_many
from .openapi import ID_IN_BODY, RESULTS, error_responses, links, operation_id, upload_encoding
from .openapi import install as install_openapi
from .results import parse_bbox
from .service import Service
from .settings import Settings
from .storage import is_id, new_id
from .uploads import ROLES, discard, save_upload

__all__ = ["create_app", "Service"]

logger = logging.getLogger(__name__)

GEOJSON = "application/geo+json"
_CODE_LENGTH = {"communities": 12, "grids": 15, "micro_grids": 18}
_MOST_IN_A_BUILDING = HouseholdRules().max_households_per_building


class GeoJSONResponse(JSONResponse):
    """GeoJSON as compact UTF-8."""

    media_type = GEOJSON

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def service(request: Request) -> Service:
    return request.app.state.service


Svc = Annotated[Service, Depends(service)]
DatasetId = Annotated[str, PathParam(description="a dataset id", max_length=64)]
PlanId = Annotated[str, PathParam(description="a plan id", max_length=64)]


# ---- records -> models -----------------------------------------------------------------------------------


def _get_dataset(s: Session, dataset_id: str) -> DatasetRecord:
    rec = s.get(DatasetRecord, dataset_id) if is_id(dataset_id) else None
    if rec is None:
        raise NotFound(f"no dataset {dataset_id!r}; upload one with POST /v1/datasets", field="dataset_id")
    return rec


def _get_plan(s: Session, plan_id: str) -> PlanRecord:
    rec = s.get(PlanRecord, plan_id) if is_id(plan_id) else None
    if rec is None:
        raise NotFound(f"no plan {plan_id!r}; create one with POST /v1/plans", field="plan_id")
    return rec


def _dataset_out(rec: DatasetRecord) -> m.Dataset:
    files = {role: {k: v for k, v in meta.items() if k != "stored"} for role, meta in rec.files.items()}
    return m.Dataset(id=rec.id, created_at=rec.created_at, files=files, options=rec.options, summary=rec.summary)


def _plan_out(rec: PlanRecord, model: type[m.Plan] = m.Plan) -> m.Plan:
    progress = None
    if rec.status == "running" and rec.stage:
        i = STAGES.index(rec.stage) if rec.stage in STAGES else 0
        progress = m.Progress(stage=rec.stage, steps=rec.steps or 0, fraction=round(i / len(STAGES), 2))
    base = f"/v1/plans/{rec.id}"
    links = {"self": base, "communities": f"{base}/communities", "grids": f"{base}/grids",
             "micro_grids": f"{base}/micro_grids", "map": f"{base}/map.html", "export": f"{base}/export?format=gpkg"}
    if (rec.parameters or {}).get("redistrict", "none") != "none":
        links["changes"] = f"{base}/changes"
    return model(
        id=rec.id, dataset_id=rec.dataset_id, status=rec.status, progress=progress, reason=rec.reason,
        parameters=rec.parameters, figures=rec.figures, warnings=rec.warnings or [], created_at=rec.created_at,
        started_at=rec.started_at, finished_at=rec.finished_at, links=links,
    )


def _finished_dir(svc: Service, plan_id: str) -> Path:
    """The plan directory of a finished plan; 404 unknown, 409 not done."""
    with svc.sessions() as s:
        rec = _get_plan(s, plan_id)
    if rec.status != "done":
        why = f": {rec.reason}" if rec.status == "failed" else "; try again when its status is 'done'"
        raise Conflict(f"plan {plan_id!r} is {rec.status}{why}", field="plan_id")
    d = svc.layout.plan_dir(plan_id)
    if not (d / "report.json").is_file():
        raise Conflict(f"plan {plan_id!r} has no results on disk any more; submit it again", field="plan_id")
    return d


def _deliver():
    """``gridplan.deliver.export_plan`` when this gridplan has it (shapefile deliverables), else None."""
    try:
        from gridplan.outputs.deliver import export_plan
    except ImportError:  # pragma: no cover - a gridplan without the delivery formats
        return None
    return export_plan


def _export_formats() -> dict[str, str]:
    """Formats GET /export offers: format -> what it is."""
    formats = {
        "gpkg": "plan.gpkg: layers communities, grids, micro_grids, buildings in the input's CRS",
        "csv": "buildings.csv: the building roster (UTF-8)",
        "zip": "the whole plan directory, zipped",
    }
    if _deliver() is not None:
        formats["shp"] = "zipped shapefiles per level and the buildings, CGCS2000 (EPSG:4490), UTF-8, with field tables"
    return formats


# ---- routes ----------------------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)
health = APIRouter(generate_unique_id_function=operation_id)


@health.get("/healthz", response_model=m.Health, tags=["service"], summary="liveness and queue figures")
def healthz(svc: Svc) -> m.Health:
    with svc.sessions() as s:
        counts = dict(s.execute(select(PlanRecord.status, func.count()).group_by(PlanRecord.status)).all())
    dialect = svc.engine.dialect.name
    free, problems = limits.free_bytes(svc.layout.root), []
    if free < svc.settings.min_free_bytes:
        problems.append(f"the data directory's disk has {free:,} bytes free, less than GRIDPLAN_MIN_FREE_BYTES "
                        f"({svc.settings.min_free_bytes:,}): uploads and new plans are refused until space is freed")
    if not svc.jobs.alive():
        problems.append("the plan dispatcher has stopped: queued plans do not start; restart the service")
    return m.Health(status="degraded" if problems else "ok", version=gridplan.__version__,
                    database=dialect if dialect in ("sqlite", "postgresql") else "other",
                    workers=svc.settings.workers, plans_queued=counts.get("queued", 0),
                    plans_running=counts.get("running", 0), disk_free_bytes=free, problems=problems)


@router.post("/datasets", status_code=201, response_model=m.Dataset, tags=["datasets"],
             openapi_extra=upload_encoding(ROLES),
             summary="upload buildings (+ barriers, communities) and inspect them",
             responses={201: {"links": links("get_dataset", "delete_dataset", dataset_id=ID_IN_BODY)
                                       | links("create_plan", body={"dataset_id": ID_IN_BODY})},
                        **error_responses(415, 422, 429, 507)})
def create_dataset(
    svc: Svc,
    buildings: Annotated[UploadFile, File(description="building footprints with households: GeoPackage, GeoJSON, "
                                                      "zipped shapefile, FlatGeobuf or OSM (.osm, .osm.pbf, "
                                                      ".osm.bz2, .osm.gz)")],
    barriers: Annotated[UploadFile | None, File(description="roads, railways, rivers, water (OSM tags or a `tier` "
                                                            "column); from an OSM buildings file when omitted")] = None,
    communities: Annotated[UploadFile | None, File(description="community polygons to keep (optional `code`, `name`)")] = None,
    id_field: Annotated[str, Form(max_length=100)] = "building_id",
    households_field: Annotated[str, Form(max_length=100)] = "households",
    units_field: Annotated[str, Form(max_length=100)] = "units",
    levels_field: Annotated[str, Form(max_length=100)] = "levels",
    compound_field: Annotated[str, Form(max_length=100)] = "compound",
    estimate: Annotated[m.Estimate, Form(description="households: auto, missing, all or never (see README)")] = "auto",
    input_crs: Annotated[m.KnownInputCrs, Form(
        description="auto (the files' own CRS); gcj02/bd09 for Chinese web-map coordinates; or the code of the CRS "
                    "the coordinates are in, for files without one or with a wrong one: 'EPSG:4547', 'EPSG:32650', "
                    "'4490' (an unknown code is 422)")] = "auto",
    fix_geometry: Annotated[bool, Form()] = False,
    accept_large: Annotated[bool, Form(
        description=f"accept buildings with more households than a building holds (above {_MOST_IN_A_BUILDING:,}: a "
                    "population? a total of several buildings?); without it such a dataset is 422 naming them")] = False,
) -> m.Dataset:
    options = m.ReadOptions(id_field=id_field, households_field=households_field, units_field=units_field,
                            levels_field=levels_field, compound_field=compound_field, estimate=estimate,
                            input_crs=input_crs, fix_geometry=fix_geometry, accept_large=accept_large).model_dump()
    uploads = {"buildings": buildings, "barriers": barriers, "communities": communities}
    limits.check_free_space(svc.layout.root, svc.settings.min_free_bytes, "new uploads")
    dataset_id = new_id()
    incoming = svc.layout.datasets / f".incoming-{dataset_id}"
    target = svc.layout.dataset(dataset_id)
    with svc.parser.slot():  # 429 when every slot stays busy
        incoming.mkdir(parents=True)
        try:
            files = {}
            for role in ROLES:
                up = uploads[role]
                if up is None or (not up.filename and up.size == 0):
                    continue
                stored = save_upload(role, up.filename, up.file, incoming, svc.settings.max_upload_bytes)
                files[role] = stored.as_dict()
            summary = svc.parser.parse(incoming, files, options)  # in a child process, with limits
            incoming.rename(target)
        except BaseException as exc:
            discard(incoming)
            if is_no_space(exc):
                raise no_space("saving the upload") from None
            raise
    rec = DatasetRecord(id=dataset_id, files=files, options=options, summary=summary, created_at=utcnow())
    try:
        with svc.sessions() as s:
            s.add(rec)
            s.commit()
    except BaseException as exc:
        discard(target)
        if is_no_space(exc):
            raise no_space("recording the upload") from None
        raise
    logger.info("dataset %s: %d buildings, %d households", dataset_id, summary["buildings"], summary["households"])
    return _dataset_out(rec)


@router.get("/datasets/{dataset_id}", response_model=m.Dataset, tags=["datasets"],
            responses={200: {"links": links("create_plan", body={"dataset_id": ID_IN_BODY})}, **error_responses(404)},
            summary="a dataset and its inspection")
def get_dataset(svc: Svc, dataset_id: DatasetId) -> m.Dataset:
    with svc.sessions() as s:
        return _dataset_out(_get_dataset(s, dataset_id))


@router.delete("/datasets/{dataset_id}", status_code=204, tags=["datasets"], responses=error_responses(404, 409),
               summary="delete a dataset (its finished plans are kept)")
def delete_dataset(svc: Svc, dataset_id: DatasetId) -> Response:
    with svc.sessions() as s:
        if not (is_id(dataset_id) and lock_dataset(s, dataset_id)):  # first: atomic against POST /v1/plans
            _get_dataset(s, dataset_id)  # 404
        busy = s.scalar(select(func.count()).where(PlanRecord.dataset_id == dataset_id,
                                                   PlanRecord.status.in_(("queued", "running"))))
        if busy:
            raise Conflict(f"dataset {dataset_id!r} has {busy} plan(s) queued or running; delete them or wait "
                           "until they finish", field="dataset_id")
        s.execute(delete(DatasetRecord).where(DatasetRecord.id == dataset_id))
        s.commit()
    discard(svc.layout.dataset(dataset_id))
    return Response(status_code=204)


@router.post("/plans", status_code=202, response_model=m.PlanAccepted, tags=["plans"],
             responses={202: {"links": links(*RESULTS, plan_id=ID_IN_BODY), "headers": {"Location": {
                 "description": "the plan: /v1/plans/{id}", "schema": {"type": "string"}}}},
                        **error_responses(404, 422, 429, 507)},
             summary="plan a dataset in the background (202; poll GET /v1/plans/{id})")
def create_plan(svc: Svc, request: m.PlanRequest, response: Response, http: Request) -> m.PlanAccepted:
    params = request.model_dump(mode="json", exclude={"dataset_id"})
    client = (http.client.host if http.client else "")[:64]
    limits.check_free_space(svc.layout.root, svc.settings.min_free_bytes, "new plans")
    with svc.sessions() as s:
        if is_id(request.dataset_id):  # first: the dataset cannot be deleted until this plan is recorded
            lock_dataset(s, request.dataset_id)
        ds = _get_dataset(s, request.dataset_id)
        has = "communities" in ds.files
        if params["community_count"] is not None and params["redistrict"] == "none":
            params["redistrict"] = "oversized"  # a count alone: split the oversized ones (as `gridplan redistrict --count`)
        if params["redistrict"] != "none":
            field = "redistrict" if request.redistrict != "none" else "community_count"
            if not has:
                raise InvalidParameter(f"{field} was {getattr(request, field)!r} but dataset {ds.id!r} has no communities "
                                       "to re-district; upload the old community polygons with the dataset", field=field)
            if params["keep_communities"] is False:
                raise InvalidParameter(f"keep_communities is false but {field} was {getattr(request, field)!r}: "
                                       "re-districting starts from the dataset's communities; leave keep_communities "
                                       "out", field="keep_communities")
        if params["keep_communities"] is None:
            params["keep_communities"] = has
        elif params["keep_communities"] and not has:
            raise InvalidParameter(f"keep_communities is true but dataset {ds.id!r} has no communities; upload them "
                                   "with the dataset, or leave keep_communities out", field="keep_communities")
        limit = svc.settings.max_queued_plans
        queued = s.scalar(select(func.count()).where(PlanRecord.client == client, PlanRecord.status == "queued"))
        if queued >= limit:
            raise too_many(f"{queued} plans of this client ({client or 'unknown address'}) are queued, the limit "
                           f"(GRIDPLAN_MAX_QUEUED_PLANS = {limit}); wait until some have started, or delete some",
                           retry_after=10)
        plan_id = new_id()
        rec = PlanRecord(id=plan_id, dataset_id=ds.id, status="queued", parameters=params, created_at=utcnow(), steps=0,
                         client=client)
        s.add(rec)
        s.commit()
    svc.jobs.wake()  # the dispatcher starts it when a worker is free
    response.headers["Location"] = f"/v1/plans/{plan_id}"
    return _plan_out(rec, m.PlanAccepted)


@router.get("/plans/{plan_id}", response_model=m.Plan, tags=["plans"],
            responses={200: {"links": links(*(r for r in RESULTS if r != "get_plan"), plan_id=ID_IN_BODY)},
                       **error_responses(404)},
            summary="status (queued, running with progress, done, failed with the reason), parameters, figures")
def get_plan(svc: Svc, plan_id: PlanId) -> m.Plan:
    with svc.sessions() as s:
        return _plan_out(_get_plan(s, plan_id))


@router.delete("/plans/{plan_id}", status_code=204, tags=["plans"], responses=error_responses(404),
               summary="delete a plan and its results (a running plan's process is stopped)")
def delete_plan(svc: Svc, plan_id: PlanId) -> Response:
    with svc.sessions() as s:
        rec = _get_plan(s, plan_id)
        s.delete(rec)
        s.commit()
    svc.jobs.cancel(plan_id)  # its process, queued or running, ends; the dispatcher removes what it wrote
    svc.cache.forget(plan_id)
    shutil.rmtree(svc.layout.plan_root(plan_id), ignore_errors=True)
    return Response(status_code=204)


@router.get("/plans/{plan_id}/map.html", response_class=FileResponse, tags=["results"], responses={
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "the review map"},
    **error_responses(404, 409)}, summary="the plan's HTML map")
def get_map(svc: Svc, plan_id: PlanId) -> FileResponse:
    path = _finished_dir(svc, plan_id) / "map.html"
    if not path.is_file():
        raise NotFound(f"plan {plan_id!r} was written without a map", field="plan_id")
    return FileResponse(path, media_type="text/html; charset=utf-8")


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
    d = _finished_dir(svc, plan_id)
    name = f"plan-{plan_id}"
    if format == "gpkg":
        return FileResponse(d / "plan.gpkg", media_type="application/geopackage+sqlite3", filename=f"{name}.gpkg")
    if format == "csv":
        return FileResponse(d / "buildings.csv", media_type="text/csv; charset=utf-8", filename=f"{name}-buildings.csv")
    tmp = Path(tempfile.mkdtemp(prefix="gridplan-export-"))
    try:
        root = d
        if format == "shp":
            from gridplan.outputs.reader import read_plan

            root = _deliver()(read_plan(d), tmp / "delivery", formats=["shp"]).path
            name += "-shp"
        archive = shutil.make_archive(str(tmp / name), "zip", root_dir=root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(archive, media_type="application/zip", filename=f"{name}.zip",
                        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True))


@router.get("/plans/{plan_id}/changes", response_class=FileResponse, tags=["results"], responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "the change list"},
    **error_responses(404, 409)}, summary="the change list of a re-districting plan (changes.csv)")
def get_changes(svc: Svc, plan_id: PlanId) -> FileResponse:
    path = _finished_dir(svc, plan_id) / "changes.csv"
    if not path.is_file():
        raise NotFound(f"plan {plan_id!r} is not a re-districting plan, so it has no change list", field="plan_id")
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"plan-{plan_id}-changes.csv")


@router.get("/plans/{plan_id}/buildings/{building_id}", response_model=m.BuildingLookup, tags=["results"],
            responses=error_responses(404, 409), summary="the community, grid and micro-grid(s) of a building")
def get_building(svc: Svc, plan_id: PlanId,
                 building_id: Annotated[str, PathParam(description="the building's id", max_length=200)]) -> m.BuildingLookup:
    d = _finished_dir(svc, plan_id)
    id_field = json.loads((d / "report.json").read_text(encoding="utf-8")).get("parameters", {}).get("id_field", "building_id")
    rows = svc.cache.roster(plan_id, d / "buildings.csv", id_field).rows.get(building_id)
    if not rows:
        raise NotFound(f"plan {plan_id!r} has no building {building_id!r}", field="building_id")
    hh = {lvl: svc.cache.layer(plan_id, d / f"{lvl}.geojson").households for lvl in _CODE_LENGTH}

    def ref(level: str, code: str) -> m.UnitRef:
        return m.UnitRef(code=code, households=hh[level].get(code))

    parts = [m.BuildingPart(part=int(float(r.get("part") or 0)), households=int(float(r.get("households") or 0)),
                            micro_grid=ref("micro_grids", r["micro_code"])) for r in rows]
    micro = list(dict.fromkeys(r["micro_code"] for r in rows))
    return m.BuildingLookup(
        building_id=building_id, households=sum(p.households for p in parts),
        community=ref("communities", rows[0]["community_code"]), grid=ref("grids", rows[0]["grid_code"]),
        micro_grids=[ref("micro_grids", c) for c in micro], parts=parts,
    )


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
    path = _finished_dir(svc, plan_id) / f"{level}.geojson"
    if box is None and code is None:
        return FileResponse(path, media_type=GEOJSON)
    layer = svc.cache.layer(plan_id, path)
    if code is not None and code not in layer.index:
        unit, n = level[:-1].replace("_", "-"), _CODE_LENGTH[level]
        why = "" if len(code) == n else f" (a {unit} code has {n} digits)"
        raise NotFound(f"plan {plan_id!r} has no {unit} {code!r}{why}", field="code")
    return GeoJSONResponse({"type": "FeatureCollection", "features": layer.select(bbox=box, code=code)})


# ---- the app ------------------------------------------------------------------------------------------------


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. ``settings`` default to the ``GRIDPLAN_*`` environment (see :class:`Settings`)."""
    settings = settings or Settings()
    svc = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(
        title="gridplan", version=gridplan.__version__, lifespan=lifespan,
        description="Plan buildings into communities → grids → micro-grids. Upload a dataset, start a plan, poll "
                    "it, then read its units as GeoJSON, look up a building, open the map or download the files.",
    )
    app.state.service = svc
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, uploads=settings.max_concurrent_uploads,
                       min_free=settings.min_free_bytes, root=svc.layout.root)
    install_handlers(app, scrub=svc.scrub)
    install_openapi(app)

    app.include_router(health)
    app.include_router(router)
    return app
