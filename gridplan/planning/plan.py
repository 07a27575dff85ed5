"""The pipeline: inputs → cells → communities → grids → micro-grids → :class:`~gridplan.model.Plan`.

Examples
--------
>>> import gridplan
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> p = gridplan.plan(d.buildings, d.roads, seed=1)
>>> int(p.grids.households.sum()) == int(d.buildings.households.sum())
True
>>> p.grids.code.str.len().unique().tolist()
[15]
"""
from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from typing import Literal

from .._version import __version__
from ..config import Balance, PlanConfig, SizeRange, check_choice
from ..model import Plan
from ..errors import OptionError
from ..inputs.households import HouseholdRules
from ..inputs.validate import prepare
from .assemble import assemble
from .planner import Planner
from .split import retire_split, split_communities

__all__ = ["plan"]

log = logging.getLogger(__name__)


def plan(
    buildings,
    barriers=None,
    communities=None,
    *,
    id_field: str = "building_id",
    households_field: str = "households",
    units_field: str = "units",
    levels_field: str = "levels",
    compound_field: str = "compound",
    population_field: str = "population",
    community_size: str | SizeRange | None = None,
    grid_size: str | SizeRange | None = None,
    micro_size: str | SizeRange | None = None,
    seed: int = 0,
    street_code: str = "000000000",
    persons_per_household: float = 2.62,
    balance: Balance = "households",
    estimate: str = "auto",
    input_crs: str = "auto",
    fix_geometry: bool = False,
    accept_large: bool = False,
    start_date: str | None = None,
    redistrict: Literal["keep", "oversized", "all"] = "keep",
    community_count: int | None = None,
    joint: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> Plan:
    """Plan communities → grids → micro-grids from building footprints and barrier lines.

    Parameters
    ----------
    buildings
        Building footprints (or land parcels) with households: a GeoDataFrame or a path to any vector
        file gridplan reads (see :func:`gridplan.inputs.io.read_layer`).
    barriers
        Roads, railways, rivers and water areas (OSM tags or a ``tier`` column), or None.
    communities
        Community polygons to keep (grids are planned inside each); None plans communities too.
    id_field, households_field, units_field, levels_field, compound_field, population_field
        Columns of the buildings: id, households, entrances (单元), storeys, keep-together compound, residents.
        Entrances and storeys are estimated where not given (see :func:`gridplan.inputs.validate.prepare`).
    community_size, grid_size, micro_size
        ``"MIN:MAX"`` or ``"MIN:MAX:TARGET"`` households per unit (persons with ``balance="population"``);
        None: 1000:3000:2000, 300:500:400 and 30:100:50 households, or with ``balance="population"`` those ×
        ``persons_per_household`` rounded to tens (grid 790:1310:1050 for 2.62).
    seed
        The same inputs and seed give identical plans.
    street_code
        9-digit code (6 county + 3 street office) that community codes extend.
    persons_per_household
        Population = households × this (2.62, the 7th census), where the buildings give no population.
    balance
        What the ranges count: ``"households"``, or ``"population"`` (persons; Hefei's "300–500 households
        or about 1,000 people").
    estimate, input_crs, fix_geometry, accept_large
        How households are filled in, the coordinates' CRS or conversion, geometry repair, whether buildings
        of more than 3,000 households are planned: see :func:`gridplan.inputs.validate.prepare`.
    start_date
        ISO date recorded as every unit's start date (default: today).
    redistrict
        With ``communities``: ``'keep'`` keeps every given community; ``'oversized'`` splits those
        above the community range into balanced, contiguous new ones (the others keep their boundaries
        and codes); ``'all'`` re-splits every community. New communities take the next free codes of
        their street office; see :func:`gridplan.planning.redistrict.redistrict` for the change list.
    community_count
        With ``redistrict``: the number of communities wanted in total (e.g. 35); an infeasible count
        raises :class:`~gridplan.errors.InfeasibleError` listing the feasible ones.
    joint
        With ``redistrict``: redraw the communities to split together, across the old lines between them
        (and, when ``community_count`` needs it, the fewest neighbours); False splits each inside its own
        old boundary (the old lines are walls).
    progress
        Callable ``(stage, steps_done)`` for progress reporting.

    Returns
    -------
    Plan
    """
    cfg = PlanConfig(
        community=None if community_size is None else SizeRange.parse(community_size, name="community_size"),
        grid=None if grid_size is None else SizeRange.parse(grid_size, name="grid_size"),
        micro=None if micro_size is None else SizeRange.parse(micro_size, name="micro_size"),
        persons_per_household=persons_per_household,
        street_code=street_code,
        seed=int(seed),
        balance=balance,
    )
    start_date = start_date or _dt.date.today().isoformat()
    check_choice("redistrict", redistrict, ("keep", "oversized", "all"))
    if redistrict != "keep" and communities is None:
        raise OptionError(f"`redistrict` was {redistrict!r} but no `communities` were given; give the old community polygons to split")
    if community_count is not None and redistrict == "keep":
        raise OptionError(f"`community_count` was {community_count!r} with `redistrict='keep'`; give redistrict='oversized' or 'all' to change the count")
    prep = prepare(
        buildings, barriers, communities, id_field=id_field, households_field=households_field, units_field=units_field,
        levels_field=levels_field, compound_field=compound_field, estimate=estimate, input_crs=input_crs, fix_geometry=fix_geometry,
        accept_large=accept_large, population_field=population_field, rules=HouseholdRules(persons_per_household=cfg.persons_per_household),
    )
    pl = Planner(prep, cfg, progress)
    pl.build_graph()
    comm = pl.communities()
    book = None
    if redistrict != "keep":
        comm, book = split_communities(pl, comm, mode=redistrict, count=community_count, start_date=start_date, joint=joint, given=communities)
    grids = pl.plan_level(comm, cfg.grid, 1, strong_tier=2, use_groups=True)
    micro = pl.plan_level(grids, cfg.micro, 2, strong_tier=2, use_groups=False)
    result = assemble(pl, comm, grids, micro, start_date=start_date, version=__version__, book=book)
    if redistrict != "keep":
        retire_split(result, pl, start_date)
    return result
