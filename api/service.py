"""What the routes share, and the life of the service's processes: :class:`Service`.

:meth:`Service.start` (from the app's lifespan, i.e. uvicorn's main thread) restricts GDAL in the server,
opens the database, marks plans a previous run left running as failed, starts the forkserver and the plan
dispatcher; :meth:`Service.stop` ends every child, then the forkserver. See :mod:`api.procs`.
"""
from __future__ import annotations

import logging
import shutil
import threading

from sqlalchemy.orm import Session, sessionmaker

from gridplan.inputs.formats import restrict_gdal

from . import procs
from .db import create_schema, make_engine, mark_interrupted, session_factory
from .jobs import JobRunner
from .parsing import Parser
from .results import ResultCache
from .settings import Settings
from .storage import Layout, scrub
from .uploads import discard

__all__ = ["Service"]

logger = logging.getLogger(__name__)


class Service:
    """What the routes share: settings, file layout, database sessions, the job runner, the read cache."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.layout = Layout(settings.data_dir)
        self.url = settings.database_url_or_default()
        self.engine = None
        self.sessions: sessionmaker[Session] | None = None
        self.jobs: JobRunner | None = None
        self.parser: Parser | None = None
        self.launcher: procs.Launcher | None = None
        self._forkserver = False
        self._starts = 0  # lifespans running on this app (a test client may run a second one inside the first)
        self._lock = threading.Lock()
        self.cache = ResultCache(max_bytes=settings.layer_cache_mb * 1024**2)

    def start(self) -> None:
        """Restrict GDAL, open the database, start the forkserver (from this thread: see :mod:`api.procs`) and
        the dispatcher. Run from the lifespan, i.e. uvicorn's main thread; a second lifespan shares the first."""
        with self._lock:
            self._starts += 1
            if self._starts == 1:
                try:
                    self._start()
                except BaseException:
                    self._starts = 0
                    self._stop()
                    raise

    def stop(self) -> None:
        """End every child (parses, plans), then the forkserver; running plans are marked failed at the next start."""
        with self._lock:
            self._starts = max(0, self._starts - 1)
            if self._starts == 0:
                self._stop()

    def _start(self) -> None:
        restrict_gdal()
        self.layout.create()
        for leftover in [*self.layout.datasets.glob(".incoming-*"), *self.layout.plans.glob(".tmp-*")]:
            discard(leftover)
        self.engine = make_engine(self.url)
        create_schema(self.engine)
        self.sessions = session_factory(self.engine)
        for plan_id in mark_interrupted(self.sessions):
            logger.warning("plan %s was interrupted by a restart; marked failed", plan_id)
            shutil.rmtree(self.layout.plan_root(plan_id), ignore_errors=True)
        procs.acquire_forkserver()
        self._forkserver = True
        self.launcher = procs.Launcher()
        self.parser = Parser(self.settings, self.launcher)
        self.jobs = JobRunner(self.settings, self.sessions, self.layout, self.url, self.launcher)
        self.jobs.start()
        logger.info("gridplan service: data in %s, %s database, %d workers", self.layout.root,
                    self.engine.dialect.name, self.settings.workers)

    def _stop(self) -> None:
        parser, jobs, launcher = self.parser, self.jobs, self.launcher
        if parser is not None:
            parser.shutdown()
        if jobs is not None:
            jobs.shutdown()
        if launcher is not None:
            launcher.close()
        if self._forkserver:
            self._forkserver = False
            procs.release_forkserver()
        if self.engine is not None:
            self.engine.dispose()

    def scrub(self, text: str) -> str:
        return scrub(text, self.layout.root)
