"""The delivery commands of the ``gridplan`` command line: ``export``, ``map`` and ``sheets``.

Registered on :data:`gridplan.cli.app` when :mod:`gridplan.cli` is imported.

Examples
--------
>>> from typer.testing import CliRunner
>>> from gridplan.cli import app
>>> result = CliRunner().invoke(app, ["export", "--help"])
>>> result.exit_code, "--encoding" in result.output
(0, True)
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import app
from ..errors import GridplanError

__all__: list[str] = []


def _fail(exc: GridplanError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


def _read(plan_dir: Path):
    from ..outputs.reader import read_plan

    return read_plan(plan_dir)


@app.command("export")
def export_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="a plan directory written by `gridplan plan`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="delivery directory to write (new, empty, or an earlier delivery)")],
    format: Annotated[list[str], typer.Option("--format", "-f", help="shp|gpkg|fgb|csv, repeatable or comma-separated; default all")] = ["all"],  # noqa: A002,B006
    crs: Annotated[str, typer.Option(help="delivery CRS: 4490 (CGCS2000), 4326 (WGS84) or EPSG:xxxx")] = "4490",
    encoding: Annotated[str, typer.Option(help="shapefile text encoding: utf-8 or gbk (code page 936, older desktop GIS)")] = "utf-8",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write shapefiles (zipped, with .prj/.cpg and a field alias table), GeoPackage, FlatGeobuf and CSV tables."""
    from ..outputs.deliver import export_plan

    try:
        d = export_plan(_read(plan_dir), out, formats=format, crs=crs, encoding=encoding)
    except GridplanError as exc:
        _fail(exc)
    if not quiet:
        typer.echo(f"wrote {len(d.files)} files in {d.crs} to {d.path}/")


@app.command("map")
def map_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="a plan directory written by `gridplan plan`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML file to write")],
    compare: Annotated[Optional[Path], typer.Option(help="an older plan directory: shown as toggled layers, changed units marked")] = None,
    basemap: Annotated[str, typer.Option(help="none (offline), osm, or tianditu (key from $GRIDPLAN_TIANDITU_KEY)")] = "none",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write the review map: one self-contained HTML file that works with no internet access."""
    from ..outputs.review_map import TIANDITU_KEY_ENV, write_review_map

    try:
        old = _read(compare) if compare is not None else None
        path = write_review_map(_read(plan_dir), out, compare=old, basemap=basemap)
    except GridplanError as exc:
        _fail(exc)
    if not quiet:
        size = path.stat().st_size / 1e6
        typer.echo(f"wrote {path} ({size:.1f} MB)")
        if basemap == "tianditu":
            typer.echo(f"the Tianditu key is not in the file: open it as {path.name}#tk=${TIANDITU_KEY_ENV}, or paste the key in its panel")


@app.command("sheets")
def sheets_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="a plan directory written by `gridplan plan`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory of sheets to write (new, empty, or earlier sheets)")],
    dpi: Annotated[int, typer.Option(help="resolution of the PNG sheets")] = 150,
    pdf: Annotated[bool, typer.Option(help="also write all sheets in one sheets.pdf")] = True,
    level: Annotated[list[str], typer.Option(help="community and/or grid (repeatable); default both")] = ["community", "grid"],  # noqa: B006
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write one printable A4 sheet per community and per grid (PNG, and one PDF of all)."""
    from ..outputs.sheets import write_sheets

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = write_sheets(_read(plan_dir), out, levels=tuple(level), dpi=dpi, pdf=pdf)
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
    except GridplanError as exc:
        _fail(exc)
    if not quiet:
        typer.echo(f"wrote {len(written)} sheets to {written.path}/")
