"""Old communities of the synthetic sample: contiguous groups of superblocks (internal).

Street offices are grown on the superblock adjacency first, then communities inside each street
office, so communities nest in street offices and follow the major roads.
"""
from __future__ import annotations

import numpy as np
import shapely

__all__ = ["adjacency", "grow", "nested_regions", "spread", "clip_redistribute", "apportion"]


def adjacency(polys: list) -> list[set[int]]:
    """Neighbours of each polygon: those sharing more than 1 m of boundary."""
    tree = shapely.STRtree(polys)
    left, right = tree.query(polys, predicate="intersects")
    adj: list[set[int]] = [set() for _ in polys]
    for i, j in zip(left.tolist(), right.tolist()):
        if i < j and shapely.intersection(polys[i].boundary, polys[j].boundary).length > 1.0:
            adj[i].add(j)
            adj[j].add(i)
    return adj


def grow(nodes: list[int], adj: list[set[int]], weight: np.ndarray, xy: np.ndarray, k: int,
         rng: np.random.Generator) -> dict[int, int]:
    """Split ``nodes`` into ``k`` contiguous regions of similar total ``weight``.

    Seeds are spread by farthest-point sampling; the lightest region that can grow takes the
    unassigned neighbour nearest its seed, until every node is assigned.
    """
    nodes = list(nodes)
    pts = xy[nodes]
    seeds = [int(rng.integers(len(nodes)))]
    dmin = np.hypot(*(pts - pts[seeds[0]]).T)
    while len(seeds) < k:
        seeds.append(int(np.argmax(dmin)))
        dmin = np.minimum(dmin, np.hypot(*(pts - pts[seeds[-1]]).T))
    label = {nodes[s]: r for r, s in enumerate(seeds)}
    load = np.array([weight[nodes[s]] for s in seeds], float)
    inside = set(nodes)
    while len(label) < len(nodes):
        grown = False
        for r in np.argsort(load, kind="stable"):
            seed_xy = pts[seeds[r]]
            cand = sorted({j for i, lab in label.items() if lab == r for j in adj[i]
                           if j in inside and j not in label})
            if cand:
                j = min(cand, key=lambda c: (np.hypot(*(xy[c] - seed_xy)), c))
                label[j] = int(r)
                load[r] += weight[j]
                grown = True
                break
        if not grown:  # a piece cut off from every region: give it to the nearest one
            rest = [i for i in nodes if i not in label]
            for i in rest:
                label[i] = int(np.argmin(np.hypot(*(pts[seeds] - xy[i]).T)))
    return label


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainder)."""
    w = np.asarray(weights, float)
    if w.sum() <= 0:
        w = np.ones_like(w)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


def nested_regions(adj: list[set[int]], area: np.ndarray, xy: np.ndarray, n_streets: int, n_comm: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Street-office and community label per superblock (communities numbered street by street)."""
    n = len(area)
    street = grow(list(range(n)), adj, area, xy, n_streets, rng)
    street_lab = np.array([street[i] for i in range(n)])
    members = [np.flatnonzero(street_lab == s) for s in range(n_streets)]
    quota = np.maximum(1, apportion(n_comm, [area[m].sum() for m in members]))
    while quota.sum() > n_comm:
        quota[np.argmax(quota)] -= 1
    quota = np.minimum(quota, [len(m) for m in members])
    while quota.sum() < n_comm:
        slack = np.array([len(m) for m in members]) - quota
        quota[np.argmax(slack)] += 1
    comm = np.zeros(n, int)
    base = 0
    for s, m in enumerate(members):
        lab = grow(m.tolist(), adj, area, xy, int(quota[s]), rng)
        for i, r in lab.items():
            comm[i] = base + r
        base += int(quota[s])
    return street_lab, comm


def spread(total: int, k: int) -> np.ndarray:
    """``k`` household totals summing to ``total``, from 0.6× to 1.8× the mean (a quarter above 1.2×)."""
    q = (np.arange(k) + 0.5) / k
    return apportion(total, 0.6 + 1.2 * q**2)


def clip_redistribute(t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``t`` moved into ``[lo, hi]`` element-wise, the excess/shortfall shared by the others (same sum)."""
    t = np.asarray(t, float).copy()
    total = t.sum()
    for _ in range(50):
        t = np.clip(t, lo, hi)
        gap = total - t.sum()
        if abs(gap) < 0.5:
            break
        free = (t < hi) if gap > 0 else (t > lo)
        if not free.any():
            break
        t[free] += gap * t[free] / t[free].sum()
    return np.round(t).astype(int)

