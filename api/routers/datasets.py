"""Datasets: upload (inspected in a child process), read, delete."""
from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from sqlalchemy import delete, func, select

from .. import limits, paging
from .. import models as m
from ..common import MOST_IN_A_BUILDING, DatasetId, Svc, dataset_out, get_dataset_record, record_action, visible
from ..db import DatasetRecord, PlanRecord, lock_dataset, utcnow
from ..errors import Conflict
from ..limits import is_no_space, no_space
from ..openapi import ID_IN_BODY, error_responses, header, links, operation_id, upload_encoding
from ..storage import is_id, new_id
from ..uploads import ROLES, discard, save_upload

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)



@router.post("/datasets", status_code=201, response_model=m.Dataset, tags=["datasets"],
             openapi_extra=upload_encoding(ROLES),
             summary="upload buildings (+ barriers, communities) and inspect them",
             responses={201: {"links": links("get_dataset", "delete_dataset", dataset_id=ID_IN_BODY)
                                       | links("create_plan", body={"dataset_id": ID_IN_BODY}),
                              "headers": header("Location", "the dataset: /v1/datasets/{id}")},
                        **error_responses(415, 422, 429, 507)})
def create_dataset(
    svc: Svc,
    response: Response,
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
        description=f"accept buildings with more households than a building holds (above {MOST_IN_A_BUILDING:,}: a "
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
    response.headers["Location"] = f"/v1/datasets/{dataset_id}"
    record_action("upload", dataset_id, {"kind": "dataset", "buildings": summary["buildings"]})
    logger.info("dataset %s: %d buildings, %d households", dataset_id, summary["buildings"], summary["households"])
    return dataset_out(rec)


@router.get("/datasets/{dataset_id}", response_model=m.Dataset, tags=["datasets"],
            responses={200: {"links": links("create_plan", body={"dataset_id": ID_IN_BODY})}, **error_responses(404)},
            summary="a dataset and its inspection")
def get_dataset(svc: Svc, dataset_id: DatasetId) -> m.Dataset:
    with svc.sessions() as s:
        return dataset_out(get_dataset_record(s, dataset_id))


@router.delete("/datasets/{dataset_id}", status_code=204, tags=["datasets"], responses=error_responses(404, 409),
               summary="delete a dataset (its finished plans are kept)")
def delete_dataset(svc: Svc, dataset_id: DatasetId) -> Response:
    with svc.sessions() as s:
        if is_id(dataset_id):  # first: atomic against POST /v1/plans
            lock_dataset(s, dataset_id)
        get_dataset_record(s, dataset_id)  # 404, also for another organisation's
        busy = s.scalar(select(func.count()).where(PlanRecord.dataset_id == dataset_id,
                                                   PlanRecord.status.in_(("queued", "running"))))
        if busy:
            raise Conflict(f"dataset {dataset_id!r} has {busy} plan(s) queued or running; delete them or wait "
                           "until they finish", field="dataset_id")
        s.execute(delete(DatasetRecord).where(DatasetRecord.id == dataset_id))
        s.commit()
    discard(svc.layout.dataset(dataset_id))
    record_action("delete", dataset_id, {"kind": "dataset"})
    return Response(status_code=204)


@router.get("/datasets", response_model=m.DatasetList, tags=["datasets"],
            responses={200: {"headers": header("Link", 'the next page, `<...>; rel="next"` (absent on the last page)')}},
            summary="list datasets, newest first, a page at a time (follow `next`)")
def list_datasets(svc: Svc, http: Request, response: Response, limit: paging.Limit = paging.DEFAULT_LIMIT,
                  cursor: paging.Cursor = None, created_after: paging.CreatedAfter = None,
                  created_before: paging.CreatedBefore = None) -> m.DatasetList:
    stmt = paging.created_between(visible(select(DatasetRecord), DatasetRecord), DatasetRecord.created_at,
                                  created_after, created_before)
    with svc.sessions() as s:
        page = paging.keyset_page(s, stmt, DatasetRecord.created_at, DatasetRecord.id, limit=limit, cursor=cursor)
    return m.DatasetList(items=[dataset_out(r) for r in page.items], next=paging.next_of(page, http, response))
