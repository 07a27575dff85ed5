"""Reading a finished plan directory for the API: GeoJSON layers with ``bbox``/``code`` filters, building lookup.

A layer is parsed once and kept in a :class:`ResultCache` bounded by an estimate of the bytes it holds
(``GRIDPLAN_LAYER_CACHE_MB``). Each feature is kept as its compact JSON text (a third to a tenth of the
memory of the parsed dicts) next to its shapely geometry in an STRtree: a ``bbox`` read asks the tree for
the candidates, keeps those whose geometry intersects the box exactly and decodes only those; a ``code``
read is a dict look-up. A layer read with no filter is served straight from its file.

Examples
--------
>>> layer = Layer.from_geojson({"type": "FeatureCollection", "features": [
...     {"type": "Feature", "properties": {"code": "000000000001", "households": 10},
...      "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}}]})
>>> len(layer.select(bbox=(0.5, 0.5, 2, 2))), len(layer.select(bbox=(2, 2, 3, 3))), layer.count(bbox=(1, 1, 2, 2))
(1, 0, 1)
>>> layer.households["000000000001"], layer.select(code="000000000001")[0]["properties"]["households"]
(10, 10)
>>> layer.geojson(bbox=(2, 2, 3, 3))
b'{"type":"FeatureCollection","features":[]}'
"""
from __future__ import annotations

import csv
import json
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

__all__ = ["Layer", "Roster", "ResultCache", "parse_bbox"]

#: Bytes of GEOS memory per geometry beyond its coordinates (the geometry, its rings, envelope, shapely's
#: wrapper object) and per STRtree entry (leaf, envelope, share of the inner nodes): generous figures, so that
#: the estimate stays above what a layer really holds.
GEOMETRY_OVERHEAD = 400
TREE_ENTRY = 96
COORDINATE = 24  # a 2-D GEOS coordinate is 16 bytes (24 with the Z slot GEOS 3.12 keeps for XYZ sequences)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"W,S,E,N"`` in degrees → a tuple; ValueError with the fix when it is not one."""
    parts = text.split(",")
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"`bbox` was {text!r}; expected four numbers W,S,E,N in degrees (lon/lat, EPSG:4326), "
                         "e.g. 118.77,32.03,118.80,32.05") from None
    if not all(np.isfinite([w, s, e, n])) or not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ValueError(f"`bbox` was {text!r}; expected W <= E within -180..180 and S <= N within -90..90")
    return w, s, e, n


def _dumps(obj) -> bytes:
    """Compact UTF-8 JSON, as :class:`api.common.GeoJSONResponse` renders it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _dict_bytes(d: dict, values: bool) -> int:
    """``sys.getsizeof`` of a dict with its (string) keys, and its values when ``values``."""
    return sys.getsizeof(d) + sum(sys.getsizeof(k) + (sys.getsizeof(v) if values else 0) for k, v in d.items())


@dataclass(frozen=True)
class Layer:
    """One level of a plan: each feature's JSON text and geometry, an STRtree over them, codes → position.

    ``index`` maps a unit code to its position in the layer; ``households`` a code to its households;
    ``nbytes`` estimates the memory the layer holds (what :class:`ResultCache` counts against its budget).
    """

    texts: list[bytes]
    geoms: np.ndarray
    tree: shapely.STRtree
    index: dict[str, int]
    households: dict[str, int]
    nbytes: int = field(default=0, compare=False)

    @classmethod
    def from_geojson(cls, fc: dict) -> Layer:
        feats = fc.get("features", [])
        geoms = np.array([shape(f["geometry"]) if f.get("geometry") else shapely.Point() for f in feats], dtype=object)
        codes = [str(f.get("properties", {}).get("code")) for f in feats]
        hh = {c: int(f["properties"].get("households") or 0) for c, f in zip(codes, feats)}
        texts = [_dumps(f) for f in feats]
        index = {c: i for i, c in enumerate(codes)}
        coords = int(shapely.get_num_coordinates(geoms).sum()) if len(geoms) else 0
        nbytes = (sys.getsizeof(texts) + sum(map(sys.getsizeof, texts)) + geoms.nbytes + sys.getsizeof(geoms)
                  + coords * COORDINATE + len(geoms) * (GEOMETRY_OVERHEAD + TREE_ENTRY)
                  + _dict_bytes(index, values=True) + _dict_bytes(hh, values=True) + 1024)
        return cls(texts, geoms, shapely.STRtree(geoms), index, hh, nbytes)

    @classmethod
    def read(cls, path: Path) -> Layer:
        """The layer of a GeoJSON file."""
        return cls.from_geojson(json.loads(path.read_bytes()))

    def __len__(self) -> int:
        return len(self.texts)

    def positions(self, *, bbox: tuple[float, float, float, float] | None = None, code: str | None = None) -> np.ndarray:
        """Positions (ascending, i.e. file order) of the features whose geometry intersects ``bbox`` and whose
        code is ``code`` (each filter optional)."""
        if code is not None:
            idx = np.array([self.index[code]] if code in self.index else [], dtype=np.intp)
            if bbox is not None and len(idx):
                idx = idx[shapely.intersects(self.geoms[idx], shapely.box(*bbox))]
            return idx
        if bbox is None:
            return np.arange(len(self.texts), dtype=np.intp)
        # the tree's envelopes give the candidates, `predicate` keeps those whose geometry truly intersects
        return np.sort(self.tree.query(shapely.box(*bbox), predicate="intersects")).astype(np.intp)

    def count(self, *, bbox: tuple[float, float, float, float] | None = None, code: str | None = None) -> int:
        """How many features :meth:`select` gives with no ``offset``/``limit``."""
        return len(self.positions(bbox=bbox, code=code))

    def _page(self, bbox, code, offset: int, limit: int | None) -> np.ndarray:
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError(f"offset {offset} and limit {limit} must not be negative")
        idx = self.positions(bbox=bbox, code=code)
        return idx[offset:None if limit is None else offset + limit]

    def select(self, *, bbox: tuple[float, float, float, float] | None = None, code: str | None = None,
               offset: int = 0, limit: int | None = None) -> list[dict]:
        """Features (GeoJSON dicts, in file order) whose geometry intersects ``bbox`` and whose code is ``code``
        (each filter optional); ``offset`` and ``limit`` page through them."""
        return [json.loads(self.texts[i]) for i in self._page(bbox, code, offset, limit)]

    def geojson(self, *, bbox: tuple[float, float, float, float] | None = None, code: str | None = None,
                offset: int = 0, limit: int | None = None) -> bytes:
        """The FeatureCollection of :meth:`select` as compact UTF-8 JSON, the bytes ``GeoJSONResponse`` would
        render for it, joined from the kept texts (nothing decoded or encoded again)."""
        feats = b",".join(self.texts[i] for i in self._page(bbox, code, offset, limit))
        return b'{"type":"FeatureCollection","features":[' + feats + b"]}"


@dataclass(frozen=True)
class Roster:
    """``buildings.csv``: rows per building id (several for a building divided by entrance/floor)."""

    rows: dict[str, list[dict]]
    nbytes: int = field(default=0, compare=False)

    @classmethod
    def read(cls, path: Path, id_field: str) -> Roster:
        rows: dict[str, list[dict]] = {}
        size = 0
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                rows.setdefault(str(row.get(id_field, "")), []).append(row)
                size += _dict_bytes(row, values=True) + 8
        size += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in rows.items()) + sys.getsizeof(rows) + 1024
        return cls(rows, size)


class _Loading:
    """A load in progress: the threads that miss the same key wait for the first one's result."""

    def __init__(self, mtime: int):
        self.mtime = mtime
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None
        self.keep = True  # False once the plan is forgotten while it loads


class ResultCache:
    """Parsed layers and rosters of recently read plans, within ``max_bytes`` (least recently used dropped first).

    Thread-safe: the endpoints run in a thread pool, and threads that miss the same key at once wait for one
    load. An entry is keyed by plan and file, and reloaded when its file's modification time changes. A value
    whose estimate (``nbytes``) exceeds the whole budget is returned but not kept.

    >>> cache = ResultCache(max_bytes=10 * 1024**2)
    >>> cache.nbytes, len(cache)
    (0, 0)
    """

    def __init__(self, max_bytes: int = 256 * 1024**2):
        if max_bytes < 0:
            raise ValueError(f"max_bytes {max_bytes} must not be negative")
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.loads = 0  # values loaded (misses), for tests and figures
        self._items: OrderedDict[tuple, tuple[int, object]] = OrderedDict()
        self._loading: dict[tuple, _Loading] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[tuple]:
        """Keys kept, least recently used first."""
        with self._lock:
            return list(self._items)

    def _get(self, key: tuple, path: Path, load):
        mtime = path.stat().st_mtime_ns
        while True:
            with self._lock:
                hit = self._items.get(key)
                if hit and hit[0] == mtime:
                    self._items.move_to_end(key)
                    return hit[1]
                pending = self._loading.get(key)
                mine = pending is None
                if mine:
                    pending = self._loading[key] = _Loading(mtime)
            if not mine:
                pending.done.wait()
                if pending.mtime != mtime:
                    continue  # the file changed while another thread loaded the old one: look again
                if pending.error is not None:
                    raise pending.error
                return pending.value
            try:
                value = load()
            except BaseException as exc:
                with self._lock:
                    del self._loading[key]
                pending.error = exc
                pending.done.set()
                raise
            with self._lock:
                del self._loading[key]
                self.loads += 1
                if pending.keep:
                    self._store(key, mtime, value)
            pending.value = value
            pending.done.set()
            return value

    def _store(self, key: tuple, mtime: int, value) -> None:
        """Keep ``value`` (lock held), dropping the least recently used entries until the budget holds."""
        old = self._items.pop(key, None)
        if old is not None:
            self.nbytes -= old[1].nbytes
        if value.nbytes > self.max_bytes:
            return
        while self._items and self.nbytes + value.nbytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self.nbytes -= dropped.nbytes
        self._items[key] = (mtime, value)
        self.nbytes += value.nbytes

    def layer(self, plan_id: str, path: Path) -> Layer:
        """The parsed layer of a plan's GeoJSON file ``path``."""
        return self._get(("layer", plan_id, path.name), path, lambda: Layer.read(path))

    def roster(self, plan_id: str, path: Path, id_field: str) -> Roster:
        """The parsed roster (``buildings.csv``) of a plan, by building id."""
        return self._get(("roster", plan_id, id_field), path, lambda: Roster.read(path, id_field))

    def forget(self, plan_id: str) -> None:
        """Drop everything kept of a plan (it was deleted)."""
        with self._lock:
            for key in [k for k in self._items if k[1] == plan_id]:
                self.nbytes -= self._items.pop(key)[1].nbytes
            for key, pending in self._loading.items():
                if key[1] == plan_id:
                    pending.keep = False
