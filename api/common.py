"""What the routers share: the service dependency, path parameters, look-ups that answer 404/409, records as models.

Access hooks (:func:`caller_org`, :func:`visible`, :func:`may_see`, :func:`record_action`) are the one place routers
ask who is calling (:data:`api.auth.CALLER`, set by the routers' dependency): an admin sees every organisation's
records, any other caller only its own organisation's; another organisation's record is answered as unknown (404).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Path as PathParam, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gridplan.inputs.households import HouseholdRules

from . import audit
from . import models as m
from .auth import CALLER
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
logger = logging.getLogger(__name__)


def caller_org() -> str | None:
    """The organisation of the caller (None: an admin with accounts off, or no caller)."""
    caller = CALLER.get()
    return caller.org if caller else None


def visible(stmt, record):
    """``stmt`` (a select of ``record``, a record class with an ``org`` column) restricted to the records the caller
    may see: all for an admin, its organisation's for anyone else, none without a caller."""
    caller = CALLER.get()
    if caller is not None and caller.admin:
        return stmt
    if caller is not None and caller.plan_id is not None:
        return stmt.where(record.id == caller.plan_id) if record is PlanRecord else stmt.where(False)
    if caller is None or caller.org is None:
        return stmt.where(False)
    return stmt.where(record.org == caller.org)


def may_see(rec) -> bool:
    """Whether the caller may see ``rec`` (a DatasetRecord or PlanRecord)."""
    caller = CALLER.get()
    if caller is None:
        return False
    if caller.plan_id is not None:  # a public link: its plan only
        return isinstance(rec, PlanRecord) and rec.id == caller.plan_id
    return caller.admin or (caller.org is not None and rec.org == caller.org)


def record_action(action: str, target: str, detail: dict | None = None) -> None:
    """Write who (the caller) did ``action`` (one of :data:`api.audit.ACTIONS`) on ``target`` (an id) to the audit
    log, now."""
    caller = CALLER.get()
    if caller is None or caller.sessions is None:
        logger.error("audit: %s of %s by no known caller was not recorded", action, target)
        return
    audit.write(caller.sessions, org=caller.org, token_id=caller.token_id, role=caller.role, action=action,
                target=target, detail={**(detail or {}), **({"link_id": caller.link_id} if caller.link_id else {})})

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


def map_path(svc: Service, plan_id: str) -> Path:
    """The review map of a finished plan; 404/409 as :func:`finished_dir`, 404 when it was written without one."""
    path = finished_dir(svc, plan_id) / "map.html"
    if not path.is_file():
        raise NotFound(f"plan {plan_id!r} was written without a map", field="plan_id")
    return path


def building_lookup(svc: Service, plan_id: str, building_id: str) -> m.BuildingLookup:
    """The community, grid and micro-grid(s) of a building of a finished plan; 404 when it has no such building."""
    d = finished_dir(svc, plan_id)
    id_field = json.loads((d / "report.json").read_text(encoding="utf-8")).get("parameters", {}).get("id_field", "building_id")
    rows = svc.cache.roster(plan_id, d / "buildings.csv", id_field).rows.get(building_id)
    if not rows:
        raise NotFound(f"plan {plan_id!r} has no building {building_id!r}", field="building_id")
    hh = {lvl: svc.cache.layer(plan_id, d / f"{lvl}.geojson").households for lvl in CODE_LENGTH}

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
