"""GET /healthz: liveness and queue figures."""
from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

import gridplan

from .. import limits
from .. import models as m
from ..common import Svc
from ..db import PlanRecord
from ..openapi import operation_id

router = APIRouter(generate_unique_id_function=operation_id)



@router.get("/healthz", response_model=m.Health, tags=["service"], summary="liveness and queue figures")
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
