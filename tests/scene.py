"""The hand-made scene of ``test_tessellate.py`` and ``test_graph.py``, in EPSG:32650 (UTM 50N, metres).

x, y in metres from (500 000, 3 540 000); the plan area :data:`AREA` is the 200 × 120 m box::

    y 120 ┌────────┬────────┬────────┬────────────┐
          │ □   □  │ □   □  │ □   □  ┃ □  ~~~~~   │   ~~~ pond (water, tier 1), x 170–190, y 80–110
          │ □   □  │ □   □  │ □   □  ┃ □  ~~~~~   │
          │━━━ □   │ □   □  │ □   □  ┃ □          │   ━━━ dangling tier-1 line (20, 65)–(45, 65)
          │ □   □  │ □   □  │ □   □  ┃ □          │
      0   └────────┴────────┴────────┸────────────┘
          0       50       100      150          200
               tier 3    tier 2    tier 1 (full height)

Buildings □ are 10 × 10 m boxes at x ∈ :data:`XS`, y ∈ :data:`YS`.
"""
from __future__ import annotations

import geopandas as gpd
import shapely

X0, Y0 = 500_000.0, 3_540_000.0
XS, YS = (10, 30, 60, 80, 110, 130, 160), (10, 40, 70, 100)


def box(x, y, w=10.0, h=10.0):
    """A ``w`` × ``h`` box at (x, y) metres from the scene's origin."""
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def line(*points):
    """A line through points given in metres from the scene's origin."""
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in points])


AREA = box(0, 0, 200, 120)


def scene_buildings() -> gpd.GeoSeries:
    """The 28 buildings, column by column (x) and bottom to top (y)."""
    return gpd.GeoSeries([box(x, y) for x in XS for y in YS], crs=32650)


def scene_barriers(*, name: list, kind: list) -> gpd.GeoDataFrame:
    """The five barriers, tiers 3, 2, 1, 1, 1: the roads at x 50, 100 and the railway at x 150, the pond, the
    dangling line; each test names them (``name``, ``kind``) as it needs."""
    return gpd.GeoDataFrame(
        {"tier": [3, 2, 1, 1, 1], "name": name, "kind": kind},
        geometry=[line((50, -10), (50, 130)), line((100, -10), (100, 130)), line((150, -10), (150, 130)),
                  box(170, 80, 20, 30), line((20, 65), (45, 65))],
        crs=32650,
    )
