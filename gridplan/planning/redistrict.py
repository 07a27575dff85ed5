"""Re-districting: redraw oversized communities into balanced, contiguous, street-bounded new ones.

Planners redraw the oversized communities *together*, and the old lines between them are not walls
(Nanyang: 24 communities with unclear boundaries became 35). So, by default (``joint=True``):

- the oversized communities that touch form clusters, and each cluster's cells are cut jointly into new
  communities, across the old boundaries inside it (``mode='all'``: every community is one scope);
- ``count`` asks for a total; when the clusters cannot reach it, the fewest in-range neighbours are
  redrawn with them (each addition the one that moves the feasible totals most towards ``count``), and an
  impossible count raises an error listing the feasible totals of each mode;
- old boundaries are preferred cut lines, so most households stay with the majority of their old
  community (core preservation: ``report["redistricting"]["core"]``);
- a piece that tier-1 lines cut off and that could be communities of its own stays apart; a smaller one is
  bridged to the nearest piece, so no new community is a stray fragment.

With ``joint=False`` each oversized community is split inside its own old boundary (the behaviour before
issue 13, kept for planners who want it). See :mod:`gridplan.planning.joint` for the details.

Kept communities keep their codes, their given polygons (exactly) and start dates; new ones take the next
free sequence of their street office (the old code's first 9 digits); the redrawn codes are retired, never
reused.

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
               joint: bool = True, old_plan=None, **options) -> Redistricting:
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
        When the oversized ones redrawn together cannot reach it, the fewest neighbours are redrawn with
        them (``report["redistricting"]["neighbours_added"]``); an impossible count raises
        :class:`~gridplan.errors.InfeasibleError` listing the feasible totals of each mode.
    joint
        True: redraw the communities to split together, across the old lines between them; False: split
        each inside its own old boundary (the old lines are walls; ``count`` cannot add neighbours).
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
    new = plan(buildings, barriers, communities, redistrict=mode, community_count=count, joint=joint, **options)
    old = state_from_communities(communities, new, old_plan=old_plan)
    return Redistricting(new, diff(old, new))
