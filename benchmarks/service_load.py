"""Load figure of the service: requests per second for grid GeoJSON reads, idle and while a plan runs.

Run from the repository root (loopback only; bounded: each phase lasts at most ``--seconds``)::

    .venv/bin/python benchmarks/service_load.py [--seconds 10] [--clients 4] [--workers 1]

It starts ``gridplan serve`` on a free port of 127.0.0.1 with a temporary data directory, plans a small
district (3,000 households) to have grids to read, then measures ``GET /v1/plans/{id}/grids`` (the whole
layer, served from its file) and ``GET /v1/plans/{id}/grids?bbox=…`` (filtered from the parsed layer)
from ``--clients`` threads: first with nothing else running, then while the bundled sample district
(60,000 households, ~11 s of CPU) is planned in a worker process. The table is printed and written to
``benchmarks/results/service_load.md``.
"""
from __future__ import annotations

import argparse
import os
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
OUT = REPO / "benchmarks" / "results" / "service_load.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _upload(c: httpx.Client, buildings: Path, barriers: Path) -> str:
    with buildings.open("rb") as b, barriers.open("rb") as r:
        resp = c.post("/v1/datasets", files={"buildings": (buildings.name, b), "barriers": (barriers.name, r)})
    resp.raise_for_status()
    return resp.json()["id"]


def _plan(c: httpx.Client, dataset_id: str) -> str:
    resp = c.post("/v1/plans", json={"dataset_id": dataset_id})
    resp.raise_for_status()
    return resp.json()["id"]


def _status(c: httpx.Client, plan_id: str) -> str:
    return c.get(f"/v1/plans/{plan_id}").json()["status"]


def _wait(c: httpx.Client, plan_id: str, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while (status := _status(c, plan_id)) in ("queued", "running"):
        if time.monotonic() > end:
            raise TimeoutError(f"plan {plan_id} still {status} after {timeout:.0f} s")
        time.sleep(0.2)
    if status != "done":
        raise RuntimeError(f"plan {plan_id} {status}")


def _hammer(base: str, path: str, clients: int, seconds: float, until=None) -> dict:
    """``clients`` threads GET ``path`` for ``seconds`` (or until ``until()`` is false): rate and latencies."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        mine, bad = [], 0
        with httpx.Client(base_url=base, timeout=30) as c:
            while time.monotonic() < stop and (until is None or until()):
                t = time.perf_counter()
                r = c.get(path)
                mine.append(time.perf_counter() - t)
                bad += r.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    lat = sorted(latencies) or [float("nan")]
    return {"requests": len(latencies), "errors": errors, "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": 1000 * statistics.median(lat), "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase (at most 60)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads (at most 32)")
    ap.add_argument("--workers", type=int, default=1, help="GRIDPLAN_WORKERS of the server")
    args = ap.parse_args(argv)
    seconds, clients = min(args.seconds, 60.0), max(1, min(args.clients, 32))

    from gridplan.sample import make_district, sample_path

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="gridplan-load-") as tmp:
        tmp = Path(tmp)
        d = make_district(households=3000, communities=1)
        d.buildings.to_file(tmp / "small_buildings.gpkg")
        d.roads.to_file(tmp / "small_roads.gpkg")
        env = {**os.environ, "GRIDPLAN_DATA_DIR": str(tmp / "data"), "GRIDPLAN_WORKERS": str(args.workers)}
        env.pop("GRIDPLAN_DATABASE_URL", None)
        server = subprocess.Popen([sys.executable, "-c", "from gridplan.cli import main; main()", "serve", "--host",
                                   "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=base, timeout=60) as c:
                end = time.monotonic() + 60
                while True:
                    try:
                        if c.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        if time.monotonic() > end:
                            raise
                    time.sleep(0.2)
                small = _plan(c, _upload(c, tmp / "small_buildings.gpkg", tmp / "small_roads.gpkg"))
                _wait(c, small)
                big_ds = _upload(c, sample_path("buildings"), sample_path("roads"))
                grids = c.get(f"/v1/plans/{small}/grids")
                xs = [x for f in grids.json()["features"] for x, _ in f["geometry"]["coordinates"][0]]
                ys = [y for f in grids.json()["features"] for _, y in f["geometry"]["coordinates"][0]]
                bbox = f"{min(xs)},{min(ys)},{(min(xs) + max(xs)) / 2},{(min(ys) + max(ys)) / 2}"
                paths = {"grids (whole layer)": f"/v1/plans/{small}/grids",
                         "grids?bbox= (filtered)": f"/v1/plans/{small}/grids?bbox={bbox}"}
                rows = []
                for name, path in paths.items():
                    rows.append(("idle", name, _hammer(base, path, clients, seconds)))
                for name, path in paths.items():
                    big = _plan(c, big_ds)
                    while _status(c, big) == "queued":
                        time.sleep(0.05)
                    status = {"running": True}

                    def running(plan_id=big) -> bool:
                        return status["running"]

                    def watch(plan_id=big) -> None:
                        with httpx.Client(base_url=base, timeout=30) as w:
                            while status["running"]:
                                status["running"] = _status(w, plan_id) == "running"
                                time.sleep(0.2)

                    watcher = threading.Thread(target=watch)
                    watcher.start()
                    rows.append(("while a 60k-household plan runs", name, _hammer(base, path, clients, seconds, running)))
                    status["running"] = False
                    watcher.join()
                    _wait(c, big)
                size = len(grids.content)
        finally:
            server.terminate()
            server.wait(timeout=30)
    lines = [
        f"Service load ({clients} client threads, {args.workers} worker, loopback, {os.cpu_count()} CPUs; "
        f"grids layer {size:,} bytes, 10 grids)", "",
        "| phase | request | requests | req/s | p50 ms | p95 ms | errors |", "|---|---|---|---|---|---|---|",
    ]
    for phase, name, r in rows:
        lines.append(f"| {phase} | {name} | {r['requests']:,} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['errors']} |")
    text = "\n".join(lines)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
