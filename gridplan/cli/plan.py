"""``gridplan plan`` and ``gridplan demo`` (registered on :data:`gridplan.cli.app`).

Examples
--------
>>> from typer.testing import CliRunner
>>> from gridplan.cli import app
>>> result = CliRunner().invoke(app, ["plan", "--help"])
>>> result.exit_code, "--grid-size" in result.output
(0, True)
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import Bbox, FixGeometry, HouseholdsField, IdField, InputCrs, Progress, Quiet, app, exit_on_error, run

__all__ = ["plan_cmd", "demo_cmd"]

_BY = "default {} households, or × --persons-per-household (rounded to tens) with --balance population"
CommunitySize = Annotated[Optional[str], typer.Option(help="per community, MIN:MAX[:TARGET]; " + _BY.format("1000:3000:2000"))]
GridSize = Annotated[Optional[str], typer.Option(help="per grid, MIN:MAX[:TARGET]; " + _BY.format("300:500:400"))]
MicroSize = Annotated[Optional[str], typer.Option(help="per micro-grid, MIN:MAX[:TARGET]; " + _BY.format("30:100:50"))]
Balance = Annotated[str, typer.Option(help="what the size ranges count: households|population (persons: the population "
                                           "column, else households × --persons-per-household)")]
PersonsPerHousehold = Annotated[float, typer.Option(help="persons per household (7th census: 2.62)")]


def _run_plan(out: Path, quiet: bool, progress: bool | None, **kwargs) -> None:
    from ..planning.plan import plan

    bar = Progress(False if quiet else progress)
    p = run(lambda: plan(progress=bar, **kwargs), cleanup=bar.close)
    with exit_on_error(bar.close):
        p.write(out)
    bar.close()
    if not quiet:
        lv = p.report["levels"]
        typer.echo(
            f"planned {p.report['input']['buildings']:,} buildings, {p.report['input']['households']:,} households: "
            f"{lv['community']['count']} communities, {lv['grid']['count']} grids "
            f"({lv['grid'].get('share_in_range', 0):.0%} in range), {lv['micro']['count']} micro-grids "
            f"({lv['micro'].get('share_in_range', 0):.0%} in range); "
            f"{len(p.report['infeasible'])} infeasible pieces, {len(p.report.get('empty_units', []))} empty units, {len(p.report['crossings'])} units crossing a strong road "
            f"({sum(1 for c in p.report['crossings'] if c.get('households_across'))} joining households across it) reported"
        )
        typer.echo(f"wrote {out}/ (open {out}/map.html)")


@app.command("plan")
def plan_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="plan directory to write")],
    buildings: Annotated[Optional[Path], typer.Argument(help="building footprints or parcels with households (GeoPackage, GeoJSON, Shapefile, zipped shapefile, FlatGeobuf, OSM); or use --osm/--place/--bbox")] = None,
    barriers: Annotated[Optional[Path], typer.Option(help="roads, railways, rivers, water areas (OSM tags or a `tier` column)")] = None,
    communities: Annotated[Optional[Path], typer.Option(help="community polygons to keep; grids are planned inside each")] = None,
    id_field: IdField = "building_id",
    households_field: HouseholdsField = "households",
    units_field: Annotated[str, typer.Option(help="entrances column (used to divide big buildings)")] = "units",
    levels_field: Annotated[str, typer.Option(help="storeys column")] = "levels",
    compound_field: Annotated[str, typer.Option(help="gated-compound column (kept together)")] = "compound",
    community_size: CommunitySize = None,
    grid_size: GridSize = None,
    micro_size: MicroSize = None,
    balance: Balance = "households",
    persons_per_household: PersonsPerHousehold = 2.62,
    seed: Annotated[int, typer.Option(help="random seed: same inputs and seed give the same plan")] = 0,
    street_code: Annotated[str, typer.Option(help="9-digit street-office code that community codes extend")] = "000000000",
    estimate: Annotated[str, typer.Option(help="households: auto|missing|all|never (estimate from footprint × storeys)")] = "auto",
    input_crs: InputCrs = "auto",
    fix_geometry: FixGeometry = False,
    start_date: Annotated[Optional[str], typer.Option(help="start date of every unit (ISO, default today)")] = None,
    quiet: Quiet = False,
    progress: Annotated[Optional[bool], typer.Option(help="force the progress bar on/off (default: on a terminal)")] = None,
    osm: Annotated[Optional[Path], typer.Option(help="OpenStreetMap extract (.osm, .osm.pbf, .osm.bz2): buildings, barriers, compounds")] = None,
    place: Annotated[Optional[str], typer.Option(help="place name to fetch from OpenStreetMap (online), e.g. '玄武区, 南京市'")] = None,
    bbox: Bbox = None,
    ledger: Annotated[Optional[Path], typer.Option(help="household ledger (台账; CSV/XLSX) joined to the buildings by --ledger-key")] = None,
    ledger_key: Annotated[Optional[str], typer.Option(help="ledger column holding the building id (default: the --id-field name)")] = None,
    compounds: Annotated[Optional[Path], typer.Option(help="compound (小区) polygons: the buildings inside one are kept in one grid")] = None,
) -> None:
    """Plan BUILDINGS (or --osm/--place/--bbox) into communities → grids → micro-grids and write the plan directory."""
    from .inputs import resolve_inputs

    inputs = resolve_inputs(buildings, barriers, osm=osm, place=place, bbox=bbox, ledger=ledger, ledger_key=ledger_key,
                            compounds=compounds, id_field=id_field, households_field=households_field,
                            compound_field=compound_field, input_crs=input_crs)
    _run_plan(
        out, quiet, progress, communities=communities, **inputs, units_field=units_field, levels_field=levels_field,
        community_size=community_size, grid_size=grid_size, micro_size=micro_size, balance=balance,
        persons_per_household=persons_per_household, seed=seed, street_code=street_code, estimate=estimate, input_crs=input_crs, fix_geometry=fix_geometry, start_date=start_date,
    )


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="plan directory to write")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    balance: Balance = "households",
    persons_per_household: PersonsPerHousehold = 2.62,
    quiet: Quiet = False,
) -> None:
    """Plan the bundled sample district (sample_geo/) top-down and write the plan with its map."""
    from ..sample import sample_path

    _run_plan(out, quiet, None, buildings=sample_path("buildings"), barriers=sample_path("roads"), seed=seed,
              street_code="320102001", balance=balance, persons_per_household=persons_per_household)
