"""What the routers share: the service dependency, path parameters, look-ups that answer 404/409, records as models.

Access hooks (:func:`caller_org`, :func:`visible`, :func:`record_action`) are the one place routers ask who is calling;
with accounts off they let everything through.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Path as PathParam, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gridplan.inputs.households import HouseholdRules

from . import models as m
from .db import DatasetRecord, PlanRecord, utcnow
from .errors import Conflict, NotFound, for_the_api
from .progress import kind_of, progress_of
from .service import Service
from .storage import is_id

GEOJSON = "application/geo+json"
CODE_LENGTH = {"communities": 12, "grids": 15, "micro_grids": 18}
#: a level's path -> one unit of it, in words
UNIT_NAME = {"communities": "community", "grids": "grid", "micro_grids": "micro-grid"}
MOST_IN_A_BUILDING = HouseholdRules().max_households_per_building


def caller_org() -> str | None:
    """The organisation of the caller (None: accounts off, everything visible)."""
    return None


def visible(stmt, record):
    """``stmt`` restricted to the records the caller may see."""
    return stmt


def may_see(rec) -> bool:
    """Whether the caller may see ``rec`` (a DatasetRecord or PlanRecord)."""
    return True


def record_action(action: str, target: str, detail: dict | None = None) -> None:
    """Write who did ``action`` on ``target`` to the audit log (no-op without accounts)."""

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


def get_dataset_record(s: Session, dataset_id: str) -> DatasetRecord:
    rec = s.get(DatasetRecord, dataset_id) if is_id(dataset_id) else None
    if rec is None or not may_see(rec):
        raise NotFound(f"no dataset {dataset_id!r}; upload one with POST /v1/datasets", field="dataset_id")
    return rec


def get_plan_record(s: Session, plan_id: str) -> PlanRecord:
    rec = s.get(PlanRecord, plan_id) if is_id(plan_id) else None
    if rec is None or not may_see(rec):
        raise NotFound(f"no plan {plan_id!r}; create one with POST /v1/plans", field="plan_id")
    return rec


def dataset_out(rec: DatasetRecord) -> m.Dataset:
    files = {role: {k: v for k, v in meta.items() if k != "stored"} for role, meta in rec.files.items()}
    summary = dict(rec.summary)
    for said in ("notes", "warnings"):  # the inspection's words, in the API's terms
        if said in summary:
            summary[said] = [for_the_api(text) for text in summary[said]]
    return m.Dataset(id=rec.id, created_at=rec.created_at, files=files, options=rec.options, summary=summary)


def plan_out(rec: PlanRecord, model: type[m.Plan] = m.Plan) -> m.Plan:
    progress = None
    if rec.status == "running" and rec.stage:
        now = utcnow()
        before = (rec.stage_started_at - rec.started_at).total_seconds() if rec.stage_started_at and rec.started_at else None
        inside = (now - rec.stage_started_at).total_seconds() if rec.stage_started_at else None
        progress = progress_of(kind_of(rec.parameters), rec.stage, rec.steps or 0, rec.stage_total, before=before,
                               inside=inside)
    base = f"/v1/plans/{rec.id}"
    links = {"self": base, "communities": f"{base}/communities", "grids": f"{base}/grids",
             "micro_grids": f"{base}/micro_grids", "map": f"{base}/map.html", "export": f"{base}/export?format=gpkg"}
    if (rec.parameters or {}).get("redistrict", "none") != "none" or (rec.parameters or {}).get("replan_of"):
        links["changes"] = f"{base}/changes"
    return model(
        id=rec.id, dataset_id=rec.dataset_id, status=rec.status, progress=progress,
        reason=rec.reason and for_the_api(rec.reason), parameters=rec.parameters, figures=rec.figures,
        warnings=[for_the_api(w) for w in rec.warnings or []], created_at=rec.created_at,
        started_at=rec.started_at, finished_at=rec.finished_at, links=links,
    )


def finished_dir(svc: Service, plan_id: str) -> Path:
    """The plan directory of a finished plan; 404 unknown, 409 not done."""
    with svc.sessions() as s:
        rec = get_plan_record(s, plan_id)
    if rec.status != "done":
        why = f": {rec.reason}" if rec.status == "failed" else "; try again when its status is 'done'"
        raise Conflict(f"plan {plan_id!r} is {rec.status}{why}", field="plan_id")
    d = svc.layout.plan_dir(plan_id)
    if not (d / "report.json").is_file():
        raise Conflict(f"plan {plan_id!r} has no results on disk any more; submit it again", field="plan_id")
    return d

