"""Reading a plan directory back into a :class:`~gridplan.model.Plan` (for export, maps, re-plans, the service).

Examples
--------
>>> import tempfile, gridplan
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> written = gridplan.plan(d.buildings, d.roads, seed=1, start_date="2026-01-01").write(tempfile.mkdtemp() + "/p", map_html=False)
>>> p = read_plan(written)
>>> p.grids.code.str.len().unique().tolist(), p.config.grid.lo
([15], 300.0)
"""
from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ..config import PlanConfig, SizeRange
from ..errors import InputError
from ..inputs.formats import sniff
from ..inputs.io import check_geopackage
from ..model import LAYER_NAMES, Plan

__all__ = ["read_plan", "is_plan_dir"]

_CODES = ("code", "parent_code", "community_code", "grid_code", "micro_code")


def is_plan_dir(directory: str | PathLike) -> bool:
    """Whether ``directory`` holds a plan written by :meth:`Plan.write`."""
    d = Path(directory)
    return (d / "report.json").is_file() and (d / "plan.gpkg").is_file()


def _texted(gdf: gpd.GeoDataFrame, id_field: str | None = None) -> gpd.GeoDataFrame:
    for col in (*_CODES, id_field):
        if col and col in gdf.columns:
            gdf[col] = gdf[col].astype("string")
    for col in ("start_date", "end_date"):  # date fields (plans written since issue 13) back to the ISO text a Plan holds
        if col in gdf.columns and pd.api.types.is_datetime64_any_dtype(gdf[col]):
            gdf[col] = gdf[col].dt.strftime("%Y-%m-%d").fillna("")
    return gdf


def read_plan(directory: str | PathLike) -> Plan:
    """Read the plan written in ``directory`` (layers from ``plan.gpkg``, in the plan's CRS)."""
    d = Path(directory)
    if not is_plan_dir(d):
        raise InputError(f"{str(d)!r} is not a plan directory (no report.json and plan.gpkg); give a directory written by `gridplan plan --out`")
    report = json.loads((d / "report.json").read_text(encoding="utf-8"))
    params = report.get("parameters", {})
    id_field = params.get("id_field", "building_id")

    def size(level: str, default: str) -> SizeRange:
        rng = SizeRange.parse(params.get(f"{level}_size", default))
        return SizeRange(rng.lo, rng.hi, params.get(f"{level}_target", rng.target))

    cfg = PlanConfig(
        community=size("community", "1000:3000"), grid=size("grid", "300:500"), micro=size("micro", "30:100"),
        persons_per_household=params.get("persons_per_household", 2.62),
        street_code=params.get("street_code", "000000000"), seed=int(report.get("seed", 0)),
        balance=params.get("balance", "households"),
    )
    for name in ("plan.gpkg", "input_buildings.gpkg", "input_barriers.gpkg"):
        if sniff(d / name) != "gpkg":  # a plan directory from elsewhere is opened by the allow-list too
            raise InputError(f"{d / name}: not a GeoPackage; this plan directory is damaged or was not written by "
                             "gridplan: write it again with `gridplan plan --out`")
        check_geopackage(d / name, what="plan file")
    gpkg = d / "plan.gpkg"
    layers = {name: _texted(pyogrio.read_dataframe(gpkg, layer=name), id_field) for name in (*LAYER_NAMES.values(), "buildings")}
    inputs_b = _texted(pyogrio.read_dataframe(d / "input_buildings.gpkg"), id_field)
    inputs_r = pyogrio.read_dataframe(d / "input_barriers.gpkg")
    return Plan(
        communities=layers["communities"], grids=layers["grids"], micro_grids=layers["micro_grids"], buildings=layers["buildings"],
        report=report, input_buildings=inputs_b, input_barriers=inputs_r, config=cfg, id_field=id_field,
    )
