"""The pure partitioner: tiny hand-drawn graphs, invariants on every result, and a property test.

Every partition here is checked by :func:`assert_partition_invariants`: all nodes labelled, labels
0..count-1, every unit connected in the graph (scipy on the induced subgraph), households conserved.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph

from gridplan.config import SizeRange, counts_in_range
from gridplan.core.partition import Partition, UnitGraph, as_rng, least_bad_count, partition

GRID = SizeRange(300, 500)


# ---- helpers -----------------------------------------------------------------------------------------


def unit_households(graph: UnitGraph, result: Partition) -> np.ndarray:
    return np.bincount(result.labels, weights=graph.households, minlength=result.count)


def is_connected(graph: UnitGraph, nodes: np.ndarray) -> bool:
    sub, _ = graph.subgraph(nodes)
    m = sparse.coo_matrix((np.ones(len(sub.edges)), (sub.edges[:, 0], sub.edges[:, 1])), shape=(sub.n, sub.n))
    return csgraph.connected_components(m, directed=False)[0] == 1


def assert_partition_invariants(graph: UnitGraph, result: Partition) -> None:
    labels = result.labels
    assert labels.shape == (graph.n,)
    assert (labels >= 0).all(), f"unlabelled nodes: {np.flatnonzero(labels < 0).tolist()}"
    assert sorted(set(labels.tolist())) == list(range(result.count)), "labels are not 0..count-1"
    for u in range(result.count):
        nodes = np.flatnonzero(labels == u)
        assert is_connected(graph, nodes), f"unit {u} (nodes {nodes.tolist()}) is not connected"
    assert unit_households(graph, result).sum() == pytest.approx(graph.households.sum())


def in_range(values: np.ndarray, size: SizeRange) -> bool:
    return bool(((values >= size.lo - 1e-9) & (values <= size.hi + 1e-9)).all())


def with_(graph: UnitGraph, **changes) -> UnitGraph:
    fields = dict(households=graph.households, edges=graph.edges, cost=graph.cost, tier=graph.tier, group=graph.group)
    fields.update(changes)
    return UnitGraph(**fields)


def edges_between_columns(graph: UnitGraph, cols: int, left: int) -> np.ndarray:
    """Mask of lattice edges joining column ``left`` and ``left + 1``."""
    e = graph.edges
    return (e[:, 0] % cols == left) & (e[:, 1] % cols == left + 1)


def edges_between_rows(graph: UnitGraph, cols: int, top: int) -> np.ndarray:
    """Mask of lattice edges joining row ``top`` and ``top + 1``."""
    e = graph.edges
    return (e[:, 0] // cols == top) & (e[:, 1] // cols == top + 1)


def path(households: list[float], tier: list[int] | None = None) -> UnitGraph:
    n = len(households)
    return UnitGraph(households, np.c_[np.arange(n - 1), np.arange(1, n)], np.ones(n - 1),
                     np.zeros(n - 1) if tier is None else tier)


# ---- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture
def three_by_four() -> UnitGraph:
    """A 3 × 4 lattice of 100-household blocks (1,200 households: three units of 400)::

        0 - 1 - 2 - 3
        |   |   |   |
        4 - 5 - 6 - 7
        |   |   |   |
        8 - 9 -10 -11
    """
    return UnitGraph.lattice(3, 4, households=100)


@pytest.fixture
def two_halves() -> UnitGraph:
    """Two 800-household halves (4 × 4 blocks of 50) joined only by tier-2 edges (a primary road ┃)::

        0 - 1 - 2 - 3 ┃ 4 - 5 - 6 - 7
        |   |   |   | ┃ |   |   |   |
        8 - ...     11┃12 - ...     15
        |           | ┃ |           |
       16 - ...     19┃20 - ...     23
        |           | ┃ |           |
       24 - ...     27┃28 - ...     31
    """
    g = UnitGraph.lattice(4, 8, households=50)
    tier = np.where(edges_between_columns(g, 8, 3), 2, 0)
    return with_(g, tier=tier)


@pytest.fixture
def pocket_between_roads() -> tuple[UnitGraph, np.ndarray]:
    """A 120-household pocket (nodes 32, 33; 60 each) fenced by tier-2 edges, between two 800 halves::

        west half (0..31 as in ``two_halves``, 4 × 8 blocks of 50, its middle ┃ a tier-2 road)

        27 ━ 32 ━ 28        ━ : tier-2 edges only
        31 ━ 33 ━ 28
              |             32 - 33 inside the pocket (tier 0)

    The pocket is infeasible alone (120 < 300), so it must join a half across a road; nothing else may
    cross a tier-2 edge. Returns the graph and the pocket's nodes.
    """
    g = UnitGraph.lattice(4, 8, households=50)
    tier = np.where(edges_between_columns(g, 8, 3), 2, 0)
    pocket = np.array([32, 33])
    extra = np.array([[27, 32], [32, 28], [31, 33], [33, 28], [32, 33]])
    return (
        UnitGraph(
            np.r_[g.households, 60.0, 60.0],
            np.vstack([g.edges, extra]),
            np.r_[g.cost, np.ones(len(extra))],
            np.r_[tier, 2, 2, 2, 2, 0],
        ),
        pocket,
    )


# ---- least_bad_count / counts_in_range --------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "counts"),
    [(0, []), (-5, []), (1, []), (299, []), (300, [1]), (500, [1]), (550, []), (600, [2]), (1000, [2, 3]),
     (1500, [3, 4, 5]), (2999, [6, 7, 8, 9]), (3000, [6, 7, 8, 9, 10]),
     (0.1 + 0.2 + 299.7, [1])],
)
def test_counts_in_range_edges(total, counts):
    assert list(counts_in_range(total, GRID)) == counts
    for k in counts:  # every listed count really splits the total in range
        assert GRID.lo <= total / k <= GRID.hi + 1e-6


@pytest.mark.parametrize(
    ("total", "count", "deviation"),
    [(300, 1, 0.0), (500, 1, 0.0), (800, 2, 0.0), (1200, 3, 0.0), (1000, 2, 0.0), (1500, 4, 0.0),
     (550, 2, 25 / 300), (250, 1, 50 / 300), (0, 1, 1.0)],
)
def test_least_bad_count(total, count, deviation):
    k, dev = least_bad_count(total, GRID)
    assert (k, dev) == (count, pytest.approx(deviation))


def test_least_bad_count_picks_the_count_nearest_the_target():
    size = SizeRange(300, 500, target=300)
    assert least_bad_count(1000, size) == (3, 0.0)  # 1000 / 300 = 3.33: three units, not two
    assert least_bad_count(1000, SizeRange(300, 500, target=500)) == (2, 0.0)


@given(total=st.floats(min_value=1, max_value=20_000, allow_nan=False))
@settings(max_examples=60, deadline=None)
def test_least_bad_count_is_feasible_exactly_when_a_count_fits(total):
    k, dev = least_bad_count(total, GRID)
    assert k >= 1
    assert (dev == 0.0) == (len(counts_in_range(total, GRID)) > 0)
    if dev == 0.0:
        assert k in counts_in_range(total, GRID)


# ---- the basics ----------------------------------------------------------------------------------------


def test_three_by_four_gives_three_units_of_400(three_by_four):
    result = partition(three_by_four, GRID, rng=1)
    assert_partition_invariants(three_by_four, result)
    assert sorted(unit_households(three_by_four, result).tolist()) == [400.0, 400.0, 400.0]
    assert result.issues == ()


def test_same_seed_same_labels_and_generators_work(three_by_four):
    a = partition(three_by_four, GRID, rng=7)
    b = partition(three_by_four, GRID, rng=7)
    c = partition(three_by_four, GRID, rng=np.random.default_rng(7))
    assert a.labels.tobytes() == b.labels.tobytes() == c.labels.tobytes()
    assert partition(three_by_four, GRID).labels.tobytes() == partition(three_by_four, GRID, rng=0).labels.tobytes()


def test_different_seeds_can_differ():
    g = UnitGraph.lattice(6, 6, households=50)  # 1,800 households: many equally good plans
    plans = {partition(g, GRID, rng=s).labels.tobytes() for s in range(6)}
    assert len(plans) > 1


def test_as_rng_never_touches_the_global_rng():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    partition(UnitGraph.lattice(4, 4, households=50), GRID, rng=None)
    assert (np.random.get_state()[1] == before).all()
    gen = np.random.default_rng(5)
    assert as_rng(gen) is gen


@pytest.mark.parametrize(("rows", "cols"), [(6, 6), (8, 8), (10, 10)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balance_on_lattices(rows, cols, seed):
    hh = np.random.default_rng(seed).integers(40, 61, rows * cols).astype(float)
    g = UnitGraph.lattice(rows, cols, households=hh)
    result = partition(g, GRID, rng=seed)
    assert_partition_invariants(g, result)
    units = unit_households(g, result)
    assert in_range(units, GRID)
    assert result.count == least_bad_count(hh.sum(), GRID)[0]
    assert units.std() / units.mean() <= 0.10


def test_empty_graph_gives_no_units():
    result = partition(UnitGraph(np.zeros(0), np.zeros((0, 2)), np.zeros(0), np.zeros(0)), GRID)
    assert result.count == 0 and result.labels.shape == (0,)


@pytest.mark.parametrize("households", [[], [700.0], [700.0, 800.0]])
def test_no_phantom_issue_when_no_light_nodes_are_left(households):
    """An empty graph, or only towers (0 ━ 1 where both exceed 500): every issue must name real nodes."""
    n = len(households)
    edges = np.c_[np.arange(n - 1), np.arange(1, n)] if n > 1 else np.zeros((0, 2))
    g = UnitGraph(households, edges, np.ones(max(n - 1, 0)), np.zeros(max(n - 1, 0)))
    result = partition(g, GRID, rng=0)
    assert len(result.issues) == n
    assert all(len(i.nodes) > 0 for i in result.issues)


# ---- infeasible pieces -------------------------------------------------------------------------------


def test_path_of_550_is_reported():
    """0 - 1 - 2 - ... - 10, eleven blocks of 50 (550 households: one grid too big, two too small)."""
    g = path([50.0] * 11)
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    (issue,) = result.issues
    assert issue.nodes == tuple(range(11)) and issue.households == 550
    assert "550 households" in issue.reason and "1 unit(s) would be too big, 2 too small" in issue.reason
    assert "least-bad" in issue.resolution


def test_path_of_550_in_blocks_of_25_gets_two_units_of_275():
    """0 - 1 - ... - 21, twenty-two blocks of 25: the least-bad count (2) can be met exactly."""
    g = path([25.0] * 22)
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    assert sorted(unit_households(g, result).tolist()) == [275.0, 275.0]
    (issue,) = result.issues
    assert "split into 2 unit(s) of about 275 households" in issue.resolution


def test_path_of_550_gets_the_least_bad_count_it_reports():
    g = path([50.0] * 11)
    result = partition(g, GRID, rng=0)
    (issue,) = result.issues
    assert f"split into {result.count} unit(s)" in issue.resolution
    assert result.count == least_bad_count(550, GRID)[0] == 2


def test_fenced_in_piece_of_120_is_its_own_unit_and_reported():
    """Blocks 0..3 (3 × 100) are one grid; 4 - 5 (60 + 60) have no edge to anything else (tier-1 all round)::

        0 - 1 - 2        4 - 5
    """
    g = UnitGraph([100.0, 100, 100, 0, 60, 60], [[0, 1], [1, 2], [2, 3], [4, 5]], np.ones(4), np.zeros(4))
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    assert result.labels[4] == result.labels[5] and result.labels[4] != result.labels[0]
    (issue,) = result.issues
    assert issue.nodes == (4, 5) and issue.households == 120
    assert "fewer than the minimum 300" in issue.reason
    assert "1 unit(s)" in issue.resolution


def test_heavy_node_is_a_unit_of_its_own_and_reported(three_by_four):
    """Node 5 of ``three_by_four`` holds 700 households (a tower), more than one grid may hold."""
    hh = three_by_four.households.copy()
    hh[5] = 700
    g = with_(three_by_four, households=hh)
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    assert (result.labels == result.labels[5]).sum() == 1
    heavy = [i for i in result.issues if i.nodes == (5,)]
    assert len(heavy) == 1 and heavy[0].households == 700
    assert "700" in heavy[0].reason and "500" in heavy[0].reason
    others = unit_households(g, result)[np.arange(result.count) != result.labels[5]]
    assert in_range(others, GRID)  # the 1,100 others still make units in range


def test_empty_nodes_beside_a_heavy_node_join_it():
    """0 (900 households) - 1 (0) - 2 (0): the empty nodes have no one else to join."""
    g = path([900.0, 0.0, 0.0])
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    assert result.count == 1
    assert [i.nodes for i in result.issues] == [(0,)]


def test_an_isolated_empty_node_is_a_reported_unit():
    g = UnitGraph([100.0, 100, 100, 0], [[0, 1], [1, 2]], np.ones(2), np.zeros(2))
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    assert result.count == 2
    (issue,) = result.issues
    assert issue.nodes == (3,) and "no households" in issue.reason


# ---- tiers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_two_feasible_halves_never_cross_the_strong_road(two_halves, seed):
    result = partition(two_halves, GRID, rng=seed)
    assert_partition_invariants(two_halves, result)
    strong = two_halves.edges[two_halves.tier == 2]
    assert (result.labels[strong[:, 0]] != result.labels[strong[:, 1]]).all()
    assert result.count == 4 and in_range(unit_households(two_halves, result), GRID)
    assert result.issues == ()


@pytest.mark.parametrize("seed", range(5))
def test_a_fenced_pocket_merges_across_and_only_it(pocket_between_roads, seed):
    g, pocket = pocket_between_roads
    result = partition(g, GRID, rng=seed)
    assert_partition_invariants(g, result)
    lab = result.labels
    assert lab[pocket[0]] == lab[pocket[1]]
    assert (lab == lab[pocket[0]]).sum() > 2, "the pocket did not merge across the road"
    strong = g.edges[g.tier == 2]
    crossed = strong[lab[strong[:, 0]] == lab[strong[:, 1]]]
    assert len(crossed) and np.isin(crossed, pocket).any(axis=1).all(), f"crossed away from the pocket: {crossed.tolist()}"
    assert in_range(unit_households(g, result), GRID)
    assert result.count == 4


def test_strong_tier_none_lets_units_cross():
    """A 4 × 6 lattice of 50 with a tier-2 road ┃ between columns 2 and 3 (600 households each side)::

        0 - 1 - 2 ┃ 3 - 4 - 5
        ...         ...
       18 -19 -20 ┃21 -22 -23

    Kept apart, each side makes two grids of 300; crossing freely, 1,200 makes three grids of 400,
    one of which must straddle the road.
    """
    g = UnitGraph.lattice(4, 6, households=50)
    g = with_(g, tier=np.where(edges_between_columns(g, 6, 2), 2, 0))
    strong = g.edges[g.tier == 2]

    kept = partition(g, GRID, rng=0)
    assert_partition_invariants(g, kept)
    assert kept.count == 4 and (kept.labels[strong[:, 0]] != kept.labels[strong[:, 1]]).all()

    free = partition(g, GRID, rng=0, strong_tier=None)
    assert_partition_invariants(g, free)
    assert free.count == 3 and sorted(unit_households(g, free).tolist()) == [400.0] * 3
    assert (free.labels[strong[:, 0]] == free.labels[strong[:, 1]]).any()


# ---- cut cost ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("orientation", ["rows", "columns"])
def test_cut_follows_a_cheap_soft_street(seed, orientation):
    """A 6 × 6 lattice (800 households, two grids) with a soft street (tier 3, cost 0.01) across the middle."""
    g = UnitGraph.lattice(6, 6, households=800 / 36)
    line = edges_between_rows(g, 6, 2) if orientation == "rows" else edges_between_columns(g, 6, 2)
    g = with_(g, cost=np.where(line, 0.01, 1.0), tier=np.where(line, 3, 0))
    result = partition(g, GRID, rng=seed)
    assert_partition_invariants(g, result)
    lab, e = result.labels, g.edges
    assert result.count == 2
    assert (lab[e[line, 0]] != lab[e[line, 1]]).all() and (lab[e[~line, 0]] == lab[e[~line, 1]]).all()


@pytest.mark.xfail(
    strict=True,
    reason="known limit: trees lean only mildly towards cheap edges, so a cheap line inside a block (tier 0) is still rarely the cut",
)
def test_cut_follows_cheap_edges_inside_a_block():
    """A 6 × 6 lattice (800 households, two grids); the edges between rows 2 and 3 cost 0.01, all tier 0::

        0 - 1 - 2 - 3 - 4 - 5
        ...
       12 -13 -14 -15 -16 -17
        :   :   :   :   :   :     <- cost 0.01
       18 -19 -20 -21 -22 -23
        ...
    """
    g = UnitGraph.lattice(6, 6, households=800 / 36)
    line = edges_between_rows(g, 6, 2)
    g = with_(g, cost=np.where(line, 0.01, 1.0))
    e = g.edges
    for seed in range(5):
        lab = partition(g, GRID, rng=seed).labels
        assert (lab[e[line, 0]] != lab[e[line, 1]]).all(), f"seed {seed}: cut {lab.reshape(6, 6).tolist()}"


# ---- keep-together groups --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_group_that_fits_is_never_split(seed):
    """A 4 × 4 lattice of 50 (two grids) and a compound ``#`` of 300 across the natural middle cut::

        0 - # - # - 3
        |   |   |   |
        4 - # - # - 7
        |   |   |   |
        8 - # - # -11
        |   |   |   |
       12 -13 -14 -15
    """
    g = UnitGraph.lattice(4, 4, households=50)
    group = np.full(16, -1)
    compound = [1, 2, 5, 6, 9, 10]
    group[compound] = 7
    g = with_(g, group=group)
    result = partition(g, GRID, rng=seed)
    assert_partition_invariants(g, result)
    assert len(set(result.labels[compound].tolist())) == 1


def test_a_group_in_the_middle_still_gives_units_in_range():
    """As above; compound + {0, 4} (400) and the ring 3-7-11-15-14-13-12-8 (400) is a valid plan."""
    g = UnitGraph.lattice(4, 4, households=50)
    group = np.full(16, -1)
    group[[1, 2, 5, 6, 9, 10]] = 7
    g = with_(g, group=group)
    result = partition(g, GRID, rng=1)
    assert_partition_invariants(g, result)
    assert in_range(unit_households(g, result), GRID) or result.issues


def test_two_groups_and_a_too_big_group():
    """Groups 0 (nodes 0, 1) and 1 (nodes 14, 15) fit and stay whole; group 2 (all of row 2, 600) may split."""
    g = UnitGraph.lattice(4, 4, households=np.r_[np.full(8, 50.0), np.full(4, 150.0), np.full(4, 50.0)])
    group = np.full(16, -1)
    group[[0, 1]] = 0
    group[[14, 15]] = 1
    group[[8, 9, 10, 11]] = 2
    g = with_(g, group=group)
    result = partition(g, GRID, rng=3)
    assert_partition_invariants(g, result)
    assert result.labels[0] == result.labels[1] and result.labels[14] == result.labels[15]
    assert in_range(unit_households(g, result), GRID)


def test_issue_nodes_are_original_nodes_when_groups_are_contracted():
    """Nodes 1, 2, 3 form a compound (contracted to one node); the whole path of 550 is infeasible."""
    g = with_(path([50.0] * 11), group=np.r_[-1, 5, 5, 5, np.full(7, -1)])
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    (issue,) = result.issues
    assert issue.nodes == tuple(range(11))
    assert len(set(result.labels[[1, 2, 3]].tolist())) == 1


# ---- known gaps --------------------------------------------------------------------------------------


def test_out_of_range_units_are_always_reported():
    """0 (250) - 1 (100) - 2 (250): 600 households, so two grids of 300 'fit', but no connected split does."""
    g = path([250.0, 100.0, 250.0])
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    units = unit_households(g, result)
    bad = np.flatnonzero((units < GRID.lo) | (units > GRID.hi))
    reported = {n for i in result.issues for n in i.nodes}
    assert all(set(np.flatnonzero(result.labels == u).tolist()) <= reported for u in bad)


def test_feasible_ladder_is_split_in_range():
    """A 2 × 4 ladder of 610 households; top row 310 / bottom row 300 is a valid split::

        120 - 100 -   0 -  90
         |     |      |     |
         30 -  70 -  90 - 110
    """
    g = UnitGraph.lattice(2, 4, households=np.array([120, 100, 0, 90, 30, 70, 90, 110.0]))
    result = partition(g, GRID, rng=0)
    assert_partition_invariants(g, result)
    assert in_range(unit_households(g, result), GRID) or result.issues


def in_range_mask(hh: np.ndarray, size) -> np.ndarray:
    return (hh >= size.lo) & (hh <= size.hi)


# ---- property test -----------------------------------------------------------------------------------


@st.composite
def planar_graphs(draw) -> UnitGraph:
    """A random lattice (2..8 × 2..8) with random edges removed, kept connected, households 0..120."""
    rows = draw(st.integers(2, 8))
    cols = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    drop = draw(st.floats(0.0, 0.6))
    rng = np.random.default_rng(seed)
    base = UnitGraph.lattice(rows, cols)
    n, e = base.n, base.edges
    w = sparse.coo_matrix((rng.random(len(e)) + 1e-3, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    tree = csgraph.minimum_spanning_tree(w).tocoo()
    in_tree = {tuple(sorted(p)) for p in zip(tree.row.tolist(), tree.col.tolist())}
    keep = np.array([tuple(sorted(p)) in in_tree or rng.random() >= drop for p in e.tolist()])
    hh = np.asarray(draw(st.lists(st.integers(0, 120), min_size=n, max_size=n)), dtype=float)
    return UnitGraph(hh, e[keep], rng.random(keep.sum()) + 0.1, np.zeros(keep.sum(), dtype=np.int8))


@given(graph=planar_graphs(), seed=st.integers(0, 1000))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_invariants_on_random_planar_graphs(graph, seed):
    result = partition(graph, GRID, rng=seed)
    assert_partition_invariants(graph, result)
    total = graph.households.sum()
    if total > 0:
        # connected, no heavy nodes: never more units than fit (an exact plan may take another count); an infeasible total is reported
        assert 1 <= result.count <= max(least_bad_count(total, GRID)[0], max(counts_in_range(total, GRID), default=0))
        if least_bad_count(total, GRID)[1] > 0:
            assert result.issues
        # and every unit out of range lies in a reported issue (nothing is silently out of range)
        reported = {n for i in result.issues for n in i.nodes}
        for u in np.flatnonzero(~in_range_mask(unit_households(graph, result), GRID)):
            assert set(np.flatnonzero(result.labels == u).tolist()) <= reported
    again = partition(graph, GRID, rng=seed)
    assert again.labels.tobytes() == result.labels.tobytes()
