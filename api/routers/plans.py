"""Plans: submit (queued for the dispatcher), read status and progress, delete."""
from __future__ import annotations

import shutil

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from .. import limits
from .. import models as m
from ..common import PlanId, Svc, get_dataset_record, get_plan_record, plan_out, record_action
from ..db import PlanRecord, lock_dataset, utcnow
from ..errors import InvalidParameter
from ..limits import too_many
from ..openapi import ID_IN_BODY, RESULTS, error_responses, links, operation_id
from ..storage import is_id, new_id

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)



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
        ds = get_dataset_record(s, request.dataset_id)
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

