"""Re-plans as plan requests: ``POST /v1/plans`` with ``replan_of`` (checked here), run by :func:`run_replan`.

A re-plan is :func:`gridplan.planning.replan.replan` of a previous, done plan for the buildings of a new
dataset: what ``gridplan replan PREVIOUS BUILDINGS --lock CODE`` does. It takes the previous plan's
barriers, communities, sizes, street code and balance; a request may give only ``lock``, ``seed`` (default:
the previous plan's) and ``start_date`` with it, and the recorded parameters are the previous plan's with those.

Examples
--------
>>> not_with_replan({"replan_of", "dataset_id", "grid_size", "seed", "keep_communities"})
['grid_size', 'keep_communities']
>>> library_columns({"id_field": "bid", "units_field": "units", "levels_field": "floors", "compound_field": "compound"},
...                 "building_id")
{'bid': 'building_id', 'floors': 'levels'}
"""
from __future__ import annotations

from pathlib import Path

from gridplan.errors import InputError, first_ids

from .errors import InvalidParameter

__all__ = ["REPLAN_FIELDS", "not_with_replan", "refuse_extra", "replan_parameters", "check_lock", "library_columns", "run_replan"]

#: the fields a request may give with ``replan_of`` (besides ``dataset_id``)
REPLAN_FIELDS = ("replan_of", "lock", "seed", "start_date")
#: the library's names of the columns a re-plan reads (the previous plan's id field aside)
_LIBRARY_COLUMNS = {"units_field": "units", "levels_field": "levels", "compound_field": "compound"}


def not_with_replan(given: set[str]) -> list[str]:
    """The fields of a request (``given``: the ones it set) that a re-plan does not take, sorted."""
    return sorted(given - {"dataset_id", *REPLAN_FIELDS})


def refuse_extra(given: set[str]) -> None:
    """422 naming the fields of a request with ``replan_of`` (``given``: the ones it set) that a re-plan does not take."""
    extra = not_with_replan(given)
    if extra:
        raise InvalidParameter(
            f"{', '.join(extra)} cannot be given with replan_of: a re-plan keeps the previous plan's sizes, street "
            f"code, balance and communities, and takes only {', '.join(REPLAN_FIELDS[1:])}; leave "
            f"{'it' if len(extra) == 1 else 'them'} out, or plan the dataset afresh without replan_of", field=extra[0])


def replan_parameters(given: set[str], request: dict, previous: dict) -> dict:
    """The parameters to record for a re-plan: the previous plan's (``previous``), with ``replan_of``, ``lock``,
    ``start_date`` and the seed (the request's when given, else the previous plan's) of ``request``."""
    params = {**previous, "replan_of": request["replan_of"], "lock": sorted(set(request.get("lock") or ())),
              "start_date": request.get("start_date"), "redistrict": "none", "community_count": None,
              "keep_communities": True}
    if "seed" in given:
        params["seed"] = request["seed"]
    return params


def check_lock(lock: list[str], known: set[str], previous_id: str) -> None:
    """422 naming ``lock`` when it names codes the previous plan does not have."""
    unknown = sorted(set(lock) - known)
    if unknown:
        raise InvalidParameter(f"lock names codes that are not in plan {previous_id!r} (replan_of): {first_ids(unknown)}; "
                               "give community, grid or micro-grid codes of that plan (GET /v1/plans/{id}/grids)",
                               field="lock")


def library_columns(options: dict, previous_id_field: str) -> dict[str, str]:
    """Renames (the dataset's column → the one the library reads) so that a re-plan reads the columns the
    dataset was uploaded with: its id column as the previous plan's id field, and units, levels, compound."""
    wanted = {"id_field": previous_id_field, **_LIBRARY_COLUMNS}
    return {options[f]: name for f, name in wanted.items() if options.get(f) and options[f] != name}


def run_replan(previous_dir: Path, layers: dict, options: dict, parameters: dict, progress):
    """Re-plan the plan in ``previous_dir`` for ``layers['buildings']`` (read with the dataset's ``options``);
    returns the library's :class:`~gridplan.planning.replan.Replanning` and the previous plan (for the map)."""
    from gridplan.outputs.reader import read_plan
    from gridplan.planning.replan import replan

    if not (previous_dir / "report.json").is_file():
        raise InputError(f"the previous plan {parameters['replan_of']!r} (replan_of) was deleted before this re-plan "
                         "ran; submit the re-plan of another plan")
    prev = read_plan(previous_dir)
    buildings = layers["buildings"]
    renames = library_columns(options, prev.id_field)
    if renames:
        buildings = buildings.drop(columns=[c for c in renames.values() if c in buildings.columns and c not in renames])
        buildings = buildings.rename(columns=renames)
    r = replan(prev, buildings, lock=parameters.get("lock") or (), seed=parameters.get("seed"),
               start_date=parameters.get("start_date"), households_field=options.get("households_field", "households"),
               estimate=options.get("estimate", "auto"), input_crs=options.get("input_crs", "auto"),
               fix_geometry=bool(options.get("fix_geometry")), accept_large=bool(options.get("accept_large")),
               progress=progress)
    return r, prev
