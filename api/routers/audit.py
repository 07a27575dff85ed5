"""GET /v1/audit (admins only): who did what to which object, when, newest first."""
from __future__ import annotations

import datetime as _dt
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query

from .. import audit
from .. import models as m
from ..auth import require
from ..common import Svc
from ..openapi import operation_id

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id, dependencies=[Depends(require("admin"))])


@router.get("/audit", response_model=m.AuditLog, tags=["accounts"],
            summary="the audit log, newest first, filtered by organisation, action and time (admin)")
def get_audit(
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000, description="most entries answered")] = 100,
    org: Annotated[str | None, Query(max_length=64, description="only this organisation's callers")] = None,
    action: Annotated[audit.Action | None, Query(description="only this action")] = None,
    since: Annotated[_dt.datetime | None, Query(description="only entries at or after this time (ISO 8601, e.g. "
                                                            "2026-01-31T00:00:00Z)")] = None,
    before: Annotated[int | None, Query(ge=1, description="only entries older than this entry id (paging: see "
                                                          "`next`)")] = None,
) -> m.AuditLog:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=_dt.timezone.utc)
    rows = audit.read(svc.sessions, limit=limit, org=org, action=action, since=since, before=before)
    entries = [m.AuditEntry(id=r.id, at=r.at, org=r.org, token_id=r.token_id, role=r.role, action=r.action,
                            target=r.target, detail=r.detail) for r in rows]
    nxt = None
    if len(entries) == limit:
        query = {k: v for k, v in {"limit": limit, "org": org, "action": action,
                                   "since": since.isoformat() if since else None}.items() if v is not None}
        nxt = "/v1/audit?" + urlencode({**query, "before": entries[-1].id})
    return m.AuditLog(entries=entries, next=nxt)
