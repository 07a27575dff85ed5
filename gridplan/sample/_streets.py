"""Street skeleton of the synthetic sample (internal to :mod:`gridplan.sample`).

Coordinates are metres in a local frame (x east, y north), the district roughly ``[0, side]²``.
The major network (boundary roads, arterials, trunk roads, rivers, the railway) cuts the district
into *superblocks*; local streets, dead ends and service lanes are drawn inside each superblock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon
from shapely.ops import substring

from ._names import RAILWAYS, RIVERS, TRUNKS, NameBook

__all__ = ["Feature", "Skeleton", "skeleton", "local_streets", "orientation", "CLEARANCE"]

#: Half-width kept free of buildings around a line (carriageway half-width + setback), metres.
CLEARANCE = {"trunk": 32.0, "primary": 22.0, "secondary": 18.0, "tertiary": 12.0, "residential": 9.0,
             "service": 5.0, "rail": 24.0, "river": 0.0}
WATER_SETBACK = 12.0
BANK_OFFSET = 16.0
#: Spacing range (m) of local streets per zone.
LOCAL_SPACING = {"walkup": (110.0, 170.0), "midrise": (130.0, 190.0), "tower": (170.0, 240.0),
                 "mixed": (130.0, 200.0)}


@dataclass
class Feature:
    """One row of the roads layer, with the clearance buildings keep from it."""

    geometry: object
    highway: str | None = None
    waterway: str | None = None
    railway: str | None = None
    natural: str | None = None
    water: str | None = None
    barrier: str | None = None
    name: str | None = None
    clearance: float = 0.0


@dataclass
class Skeleton:
    """The major network of a district and the superblocks it cuts."""

    side: float
    boundary: Polygon
    features: list[Feature]
    hard_lines: list[LineString]  # trunk roads, river centre lines, railway (uncut, extended)
    corridor: object  # river corridors up to the bank roads (no local street enters)
    water: object  # union of the water polygons
    superblocks: list[Polygon] = field(default_factory=list)


def _between(anchors: list[tuple[float, float]], rng: np.random.Generator) -> list[float]:
    """Arterial positions spread ~420–580 m apart in the gaps between sorted ``(lo, hi)`` anchors."""
    out = []
    for (_, ahi), (blo, _) in zip(anchors[:-1], anchors[1:]):
        gap = blo - ahi
        n = max(0, round(gap / rng.uniform(420.0, 580.0)) - 1)
        out += [ahi + gap * (i + 1) / (n + 1) + rng.uniform(-35.0, 35.0) for i in range(n)]
    return out


def _wobbly(pos: float, side: float, rng: np.random.Generator, *, ns: bool) -> LineString:
    """A near-straight line across the district at ``pos`` (x for ns=True, else y), kinked and tilted a little."""
    n = max(3, int(side // 1200) + 2)
    t = np.linspace(-80.0, side + 80.0, n)
    off = pos + rng.uniform(-22.0, 22.0, n) + rng.uniform(-30.0, 30.0) * (t - side / 2) / max(side / 2, 1.0)
    return LineString(np.column_stack([off, t]) if ns else np.column_stack([t, off]))


def _river(y0: float, side: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre line (n×2) and normals of a gently meandering river at ``y0``, and its amplitude."""
    amp = min(75.0, 0.06 * side)
    lam, ph = rng.uniform(900.0, 1300.0), rng.uniform(0, 2 * math.pi)
    x = np.arange(-120.0, side + 121.0, 12.0)
    k1, k2 = 2 * math.pi / lam, 2 * math.pi / (0.43 * lam)
    y = y0 + amp * np.sin(k1 * x + ph) + 0.35 * amp * np.sin(k2 * x + 2 * ph)
    dy = amp * k1 * np.cos(k1 * x + ph) + 0.35 * amp * k2 * np.cos(k2 * x + 2 * ph)
    norm = np.column_stack([-dy, np.ones_like(dy)]) / np.hypot(dy, 1.0)[:, None]
    return np.column_stack([x, y]), norm, amp


def skeleton(side: float, rng: np.random.Generator, names: NameBook) -> Skeleton:
    """Lay out the boundary, arterials, trunk roads, rivers and railway of a ``side``-metre district."""
    j = rng.uniform(-0.012, 0.012, (4, 2)) * side
    corners = np.array([[0, 0], [side, 0], [side, side], [0, side]], float) + j
    boundary = Polygon(corners)
    n_trunk, n_river = max(1, round(side / 5000)), max(1, round(side / 8000))
    rail_w = float(np.clip(0.09 * side, 150.0, 280.0))
    feats: list[Feature] = []
    hard: list[LineString] = []
    split: list[LineString] = [LineString(np.vstack([corners, corners[:1]]))]

    # rivers and their water polygons; bank roads on both sides
    y_anchor, waters, corridors = [(0.0, 0.0), (side, side)], [], []
    for r in range(n_river):
        c, nrm, amp = _river((r + 0.3) / n_river * side, side, rng)
        hw = 15.0 + 12.0 * (0.5 + 0.5 * np.sin(c[:, 0] / rng.uniform(250.0, 400.0) + rng.uniform(0, 6.3)))
        water = Polygon(np.vstack([c + hw[:, None] * nrm, (c - hw[:, None] * nrm)[::-1]])).buffer(0)
        bank = [c + (hw + BANK_OFFSET)[:, None] * nrm * s for s in (1, -1)]
        corridors.append(Polygon(np.vstack([bank[0], bank[1][::-1]])).buffer(0))
        waters.append(water)
        rname = NameBook.pick(RIVERS, r)
        centre = LineString(c)
        hard.append(centre)
        split.append(centre)
        feats.append(Feature(centre, waterway="river", name=rname))
        feats.append(Feature(water, natural="water", water="river", name=rname, clearance=WATER_SETBACK))
        for side_name, line in zip(("北", "南"), bank):
            feats.append(Feature(LineString(line), highway="tertiary", name=f"{side_name}滨河路" + ("" if r == 0 else str(r + 1)),
                                 clearance=CLEARANCE["tertiary"]))
        y_anchor.append((float(c[:, 1].min()) - 30.0, float(c[:, 1].max()) + 30.0))
    # trunk roads (east–west; north–south too in a city)
    trunk_y = [(t + 0.64) / n_trunk * side for t in range(n_trunk)]
    trunk_y = [y for y in trunk_y if all(abs(y - (lo + hi) / 2) > 400 for lo, hi in y_anchor[2:])] or [0.64 * side]
    trunk_x = [(t + 0.45) / (n_trunk) * (side - rail_w) for t in range(n_trunk)] if side > 6000 else []
    y_anchor += [(y, y) for y in trunk_y]
    x_anchor = [(0.0, 0.0), (side - rail_w, side - rail_w), (side, side)] + [(x, x) for x in trunk_x]
    ew = sorted(_between(sorted(y_anchor), rng) + trunk_y)
    ns = sorted(_between(sorted(x_anchor), rng) + trunk_x)
    k_trunk = 0
    for axis, positions, trunks in (("ns", ns, trunk_x), ("ew", ew, trunk_y)):
        for i, pos in enumerate(positions):
            line = _wobbly(pos, side, rng, ns=axis == "ns")
            split.append(line)
            if pos in trunks:
                hard.append(line)
                f = Feature(line, highway="trunk", name=NameBook.pick(TRUNKS, k_trunk), clearance=CLEARANCE["trunk"])
                k_trunk += 1
            else:
                hw = "primary" if rng.random() < 0.5 else "secondary"
                f = Feature(line, highway=hw, name=names.arterial(i, axis=axis), clearance=CLEARANCE[hw])
            feats.append(f)
    rail = _wobbly(side - rail_w, side, rng, ns=True)
    hard.append(rail)
    split.append(rail)
    feats.append(Feature(rail, railway="rail", name=RAILWAYS[0], clearance=CLEARANCE["rail"]))
    for k, (a, b) in enumerate(zip(corners, np.roll(corners, -1, axis=0))):  # boundary roads
        hw = "primary" if k % 2 else "secondary"
        name = names.arterial(len(ns) + k // 2, axis="ns" if k % 2 else "ew")
        feats.append(Feature(LineString([a, b]), highway=hw, name=name, clearance=CLEARANCE[hw]))

    reach = boundary.buffer(0.5, join_style="mitre")  # lines overshoot the edge a little, so they node cleanly
    for k, f in enumerate(feats):  # clip everything to the district
        f.geometry = f.geometry.intersection(boundary if f.natural or k >= len(feats) - 4 else reach)
    faces = [p for p in shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(split))))
             if p.area > 1.0 and boundary.contains(p.representative_point())]
    faces.sort(key=lambda p: (-round(p.centroid.y, 0), round(p.centroid.x, 0)))
    return Skeleton(side, boundary, feats, hard, shapely.union_all(corridors).intersection(boundary),
                    shapely.union_all(waters).intersection(boundary), faces)


def orientation(poly: Polygon) -> float:
    """Angle (radians, in (-π/4, π/4]) of the longest edge of ``poly``'s minimum rotated rectangle."""
    c = np.asarray(poly.minimum_rotated_rectangle.exterior.coords)
    d = np.diff(c, axis=0)
    e = d[np.argmax(np.hypot(d[:, 0], d[:, 1]))]
    a = math.atan2(e[1], e[0]) % (math.pi / 2)
    return a - math.pi / 2 if a > math.pi / 4 else a


def local_streets(sb: Polygon, corridor, zone: str, theta: float, rng: np.random.Generator,
                  names: NameBook) -> list[Feature]:
    """Local streets (tertiary/residential, some dead ends) and service lanes inside superblock ``sb``."""
    land = sb.difference(corridor) if sb.intersects(corridor) else sb
    if land.is_empty:
        return []
    origin = sb.centroid
    reach = land.buffer(1.0, join_style="mitre")  # streets end 1 m past the arterial / bank road they meet
    rot = affinity.rotate(land, -theta, origin=origin, use_radians=True)
    x0, y0, x1, y1 = rot.bounds
    lo, hi = LOCAL_SPACING[zone]
    out: list[Feature] = []
    through: list[LineString] = []
    for vertical, a, b, c0, c1 in ((True, x0, x1, y0, y1), (False, y0, y1, x0, x1)):
        pos = a + rng.uniform(lo, hi)
        while pos < b - 0.6 * lo:
            r = rng.random()
            seg = LineString([(pos, c0 - 5), (pos, c1 + 5)] if vertical else [(c0 - 5, pos), (c1 + 5, pos)])
            pos += rng.uniform(lo, hi)
            if r < 0.08:
                continue
            seg = affinity.rotate(seg, theta, origin=origin, use_radians=True).intersection(reach)
            parts = [p for p in shapely.get_parts(shapely.line_merge(seg)) if p.length > 30.0]
            if not parts:
                continue
            name = names.local()
            for p in parts:
                if r < 0.22:  # dead end: keep a stretch from one end
                    frac = rng.uniform(0.35, 0.7)
                    p = substring(p, 0, frac * p.length) if rng.random() < 0.5 else substring(p, (1 - frac) * p.length, p.length)
                    out.append(Feature(p, highway="residential", name=name, clearance=CLEARANCE["residential"]))
                    continue
                hw = "tertiary" if p.length > 300 and rng.random() < 0.35 else "residential"
                out.append(Feature(p, highway=hw, name=name, clearance=CLEARANCE[hw]))
                through.append(p)
    for _ in range(int(rng.poisson(1.3)) if through else 0):  # service lanes into the blocks
        p = through[rng.integers(len(through))]
        at = p.interpolate(rng.uniform(0.2, 0.8), normalized=True)
        near = p.interpolate(min(p.project(at) + 1.0, p.length))
        dx, dy = near.x - at.x, near.y - at.y
        n = math.hypot(dx, dy) or 1.0
        s = rng.choice([-1.0, 1.0]) * rng.uniform(35.0, 70.0) / n
        lane = LineString([(at.x, at.y), (at.x - dy * s, at.y + dx * s)]).intersection(reach)
        if isinstance(lane, LineString) and lane.length > 20.0:
            out.append(Feature(lane, highway="service", clearance=CLEARANCE["service"]))
    return out
