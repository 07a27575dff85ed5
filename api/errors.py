"""Errors of the service and the one table that maps library errors to HTTP status codes.

Every error body is an :class:`~api.models.ErrorBody`: ``detail`` a sentence a person can act on,
``errors`` one entry per offending field. Anything unexpected becomes a generic 500 whose details go
only to the log, under an id the body quotes.

Examples
--------
>>> from gridplan.errors import InputError, PlanWriteError
>>> status_for(InputError("bad"))
422
>>> status_for(PlanWriteError("disk full"))
500
>>> status_for(NotFound("no plan 'x'"))
404

The library names its parameters in backticks (see :mod:`gridplan.errors`), the one a problem is about first;
an answer names the request fields, never the command line's options:

>>> problem_field("buildings: `id_field` was 'geometry', the geometry column, …")
'id_field'
>>> problem_field("buildings: 2 invalid geometries ['b3', 'b7']") is None
True

A problem that a switch accepts is about that switch:

>>> problem_field("buildings: 1 building with more than 3,000 households ['t1 (5,000)'], …; check the counts, "
...               "or plan them as they are with `accept_large=True`")
'accept_large'
>>> print(for_the_api("`households_field` was 'hh'; name it with `households_field`, or pass `estimate='auto'`"))
households_field was 'hh'; name it with households_field, or pass estimate="auto"
>>> print(for_the_api("name the id column with id_field= (--id-field); or pass --accept-large-buildings (accept_large=True)"))
name the id column with id_field; or pass accept_large=true

Parameters the API names otherwise, or does not have, are worded as :data:`API_WORDS` says, and what is left of
the command line (``--street-code``) becomes the request field:

>>> print(for_the_api("`count` was 40: the feasible totals are 30–36; give each street office its own --street-code"))
community_count was 40: the feasible totals are 30–36; give each street office its own street_code
>>> print(for_the_api("holds 2 layers ['a', 'b']; pick one with `layer`, or pass barriers=None if there are none"))
holds 2 layers ['a', 'b']; pick one with an upload of that layer alone, or pass no barriers if there are none
>>> print(for_the_api("damaged: write it again with `gridplan plan --out`"))
damaged: write it again with POST /v1/plans
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from gridplan.errors import GridplanError, InfeasibleError, InputError, OptionError, PlanWriteError, for_api

__all__ = [
    "ServiceError", "NotFound", "Conflict", "PayloadTooLarge", "UnsupportedType", "InvalidParameter",
    "STATUS", "status_for", "install_handlers", "error_body", "problem_field", "for_the_api", "allowed_methods",
    "API_WORDS", "API_COMMANDS", "validation_errors",
]

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error of the service itself, with the field it is about (if any)."""

    status = 400

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The resource exists but is not in a state that allows the request (e.g. a plan still running)."""

    status = 409


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedType(ServiceError):
    status = 415


class InvalidParameter(ServiceError):
    status = 422


#: The one table: library (and service) errors -> HTTP status. The first matching class wins.
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (InputError, 422),  # the uploaded data cannot be planned as it is
    (OptionError, 422),  # a parameter gridplan cannot use
    (InfeasibleError, 422),  # what was asked cannot be satisfied
    (PlanWriteError, 500),  # the server could not write a plan: not the client's fault
    (GridplanError, 500),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status for ``exc`` (500 when it is not in :data:`STATUS`)."""
    if isinstance(exc, ServiceError):
        return exc.status
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


_OPTION_FIRST = re.compile(r"^(?:\w+: )?`(\w+)` was ")
_SWITCH = re.compile(r"`(\w+)=True`")


def problem_field(problem: str) -> str | None:
    """The option a library problem is about: the one it names first ("`name` was …"), else the switch its fix
    turns on ("`accept_large=True`", "`fix_geometry=True`"); None for a problem of the data alone."""
    match = _OPTION_FIRST.match(problem) or _SWITCH.search(problem)
    return match.group(1) if match else None


#: How the API words a parameter the library's messages name (```name``` or ```name=value```) that is not a
#: request field of the same name: the field that does it here, or what the service offers instead; itself for
#: a name the API uses as it is without a request field of it (a column of the uploaded data, an export option).
API_WORDS: dict[str, str] = {
    "count": "community_count",
    "redistrict='keep'": 'redistrict="none"',
    "layer": "an upload of that layer alone",
    "allow_any_format": "allow_any_format (not offered by this service: convert the file to GeoPackage first)",
    "ledger": "ledger (not taken by this service: give the buildings their counts in the households_field column)",
    "key": "key (of a ledger, not taken by this service)",
    "building_key": "building_key (of a ledger, not taken by this service)",
    "usable_share": "the share of a floor's area in flats (fixed in this service)",
    "basemap": "the map's basemap (this service's maps use OpenStreetMap)",
    "compare": "the old communities (upload them as communities)",
    "old_plan": "the previous plan",
    "lookup_url": "lookup_url (of the printed sheets' door codes: not offered by this service)",
    "tier": "tier",  # a column of the uploaded barriers
    "crs": "crs", "encoding": "encoding",  # of an export (GET /v1/plans/{plan_id}/export)
}
#: the API operation that does what a ``gridplan`` command a library message names does
API_COMMANDS: dict[str, str] = {
    "plan": "POST /v1/plans", "redistrict": 'POST /v1/plans with "redistrict"', "inspect": "POST /v1/datasets",
    "export": "GET /v1/plans/{plan_id}/export", "deliver": "GET /v1/plans/{plan_id}/export",
}
_COMMAND = re.compile(r"`gridplan ([a-z]+)(?: [^`]*)?`")
_BACKTICKED = re.compile(r"(?<!`)`([a-z_][a-z0-9_]*)(=[^`]*)?`(?!`)")
_ASSIGN = r"[a-z_][a-z0-9_]*=(?:'[^']*'|\"[^\"]*\"|<[^>]*>|[^\s(),;`]*)"
#: the older spellings (``name=value (--flag)``, ``--flag (name=value)``, ``name=<name> (or --flag)``, a bare
#: ``name=True``): rewritten as backticked parameters first, so that every parameter is worded one way
_OLD = (
    (re.compile(rf"--[a-z][\w-]* \(({_ASSIGN})\)"), r"`\1`"),
    (re.compile(rf"(?<![`\w])({_ASSIGN}) \((?:or )?--[a-z][\w-]*(?: [^()]*)?\)"), r"`\1`"),
    (re.compile(r"(?<![`\w])([a-z_][a-z0-9_]*)=<[^>]*>"), r"`\1`"),
    (re.compile(r"(?<![`\w])([a-z_][a-z0-9_]*=(?:True|False|None))\b(?!`)"), r"`\1`"),
)
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def _api_word(match: re.Match) -> str:
    """A backticked parameter as :data:`API_WORDS` words it: another field (backticked still, for
    :func:`~gridplan.errors.for_api`, its value kept), or a phrase; else unchanged."""
    name, value = match.group(1), match.group(2) or ""
    words = API_WORDS.get(name + value, API_WORDS.get(name))
    if words is None:
        return match.group(0)
    if re.fullmatch(r"[a-z_][a-z0-9_]*", words):
        return f"`{words}{value}`"
    return f"`{words}`" if re.fullmatch(r"[a-z_][a-z0-9_]*=.*", words) else words


def for_the_api(text: str) -> str:
    """A library message in the API's terms: request fields (:func:`gridplan.errors.for_api`), what
    :data:`API_WORDS` says for the parameters the API names otherwise, JSON constants, no command-line options."""
    text = _COMMAND.sub(lambda m: API_COMMANDS.get(m.group(1), "the gridplan service"), text)
    for pattern, marked in _OLD:
        text = pattern.sub(marked, text)
    text = for_api(_BACKTICKED.sub(_api_word, text))
    text = re.sub(r"\b([a-z_][a-z0-9_]*)=null\b", r"no \1", text)  # a part left out: "pass no barriers"
    return _FLAG.sub(lambda m: m.group(1).replace("-", "_"), text)


def error_body(detail: str, errors: list[dict] | None = None) -> dict:
    return {"detail": detail, "errors": errors or []}


def _field_of(loc: tuple | list) -> str:
    """The field a validation error's ``loc`` points at, as the client sent it: ``seed``, ``levels.grid``,
    ``bbox[1]``; ``body`` for the body as a whole (an array where an object belongs included).

    >>> _field_of(("body", "seed")), _field_of(("body",)), _field_of(("body", 0)), _field_of(("query", "ids", 1))
    ('seed', 'body', 'body', 'ids[1]')
    """
    parts = list(loc)
    where = str(parts[0]) if parts else "request"
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    if parts and isinstance(parts[0], int):  # an item of a body that is an array: the body is what is wrong
        return where
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or where


_JSON_KIND = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
              type(None): "null"}


def _shown(value) -> str:
    """A value a client sent, as JSON, cut to 80 characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _validation_message(field: str, error: dict) -> str:
    kind, msg, value = error.get("type", ""), str(error.get("msg", "invalid")), error.get("input")
    if kind == "missing":
        return "the request has no body; send a JSON object as documented" if field == "body" else f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not a field of this request (a typo?); the fields are listed in the API document (/docs)"
    if field == "body" and type(value) in _JSON_KIND:
        return f"the body is {_JSON_KIND[type(value)]}, not a JSON object; send an object of the documented fields"
    if kind == "value_error":  # our validators' messages name the field and the value already
        text = for_the_api(msg.removeprefix("Value error, "))
        return text if text.startswith(field) else f"{field} was {_shown(value)}: {text}"
    return f"{field} was {_shown(value)}: {msg[:1].lower()}{msg[1:]}"


def validation_errors(errors: list[dict]) -> list[dict]:
    """FastAPI's validation errors as :class:`~api.models.FieldError` dicts: the field the client sent, the value,
    and what to send instead.

    >>> validation_errors([{"type": "int_parsing", "loc": ("body", "seed"), "input": "x",
    ...                     "msg": "Input should be a valid integer, unable to parse string as an integer"}])
    [{'field': 'seed', 'message': 'seed was "x": input should be a valid integer, unable to parse string as an integer'}]
    >>> validation_errors([{"type": "model_attributes_type", "loc": ("body",), "input": [1, 2], "msg": "…"}])
    [{'field': 'body', 'message': 'the body is an array, not a JSON object; send an object of the documented fields'}]
    """
    out = []
    for e in errors:
        field = _field_of(e.get("loc", ()))
        out.append({"field": field, "message": _validation_message(field, e)})
    return out


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app, path: str, root_path: str = "") -> list[str]:
    """The methods some route of ``app`` answers at ``path`` (Starlette's own 405 names only the first route's)."""
    def answers(method: str) -> bool:
        scope = {"type": "http", "path": path, "method": method, "root_path": root_path, "headers": [],
                 "query_string": b""}
        return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)

    return [method for method in _METHODS if answers(method)]


def _generic_500(request: Request, exc: BaseException) -> JSONResponse:
    ref = uuid.uuid4().hex[:12]
    logger.error("error %s on %s %s", ref, request.method, request.url.path, exc_info=(type(exc), exc, exc.__traceback__))
    return JSONResponse(status_code=500, content=error_body(
        f"internal error (reference {ref}); the details are in the service log"))


def install_handlers(app: FastAPI, scrub: Callable[[str], str] = lambda text: text) -> None:
    """Register the handlers that turn every error into an :class:`~api.models.ErrorBody`.

    ``scrub`` takes internal paths out of the library's messages before they are answered.
    """

    @app.exception_handler(ServiceError)
    async def _service(request: Request, exc: ServiceError) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
        return JSONResponse(status_code=exc.status, content=error_body(exc.detail, errors))

    @app.exception_handler(GridplanError)
    async def _library(request: Request, exc: GridplanError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            return _generic_500(request, exc)
        raw = exc.problems if isinstance(exc, InputError) else [str(exc)]
        field = getattr(exc, "field", None)
        errors = [{"field": field or problem_field(p) or "input", "message": for_the_api(scrub(p))} for p in raw]
        return JSONResponse(status_code=status, content=error_body(for_the_api(scrub(str(exc))), errors))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if broken:
            why = (broken[0].get("ctx") or {}).get("error", "invalid JSON")
            detail = f"the request body is not valid JSON ({why}); send a JSON object as documented"
            return JSONResponse(status_code=400, content=error_body(detail, [{"field": "body", "message": detail}]))
        errors = validation_errors(exc.errors())
        detail = "; ".join(e["message"] for e in errors) or "invalid request"
        return JSONResponse(status_code=422, content=error_body(detail, errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(request.app, request.scope["path"], request.scope.get("root_path", "")))
            headers["Allow"] = allow
            detail = f"{request.method} is not a method of {request.url.path}; it answers {allow}"
        elif exc.status_code == 400:
            detail = f"the request body cannot be parsed ({detail}); send JSON or multipart/form-data as documented"
        return JSONResponse(status_code=exc.status_code, content=error_body(detail), headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _generic_500(request, exc)
