"""Building footprints of the synthetic sample (internal to :mod:`gridplan.sample`).

Footprints are rectangles laid in rows inside each block (a superblock minus the clearance around
every road and the water), rotated to the street orientation: walk-ups (5–7 storeys), mid-rise
(9–11), towers (18–33, 4 households per floor) and a few schools, shops, offices and hospitals.
High-rise estates (:func:`fill_estate`) fill one block with 8–12 towers of 26–33 storeys and 2–4 entrances
(200–300 households each), one gated compound.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon

__all__ = ["Spec", "SPECS", "ZONES", "Lot", "fill_superblock", "fill_estate", "merge", "thin", "compounds",
           "ESTATE_TOWERS"]


@dataclass(frozen=True)
class Spec:
    """A building type: footprint ``base + unit_len × units`` by ``depth`` metres, gaps, storeys."""

    building: str
    unit_len: float
    base: float
    depth: float
    units: tuple[int, int]
    gaps: tuple[float, float]  # along the row, between rows
    levels: tuple[int, int]
    per_floor: int  # households per entrance per floor (0: not residential)
    at_most: int = 10_000  # buildings per block
    per_floor_by_units: tuple[tuple[int, int], ...] = ()  # (entrances, households per entrance per floor) pairs

    def households_per_floor(self, units: np.ndarray) -> np.ndarray:
        """Households per entrance per floor for each entrance count."""
        table = dict(self.per_floor_by_units)
        return np.array([table.get(int(u), self.per_floor) for u in units], dtype=np.int64)


SPECS = {
    "walkup": Spec("residential", 15.0, 0.0, 12.0, (2, 4), (10.0, 20.0), (5, 7), 2),
    "midrise": Spec("apartments", 16.0, 0.0, 14.0, (2, 4), (14.0, 28.0), (9, 11), 2),
    "tower": Spec("apartments", 20.0, 4.0, 24.0, (1, 2), (24.0, 40.0), (18, 33), 4),
    # 2 entrances × 4 or 4 × 2 flats a floor: 208–264 households; 3 × 3: 234–297
    "estate": Spec("apartments", 17.0, 0.0, 18.0, (2, 4), (26.0, 36.0), (26, 33), 0, 12, ((2, 4), (3, 3), (4, 2))),
    "school": Spec("school", 0.0, 70.0, 20.0, (1, 1), (30.0, 40.0), (4, 5), 0, 2),
    "kindergarten": Spec("kindergarten", 0.0, 36.0, 18.0, (1, 1), (20.0, 20.0), (3, 3), 0, 1),
    "retail": Spec("retail", 0.0, 50.0, 24.0, (1, 1), (12.0, 20.0), (2, 3), 0, 4),
    "office": Spec("office", 0.0, 40.0, 28.0, (1, 1), (30.0, 40.0), (12, 24), 0, 2),
    "hospital": Spec("hospital", 0.0, 60.0, 30.0, (1, 1), (25.0, 30.0), (8, 14), 0, 2),
}
#: Residential kinds drawn per block for each zone, with their weights.
ZONES = {
    "walkup": (("walkup", "midrise"), (0.85, 0.15)),
    "mixed": (("walkup", "midrise", "tower"), (0.35, 0.4, 0.25)),
    "midrise": (("midrise", "tower", "walkup"), (0.65, 0.2, 0.15)),
    "tower": (("tower", "midrise"), (0.85, 0.15)),
}
NONRES = (("school", "kindergarten", "retail", "office", "hospital"), (0.32, 0.2, 0.26, 0.14, 0.08))


@dataclass
class Lot:
    """Buildings of one superblock, as parallel lists."""

    geometry: list
    households: list[int]
    units: list[int]
    levels: list[int]
    building: list[str]
    block: list[int]
    along: list[float]  # position along the block's rows (to split big compounds)
    estate: list[bool] = field(default_factory=list)  # a tower of a high-rise estate (one gated compound per block)


#: Towers an estate block must hold (at most ``SPECS["estate"].at_most``).
ESTATE_TOWERS = 8


def _slots(block: Polygon, length: float, depth: float, gaps, rng, stagger: bool) -> np.ndarray:
    """Centres of ``length × depth`` boxes laid in rows that fit inside ``block`` (best of three offsets)."""
    x0, y0, x1, y1 = block.bounds
    px, py = length + gaps[0], depth + gaps[1]
    nx, ny = int((x1 - x0 + gaps[0]) // px) + 1, int((y1 - y0 + gaps[1]) // py)
    if ny < 1 or x1 - x0 < length:
        return np.empty((0, 2))
    shapely.prepare(block)
    best = np.empty((0, 2))
    for _ in range(3):
        ox = x0 + length / 2 + rng.uniform(0, gaps[0] + 0.5 * length)
        oy = y0 + (y1 - y0 - (ny * py - gaps[1])) / 2 + depth / 2 + rng.uniform(-0.4, 0.4) * gaps[1]
        gx, gy = np.meshgrid(np.arange(-1, nx) * px, np.arange(ny) * py)
        if stagger:
            gx = gx + (np.arange(ny)[:, None] % 2) * px / 2
        cx, cy = (gx + ox).ravel(), (gy + oy).ravel()
        ok = shapely.contains(block, shapely.box(cx - length / 2, cy - depth / 2, cx + length / 2, cy + depth / 2))
        if ok.sum() > len(best):
            best = np.column_stack([cx[ok], cy[ok]])
    return best


def _rects(centres: np.ndarray, lengths: np.ndarray, depth: float, theta: float, origin) -> list[Polygon]:
    """Rectangles (rotated frame) turned back by ``theta`` about ``origin``."""
    sx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    sy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    x = centres[:, :1] + lengths[:, None] * sx
    y = centres[:, 1:] + depth * sy
    c, s = math.cos(theta), math.sin(theta)
    ox, oy = origin
    xr = ox + c * (x - ox) - s * (y - oy)
    yr = oy + s * (x - ox) + c * (y - oy)
    return list(shapely.polygons(np.stack([xr, yr], axis=-1)))


def _fill_block(lot: Lot, block: Polygon, b: int, kind: str, theta: float, origin, rng: np.random.Generator) -> None:
    """Lay buildings of ``kind`` in rows inside ``block`` (index ``b``), appending them to ``lot``."""
    rot = affinity.rotate(block, -theta, origin=origin, use_radians=True)
    spec = SPECS[kind]
    high = kind in ("tower", "estate")
    u_slot = int(rng.integers(spec.units[0], spec.units[1] + 1))
    slot_len = spec.base + spec.unit_len * u_slot
    centres = _slots(rot, slot_len, spec.depth, spec.gaps, rng, stagger=high)
    if len(centres) > spec.at_most:  # keep those nearest the block's middle
        mid = np.asarray(rot.centroid.coords[0])
        centres = centres[np.argsort(np.hypot(*(centres - mid).T), kind="stable")[: spec.at_most]]
    n = len(centres)
    if n == 0:
        return
    units = np.where(rng.random(n) < 0.7, u_slot, rng.integers(spec.units[0], u_slot + 1, n))
    lengths = spec.base + spec.unit_len * units
    centres = centres.copy()
    centres[:, 0] += rng.uniform(-0.5, 0.5, n) * (slot_len - lengths)
    typical = int(rng.integers(spec.levels[0], spec.levels[1] + 1))
    levels = np.clip(typical + rng.integers(-1, 2, n), *spec.levels) if not high else \
        rng.integers(spec.levels[0], spec.levels[1] + 1, n)
    lot.geometry += _rects(centres, lengths, spec.depth, theta, origin)
    lot.households += (levels * units * spec.households_per_floor(units)).tolist()
    lot.units += units.tolist()
    lot.levels += levels.tolist()
    lot.building += [spec.building] * n
    lot.block += [b] * n
    lot.along += centres[:, 0].tolist()
    lot.estate += [kind == "estate"] * n


def fill_superblock(blocks: list[Polygon], zone: str, theta: float, origin, rng: np.random.Generator,
                    skip: frozenset[int] = frozenset()) -> Lot:
    """Lay buildings in each block of a superblock (but the blocks in ``skip``); ``zone`` picks the residential kinds."""
    lot = Lot([], [], [], [], [], [], [])
    kinds, weights = ZONES[zone]
    for b, block in enumerate(blocks):
        if b in skip:
            continue
        nonres = block.area > 4000 and rng.random() < 0.1
        kind = NONRES[0][rng.choice(5, p=NONRES[1])] if nonres else kinds[rng.choice(len(kinds), p=weights)]
        _fill_block(lot, block, b, kind, theta, origin, rng)
    return lot


def fill_estate(block: Polygon, b: int, theta: float, origin, rng: np.random.Generator) -> Lot | None:
    """A high-rise estate filling ``block`` (index ``b``): its towers, or None when fewer than
    :data:`ESTATE_TOWERS` fit."""
    lot = Lot([], [], [], [], [], [], [])
    _fill_block(lot, block, b, "estate", theta, origin, rng)
    return lot if len(lot.geometry) >= ESTATE_TOWERS else None


def merge(lot: Lot, other: Lot) -> Lot:
    """The buildings of both lots (``lot``'s first)."""
    return Lot(*(getattr(lot, k) + getattr(other, k) for k in
                 ("geometry", "households", "units", "levels", "building", "block", "along", "estate")))


def thin(lot: Lot, target: int, void, keep: np.ndarray | None = None) -> np.ndarray:
    """Which buildings to keep so that households come close to ``target``.

    Residential buildings nearest the point ``void`` go first (the space becomes a park or a yard),
    each only when removing it brings the total closer to ``target``.
    """
    hh = np.asarray(lot.households, dtype=np.int64)
    keep = np.ones(len(hh), bool) if keep is None else keep.copy()
    if len(hh) == 0:
        return keep
    c = shapely.centroid(np.asarray(lot.geometry, dtype=object))
    d = np.hypot(shapely.get_x(c) - void[0], shapely.get_y(c) - void[1])
    total = int(hh[keep].sum())
    for i in np.argsort(d, kind="stable"):
        if total <= target:
            break
        if keep[i] and hh[i] > 0 and total - target >= hh[i] / 2:
            keep[i] = False
            total -= int(hh[i])
    for _ in range(3):  # then the single removal or restoration that lands nearest the target
        err = total - target
        step = np.where(keep, -hh, hh) * (hh > 0)
        j = int(np.argmin(np.abs(err + step)))
        if abs(err + step[j]) >= abs(err):
            break
        keep[j] = not keep[j]
        total += int(step[j])
    return keep


def compounds(block: np.ndarray, along: np.ndarray, residential: np.ndarray, rng: np.random.Generator,
              p_gated: float, estate: np.ndarray | None = None) -> np.ndarray:
    """A compound label (-1: none) per building: most blocks' housing forms one or two compounds; an estate's
    towers (``estate``) always one."""
    label = np.full(len(block), -1)
    estate = np.zeros(len(block), bool) if estate is None else np.asarray(estate, bool)
    nxt = 0
    for b in np.unique(block):
        idx = np.flatnonzero((block == b) & residential)
        if len(idx) < 2 or (rng.random() > p_gated and not estate[idx].any()):
            continue
        if len(idx) > 12:
            cut = np.median(along[idx])
            groups = [idx[along[idx] <= cut], idx[along[idx] > cut]]
            groups = [g for g in groups if len(g)] if min(len(g) for g in groups) >= 2 else [idx]
        else:
            groups = [idx]
        for g in groups:
            label[g] = nxt
            nxt += 1
    return label
