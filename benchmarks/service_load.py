"""Load figures of the service: GeoJSON reads per second for 1, 4 and 16 clients, idle and while two plans run.

Run from the repository root (loopback only; bounded: each phase lasts at most ``--seconds``)::

    .venv/bin/python benchmarks/service_load.py [--seconds 5] [--city] [--server-repo DIR] [--label NAME]

It starts ``gridplan serve`` on a free port of 127.0.0.1 (``GRIDPLAN_AUTH=off``, two plan workers) and
plans 8 small districts (3,000 households each: 8 × 3 levels = 24 layers). With ``--city`` it also plans the
1,000,000-household generated city (``benchmarks/bench_cases.py`` CITY_HOUSEHOLDS, a few minutes); that
server's data directory is kept in ``benchmarks/.cache/service_load_city`` so that a re-run reuses the plans.
Three reads are measured from 1, 4 and 16 client threads:

- ``whole layer``: ``GET /v1/plans/{id}/grids`` (the city's grids with ``--city``), served from its file;
- ``bbox, one layer``: ``GET /v1/plans/{id}/micro_grids?bbox=…`` over the middle 1/8 × 1/8 of the layer;
- ``bbox, cycling N layers``: each client walks through the bbox reads of every layer (24, 27 with the city),
  the case the old 16-entry cache answered by parsing the file again each time;

first idle, then while two plans of the bundled sample district (60,000 households) run in the two workers
(a thread keeps two in flight). ``--server-repo`` runs the server from another checkout (e.g. ``git archive
main``) for a before/after table. The table is printed and appended to ``benchmarks/results/service_load.md``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "benchmarks"
OUT = HERE / "results" / "service_load.md"
CITY_DIR = HERE / ".cache" / "service_load_city"
CLIENTS = (1, 4, 16)
SMALL_PLANS = 8
LEVELS = ("communities", "grids", "micro_grids")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _upload(c: httpx.Client, buildings: Path, barriers: Path) -> str:
    with buildings.open("rb") as b, barriers.open("rb") as r:
        resp = c.post("/v1/datasets", files={"buildings": (buildings.name, b), "barriers": (barriers.name, r)},
                      timeout=1200)
    if resp.status_code != 201:
        raise RuntimeError(f"upload of {buildings.name}: {resp.status_code} {resp.text[:500]}")
    return resp.json()["id"]


def _plan(c: httpx.Client, dataset_id: str, seed: int = 1) -> str:
    resp = c.post("/v1/plans", json={"dataset_id": dataset_id, "seed": seed})
    if resp.status_code != 202:
        raise RuntimeError(f"plan of {dataset_id}: {resp.status_code} {resp.text[:500]}")
    return resp.json()["id"]


def _status(c: httpx.Client, plan_id: str) -> str:
    resp = c.get(f"/v1/plans/{plan_id}")
    return resp.json()["status"] if resp.status_code == 200 else "missing"


def _wait(c: httpx.Client, plan_ids: list[str], timeout: float) -> None:
    end = time.monotonic() + timeout
    for plan_id in plan_ids:
        while (status := _status(c, plan_id)) in ("queued", "running"):
            if time.monotonic() > end:
                raise TimeoutError(f"plan {plan_id} still {status} after {timeout:.0f} s")
            time.sleep(0.5)
        if status != "done":
            raise RuntimeError(f"plan {plan_id} {status}: {c.get(f'/v1/plans/{plan_id}').text[:500]}")


def _middle_box(c: httpx.Client, plan_id: str, level: str) -> str:
    """The middle 1/8 × 1/8 of a layer's extent, as a bbox parameter (a map view of a few units)."""
    feats = c.get(f"/v1/plans/{plan_id}/{level}", timeout=300).json()["features"]
    xs, ys = [], []
    for f in feats:
        polys = f["geometry"]["coordinates"] if f["geometry"]["type"] == "MultiPolygon" else [f["geometry"]["coordinates"]]
        for poly in polys:
            for x, y in poly[0]:
                xs.append(x)
                ys.append(y)
    cx, cy, hw, hh = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, (max(xs) - min(xs)) / 16, (max(ys) - min(ys)) / 16
    return f"{cx - hw:.6f},{cy - hh:.6f},{cx + hw:.6f},{cy + hh:.6f}"


def _hammer(base: str, paths: list[str], clients: int, seconds: float) -> dict:
    """``clients`` threads GET ``paths`` in turn (each starting at its own place) for ``seconds``; the clock
    starts once every thread has its connection."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    clock: dict[str, float] = {}

    def go() -> None:  # run by one thread once all are ready, before any is released
        clock["start"] = time.monotonic()
        clock["stop"] = clock["start"] + seconds

    ready = threading.Barrier(clients + 1, action=go)

    def worker(k: int) -> None:
        nonlocal errors
        mine, bad, i = [], 0, k * 7
        with httpx.Client(base_url=base, timeout=120) as c:
            c.get("/healthz")
            ready.wait()
            while time.monotonic() < clock["stop"]:
                t = time.perf_counter()
                r = c.get(paths[i % len(paths)])
                mine.append(time.perf_counter() - t)
                bad += r.status_code != 200
                i += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - clock["start"]
    lat = sorted(latencies) or [float("nan")]
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(lat), "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))]}


class Busy:
    """Keeps two plans of a dataset queued or running (resubmitting as they finish) while it is entered."""

    def __init__(self, base: str, dataset_id: str):
        self.base, self.dataset_id = base, dataset_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self.running: list[str] = []
        self.finished = 0

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as c:
            while not self._stop.is_set():
                alive = []
                for p in self.running:
                    if _status(c, p) in ("queued", "running"):
                        alive.append(p)
                    else:
                        self.finished += 1
                self.running = alive
                while len(self.running) < 2:
                    self.running.append(_plan(c, self.dataset_id, seed=100 + self.finished + len(self.running)))
                self._stop.wait(0.3)

    def __enter__(self) -> Busy:
        self._thread.start()
        with httpx.Client(base_url=self.base, timeout=60) as c:
            end = time.monotonic() + 120
            while time.monotonic() < end:  # measure once both run
                if len(self.running) == 2 and all(_status(c, p) == "running" for p in list(self.running)):
                    break
                time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        with httpx.Client(base_url=self.base, timeout=60) as c:
            for p in self.running:
                c.delete(f"/v1/plans/{p}")  # a running plan is cancelled (or left to finish if not supported)


def _start_server(data_dir: Path, server_repo: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GRIDPLAN_DATA_DIR": str(data_dir), "GRIDPLAN_WORKERS": "2", "GRIDPLAN_AUTH": "off",
           "GRIDPLAN_PARSE_TIMEOUT_S": "1800", "GRIDPLAN_MAX_UPLOAD_BYTES": str(2 * 1024**3),
           "GRIDPLAN_PARSE_MEMORY_BYTES": str(6 * 1024**3), "GRIDPLAN_PLAN_MEMORY_BYTES": str(6 * 1024**3),
           "GRIDPLAN_MIN_FREE_BYTES": "0", "GRIDPLAN_MAX_QUEUED_PLANS": "100",
           "PYTHONPATH": str(server_repo)}
    env.pop("GRIDPLAN_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-c", "from gridplan.cli import main; main()", "serve", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=server_repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 120
    with httpx.Client(base_url=base, timeout=10) as c:
        while True:
            try:
                if c.get("/healthz").status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"the server did not start (exit code {proc.poll()})")
            time.sleep(0.3)


def _prepare(c: httpx.Client, work: Path, city: bool, state_file: Path) -> dict:
    """Datasets and finished plans the phases read; reused from ``state_file`` when all are still there."""
    from gridplan.sample import make_district, sample_path

    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    plans = state.get("small", []) + ([state["city"]] if "city" in state else [])
    if plans and (state.get("city") or not city) and all(_status(c, p) == "done" for p in plans) \
            and c.get(f"/v1/datasets/{state.get('busy')}").status_code == 200:
        return state
    d = make_district(households=3000, communities=1)
    d.buildings.to_file(work / "small_buildings.gpkg")
    d.roads.to_file(work / "small_roads.gpkg")
    small_ds = _upload(c, work / "small_buildings.gpkg", work / "small_roads.gpkg")
    state = {"small": [_plan(c, small_ds, seed=s) for s in range(1, SMALL_PLANS + 1)],
             "busy": _upload(c, sample_path("buildings"), sample_path("roads"))}
    if city:
        sys.path.insert(0, str(HERE))
        from bench_cases import CITY_HOUSEHOLDS

        from gridplan.sample import make_city

        t = time.monotonic()
        cty = make_city(CITY_HOUSEHOLDS)
        cty.buildings.to_file(work / "city_buildings.gpkg")
        cty.roads.to_file(work / "city_roads.gpkg")
        print(f"city generated and written in {time.monotonic() - t:.0f} s", file=sys.stderr)
        t = time.monotonic()
        city_ds = _upload(c, work / "city_buildings.gpkg", work / "city_roads.gpkg")
        print(f"city uploaded in {time.monotonic() - t:.0f} s", file=sys.stderr)
        state["city"] = _plan(c, city_ds)
    _wait(c, state["small"] + ([state["city"]] if city else []), timeout=3600)
    state_file.write_text(json.dumps(state))
    return state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each phase (at most 60)")
    ap.add_argument("--city", action="store_true", help="also read the 1,000,000-household city's plan")
    ap.add_argument("--server-repo", type=Path, default=REPO, help="checkout the server runs from (default: this one)")
    ap.add_argument("--label", default="this branch", help="name of the server version in the table")
    args = ap.parse_args(argv)
    seconds = min(args.seconds, 60.0)
    server_repo = args.server_repo.resolve()

    tmp = Path(tempfile.mkdtemp(prefix="gridplan-load-"))
    data_dir = CITY_DIR / "data" if args.city else tmp / "data"
    state_file = (CITY_DIR if args.city else tmp) / "plans.json"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server, base = _start_server(data_dir, server_repo)
    rows = []
    try:
        with httpx.Client(base_url=base, timeout=120) as c:
            state = _prepare(c, tmp, args.city, state_file)
            layers = [(p, lvl) for p in state["small"] + ([state["city"]] if args.city else []) for lvl in LEVELS]
            boxes = {(p, lvl): _middle_box(c, p, lvl) for p, lvl in layers}
            main_plan = state.get("city") if args.city else state["small"][0]
            what = "the city" if args.city else "a 3,000-household district"
            reads = {
                f"whole layer ({what}'s grids)": [f"/v1/plans/{main_plan}/grids"],
                f"bbox, one layer ({what}'s micro-grids)":
                    [f"/v1/plans/{main_plan}/micro_grids?bbox={boxes[(main_plan, 'micro_grids')]}"],
                f"bbox, cycling {len(layers)} layers": [f"/v1/plans/{p}/{lvl}?bbox={boxes[(p, lvl)]}" for p, lvl in layers],
            }
            sizes = {name: len(c.get(paths[0], timeout=300).content) for name, paths in reads.items()}
            for paths in reads.values():  # warm up: each layer read once before any phase
                for p in paths:
                    c.get(p, timeout=300)
            for phase in ("idle", "while two plans run"):
                for name, paths in reads.items():
                    for n in CLIENTS:
                        if phase == "idle":
                            r = _hammer(base, paths, n, seconds)
                        else:
                            with Busy(base, state["busy"]):
                                r = _hammer(base, paths, n, seconds)
                        rows.append((phase, name, n, r))
                        print(phase, name, n, f"{r['rps']:.1f}/s", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    lines = [
        f"### {args.label}: {'the 1,000,000-household city' if args.city else 'small districts'} "
        f"({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)", "",
        f"{os.cpu_count()} CPUs shared with other work (load average {load:.1f} at the end); loopback; 2 plan "
        f"workers; {seconds:g} s per phase; first response of each read: "
        + ", ".join(f"{name.split(' (')[0]} {size:,} bytes" for name, size in sizes.items()), "",
        "| phase | read | clients | requests | req/s | p50 ms | p95 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase, name, n, r in rows:
        lines.append(f"| {phase} | {name} | {n} | {r['requests']:,} | {r['rps']:,.1f} | {r['p50_ms']:.1f} | "
                     f"{r['p95_ms']:.1f} | {r['errors']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("a", encoding="utf-8") as f:
        f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
