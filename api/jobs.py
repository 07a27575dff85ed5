"""Plans run in worker processes, never in the event loop; their progress and outcome go to the database.

:class:`JobRunner` owns a :class:`concurrent.futures.ProcessPoolExecutor` with ``settings.workers``
processes (forked from a clean ``forkserver`` that has imported gridplan once, so a worker never inherits
the server's threads). A submitted plan is
``queued`` until a worker picks it up; :func:`run_plan` then marks it ``running``, writes its progress
(throttled), writes the plan directory and marks it ``done`` with the report's figures, or ``failed``
with a reason a person can act on. A worker that dies is caught by the runner, which marks the plan
failed. Plans left queued or running by a previous run of the service are marked failed at start-up
(:func:`api.db.mark_interrupted`).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import update

from gridplan.errors import GridplanError

from .db import PlanRecord, make_engine, session_factory, utcnow
from .storage import scrub

__all__ = ["JobSpec", "JobRunner", "run_plan", "figures_of", "STAGES"]

logger = logging.getLogger(__name__)

STAGES = ("reading", "cells", "communities", "grids", "micro-grids", "writing")
_PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run one plan (picklable)."""

    plan_id: str
    database_url: str
    data_dir: str
    dataset_dir: str
    files: dict
    options: dict
    parameters: dict
    out_dir: str
    max_uncompressed: int
    crash: bool = field(default=False, repr=False)  # tests: make the worker process die


def figures_of(report: dict) -> dict:
    """The headline figures of a plan's ``report.json``."""
    levels = {}
    for name, lv in report.get("levels", {}).items():
        levels[name] = {k: lv.get(k) for k in ("count", "range", "hh_min", "hh_max", "hh_mean", "share_in_range",
                                                "below_range", "above_range", "cv_within_parent_median")}
    return {
        "buildings": int(report.get("input", {}).get("buildings", 0)),
        "households": int(report.get("input", {}).get("households", 0)),
        "levels": levels,
        "crossings": len(report.get("crossings", [])),
        "infeasible": len(report.get("infeasible", [])),
        "out_of_range": len(report.get("out_of_range", [])),
    }


# ---- in the worker process ---------------------------------------------------------------------------

_ENGINES: dict = {}


def _ready() -> bool:
    return True


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its workers itself


def _sessions(url: str):
    if url not in _ENGINES:
        _ENGINES[url] = session_factory(make_engine(url))
    return _ENGINES[url]


class _Reporter:
    """The ``progress`` callback of :func:`gridplan.plan`: writes stage and steps, at most every 0.5 s."""

    def __init__(self, sessions, plan_id: str):
        self.sessions, self.plan_id = sessions, plan_id
        self.stage, self.steps, self.last = None, 0, 0.0

    def __call__(self, stage: str, n: int) -> None:
        if stage != self.stage:
            self.stage, self.steps = stage, 0
            self.last = 0.0
        self.steps += n
        now = time.monotonic()
        if now - self.last >= _PROGRESS_EVERY_S:
            self.last = now
            self.write()

    def write(self) -> None:
        with self.sessions() as s:
            s.execute(update(PlanRecord).where(PlanRecord.id == self.plan_id, PlanRecord.status == "running")
                      .values(stage=self.stage, steps=self.steps))
            s.commit()


def _finish(sessions, plan_id: str, **values) -> bool:
    """Set the outcome of a running plan; False when it was deleted meanwhile."""
    with sessions() as s:
        n = s.execute(update(PlanRecord).where(PlanRecord.id == plan_id, PlanRecord.status == "running")
                      .values(finished_at=utcnow(), stage=None, **values)).rowcount
        s.commit()
    return n > 0


def run_plan(spec: JobSpec) -> str:
    """Run one plan in this (worker) process; returns its final status."""
    from gridplan.plan import plan

    from .uploads import load_layers

    sessions = _sessions(spec.database_url)
    with sessions() as s:
        started = s.execute(update(PlanRecord).where(PlanRecord.id == spec.plan_id, PlanRecord.status == "queued")
                            .values(status="running", started_at=utcnow(), stage="reading", steps=0)).rowcount
        s.commit()
    if not started:
        return "gone"
    if spec.crash:
        os._exit(3)
    out = Path(spec.out_dir)
    report = _Reporter(sessions, spec.plan_id)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layers = load_layers(Path(spec.dataset_dir), spec.files, spec.max_uncompressed)
            params = dict(spec.parameters)
            keep = params.pop("keep_communities")
            mode = params.pop("redistrict", "none")
            count = params.pop("community_count", None)
            if params.get("start_date") is not None:
                params["start_date"] = str(params["start_date"])
            changes = None
            if mode != "none":  # re-districting: the new plan and its change list against the old communities
                from gridplan.redistrict import redistrict

                r = redistrict(layers["buildings"], layers["barriers"], layers["communities"], mode=mode, count=count,
                               **spec.options, **params, progress=report)
                p, changes = r.plan, r.changes
            else:
                p = plan(layers["buildings"], layers["barriers"], layers["communities"] if keep else None,
                         **spec.options, **params, progress=report)
            report("writing", 1)
            report.write()
            p.write(out)
            if changes is not None:  # as `gridplan redistrict` writes it: changes.csv, migration.csv, ... beside the plan
                changes.write(out)
        msgs = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})
        figures = figures_of(p.report)
        if changes is not None:
            figures["changes"] = changes.summary
        if not _finish(sessions, spec.plan_id, status="done", figures=figures, warnings=msgs):
            shutil.rmtree(out.parent, ignore_errors=True)  # deleted while it ran
            return "gone"
        logger.info("plan %s done: %d grids", spec.plan_id, len(p.grids))
        return "done"
    except GridplanError as exc:
        from .errors import status_for

        if status_for(exc) >= 500:
            logger.exception("plan %s failed", spec.plan_id)
            reason = f"internal error while writing the plan; the details are in the service log (plan {spec.plan_id})"
        else:
            reason = scrub(str(exc), Path(spec.data_dir))
    except Exception:
        logger.exception("plan %s failed", spec.plan_id)
        reason = f"internal error while planning; the details are in the service log (plan {spec.plan_id})"
    if not _finish(sessions, spec.plan_id, status="failed", reason=reason):
        shutil.rmtree(out.parent, ignore_errors=True)  # deleted while it ran
        return "gone"
    return "failed"


# ---- in the server -------------------------------------------------------------------------------------


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where there is one (a clean server process that has imported gridplan once, so a new
    worker starts in milliseconds and never inherits the web server's threads), else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["api.jobs", "gridplan.plan", "gridplan.export", "gridplan.redistrict", "gridplan.diff"])
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


class JobRunner:
    """Queues plans on a pool of ``workers`` processes and notices the ones that die."""

    def __init__(self, workers: int, sessions):
        self.sessions = sessions
        self.workers = workers
        self._lock = threading.RLock()
        self._pool = self._new_pool()
        self._jobs: dict[str, tuple[JobSpec, Future]] = {}
        self._closed = False
        # start the workers now, off the request path (the first start imports gridplan: seconds)
        threading.Thread(target=self._warm_up, name="gridplan-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            self._pool.submit(_ready).result(timeout=300)
        except Exception as exc:  # noqa: BLE001 - shut down meanwhile, or a pool that will be replaced on submit
            logger.info("worker warm-up did not finish: %r", exc)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=_context(), initializer=_init_worker)

    def submit(self, spec: JobSpec) -> None:
        with self._lock:
            try:
                fut = self._pool.submit(run_plan, spec)
            except BrokenProcessPool:
                self._pool = self._new_pool()
                fut = self._pool.submit(run_plan, spec)
            self._jobs[spec.plan_id] = (spec, fut)
        fut.add_done_callback(lambda f, sp=spec: self._done(sp, f))

    def cancel(self, plan_id: str) -> bool:
        """Cancel a plan no worker has started; False when it is running (or unknown)."""
        with self._lock:
            job = self._jobs.get(plan_id)
        return bool(job and job[1].cancel())

    def _done(self, spec: JobSpec, fut: Future) -> None:
        with self._lock:
            if self._jobs.get(spec.plan_id, (None, None))[1] is fut:
                del self._jobs[spec.plan_id]
            closed = self._closed
        if closed or fut.cancelled() or fut.exception() is None:
            return  # at shutdown, the next start-up marks running plans as interrupted
        exc = fut.exception()
        try:
            with self.sessions() as s:
                rec = s.get(PlanRecord, spec.plan_id)
                status = rec.status if rec else None
            if status == "queued" and isinstance(exc, BrokenProcessPool):
                # another plan's worker died and took the pool down before this one started: run it again
                logger.warning("re-queuing plan %s after a worker of the pool died", spec.plan_id)
                self.submit(spec)
                return
            logger.error("worker for plan %s ended abnormally: %r", spec.plan_id, exc)
            with self.sessions() as s:
                s.execute(update(PlanRecord).where(PlanRecord.id == spec.plan_id, PlanRecord.status.in_(("queued", "running")))
                          .values(status="failed", finished_at=utcnow(), stage=None,
                                  reason="the worker process running this plan stopped unexpectedly; submit the plan again"))
                s.commit()
        except Exception:  # noqa: BLE001 - a callback must not raise; the next start-up marks it failed anyway
            logger.exception("could not record the end of plan %s", spec.plan_id)

    def shutdown(self) -> None:
        """Stop at once: cancel queued plans and end the running workers (start-up marks them failed)."""
        with self._lock:
            self._closed = True
            pool = self._pool
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=5)
