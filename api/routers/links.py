"""Public read-only links to one plan (以房找人 at the door): an admin creates, lists and revokes them; with a
link's key, anyone may look up a building of that plan and open its map, without a token (a phone that scans a
door code cannot send one). Keys are stored hashed; an unknown or revoked key, or a deleted plan, is 404."""
from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Path as PathParam, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from .. import models as m
from ..auth import Caller, digest, new_secret, require, set_caller
from ..common import PlanId, Svc, building_lookup, get_plan_record, map_path, record_action
from ..db import LinkRecord, utcnow
from ..errors import NotFound
from ..openapi import error_responses, operation_id
from ..storage import new_id

__all__ = ["router", "public", "prefers_html"]

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id, dependencies=[Depends(require("admin"))])
LinkId = Annotated[str, PathParam(description="a link id (from GET /v1/links)", max_length=64)]
Key = Annotated[str, PathParam(description="the key of a public link", max_length=100)]
BuildingId = Annotated[str, PathParam(description="the building's id", max_length=200)]
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "private, max-age=60"}


def link_out(rec: LinkRecord, model: type[m.Link] = m.Link, **extra) -> m.Link:
    return model(id=rec.id, plan_id=rec.plan_id, org=rec.org, label=rec.label, created_at=rec.created_at,
                 revoked_at=rec.revoked_at, **extra)


@router.post("/plans/{plan_id}/links", status_code=201, response_model=m.LinkCreated, tags=["links"],
             responses=error_responses(404), summary="create a public read-only link to a plan's look-ups and map (admin)")
def create_link(svc: Svc, plan_id: PlanId, request: m.LinkRequest | None = None) -> m.LinkCreated:
    key = new_secret()
    with svc.sessions() as s:
        plan = get_plan_record(s, plan_id)
        rec = LinkRecord(id=new_id(), key_sha256=digest(key), plan_id=plan.id, org=plan.org,
                         label=request.label if request else None, created_at=utcnow())
        s.add(rec)
        s.commit()
    record_action("create_link", rec.id, {"plan_id": plan_id})
    base = f"/v1/public/{key}"
    return link_out(rec, m.LinkCreated, key=key,
                    links={"building": base + "/buildings/{building_id}", "map": base + "/map.html"})


@router.get("/plans/{plan_id}/links", response_model=m.LinkList, tags=["links"], responses=error_responses(404),
            summary="the public links of a plan, newest first (admin)")
def get_plan_links(svc: Svc, plan_id: PlanId) -> m.LinkList:
    with svc.sessions() as s:
        get_plan_record(s, plan_id)
        return _links(s, LinkRecord.plan_id == plan_id)


def _links(s, *where) -> m.LinkList:
    rows = s.scalars(select(LinkRecord).where(*where).order_by(LinkRecord.created_at.desc(), LinkRecord.id))
    return m.LinkList(links=[link_out(r) for r in rows])


@router.get("/links", response_model=m.LinkList, tags=["links"], summary="every public link, newest first (admin)")
def get_links(svc: Svc) -> m.LinkList:
    with svc.sessions() as s:
        return _links(s)


@router.delete("/links/{link_id}", status_code=204, tags=["links"], responses=error_responses(404),
               summary="revoke a public link: its URLs answer 404 from now on (admin)")
def delete_link(svc: Svc, link_id: LinkId) -> Response:
    with svc.sessions() as s:
        rec = s.get(LinkRecord, link_id)
        if rec is None:
            raise NotFound(f"no link {link_id!r}; GET /v1/links lists them", field="link_id")
        if rec.revoked_at is None:
            rec.revoked_at = utcnow()
            s.commit()
    record_action("revoke_link", link_id, {"plan_id": rec.plan_id})
    return Response(status_code=204)


# ---- the public routes: no token, the link's key -----------------------------------------------------------


def _live_link(svc, key: str) -> LinkRecord | None:
    with svc.sessions() as s:
        return s.scalar(select(LinkRecord).where(LinkRecord.key_sha256 == digest(key), LinkRecord.revoked_at.is_(None)))


async def link_caller(request: Request, key: Key) -> str:
    """The dependency of the public routes: the plan id of a live link, its caller set (it sees that plan only)."""
    svc = request.app.state.service
    rec = await run_in_threadpool(_live_link, svc, key)
    if rec is None:
        raise NotFound("no such link: it is unknown, was revoked, or its plan was deleted; ask the plan's "
                       "administrator for a new one", field="key")
    set_caller(Caller(org=rec.org, role="viewer", link_id=rec.id, plan_id=rec.plan_id, sessions=svc.sessions))
    return rec.plan_id


LinkedPlan = Annotated[str, Depends(link_caller)]
public = APIRouter(prefix="/v1/public", generate_unique_id_function=operation_id, tags=["links"])


def prefers_html(accept: str) -> bool:
    """Whether an Accept header ranks text/html above JSON (a browser's does; ``*/*`` does not).

    >>> prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), prefers_html("*/*")
    (True, False)
    >>> prefers_html("application/json, text/html;q=0.5"), prefers_html("")
    (False, False)
    """
    q = {}
    for part in accept.split(","):
        kind, _, params = part.strip().partition(";")
        weight = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        q[kind.strip().lower()] = weight
    def rank(t: str) -> float:
        return q.get(t, q.get(t.split("/")[0] + "/*", q.get("*/*", 0.0)))
    return rank("text/html") > rank("application/json")


def building_page(b: m.BuildingLookup) -> str:
    """A small page for a phone: the building's community, grid and micro-grid(s) (every value escaped)."""
    e = html.escape
    micro = "".join(f"<li>{e(u.code)}</li>" for u in b.micro_grids)
    return (
        "<!doctype html><html lang=zh><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>楼栋 {e(b.building_id)}</title><style>body{{font:16px sans-serif;margin:1em}}"
        "dt{color:#555}dd{margin:0 0 .6em;font-size:1.2em}</style></head><body>"
        f"<h1>楼栋 {e(b.building_id)}</h1><dl>"
        f"<dt>户数 households</dt><dd>{b.households}</dd>"
        f"<dt>社区 community</dt><dd>{e(b.community.code)}</dd>"
        f"<dt>网格 grid</dt><dd>{e(b.grid.code)}</dd>"
        f"<dt>微网格 micro-grid</dt><dd><ul>{micro}</ul></dd></dl></body></html>"
    )


@public.get("/{key}/buildings/{building_id:path}", response_model=m.BuildingLookup, responses={
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "the look-up; a small HTML page when the request prefers text/html (a phone's browser)"},
    **error_responses(404, 409)}, summary="a building's look-up through a public link (no token)")
def get_public_building(svc: Svc, plan_id: LinkedPlan, building_id: BuildingId, request: Request) -> m.BuildingLookup:
    found = building_lookup(svc, plan_id, building_id)
    if prefers_html(request.headers.get("accept", "")):
        return HTMLResponse(building_page(found), headers={
            **PRIVATE, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})
    return Response(found.model_dump_json(), media_type="application/json", headers=PRIVATE)


@public.get("/{key}/map.html", response_class=FileResponse, responses={
    200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "the review map"},
    **error_responses(404, 409)}, summary="a plan's HTML map through a public link (no token)")
def get_public_map(svc: Svc, plan_id: LinkedPlan) -> FileResponse:
    return FileResponse(map_path(svc, plan_id), media_type="text/html; charset=utf-8", headers=PRIVATE)
