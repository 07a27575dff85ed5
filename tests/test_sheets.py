"""Printable sheets: one A4 PNG per community and per grid (and one PDF), with title, 四至, scale bar
and north arrow; written all at once into a directory that is new, empty or an earlier set of sheets."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
from typer.testing import CliRunner

from gridplan.cli import app
from gridplan.errors import PlanWriteError
from gridplan.outputs.reader import read_plan
from gridplan.outputs.sheets import _nice_length, cjk_font, sheet_figure, write_sheets
from gridplan.outputs.tables import code_table, unit_names
from test_deliver import plan_dir


@pytest.fixture(scope="module")
def plan():
    return read_plan(plan_dir())


def no_font_warning():
    """Without a CJK font installed, sheets warn once naming the Debian package."""
    return contextlib.nullcontext() if cjk_font() else pytest.warns(UserWarning, match="fonts-noto-cjk")


@pytest.fixture(scope="module")
def sheets(plan, tmp_path_factory):
    with no_font_warning():
        return write_sheets(plan, tmp_path_factory.mktemp("sheets") / "s", dpi=40, pdf=False)


def test_one_a4_png_per_community_and_grid(plan, sheets):
    from PIL import Image

    expected = {f"community_{c}.png" for c in plan.communities["code"]} | {f"grid_{c}.png" for c in plan.grids["code"]}
    assert set(sheets) == expected
    with Image.open(sheets.path / next(iter(sorted(expected)))) as img:
        w, h = img.size
        rgb = np.asarray(img.convert("RGB"))
    assert h > w and abs(h / w - 11.69 / 8.27) < 0.02  # A4 portrait
    assert (rgb.min(axis=2) < 200).mean() > 0.02  # drawn on, not blank


def test_pdf_holds_every_sheet(plan, tmp_path):
    with no_font_warning():
        written = write_sheets(plan, tmp_path / "p", levels=("community",), dpi=30)
    assert "sheets.pdf" in written
    pdf = (written.path / "sheets.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") == len(plan.communities)


def test_sheet_shows_code_households_sides_scale_and_north(plan):
    names = unit_names(plan)
    row = code_table(plan, "grid", names=names).iloc[0]
    fig = sheet_figure(plan, "grid", row["code"], row=row, names=names)
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(row["code"] in t and row["name"] in t for t in texts)
    assert any(f"户数 households {row['households']:,}" in t for t in texts)
    assert any(t.startswith("四至") and f"东至 {row['east'] or '—'}" in t for t in texts)
    assert "N" in texts and any(t.endswith(" m") or t.endswith(" km") for t in texts)
    buildings = set(plan.buildings.loc[plan.buildings["grid_code"] == row["code"], "building_id"])
    assert buildings and buildings <= set(texts)  # every building labelled


def test_scale_bar_lengths_are_round():
    assert _nice_length(1000) == 200 and _nice_length(4000) == 1000 and _nice_length(130) == 20


def test_output_that_is_not_ours_is_refused(plan, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(PlanWriteError, match="not an earlier gridplan sheets .*choose another --out"):
        write_sheets(plan, tmp_path, levels=("community",), pdf=False)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_cli_sheets(tmp_path):
    res = CliRunner().invoke(app, ["sheets", str(plan_dir()), "--out", str(tmp_path / "s"), "--dpi", "30", "--no-pdf", "--level", "community"])
    assert res.exit_code == 0, res.output
    assert "wrote 6 sheets to" in res.output and not (tmp_path / "s" / "sheets.pdf").exists()
    res = CliRunner().invoke(app, ["sheets", str(plan_dir()), "--out", str(tmp_path / "u"), "--level", "block"])
    assert res.exit_code == 2 and "`level` was 'block'; expected one of 'community', 'grid'" in res.output
    res = CliRunner().invoke(app, ["sheets", str(tmp_path), "--out", str(tmp_path / "t")])
    assert res.exit_code == 2 and "is not a plan directory" in res.output
