"""Smoke test of benchmarks/run.py on a tiny district: gridplan and k-means only (no slow peers).

Speed is not asserted here (see benchmarks/README.md); only that the table rows are well formed and
that gridplan puts at least as many units in range as weighted k-means on the same graph.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from gridplan.sample import make_district

RUN_PY = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gridplan_benchmarks_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def tiny_graph(bench):
    # the default seed; 24 communities do not fit 3,000 households, so one
    d = make_district(households=3000, communities=1)
    return bench.build_graph(d.buildings, d.roads)


def test_rows_have_the_table_columns(bench, tiny_graph):
    rows = [bench.run_method(m, tiny_graph, timeout=None) for m in ("gridplan", "kmeans")]
    for row in rows:
        assert row.note == "", row.note
        assert tuple(row.as_dict()) == bench.COLUMNS
        assert row.units >= 1 and row.seconds >= 0
        assert 0.0 <= row.in_range <= 1.0 and 0.0 <= row.contiguous <= 1.0
        assert row.min_hh <= row.max_hh
    text = bench.table(rows)
    assert text.count("\n") == 3  # header, rule, two rows
    assert all(line.count("|") == len(bench.COLUMNS) + 1 for line in text.splitlines())


def test_gridplan_in_range_at_least_kmeans(bench, tiny_graph):
    # Holds for this district (0.50 vs 0.43) but not for every seed: k-means ignores the six tier-1
    # zones and contiguity, which lets it hit the range more often on tiny districts (seed 1: 0.44 vs 0.71).
    grid = bench.run_method("gridplan", tiny_graph, timeout=None)
    km = bench.run_method("kmeans", tiny_graph, timeout=None)
    assert grid.in_range >= km.in_range
    assert grid.contiguous == 1.0 and grid.tier1_crossings == 0


def test_unknown_method_is_named(bench, tiny_graph):
    with pytest.raises(ValueError, match="'simplex'.*'gridplan'"):
        bench.run_method("simplex", tiny_graph)
