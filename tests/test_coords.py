"""GCJ-02 / BD-09 → WGS84 conversion: accuracy against the published forward formulas."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from gridplan.inputs.coords import bd09_to_wgs84, convert_gdf, gcj02_to_wgs84, wgs84_to_gcj02
from gridplan.errors import InputError, OptionError

A, EE = 6378245.0, 0.00669342162296594323


def _forward_gcj(lon: float, lat: float) -> tuple[float, float]:
    """The published WGS84 → GCJ-02 formula, written out scalar by scalar (independent of gridplan)."""
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    dlat = dlat * 180.0 / ((A * (1 - EE)) / (magic * math.sqrt(magic)) * math.pi)
    dlon = dlon * 180.0 / (A / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def _forward_bd(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → BD-09 (Baidu's published formula)."""
    xpi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * xpi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * xpi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    lat1, lat2 = np.radians(lat1), np.radians(lat2)
    dlat, dlon = lat2 - lat1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * 6371008.8 * np.arcsin(np.sqrt(h))


@pytest.fixture
def china_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    lon = np.concatenate([[118.78, 116.32, 121.47, 113.26, 87.6], rng.uniform(75, 134, 200)])
    lat = np.concatenate([[32.04, 39.99, 31.23, 23.13, 43.8], rng.uniform(18, 53, 200)])
    return lon, lat


def test_gcj02_round_trip_is_under_half_a_metre(china_points):
    lon, lat = china_points
    glon, glat = np.array([_forward_gcj(a, b) for a, b in zip(lon, lat)]).T
    assert _metres(lon, lat, glon, glat).min() > 50  # the offset is real
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert _metres(lon, lat, wlon, wlat).max() < 0.5


def test_bd09_round_trip_is_under_half_a_metre(china_points):
    lon, lat = china_points
    blon, blat = np.array([_forward_bd(*_forward_gcj(a, b)) for a, b in zip(lon, lat)]).T
    wlon, wlat = bd09_to_wgs84(blon, blat)
    assert _metres(lon, lat, wlon, wlat).max() < 0.5


def test_scalars_in_scalars_out():
    lon, lat = gcj02_to_wgs84(*_forward_gcj(118.78, 32.04))
    assert np.ndim(lon) == 0 and abs(float(lon) - 118.78) < 1e-6 and abs(float(lat) - 32.04) < 1e-6


def test_points_outside_china_are_unchanged():
    lon, lat = gcj02_to_wgs84([7.42, -0.12], [43.73, 51.5])
    assert lon.tolist() == [7.42, -0.12] and lat.tolist() == [43.73, 51.5]


def test_convert_gdf_returns_wgs84_copy_and_leaves_input_alone():
    glon, glat = _forward_gcj(118.78, 32.04)
    gdf = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[Point(glon, glat), box(glon, glat, glon + 1e-4, glat + 1e-4)])
    before = gdf.geometry.iloc[0]
    out = convert_gdf(gdf, "gcj02")
    assert out.crs.to_epsg() == 4326
    assert gdf.crs is None and gdf.geometry.iloc[0].equals(before)
    assert _metres(118.78, 32.04, out.geometry.iloc[0].x, out.geometry.iloc[0].y) < 0.5
    assert out.geometry.iloc[1].geom_type == "Polygon" and out["id"].tolist() == [1, 2]


def test_convert_gdf_rejects_projected_crs():
    gdf = gpd.GeoDataFrame(geometry=[Point(500000, 3500000)], crs=32650)
    with pytest.raises(InputError, match="projected CRS.*give the layer in degrees"):
        convert_gdf(gdf, "bd09")


def test_convert_gdf_rejects_unknown_system():
    gdf = gpd.GeoDataFrame(geometry=[Point(118.78, 32.04)], crs=4326)
    with pytest.raises(OptionError, match="`system` was 'wgs'; expected one of 'gcj02', 'bd09'"):
        convert_gdf(gdf, "wgs")



def test_cli_input_crs_converts_and_records(buildings, tmp_path):
    import json

    import numpy as np
    import shapely
    from typer.testing import CliRunner

    from gridplan.cli import app

    gcj = buildings.copy()  # the buildings as read off an AutoNavi map
    gcj["geometry"] = shapely.transform(buildings.geometry.values, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
    gcj.to_file(tmp_path / "gcj.gpkg")
    out = tmp_path / "plan"
    res = CliRunner().invoke(app, ["plan", str(tmp_path / "gcj.gpkg"), "--input-crs", "gcj02", "--out", str(out), "-q",
                                   "--grid-size", "100:200", "--micro-size", "20:100", "--community-size", "100:400"])
    assert res.exit_code == 0, res.output
    notes = json.loads((out / "report.json").read_text())["input"]["notes"]
    assert any("from GCJ-02 to WGS84" in n for n in notes)
