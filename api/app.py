"""The gridplan service: a thin FastAPI app over the library, built by :func:`create_app`.

Nothing happens at import time: ``create_app(settings)`` builds the app, and its lifespan starts the
:class:`~api.service.Service` (database, forkserver, plan dispatcher). Run it with ``gridplan serve`` or
``uvicorn --factory api.app:create_app`` (one process per data directory: the plan processes and the job
table belong to it).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import gridplan

from .errors import install_handlers
from .limits import BodyLimit
from .openapi import install as install_openapi
from .routers import datasets, diffs, exports, health, ogc, plans, results
from .service import Service
from .settings import Settings

__all__ = ["create_app", "Service"]

# Order matters: /v1/plans/{plan_id}/{level} (results) comes after every other /v1/plans/{plan_id}/... route.
ROUTERS = (health.router, datasets.router, plans.router, exports.router, diffs.router, ogc.router, results.router)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. ``settings`` default to the ``GRIDPLAN_*`` environment (see :class:`Settings`)."""
    settings = settings or Settings()
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
                    "it, then read its units as GeoJSON, look up a building, open the map or download the files.",
    )
    app.state.service = svc
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, uploads=settings.max_concurrent_uploads,
                       min_free=settings.min_free_bytes, root=svc.layout.root)
    install_handlers(app, scrub=svc.scrub)
    install_openapi(app)

    for router in ROUTERS:
        app.include_router(router)
    return app
