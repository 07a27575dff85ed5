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

from ..errors import plural
from .base import app, exit_on_error, run
from .inputs import BuildingInputs, building_inputs
from .options import (Balance, CommunitySize, GridSize, MicroSize, PersonsPerHousehold, Quiet, Seed, ShowProgress,
                      progress_enabled)
from .progress import Progress

__all__ = ["plan_cmd", "demo_cmd", "plan_summary", "rules_summary"]


def plan_summary(report: dict) -> str:
    """The one-line summary of a plan's report that ``gridplan plan`` prints."""
    lv = report["levels"]
    empty = report.get("empty_units", [])
    across = sum(1 for c in report["crossings"] if c.get("households_across"))
    return (
        f"planned {plural(report['input']['buildings'], 'building')}, {plural(report['input']['households'], 'household')}: "
        f"{plural(lv['community']['count'], 'community')}, {plural(lv['grid']['count'], 'grid')} "
        f"({lv['grid'].get('share_in_range', 0):.0%} in range), {plural(lv['micro']['count'], 'micro-grid')} "
        f"({lv['micro'].get('share_in_range', 0):.0%} in range); "
        f"{plural(len(report['infeasible']), 'infeasible piece')}, "
        + (f"{plural(len(empty), 'unit')} without households, " if empty else "")
        + f"{plural(len(report['crossings']), 'unit')} crossing a strong road ({across:,} joining households across it) reported"
    )


def rules_summary(plan) -> str:
    """The validation rules ``plan`` still fails, one line per rule and level (rule, level, units, first codes,
    the first one's detail), as ``gridplan plan`` and ``gridplan redistrict`` print them under their summary;
    ``''`` when every rule passes or only warns (:func:`gridplan.outputs.rules.failed_rules_text`)."""
    from ..outputs.rules import failed_rules, failed_rules_text, validation_report

    return failed_rules_text(failed_rules(validation_report(plan)))


def _run_plan(out: Path, quiet: bool, progress: bool | None, **kwargs) -> None:
    from ..planning.plan import plan

    bar = Progress(progress_enabled(quiet, progress))
    p = run(lambda: plan(progress=bar, **kwargs), cleanup=bar.close)
    with exit_on_error(bar.close), bar.step("write"):
        p.write(out)
    bar.close()
    if not quiet:
        typer.echo(plan_summary(p.report))
        failed = run(lambda: rules_summary(p))
        if failed:
            typer.echo(failed)
        typer.echo(f"wrote {out}/ (open {out}/map.html)")


@app.command("plan")
@building_inputs()
def plan_cmd(
    inputs: BuildingInputs,
    out: Annotated[Path, typer.Option("--out", "-o", help="plan directory to write")],
    communities: Annotated[Optional[Path], typer.Option(help="community polygons to keep; grids are planned inside each")] = None,
    community_size: CommunitySize = None,
    grid_size: GridSize = None,
    micro_size: MicroSize = None,
    balance: Balance = "households",
    persons_per_household: PersonsPerHousehold = 2.62,
    seed: Seed = 0,
    street_code: Annotated[str, typer.Option(help="9-digit street-office code that community codes extend")] = "000000000",
    start_date: Annotated[Optional[str], typer.Option(help="start date of every unit (ISO, default today)")] = None,
    quiet: Quiet = False,
    progress: ShowProgress = None,
) -> None:
    """Plan BUILDINGS (or --osm/--place/--bbox) into communities → grids → micro-grids and write the plan directory."""
    _run_plan(out, quiet, progress, communities=communities, **inputs.resolve(), community_size=community_size,
              grid_size=grid_size, micro_size=micro_size, balance=balance, persons_per_household=persons_per_household,
              seed=seed, street_code=street_code, start_date=start_date)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="plan directory to write")] = Path("out/demo"),
    seed: Seed = 0,
    balance: Balance = "households",
    persons_per_household: PersonsPerHousehold = 2.62,
    quiet: Quiet = False,
    progress: ShowProgress = None,
) -> None:
    """Plan the bundled sample district (sample_geo/) top-down and write the plan with its map."""
    from ..sample import sample_path

    _run_plan(out, quiet, progress, buildings=sample_path("buildings"), barriers=sample_path("roads"), seed=seed,
              street_code="320102001", balance=balance, persons_per_household=persons_per_household)
