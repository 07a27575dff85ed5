"""Options several commands share (besides the input options of :mod:`gridplan.cli.inputs`), defined once:
typer copies an ``Annotated`` option into each command that uses it.

Also :func:`refuse_out_inside`, which keeps ``--out`` from overwriting a command's own input plan.

Examples
--------
>>> from pathlib import Path
>>> refuse_out_inside(Path("out/new"), previous=Path("out/plan"))
>>> refuse_out_inside(Path("out/plan/changes"), previous=Path("out/plan"))
Traceback (most recent call last):
...
gridplan.errors.OptionError: --out 'out/plan/changes' is inside PREVIOUS 'out/plan', the plan this command reads: writing there would litter it; give --out a directory outside 'out/plan'
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import OptionError

__all__ = ["Quiet", "ShowProgress", "CommunitySize", "GridSize", "MicroSize", "Balance", "PersonsPerHousehold",
           "Seed", "StartDate", "refuse_out_inside", "progress_enabled"]

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but warnings and errors (no summary, "
                                                           "no progress bar unless --progress)")]
ShowProgress = Annotated[Optional[bool], typer.Option(
    "--progress/--no-progress", help="show the progress bar on stderr, or not (default: on a terminal, unless --quiet)",
    show_default=False)]

_BY = "default {} households, or × --persons-per-household (rounded to tens) with --balance population"
CommunitySize = Annotated[Optional[str], typer.Option(help="per community, MIN:MAX[:TARGET]; " + _BY.format("1000:3000:2000"),
                                                      show_default=False)]
GridSize = Annotated[Optional[str], typer.Option(help="per grid, MIN:MAX[:TARGET]; " + _BY.format("300:500:400"),
                                                 show_default=False)]
MicroSize = Annotated[Optional[str], typer.Option(help="per micro-grid, MIN:MAX[:TARGET]; " + _BY.format("30:100:50"),
                                                  show_default=False)]
Balance = Annotated[str, typer.Option(help="what the size ranges count: households|population (persons: the population "
                                           "column, else households × --persons-per-household)")]
PersonsPerHousehold = Annotated[float, typer.Option(help="persons per household (7th census: 2.62)")]
Seed = Annotated[int, typer.Option(help="random seed: the same inputs and seed give the same plan")]
StartDate = Annotated[Optional[str], typer.Option(help="start date of new units, end date of retired ones (ISO, default today)")]


def progress_enabled(quiet: bool, progress: bool | None) -> bool | None:
    """The bar's setting: ``--progress``/``--no-progress`` when given, else off with ``--quiet``, else None
    (on a terminal)."""
    return progress if progress is not None else (False if quiet else None)


def refuse_out_inside(out: Path, **plans: Path | None) -> None:
    """Raise :class:`OptionError` when ``out`` is one of the input plan directories ``plans`` (argument name →
    path) or lies inside one: writing there would overwrite the baseline the command compares against."""
    target = Path(out).expanduser().resolve()
    for name, plan_dir in plans.items():
        if plan_dir is None:
            continue
        base = Path(plan_dir).expanduser().resolve()
        if target == base:
            raise OptionError(f"--out {str(out)!r} is {name.upper()}, the plan this command reads: writing there would "
                              "overwrite it; give --out a new directory")
        if base in target.parents:
            raise OptionError(f"--out {str(out)!r} is inside {name.upper()} {str(plan_dir)!r}, the plan this command "
                              f"reads: writing there would litter it; give --out a directory outside {str(plan_dir)!r}")
