"""Review-map size and load time for a whole city: ``python benchmarks/map_size.py [HOUSEHOLDS]``.

Plans ``gridplan.sample.make_city(HOUSEHOLDS)`` (default 200,000), writes the review map, and measures
its size, the time to build it, and the time headless Chromium takes to load and draw it with no
network (until the map marks itself ready), when ``chromium`` is installed (Debian: chromium).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gridplan
from gridplan.outputs.review_map import write_review_map
from gridplan.sample import make_city

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1000"]


def load_seconds(html: Path, work: Path) -> float | None:
    """Wall time for headless Chromium to load, run and dump the page (best of 3), or None without Chromium."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return None
    best = None
    for i in range(3):
        t = time.perf_counter()
        out = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={work / f'profile{i}'}", "--dump-dom", html.as_uri()],
                             capture_output=True, timeout=300, text=True)
        dt = time.perf_counter() - t
        if 'data-gridplan-ready="1"' not in out.stdout:
            raise RuntimeError("the map did not finish drawing")
        best = dt if best is None else min(best, dt)
    return best


def blank_seconds(work: Path) -> float | None:
    """The same for an empty page: Chromium's own start-up, to subtract."""
    page = work / "blank.html"
    page.write_text('<html><body data-gridplan-ready="1"></body></html>')
    return load_seconds(page, work)


def main(households: int = 200_000) -> None:
    work = Path(tempfile.mkdtemp(prefix="gridplan-mapbench-"))
    t = time.perf_counter()
    city = make_city(households)
    plan = gridplan.plan(city.buildings, city.roads, seed=0, start_date="2026-01-01")
    t_plan = time.perf_counter() - t
    print(f"city: {households:,} households, {len(plan.communities)} communities, {len(plan.grids)} grids, "
          f"{len(plan.micro_grids)} micro-grids, {len(plan.buildings):,} roster rows (planned in {t_plan:.0f} s)")
    for label, opts in (("map", {}), ("map --compare (same plan)", {"compare": plan})):
        t = time.perf_counter()
        path = write_review_map(plan, work / "map.html", **opts)
        t_build = time.perf_counter() - t
        size = path.stat().st_size
        load, blank = load_seconds(path, work), blank_seconds(work)
        load_txt = "chromium absent" if load is None else f"{load:.2f} s in headless Chromium ({load - blank:.2f} s over an empty page)"
        print(f"{label}: {size / 1e6:.2f} MB, built in {t_build:.1f} s, loaded and drawn {load_txt}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
