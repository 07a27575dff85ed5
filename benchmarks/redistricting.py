"""Benchmark re-districting: the joint redraw against the per-community split (``joint=False``).

Run from the repository root::

    .venv/bin/python benchmarks/redistricting.py [--cases sample,district] [--out FILE.md]

Cases: ``sample`` (``sample_geo``: 1,390 buildings, 60,030 households, 24 old communities) and
``district`` (``make_district(households=78000, communities=24)``, the case of issue 13: 77,939
households, 11 old communities above 3,000) and ``district-1`` (the same with ``seed=1``: 78,034 households,
12 above 3,000, where the per-community split cannot reach 35). Each is re-districted with ``gridplan.redistrict`` (three levels, seed 0) at
the counts below, jointly and with each oversized community split on its own. Columns: communities
after (new ones), households kept with their old community (in the new community holding most of it),
households moved, communities in range, seconds of ``redistrict`` (after one untimed warm-up run). The table is printed to stdout and
written only with ``--out``.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from gridplan.errors import InfeasibleError
from gridplan.planning.redistrict import redistrict
from gridplan.sample import make_district, sample_path

#: case → (buildings, barriers, communities loader, counts asked)
CASES = {
    "sample": (lambda: (sample_path("buildings"), sample_path("roads"), sample_path("communities")), (35,)),
    "district": (lambda: (lambda d: (d.buildings, d.roads, d.communities))(make_district(households=78000, communities=24)), (35, 36)),
    "district-1": (lambda: (lambda d: (d.buildings, d.roads, d.communities))(make_district(households=78000, communities=24, seed=1)), (35,)),
}
HEADER = ("| case | count | method | communities (new) | households kept (core) | households moved | in range | seconds |\n"
          "|---|---|---|---|---|---|---|---|")


def row(case: str, layers: tuple, count: int, joint: bool) -> str:
    """One markdown row: ``redistrict`` of ``layers`` at ``count``, jointly or each community alone."""
    method = "joint" if joint else "each alone"
    t = time.perf_counter()
    try:
        r = redistrict(*layers, count=count, joint=joint, seed=0, start_date="2026-01-01")
    except InfeasibleError as exc:
        feasible = re.search(r"feasible totals are (\S+)", str(exc))
        return f"| {case} | {count} | {method} | refused (feasible: {feasible.group(1) if feasible else exc}) | – | – | – | {time.perf_counter() - t:.1f} |"
    secs = time.perf_counter() - t
    c, info = r.plan.communities, r.plan.report["redistricting"]
    core = info["core"]
    return (f"| {case} | {count} | {method} | {len(c)} ({len(c) - len(info['kept'])}) | {core['households_kept']:,} ({core['overall']:.1%}) | "
            f"{core['households_moved']:,} | {c['in_range'].mean():.0%} | {secs:.1f} |")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"--cases had {', '.join(unknown)}; expected some of {', '.join(CASES)}")
    lines = [HEADER]
    warm = make_district(households=6000, communities=2)  # imports and first calls, outside the timings
    redistrict(warm.buildings, warm.roads, warm.communities, seed=0, start_date="2026-01-01")
    for name in names:
        load, counts = CASES[name]
        layers = load()
        for count in counts:
            for joint in (True, False):
                lines.append(row(name, layers, count, joint))
                print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    main()
