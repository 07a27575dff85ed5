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
name the id column with id_field=; or pass accept_large=True
"""
from __future__ import annotations

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


def for_the_api(text: str) -> str:
    """A library message naming request fields (:func:`gridplan.errors.for_api`): the API has no options."""
    return for_api(text)


def error_body(detail: str, errors: list[dict] | None = None) -> dict:
    return {"detail": detail, "errors": errors or []}


def _field_of(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    where = parts[0] if parts else "request"
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or where


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
            return JSONResponse(status_code=400, content=error_body(
                f"the request body is not valid JSON ({why}); send a JSON object as documented"))
        errors = [{"field": _field_of(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
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
