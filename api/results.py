"""Reading a finished plan directory for the API: GeoJSON layers with ``bbox``/``code`` filters, building lookup.

Layers are parsed once and kept (a few plans at a time) with each feature's envelope, so a filtered
read costs a scan of floats, not a parse. A layer read with no filter is served straight from its file.

Examples
--------
>>> layer = Layer.from_geojson({"type": "FeatureCollection", "features": [
...     {"type": "Feature", "properties": {"code": "000000000001", "households": 10},
...      "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}}]})
>>> len(layer.select(bbox=(0.5, 0.5, 2, 2))), len(layer.select(bbox=(2, 2, 3, 3)))
(1, 0)
>>> layer.households["000000000001"]
10
"""
from __future__ import annotations

import csv
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

__all__ = ["Layer", "Roster", "ResultCache", "parse_bbox"]


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


@dataclass(frozen=True)
class Layer:
    """One level of a plan: its features, their envelopes and geometries, codes → index."""

    features: list[dict]
    bounds: np.ndarray  # (n, 4)
    geoms: np.ndarray
    index: dict[str, int]
    households: dict[str, int]

    @classmethod
    def from_geojson(cls, fc: dict) -> Layer:
        feats = fc.get("features", [])
        geoms = np.array([shape(f["geometry"]) if f.get("geometry") else shapely.Point() for f in feats], dtype=object)
        bounds = shapely.bounds(geoms) if len(geoms) else np.empty((0, 4))
        codes = [str(f.get("properties", {}).get("code")) for f in feats]
        hh = {c: int(f["properties"].get("households") or 0) for c, f in zip(codes, feats)}
        return cls(feats, np.asarray(bounds, dtype=float).reshape(-1, 4), geoms, {c: i for i, c in enumerate(codes)}, hh)

    def select(self, *, bbox: tuple[float, float, float, float] | None = None, code: str | None = None) -> list[dict]:
        """Features whose geometry intersects ``bbox`` and whose code is ``code`` (each filter optional)."""
        if code is not None:
            idx = np.array([self.index[code]] if code in self.index else [], dtype=np.int64)
        else:
            idx = np.arange(len(self.features))
        if bbox is not None and len(idx):
            w, s, e, n = bbox
            b = self.bounds[idx]
            idx = idx[(b[:, 0] <= e) & (b[:, 2] >= w) & (b[:, 1] <= n) & (b[:, 3] >= s)]
            if len(idx):
                idx = idx[shapely.intersects(self.geoms[idx], shapely.box(w, s, e, n))]
        return [self.features[i] for i in idx]


@dataclass(frozen=True)
class Roster:
    """``buildings.csv``: rows per building id (several for a building divided by entrance/floor)."""

    rows: dict[str, list[dict]]

    @classmethod
    def read(cls, path: Path, id_field: str) -> Roster:
        rows: dict[str, list[dict]] = {}
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                rows.setdefault(str(row.get(id_field, "")), []).append(row)
        return cls(rows)


class ResultCache:
    """Parsed layers and rosters of recently read plans (least recently used dropped first)."""

    def __init__(self, size: int = 16):
        self.size = size
        self._items: OrderedDict[tuple, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, key: tuple, path: Path, load):
        mtime = path.stat().st_mtime_ns
        with self._lock:
            hit = self._items.get(key)
            if hit and hit[0] == mtime:
                self._items.move_to_end(key)
                return hit[1]
        value = load()
        with self._lock:
            self._items[key] = (mtime, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def layer(self, plan_id: str, path: Path) -> Layer:
        return self._get(("layer", plan_id, path.name), path, lambda: Layer.from_geojson(json.loads(path.read_bytes())))

    def roster(self, plan_id: str, path: Path, id_field: str) -> Roster:
        return self._get(("roster", plan_id), path, lambda: Roster.read(path, id_field))

    def forget(self, plan_id: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[1] == plan_id]:
                del self._items[key]
