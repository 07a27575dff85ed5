"""Benchmark gridplan's grid level against general-purpose peers on the same graph of divisible atoms.

Run from the repository root::

    .venv/bin/python benchmarks/run.py [--cases sample,nanjing,...] [--skip-city] [--timeout 120] [--out FILE.md]
    .venv/bin/python benchmarks/run.py --osm EXTRACT.osm.pbf           # any OSM extract gridplan reads
    .venv/bin/python benchmarks/run.py --buildings B.gpkg --barriers R.gpkg   # any buildings (and barriers) file

For each case the graph is built once with gridplan (buildings → cells → atoms: the entrance/floor parts
of buildings above the micro-grid maximum → adjacency) and gridplan plans the communities once. Every
method then splits each community's atoms into grids (300–500 households, target 400): gridplan, METIS
(contiguous), GerryChain, spopt max-p and weighted k-means (see ``bench_peers.py`` for the calls and the
count rule), each in a forked child under ``--memory-gb`` of address space (RLIMIT_AS) with its own peak
RSS. Below each table: ``gridplan.plan`` (all three levels) in a fresh process under the same limit, its
wall time and peak RSS, and the referee's last line on the written plan. The tables are printed to stdout,
and saved to a file only with ``--out`` (e.g. ``benchmarks/results/latest.md``, git-ignored);
``benchmarks/README.md`` explains the columns.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gridplan  # noqa: E402

from bench_cases import ALL_CASES, SHARED, Case, Source, build_case, load_case, source_options  # noqa: E402
from bench_measure import COLUMNS, GRID, MEMORY_GB, Row, first_problem, fmt, in_child, score, table  # noqa: E402,F401
from bench_peers import METHODS, SLOW  # noqa: E402

HERE = Path(__file__).resolve().parent
CHECKPLAN = SHARED / "tools" / "checkplan.py"
TIMEOUT = 120.0
#: The referee and the pipeline child run with the Python running this script (the project's venv).
PYTHON = sys.executable


def run_method(name: str, case: Case, *, timeout: float | None = TIMEOUT, memory_gb: float | None = MEMORY_GB) -> Row:
    """Run one method on ``case`` in a forked child and score it; failures become a row with the reason in ``note``.

    The child may use ``memory_gb`` of address space; the slow peers (``bench_peers.SLOW``) also ``timeout`` seconds.
    """
    if name not in METHODS:
        raise ValueError(f"`name` was {name!r}; expected one of {', '.join(map(repr, METHODS))}")
    status, payload = in_child(METHODS[name], (case,), timeout if name in SLOW else None, memory_gb)
    if status != "ok":
        return Row(name, note=f"n/a: {payload}")
    (labels, info), secs, mb = payload
    labels = np.asarray(labels, dtype=np.int64)
    figures = score(case.g, case.parent, case.building, case.zone, labels)
    return Row(name, seconds=secs, peak_rss_mb=mb, labels=labels, info=info, **figures)


def _proofs(row: Row) -> str:
    """What gridplan says about its grids out of range, and its share in range where the counting proofs allow."""
    kinds = {k: v for k, v in row.info.get("out_by_proof", {}).items() if v}
    counting = kinds.get("counting", 0)
    allowed = row.units - counting
    share = (round(row.in_range * row.units) / allowed) if allowed else 1.0
    told = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) or "none"
    return (f"gridplan's grids out of range by proof: {told}; in range where the counting proofs allow: {share:.1%} "
            f"({round(row.in_range * row.units):,} of {allowed:,}). Lowest CV the atoms allow (median over communities, "
            f"contiguity ignored): {row.info.get('cv_bound_median', 0.0):.3f}.")


def full_pipeline(source: str | Source, *, check: bool = True, timeout: float = 3600,
                  memory_gb: float | None = MEMORY_GB) -> list[str]:
    """``gridplan.plan`` on one case in a fresh process (bench_pipeline.py); the referee's last line when ``check``."""
    source = source if isinstance(source, Source) else Source.of(case=source)
    with tempfile.TemporaryDirectory(prefix="gridplan-bench-") as tmp:
        cmd = [PYTHON, str(HERE / "bench_pipeline.py"), str(Path(tmp) / "plan"), *source.args()]
        cmd += ["--memory-gb", f"{memory_gb:g}"] if memory_gb is not None else []
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        last = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        if res.returncode or not last:
            return [f"- gridplan.plan: n/a: exit {res.returncode}: {(res.stderr.strip().splitlines() or [''])[-1][:300]}"]
        r = json.loads(last[-1])
        if "skipped" in r or "error" in r:
            return [f"- gridplan.plan: {r.get('skipped') or 'n/a: ' + r['error']}"]
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(r["out_by_kind"].items())) or "none"
        out = [
            f"- gridplan.plan, all three levels: {r['plan_seconds']:.1f} s (load {r['load_seconds']:.1f} s before, write "
            f"{r['write_seconds']:.1f} s after); peak RSS {r['peak_rss_mb']:,.0f} MB (whole process, inputs included); "
            f"{r['communities']:,} communities, {r['grids']:,} grids ({r['grid_in_range']:.1%} in range, CV within community "
            f"{r['grid_cv_median']:.3f}, bound {r['grid_cv_bound_median'] or 0:.3f}; out of range by proof: {kinds}), "
            f"{r['micro_grids']:,} micro-grids ({r['micro_in_range']:.1%} in range); {r['divided_buildings']:,} buildings divided",
        ]
        if check:
            out.append(f"- referee: {referee(Path(r['dir']))}")
    return out


def referee(d: Path) -> str:
    """The referee's last line on the plan written in ``d`` (and its seconds), or why it did not run."""
    if not CHECKPLAN.exists():
        return f"n/a: {CHECKPLAN} not found"
    cmd = [PYTHON, str(CHECKPLAN), "--plan", str(d), "--buildings", str(d / "input_buildings.gpkg")]
    if (d / "input_barriers.gpkg").exists():
        cmd += ["--barriers", str(d / "input_barriers.gpkg")]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    return (f"`{lines[-1].strip()}`" if lines else f"n/a: no output (exit {res.returncode})") + f" ({time.perf_counter() - t0:.0f} s)"


def run_case(source: str | Source, *, methods=tuple(METHODS), timeout: float = TIMEOUT, pipeline: bool = True,
             check: bool = True, memory_gb: float | None = MEMORY_GB) -> str:
    """Everything measured for one case (a built-in name or a :class:`Source`), as markdown."""
    source = source if isinstance(source, Source) else Source.of(case=source)
    name = source.name
    t0 = time.perf_counter()
    try:
        case = load_case(source)
        if isinstance(case, str):
            return f"## {name}\n\n{case}\n"
        load_s = time.perf_counter() - t0
        c = build_case(*case)
    except gridplan.GridplanError as exc:  # the file is refused: say why, as gridplan does
        return f"## {name}\n\nrefused: {first_problem(str(exc))}\n"
    del case
    hh = np.bincount(np.maximum(c.parent, 0), weights=np.where(c.parent >= 0, c.g.households, 0.0))
    head = (
        f"## {name}\n\n{c.buildings:,} buildings, {c.total:,.0f} households; {c.g.n:,} atoms ({c.planner.atoms.n_cells:,} cells), "
        f"{len(c.g.edges):,} edges, {c.zone.max() + 1:,} tier-1 zones; **{c.divided:,} buildings divided** into "
        f"{int((c.building >= 0).sum()):,} atoms. {len(c.scopes):,} communities (gridplan's, {hh.min():,.0f}–{hh.max():,.0f} hh), "
        f"the parents of every method. Load {load_s:.1f} s, graph {c.seconds_graph:.1f} s, communities {c.seconds_communities:.1f} s.\n"
    )
    rows = []
    for m in methods:
        rows.append(run_method(m, c, timeout=timeout, memory_gb=memory_gb))
        print(f"  {name}/{m}: {rows[-1].note or f'{rows[-1].seconds:.1f} s'}", file=sys.stderr, flush=True)
    text = table(rows)
    proofs = [_proofs(r) for r in rows if r.method == "gridplan" and r.note == ""]
    del c, rows  # free the graph before the pipeline's own process starts
    pipe = full_pipeline(source, check=check, memory_gb=memory_gb) if pipeline else []
    return head + "\n" + text + "\n\n" + "\n".join(f"- {p}" for p in proofs) + ("\n" if proofs else "") + "\n".join(pipe) + "\n"


def _sources(ap: argparse.ArgumentParser, a: argparse.Namespace) -> list[Source]:
    """The cases asked for: ``--cases`` (every built-in case when no file is given) and the file given."""
    if a.barriers is not None and a.osm is None and a.buildings is None:
        ap.error("--barriers goes with --buildings FILE (or --osm FILE, to replace the extract's barriers)")
    if a.osm is not None and a.buildings is not None:
        ap.error("give --osm FILE or --buildings FILE, not both")
    names = [c.strip() for c in (a.cases if a.cases is not None else "" if (a.osm or a.buildings) else ",".join(ALL_CASES)).split(",") if c.strip()]
    files = [c for c in names if c not in ALL_CASES and Path(c).exists()]
    if files:
        ap.error(f"--cases takes case names, and {files[0]} is a file: run it with --osm {files[0]} (an OSM extract) "
                 f"or --buildings {files[0]} [--barriers ROADS]")
    if a.skip_city:
        names = [c for c in names if c != "city"]
    out = [Source.of(case=c) for c in names if c in ALL_CASES]
    if a.osm is not None or a.buildings is not None:
        out.append(Source.of(osm=a.osm, buildings=a.buildings, barriers=a.barriers))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", help=f"comma-separated, of: {', '.join(ALL_CASES)} (default: all, or none when a file is given)")
    source_options(ap)
    ap.add_argument("--skip-city", action="store_true", help="leave out the 1,000,000-household generated city")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds allowed to each slow peer (gerrychain, maxp) per case")
    ap.add_argument("--no-pipeline", action="store_true", help="leave out gridplan.plan and the referee")
    ap.add_argument("--no-referee", default="", help="comma-separated cases whose written plan the referee does not check (e.g. city)")
    ap.add_argument("--out", type=Path, help="also save the tables to this markdown file (e.g. benchmarks/results/latest.md)")
    a = ap.parse_args(argv)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    bad = [c.strip() for c in (a.cases or "").split(",") if c.strip() and c.strip() not in ALL_CASES
           and not Path(c.strip()).exists()] + [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"unknown case or method {bad}; cases: {', '.join(ALL_CASES)}; methods: {', '.join(METHODS)}; "
                 "for a file of your own use --osm FILE or --buildings FILE [--barriers FILE]")
    sources = _sources(ap, a)
    for s in sources:
        for p in (s.osm, s.buildings, s.barriers):
            if p is not None and not p.exists():
                ap.error(f"{p}: no such file; check the path")
    no_ref = {c.strip() for c in a.no_referee.split(",") if c.strip()}
    parts = [f"# gridplan benchmarks\n\ngridplan {gridplan.__version__}, Python {sys.version.split()[0]}, grid range {GRID}, "
             f"seed 0, time limit {a.timeout:g} s for slow peers, memory limit {a.memory_gb:g} GB for every run.\n"]
    print(parts[0], flush=True)
    for s in sources:
        parts.append(run_case(s, methods=methods, timeout=a.timeout, pipeline=not a.no_pipeline, check=s.name not in no_ref,
                              memory_gb=a.memory_gb))
        print(parts[-1], flush=True)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text("\n".join(parts), encoding="utf-8")
        print(f"saved {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
