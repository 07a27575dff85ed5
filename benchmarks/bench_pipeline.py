"""gridplan's full pipeline on one case, in a fresh process: wall time, peak RSS, the plan written.

benchmarks/run.py starts it as ``python benchmarks/bench_pipeline.py OUT_DIR --case NAME`` (or ``--osm FILE``,
or ``--buildings FILE [--barriers FILE]``) ``[--memory-gb GB]``; it loads the case, runs
``gridplan.plan(buildings, barriers, seed=0)`` (all three levels) under the memory limit, writes the plan to
``OUT_DIR`` and prints one JSON line: the figures, or ``{"error": ...}`` when the limit is reached or gridplan
refuses the input. ``peak_rss_mb`` is this process's ``ru_maxrss``: it includes reading (or, for the city,
generating) the inputs, so it is what a user running ``gridplan plan`` would see.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gridplan  # noqa: E402

from bench_cases import Source, load_case, source_options  # noqa: E402
from bench_measure import first_problem, limit_memory, over_limit, peak_rss_mb  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="plan directory to write")
    ap.add_argument("--case", help="a built-in case of run.py")
    source_options(ap)
    a = ap.parse_args(argv)
    try:
        source = Source.of(case=a.case, osm=a.osm, buildings=a.buildings, barriers=a.barriers)
    except ValueError as exc:
        ap.error(str(exc))
    limit_memory(a.memory_gb)
    try:
        return _run(source, a.out)
    except MemoryError:
        print(json.dumps({"error": over_limit(a.memory_gb)}))
    except gridplan.GridplanError as exc:  # a refusal: one clear message
        print(json.dumps({"error": f"refused: {first_problem(str(exc))}"}))
    return 0


def _run(source: Source, out: Path) -> int:
    t0 = time.perf_counter()
    case = load_case(source)
    if isinstance(case, str):
        print(json.dumps({"skipped": case}))
        return 0
    buildings, barriers = case
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "households estimated ..." on files without household counts
        plan = gridplan.plan(buildings, barriers, seed=0)
    t2 = time.perf_counter()
    d = Path(plan.write(Path(out), map_html=False))
    t3 = time.perf_counter()
    lv = plan.report["levels"]
    print(json.dumps({
        "load_seconds": t1 - t0, "plan_seconds": t2 - t1, "write_seconds": t3 - t2,
        "peak_rss_mb": peak_rss_mb(),
        "communities": lv["community"]["count"], "grids": lv["grid"]["count"], "micro_grids": lv["micro"]["count"],
        "grid_in_range": lv["grid"]["share_in_range"], "micro_in_range": lv["micro"]["share_in_range"],
        "grid_cv_median": lv["grid"]["cv_within_parent_median"], "grid_cv_bound_median": lv["grid"].get("cv_bound_median"),
        "divided_buildings": len(plan.report["divided_buildings"]),
        "out_by_kind": _kinds(plan.report), "dir": str(d), "buildings": len(plan.buildings),
    }))
    return 0


def _kinds(report: dict) -> dict:
    """Out-of-range grids by the kind of proof the report gives (``out_of_range`` rows of level grid)."""
    kinds: dict[str, int] = {}
    for row in report.get("out_of_range", []):
        if row.get("level") == "grid":
            k = row.get("kind") or ("unexplained" if not row.get("explained_in_infeasible") else "other")
            kinds[k] = kinds.get(k, 0) + 1
    return kinds


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
