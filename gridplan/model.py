"""The :class:`Plan`: what :func:`gridplan.plan` returns and :meth:`Plan.write` writes.

A plan holds three nested layers of units and the building roster, all in the input's CRS:

- ``communities``, ``grids``, ``micro_grids``: GeoDataFrames, one Polygon row per unit, columns
  ``code``, ``parent_code``, ``households``, ``population``, ``buildings``, ``area_m2``,
  ``perimeter_m``, ``in_range``, ``geometry``;
- ``buildings``: one row per building, or per part of a building divided between micro-grids by
  entrance/floor; columns: the id field, ``households``, ``community_code``, ``grid_code``,
  ``micro_code``, ``part`` (0 for an undivided building, 1.. for the parts), ``geometry`` (the footprint,
  or the entrance's slice of it), and the input's ``name``, ``address``, ``building`` (type) and
  ``compound_name`` where it gives them (:data:`gridplan.inputs.columns.ATTRIBUTE_COLUMNS`);
- ``report``: JSON-ready figures (parameters, version, seed, per-level figures, barrier crossings,
  infeasible pieces);
- ``input_buildings`` / ``input_barriers``: the inputs as used, so the plan can be checked and re-run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import geopandas as gpd

from .config import PlanConfig
from .errors import PlanWriteError

__all__ = ["Plan", "UNIT_COLUMNS", "LAYER_NAMES", "register_writer"]

UNIT_COLUMNS = ("code", "parent_code", "households", "population", "buildings", "area_m2", "perimeter_m", "in_range")
LAYER_NAMES = {"community": "communities", "grid": "grids", "micro": "micro_grids"}

#: What :meth:`Plan.write` calls: ``writer(plan, directory, map_html=...) -> Path``. The writers depend on the
#: model, not the other way round: :mod:`gridplan.outputs.export` registers its ``write_plan`` when it is
#: imported, which ``import gridplan`` (and so any ``import gridplan.…``) does.
_writer: Callable[..., Path] | None = None


def register_writer(writer: Callable[..., Path]) -> None:
    """Make ``writer(plan, directory, map_html=...)`` the function :meth:`Plan.write` calls."""
    global _writer
    _writer = writer


@dataclass(frozen=True)
class Plan:
    """A nested plan: communities → grids → micro-grids, with the building roster and a report."""

    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    micro_grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    report: dict
    input_buildings: gpd.GeoDataFrame
    input_barriers: gpd.GeoDataFrame
    config: PlanConfig = field(default_factory=PlanConfig)
    id_field: str = "building_id"

    @property
    def crs(self):
        """The CRS of every layer (the input's)."""
        return self.communities.crs

    def layer(self, level: str) -> gpd.GeoDataFrame:
        """The units of ``level`` ('community', 'grid' or 'micro')."""
        from .config import LEVELS, check_choice

        check_choice("level", level, LEVELS)
        return getattr(self, LAYER_NAMES[level])

    def write(self, directory: str | PathLike, *, map_html: bool = True) -> Path:
        """Write the plan directory (see README, "The plan directory"); returns its path.

        The directory is written beside its final place and moved in only when complete, so a failure
        never leaves a half-written plan. The writer is :func:`gridplan.outputs.export.write_plan`.
        """
        if _writer is None:  # `import gridplan` registers it
            raise PlanWriteError("no plan writer is registered; `import gridplan` (it imports gridplan.outputs.export, which registers write_plan)")
        return _writer(self, directory, map_html=map_html)
