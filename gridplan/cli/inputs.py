"""The input options every command that reads buildings takes, defined once, and ``gridplan inspect``.

:func:`building_inputs` adds them to a command: the BUILDINGS argument (or ``--osm``, ``--place``,
``--bbox``), ``--barriers``, ``--ledger``/``--ledger-key``, ``--compounds``, the column names
(``--id-field``, ``--households-field``, ``--units-field``, ``--levels-field``, ``--compound-field``,
``--population-field``), ``--estimate``, ``--input-crs`` and ``--fix-geometry``; the command receives them
as one :class:`BuildingInputs`, whose :meth:`~BuildingInputs.resolve` gives the keyword arguments of
:func:`gridplan.plan` (so ``plan``, ``inspect``, ``redistrict`` and ``replan`` read inputs the same way).

Examples
--------
>>> import typer
>>> from typer.testing import CliRunner
>>> demo = typer.Typer()
>>> @demo.command()
... @building_inputs()
... def show(inputs: BuildingInputs, verbose: bool = False) -> None:
...     print(inputs.buildings, inputs.households_field, inputs.estimate)
>>> print(CliRunner().invoke(demo, ["b.gpkg", "--households-field", "hh"]).output.strip())
b.gpkg hh auto
"""
from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Optional

import geopandas as gpd
import typer

from .base import app, exit_on_error, run
from .options import CommunitySize, GridSize, MicroSize
from ..errors import OptionError

__all__ = ["BuildingInputs", "building_inputs", "resolve_inputs", "inspect_cmd"]

_OSM_KINDS = ("osm", "bz2")

#: The shared input options: (parameter, annotation, default); BUILDINGS first, --barriers second.
INPUT_OPTIONS: list[tuple[str, object, object]] = [
    ("buildings", Annotated[Optional[Path], typer.Argument(
        help="building footprints or parcels with households (GeoPackage, GeoJSON, Shapefile, zipped shapefile, "
             "FlatGeobuf) or an OpenStreetMap extract (.osm, .osm.pbf, .osm.bz2); or use --osm/--place/--bbox",
        show_default=False)], None),
    ("barriers", Annotated[Optional[Path], typer.Option(
        help="roads, railways, rivers, water areas (OSM tags or a `tier` column); default: those of the OSM extract")], None),
    ("osm", Annotated[Optional[Path], typer.Option(
        help="OpenStreetMap extract (.osm, .osm.pbf, .osm.bz2): buildings, barriers, compounds")], None),
    ("place", Annotated[Optional[str], typer.Option(
        help="place name to fetch from OpenStreetMap (online), e.g. '玄武区, 南京市'")], None),
    ("bbox", Annotated[Optional[str], typer.Option(help="W,S,E,N in degrees to fetch from OpenStreetMap (online)")], None),
    ("ledger", Annotated[Optional[Path], typer.Option(
        help="household ledger (台账; CSV/XLSX) joined to the buildings by --ledger-key")], None),
    ("ledger_key", Annotated[Optional[str], typer.Option(
        help="ledger column holding the building id (default: the --id-field name)")], None),
    ("compounds", Annotated[Optional[Path], typer.Option(
        help="compound (小区) polygons: the buildings inside one are kept in one grid")], None),
    ("id_field", Annotated[str, typer.Option(help="building id column (unique)")], "building_id"),
    ("households_field", Annotated[str, typer.Option(help="households column")], "households"),
    ("units_field", Annotated[str, typer.Option(help="entrances column (used to divide big buildings)")], "units"),
    ("levels_field", Annotated[str, typer.Option(help="storeys column")], "levels"),
    ("compound_field", Annotated[str, typer.Option(help="gated-compound column (kept together)")], "compound"),
    ("population_field", Annotated[str, typer.Option(help="persons column (with --balance population)")], "population"),
    ("estimate", Annotated[str, typer.Option(
        help="households: auto|missing|all|never (estimate from footprint × storeys)")], "auto"),
    ("input_crs", Annotated[str, typer.Option(
        help="auto (the file's own CRS); gcj02|bd09 to convert Chinese web-map coordinates; or EPSG:xxxx to declare a missing or wrong CRS")], "auto"),
    ("fix_geometry", Annotated[bool, typer.Option(help="repair invalid footprints instead of refusing them")], False),
    ("accept_large", Annotated[bool, typer.Option("--accept-large-buildings",
        help="accept buildings with more households than one building plausibly holds (3,000 by default)")], False),
]
#: The options that name columns of the buildings (a command may have to rename them, as replan does).
FIELD_OPTIONS = ("id_field", "households_field", "units_field", "levels_field", "compound_field", "population_field")


@dataclass(frozen=True)
class BuildingInputs:
    """The values of the shared input options of one command line (see :data:`INPUT_OPTIONS`)."""

    buildings: Path | None = None
    barriers: Path | None = None
    osm: Path | None = None
    place: str | None = None
    bbox: str | None = None
    ledger: Path | None = None
    ledger_key: str | None = None
    compounds: Path | None = None
    id_field: str = "building_id"
    households_field: str = "households"
    units_field: str = "units"
    levels_field: str = "levels"
    compound_field: str = "compound"
    population_field: str = "population"
    estimate: str = "auto"
    input_crs: str = "auto"
    fix_geometry: bool = False
    accept_large: bool = False

    def resolve(self) -> dict:
        """The keyword arguments of :func:`gridplan.plan` these options give: ``buildings`` (a path or a frame),
        ``barriers``, the field names, ``estimate``, ``input_crs`` and ``fix_geometry``; a problem is printed
        and exits with code 2."""
        o = asdict(self)
        read = resolve_inputs(o.pop("buildings"), o.pop("barriers"), osm=o.pop("osm"), place=o.pop("place"),
                              bbox=o.pop("bbox"), ledger=o.pop("ledger"), ledger_key=o.pop("ledger_key"),
                              compounds=o.pop("compounds"), id_field=self.id_field, households_field=self.households_field,
                              compound_field=self.compound_field, input_crs=self.input_crs)
        return {**o, **read}


def building_inputs(*, barriers: bool = True) -> Callable[[Callable], Callable]:
    """Decorate a command whose parameter ``inputs: BuildingInputs`` stands for the shared input options:
    they take its place (BUILDINGS is an argument there), and the command receives them as one
    :class:`BuildingInputs`. ``barriers=False`` leaves out ``--barriers`` (a replan takes the previous plan's)."""
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=default)
              for name, ann, default in INPUT_OPTIONS if barriers or name != "barriers"]
    names = [p.name for p in shared]

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()]
        at = [p.name for p in own].index("inputs")

        def command(**kwargs):
            return fn(inputs=BuildingInputs(**{n: kwargs.pop(n) for n in names}), **kwargs)

        command.__signature__ = sig.replace(parameters=[*own[:at], *shared, *own[at + 1:]])
        command.__name__, command.__qualname__, command.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        command.__module__ = fn.__module__
        return command

    return decorate


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

    Exactly one of ``buildings``, ``osm``, ``place`` and ``bbox`` gives the buildings; an OSM extract given
    as ``buildings`` is read as ``osm``. OSM data brings its own barriers (unless ``barriers`` is given) and
    compounds; ``compounds`` adds outlines; ``ledger`` joins households by ``ledger_key`` (default: the id
    field's name). Warnings are printed as ``warning: …``; a problem is printed and exits with code 2.
    """
    from ..inputs.io import sniff_kind

    if buildings is not None and osm is None and buildings.is_file() and sniff_kind(buildings) in _OSM_KINDS:
        buildings, osm = None, buildings
    return run(lambda: _resolve(buildings, barriers, osm=osm, place=place, bbox=bbox, ledger=ledger, ledger_key=ledger_key,
                                compounds=compounds, id_field=id_field, households_field=households_field,
                                compound_field=compound_field, input_crs=input_crs))


@app.command("inspect")
@building_inputs()
def inspect_cmd(
    inputs: BuildingInputs,
    communities: Annotated[Optional[Path], typer.Option(help="community polygons to keep")] = None,
    community_size: CommunitySize = "1000:3000:2000",
    grid_size: GridSize = "300:500:400",
    micro_size: MicroSize = "30:100:50",
    feasibility: Annotated[bool, typer.Option(help="build the plan's cells to find fenced-in pieces")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Print what would be planned from BUILDINGS: counts, household sources, barriers, compounds, feasibility, CRS."""
    from ..config import PlanConfig, SizeRange
    from ..planning.inspect import format_inspection, inspect_inputs

    given = inputs.resolve()
    with exit_on_error():
        cfg = PlanConfig(community=SizeRange.parse(community_size, name="community_size"),
                         grid=SizeRange.parse(grid_size, name="grid_size"), micro=SizeRange.parse(micro_size, name="micro_size"))
    frame = given["buildings"]
    types = frame["building"] if isinstance(frame, gpd.GeoDataFrame) and "building" in frame.columns else None
    ins = run(lambda: inspect_inputs(communities=communities, config=cfg, building_types=types, feasibility=feasibility,
                                      **given))
    typer.echo(json.dumps(ins.to_dict(), ensure_ascii=False, indent=2) if as_json else format_inspection(ins))
