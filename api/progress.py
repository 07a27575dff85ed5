"""A plan's progress as the client sees it: named stages, each weighted by its share of the time, and a fraction.

The library reports ``progress(stage, n)`` (``n`` more steps of ``stage``) and, for the stages it can count,
``progress.total(stage, n)`` first (:mod:`gridplan.cli.progress`). :class:`Tracker` (in the plan's process)
turns those calls into the service's stages, including the ones the library does not report: a stage the
library counts ends when its last step is done, and the next one (building the graph and the communities,
assembling the polygons) begins. :func:`progress_of` (in the server) turns what the tracker recorded (stage,
steps, total) into a :class:`~api.models.Progress` whose ``fraction`` is the weights of the stages done plus
the running stage's weight × its steps / total (or, for a stage the library does not count, × a share that grows
with the time spent in it): it never goes back, and moves within every stage.

The weights are the shares of the wall-clock time measured by ``benchmarks/plan_stages.py`` on the bundled
sample (60,030 households: 26.5 s) and on a 30,000-household ``make_district`` (18.4 s), averaged and rounded.

Examples
--------
>>> p = progress_of("plan", "grids", 5, 10)
>>> p.fraction, [s.status for s in p.stages][:5]
(0.295, ['done', 'done', 'done', 'running', 'pending'])
>>> progress_of("plan", "writing", 0, None, before=34.0, inside=16.0).fraction  # expected 16 s: 63 % of 0.32
0.882
>>> t = Tracker("plan")
>>> t.total("cells", 2); t("cells", 1); (t.stage, t.steps, t.total_steps)
('cells', 1, 2)
>>> t("cells", 1); t.stage  # the last block is cut: the graph and the communities are being built
'communities'
>>> t("cells", 1); t.stage  # never back to an earlier stage
'communities'
"""
from __future__ import annotations

import math

from . import models as m

__all__ = ["STAGES", "WEIGHTS", "kind_of", "progress_of", "Tracker", "FIRST_STAGE"]

#: per kind of plan, its stages in order with their share of the time (sums to 1)
WEIGHTS: dict[str, tuple[tuple[str, float], ...]] = {
    # measured (s, bundled sample / 30,000 households): reading 1.1/1.1, cells 2.7/1.6, communities 2.9/1.5,
    # grids 2.8/2.7, micro-grids 4.8/2.9, assembling 4.8/2.1, writing 7.5/6.5
    "plan": (("reading", 0.05), ("cells", 0.09), ("communities", 0.09), ("grids", 0.13), ("micro-grids", 0.17),
             ("assembling", 0.15), ("writing", 0.32)),
    # a re-plan cuts cells along the previous plan's lines, then rebalances only the units that fell out of
    # range (communities, grids, micro-grids, polygons, the change list: one stage the library does not count);
    # measured with `plan_stages.py --replan` (s, 3,000 / 30,000 households): reading 0.9/2.1, cells 0.05/0.7,
    # rebalancing 1.7/4.6, writing (plan, change list, map) 5.4/6.3
    "replan": (("reading", 0.13), ("cells", 0.03), ("rebalancing", 0.27), ("writing", 0.57)),
}
STAGES: dict[str, tuple[str, ...]] = {kind: tuple(s for s, _ in w) for kind, w in WEIGHTS.items()}
FIRST_STAGE = "reading"
#: a counted stage whose last step is done hands over to the stage after it (not reported by the library)
_AFTER_LAST_STEP = {"cells", "micro-grids"}


def kind_of(parameters: dict | None) -> str:
    """``'replan'`` for a plan with ``replan_of``, else ``'plan'`` (re-districting plans have the plan's stages)."""
    return "replan" if (parameters or {}).get("replan_of") else "plan"


def progress_of(kind: str, stage: str | None, steps: int, total: int | None, *, before: float | None = None,
                inside: float | None = None) -> m.Progress:
    """The progress of a running plan of ``kind`` in ``stage`` with ``steps`` done of ``total`` (None: not counted).

    A counted stage moves by its steps. A stage the library does not count (graph and communities, assembling,
    writing) moves by time: ``before`` seconds of the plan went by before it began and ``inside`` seconds since,
    so it is expected to take ``before`` × its weight / the weights done, and its share done is
    ``1 - exp(-inside / expected)``: 63 % at the expected time, never 100 % until the next stage begins.
    """
    weights = WEIGHTS[kind]
    names = STAGES[kind]
    i = names.index(stage) if stage in names else 0
    done = sum(w for _, w in weights[:i])
    if total:
        within = min(1.0, steps / total)
    elif before and inside and done > 0:
        within = 1.0 - math.exp(-max(0.0, inside) / (before * weights[i][1] / done))
    else:
        within = 0.0
    fraction = done + weights[i][1] * within
    stages = [m.StageProgress(name=n, status="done" if k < i else "running" if k == i else "pending", weight=w)
              for k, (n, w) in enumerate(weights)]
    return m.Progress(stage=names[i], steps=int(steps or 0), total=total, fraction=round(min(1.0, fraction), 3),
                      stages=stages)


class Tracker:
    """The library's ``progress`` callback, as the service's stages: ``stage``, ``steps`` and ``total_steps``
    (None when the stage is not counted). A call about an earlier stage than the current one is ignored, so
    the fraction never goes back."""

    def __init__(self, kind: str):
        self.names = STAGES[kind]
        self.stage, self.steps, self.total_steps = FIRST_STAGE, 0, None

    def _enter(self, stage: str) -> bool:
        """Move to ``stage`` (True), or False when it is unknown or before the current one."""
        if stage not in self.names or self.names.index(stage) < self.names.index(self.stage):
            return False
        if stage != self.stage:
            self.stage, self.steps, self.total_steps = stage, 0, None
        return True

    def total(self, stage: str, n: int) -> None:
        """``stage`` has ``n`` steps (called before its first step)."""
        if self._enter(stage):
            self.total_steps = int(n)

    def __call__(self, stage: str, n: int) -> None:
        """``n`` more steps of ``stage`` are done."""
        if not self._enter(stage):
            return
        self.steps += int(n)
        if stage in _AFTER_LAST_STEP and self.total_steps is not None and self.steps >= self.total_steps:
            i = self.names.index(stage)
            if i + 1 < len(self.names):
                self.stage, self.steps, self.total_steps = self.names[i + 1], 0, None

    def begin(self, stage: str) -> None:
        """The service's own stages (writing): ``stage`` begins now."""
        self._enter(stage)
