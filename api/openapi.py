"""The OpenAPI document of the service: every status a route can give, with its body, and the links between them.

Routes list their own error statuses with :func:`error_responses` and the operations their answer leads to
with :func:`links`. What the app-wide layers answer is added here once for every operation, by
:func:`install`: a 422 :class:`~api.models.ErrorBody` wherever FastAPI validates parameters (instead of
FastAPI's ``HTTPValidationError``, which no response has), a 400 (a body that cannot be parsed) and a
413 (the upload limit) wherever a route takes a body, and everywhere the generic 500. It also adds the
documentation pages (:mod:`api.docs_ui`: Swagger UI and ReDoc served by the service, no CDN).

Examples
--------
>>> error_responses(404)[404]["description"]
'unknown id'
>>> links("get_plan", plan_id="$response.body#/id")["get_plan"]
{'operationId': 'get_plan', 'parameters': {'plan_id': '$response.body#/id'}}
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from . import docs_ui
from . import models as m

__all__ = ["ERROR_TEXT", "UPLOAD_TYPES", "ID_IN_BODY", "RESULTS", "operation_id", "error_responses", "links",
           "upload_encoding", "install", "complete", "header"]

ERROR_TEXT = {
    400: "the body cannot be parsed (malformed JSON or multipart)",
    401: "no token, or not a valid one: send `Authorization: Bearer TOKEN`",
    403: "the token's role does not allow this (viewer: reads; planner: also writes; admin: everything)",
    404: "unknown id",
    409: "not in a state that allows this (e.g. still running)",
    413: "the request is larger than the upload limit (GRIDPLAN_MAX_UPLOAD_BYTES)",
    415: "file type not recognised",
    422: "bad parameters or data; `errors` names the fields",
    429: "too many uploads being read, or plans queued, at once; retry after `Retry-After` seconds",
    507: "the service's disk is full or below GRIDPLAN_MIN_FREE_BYTES; nothing was kept",
    500: "internal error; the body quotes a reference to the details in the service log",
}
#: what an uploaded file may be; the service tells the format from the content, never from this
UPLOAD_TYPES = ", ".join((
    "application/geo+json", "application/geopackage+sqlite3", "application/zip", "application/flatgeobuf",
    "application/vnd.openstreetmap.data+xml", "application/vnd.openstreetmap.data+pbf", "application/x-bzip2",
    "application/octet-stream",
))
#: where a dataset's or a plan's id is in its answer
ID_IN_BODY = "$response.body#/id"
#: what a plan id leads to
RESULTS = ("get_plan", "delete_plan", "get_level", "get_map", "export_plan", "get_changes", "get_building")
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def operation_id(route: APIRoute) -> str:
    """An operation's id is its function's name (``get_plan``): what the links refer to."""
    return route.name


def upload_encoding(roles: tuple[str, ...]) -> dict[str, Any]:
    """The ``openapi_extra`` of an upload route: each file part may be any of :data:`UPLOAD_TYPES`."""
    encoding = {role: {"contentType": UPLOAD_TYPES} for role in roles}
    return {"requestBody": {"content": {"multipart/form-data": {"encoding": encoding}}}}


def _error(code: int) -> dict[str, Any]:
    return {"description": ERROR_TEXT[code], "content": {"application/json": {"schema": _ERROR_REF}}}


def error_responses(*codes: int, explicit: bool = False) -> dict[int, dict[str, Any]]:
    """Documented error responses, each an ErrorBody as JSON.

    ``explicit`` spells the JSON content out, for routes whose own media type is not JSON (FastAPI would
    otherwise document the model under the route's media type).
    """
    if explicit:
        return {c: _error(c) for c in codes}
    return {c: {"model": m.ErrorBody, "description": ERROR_TEXT[c]} for c in codes}


def header(name: str, description: str) -> dict[str, dict[str, Any]]:
    """A response header for a route's ``responses`` (``Location``, ``Link``): ``{"headers": header(...)}``.

    >>> header("Location", "the dataset")["Location"]["schema"]
    {'type': 'string'}
    """
    return {name: {"description": description, "schema": {"type": "string"}}}


def links(*operations: str, body: dict[str, str] | None = None, **parameters: str) -> dict[str, dict[str, Any]]:
    """OpenAPI links from a response to ``operations`` (operation ids), filling ``parameters`` and ``body``."""
    out: dict[str, dict[str, Any]] = {}
    for op in operations:
        link: dict[str, Any] = {"operationId": op}
        if parameters:
            link["parameters"] = dict(parameters)
        if body:
            link["requestBody"] = dict(body)
        out[op] = link
    return out


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add what the app-wide layers answer to every operation of ``schema`` (in place; returned).

    >>> doc = complete({"paths": {"/v1/plans/{plan_id}": {"get": {"parameters": [{"name": "plan_id"}]}}}})
    >>> sorted(doc["paths"]["/v1/plans/{plan_id}"]["get"]["responses"])
    ['422', '500']
    """
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    for path_item in schema.get("paths", {}).values():
        for op in path_item.values():
            responses = op.setdefault("responses", {})
            body = op.get("requestBody")
            documented_422 = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if (op.get("parameters") or body) and documented_422.get("$ref") != _ERROR_REF["$ref"]:
                responses["422"] = _error(422)  # what the validation handler answers, not FastAPI's HTTPValidationError
            for code in (400, 413, 500) if body else (500,):
                responses.setdefault(str(code), _error(code))
            form = (body or {}).get("content", {}).get("multipart/form-data", {}).get("schema", {})
            _without_null_parts(components.get(form.get("$ref", "").rpartition("/")[2], {}))
    return schema


def _without_null_parts(form: dict[str, Any]) -> None:
    """A multipart part cannot be null: an optional one is left out (FastAPI documents ``anyOf [..., null]``)."""
    for name, prop in form.get("properties", {}).items():
        kept = [s for s in prop.get("anyOf", ()) if s.get("type") != "null"]
        if name not in form.get("required", ()) and len(kept) == 1 and len(prop["anyOf"]) == 2:
            del prop["anyOf"]
            prop.update(kept[0])


def install(app: FastAPI) -> None:
    """Serve :func:`complete`'s document at ``/openapi.json`` (built once, on the first request), and the pages
    that show it, ``/docs`` and ``/redoc``, with their files (:mod:`api.docs_ui`; ``app`` is built with
    ``docs_url=None, redoc_url=None``)."""
    docs_ui.install(app)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
