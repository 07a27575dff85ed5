"""Re-districting: split oversized communities into balanced, contiguous, street-bounded new ones.

The old communities are kept as given where they are in range; each one to split (those above the range,
or every one with ``mode='all'``) gets a number of new communities, and its cells are cut by the range-aware
partitioner into exactly that many. Pieces of one old community that hard barriers cut apart (a corner
across the river) are bridged to the nearest piece, so no new community is a stray fragment. ``count``
asks for a total (the Nanyang case: 24 → 35); the counts are handed out one at a time to the community
whose new units would be largest, and an infeasible total raises an error listing the feasible ones.

Kept communities keep their codes, boundaries and start dates; new ones take the next free sequence of
their street office (the old code's first 9 digits); the split codes are retired, never reused.

Examples
--------
>>> from gridplan.sample import make_district
>>> d = make_district(households=7000, communities=2)
>>> r = redistrict(d.buildings, d.roads, d.communities, count=3, seed=0, start_date="2026-01-01")
>>> len(r.plan.communities), r.changes.summary["retired"]["community"] >= 1
(3, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import check_choice
from ..model import Plan
from .diff import ChangeList, diff, state_from_communities
from .plan import plan

__all__ = ["redistrict", "Redistricting"]


@dataclass(frozen=True)
class Redistricting:
    """What :func:`redistrict` returns: the new plan and its change list against the old communities."""

    plan: Plan
    changes: ChangeList


def redistrict(buildings, barriers, communities, *, mode: Literal["oversized", "all"] = "oversized", count: int | None = None,
               old_plan=None, **options) -> Redistricting:
    """Split the out-of-range communities (every one with ``mode='all'``) and plan grids and micro-grids inside.

    Parameters
    ----------
    buildings, barriers, communities
        As for :func:`gridplan.plan`; ``communities`` are the old communities (``code``, ``name`` and
        optionally ``start_date`` columns).
    mode
        ``'oversized'``: split those above the community range; ``'all'``: re-split every community.
    count
        The number of communities wanted in total (e.g. 35), or None for the counts nearest the target.
    old_plan
        The previous plan of these buildings (a Plan or its directory): the change list is made against it, with
        real moves between grids and micro-grids; without it the old grids are unknown (``None`` in the summary).
    **options
        Any other option of :func:`gridplan.plan` (sizes, seed, street code, start date, ...).

    Returns
    -------
    Redistricting
        The plan and its change list (per building, per unit, migration table, new communities with
        their 四至 and compounds, retired codes).
    """
    check_choice("mode", mode, ("oversized", "all"))
    new = plan(buildings, barriers, communities, redistrict=mode, community_count=count, **options)
    old = state_from_communities(communities, new, old_plan=old_plan)
    return Redistricting(new, diff(old, new))
