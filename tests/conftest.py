"""Shared fixtures: a tiny valid Nanjing city, a catalogue of awkward geometry, and the real data path.

The tiny city (EPSG:4326, near Xinjiekou, Nanjing, about 118.78E 32.04N)::

        y (m)
        80 ┼──────── residential road (tier 3) ────────
           │  [b3]   [b4]   ┃   [b7]   [b8]
           │                ┃ primary road (tier 2, north–south, x = 60 m)
           │  [b1]   [b2]   ┃   [b5]   [b6]
         0 ┼────────────────┸──────────────── x (m)
        a footway (not a barrier) runs along y = 40 m

Each building is a 20 m × 15 m box (300 m²) with ``households`` 40 and ``levels`` 6.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from gridplan.inputs.formats import restrict_gdal

# The suite opens files as the CLI and every process of the service do: with GDAL restricted to the allow-list
restrict_gdal()

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent (a fresh clone)")

LON0, LAT0 = 118.78, 32.04
M_LON = 1 / (111_320 * 0.8480)  # degrees per metre of longitude at 32.04N
M_LAT = 1 / 110_900  # degrees per metre of latitude


def deg(x_m: float, y_m: float) -> tuple[float, float]:
    """Metres east/north of the fixture origin → lon/lat degrees."""
    return LON0 + x_m * M_LON, LAT0 + y_m * M_LAT


def box_m(x0: float, y0: float, w: float = 20.0, h: float = 15.0) -> Polygon:
    """A box of ``w`` × ``h`` metres at (x0, y0) metres from the origin, in degrees."""
    (a, b), (c, d) = deg(x0, y0), deg(x0 + w, y0 + h)
    return box(a, b, c, d)


def line_m(*points: tuple[float, float]) -> LineString:
    """A line through points given in metres from the origin, in degrees."""
    return LineString([deg(x, y) for x, y in points])


_ORIGINS = [(5, 5), (30, 5), (5, 50), (30, 50), (70, 5), (95, 5), (70, 50), (95, 50)]


@pytest.fixture
def buildings() -> gpd.GeoDataFrame:
    """Eight valid buildings b1..b8 with households 40 and levels 6 (see the module docstring)."""
    return gpd.GeoDataFrame(
        {
            "building_id": [f"b{i + 1}" for i in range(8)],
            "households": [40] * 8,
            "levels": [6.0] * 8,
            "compound": ["west"] * 4 + ["east"] * 4,
        },
        geometry=[box_m(x, y) for x, y in _ORIGINS],
        crs=4326,
    )


@pytest.fixture
def barriers() -> gpd.GeoDataFrame:
    """A primary road (x = 60 m), a residential road (y = 80 m) and a footway (y = 40 m)."""
    return gpd.GeoDataFrame(
        {"osm_id": ["w1", "w2", "w3"], "highway": ["primary", "residential", "footway"],
         "name": ["中山路", "石鼓路", None]},
        geometry=[line_m((60, -20), (60, 100)), line_m((-20, 80), (140, 80)), line_m((-20, 40), (140, 40))],
        crs=4326,
    )


@pytest.fixture
def communities() -> gpd.GeoDataFrame:
    """Two communities split by the primary road, with 12-digit codes."""
    return gpd.GeoDataFrame(
        {"code": ["320102001001", "320102001002"], "name": ["西社区", "东社区"]},
        geometry=[box_m(-10, -10, 70, 100), box_m(60, -10, 70, 100)],
        crs=4326,
    )


# --- the catalogue of awkward geometry --------------------------------------------------------


@pytest.fixture
def empty_buildings() -> gpd.GeoDataFrame:
    """A layer with the right columns and no features."""
    return gpd.GeoDataFrame({"building_id": pd.Series(dtype=str), "households": pd.Series(dtype="int64")},
                            geometry=gpd.GeoSeries([], crs=4326))


@pytest.fixture
def multipolygon_building(buildings) -> gpd.GeoDataFrame:
    """b1 becomes a MultiPolygon of two wings."""
    out = buildings.copy()
    out.loc[0, "geometry"] = MultiPolygon([box_m(5, 5, 8, 15), box_m(15, 5, 8, 15)])
    return out


@pytest.fixture
def holed_building(buildings) -> gpd.GeoDataFrame:
    """b1 becomes a courtyard block: a 30 m square with a 10 m hole."""
    out = buildings.copy()
    shell, hole = box_m(0, 0, 30, 30), box_m(10, 10, 10, 10)
    out.loc[0, "geometry"] = Polygon(shell.exterior.coords, [hole.exterior.coords])
    return out


@pytest.fixture
def island_building(holed_building) -> gpd.GeoDataFrame:
    """The courtyard block plus b9, a small building standing inside its hole (an island)."""
    island = gpd.GeoDataFrame({"building_id": ["b9"], "households": [2], "levels": [2.0], "compound": ["west"]},
                              geometry=[box_m(13, 13, 4, 4)], crs=4326)
    return pd.concat([holed_building, island], ignore_index=True)


@pytest.fixture
def zero_households(buildings) -> gpd.GeoDataFrame:
    """b2 has 0 households (a shop), which is valid."""
    out = buildings.copy()
    out.loc[1, "households"] = 0
    return out


@pytest.fixture
def bowtie_building(buildings) -> gpd.GeoDataFrame:
    """b3 has a self-intersecting (bow-tie) ring: invalid."""
    out = buildings.copy()
    (x0, y0), (x1, y1) = deg(5, 50), deg(25, 65)
    out.loc[2, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    return out


@pytest.fixture
def empty_geometry_building(buildings) -> gpd.GeoDataFrame:
    """b4 has an empty polygon and b5 a null geometry."""
    out = buildings.copy()
    out.loc[3, "geometry"] = Polygon()
    out.loc[4, "geometry"] = None
    return out


@pytest.fixture
def point_building(buildings) -> gpd.GeoDataFrame:
    """b6 is a point, not a footprint."""
    out = buildings.copy()
    out.loc[5, "geometry"] = Point(deg(100, 10))
    return out


@pytest.fixture
def no_crs_buildings(buildings) -> gpd.GeoDataFrame:
    """The buildings with their CRS removed."""
    return buildings.set_crs(None, allow_override=True)


@pytest.fixture
def wrong_crs_buildings(buildings) -> gpd.GeoDataFrame:
    """Projected (UTM 50N) metres mislabelled as EPSG:4326: coordinates out of range."""
    return buildings.to_crs(32650).set_crs(4326, allow_override=True)


# --- a small OSM extract with the awkward cases of real ones -----------------------------------


def _osm_square(x0: float, y0: float, w: float, h: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h), (x0, y0)]


#: way id → (tags, points in metres from the fixture origin; a ``None`` point is a node missing from the file)
OSM_WAYS: dict[int, tuple[dict[str, str], list]] = {
    1: ({"building": "yes"}, _osm_square(5, 5, 20, 15)),                    # 300 m², 3 storeys: a home
    11: ({"building": "apartments"}, _osm_square(100, 0, 40, 40)),          # old-style: repeats relation 10
    12: ({}, _osm_square(110, 10, 20, 20)),                                  # the relation's courtyard
    13: ({"building": "yes"}, _osm_square(115, 15, 8, 8)),                  # a building inside the courtyard
    14: ({"building": "school", "name": "第一中学"}, _osm_square(200, 0, 50, 50)),
    15: ({"building": "yes", "name": "大商场"}, _osm_square(300, 0, 60, 60)),  # 3,600 m² outside housing
    16: ({"building": "yes"}, _osm_square(0, 200, 60, 60)),                 # 3,600 m² inside landuse=residential
    17: ({"building": "residential", "building:flats": "24"}, _osm_square(70, 210, 20, 15)),
    18: ({"building": "yes"}, [(100, 210), (120, 210), None, (100, 225), (100, 210)]),  # clipped: dropped
    19: ({"building": "yes", "building:levels": "6"}, _osm_square(100, 240, 20, 15)),
    20: ({"highway": "primary", "name": "中山路"}, [(-50, 100), (450, 100)]),
    21: ({"highway": "service"}, [(180, -20), (180, 90)]),
    22: ({"railway": "rail"}, [(-50, -60), (450, -60)]),
    23: ({"waterway": "river", "name": "秦淮河"}, [(-40, -100), (-40, 400)]),
    24: ({"natural": "water"}, _osm_square(400, 300, 40, 40)),
    25: ({"barrier": "wall"}, _osm_square(200, 200, 60, 60)),               # a walled compound
    26: ({"building": "yes"}, _osm_square(210, 210, 20, 15)),
    27: ({"building": "yes"}, _osm_square(230, 235, 20, 15)),
    28: ({"highway": "footway"}, [(-50, 150), (450, 150)]),
    30: ({"landuse": "residential", "name": "幸福小区"}, _osm_square(-10, 190, 160, 110)),
}
#: relation id → (tags, [(way id, role)])
OSM_RELATIONS: dict[int, tuple[dict[str, str], list[tuple[int, str]]]] = {
    10: ({"type": "multipolygon", "building": "apartments", "building:levels": "6"}, [(11, "outer"), (12, "inner")]),
}


def write_osm_xml(path: Path, ways=OSM_WAYS, relations=OSM_RELATIONS) -> Path:
    """Write ways and relations given in metres as an OSM XML extract (node ids from 1000)."""
    from xml.sax.saxutils import quoteattr

    nodes: dict[tuple[float, float], int] = {}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="gridplan tests">']
    way_xml = []
    for wid, (tags, points) in ways.items():
        refs = []
        for p in points:
            if p is None:
                refs.append(999_999)  # outside the extract
                continue
            if p not in nodes:
                nodes[p] = 1000 + len(nodes)
            refs.append(nodes[p])
        body = "".join(f'<nd ref="{r}"/>' for r in refs) + "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        way_xml.append(f'<way id="{wid}" version="1">{body}</way>')
    for (x, y), nid in nodes.items():
        lon, lat = deg(x, y)
        lines.append(f'<node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    lines += way_xml
    for rid, (tags, members) in relations.items():
        body = "".join(f'<member type="way" ref="{w}" role="{r}"/>' for w, r in members)
        body += "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append(f'<relation id="{rid}" version="1">{body}</relation>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def osm_extract(tmp_path) -> Path:
    """The awkward OSM extract above (see :data:`OSM_WAYS`), as an .osm file."""
    return write_osm_xml(tmp_path / "town.osm")


@pytest.fixture
def counting_http_server():
    """A local HTTP server that answers 404 to everything and records each path asked: ``(base_url, hits)``."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()
        server.server_close()



#: The independent referee of a plan directory (``../shared/tools/checkplan.py``); absent on a fresh clone
#: without ``../shared``, where the tests that use it skip.
CHECKPLAN = Path(__file__).resolve().parents[2] / "shared" / "tools" / "checkplan.py"


def referee(plan_dir: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The referee's run on a written plan directory (its input buildings and barriers beside it)."""
    return subprocess.run([sys.executable, str(CHECKPLAN), "--plan", str(plan_dir), "--buildings", str(plan_dir / "input_buildings.gpkg"),
                           "--barriers", str(plan_dir / "input_barriers.gpkg"), *extra],
                          capture_output=True, text=True, check=False, timeout=timeout)


def referee_plan(plan, directory: Path, *, timeout: float = 600) -> subprocess.CompletedProcess:
    """Write ``plan`` to ``directory`` (without its map) and run the referee on it."""
    d = plan.write(directory, map_html=False)
    return referee(d, "--id-field", plan.id_field, timeout=timeout)
