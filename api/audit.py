"""The audit log: who (organisation, token, role) did what (upload, plan, edit, export, delete, token and link
changes) to which object, when. Routers write it through :func:`api.common.record_action`; admins read it with
``GET /v1/audit``.

Examples
--------
>>> from api.db import create_schema, make_engine, session_factory
>>> engine = make_engine("sqlite://"); create_schema(engine); sessions = session_factory(engine)
>>> write(sessions, org="xuanwu", token_id="t1", role="planner", action="upload", target="d1")
>>> write(sessions, org="qinhuai", token_id="t2", role="planner", action="plan", target="p1", detail={"dataset_id": "d9"})
>>> [(e.action, e.target) for e in read(sessions, limit=10)]
[('plan', 'p1'), ('upload', 'd1')]
>>> [e.target for e in read(sessions, limit=10, org="xuanwu")]
['d1']
"""
from __future__ import annotations

import datetime as _dt
import logging
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .db import AuditRecord, utcnow

__all__ = ["ACTIONS", "Action", "write", "read"]

logger = logging.getLogger(__name__)

#: the actions the service records
Action = Literal["upload", "plan", "edit", "export", "delete", "create_token", "revoke_token", "create_link",
                 "revoke_link"]
ACTIONS: tuple[str, ...] = Action.__args__


def write(sessions: sessionmaker[Session], *, org: str | None, token_id: str | None, role: str, action: str,
          target: str, detail: dict[str, Any] | None = None) -> None:
    """Record one action (its own transaction, committed before this returns)."""
    with sessions() as s:
        s.add(AuditRecord(at=utcnow(), org=org, token_id=token_id, role=role, action=action, target=str(target)[:200],
                          detail=detail or None))
        s.commit()


def read(sessions: sessionmaker[Session], *, limit: int, org: str | None = None, action: str | None = None,
         since: _dt.datetime | None = None, before: int | None = None) -> list[AuditRecord]:
    """The newest ``limit`` entries (newest first) matching the filters; ``before``: only entries older than that id."""
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if org is not None:
        stmt = stmt.where(AuditRecord.org == org)
    if action is not None:
        stmt = stmt.where(AuditRecord.action == action)
    if since is not None:
        stmt = stmt.where(AuditRecord.at >= since)
    if before is not None:
        stmt = stmt.where(AuditRecord.id < before)
    with sessions() as s:
        return list(s.scalars(stmt))
