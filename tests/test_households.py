"""The household estimate: area × storeys ÷ floor area per household, with its documented exceptions."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from gridplan.errors import InputError
from gridplan.households import FALLBACK_LEVELS, estimate_households

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent (a fresh clone)")


def _utm(types, sizes, **cols) -> gpd.GeoDataFrame:
    data = {"building": types, **cols}
    return gpd.GeoDataFrame(data, geometry=[box(0, 0, w, h) for w, h in sizes], crs=32650)


def test_area_times_levels_over_floor_area():
    b = _utm(["apartments", "yes"], [(20, 50), (20, 50)], levels=[10, None])
    est = estimate_households(b)
    # 1000 m² × 10 / 100 = 100; the second has no levels: 'yes' → 3 storeys → 30
    assert est.households.tolist() == [100, 30]
    assert est.source.tolist() == ["estimate", "estimate"]
    assert est.levels.tolist() == [10.0, 3.0]
    assert est.households.dtype == np.int64


def test_floor_area_per_household_is_configurable():
    b = _utm(["residential"], [(20, 50)])
    assert estimate_households(b, floor_area_per_household=50).households.tolist() == [120]


def test_default_levels_by_type_and_fallback():
    b = _utm(["apartments", "house", "unknown_type"], [(10, 10)] * 3)
    est = estimate_households(b)
    assert est.levels.tolist() == [6.0, 2.0, FALLBACK_LEVELS]
    b2 = b.drop(columns="building")
    assert estimate_households(b2).levels.tolist() == [FALLBACK_LEVELS] * 3
    assert estimate_households(b, default_levels=4).levels.tolist() == [4.0] * 3


def test_non_residential_and_tiny_get_zero():
    b = _utm(["school", "Office", "yes", "yes"], [(50, 50), (50, 50), (5, 5), (10, 10)])
    est = estimate_households(b)
    assert est.households.tolist() == [0, 0, 0, 3]
    assert est.source.tolist() == ["non-residential", "non-residential", "too-small", "estimate"]


def test_flats_win_over_the_estimate():
    b = _utm(["apartments", "apartments"], [(20, 50), (20, 50)], flats=[24, None])
    est = estimate_households(b)
    assert est.households.tolist() == [24, 60]
    assert est.source.tolist() == ["flats", "estimate"]


def test_geographic_input_is_measured_in_metres(buildings):
    est = estimate_households(buildings)
    # 20 m × 15 m × 6 storeys / 100 m² = 18 households each (the fixture boxes are metric to ~1 %)
    assert est.households.tolist() == [18] * 8


def test_non_positive_levels_fall_back():
    b = _utm(["residential", "residential"], [(10, 10), (10, 10)], levels=[0, -2])
    assert estimate_households(b).levels.tolist() == [6.0, 6.0]


def test_no_crs_is_an_error(no_crs_buildings):
    with pytest.raises(InputError, match="no CRS.*set_crs"):
        estimate_households(no_crs_buildings)


def test_bad_floor_area_is_an_error():
    with pytest.raises(InputError, match="floor_area_per_household.*positive"):
        estimate_households(_utm(["yes"], [(10, 10)]), floor_area_per_household=0)


@needs_shared
@pytest.mark.shared
def test_suzhou_floors_give_plausible_households():
    gdf = gpd.read_file(SHARED / "suzhou_gusu_buildings_floors.geojson")
    est = estimate_households(gdf, levels_field="Floor")
    assert (est.households >= 0).all() and len(est.households) == 3076
    assert est.levels.equals(gdf["Floor"].astype(float))
    # Gusu old town: a few tens of thousands of households, 1–30-storey buildings
    assert 10_000 < est.households.sum() < 150_000
    tall, low = gdf["Floor"] >= 10, gdf["Floor"] <= 2
    assert est.households[tall].median() > 5 * est.households[low].median()
    assert est.households.max() < 1500
