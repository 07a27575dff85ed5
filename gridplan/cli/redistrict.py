"""``gridplan redistrict``, ``gridplan replan`` and ``gridplan diff`` (registered on :data:`gridplan.cli.app`).

Examples
--------
>>> from typer.testing import CliRunner
>>> from gridplan.cli import app
>>> result = CliRunner().invoke(app, ["redistrict", "--help"])
>>> result.exit_code, "--count" in result.output
(0, True)
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import app, exit_on_error, run
from .inputs import FIELD_OPTIONS, BuildingInputs, building_inputs
from .options import (Balance, CommunitySize, GridSize, MicroSize, PersonsPerHousehold, Quiet, Seed, ShowProgress, StartDate,
                      progress_enabled, refuse_out_inside)
from .progress import Progress
from ..errors import OptionError, first_ids

__all__: list[str] = []

Out = Annotated[Path, typer.Option("--out", "-o", help="plan directory to write (with the change list)")]


def _write_with_changes(result, out: Path, quiet: bool, bar: Progress, headline, compare) -> None:
    """Write a plan, its change list and its review map (``compare``: the old plan, or the old communities, shown on
    it) into ``out``, then print ``headline()``, the rules the plan still fails and the change summary."""
    from ..planning.diff import write_with_changes
    from .plan import rules_summary

    with bar.step("write"):
        run(lambda: write_with_changes(result.plan, result.changes, out, compare=compare), cleanup=bar.close)
    bar.close()
    if not quiet:
        typer.echo(headline())
        failed = rules_summary(result.plan)
        if failed:
            typer.echo(failed)
        typer.echo(_summary(result.changes, out))


def _summary(changes, out: Path) -> str:
    s = changes.summary
    moved = s["households_moved"]
    units = ", ".join(f"{lvl}: {v['new']:,} new, {v['changed']:,} changed, {v['retired']:,} retired" for lvl, v in s["units"].items())
    if moved["grid"] is None:
        lower = ("between grids and micro-grids: unknown (the old grids are not known: give --old-plan DIR, the previous plan "
                 "directory, to count them)")
    else:
        lower = f"{moved['grid']:,} between grids, {moved['micro']:,} between micro-grids"
    recoded = s.get("units_recoded", 0)
    also = f"; units recoded (same buildings, new code): {recoded:,}" if recoded else ""
    return (f"households moved: {moved['community']:,} to another community code, {lower}; "
            f"units changed: {s['units_changed']:,} ({units}){also}\nwrote {out}/ (change list: changes.csv, changes_units.csv, "
            "migration.csv, new_communities.csv, retired.csv, changed_units.geojson)")


@app.command("redistrict")
@building_inputs()
def redistrict_cmd(
    inputs: BuildingInputs,
    communities: Annotated[Path, typer.Option(help="the old community polygons (code, name)")],
    out: Out,
    count: Annotated[Optional[int], typer.Option(help="communities wanted in total (e.g. 35); infeasible counts are refused with the feasible ones")] = None,
    all_: Annotated[bool, typer.Option("--all", help="re-split every community, not only the oversized ones")] = False,
    each_alone: Annotated[bool, typer.Option("--each-alone", help="split each oversized community inside its own old boundary "
                                                                   "(old lines are walls) instead of redrawing them together")] = False,
    community_size: CommunitySize = None,
    grid_size: GridSize = None,
    micro_size: MicroSize = None,
    balance: Balance = "households",
    persons_per_household: PersonsPerHousehold = 2.62,
    seed: Seed = 0,
    street_code: Annotated[str, typer.Option(help="9-digit street code (used only when the communities carry no codes)")] = "000000000",
    start_date: StartDate = None,
    old_plan: Annotated[Optional[Path], typer.Option(help="the previous plan directory of these buildings: the change list then "
                                                          "counts moves between grids and micro-grids too")] = None,
    quiet: Quiet = False,
    progress: ShowProgress = None,
) -> None:
    """Split the oversized communities (every one with --all) into balanced new ones, plan grids and micro-grids
    inside, and write the plan with its change list and a map showing the old boundaries."""
    from ..outputs.reader import read_plan
    from ..planning.redistrict import redistrict

    with exit_on_error():
        refuse_out_inside(out, old_plan=old_plan)
    previous = run(lambda: read_plan(old_plan)) if old_plan is not None else None
    given = inputs.resolve()
    bar = Progress(progress_enabled(quiet, progress))
    r = run(lambda: redistrict(
        given.pop("buildings"), given.pop("barriers"), communities, mode="all" if all_ else "oversized", count=count,
        joint=not each_alone, community_size=community_size, grid_size=grid_size, micro_size=micro_size, balance=balance,
        persons_per_household=persons_per_household, seed=seed, street_code=street_code, start_date=start_date,
        old_plan=previous, progress=bar, **given), cleanup=bar.close)

    def headline() -> str:
        info = r.plan.report["redistricting"]
        c = r.plan.communities
        into = sum(s["into"] for s in info["scopes"]) if "scopes" in info else sum(v["into"] for v in info["split"].values())
        added = info.get("neighbours_added") or []
        also = f" (with {len(added):,} in-range neighbour(s) redrawn: {', '.join(added[:5])}{' …' if len(added) > 5 else ''})" if added else ""
        core = info.get("core", {})
        kept_share = f"; {core['overall']:.1%} of households stay with the majority of their old community" if "overall" in core else ""
        return (f"{info['old_communities']:,} old communities → {len(c):,}: {len(info['kept']):,} kept, {len(info['split']):,} redrawn into "
                f"{into:,}{also}; households per community {int(c.households.min()):,}–{int(c.households.max()):,}, "
                f"{c.in_range.mean():.0%} in range{kept_share}")

    _write_with_changes(r, out, quiet, bar, headline, previous if previous is not None else r.changes.before.layers["community"])


def _replan_buildings(inputs: BuildingInputs, alias: Path | None) -> BuildingInputs:
    """BUILDINGS, or the deprecated ``--buildings`` (with a warning)."""
    if alias is None:
        return inputs
    if inputs.buildings is not None:
        raise OptionError(f"BUILDINGS was given twice: {str(inputs.buildings)!r} and --buildings {str(alias)!r}; "
                          "give it once, as the second argument")
    typer.echo("warning: --buildings is deprecated; give the buildings as the second argument: "
               "gridplan replan PREVIOUS BUILDINGS --out DIR", err=True)
    return replace(inputs, buildings=alias)


_EXPLICIT = ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


def _as_library_names(given: dict, id_field: str, ctx: typer.Context) -> dict:
    """The replan library reads the previous plan's id field and the default column names: rename the columns
    named by options given on the command line to those (reading the file when it is still a path)."""
    from ..inputs.io import read_layer

    library = {"id_field": id_field, **{f: f.removesuffix("_field") for f in FIELD_OPTIONS if f not in ("id_field", "households_field")}}
    renames = {given[f]: name for f, name in library.items()
               if given[f] != name and getattr(ctx.get_parameter_source(f), "name", "") in _EXPLICIT}
    frame = given["buildings"]
    if renames:
        frame = read_layer(frame) if not hasattr(frame, "columns") else frame.copy()
        missing = [c for c in renames if c not in frame.columns]
        if missing:
            raise OptionError(f"BUILDINGS has no column {first_ids(missing)} named by the options; its columns are "
                              f"{first_ids(c for c in frame.columns if c != 'geometry')}: name one of them")
        frame = frame.drop(columns=[c for c in renames.values() if c in frame.columns and c not in renames])
        frame = frame.rename(columns=renames)
    return {"buildings": frame, "households_field": given["households_field"], "estimate": given["estimate"],
            "input_crs": given["input_crs"], "fix_geometry": given["fix_geometry"]}


@app.command("replan")
@building_inputs(barriers=False)
def replan_cmd(
    ctx: typer.Context,
    previous: Annotated[Path, typer.Argument(help="the previous plan directory")],
    inputs: BuildingInputs,
    out: Out,
    buildings_alias: Annotated[Optional[Path], typer.Option("--buildings", hidden=True,
                                                            help="deprecated: give BUILDINGS as the second argument")] = None,
    lock: Annotated[Optional[list[str]], typer.Option(help="code of a unit to keep as it is (repeatable)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="random seed (default: the previous plan's)")] = None,
    start_date: StartDate = None,
    quiet: Quiet = False,
    progress: ShowProgress = None,
) -> None:
    """Rebalance PREVIOUS after the buildings changed (BUILDINGS: every building as it is now, with the previous
    plan's ids), moving as few households as possible."""
    from ..outputs.reader import read_plan
    from ..planning.replan import replan

    with exit_on_error():
        refuse_out_inside(out, previous=previous)
        inputs = _replan_buildings(inputs, buildings_alias)
    prev = run(lambda: read_plan(previous))
    given = inputs.resolve()
    with exit_on_error():
        kwargs = _as_library_names(given, prev.id_field, ctx)
    bar = Progress(progress_enabled(quiet, progress))
    r = run(lambda: replan(prev, lock=lock or (), seed=seed, start_date=start_date, progress=bar, **kwargs), cleanup=bar.close)
    _write_with_changes(r, out, quiet, bar, lambda: f"re-partitioned {len(r.plan.report['replan']['scopes']):,} scope(s)", prev)


@app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="the old plan directory")],
    new: Annotated[Path, typer.Argument(help="the new plan directory")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the change list")],
    quiet: Quiet = False,
) -> None:
    """Write the change list from OLD to NEW (per building, per unit, migration, new communities, retired codes,
    a GeoJSON of the changed units)."""
    from ..planning.diff import diff
    from ..outputs.reader import read_plan

    with exit_on_error():
        refuse_out_inside(out, old=old, new=new)
    changes = run(lambda: diff(read_plan(old), read_plan(new)))
    run(lambda: changes.write(out))
    if not quiet:
        typer.echo(_summary(changes, out))
