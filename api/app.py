"""The gridplan service: a thin FastAPI app over the library, built by :func:`create_app`.

Nothing happens at import time: ``create_app(settings)`` builds the app, and its lifespan starts the
:class:`~api.service.Service` (database, forkserver, plan dispatcher). Run it with ``gridplan serve`` or
``uvicorn --factory api.app:create_app`` (one process per data directory: the plan processes and the job
table belong to it).

Every router of :data:`ROUTERS` is included with :func:`api.auth.authenticate` (a Bearer token, its role by
method); :data:`OPEN` ones (``/healthz``, the public links) need none. A new router goes into ``ROUTERS``.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

import gridplan

from .auth import TokenBeforeBody, authenticate, role_of_route
from .errors import install_handlers
from .hosts import HostOriginCheck, add_cors, allowed_hosts, is_loopback
from .limits import BodyLimit
from .openapi import error_responses, install as install_openapi
from .routers import audit, datasets, diffs, exports, health, links, ogc, plans, results, tokens
from .service import Service
from .settings import Settings

__all__ = ["create_app", "Service", "ROUTERS", "OPEN", "ConfigurationError"]

# Order matters: /v1/plans/{plan_id}/{level} (results) comes after every other /v1/plans/{plan_id}/... route.
ROUTERS = (datasets.router, plans.router, exports.router, diffs.router, links.router, tokens.router, audit.router,
           ogc.router, results.router)
#: routers that need no token
OPEN = (health.router, links.public)


class ConfigurationError(ValueError):
    """Settings the service refuses to start with (the message says why and what to do)."""


def check_settings(settings: Settings) -> None:
    """Refuse ``auth=off`` unless the server binds a loopback address."""
    if settings.auth == "off" and not is_loopback(settings.bind_host):
        where = f"binds {settings.bind_host}" if settings.bind_host else "does not say which address it binds"
        raise ConfigurationError(
            f"GRIDPLAN_AUTH=off is refused: the server {where}, so anyone who can reach it would be an admin. Either "
            "bind a loopback address (gridplan serve --host 127.0.0.1; with uvicorn itself also set "
            "GRIDPLAN_BIND_HOST=127.0.0.1), or keep authentication on and create tokens with `gridplan token create`")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. ``settings`` default to the ``GRIDPLAN_*`` environment (see :class:`Settings`)."""
    settings = settings or Settings()
    check_settings(settings)
    svc = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(
        title="gridplan", version=gridplan.__version__, lifespan=lifespan, docs_url=None, redoc_url=None,  # api.docs_ui
        description="Plan buildings into communities → grids → micro-grids. Upload a dataset, start a plan, poll "
                    "it, then read its units as GeoJSON, look up a building, open the map or download the files. "
                    "Every /v1 route needs `Authorization: Bearer TOKEN` (viewer: reads; planner: also uploads, "
                    "plans, exports, deletes; admin: everything), except the public links under /v1/public.",
    )
    app.state.service = svc
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, uploads=settings.max_concurrent_uploads,
                       min_free=settings.min_free_bytes, root=svc.layout.root)
    origins = [o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()]
    add_cors(app, origins)
    app.add_middleware(TokenBeforeBody)  # a POST without a live token: 401 before its body is read
    app.add_middleware(HostOriginCheck, hosts=allowed_hosts(settings.bind_host, settings.allowed_hosts),
                       origins=origins)  # outermost: before anything reads the body
    install_handlers(app, scrub=svc.scrub)
    install_openapi(app)
    _document_security(app, ROUTERS)

    for router in OPEN[:1]:
        app.include_router(router)
    for router in ROUTERS:
        app.include_router(router, dependencies=[Depends(authenticate)])
    for router in OPEN[1:]:
        app.include_router(router)
    return app


def _document_security(app: FastAPI, routers) -> None:
    """Each operation of ``routers`` (the authenticated ones) says in the document the role it needs
    (``x-gridplan-role``), its Bearer security and 401/403."""
    build = app.openapi
    failures = {str(k): v for k, v in error_responses(401, 403, explicit=True).items()}

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        doc = build()
        if first:
            doc.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer", "description": "a token from `gridplan token create`"}
            routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
            for route in routes:
                for method in route.methods:
                    op = doc.get("paths", {}).get(route.path_format, {}).get(method.lower())
                    if op is None:
                        continue
                    role = role_of_route(route, method)
                    op["x-gridplan-role"] = role
                    op["security"] = [{"bearer": []}]
                    for code, resp in failures.items():
                        op["responses"].setdefault(code, resp)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
