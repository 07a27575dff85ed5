"""Printable sheets: one A4 PNG per community and per grid (and one PDF), with title, 四至, scale bar
and north arrow, divided buildings' parts hatched and labelled; written all at once into a directory that is
new, empty or an earlier set of sheets."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
from typer.testing import CliRunner

from gridplan.cli import app
from gridplan.errors import PlanWriteError
from gridplan.outputs.reader import read_plan
from gridplan.outputs.sheets import _nice_length, cjk_font, sheet_figure, write_sheets
from gridplan.outputs.parts import part_rows
from gridplan.outputs.tables import code_table, unit_names
from test_deliver import plan_dir
from test_rules import W002, W003, tower_plan


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
    here = plan.buildings[plan.buildings["grid_code"] == row["code"]]
    whole = set(here.loc[here["part"] == 0, "building_id"])
    assert whole and whole <= set(texts)  # every whole building labelled with its id
    labels = part_rows(plan)
    for text in labels.loc[labels["grid_code"] == row["code"], "label"]:  # every part with what it holds
        assert any(line.startswith(text + " (") for t in texts for line in t.split("\n")), text


def texts_of(fig) -> list[str]:
    return [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts]


def lines_of(fig) -> list[str]:
    return [line for t in texts_of(fig) for line in t.split("\n")]


@pytest.fixture(scope="module")
def tower():
    p = tower_plan()
    names = unit_names(p)
    return p, names, code_table(p, "grid", names=names).set_index("code", drop=False)


def test_a_tower_divided_between_grids_is_labelled_by_part_on_each_sheet(tower):
    p, names, table = tower
    left = lines_of(sheet_figure(p, "grid", W002, row=table.loc[W002], names=names))
    right = lines_of(sheet_figure(p, "grid", W003, row=table.loc[W003], names=names))
    assert "3号楼 1单元 (005)" in left and "3号楼 2单元 16–30层 (005)" in left  # the upper floors over the right slice
    assert "3号楼 2单元 1–15层 (001)" in right and not any("1单元 (" in t for t in right)
    assert any("this grid: 3号楼 1单元、2单元 16–30层" in t and "005: 3号楼 1单元、2单元 16–30层" in t for t in left)
    assert any("this grid: 3号楼 2单元 1–15层" in t and "001: 3号楼 2单元 1–15层" in t for t in right)
    assert "0900" not in left  # a divided building is named by its parts, not drawn as a whole one


def test_parts_are_hatched_and_upper_floors_dashed_on_top(tower):
    p, names, table = tower
    fig = sheet_figure(p, "grid", W002, row=table.loc[W002], names=names)
    hatched = [q for q in fig.axes[0].patches if q.get_hatch()]
    lower = [q for q in hatched if q.get_hatch() == "////"]
    upper = [q for q in hatched if q.get_hatch() == "\\\\"]
    assert len(lower) == 1 and len(upper) == 1  # entrance 1, and entrance 2 floors 16-30 (0999 lies in W-001)
    assert upper[0].get_linestyle() == "--" and lower[0].get_linestyle() == "-"
    assert upper[0].get_zorder() > max(q.get_zorder() for q in lower)
    community = code_table(p, "community", names=names).iloc[0]
    texts = texts_of(sheet_figure(p, "community", community["code"], row=community, names=names))
    assert "3号楼 1单元 (002)\n3号楼 2单元 1–15层 (003)\n3号楼 2单元 16–30层 (002)" in texts  # a line per part, by grid


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
    assert res.exit_code == 2 and "--level was 'block'; expected one of 'community', 'grid'" in res.output
    (tmp_path / "not_a_plan").mkdir()
    res = CliRunner().invoke(app, ["sheets", str(tmp_path / "not_a_plan"), "--out", str(tmp_path / "t")])
    assert res.exit_code == 2 and "is not a plan directory" in res.output
