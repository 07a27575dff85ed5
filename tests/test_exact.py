"""The exact search and the proofs of every shortfall: hand-drawn graphs, a brute-force cross-check, budgets.

Every graph is drawn in its test's docstring; households are written beside or under the nodes.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph

from gridplan.config import SizeRange
from gridplan.core.balance import choose_counts, cv_bound, water_fill
from gridplan.core.exact import ExactLimits, grouping_feasible, search
from gridplan.core.partition import PROOF_KINDS, UnitGraph, partition
from gridplan.outputs.rules import shortfall_detail

GRID = SizeRange(300, 500)


def graph(households, edges, tier=None) -> UnitGraph:
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return UnitGraph(households, edges, np.ones(len(edges)), np.zeros(len(edges)) if tier is None else tier)


def connected(g: UnitGraph, nodes) -> bool:
    sub, _ = g.subgraph(np.asarray(nodes))
    m = sparse.coo_matrix((np.ones(len(sub.edges)), (sub.edges[:, 0], sub.edges[:, 1])), shape=(sub.n, sub.n))
    return csgraph.connected_components(m, directed=False)[0] == 1


def assert_plan(g: UnitGraph, labels: np.ndarray, size: SizeRange) -> None:
    """Every unit connected and in range; labels 0..k-1."""
    assert sorted(set(labels.tolist())) == list(range(labels.max() + 1))
    for u in range(labels.max() + 1):
        nodes = np.flatnonzero(labels == u)
        assert connected(g, nodes), f"unit {u} {nodes.tolist()} not connected"
        assert size.lo <= g.households[nodes].sum() <= size.hi, f"unit {u} holds {g.households[nodes].sum()}"


def brute_force(g: UnitGraph, size: SizeRange) -> bool:
    """Whether any partition into connected in-range sets exists: the block of the lowest node left is
    tried as every subset of what is left (n ≤ 8), independently of the search's own enumeration."""
    n = g.n
    adj = [set() for _ in range(n)]
    for a, b in g.edges.tolist():
        adj[a].add(b)
        adj[b].add(a)

    def ok_block(block: list[int]) -> bool:
        seen, todo = {block[0]}, [block[0]]
        while todo:
            for y in adj[todo.pop()] & set(block) - seen:
                seen.add(y)
                todo.append(y)
        return len(seen) == len(block) and size.lo <= sum(g.households[x] for x in block) <= size.hi

    def rec(left: tuple[int, ...]) -> bool:
        if not left:
            return True
        first, rest = left[0], left[1:]
        for bits in range(1 << len(rest)):
            block = [first] + [x for i, x in enumerate(rest) if bits >> i & 1]
            if ok_block(block) and rec(tuple(x for i, x in enumerate(rest) if not bits >> i & 1)):
                return True
        return False

    return rec(tuple(range(n)))


# ---- the hand-drawn cases ----------------------------------------------------------------------------


def test_tower_of_208_between_two_of_150_at_300_500_is_a_counting_proof():
    """A tower of 208 households between two blocks of 150: 508 in all::

        150 - 208 - 150

    One grid is too big (508 > 500), two too small (254 < 300): no count fits, whatever the cut.
    """
    g = graph([150, 208, 150], [[0, 1], [1, 2]])
    result = partition(g, GRID, rng=1)
    assert [i.kind for i in result.issues] == ["counting"]
    assert "1 unit(s) would be too big, 2 too small" in result.issues[0].reason


def test_tower_of_208_whole_at_200_300_is_an_exact_proof_and_divided_gives_254_254():
    """The same tower at 200:300. Whole, the count fits (2 × 254) but no cut does: 150 | 358 or 358 | 150::

        150 - 208 - 150

    Divided by its two entrances (104 each), the cut runs through the tower::

        150 - 104 = 104 - 150
    """
    size = SizeRange(200, 300)
    whole = graph([150, 208, 150], [[0, 1], [1, 2]])
    r = search(whole, size)
    assert r.status == "none"
    result = partition(whole, size, rng=1)
    assert {i.kind for i in result.issues} == {"exact"}
    assert "exact search" in result.issues[0].reason
    divided = graph([150, 104, 104, 150], [[0, 1], [1, 2], [2, 3]])
    result = partition(divided, size, rng=1)
    assert result.issues == ()
    assert sorted(np.bincount(result.labels, weights=divided.households).tolist()) == [254.0, 254.0]


def test_a_star_is_proved_impossible_by_the_exact_search():
    """Four towers of 200 that reach each other only through a gate house of 10 (810: 2 grids fit)::

            1 (200)
            |
        2 - 0 - 3        0: 10 households
      (200) |  (200)
            4 (200)

    The weights group well (200 + 200 and 200 + 200 + 10), so no counting proof holds; but a grid of
    two towers must hold node 0, and only one grid can.
    """
    g = graph([10, 200, 200, 200, 200], [[0, 1], [0, 2], [0, 3], [0, 4]])
    assert grouping_feasible(g.households, GRID) is True
    r = search(g, GRID)
    assert r.status == "none" and r.steps < 50
    result = partition(g, GRID, rng=3)
    assert result.issues and {i.kind for i in result.issues} == {"exact"}
    # every unit out of range is covered by an issue
    hh = np.bincount(result.labels, weights=g.households)
    covered = {int(result.labels[x]) for i in result.issues for x in i.nodes}
    assert {int(u) for u in np.flatnonzero((hh < 300) | (hh > 500))} <= covered


def test_seven_towers_of_208_cannot_be_grouped():
    """Seven towers of 208 in a row (1,456: three grids of 485 fit the count)::

        208 - 208 - 208 - 208 - 208 - 208 - 208

    Only pairs (416) fit 300:500, and 7 is odd: a counting proof, whatever the shape.
    """
    assert grouping_feasible(np.full(7, 208.0), GRID) is False
    assert grouping_feasible(np.full(6, 208.0), GRID) is True
    g = graph([208.0] * 7, [[i, i + 1] for i in range(6)])
    result = partition(g, GRID, rng=0)
    assert result.issues and {i.kind for i in result.issues} == {"counting"}
    assert "cannot be grouped" in result.issues[-1].reason


def test_grouping_gives_up_on_many_distinct_weights():
    assert grouping_feasible(np.arange(1, 9) * 50.0, GRID) is None


def test_a_budget_that_runs_out_is_a_limit():
    """A 5 × 6 lattice of 40-household blocks with one tower of 450 in a corner (1,610: 4 grids fit)::

        450 - 40 - 40 - 40 - 40 - 40
         |    |    |    |    |    |
         40 - 40 - 40 - 40 - 40 - 40
        ...

    Ten steps do not finish the search: "limit", and the partition says so.
    """
    hh = np.full(30, 40.0)
    hh[0] = 450
    g = UnitGraph.lattice(5, 6, households=hh)
    assert search(g, GRID, limits=ExactLimits(steps=10)).status == "limit"
    assert search(g, GRID, limits=ExactLimits(max_atoms=20)).status == "skipped"
    star = graph([10, 200, 200, 200, 200], [[0, 1], [0, 2], [0, 3], [0, 4]])
    result = partition(star, GRID, rng=3, exact=ExactLimits(steps=1))
    assert {i.kind for i in result.issues} == {"limit"}
    assert "stopped at its limit of 1 steps" in result.issues[0].reason


def test_an_exact_plan_replaces_a_heuristic_that_missed():
    """Two towers of 320 side by side under four blocks (1,300: three or four grids fit)::

        250 - 150
         |     |
         60 - 200
         |     |
        320 - 320

    The spanning-tree cuts aim at three grids of 433 and leave one out of range for every seed; the
    exact search finds four grids in range (250 + 60, 150 + 200, 320, 320), and that plan is kept.
    """
    g = UnitGraph.lattice(3, 2, households=[250, 150, 60, 200, 320, 320])
    for seed in range(5):
        assert partition(g, GRID, rng=seed, exact=None).issues  # the heuristic alone misses
        result = partition(g, GRID, rng=seed)
        assert result.issues == ()
        assert_plan(g, result.labels, GRID)
        assert sorted(np.bincount(result.labels, weights=g.households).tolist()) == [310.0, 320.0, 320.0, 350.0]


def test_a_piece_too_big_for_a_proof_gets_a_local_search():
    """The ladder above with a tail of four 100s hanging from its bottom-left tower (1,700 households)::

        250 - 150
         |     |
         60 - 200
         |     |
        320 - 320
         |
        100 - 100 - 100 - 100

    With ``max_atoms=8`` the 10-atom piece is too big for a proof, so the out-of-range unit and its
    neighbours (≤ 8 atoms) are searched instead; that finds a plan, and every unit is in range.
    """
    base = UnitGraph.lattice(3, 2, households=[250, 150, 60, 200, 320, 320])
    edges = np.r_[base.edges, [[4, 6], [6, 7], [7, 8], [8, 9]]]
    g = graph(np.r_[base.households, [100] * 4], edges)
    for seed in range(3):
        assert partition(g, GRID, rng=seed, exact=None).issues
        result = partition(g, GRID, rng=seed, exact=ExactLimits(max_atoms=8))
        assert result.issues == ()
        assert_plan(g, result.labels, GRID)
    # too small a neighbourhood proves nothing: the shortfall is a limit
    result = partition(g, GRID, rng=0, exact=ExactLimits(max_atoms=3))
    assert {i.kind for i in result.issues} == {"limit"}
    assert "more than an exact search takes (3)" in result.issues[0].reason


def test_same_seed_same_labels_with_the_exact_search():
    """A 6 × 6 lattice with a heavy corner: the same seed gives the same labels, byte for byte."""
    hh = np.full(36, 35.0)
    hh[[0, 1, 6]] = 200
    g = UnitGraph.lattice(6, 6, households=hh)
    a = partition(g, GRID, rng=5)
    b = partition(g, GRID, rng=5)
    assert a.labels.tobytes() == b.labels.tobytes()
    assert [(i.kind, i.reason) for i in a.issues] == [(i.kind, i.reason) for i in b.issues]


def test_every_issue_has_a_known_kind():
    g = graph([600, 120, 10, 200, 200, 200, 200], [[0, 1], [2, 3], [2, 4], [2, 5], [2, 6]], tier=[0, 0, 0, 0, 0])
    result = partition(g, GRID, rng=0)
    assert result.issues
    assert {i.kind for i in result.issues} <= set(PROOF_KINDS)
    by_node = {n: i.kind for i in result.issues for n in i.nodes}
    assert by_node[0] == "counting"  # one atom above the maximum
    assert by_node[3] == "exact"  # the star


@st.composite
def small_graphs(draw) -> UnitGraph:
    """Up to 8 nodes with 0..300 households, a random connected edge set."""
    n = draw(st.integers(1, 8))
    hh = draw(st.lists(st.sampled_from([0, 40, 90, 150, 180, 220, 300]), min_size=n, max_size=n))
    edges = [[draw(st.integers(0, i - 1)), i] for i in range(1, n)]  # a random tree
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=6))
    edges += [[a, b] for a, b in extra if a < b and [a, b] not in edges]
    return graph(hh, edges if edges else np.zeros((0, 2)))


@given(g=small_graphs())
@settings(max_examples=150, deadline=None)
def test_search_agrees_with_brute_force(g):
    size = SizeRange(200, 400)
    r = search(g, size)
    assert r.status in ("found", "none")
    assert (r.status == "found") == brute_force(g, size)
    if r.status == "found":
        assert_plan(g, r.labels, size)


# ---- balance -------------------------------------------------------------------------------------------


def test_counts_are_chosen_together():
    """Pieces of 1,000 and 700: alone 1,000 takes 2 grids of 500 beside 350s; together 3 of 333."""
    assert choose_counts([1000, 700], GRID) == [3, 2]
    assert choose_counts([800], GRID) == [2]
    assert choose_counts([550, 800], GRID) == [2, 2]  # an infeasible piece keeps its least-bad count


def test_water_fill_and_bound():
    assert water_fill(1200, 3, [100] * 12) == [400.0] * 3
    assert water_fill(900, 2, [480, 100, 100, 220]) == [480.0, 420.0]
    assert cv_bound([1200], [3], [[100] * 12]) == 0.0
    assert cv_bound([800, 1200], [2, 3], [[400, 400], [100] * 12]) == 0.0
    assert cv_bound([900], [2], [[500, 200, 200]]) == pytest.approx(50 / 450)


def test_partition_reports_its_cv_bound():
    """Two pieces across a strong road (tier 2), 800 and 1,200 households of 100-household blocks."""
    g = UnitGraph.lattice(4, 5, households=100)
    cut = (g.edges[:, 0] % 5 == 1) & (g.edges[:, 1] % 5 == 2)  # between columns 1 and 2
    g = UnitGraph(g.households, g.edges, g.cost, np.where(cut, 2, 0))
    result = partition(g, GRID, rng=0)
    assert result.cv_bound == 0.0
    hh = np.bincount(result.labels, weights=g.households)
    assert sorted(hh.tolist()) == [400.0] * 5


# ---- proof kinds in the validation report --------------------------------------------------------------


@pytest.mark.parametrize(("entry", "detail"), [
    ({"kind": "counting", "reason": "550 households: 1 unit(s) would be too big, 2 too small"},
     "counting proof: 550 households: 1 unit(s) would be too big, 2 too small"),
    ({"kind": "exact", "reason": "an exact search of the 4 atoms"}, "exact search: no contiguous plan in range exists: an exact search of the 4 atoms"),
    ({"kind": "limit", "reason": "stopped"}, "no plan found within the limit: stopped"),
    ({"kind": "limit"}, "no plan found within the limit"),  # an out_of_range entry carries only its kind
    ({"reason": "written before proof kinds"}, "written before proof kinds"),  # an old plan still reads
])
def test_shortfall_detail_names_the_kind(entry, detail):
    assert shortfall_detail(entry) == detail
