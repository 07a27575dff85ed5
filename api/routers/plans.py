"""Plans: submit (queued for the dispatcher), read status and progress, delete."""
from __future__ import annotations

import shutil
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select

from .. import limits, paging
from .. import models as m
from ..common import CODE_LENGTH, PlanId, Svc, finished_dir, get_dataset_record, get_plan_record, plan_out, record_action, visible
from ..db import PlanRecord, lock_dataset, utcnow
from ..errors import Conflict, InvalidParameter, NotFound
from ..limits import too_many
from ..openapi import ID_IN_BODY, RESULTS, error_responses, header, links, operation_id
from ..replanning import check_lock, refuse_extra, replan_parameters
from ..storage import is_id, new_id

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)


def _previous_plan(svc, request: m.PlanRequest) -> dict:
    """The parameters of the plan ``replan_of`` names: 404 unknown, 409 not done, 422 fields a re-plan does not take
    or ``lock`` codes it lacks."""
    try:
        d = finished_dir(svc, request.replan_of)
    except (NotFound, Conflict) as exc:
        raise type(exc)(f"replan_of: {exc.detail}", field="replan_of") from None
    refuse_extra(request.model_fields_set)
    if request.lock:
        known = {c for lvl in CODE_LENGTH for c in svc.cache.layer(request.replan_of, d / f"{lvl}.geojson").index}
        check_lock(request.lock, known, request.replan_of)
    with svc.sessions() as s:
        return dict(get_plan_record(s, request.replan_of).parameters)


@router.post("/plans", status_code=202, response_model=m.PlanAccepted, tags=["plans"],
             responses={202: {"links": links(*RESULTS, plan_id=ID_IN_BODY), "headers": {"Location": {
                 "description": "the plan: /v1/plans/{id}", "schema": {"type": "string"}}}},
                        **error_responses(404, 409, 422, 429, 507)},
             summary="plan a dataset, or re-plan a previous plan (replan_of), in the background (202; poll GET /v1/plans/{id})")
def create_plan(svc: Svc, request: m.PlanRequest, response: Response, http: Request) -> m.PlanAccepted:
    params = request.model_dump(mode="json", exclude={"dataset_id"})
    client = (http.client.host if http.client else "")[:64]
    limits.check_free_space(svc.layout.root, svc.settings.min_free_bytes, "new plans")
    if request.lock and request.replan_of is None:
        raise InvalidParameter("lock was given without replan_of: it names units of a previous plan to keep; give "
                               "replan_of (the previous plan's id), or leave lock out", field="lock")
    previous = None
    if request.replan_of is not None:
        previous = _previous_plan(svc, request)
    with svc.sessions() as s:
        if is_id(request.dataset_id):  # first: the dataset cannot be deleted until this plan is recorded
            lock_dataset(s, request.dataset_id)
        ds = get_dataset_record(s, request.dataset_id)
        if previous is not None:
            params = replan_parameters(request.model_fields_set, params, previous)
        else:
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
    record_action("plan", plan_id, {"kind": "plan", "dataset_id": ds.id})
    svc.jobs.wake()  # the dispatcher starts it when a worker is free
    response.headers["Location"] = f"/v1/plans/{plan_id}"
    return plan_out(rec, m.PlanAccepted)


@router.get("/plans/{plan_id}", response_model=m.Plan, tags=["plans"],
            responses={200: {"links": links(*(r for r in RESULTS if r != "get_plan"), plan_id=ID_IN_BODY)},
                       **error_responses(404)},
            summary="status (queued, running with progress, done, failed with the reason), parameters, figures")
def get_plan(svc: Svc, plan_id: PlanId) -> m.Plan:
    with svc.sessions() as s:
        return plan_out(get_plan_record(s, plan_id))


@router.delete("/plans/{plan_id}", status_code=204, tags=["plans"], responses=error_responses(404),
               summary="delete a plan and its results (a running plan's process is stopped)")
def delete_plan(svc: Svc, plan_id: PlanId) -> Response:
    with svc.sessions() as s:
        rec = get_plan_record(s, plan_id)
        s.delete(rec)
        s.commit()
    svc.jobs.cancel(plan_id)  # its process, queued or running, ends; the dispatcher removes what it wrote
    svc.cache.forget(plan_id)
    shutil.rmtree(svc.layout.plan_root(plan_id), ignore_errors=True)
    record_action("delete", plan_id, {"kind": "plan"})
    return Response(status_code=204)


@router.get("/plans", response_model=m.PlanList, tags=["plans"],
            responses={200: {"headers": header("Link", 'the next page, `<...>; rel="next"` (absent on the last page)')}},
            summary="list plans, newest first, a page at a time (follow `next`); filter by status, dataset, time")
def list_plans(
    svc: Svc, http: Request, response: Response, limit: paging.Limit = paging.DEFAULT_LIMIT,
    cursor: paging.Cursor = None,
    status: Annotated[m.PlanStatus | None, Query(description="only plans with this status")] = None,
    dataset_id: Annotated[str | None, Query(max_length=64, description="only plans of this dataset (also one "
                                                                       "since deleted)")] = None,
    created_after: paging.CreatedAfter = None, created_before: paging.CreatedBefore = None,
) -> m.PlanList:
    stmt = visible(select(PlanRecord), PlanRecord)
    if status is not None:
        stmt = stmt.where(PlanRecord.status == status)
    if dataset_id is not None:
        stmt = stmt.where(PlanRecord.dataset_id == dataset_id)
    stmt = paging.created_between(stmt, PlanRecord.created_at, created_after, created_before)
    with svc.sessions() as s:
        page = paging.keyset_page(s, stmt, PlanRecord.created_at, PlanRecord.id, limit=limit, cursor=cursor)
    return m.PlanList(items=[plan_out(r) for r in page.items], next=paging.next_of(page, http, response))
