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

from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import CommunitySize, HouseholdsField, IdField, Quiet, Progress, run, app

__all__: list[str] = []


def _write_with_changes(result, out: Path, quiet: bool, headline) -> None:
    """Write a plan and its change list into ``out``, then print ``headline()`` and the change summary."""
    run(lambda: (result.plan.write(out), result.changes.write(out)))
    if not quiet:
        typer.echo(headline())
        typer.echo(_summary(result.changes, out))


def _summary(changes, out: Path) -> str:
    s = changes.summary
    moved = s["households_moved"]
    units = ", ".join(f"{lvl}: {v['new']} new, {v['changed']} changed, {v['retired']} retired" for lvl, v in s["units"].items())
    return (f"households moved: {moved['community']:,} between communities, {moved['grid']:,} between grids, {moved['micro']:,} between micro-grids; "
            f"units changed: {s['units_changed']} ({units})\nwrote {out}/ (change list: changes.csv, changes_units.csv, migration.csv, "
            "new_communities.csv, retired.csv, changed_units.geojson)")


@app.command("redistrict")
def redistrict_cmd(
    buildings: Annotated[Path, typer.Argument(help="building footprints with households")],
    communities: Annotated[Path, typer.Option(help="the old community polygons (code, name)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="plan directory to write (with the change list)")],
    barriers: Annotated[Optional[Path], typer.Option(help="roads, railways, rivers, water areas")] = None,
    count: Annotated[Optional[int], typer.Option(help="communities wanted in total (e.g. 35); infeasible counts are refused with the feasible ones")] = None,
    all_: Annotated[bool, typer.Option("--all", help="re-split every community, not only the oversized ones")] = False,
    community_size: CommunitySize = "1000:3000:2000",
    grid_size: Annotated[str, typer.Option(help="households per grid")] = "300:500:400",
    micro_size: Annotated[str, typer.Option(help="households per micro-grid")] = "30:100:50",
    id_field: IdField = "building_id",
    households_field: HouseholdsField = "households",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    street_code: Annotated[str, typer.Option(help="9-digit street code (used only when the communities carry no codes)")] = "000000000",
    start_date: Annotated[Optional[str], typer.Option(help="start date of new units, end date of retired ones (ISO, default today)")] = None,
    quiet: Quiet = False,
) -> None:
    """Split the oversized communities (every one with --all) into balanced new ones, plan grids and micro-grids
    inside, and write the plan with its change list."""
    from ..planning.redistrict import redistrict

    bar = Progress(False if quiet else None)
    r = run(lambda: redistrict(
        buildings, barriers, communities, mode="all" if all_ else "oversized", count=count, community_size=community_size,
        grid_size=grid_size, micro_size=micro_size, id_field=id_field, households_field=households_field, seed=seed,
        street_code=street_code, start_date=start_date, progress=bar))
    bar.close()
    def headline() -> str:
        info = r.plan.report["redistricting"]
        c = r.plan.communities
        return (f"{info['old_communities']} old communities → {len(c)}: {len(info['kept'])} kept, {len(info['split'])} split into "
                f"{sum(len(v) for v in info['new'].values())}; households per community {int(c.households.min()):,}–{int(c.households.max()):,}, "
                f"{c.in_range.mean():.0%} in range")

    _write_with_changes(r, out, quiet, headline)


@app.command("replan")
def replan_cmd(
    previous: Annotated[Path, typer.Argument(help="the previous plan directory")],
    buildings: Annotated[Path, typer.Option(help="every building as it is now (same id field)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="plan directory to write (with the change list)")],
    lock: Annotated[Optional[list[str]], typer.Option(help="code of a unit to keep as it is (repeatable)")] = None,
    households_field: HouseholdsField = "households",
    seed: Annotated[Optional[int], typer.Option(help="random seed (default: the previous plan's)")] = None,
    start_date: Annotated[Optional[str], typer.Option(help="start date of new units, end date of retired ones (ISO, default today)")] = None,
    quiet: Quiet = False,
) -> None:
    """Rebalance PREVIOUS after the buildings changed, moving as few households as possible."""
    from ..planning.replan import replan

    r = run(lambda: replan(previous, buildings, lock=lock or (), seed=seed, start_date=start_date, households_field=households_field))
    _write_with_changes(r, out, quiet, lambda: f"re-partitioned {len(r.plan.report['replan']['scopes'])} scope(s)")


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

    changes = run(lambda: diff(read_plan(old), read_plan(new)))
    run(lambda: changes.write(out))
    if not quiet:
        typer.echo(_summary(changes, out))
