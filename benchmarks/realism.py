"""Realism check of the household estimate on real storey counts: Suzhou, Gusu old town.

Run from the repository root::

    .venv/bin/python benchmarks/realism.py [--data ../shared/data] [--osm]

On ``suzhou_gusu_buildings_floors.geojson`` (3,076 footprints with ``Floor`` 1–28) it prints the estimated
households per building (distribution, by storey band) and in total, and the implied residents per hectare
of the footprints' envelope (a concave hull, the land the buildings stand on, streets and courtyards included)
and of the footprints' convex hull, to compare with published densities of Chinese old towns (docs/inputs.md).
With ``--osm`` it also prints households by source for every OSM extract in the data folder.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridplan.inputs.households import HouseholdRules, estimate_households

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"


def suzhou(data: Path, rules: HouseholdRules) -> dict:
    gdf = gpd.read_file(data / "suzhou_gusu_buildings_floors.geojson")
    utm = gdf.to_crs(gdf.estimate_utm_crs())
    est = estimate_households(utm, levels_field="Floor", rules=rules)
    hh = est.households
    hull = shapely.concave_hull(shapely.MultiPoint(shapely.get_coordinates(utm.geometry.values)), ratio=0.05)
    convex = utm.geometry.union_all().convex_hull
    people = hh.sum() * rules.persons_per_household
    bands = pd.cut(gdf["Floor"], [0, 2, 4, 6, 11, 100], labels=["1–2", "3–4", "5–6", "7–11", "12+"])
    by_band = pd.DataFrame({"buildings": hh.groupby(bands, observed=True).size(),
                            "median hh": hh.groupby(bands, observed=True).median(),
                            "households": hh.groupby(bands, observed=True).sum()})
    return {
        "buildings": len(gdf), "households": int(hh.sum()), "people": float(people),
        "per_building": hh.describe(percentiles=[0.1, 0.5, 0.9, 0.99]).round(1),
        "sources": est.source.value_counts().to_dict(), "by_band": by_band,
        "footprint_ha": float(utm.area.sum() / 1e4), "envelope_ha": float(hull.area / 1e4),
        "convex_ha": float(convex.area / 1e4), "floor_area_ha": float((utm.area * est.levels).sum() / 1e4),
    }


def osm_sources(data: Path) -> pd.DataFrame:
    from gridplan.inputs.osm import load_osm
    from gridplan.inputs.validate import prepare

    rows = []
    for path in sorted(data.glob("*.osm*")):
        t = time.perf_counter()
        osm = load_osm(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = prepare(osm.buildings, osm.barriers).buildings
        row = {"file": path.name, "buildings": len(b), "households": int(b["households"].sum()), "seconds": round(time.perf_counter() - t, 1)}
        row.update({f"hh {k}": int(v) for k, v in b.groupby("household_source")["households"].sum().items()})
        row.update({f"n {k}": int(v) for k, v in b["household_source"].value_counts().items()})
        rows.append(row)
    return pd.DataFrame(rows).fillna(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--osm", action="store_true", help="also households by source for each OSM extract")
    args = ap.parse_args(argv)
    if not (args.data / "suzhou_gusu_buildings_floors.geojson").exists():
        print(f"no {args.data}/suzhou_gusu_buildings_floors.geojson: nothing to check", file=sys.stderr)
        return 1
    rules = HouseholdRules()
    s = suzhou(args.data, rules)
    print(f"Suzhou Gusu: {s['buildings']:,} buildings, {s['households']:,} households estimated, "
          f"{s['people']:,.0f} residents at {rules.persons_per_household} per household")
    print(f"rules: area × storeys × {rules.usable_share} ÷ {rules.dwelling_m2} m² (= {rules.gross_m2_per_household:g} m² "
          f"gross per household), at most {rules.max_dwellings_per_floor:g} per floor; sources {s['sources']}")
    print("households per building:\n" + s["per_building"].to_string())
    print("by storeys:\n" + s["by_band"].to_string())
    for label, ha in (("footprint envelope (concave hull)", s["envelope_ha"]), ("convex hull", s["convex_ha"])):
        print(f"{label}: {ha:,.0f} ha → {s['people'] / ha:,.0f} residents/ha, {s['households'] / ha:,.0f} households/ha")
    print(f"footprints cover {s['footprint_ha']:,.0f} ha ({s['footprint_ha'] / s['envelope_ha']:.0%} of the envelope); "
          f"floor area {s['floor_area_ha']:,.0f} ha (FAR {s['floor_area_ha'] / s['envelope_ha']:.2f})")
    if args.osm:
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(osm_sources(args.data).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
