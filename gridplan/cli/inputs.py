"""The command line's input options (``--osm``, ``--place``, ``--bbox``, ``--ledger``, ``--compounds``) and
``gridplan inspect``.

:func:`resolve_inputs` turns those options into the buildings and barriers :func:`gridplan.plan` takes,
so ``gridplan plan`` and ``gridplan inspect`` read inputs the same way.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import geopandas as gpd
import typer

from .base import (Bbox, CommunitySize, FixGeometry, GridSize, HouseholdsField, IdField, InputCrs, MicroSize, exit_on_error,
                  run, app)
from ..errors import OptionError

__all__ = ["resolve_inputs", "inspect_cmd"]


def _resolve(buildings, barriers, *, osm, place, bbox, ledger, ledger_key, compounds, id_field, households_field,
             compound_field, input_crs) -> dict:
    from ..inputs.compounds import assign_compounds, read_compounds, residential_land
    from ..inputs.io import read_layer
    from ..inputs.ledger import join_ledger
    from ..inputs.osm import fetch_osm, load_osm

    given = [name for name, v in (("BUILDINGS", buildings), ("--osm", osm), ("--place", place), ("--bbox", bbox))
             if v is not None]
    if len(given) != 1:
        raise OptionError(f"give the buildings one way: a BUILDINGS file, --osm FILE, --place NAME or --bbox W,S,E,N "
                          f"({'none was given' if not given else 'got ' + ', '.join(given)})")
    if ledger_key is not None and ledger is None:
        raise OptionError("--ledger-key was given without --ledger; give the ledger file too")
    out = {"buildings": buildings, "barriers": barriers, "id_field": id_field, "households_field": households_field,
           "compound_field": compound_field}
    if buildings is None:
        if input_crs != "auto":
            raise OptionError(f"--input-crs {input_crs} was given with OpenStreetMap data, which is always WGS84; "
                              "drop --input-crs (it is for files picked from Chinese web maps)")
        data = load_osm(osm, compounds=compounds) if osm is not None else fetch_osm(place=place, bbox=bbox, compounds=compounds)
        frame = data.buildings
        frame.attrs["gridplan_notes"] = list(data.notes)
        out.update(buildings=frame, barriers=barriers if barriers is not None else data.barriers,
                   id_field="building_id", compound_field="compound")
    elif compounds is not None or ledger is not None:
        frame = read_layer(buildings)
        if compounds is not None:
            outlines = read_compounds(compounds)
            found = assign_compounds(frame, outlines.to_crs(frame.crs) if frame.crs is not None else outlines)
            own = frame[compound_field] if compound_field in frame.columns else None
            frame[compound_field] = found if own is None else own.where(own.notna(), found)
            frame["in_residential"] = residential_land(frame, outlines.to_crs(frame.crs) if frame.crs else outlines)
            frame.attrs["gridplan_notes"] = [f"compounds: {int(found.notna().sum())} buildings lie in "
                                             f"{found.nunique()} compounds of {Path(compounds).name}"]
        out["buildings"] = frame
    if ledger is not None:
        joined = join_ledger(out["buildings"], ledger, key=ledger_key or out["id_field"], building_key=out["id_field"],
                             buildings_households_field=out["households_field"])
        out["buildings"] = joined.buildings
    return out


def resolve_inputs(buildings: Path | None, barriers: Path | None, *, osm: Path | None = None, place: str | None = None,
                   bbox: str | None = None, ledger: Path | None = None, ledger_key: str | None = None,
                   compounds: Path | None = None, id_field: str = "building_id", households_field: str = "households",
                   compound_field: str = "compound", input_crs: str = "auto") -> dict:
    """The ``buildings``, ``barriers``, ``id_field``, ``households_field`` and ``compound_field`` to plan.

    Exactly one of ``buildings``, ``osm``, ``place`` and ``bbox`` gives the buildings. OSM data brings its own
    barriers (unless ``barriers`` is given) and compounds; ``compounds`` adds outlines; ``ledger`` joins
    households by ``ledger_key`` (default: the id field's name). A problem is printed and exits with code 2.
    """
    with exit_on_error():
        return _resolve(buildings, barriers, osm=osm, place=place, bbox=bbox, ledger=ledger, ledger_key=ledger_key,
                        compounds=compounds, id_field=id_field, households_field=households_field,
                        compound_field=compound_field, input_crs=input_crs)


@app.command("inspect")
def inspect_cmd(
    buildings: Annotated[Optional[Path], typer.Argument(help="building footprints, or an OSM extract (.osm, .osm.pbf, .osm.bz2)")] = None,
    barriers: Annotated[Optional[Path], typer.Option(help="roads, railways, rivers (default: from the OSM extract)")] = None,
    communities: Annotated[Optional[Path], typer.Option(help="community polygons to keep")] = None,
    osm: Annotated[Optional[Path], typer.Option(help="OpenStreetMap extract: buildings, barriers and compounds")] = None,
    place: Annotated[Optional[str], typer.Option(help="place name to fetch from OpenStreetMap (online)")] = None,
    bbox: Bbox = None,
    ledger: Annotated[Optional[Path], typer.Option(help="household ledger (CSV/XLSX) joined by --ledger-key")] = None,
    ledger_key: Annotated[Optional[str], typer.Option(help="ledger column holding the building id (default: --id-field)")] = None,
    compounds: Annotated[Optional[Path], typer.Option(help="compound (小区) polygons kept together")] = None,
    id_field: IdField = "building_id",
    households_field: HouseholdsField = "households",
    compound_field: Annotated[str, typer.Option(help="gated-compound column")] = "compound",
    community_size: CommunitySize = "1000:3000:2000",
    grid_size: GridSize = "300:500:400",
    micro_size: MicroSize = "30:100:50",
    estimate: Annotated[str, typer.Option(help="households: auto|missing|all|never")] = "auto",
    input_crs: InputCrs = "auto",
    fix_geometry: FixGeometry = False,
    feasibility: Annotated[bool, typer.Option(help="build the plan's cells to find fenced-in pieces")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Print what would be planned from INPUT: counts, household sources, barriers, compounds, feasibility, CRS."""
    from ..config import PlanConfig, SizeRange
    from ..planning.inspect import format_inspection, inspect_inputs
    from ..inputs.io import sniff_kind

    if buildings is not None and osm is None and buildings.is_file() and sniff_kind(buildings) in ("osm", "bz2"):
        buildings, osm = None, buildings  # an OSM extract given as INPUT
    inputs = resolve_inputs(buildings, barriers, osm=osm, place=place, bbox=bbox, ledger=ledger, ledger_key=ledger_key,
                            compounds=compounds, id_field=id_field, households_field=households_field,
                            compound_field=compound_field, input_crs=input_crs)
    with exit_on_error():
        cfg = PlanConfig(community=SizeRange.parse(community_size, name="community_size"),
                         grid=SizeRange.parse(grid_size, name="grid_size"), micro=SizeRange.parse(micro_size, name="micro_size"))
    types = inputs["buildings"]["building"] if isinstance(inputs["buildings"], gpd.GeoDataFrame) and \
        "building" in inputs["buildings"].columns else None
    ins = run(lambda: inspect_inputs(communities=communities, config=cfg, building_types=types, feasibility=feasibility,
                                      estimate=estimate, input_crs=input_crs, fix_geometry=fix_geometry, **inputs))
    typer.echo(json.dumps(ins.to_dict(), ensure_ascii=False, indent=2) if as_json else format_inspection(ins))
