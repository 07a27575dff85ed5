"""The layer cache: a memory budget, LRU eviction, one load per key under concurrent misses, STRtree bbox reads
equal to a brute-force intersects, and layers larger than the budget still served."""
from __future__ import annotations

import gc
import json
import threading
import time
import tracemalloc

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings, strategies as st
from servicekit import check
from shapely.geometry import shape

from api import Settings
from api import models as m
from api.common import GeoJSONResponse
from api.results import Layer, ResultCache
from api.service import Service


def square_layer(n: int, *, x0: float = 118.0, size: float = 0.001, code0: int = 0) -> dict:
    """``n`` squares in a row (a triangle every third, a multipolygon every fifth), each with a code."""
    feats = []
    for i in range(n):
        x = x0 + i * size
        ring = [[x, 32.0], [x + size, 32.0], [x + size, 32.0 + size], [x, 32.0 + size], [x, 32.0]]
        if i % 3 == 0:
            ring = [[x, 32.0], [x + size, 32.0], [x, 32.0 + size], [x, 32.0]]
        geom = {"type": "Polygon", "coordinates": [ring]}
        if i % 5 == 0:
            geom = {"type": "MultiPolygon", "coordinates": [[ring]]}
        feats.append({"type": "Feature", "properties": {"code": f"{code0 + i:015d}", "households": 300 + i, "name": f"网格{i}"},
                      "geometry": geom})
    return {"type": "FeatureCollection", "features": feats}


def write_layers(tmp_path, count: int, n: int = 50) -> list:
    paths = []
    for k in range(count):
        p = tmp_path / f"plan{k}" / "grids.geojson"
        p.parent.mkdir()
        p.write_text(json.dumps(square_layer(n + k, code0=k * 1000)), encoding="utf-8")
        paths.append(p)
    return paths


def kept_bytes(cache: ResultCache) -> int:
    return sum(v.nbytes for _, v in cache._items.values())


def test_the_budget_holds_over_many_layers(tmp_path):
    paths = write_layers(tmp_path, 30)
    one = Layer.read(paths[0]).nbytes
    cache = ResultCache(max_bytes=int(4.5 * one))
    order = [k * 7 % 30 for k in range(90)]  # revisits, misses and hits mixed
    for k in order:
        layer = cache.layer(f"plan{k}", paths[k])
        assert len(layer) == 50 + k
        assert cache.nbytes == kept_bytes(cache) <= cache.max_bytes
    assert 1 <= len(cache) <= 4  # a count bound of 16 would have kept 16 of them


def _malloc_in_use():
    """Bytes glibc's malloc has handed out (GEOS allocates there, out of tracemalloc's sight); None elsewhere."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return None
    return lambda: libc.mallinfo2().uordblks + libc.mallinfo2().hblkhd


def test_the_estimate_covers_what_a_layer_holds(tmp_path):
    path = write_layers(tmp_path, 1, n=5000)[0]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        layer = Layer.read(path)
        gc.collect()
        python_heap = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    geos = 16 * int(shapely.get_num_coordinates(layer.geoms).sum())  # at least its coordinates
    in_use = _malloc_in_use()
    if in_use is not None:  # measure GEOS: the same geometries and tree built again
        feats = json.loads(path.read_bytes())["features"]
        gc.collect()
        start = in_use()
        again = shapely.STRtree(np.array([shape(f["geometry"]) for f in feats], dtype=object))
        again.query(shapely.box(0, 0, 1, 1))  # the tree is built on first use
        geos = max(geos, in_use() - start)
    assert python_heap > 0
    assert layer.nbytes >= python_heap + geos
    assert layer.nbytes < 3 * (python_heap + geos)  # an estimate, not a wild guess


def test_the_least_recently_read_goes_first(tmp_path):
    a, b, c, d = write_layers(tmp_path, 4)
    sizes = [Layer.read(p).nbytes for p in (a, b, c)]
    cache = ResultCache(max_bytes=sum(sizes) + 10)
    for p in (a, b, c):
        cache.layer(p.parent.name, p)
    cache.layer("plan0", a)  # a is now the most recent
    cache.layer("plan3", d)  # d is larger than any: b goes (and c if need be)
    keys = [k[1] for k in cache.keys()]
    assert "plan1" not in keys and keys[-2:] == ["plan0", "plan3"]
    assert cache.nbytes == kept_bytes(cache) <= cache.max_bytes
    cache.forget("plan0")
    assert "plan0" not in [k[1] for k in cache.keys()] and cache.nbytes == kept_bytes(cache)


def test_concurrent_misses_load_once(tmp_path, monkeypatch):
    path = write_layers(tmp_path, 1)[0]
    calls = []
    read = Layer.read

    def slow_read(p):
        calls.append(p)
        time.sleep(0.2)  # long enough that every thread misses while the first loads
        return read(p)

    monkeypatch.setattr(Layer, "read", staticmethod(slow_read))
    cache = ResultCache()
    start = threading.Barrier(16)
    got = []

    def reader():
        start.wait()
        got.append(cache.layer("plan0", path))

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and cache.loads == 1
    assert len(got) == 16 and all(g is got[0] for g in got)


def test_a_failed_load_is_not_kept_and_is_retried(tmp_path):
    path = tmp_path / "grids.geojson"
    path.write_text("{not json", encoding="utf-8")
    cache = ResultCache()
    with pytest.raises(json.JSONDecodeError):
        cache.layer("p", path)
    assert len(cache) == 0
    path.write_text(json.dumps(square_layer(3)), encoding="utf-8")
    assert len(cache.layer("p", path)) == 3


def test_a_changed_file_is_read_again(tmp_path):
    path = write_layers(tmp_path, 1, n=5)[0]
    cache = ResultCache()
    assert len(cache.layer("plan0", path)) == 5
    path.write_text(json.dumps(square_layer(7)), encoding="utf-8")
    assert len(cache.layer("plan0", path)) == 7 and len(cache) == 1 and cache.nbytes == kept_bytes(cache)


def test_a_layer_larger_than_the_budget_is_served_not_kept(tmp_path):
    path = write_layers(tmp_path, 1)[0]
    cache = ResultCache(max_bytes=1000)
    layer = cache.layer("plan0", path)
    assert len(layer.select(bbox=(118.0, 32.0, 118.0105, 32.0005))) == 11
    assert len(cache) == 0 and cache.nbytes == 0
    cache.layer("plan0", path)
    assert cache.loads == 2


def test_the_setting_sets_the_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDPLAN_LAYER_CACHE_MB", "3")
    assert Service(Settings(data_dir=tmp_path)).cache.max_bytes == 3 * 1024**2
    assert Service(Settings(data_dir=tmp_path, layer_cache_mb=0)).cache.max_bytes == 0


def test_paging_and_counting(tmp_path):
    layer = Layer.from_geojson(square_layer(40))
    box = (118.0035, 32.0, 118.0305, 32.001)
    every = layer.select(bbox=box)
    assert layer.count(bbox=box) == len(every) == 28
    assert layer.select(bbox=box, offset=5, limit=10) == every[5:15]
    assert layer.select(bbox=box, offset=25, limit=10) == every[25:]
    assert layer.select(offset=39) == [square_layer(40)["features"][39]]
    with pytest.raises(ValueError):
        layer.select(offset=-1)
    assert layer.count(code=f"{7:015d}", bbox=box) == 1 and layer.count(code=f"{1:015d}", bbox=box) == 0


@pytest.fixture(scope="module")
def sample_grids(client, done_plan) -> dict:
    return client.get(f"/v1/plans/{done_plan.id}/micro_grids").json()


@pytest.fixture(scope="module")
def sample_layer(sample_grids) -> Layer:
    return Layer.from_geojson(sample_grids)


def boxes(fc: dict):
    b = shapely.bounds(shapely.union_all([shape(f["geometry"]).envelope for f in fc["features"]]))
    pad_x, pad_y = (b[2] - b[0]) * 0.1, (b[3] - b[1]) * 0.1
    x = st.floats(b[0] - pad_x, b[2] + pad_x)
    y = st.floats(b[1] - pad_y, b[3] + pad_y)
    return st.tuples(x, y, x, y).map(lambda t: (min(t[0], t[2]), min(t[1], t[3]), max(t[0], t[2]), max(t[1], t[3])))


def test_bbox_reads_equal_a_brute_force_intersects(sample_grids, sample_layer):
    feats = sample_grids["features"]
    geoms = [shape(f["geometry"]) for f in feats]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(boxes(sample_grids))
    def check_box(box):
        expected = [f for f, g in zip(feats, geoms) if g.intersects(shapely.box(*box))]
        assert sample_layer.select(bbox=box) == expected
        assert sample_layer.count(bbox=box) == len(expected)
        assert sample_layer.geojson(bbox=box) == GeoJSONResponse({"type": "FeatureCollection", "features": expected}).body

    check_box()


def test_the_endpoint_answers_the_brute_force_features(client, done_plan, sample_grids, monkeypatch):
    feats = sample_grids["features"]
    xs = [x for f in feats for x, _ in f["geometry"]["coordinates"][0]]
    ys = [y for f in feats for _, y in f["geometry"]["coordinates"][0]]
    mx, my = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    box = (min(xs), min(ys), mx, my)
    expected = [f for f in feats if shape(f["geometry"]).intersects(shapely.box(*box))]
    assert 0 < len(expected) < len(feats)
    params = {"bbox": ",".join(f"{v:.7f}" for v in box)}
    box = tuple(float(v) for v in params["bbox"].split(","))
    expected = [f for f in feats if shape(f["geometry"]).intersects(shapely.box(*box))]
    for budget in (256 * 1024**2, 0):  # kept, then too large for the budget: the same answer
        monkeypatch.setattr(client.app.state.service, "cache", ResultCache(max_bytes=budget))
        resp = client.get(f"/v1/plans/{done_plan.id}/micro_grids", params=params)
        assert check(resp, 200, m.FeatureCollection) and resp.json() == {"type": "FeatureCollection", "features": expected}
        assert resp.headers["content-type"].startswith("application/geo+json")
        assert len(client.app.state.service.cache) == (1 if budget else 0)
