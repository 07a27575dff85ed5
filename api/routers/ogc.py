"""OGC API – Features at ``/ogc``: every finished plan's communities, grids and micro-grids as collections.

Part 1 Core (GeoJSON) and Part 2 CRS by reference, so that QGIS, ArcGIS Pro and GDAL (``OAPIF:http://…/ogc``) add
a plan's grids as a layer. A collection is one layer of one **done** plan the caller may see, named
``{plan_id}-{layer}`` (``…-communities``, ``…-grids``, ``…-micro_grids``); a feature's id is its unit code.

Items page by ``offset`` and ``limit`` (default 10; above :data:`MAX_LIMIT` the maximum is used, as the standard
asks) with absolute ``next``/``prev`` links, and filter by ``bbox`` (in ``bbox-crs``). ``crs`` chooses the CRS of
the coordinates: CRS84 (lon/lat, the default and the storage CRS), EPSG:4490 (CGCS2000) or EPSG:4326, the last
two in their own axis order, latitude first; the ``Content-Crs`` header names it. ``datetime`` keeps the units in
force at an instant or within an interval (a unit is in force from its ``start_date`` on). The plan files are WGS 84,
and CGCS2000 differs from it by millimetres, so EPSG:4490 is the same numbers with the axes swapped.

Bad parameters, and query parameters the operation does not define, answer 400 with the standard's exception
(``code``, ``description``) that is also the service's ErrorBody (``detail``, ``errors``); an unknown collection
or feature answers 404 in the same shape.

>>> _swap({"type": "Polygon", "coordinates": [[[118.0, 32.0], [118.1, 32.0], [118.1, 32.1], [118.0, 32.0]]]})
{'type': 'Polygon', 'coordinates': [[[32.0, 118.0], [32.0, 118.1], [32.1, 118.1], [32.0, 118.0]]]}
>>> _bbox("32.0,118.0,32.1,118.2", EPSG_4490)
(118.0, 32.0, 118.2, 32.1)
>>> _crs("EPSG:4490", "crs") == EPSG_4490
True
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path as PathParam, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
import numpy as np
import shapely
from sqlalchemy import select

from .. import ogc_models as o
from ..common import CODE_LENGTH, GEOJSON, GeoJSONResponse, Svc, finished_dir, visible
from ..db import PlanRecord
from ..errors import Conflict, NotFound, ServiceError
from ..openapi import ERROR_TEXT, operation_id

__all__ = ["router", "OgcError", "CRS84", "EPSG_4490", "EPSG_4326", "MAX_LIMIT", "CONFORMANCE"]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
#: the CRSs of ``crs`` and ``bbox-crs``; True: latitude first (the CRS's own axis order)
CRSS = {CRS84: False, EPSG_4490: True, EPSG_4326: True}
#: shorter spellings clients send, and the URI each stands for
_CRS_ALIASES = {"OGC:CRS84": CRS84, "[OGC:CRS84]": CRS84, "CRS84": CRS84, "EPSG:4490": EPSG_4490,
                "[EPSG:4490]": EPSG_4490, "EPSG:4326": EPSG_4326, "[EPSG:4326]": EPSG_4326}
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)
LAYERS = tuple(CODE_LENGTH)  # communities, grids, micro_grids
TITLES = {"communities": "社区 communities", "grids": "网格 grids", "micro_grids": "微网格 micro-grids"}
JSON = "application/json"


class OgcError(ServiceError):
    """An error answered as the standard's exception: ``status``, an OGC ``code`` and the sentence."""

    def __init__(self, status: int, code: str, detail: str, *, field: str | None = None):
        super().__init__(detail, field=field)
        self.status, self.code = status, code


def _exception(exc: OgcError) -> JSONResponse:
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
    body = {"code": exc.code, "description": exc.detail, "detail": exc.detail, "errors": errors}
    return JSONResponse(status_code=exc.status, content=body)


def _bad(field: str, detail: str) -> OgcError:
    return OgcError(400, "InvalidParameterValue", detail, field=field)


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters of an operation, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class OgcRoute(APIRoute):
    """A route that answers as the standard asks: 400 for a value that fails its schema (FastAPI would answer 422),
    and every :class:`OgcError` (its own, and those of :func:`defined_parameters_only`) as the standard's exception."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path")]
                field = ".".join(loc) or "request"
                sent = f" was {first['input']!r}" if isinstance(first.get("input"), (str, int)) else ""
                return _exception(_bad(field, f"{field}{sent}: {first.get('msg', 'invalid value')}"))
            except OgcError as exc:
                return _exception(exc)

        return route


def defined_parameters_only(request: Request) -> None:
    """400 for a query parameter the operation does not define (the standard's /req/core/query-param-unknown).

    A dependency of the router, so that the dependencies the app adds when it includes it (authentication) come
    first: a caller without a token learns nothing from the parameters it sends."""
    route = request.scope.get("route")
    allowed = _query_names(route.dependant) if isinstance(route, APIRoute) else set()
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise _bad(unknown[0], f"{request.url.path} has no parameter {unknown[0]!r}; it takes "
                               f"{', '.join(sorted(allowed)) or 'none'}")


router = APIRouter(prefix="/ogc", tags=["ogc"], route_class=OgcRoute, generate_unique_id_function=operation_id,
                   dependencies=[Depends(defined_parameters_only)])


def _errors(*codes: int, explicit: bool = False) -> dict[int, dict[str, Any]]:
    """The documented errors, each the standard's exception as JSON; ``explicit`` spells the content out, for
    routes whose own media type is GeoJSON (the model is documented through the JSON routes)."""
    def text(c: int) -> str:
        return ERROR_TEXT[c] if c != 400 else "a bad parameter, or one the operation does not define"

    if explicit:
        ref = {"$ref": "#/components/schemas/OgcException"}
        return {c: {"description": text(c), "content": {JSON: {"schema": ref}}} for c in codes}
    return {c: {"model": o.OgcException, "description": text(c)} for c in codes}


F = Annotated[str | None, Query(description="the format: json (the only one)", pattern="^json$")]
CollectionId = Annotated[str, PathParam(description="'{plan_id}-{layer}': layer communities, grids or micro_grids",
                                        max_length=100)]
_CRS_DOC = "{}: CRS84 (lon/lat, default), EPSG:4490 (CGCS2000) or EPSG:4326, as URIs " + ", ".join(CRSS)


def _links(base: str, path: str, rel_types: list[tuple[str, str, str, str]]) -> list[o.Link]:
    return [o.Link(href=f"{base}{path}{p}", rel=rel, type=t, title=title) for p, rel, t, title in rel_types]


def _base(request: Request) -> str:
    """The service's absolute URL (what links start with: GDAL and QGIS follow absolute links)."""
    return str(request.base_url).rstrip("/")


@router.get("", response_model=o.LandingPage, responses=_errors(400), summary="the OGC API – Features landing page")
def ogc_landing_page(request: Request, f: F = None) -> o.LandingPage:
    base = _base(request)
    return o.LandingPage(
        title="gridplan OGC API – Features",
        description="the communities, grids and micro-grids of every finished plan you may see, one collection per "
                    "layer of a plan ('{plan_id}-grids'); GeoJSON in CRS84, EPSG:4490 or EPSG:4326",
        links=_links(base, "/ogc", [
            ("", "self", JSON, "this document"),
            ("/api", "service-desc", JSON, "the API definition (OpenAPI 3.1, JSON)"),
            ("/conformance", "conformance", JSON, "the conformance classes implemented"),
            ("/collections", "data", JSON, "the collections: one per layer of each finished plan"),
        ]) + [o.Link(href=f"{base}/docs", rel="service-doc", type="text/html", title="the API documentation")],
    )


@router.get("/conformance", response_model=o.Conformance, responses=_errors(400),
            summary="the conformance classes implemented (Part 1 Core, GeoJSON; Part 2 CRS)")
def ogc_conformance(f: F = None) -> o.Conformance:
    return o.Conformance(conformsTo=list(CONFORMANCE))


@router.get("/api", responses={200: {"content": {JSON: {"schema": {"type": "object"}}},
                                     "description": "the OpenAPI document"}, **_errors(400)},
            summary="the API definition (the service's OpenAPI document)")
def ogc_api(request: Request, f: F = None) -> JSONResponse:
    return JSONResponse(request.app.openapi())


def _collection_out(base: str, plan_id: str, layer: str, bbox: list[float] | None) -> o.Collection:
    cid = f"{plan_id}-{layer}"
    path = f"/ogc/collections/{cid}"
    return o.Collection(
        id=cid, title=f"plan {plan_id}: {TITLES[layer]}",
        description=f"the {layer.replace('_', '-')} of plan {plan_id}; feature ids are their "
                    f"{CODE_LENGTH[layer]}-digit codes",
        links=_links(base, path, [("", "self", JSON, "this collection"),
                                  ("/items", "items", GEOJSON, "its units as GeoJSON")]),
        extent=o.Extent(spatial=o.SpatialExtent(bbox=[bbox], crs=CRS84)) if bbox else None,
        crs=list(CRSS), storageCrs=CRS84,
    )


def _extent(svc, plan_id: str) -> list[float] | None:
    """The plan's extent, lon/lat: its communities' (the grids and micro-grids tile them)."""
    d = svc.layout.plan_dir(plan_id)
    path = d / "communities.geojson"
    if not (d / "report.json").is_file() or not path.is_file():
        return None
    box = shapely.total_bounds(svc.cache.layer(plan_id, path).geoms)  # the kept geometries: nothing decoded again
    return None if np.isnan(box).any() else [float(v) for v in box]


@router.get("/collections", response_model=o.Collections, responses=_errors(400),
            summary="the collections: communities, grids and micro-grids of every finished plan you may see")
def ogc_collections(svc: Svc, request: Request, f: F = None) -> o.Collections:
    base = _base(request)
    with svc.sessions() as s:
        stmt = visible(select(PlanRecord.id).where(PlanRecord.status == "done"), PlanRecord)
        ids = list(s.scalars(stmt.order_by(PlanRecord.created_at.desc(), PlanRecord.id)))
    out = []
    for plan_id in ids:
        bbox = _extent(svc, plan_id)
        if bbox is not None:  # a plan whose results are gone from disk has no collections
            out.extend(_collection_out(base, plan_id, layer, bbox) for layer in LAYERS)
    return o.Collections(links=_links(base, "/ogc/collections", [("", "self", JSON, "this document")]),
                         collections=out)


def _plan_layer(svc, collection_id: str):
    """(plan id, layer, the layer's file) of a collection id; 404 when it names no layer of a finished plan."""
    plan_id, _, layer = collection_id.rpartition("-")
    if layer not in LAYERS or not plan_id:
        raise OgcError(404, "NotFound", f"no collection {collection_id!r}; a collection id is '{{plan_id}}-{{layer}}' "
                                        f"with layer {', '.join(LAYERS)} (GET /ogc/collections lists them)",
                       field="collectionId")
    try:
        d = finished_dir(svc, plan_id)
    except (NotFound, Conflict) as exc:
        raise OgcError(404, "NotFound", f"no collection {collection_id!r}: {exc.detail}", field="collectionId") from None
    return plan_id, layer, d / f"{layer}.geojson"


@router.get("/collections/{collectionId}", response_model=o.Collection, responses=_errors(400, 404),
            summary="one collection: a layer of a finished plan")
def ogc_collection(svc: Svc, request: Request, collectionId: CollectionId, f: F = None) -> o.Collection:  # noqa: N803
    plan_id, layer, _ = _plan_layer(svc, collectionId)
    return _collection_out(_base(request), plan_id, layer, _extent(svc, plan_id))


def _crs(value: str | None, field: str) -> str:
    if value is None:
        return CRS84
    uri = _CRS_ALIASES.get(value.strip(), value.strip())
    if uri not in CRSS:
        raise _bad(field, f"{field} was {value!r}; send one of {', '.join(CRSS)}")
    return uri


def _bbox(text: str, crs: str) -> tuple[float, float, float, float]:
    """``bbox`` in ``crs``'s axis order (4 numbers, or 6 with heights, which are ignored) → W, S, E, N."""
    try:
        nums = [float(p) for p in text.split(",")]
    except ValueError:
        nums = []
    if len(nums) == 6:
        nums = nums[0:2] + nums[3:5]
    order = "S,W,N,E (latitude first, as bbox-crs has it)" if CRSS[crs] else "W,S,E,N (longitude first)"
    if len(nums) != 4 or not all(math.isfinite(n) for n in nums):
        raise _bad("bbox", f"bbox was {text!r}; send four numbers {order}, e.g. "
                           + ("32.03,118.77,32.05,118.80" if CRSS[crs] else "118.77,32.03,118.80,32.05"))
    w, s, e, n = (nums[1], nums[0], nums[3], nums[2]) if CRSS[crs] else nums
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise _bad("bbox", f"bbox was {text!r}; expected {order} with W <= E within -180..180 and S <= N within "
                           "-90..90")
    return w, s, e, n


def _until(text: str) -> _dt.date | None:
    """The last day ``datetime`` reaches (an instant, or an interval's end; None: open-ended). A unit lasts from its
    ``start_date`` on, with no end, so it meets the parameter when it starts on or before that day.

    >>> _until("2026-03-01"), _until("2025-01-01T08:00:00Z/2026-02-01"), _until("2026-01-01/..")
    (datetime.date(2026, 3, 1), datetime.date(2026, 2, 1), None)
    """
    parts = text.split("/")
    if len(parts) > 2 or not text.strip() or parts == ["", ""]:
        parts = ["?"]
    try:
        days = [None if p in ("", "..") else _dt.datetime.fromisoformat(p).date() if "T" in p.upper()
                else _dt.date.fromisoformat(p) for p in parts]
    except ValueError:
        raise _bad("datetime", f"datetime was {text!r}; send a date or date-time (RFC 3339, e.g. 2026-01-01 or "
                               "2026-01-01T00:00:00Z), or an interval start/end with '..' for an open end") from None
    if len(days) == 2 and None not in days and days[0] > days[1]:
        raise _bad("datetime", f"datetime was {text!r}; the interval ends before it starts")
    return days[-1]


def _starts_by(feat: dict, day: _dt.date) -> bool:
    start = (feat.get("properties") or {}).get("start_date")
    try:
        return _dt.date.fromisoformat(str(start)[:10]) <= day
    except ValueError:  # no start date: not known to be in force
        return False


def _swap(geometry: dict) -> dict:
    """A copy of a Polygon or MultiPolygon with every position's first two axes swapped (lon/lat → lat/lon)."""
    def flip(c):
        return [c[1], c[0], *c[2:]] if c and not isinstance(c[0], list) else [flip(x) for x in c]

    return {"type": geometry["type"], "coordinates": flip(geometry["coordinates"])}


def _feature(feat: dict, crs: str, links: list[o.Link] | None = None) -> dict:
    props = feat.get("properties") or {}
    geom = feat.get("geometry")
    out = {"type": "Feature", "id": str(props.get("code")), "geometry": _swap(geom) if geom and CRSS[crs] else geom,
           "properties": props}
    if links:
        out["links"] = [link.model_dump(exclude_none=True) for link in links]
    return out


def _geojson(content: dict, crs: str) -> GeoJSONResponse:
    return GeoJSONResponse(content, headers={"Content-Crs": f"<{crs}>"})


_CRS_HEADER = {"Content-Crs": {"description": "the CRS of the coordinates, as <URI>", "schema": {"type": "string"}}}
Crs = Annotated[str | None, Query(description=_CRS_DOC.format("the CRS of the coordinates answered"), max_length=200)]


@router.get("/collections/{collectionId}/items", response_class=GeoJSONResponse, response_model=None,
            responses={200: {"model": o.OgcFeatureCollection, "headers": _CRS_HEADER,
                             "content": {GEOJSON: {}}, "description": "a page of the units, as GeoJSON"},
                       **_errors(400, 404, explicit=True)},
            summary="the units of a collection, a page at a time (offset, limit), optionally within bbox")
def ogc_items(
    svc: Svc, request: Request, collectionId: CollectionId,  # noqa: N803
    limit: Annotated[int, Query(ge=1, description=f"units per page, default {DEFAULT_LIMIT}; above {MAX_LIMIT:,} "
                                                  f"the page holds {MAX_LIMIT:,}")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="units to skip (what the `next` link sets)")] = 0,
    bbox: Annotated[str | None, Query(description="the units that intersect this box: minx,miny,maxx,maxy in "
                                                  "bbox-crs's axis order (W,S,E,N for CRS84; S,W,N,E for EPSG:4490 "
                                                  "and EPSG:4326); 6 numbers with heights are accepted",
                                      max_length=200)] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description=_CRS_DOC.format("the CRS of bbox"),
                                          max_length=200)] = None,
    datetime: Annotated[str | None, Query(description="the units in force at an instant or within an interval "
                                                      "(RFC 3339: 2026-01-01, 2026-01-01T00:00:00Z, start/end, "
                                                      "../end, start/..): a unit is in force from its start_date on",
                                          max_length=100)] = None,
    crs: Crs = None, f: F = None,
) -> GeoJSONResponse:
    out_crs, box_crs = _crs(crs, "crs"), _crs(bbox_crs, "bbox-crs")
    if bbox_crs is not None and bbox is None:
        raise _bad("bbox-crs", "bbox-crs was given without bbox; send bbox too, or leave bbox-crs out")
    box = _bbox(bbox, box_crs) if bbox is not None else None
    plan_id, layer, path = _plan_layer(svc, collectionId)
    until = _until(datetime) if datetime is not None else None
    limit = min(limit, MAX_LIMIT)
    units = svc.cache.layer(plan_id, path)
    if until is None:  # the page alone is decoded (the layer's spatial index finds it)
        number_matched, page = units.count(bbox=box), units.select(bbox=box, offset=offset, limit=limit)
    else:
        matched = [ft for ft in units.select(bbox=box) if _starts_by(ft, until)]
        number_matched, page = len(matched), matched[offset:offset + limit]
    url = request.url

    def link(rel: str, at: int | None = None) -> o.Link:
        href = url if at is None else url.include_query_params(offset=at, limit=limit)
        return o.Link(href=str(href), rel=rel, type=GEOJSON, title={"self": "this page", "next": "the next page",
                                                                     "prev": "the previous page"}[rel])

    links = [link("self")]
    if offset + len(page) < number_matched:
        links.append(link("next", offset + len(page)))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    links.append(o.Link(href=f"{_base(request)}/ogc/collections/{collectionId}", rel="collection", type=JSON,
                        title="the collection"))
    return _geojson({
        "type": "FeatureCollection", "features": [_feature(ft, out_crs) for ft in page],
        "links": [x.model_dump(exclude_none=True) for x in links],
        "timeStamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "numberMatched": number_matched, "numberReturned": len(page),
    }, out_crs)


@router.get("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse, response_model=None,
            responses={200: {"model": o.OgcFeature, "headers": _CRS_HEADER, "content": {GEOJSON: {}},
                             "description": "the unit, as a GeoJSON feature"}, **_errors(400, 404, explicit=True)},
            summary="one unit of a collection, by its code")
def ogc_item(svc: Svc, request: Request, collectionId: CollectionId,  # noqa: N803
         featureId: Annotated[str, PathParam(description="the unit's code: 12 digits for a community, 15 for a grid, "  # noqa: N803
                                                         "18 for a micro-grid", max_length=100)],
         crs: Crs = None, f: F = None) -> GeoJSONResponse:
    out_crs = _crs(crs, "crs")
    plan_id, layer, path = _plan_layer(svc, collectionId)
    found = svc.cache.layer(plan_id, path).select(code=featureId)
    if not found:
        n = CODE_LENGTH[layer]
        why = "" if len(featureId) == n and featureId.isdigit() else f" (a code of this layer has {n} digits)"
        raise OgcError(404, "NotFound", f"collection {collectionId!r} has no feature {featureId!r}{why}",
                       field="featureId")
    base = f"{_base(request)}/ogc/collections/{collectionId}"
    links = [o.Link(href=str(request.url), rel="self", type=GEOJSON, title="this unit"),
             o.Link(href=base, rel="collection", type=JSON, title="the collection")]
    return _geojson(_feature(found[0], out_crs, links), out_crs)
