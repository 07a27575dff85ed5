"""The ``gridplan`` app and what its commands share: the progress bar, options several commands take,
and how errors and warnings reach the terminal. The commands register themselves on :data:`app` from one
module per group (:mod:`gridplan.cli.plan`, ...); :mod:`gridplan.cli` imports them all.

Examples
--------
>>> with exit_on_error():
...     run(lambda: 6 * 7)
42
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Optional, TypeVar

import typer

from ..errors import GridplanError

__all__ = ["app", "Progress", "exit_on_error", "run", "IdField", "HouseholdsField", "CommunitySize", "GridSize",
           "MicroSize", "InputCrs", "FixGeometry", "Bbox", "Quiet"]

T = TypeVar("T")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Plan communities → grids → micro-grids from building footprints.")


class Progress:
    """A tqdm bar per stage, on stderr, only when it is a terminal (or forced)."""

    def __init__(self, enabled: bool | None):
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, stage: str, n: int) -> None:
        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = self._tqdm(desc=stage, unit=" steps", disable=self.enabled is False if self.enabled is not None else None, leave=False, file=sys.stderr)
        bar.update(n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


# Options that several commands take, defined once (typer copies an Annotated option per command).
IdField = Annotated[str, typer.Option(help="building id column")]
HouseholdsField = Annotated[str, typer.Option(help="households column")]
CommunitySize = Annotated[str, typer.Option(help="households per community, MIN:MAX[:TARGET]")]
GridSize = Annotated[str, typer.Option(help="households per grid, MIN:MAX[:TARGET]")]
MicroSize = Annotated[str, typer.Option(help="households per micro-grid, MIN:MAX[:TARGET]")]
InputCrs = Annotated[str, typer.Option(help="auto, or gcj02|bd09 to convert Chinese web-map coordinates")]
FixGeometry = Annotated[bool, typer.Option(help="repair invalid footprints instead of refusing them")]
Bbox = Annotated[Optional[str], typer.Option(help="W,S,E,N in degrees to fetch from OpenStreetMap (online)")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q")]


@app.callback()
def _gdal_guard(
    allow_any_format: Annotated[bool, typer.Option(
        "--allow-any-format", help="open input files of any format GDAL reads, a VRT included (which can read other "
                                   "files and URLs): only for files of your own")] = False,
) -> None:
    """Every command opens its input files with gridplan's allow-list of formats (gridplan.inputs.formats)."""
    from ..inputs.formats import allow_any_format as allow, restrict_gdal

    if allow_any_format:
        allow()
    else:
        restrict_gdal()


@contextmanager
def exit_on_error(cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Turn a gridplan error into ``error: …`` on stderr and exit code 2 (after ``cleanup()``)."""
    try:
        yield
    except GridplanError as exc:
        if cleanup is not None:
            cleanup()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None


def run(make: Callable[[], T], *, cleanup: Callable[[], object] | None = None) -> T:
    """``make()`` with its warnings echoed as ``warning: …`` on stderr, and gridplan errors as in :func:`exit_on_error`."""
    with exit_on_error(cleanup):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = make()
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
        return result
