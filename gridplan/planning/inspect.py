"""What would be planned, before planning: counts, household sources, barriers, and feasibility.

:func:`inspect_inputs` validates the inputs as :func:`gridplan.plan` would, then reports the buildings
by type and by source of households, the barriers by tier, the compounds, the CRS areas are measured in,
and what no plan can fix: pieces fenced in by tier-1 lines (motorways, railways, rivers, water) whose
households no count of communities, grids or micro-grids fits, including pieces with no households
(decided by :func:`gridplan.planning.pieces.fenced_pieces`, the rule the plan's ``report.json`` uses
too), and buildings bigger than a micro-grid.

Examples
--------
>>> from gridplan.sample import make_district
>>> d = make_district(households=3000, communities=1)
>>> ins = inspect_inputs(d.buildings, d.roads)
>>> ins.households == int(d.buildings.households.sum()), ins.work_crs.startswith("WGS 84 / UTM")
(True, True)

"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.divide import divide_building
from ..config import PlanConfig
from ..inputs.validate import prepare
from .pieces import describe_piece, fenced_pieces
from .planner import Planner

__all__ = ["Inspection", "inspect_inputs", "format_inspection"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inspection:
    """Counts and feasibility of one set of inputs (see :func:`inspect_inputs`)."""

    buildings: int
    households: int
    buildings_by_type: dict[str, int]
    buildings_by_source: dict[str, int]
    households_by_source: dict[str, int]
    barriers_by_tier: dict[int, int]
    compounds: int
    buildings_in_compounds: int
    input_crs: str
    work_crs: str
    ranges: dict[str, str]
    fenced_pieces: list[dict] = field(default_factory=list)
    oversized_buildings: list[dict] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    #: the descriptive columns the plan carries (name, address, building, compound_name) -> the input column
    attributes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        from dataclasses import asdict

        out = asdict(self)
        out["barriers_by_tier"] = {str(k): v for k, v in self.barriers_by_tier.items()}
        out["notes"] = list(self.notes)
        return out


def _fenced(prep, cfg: PlanConfig) -> list[dict]:
    """The fenced pieces, decided on the plan's own cells and graph by the rule :func:`gridplan.plan` uses."""
    pl = Planner(prep, cfg, None)
    pl.build_graph()
    community_of = pl.communities().labels if prep.communities is not None else None
    return [describe_piece(pl, p) for p in fenced_pieces(pl, community_of)]


def inspect_inputs(
    buildings,
    barriers=None,
    communities=None,
    *,
    config: PlanConfig | None = None,
    building_types: pd.Series | None = None,
    feasibility: bool = True,
    **prepare_options,
) -> Inspection:
    """Validate the inputs and report what a plan would start from.

    Parameters
    ----------
    buildings, barriers, communities
        As for :func:`gridplan.plan`.
    config
        The ranges to check (default :class:`~gridplan.config.PlanConfig`).
    building_types
        Building type per building (OSM ``building``), if not the buildings' own type column (``building``,
        or an alias :func:`gridplan.inputs.columns.building_attributes` takes, such as ``type`` or ``建筑类型``).
    feasibility
        Build the plan's cells to find fenced-in pieces (takes seconds on a district).
    **prepare_options
        Passed to :func:`gridplan.inputs.validate.prepare` (``id_field``, ``estimate``, ``input_crs``, ...).

    Returns
    -------
    Inspection
    """
    cfg = config or PlanConfig()
    prep = prepare(buildings, barriers, communities, **prepare_options)
    b = prep.buildings
    if building_types is None and "building" in b.columns:
        building_types = b["building"]
    types = (pd.Series(np.asarray(building_types, dtype=object)).fillna("(none)").astype(str)
             if building_types is not None else pd.Series(["(no type column)"] * len(b)))
    src = b["household_source"].astype(str)
    oversized = []
    big = b[b["households"] > cfg.micro.hi].sort_values("households", ascending=False)
    for _, row in big.iterrows():
        divisible = bool(divide_building(row["households"], units=row["units"], levels=row["levels"], size=cfg.micro))
        estimated = [what for what, col in (("entrances", "units_source"), ("storeys", "levels_source"))
                     if str(row.get(col, "")).startswith("estimate")]
        outcome = ("divided by entrance/floor" + (f" ({' and '.join(estimated)} estimated: give units/levels to be sure)" if estimated else "")
                   if divisible else "one entrance and one storey: stays one oversized micro-grid (reported)")
        oversized.append({"building_id": str(row["building_id"]), "households": int(row["households"]),
                          "source": str(row["household_source"]), "outcome": outcome})
    tiers = prep.barriers["tier"].value_counts().sort_index()
    comp = b["compound"].dropna()
    ins = Inspection(
        buildings=len(b), households=int(b["households"].sum()),
        buildings_by_type=dict(types.value_counts().sort_values(ascending=False).astype(int).items()),
        buildings_by_source=dict(src.value_counts().astype(int).items()),
        households_by_source={k: int(v) for k, v in b.groupby(src)["households"].sum().sort_values(ascending=False).items()},
        barriers_by_tier={int(k): int(v) for k, v in tiers.items()},
        compounds=int(comp.nunique()), buildings_in_compounds=len(comp),
        input_crs=str(prep.input_crs.name), work_crs=str(prep.work_crs.name),
        ranges={lv: f"{getattr(cfg, lv).lo:g}:{getattr(cfg, lv).hi:g}" for lv in ("community", "grid", "micro")},
        fenced_pieces=_fenced(prep, cfg) if feasibility and len(b) else [],
        oversized_buildings=oversized, notes=prep.notes, attributes=dict(prep.attributes),
    )
    logger.info("inspected %d buildings, %d households: %d fenced pieces, %d buildings above a micro-grid",
                ins.buildings, ins.households, len(ins.fenced_pieces), len(ins.oversized_buildings))
    return ins


def format_inspection(ins: Inspection, *, limit: int = 10) -> str:
    """The inspection as the text ``gridplan inspect`` prints."""
    lines = [f"buildings: {ins.buildings:,}    households: {ins.households:,}"]
    lines.append("  by type: " + ", ".join(f"{k} {v:,}" for k, v in list(ins.buildings_by_type.items())[:12])
                 + (f", … ({len(ins.buildings_by_type) - 12} more types)" if len(ins.buildings_by_type) > 12 else ""))
    lines.append("  households by source: " + ", ".join(
        f"{k} {ins.households_by_source.get(k, 0):,} ({v:,} buildings)" for k, v in ins.buildings_by_source.items()))
    lines.append("barriers by tier: " + (", ".join(f"tier {k} ({('hard', 'strong', 'soft')[k - 1]}) {v:,}"
                                                   for k, v in ins.barriers_by_tier.items()) or "none"))
    share = f" ({ins.buildings_in_compounds / ins.buildings:.0%} of the buildings)" if ins.buildings else ""
    lines.append(f"compounds: {ins.compounds:,} holding {ins.buildings_in_compounds:,} buildings{share}")
    lines.append("attributes carried to the plan: " + (", ".join(
        k if c == k else f"{k} (from {c!r})" for k, c in ins.attributes.items()) or "none (no name, address, building "
        "or compound_name column)"))
    lines.append(f"CRS: input {ins.input_crs}; areas and lengths measured in {ins.work_crs}")
    lines.append("ranges (households): " + ", ".join(f"{k} {v}" for k, v in ins.ranges.items()))
    head = "pieces fenced in by tier-1 lines that no count of units fits"
    if ins.fenced_pieces:
        lines.append(f"{head}: {len(ins.fenced_pieces):,}")
        for p in ins.fenced_pieces[:limit]:
            by = ", ".join(p["fenced_by"]) or "no tier-1 line near it"
            lines.append(f"  - near {p['near']} (by {by}): {p['buildings']:,} buildings; " + "; ".join(p["reasons"]))
        if len(ins.fenced_pieces) > limit:
            lines.append(f"  … and {len(ins.fenced_pieces) - limit:,} more")
    else:
        lines.append(f"{head}: none")
    if ins.oversized_buildings:
        lines.append(f"buildings above the micro-grid maximum ({ins.ranges['micro'].split(':')[1]}): "
                     f"{len(ins.oversized_buildings)}")
        for o in ins.oversized_buildings[:limit]:
            lines.append(f"  - {o['building_id']}: {o['households']:,} households ({o['source']}); {o['outcome']}")
        if len(ins.oversized_buildings) > limit:
            lines.append(f"  … and {len(ins.oversized_buildings) - limit} more")
    else:
        lines.append("buildings above the micro-grid maximum: none")
    for note in ins.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
