"""How long each stage of a service plan takes: the weights of :data:`api.progress.PLAN_STAGES`.

Runs a plan as the service's worker does (read the files, plan with a progress callback, validate, write)
and prints the seconds and share of each stage, the stage boundaries being those the service's progress
sees: ``reading`` until the first ``cells`` step, ``cells`` until its last block, ``communities`` (graph,
communities) until the first ``grids`` step, ``grids``, ``micro-grids`` until its last scope, ``assembling``
(polygons, codes, report) and ``writing`` (validation and files). Usage::

    python benchmarks/plan_stages.py                # the bundled sample (60,030 households)
    python benchmarks/plan_stages.py --households 30000
    python benchmarks/plan_stages.py --replan       # a re-plan's stages (replan_of): reading, cells, rebalancing, writing
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


class _Clock:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.totals: dict[str, int] = {}

    def total(self, stage: str, n: int) -> None:
        self.totals[stage] = self.totals.get(stage, 0) + int(n)
        self.first.setdefault(stage, time.perf_counter() - self.t0)

    def __call__(self, stage: str, n: int) -> None:
        now = time.perf_counter() - self.t0
        self.first.setdefault(stage, now)
        self.last[stage] = now


def measure(files: dict[str, Path], **params) -> dict[str, float]:
    from gridplan.inputs.io import read_layer
    from gridplan.outputs.rules import validation_report
    from gridplan.planning.plan import plan

    clock = _Clock()
    b, r = read_layer(files["buildings"]), read_layer(files["barriers"])
    p = plan(b, r, None, progress=clock, **params)
    planned = time.perf_counter() - clock.t0
    with tempfile.TemporaryDirectory() as d:
        validation_report(p)
        p.write(Path(d) / "plan")
    end = time.perf_counter() - clock.t0
    f, la = clock.first, clock.last
    marks = {"reading": (0, f["cells"]), "cells": (f["cells"], la["cells"]), "communities": (la["cells"], f["grids"]),
             "grids": (f["grids"], la["grids"]), "micro-grids": (la["grids"], la["micro-grids"]),
             "assembling": (la["micro-grids"], planned), "writing": (planned, end)}
    return {k: round(b - a, 2) for k, (a, b) in marks.items()}


def measure_replan(files: dict[str, Path], **params) -> dict[str, float]:
    """A plan of ``files``, then (timed) its re-plan after three buildings gained 150 households each."""
    from gridplan.inputs.io import read_layer
    from gridplan.outputs.rules import validation_report
    from gridplan.planning.diff import write_with_changes
    from gridplan.planning.plan import plan
    from gridplan.planning.replan import replan

    b, r = read_layer(files["buildings"]), read_layer(files["barriers"])
    prev = plan(b, r, None, **params)
    with tempfile.TemporaryDirectory() as d:
        prev.write(Path(d) / "prev")
        changed = b.copy()
        rows = changed.index[changed["households"] > 0][:3]
        changed.loc[rows, "households"] += 150  # three buildings gain 150 households each
        path = Path(d) / "changed.gpkg"
        changed.to_file(path)
        clock = _Clock()
        from gridplan.outputs.reader import read_plan

        previous = read_plan(Path(d) / "prev")
        res = replan(previous, read_layer(path), progress=clock, start_date="2026-06-01")
        planned = time.perf_counter() - clock.t0
        write_with_changes(res.plan, res.changes, Path(d) / "new", compare=previous)
        validation_report(res.plan)
        end = time.perf_counter() - clock.t0
    f, la = clock.first, clock.last
    marks = {"reading": (0, f["cells"]), "cells": (f["cells"], la["cells"]), "rebalancing": (la["cells"], planned),
             "writing": (planned, end)}
    return {k: round(b - a, 2) for k, (a, b) in marks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=None, help="a generated district of this size (default: the bundled sample)")
    ap.add_argument("--replan", action="store_true", help="time a re-plan (the stages of a plan with replan_of)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.households:
            from gridplan.sample import make_district

            d = make_district(households=args.households, communities=1)
            files = {"buildings": Path(tmp) / "b.gpkg", "barriers": Path(tmp) / "r.gpkg"}
            d.buildings.to_file(files["buildings"])
            d.roads.to_file(files["barriers"])
        else:
            from gridplan.sample import sample_path

            files = {"buildings": sample_path("buildings"), "barriers": sample_path("roads")}
        secs = (measure_replan if args.replan else measure)(files, seed=0, start_date="2026-01-01")
    total = sum(secs.values())
    print(json.dumps({"seconds": secs, "total_s": round(total, 2),
                      "share": {k: round(v / total, 3) for k, v in secs.items()}}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
