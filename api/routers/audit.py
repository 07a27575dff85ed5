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
from ..errors import InvalidParameter
from ..openapi import error_responses, operation_id

#: an ISO 8601 date, or date and time with an optional offset
SINCE_PATTERN = (r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                 r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$")
router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id, dependencies=[Depends(require("admin"))])


@router.get("/audit", response_model=m.AuditLog, tags=["accounts"],
            responses=error_responses(422),
            summary="the audit log, newest first, filtered by organisation, action and time (admin)")
def get_audit(
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000, description="most entries answered")] = 100,
    org: Annotated[str | None, Query(max_length=64, description="only this organisation's callers")] = None,
    action: Annotated[audit.Action | None, Query(description="only this action")] = None,
    since: Annotated[str | None, Query(pattern=SINCE_PATTERN, max_length=40, description=(
        "only entries at or after this time: an ISO 8601 date or time, e.g. 2026-01-31 or 2026-01-31T08:00:00Z "
        "(UTC when it has no offset)"))] = None,
    before: Annotated[int | None, Query(ge=1, description="only entries older than this entry id (paging: see "
                                                          "`next`)")] = None,
) -> m.AuditLog:
    start = None
    if since is not None:
        try:
            start = _dt.datetime.fromisoformat(since)
        except ValueError:
            raise InvalidParameter(f"since was {since!r}, which is no date; expected e.g. 2026-01-31T08:00:00Z",
                                   field="since") from None
        start = start if start.tzinfo else start.replace(tzinfo=_dt.timezone.utc)
    rows = audit.read(svc.sessions, limit=limit, org=org, action=action, since=start, before=before)
    entries = [m.AuditEntry(id=r.id, at=r.at, org=r.org, token_id=r.token_id, role=r.role, action=r.action,
                            target=r.target, detail=r.detail) for r in rows]
    nxt = None
    if len(entries) == limit:
        query = {k: v for k, v in {"limit": limit, "org": org, "action": action,
                                   "since": since}.items() if v is not None}
        nxt = "/v1/audit?" + urlencode({**query, "before": entries[-1].id})
    return m.AuditLog(entries=entries, next=nxt)
