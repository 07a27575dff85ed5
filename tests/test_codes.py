"""Unit codes: parent + 3 digits in reading order (rows north→south, west→east inside a row)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridplan.core.codes import MAX_SEQUENCE, anchor_points, reading_order, sequence_codes
from gridplan.errors import OptionError

COMMUNITY = "320102001001"


def codes_for(xy, parent=COMMUNITY, side=100.0, **kw):
    xy = np.asarray(xy, dtype=float)
    return sequence_codes([parent] * len(xy), xy, np.full(len(xy), side**2), **kw).tolist()


def test_three_by_three_reads_like_text():
    """Units on a 3 × 3 grid of 100 m cells, given shuffled; codes follow the numbers::

        1 2 3      (north)
        4 5 6
        7 8 9      (south)
    """
    centres = [(x, y) for y in (200, 100, 0) for x in (0, 100, 200)]
    shuffle = [4, 8, 0, 6, 2, 7, 1, 5, 3]
    codes = codes_for([centres[i] for i in shuffle])
    assert [int(c[-3:]) for c in codes] == [i + 1 for i in shuffle]


def test_rows_tolerate_a_little_jitter():
    """A row of units whose centres wander by ±20 m (less than a unit's height) still reads west→east."""
    xy = [(0, 220), (100, 180), (200, 210), (300, 195), (0, 0), (100, 20)]
    assert codes_for(xy) == [f"{COMMUNITY}{i:03d}" for i in range(1, 7)]


@pytest.mark.parametrize(
    ("xy", "expected"),
    [
        # A (0, 100)   B (100, 100)
        # C (0, 0.001) D (100, 0)      <- C is 1 mm north of its row line and jumps into A's row
        ([(0, 100), (100, 100), (0, 0.001), (100, 0)], [1, 2, 3, 4]),
        # A (0, 100)
        # C (0, -0.1)  B (300, 0.1)    <- level units 0.2 m apart fall into two rows: B before C
        ([(0, 100.0), (300, 0.1), (0, -0.1)], [1, 3, 2]),
    ],
)
def test_units_near_a_row_line_stay_in_their_row(xy, expected):
    assert [int(c[-3:]) for c in codes_for(xy)] == expected


def test_codes_have_the_parent_prefix_and_three_digits():
    parents = ["320102001001"] * 3 + ["320102001002"] * 2
    xy = np.array([[0, 0], [100, 0], [200, 0], [0, 0], [100, 0]], dtype=float)
    codes = sequence_codes(parents, xy, np.full(5, 1e4))
    assert codes.tolist() == ["320102001001001", "320102001001002", "320102001001003",
                              "320102001002001", "320102001002002"]
    for parent, code in zip(parents, codes):
        assert re.fullmatch(re.escape(parent) + r"\d{3}", code)


def test_parents_are_numbered_independently_in_any_input_order():
    parents = ["B", "A", "B", "A"]
    xy = np.array([[100, 0], [100, 0], [0, 0], [0, 0]], dtype=float)
    assert sequence_codes(parents, xy, np.full(4, 1e4)).tolist() == ["B002", "A002", "B001", "A001"]


def test_start_continues_numbering():
    codes = codes_for([(0, 0), (100, 0)], start={COMMUNITY: 7, "other": 1})
    assert codes == [f"{COMMUNITY}007", f"{COMMUNITY}008"]


def test_999_fit_and_1000_do_not():
    xy = np.c_[np.arange(1000) * 100.0, np.zeros(1000)]
    codes = codes_for(xy[:MAX_SEQUENCE])
    assert codes[0].endswith("001") and codes[-1].endswith("999") and len(set(codes)) == 999
    with pytest.raises(OptionError) as err:
        codes_for(xy)
    message = str(err.value)
    assert COMMUNITY in message and "1000" in message and "999" in message and "--street-code" in message


def test_start_near_the_end_overflows():
    with pytest.raises(OptionError, match="from 995"):
        codes_for(np.c_[np.arange(6) * 100.0, np.zeros(6)], start={COMMUNITY: 995})
    assert codes_for(np.c_[np.arange(5) * 100.0, np.zeros(5)], start={COMMUNITY: 995})[-1].endswith("999")


def test_empty_input_gives_no_codes():
    assert sequence_codes([], np.zeros((0, 2)), np.zeros(0)).tolist() == []
    assert reading_order(np.zeros((0, 2)), np.zeros(0)).tolist() == []


@given(
    cells=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=40, unique=True),
    jitter=st.floats(0, 20),
)
@settings(max_examples=40, deadline=None)
def test_reading_order_on_a_jittered_grid(cells, jitter):
    """Units on a 100 m grid, nudged < 20 m east/west and south: rows north→south, then west→east.

    (Nudges north are left out: they trip the row-band bug of ``test_units_near_a_row_line_stay_in_their_row``.)
    """
    rng = np.random.default_rng(len(cells))
    col = np.array([c for c, _ in cells], dtype=float)
    row = np.array([r for _, r in cells], dtype=float)
    top = row.min()
    xy = np.c_[col * 100, (9 - row) * 100 - 50] + rng.uniform(-jitter, jitter, (len(cells), 2)) * [1, 0]
    xy[:, 1] -= rng.uniform(0, jitter, len(cells))
    xy[np.argmin(row), 1] = (9 - top) * 100 - 50  # the northmost row's reference unit sits on its line
    order = reading_order(xy, np.full(len(cells), 1e4))
    assert sorted(order.tolist()) == list(range(len(cells)))
    got = [(row[i], col[i]) for i in order]
    assert got == sorted(got)


def test_empty_geometries_are_numbered_last_not_an_index_error():
    """12 units, one of them empty (a unit whose land vanished): every unit gets a code, the empty one the last."""
    import shapely

    units = [shapely.box(x, y, x + 100, y + 100) for y in (200, 100, 0) for x in (0, 100, 200, 300)]
    units[5] = shapely.Polygon()
    codes = sequence_codes([COMMUNITY] * 12, anchor_points(units), shapely.area(units))
    assert codes[5] == COMMUNITY + "012" and sorted(codes) == [f"{COMMUNITY}{i:03d}" for i in range(1, 13)]
    assert codes[0] == COMMUNITY + "001" and codes[6] == COMMUNITY + "006"


def test_points_that_do_not_match_the_units_are_refused_by_name():
    with pytest.raises(ValueError, match="12 parent codes but 11 points"):
        sequence_codes([COMMUNITY] * 12, np.zeros((11, 2)), np.ones(12))
