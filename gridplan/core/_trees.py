"""Spanning trees of small pieces and the figures of every cut a tree offers (internal to the partitioner)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .unitgraph import UnitGraph

#: Pieces up to this many nodes use the plain-Python spanning tree (scipy's overhead dominates below).
SMALL = 300


@dataclass(frozen=True)
class Tree:
    root: int
    order: np.ndarray  # breadth-first order from the root
    pred: np.ndarray  # parent of each node (-9999 at the root)
    depth: np.ndarray  # edges from the root
    matrix: sparse.csr_matrix | None  # the tree's edges (None for small trees)


def small_tree(n: int, edges: np.ndarray, weight: np.ndarray, root: int) -> Tree:
    """Minimum spanning tree of a small graph in plain Python (Kruskal), rooted at ``root``.

    For a few dozen nodes this is many times faster than going through scipy.sparse.
    """
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    adj: list[list[int]] = [[] for _ in range(n)]
    el = edges.tolist()
    for k in np.argsort(weight, kind="stable").tolist():
        a, b = el[k]
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
            adj[a].append(b)
            adj[b].append(a)
    pred = [-9999] * n
    depth = [0] * n
    order = [root]
    seen = [False] * n
    seen[root] = True
    i = 0
    while i < len(order):
        x = order[i]
        i += 1
        for y in adj[x]:
            if not seen[y]:
                seen[y] = True
                pred[y] = x
                depth[y] = depth[x] + 1
                order.append(y)
    if len(order) != n:
        raise RuntimeError(f"internal: piece of {n} nodes is not connected ({len(order)} reached)")
    return Tree(root, np.asarray(order, dtype=np.int64), np.asarray(pred, dtype=np.int64), np.asarray(depth, dtype=np.int64), None)


def tree_cut_figures(sub: UnitGraph, tree: Tree) -> tuple[np.ndarray, np.ndarray]:
    """For every node x: households in x's subtree, the cost of the graph cut made by cutting x–parent,
    and the number of nodes with households in the subtree.

    The cut of a tree edge crosses exactly the graph edges whose tree path uses it; each edge (u, v, c)
    adds c at u and v and takes 2c at their lowest common ancestor, so a subtree sum gives the cut cost.
    """
    n = sub.n
    pred = tree.pred.copy()
    pred[tree.root] = tree.root
    depth, order = tree.depth, tree.order
    # LCA of every edge by binary lifting
    u, v = sub.edges[:, 0].copy(), sub.edges[:, 1].copy()
    if len(u):
        swap = depth[u] < depth[v]
        u[swap], v[swap] = v[swap], u[swap]
        levels = max(1, int(depth.max()).bit_length())
        up = [pred]
        for _ in range(1, levels):
            up.append(up[-1][up[-1]])
        diff = depth[u] - depth[v]
        for j in range(levels):
            bit = (diff >> j) & 1 == 1
            u[bit] = up[j][u[bit]]
        for j in range(levels - 1, -1, -1):
            differ = up[j][u] != up[j][v]
            u[differ] = up[j][u[differ]]
            v[differ] = up[j][v[differ]]
        lca = np.where(u == v, u, pred[u])
    else:
        lca = u
    acc = np.zeros((n, 3))
    acc[:, 0] = sub.households
    acc[:, 2] = sub.households > 0
    np.add.at(acc[:, 1], sub.edges[:, 0], sub.cost)
    np.add.at(acc[:, 1], sub.edges[:, 1], sub.cost)
    np.add.at(acc[:, 1], lca, -2.0 * sub.cost)
    # subtree sums, deepest level first
    by_depth = order[np.argsort(depth[order], kind="stable")]
    bounds = np.searchsorted(depth[by_depth], np.arange(int(depth.max()) + 2))
    for d in range(int(depth.max()), 0, -1):
        nodes = by_depth[bounds[d] : bounds[d + 1]]
        np.add.at(acc, pred[nodes], acc[nodes])
    return acc[:, 0], acc[:, 1], acc[:, 2]


def subtree_mask(tree: Tree, node: int) -> np.ndarray:
    """Boolean mask of the subtree rooted at ``node``: cut node–parent and keep node's side."""
    n = len(tree.pred)
    if n <= SMALL:  # parents come before children in breadth-first order
        mask = np.zeros(n, bool)
        mask[node] = True
        pred = tree.pred.tolist()
        for x in tree.order.tolist():
            p = pred[x]
            if p >= 0 and mask[p]:
                mask[x] = True
        return mask
    child = np.flatnonzero((tree.pred >= 0) & (np.arange(n) != node))
    m = sparse.coo_matrix((np.ones(len(child)), (child, tree.pred[child])), shape=(n, n))
    _, comp = csgraph.connected_components(m, directed=False)
    return comp == comp[node]

