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

from pathlib import Path
from typing import Annotated, Optional

import typer

from .base import app, exit_on_error, run
from .options import Quiet, ShowProgress, progress_enabled, refuse_out_inside
from .progress import Progress

__all__: list[str] = []

PlanDir = Annotated[Path, typer.Argument(help="a plan directory written by `gridplan plan`")]


def _read(plan_dir: Path, bar: Progress):
    from ..outputs.reader import read_plan

    with bar.step("read plan"):
        return run(lambda: read_plan(plan_dir), cleanup=bar.close)


def _open(plan_dir: Path, out: Path, quiet: bool, progress: bool | None) -> tuple[Progress, object]:
    """The progress bar and the plan of a command that writes ``out`` from ``plan_dir`` (never inside it)."""
    with exit_on_error():
        refuse_out_inside(out, plan_dir=plan_dir)
    bar = Progress(progress_enabled(quiet, progress))
    return bar, _read(plan_dir, bar)


@app.command("export")
def export_cmd(
    plan_dir: PlanDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="delivery directory to write (new, empty, or an earlier delivery)")],
    format: Annotated[list[str], typer.Option("--format", "-f", help="shp|gpkg|fgb|csv, repeatable or comma-separated; default all")] = ["all"],  # noqa: A002,B006
    crs: Annotated[str, typer.Option(help="delivery CRS: 4490 (CGCS2000), 4326 (WGS84) or EPSG:xxxx")] = "4490",
    encoding: Annotated[str, typer.Option(help="shapefile text encoding: utf-8 or gbk (code page 936, older desktop GIS)")] = "utf-8",
    quiet: Quiet = False,
    progress: ShowProgress = None,
) -> None:
    """Write shapefiles (zipped, with .prj/.cpg and a field alias table), GeoPackage, FlatGeobuf and CSV tables."""
    from ..outputs.deliver import export_plan

    bar, plan = _open(plan_dir, out, quiet, progress)
    with bar.step("export"):
        d = run(lambda: export_plan(plan, out, formats=format, crs=crs, encoding=encoding), cleanup=bar.close)
    bar.close()
    if not quiet:
        typer.echo(f"wrote {len(d.files):,} file{'s' if len(d.files) != 1 else ''} in {d.crs} to {d.path}/")


@app.command("map")
def map_cmd(
    plan_dir: PlanDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML file to write")],
    compare: Annotated[Optional[Path], typer.Option(help="an older plan directory (shown as toggled layers), or an old communities "
                                                        "file (gpkg/geojson/shp with code, name: their boundaries shown); changed units marked")] = None,
    basemap: Annotated[str, typer.Option(help="none (offline), osm, or tianditu (key from $GRIDPLAN_TIANDITU_KEY)")] = "none",
    quiet: Quiet = False,
    progress: ShowProgress = None,
) -> None:
    """Write the review map: one self-contained HTML file that works with no internet access."""
    from ..outputs.review_map import TIANDITU_KEY_ENV, write_review_map

    bar = Progress(progress_enabled(quiet, progress))
    plan = _read(plan_dir, bar)
    old = _compared(compare, plan, bar) if compare is not None else None
    with bar.step("map"):
        path = run(lambda: write_review_map(plan, out, compare=old, basemap=basemap), cleanup=bar.close)
    bar.close()
    if not quiet:
        size = path.stat().st_size / 1e6
        typer.echo(f"wrote {path} ({size:.1f} MB)")
        if basemap == "tianditu":
            typer.echo(f"the Tianditu key is not in the file: open it as {path.name}#tk=${TIANDITU_KEY_ENV}, or paste the key in its panel")


def _compared(compare: Path, plan, bar: Progress):
    """What ``--compare`` names: an older plan (a plan directory), else old communities (read by the safe readers,
    their households counted from ``plan``'s buildings)."""
    from ..outputs.reader import is_plan_dir
    from ..planning.diff import state_from_communities

    if is_plan_dir(compare) or (compare.is_dir() and not any(compare.glob("*.shp"))):  # a damaged plan: say so
        return _read(compare, bar)
    with bar.step("read old communities"):
        return run(lambda: state_from_communities(compare, plan).layers["community"], cleanup=bar.close)


def _sheet_count(plan, levels: list[str], door_codes: bool) -> int:
    from ..outputs.doorcodes import page_count

    sheets = sum(len(plan.layer(level)) for level in levels if level in ("community", "grid"))
    return sheets + (page_count(plan) if door_codes else 0)


@app.command("sheets")
def sheets_cmd(
    plan_dir: PlanDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="directory of sheets to write (new, empty, or earlier sheets)")],
    dpi: Annotated[int, typer.Option(help="resolution of the PNG sheets")] = 150,
    pdf: Annotated[bool, typer.Option(help="also write all sheets in one sheets.pdf")] = True,
    level: Annotated[list[str], typer.Option(help="community and/or grid (repeatable); default both")] = ["community", "grid"],  # noqa: B006
    lookup_url: Annotated[Optional[str], typer.Option(
        help="print on each building a QR door code of this look-up URL, {building_id} standing for its id, e.g. "
             "https://HOST/v1/public/KEY/buildings/{building_id}; also writes each grid's door-code pages")] = None,
    quiet: Quiet = False,
    progress: ShowProgress = None,
) -> None:
    """Write one printable A4 sheet per community and per grid (PNG, and one PDF of all); with --lookup-url, door codes."""
    from ..outputs.doorcodes import lookup_template
    from ..outputs.sheets import write_sheets

    with exit_on_error():
        if lookup_url is not None:
            lookup_template(lookup_url)  # before reading the plan
    bar, plan = _open(plan_dir, out, quiet, progress)
    bar.total("sheets", _sheet_count(plan, level, lookup_url is not None))
    written = run(lambda: write_sheets(plan, out, levels=tuple(level), dpi=dpi, pdf=pdf, progress=bar, lookup_url=lookup_url),
                  cleanup=bar.close)
    bar.close()
    if not quiet:
        doors = sum(f.startswith("doorcodes_") for f in written)
        sheets = sum(f.endswith(".png") for f in written) - doors
        extra = f" and {doors:,} door-code page{'s' if doors != 1 else ''}" if lookup_url is not None else ""
        typer.echo(f"wrote {sheets:,} sheet{'s' if sheets != 1 else ''}{extra} to {written.path}/")
