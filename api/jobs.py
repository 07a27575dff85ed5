"""Plans run in child processes, never in the server; the database is their queue.

A new plan is a ``queued`` row. :class:`JobRunner`'s dispatcher thread starts one child process per plan
(forked by the forkserver of :mod:`api.procs`, with gridplan loaded: milliseconds), at most
``settings.workers`` at once, oldest first, and knows which plan each process runs. The child marks its
plan ``running`` itself (:func:`run_plan`), writes its progress (throttled), writes the plan directory and
marks it ``done`` with the report's figures, or ``failed`` with a reason a person can act on, and leaves
no plan folder behind when it fails. A child that exits without an outcome fails only its own plan, with
the reason (killed, out of memory: ``GRIDPLAN_PLAN_MEMORY_BYTES``); the other plans run on. At start-up
plans left ``running`` by a previous run are marked failed (:func:`api.db.mark_interrupted`), and plans
left ``queued`` run.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import warnings
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from sqlalchemy import select, update

from gridplan.errors import GridplanError

from . import procs
from .db import DatasetRecord, PlanRecord, make_engine, session_factory, utcnow
from .limits import is_no_space
from .progress import FIRST_STAGE, Tracker, kind_of
from .storage import Layout, scrub

__all__ = ["JobSpec", "JobRunner", "run_plan", "plan_child", "plan_tmp", "figures_of", "exit_reason"]

logger = logging.getLogger(__name__)

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


def figures_of(report: dict, failed_rules: list[dict] | None = None) -> dict:
    """The headline figures of a plan's ``report.json``, with the validation rules it still fails
    (:func:`gridplan.outputs.rules.failed_rules`: rule, level, count, first codes, detail)."""
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
        "failed_rules": list(failed_rules or []),
    }


# ---- in the worker process ---------------------------------------------------------------------------

_ENGINES: dict = {}


def _sessions(url: str):
    if url not in _ENGINES:
        _ENGINES[url] = session_factory(make_engine(url))
    return _ENGINES[url]


class _Reporter:
    """The ``progress`` callback of the library (with ``total``): a :class:`~api.progress.Tracker` whose stage,
    steps and stage total are written at most every 0.5 s, and at once when the stage changes."""

    def __init__(self, sessions, plan_id: str, kind: str):
        self.sessions, self.plan_id = sessions, plan_id
        self.tracker = Tracker(kind)
        self.last, self.written = 0.0, FIRST_STAGE  # run_plan recorded the first stage's start

    def total(self, stage: str, n: int) -> None:
        self.tracker.total(stage, n)
        self._maybe_write()

    def __call__(self, stage: str, n: int) -> None:
        self.tracker(stage, n)
        self._maybe_write()

    def begin(self, stage: str) -> None:
        """One of the service's own stages (writing) begins."""
        self.tracker.begin(stage)
        self.write()

    def _maybe_write(self) -> None:
        now = time.monotonic()
        if self.tracker.stage != self.written or now - self.last >= _PROGRESS_EVERY_S:
            self.last = now
            self.write()

    def write(self) -> None:
        t = self.tracker
        values = {"stage": t.stage, "steps": t.steps, "stage_total": t.total_steps}
        if t.stage != self.written:  # written at once when it changes: this is when the stage began
            values["stage_started_at"] = utcnow()
        self.written = t.stage
        with self.sessions() as s:
            s.execute(update(PlanRecord).where(PlanRecord.id == self.plan_id, PlanRecord.status == "running")
                      .values(**values))
            s.commit()


def _finish(sessions, plan_id: str, **values) -> bool:
    """Set the outcome of a running plan; False when it was deleted meanwhile."""
    with sessions() as s:
        n = s.execute(update(PlanRecord).where(PlanRecord.id == plan_id, PlanRecord.status == "running")
                      .values(finished_at=utcnow(), stage=None, **values)).rowcount
        s.commit()
    return n > 0


def _memory_reason(limit: int | None) -> str:
    shown = f" ({limit:,} bytes beyond the libraries every process loads)" if limit else ""
    return (f"the plan needed more memory than GRIDPLAN_PLAN_MEMORY_BYTES allows{shown}; plan a smaller area "
            "(fewer buildings), or raise the limit")


def _no_space_reason() -> str:
    return ("the service's disk is full (no space left on the device) while writing the plan; nothing of it was kept: "
            "free space in the data directory (GRIDPLAN_DATA_DIR), then submit the plan again")


def run_plan(spec: JobSpec, *, memory_limit: int | None = None) -> str:
    """Run one plan in this (worker) process; returns its final status.

    A plan that fails leaves no folder under ``plans/``; one deleted while it ran is dropped.
    """
    from gridplan.outputs.rules import failed_rules, validation_report
    from gridplan.planning.plan import plan

    from .uploads import load_layers

    sessions = _sessions(spec.database_url)
    now = utcnow()
    with sessions() as s:
        started = s.execute(update(PlanRecord).where(PlanRecord.id == spec.plan_id, PlanRecord.status == "queued")
                            .values(status="running", started_at=now, stage=FIRST_STAGE, steps=0,
                                    stage_total=None, stage_started_at=now)).rowcount
        s.commit()
    if not started:
        return "gone"
    out = Path(spec.out_dir)
    report = _Reporter(sessions, spec.plan_id, kind_of(spec.parameters))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layers = load_layers(Path(spec.dataset_dir), spec.files, spec.max_uncompressed)
            params = dict(spec.parameters)
            keep = params.pop("keep_communities")
            mode = params.pop("redistrict", "none")
            count = params.pop("community_count", None)
            previous, lock = params.pop("replan_of", None), params.pop("lock", None) or []
            if params.get("start_date") is not None:
                params["start_date"] = str(params["start_date"])
            changes = compare = None
            if previous:  # a re-plan of a previous plan: its change list against it
                from .replanning import run_replan

                r, compare = run_replan(Layout(Path(spec.data_dir)).plan_dir(previous), layers, spec.options,
                                        {"replan_of": previous, "lock": lock, "seed": params["seed"],
                                         "start_date": params.get("start_date")}, report)
                p, changes = r.plan, r.changes
            elif mode != "none":  # re-districting: the new plan and its change list against the old communities
                from gridplan.planning.redistrict import redistrict

                r = redistrict(layers["buildings"], layers["barriers"], layers["communities"], mode=mode, count=count,
                               **spec.options, **params, progress=report)
                p, changes = r.plan, r.changes
            else:
                p = plan(layers["buildings"], layers["barriers"], layers["communities"] if keep else None,
                         **spec.options, **params, progress=report)
            report.begin("writing")
            if changes is not None:  # as `gridplan redistrict`/`replan` write it: changes.csv, ..., map.html with the before
                from gridplan.planning.diff import write_with_changes

                write_with_changes(p, changes, out, compare=compare)
            else:
                p.write(out)
            failed = failed_rules(validation_report(p))  # the rules still failed, said in the plan's figures
        msgs = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})
        figures = figures_of(p.report, failed)
        if changes is not None:
            figures["changes"] = changes.summary
        if not _finish(sessions, spec.plan_id, status="done", figures=figures, warnings=msgs):
            shutil.rmtree(out.parent, ignore_errors=True)  # deleted while it ran
            return "gone"
        logger.info("plan %s done: %d grids", spec.plan_id, len(p.grids))
        return "done"
    except MemoryError:
        procs.relax_memory()
        reason = _memory_reason(memory_limit)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the plan's reason
        if procs.near_memory_limit():  # an allocation refused, whatever the library made of it
            procs.relax_memory()
            reason = _memory_reason(memory_limit)
        else:
            reason = _reason_for(exc, spec)
    shutil.rmtree(out.parent, ignore_errors=True)  # a failed plan leaves no folder
    _finish(sessions, spec.plan_id, status="failed", reason=reason)
    return "failed"


def _reason_for(exc: Exception, spec: JobSpec) -> str:
    from .errors import for_the_api, status_for

    if is_no_space(exc):
        logger.error("plan %s: the disk is full: %s", spec.plan_id, exc)
        return _no_space_reason()
    if isinstance(exc, GridplanError) and status_for(exc) < 500:
        reason = scrub(str(exc), Path(spec.data_dir))
        # a re-plan's library names (`lock`, `grid_size`) are its request fields; a re-districting plan's are not yet
        return for_the_api(reason) if spec.parameters.get("replan_of") else reason
    logger.error("plan %s failed", spec.plan_id, exc_info=(type(exc), exc, exc.__traceback__))
    what = "writing the plan" if isinstance(exc, GridplanError) else "planning"
    return f"internal error while {what}; the details are in the service log (plan {spec.plan_id})"


def plan_child(spec: JobSpec, limits: procs.Limits) -> None:
    """The body of a plan's child process: its limits, then :func:`run_plan`."""
    procs.enter_child(limits)
    try:
        run_plan(spec, memory_limit=limits.memory_bytes)
    except BaseException as exc:  # out of memory before the plan could record it: the dispatcher says so
        if isinstance(exc, MemoryError) or procs.near_memory_limit():
            os._exit(procs.EXIT_MEMORY)
        raise
    finally:
        if limits.tmpdir:
            shutil.rmtree(limits.tmpdir, ignore_errors=True)
        for sessions in _ENGINES.values():
            sessions.kw["bind"].dispose()


# ---- in the server -------------------------------------------------------------------------------------


def plan_tmp(layout: Layout, plan_id: str) -> Path:
    """Where a plan's process keeps its temporary files (decompressed inputs): in the data directory, beside
    the plan's folder, removed when the process ends."""
    return layout.plans / f".tmp-{plan_id}"


_POLL_S = 5.0  # the dispatcher looks at the queue at least this often
_EXITED = "the worker process running this plan stopped unexpectedly"


def exit_reason(exitcode: int | None, memory_limit: int | None) -> str:
    """The reason recorded for a plan whose process ended without an outcome.

    Examples
    --------
    >>> exit_reason(-9, None).split(";")[0]
    'the worker process running this plan was killed (SIGKILL), most often by the system running out of memory'
    >>> exit_reason(3, None)
    'the worker process running this plan stopped unexpectedly (exit code 3); submit the plan again'
    """
    if exitcode == procs.EXIT_MEMORY:
        return _memory_reason(memory_limit)
    if exitcode == -9:
        return ("the worker process running this plan was killed (SIGKILL), most often by the system running out of "
                "memory; plan a smaller area, lower GRIDPLAN_WORKERS or GRIDPLAN_PLAN_MEMORY_BYTES so plans fit in the "
                "machine's memory, and submit the plan again")
    return f"{_EXITED} ({procs.exit_description(exitcode)}); submit the plan again"


@dataclass
class _Job:
    proc: object
    started: float
    timed_out: bool = False


def timeout_reason(limit_s: float) -> str:
    """The reason recorded for a plan killed past ``GRIDPLAN_PLAN_TIMEOUT_S``.

    Examples
    --------
    >>> timeout_reason(60).split(";")[0]
    'the plan ran longer than GRIDPLAN_PLAN_TIMEOUT_S (60 s) and was stopped'
    """
    return (f"the plan ran longer than GRIDPLAN_PLAN_TIMEOUT_S ({limit_s:g} s) and was stopped; plan a smaller area, "
            "or ask the operator to raise the limit")


class JobRunner:
    """Starts one child process per queued plan, at most ``settings.workers`` at once, and notices the ones that die."""

    def __init__(self, settings, sessions, layout: Layout, url: str, launcher: procs.Launcher):
        self.settings, self.sessions, self.layout, self.url, self.launcher = settings, sessions, layout, url, launcher
        self.workers = settings.workers
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._wake_fds = (self._wake_r, self._wake_w)
        self._thread = threading.Thread(target=self._run, name="gridplan-dispatcher", daemon=True)

    # -- what the routes call

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (a plan was queued)."""
        with self._lock:  # never after shutdown closed the pipe (its number may name another file by then)
            if not self._wake_fds:
                return
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:  # full: it wakes anyway
                pass

    def alive(self) -> bool:
        return self._thread.is_alive()

    def pids(self) -> dict[str, int]:
        """The process of each plan that has one: plan id -> pid."""
        with self._lock:
            return {pid: job.proc.pid for pid, job in self._jobs.items() if job.proc.pid is not None}

    def cancel(self, plan_id: str) -> bool:
        """End the process of a plan (deleted): True when it had one."""
        with self._lock:
            job = self._jobs.get(plan_id)
        if job is None or job.proc.pid is None:
            return False
        job.proc.kill()
        self.wake()
        return True

    def shutdown(self) -> None:
        """Stop at once: end the running plans (start-up marks them failed); queued plans stay queued."""
        with self._lock:
            self._closed = True
        self.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        with self._lock:
            jobs = list(self._jobs.values())
        procs.stop_all([j.proc for j in jobs])
        with self._lock:
            fds, self._wake_fds = self._wake_fds, ()
        for fd in fds:
            os.close(fd)

    # -- the dispatcher thread

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
            try:
                self._reap()
                self._launch()
            except Exception:  # noqa: BLE001 - the dispatcher must go on; the next round tries again
                logger.exception("the plan dispatcher hit an error; trying again")
                time.sleep(1)
            with self._lock:
                sentinels = [j.proc.sentinel for j in self._jobs.values() if j.proc.pid is not None]
            ready = wait([self._wake_r, *sentinels], timeout=min(_POLL_S, self.settings.plan_timeout_s))
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)

    def _reap(self) -> None:
        now = time.monotonic()
        with self._lock:
            for plan_id, job in self._jobs.items():  # past the time limit: stopped, then reaped below or next round
                if (not job.timed_out and job.proc.pid is not None and job.proc.is_alive()
                        and now - job.started > self.settings.plan_timeout_s):
                    logger.error("plan %s ran past GRIDPLAN_PLAN_TIMEOUT_S; stopping its process", plan_id)
                    job.timed_out = True
                    job.proc.kill()
            done = {pid: j for pid, j in self._jobs.items() if j.proc.pid is not None and not j.proc.is_alive()}
            for pid in done:
                del self._jobs[pid]
        for plan_id, job in done.items():
            job.proc.join(timeout=5)
            self._ended(plan_id, job.proc.exitcode, timed_out=job.timed_out)

    def _ended(self, plan_id: str, exitcode: int | None, *, timed_out: bool = False) -> None:
        with self.sessions() as s:
            rec = s.get(PlanRecord, plan_id)
            status = rec.status if rec else None
            if status in ("queued", "running"):
                reason = (timeout_reason(self.settings.plan_timeout_s) if timed_out
                          else exit_reason(exitcode, self.settings.plan_memory_bytes))
                logger.error("the process of plan %s ended without an outcome (%s)", plan_id,
                             procs.exit_description(exitcode))
                s.execute(update(PlanRecord).where(PlanRecord.id == plan_id, PlanRecord.status.in_(("queued", "running")))
                          .values(status="failed", finished_at=utcnow(), stage=None, reason=reason))
                s.commit()
                status = "failed"
        if status in (None, "failed"):  # deleted, or failed: no folder stays
            shutil.rmtree(self.layout.plan_root(plan_id), ignore_errors=True)
        shutil.rmtree(plan_tmp(self.layout, plan_id), ignore_errors=True)

    def _launch(self) -> None:
        with self._lock:
            free = self.workers - len(self._jobs)
            busy = set(self._jobs)
        if free <= 0:
            return
        with self.sessions() as s:
            queued = list(s.scalars(select(PlanRecord).where(PlanRecord.status == "queued")
                                    .order_by(PlanRecord.created_at, PlanRecord.id).limit(free + len(busy))))
            datasets = {d.id: d for d in s.scalars(select(DatasetRecord).where(
                DatasetRecord.id.in_({r.dataset_id for r in queued})))}
        for rec in [r for r in queued if r.id not in busy][:free]:
            ds = datasets.get(rec.dataset_id)
            if ds is None:
                self._fail_queued(rec.id, f"its dataset {rec.dataset_id!r} no longer exists; upload it again and submit "
                                          "the plan again")
                continue
            self._start(rec, ds)

    def _fail_queued(self, plan_id: str, reason: str) -> None:
        with self.sessions() as s:
            s.execute(update(PlanRecord).where(PlanRecord.id == plan_id, PlanRecord.status == "queued")
                      .values(status="failed", finished_at=utcnow(), reason=reason))
            s.commit()

    def _start(self, rec: PlanRecord, ds: DatasetRecord) -> None:
        spec = JobSpec(plan_id=rec.id, database_url=self.url, data_dir=str(self.layout.root),
                       dataset_dir=str(self.layout.dataset(ds.id)), files=ds.files, options=ds.options,
                       parameters=rec.parameters, out_dir=str(self.layout.plan_dir(rec.id)),
                       max_uncompressed=self.settings.max_uncompressed_bytes)
        limits = procs.Limits(memory_bytes=self.settings.plan_memory_bytes,
                              tmpdir=str(plan_tmp(self.layout, rec.id)))
        proc = procs.context().Process(target=plan_child, args=(spec, limits), name=f"gridplan-plan-{rec.id}",
                                       daemon=True)
        with self._lock:
            if self._closed:
                return
            self._jobs[rec.id] = _Job(proc, time.monotonic())
        try:
            self.launcher.start(proc)
        except Exception:
            with self._lock:
                self._jobs.pop(rec.id, None)
            raise
        logger.info("plan %s started in process %d", rec.id, proc.pid)
