"""Who is calling: organisations, bearer tokens with a role, and the caller of the request being served.

A token is ``secrets.token_urlsafe(32)`` (256 bits) prefixed ``gp_``; the database keeps only its SHA-256.
:func:`authenticate`, an **async** dependency that :mod:`api.app` adds to every /v1 and /ogc router, reads
``Authorization: Bearer TOKEN`` and sets :data:`CALLER` (and the organisation new records get,
:data:`api.db.CURRENT_ORG`). Sync endpoints run in a thread with a copy of the request's context, so they see
it; the access hooks of :mod:`api.common` read it. A role is allowed what the roles below it are:
``viewer`` reads (GET, HEAD), ``planner`` also writes in its organisation, ``admin`` does everything in every
organisation (routes for admins only add ``Depends(require("admin"))``).

Examples
--------
>>> from api.db import create_schema, make_engine, session_factory
>>> engine = make_engine("sqlite://"); create_schema(engine); sessions = session_factory(engine)
>>> rec, secret = issue_token(sessions, "玄武区", "planner", label="laptop")
>>> secret.startswith("gp_") and len(secret) > 40, rec.secret_sha256 == digest(secret)
(True, True)
>>> find_token(sessions, secret).org, find_token(sessions, "gp_wrong")
('玄武区', None)
>>> revoke_token(sessions, rec.id).revoked_at is not None, find_token(sessions, secret)
(True, None)
>>> allows("admin", "planner"), allows("viewer", "planner")
(True, False)
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .account_models import ORG_PATTERN
from .db import CURRENT_ORG, ROLES, OrgRecord, TokenRecord, utcnow
from .hosts import send_error
from .storage import new_id

__all__ = ["Caller", "CALLER", "ROLES", "digest", "new_secret", "issue_token", "find_token", "revoke_token",
           "list_tokens", "allows", "authenticate", "require", "set_caller", "check_org_name", "role_of_route",
           "LAST_USED_EVERY", "TokenBeforeBody"]

logger = logging.getLogger(__name__)

#: how often a token's ``last_used`` is written at most (a write per request would contend with the plans)
LAST_USED_EVERY = _dt.timedelta(minutes=5)
#: methods a viewer may use; any other needs a planner
READS = frozenset({"GET", "HEAD"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gridplan"'}


@dataclass(frozen=True)
class Caller:
    """The caller of a request: its organisation (None: of none, with accounts off), token, role; ``link`` when it
    came with a public link's key instead of a token."""

    org: str | None
    role: str
    token_id: str | None = None
    link_id: str | None = None
    plan_id: str | None = None  # a link's caller sees this plan only
    sessions: sessionmaker[Session] | None = field(default=None, compare=False, repr=False)

    @property
    def admin(self) -> bool:
        return self.role == "admin"


CALLER: ContextVar[Caller | None] = ContextVar("gridplan_caller", default=None)


def digest(secret: str) -> str:
    """The SHA-256 (hex) a secret is stored as."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A new token or link key: 256 random bits, URL-safe."""
    return "gp_" + secrets.token_urlsafe(32)


def allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may."""
    return ROLES.index(role) >= ROLES.index(needed)


def check_org_name(name: str) -> str:
    """``name`` when it is an organisation's name (:data:`~api.account_models.ORG_PATTERN`); else ValueError."""
    if not re.fullmatch(ORG_PATTERN, name):
        raise ValueError(f"organisation name {name!r}: expected 1 to 64 characters without control characters, "
                         "e.g. 'xuanwu-district'")
    return name


def issue_token(sessions: sessionmaker[Session], org: str, role: str, label: str | None = None) -> tuple[TokenRecord, str]:
    """A new token of ``org`` (created when new) with ``role``: its record and its secret (shown once)."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    org = check_org_name(org)
    secret = new_secret()
    rec = TokenRecord(id=new_id(), secret_sha256=digest(secret), org=org, role=role, label=label or None,
                      created_at=utcnow())
    with sessions() as s:
        if s.get(OrgRecord, org) is None:
            s.add(OrgRecord(name=org, created_at=utcnow()))
        s.add(rec)
        s.commit()
    return rec, secret


def find_token(sessions: sessionmaker[Session], secret: str) -> TokenRecord | None:
    """The live (not revoked) token whose secret is ``secret``; its ``last_used`` is brought up to date."""
    now = utcnow()
    with sessions() as s:
        rec = s.scalar(select(TokenRecord).where(TokenRecord.secret_sha256 == digest(secret)))
        if rec is None or rec.revoked_at is not None:
            return None
        if rec.last_used is None or now - rec.last_used > LAST_USED_EVERY:
            try:
                s.execute(update(TokenRecord).where(TokenRecord.id == rec.id).values(last_used=now))
                s.commit()
            except Exception:  # a busy database: the request goes on, last_used is written next time
                logger.debug("last_used of token %s not written", rec.id, exc_info=True)
                s.rollback()
        return rec


def revoke_token(sessions: sessionmaker[Session], token_id: str) -> TokenRecord | None:
    """Revoke token ``token_id`` (from now on it is refused); None when there is no such token."""
    with sessions() as s:
        rec = s.get(TokenRecord, token_id)
        if rec is not None and rec.revoked_at is None:
            rec.revoked_at = utcnow()
            s.commit()
        return rec


def list_tokens(sessions: sessionmaker[Session], org: str | None = None) -> list[TokenRecord]:
    """Every token (of ``org`` when given), oldest first; their secrets are not kept, so not listed."""
    with sessions() as s:
        stmt = select(TokenRecord).order_by(TokenRecord.created_at, TokenRecord.id)
        if org is not None:
            stmt = stmt.where(TokenRecord.org == org)
        return list(s.scalars(stmt))


def set_caller(caller: Caller) -> None:
    """Make ``caller`` the caller of the current request (and its organisation that of the records it creates)."""
    CALLER.set(caller)
    CURRENT_ORG.set(caller.org)


def _bearer(request: Request) -> str:
    value = request.headers.get("authorization", "")
    scheme, _, secret = value.partition(" ")
    if not value:
        raise HTTPException(401, "this request needs a token: send the header `Authorization: Bearer TOKEN` (an "
                                 "administrator creates tokens with `gridplan token create`)", headers=CHALLENGE)
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(401, "the Authorization header must be `Bearer TOKEN`", headers=CHALLENGE)
    return secret.strip()


async def _live_token(request: Request) -> TokenRecord:
    """The live token of the request's Authorization header; 401 when there is none."""
    secret = _bearer(request)
    if len(secret) > 200:
        raise HTTPException(401, "the token is not valid (it is too long to be one)", headers=CHALLENGE)
    rec = await run_in_threadpool(find_token, request.app.state.service.sessions, secret)
    if rec is None:
        raise HTTPException(401, "the token is not valid: unknown or revoked; ask an administrator for a new one",
                            headers=CHALLENGE)
    return rec


async def authenticate(request: Request) -> None:
    """The router dependency of every authenticated route: 401 without a live token, 403 when its role cannot use
    this method (viewers read, planners also write); sets :data:`CALLER`."""
    svc = request.app.state.service
    if svc.settings.auth == "off":
        caller = Caller(org=None, role="admin", sessions=svc.sessions)
    else:
        rec = request.scope.get("state", {}).get(_CHECKED) or await _live_token(request)
        caller = Caller(org=rec.org, role=rec.role, token_id=rec.id, sessions=svc.sessions)
    needed = "viewer" if request.method in READS else "planner"
    if not allows(caller.role, needed):
        raise HTTPException(403, f"a {caller.role} token can only read (GET); {request.method} needs a {needed} "
                                 "or admin token")
    set_caller(caller)


_CHECKED = "gridplan_token"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class TokenBeforeBody:
    """ASGI middleware: a request with a body to ``/v1`` or ``/ogc`` (outside ``/v1/public/``) is refused with 401
    before its body is read when its token is not live (FastAPI reads a form before any dependency runs, so an
    upload without a token would otherwise be received whole); :func:`authenticate` reuses the token found."""

    def __init__(self, app: ASGIApp, *, open_prefixes: tuple[str, ...] = ("/v1/public/",)):
        self.app = app
        self.open = open_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] in _WITH_BODY and scope["path"].startswith(("/v1/", "/ogc"))
                and not scope["path"].startswith(self.open) and scope["app"].state.service.settings.auth == "on"):
            try:
                rec = await _live_token(Request(scope))
            except HTTPException as exc:
                return await send_error(send, exc.status_code, exc.detail, headers=exc.headers)
            scope.setdefault("state", {})[_CHECKED] = rec
        await self.app(scope, receive, send)


def require(role: str):
    """A route dependency: 403 unless the caller's role allows ``role`` (after :func:`authenticate`)."""

    async def required_role() -> None:
        caller = CALLER.get()
        if caller is None or not allows(caller.role, role):
            have = caller.role if caller else "no"
            raise HTTPException(403, f"only an {role} token may do this; this request came with a {have} token")

    required_role.role = role  # type: ignore[attr-defined]  # read by role_of_route
    return required_role


def role_of_route(route: Any, method: str) -> str:
    """The role an authenticated route needs for ``method``: a role its dependencies require (:func:`require`), else
    viewer for reads and planner for the other methods."""
    declared = [d.dependency.role for d in getattr(route, "dependencies", ()) if hasattr(d.dependency, "role")]
    if declared:
        return max(declared, key=ROLES.index)
    return "viewer" if method.upper() in READS else "planner"
