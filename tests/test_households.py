"""The household estimate: area × storeys × usable share ÷ dwelling size, its sources in order of trust, and its
documented exceptions (non-residential types, large generic footprints, slivers, the per-floor cap)."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from gridplan.errors import InputError
from gridplan.inputs.households import FALLBACK_LEVELS, HouseholdRules, estimate_households

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent (a fresh clone)")


def _utm(types, sizes, **cols) -> gpd.GeoDataFrame:
    data = {"building": types, **cols}
    return gpd.GeoDataFrame(data, geometry=[box(0, 0, w, h) for w, h in sizes], crs=32650)


def test_area_times_levels_times_usable_share_over_dwelling_size():
    b = _utm(["apartments", "yes"], [(20, 50), (20, 50)], levels=[10, None])
    est = estimate_households(b)
    # 1000 m² × 10 × 0.75 / 72 = 104.2; the second has no levels: 'yes' → 3 storeys → 31.25
    assert est.households.tolist() == [104, 31]
    assert est.source.tolist() == ["estimate", "estimate"]
    assert est.levels.tolist() == [10.0, 3.0]
    assert est.households.dtype == np.int64


def test_rules_are_configurable():
    b = _utm(["residential"], [(20, 50)])
    rules = HouseholdRules(usable_share=0.5, dwelling_m2=50)
    assert estimate_households(b, rules=rules).households.tolist() == [60]  # 1000 × 6 × 0.5 / 50
    assert rules.gross_m2_per_household == 100


def test_default_levels_by_type_and_fallback():
    b = _utm(["apartments", "house", "unknown_type"], [(10, 10)] * 3)
    est = estimate_households(b)
    assert est.levels.tolist() == [6.0, 2.0, FALLBACK_LEVELS]
    b2 = b.drop(columns="building")
    assert estimate_households(b2).levels.tolist() == [FALLBACK_LEVELS] * 3
    rules = HouseholdRules(default_levels={}, fallback_levels=4)
    assert estimate_households(b, rules=rules).levels.tolist() == [4.0] * 3


def test_non_residential_and_tiny_get_zero():
    b = _utm(["school", "Office", "yes", "yes"], [(50, 50), (50, 50), (5, 5), (10, 10)])
    est = estimate_households(b)
    assert est.households.tolist() == [0, 0, 0, 3]  # 100 m² × 3 × 0.75 / 72 = 3.1
    assert est.source.tolist() == ["non-residential", "non-residential", "too-small", "estimate"]


def test_flats_win_over_the_estimate():
    b = _utm(["apartments", "apartments"], [(20, 50), (20, 50)], flats=[24, None])
    est = estimate_households(b)
    assert est.households.tolist() == [24, 62]
    assert est.source.tolist() == ["flats", "estimate"]


def test_geographic_input_is_measured_in_metres(buildings):
    est = estimate_households(buildings)
    # 20 m × 15 m × 6 storeys × 0.75 / 72 m² = 18.75 households each (the fixture boxes are metric to ~1 %)
    assert est.households.tolist() == [19] * 8


def test_non_positive_levels_fall_back():
    b = _utm(["residential", "residential"], [(10, 10), (10, 10)], levels=[0, -2])
    assert estimate_households(b).levels.tolist() == [6.0, 6.0]


def test_no_crs_is_an_error(no_crs_buildings):
    with pytest.raises(InputError, match="no CRS.*`input_crs='EPSG:4326'`"):
        estimate_households(no_crs_buildings)


def test_bad_rules_are_an_error():
    with pytest.raises(InputError, match=r"`dwelling_m2` was 0; give a positive number") as exc:
        HouseholdRules(dwelling_m2=0, usable_share=1.5)
    assert "`usable_share` was 1.5; give a share between 0 and 1" in str(exc.value)
    with pytest.raises(InputError, match="`generic_max_m2` was -1.*None to switch the rule off"):
        HouseholdRules(generic_max_m2=-1)


def test_large_generic_footprint_outside_housing_is_not_homes():
    b = _utm(["yes", "yes", None, "yes"], [(60, 60)] * 4, in_residential=[False, True, False, False])
    est = estimate_households(b)
    assert est.source.tolist() == ["non-residential", "estimate-capped", "non-residential", "non-residential"]
    assert est.households.tolist() == [0, 48, 0, 0]  # inside housing: 3 storeys × 16 dwellings at most
    assert est.reason[0] == "building=yes, 3600 m² outside residential land use"
    off = estimate_households(b, rules=HouseholdRules(generic_max_m2=None, max_dwellings_per_floor=None))
    assert off.households.tolist() == [112] * 4 and off.source.eq("estimate").all()  # 3600 × 3 × 0.75 / 72 = 112.5


def test_cap_by_dwellings_per_floor():
    b = _utm(["apartments", "apartments"], [(40, 40), (40, 40)], levels=[30, 2])
    est = estimate_households(b)
    # 1600 m² × 30 × 0.75 / 72 = 500 (under 30 × 16 = 480: capped); 2 storeys: 33 (under 32: capped)
    assert est.households.tolist() == [480, 32]
    assert est.source.tolist() == ["estimate-capped"] * 2


def test_non_residential_rule_is_overridable():
    b = _utm(["hotel", "school"], [(20, 20), (20, 20)])
    rules = HouseholdRules().with_changes(non_residential_remove={"hotel"}, non_residential_add={"pavilion"})
    est = estimate_households(b, rules=rules)
    assert est.source.tolist() == ["estimate", "non-residential"] and est.households[0] > 0
    assert rules.is_non_residential("Pavilion") and not rules.is_non_residential("hotel")


def test_order_of_trust_flats_then_population_then_estimate():
    b = _utm(["apartments"] * 3, [(20, 50)] * 3, flats=[24, None, None], population=[100, 131, None])
    est = estimate_households(b)
    assert est.households.tolist() == [24, 50, 62]  # 131 / 2.62 = 50
    assert est.source.tolist() == ["flats", "population", "estimate"]
    est = estimate_households(b, rules=HouseholdRules(persons_per_household=2.0))
    assert est.households.tolist()[1] == 66


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
    assert est.households.max() <= 28 * 16  # the per-floor cap


@pytest.mark.parametrize("name", ["entrance_length_m", "max_levels", "max_units"])
def test_shape_rules_must_be_positive(name):
    with pytest.raises(InputError, match=f"`{name}` was 0; give a positive number"):
        HouseholdRules(**{name: 0})


def test_shape_rules_defaults():
    r = HouseholdRules()
    assert (r.entrance_length_m, r.max_levels, r.max_units) == (15.0, 150, 30)


def test_levels_by_type_is_the_estimates_storeys():
    import pandas as pd

    from gridplan.inputs.households import levels_by_type

    types = pd.Series(["apartments", "HOUSE", "castle-ish", None])
    assert levels_by_type(types, HouseholdRules(fallback_levels=4)).tolist() == [6.0, 2.0, 4.0, 4.0]
