"""The change list between two done plans: ``GET /v1/plans/{plan_id}/diff?against=OTHER`` (what ``gridplan diff`` writes).

``against`` is the old plan, ``plan_id`` the new one. The change list is :func:`gridplan.planning.diff.diff`
of the two plan directories, written once with :meth:`~gridplan.planning.diff.ChangeList.write` under the
new plan's folder (``plans/<id>/diffs/<against>/``, removed with the plan) and served from there: JSON (the
summary and every table), one table as CSV (UTF-8 with a byte-order mark, as the CLI writes it), or the
changed units as GeoJSON. Plan ids are never reused, so a stored change list never goes stale.
"""
from __future__ import annotations

import json
import math
import shutil
import threading
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse, JSONResponse, Response

from .. import models as m
from ..common import GEOJSON, PlanId, Svc, finished_dir
from ..errors import Conflict, InvalidParameter, NotFound
from ..openapi import error_responses, operation_id
from ..storage import new_id

__all__ = ["router", "TABLES"]

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id)

#: ``table`` → the file of the change list (see :mod:`gridplan.planning.diff`)
TABLES = {"buildings": "changes.csv", "units": "changes_units.csv", "migration": "migration.csv",
          "new_communities": "new_communities.csv", "retired": "retired.csv"}
_NUMBERS = {f"{f}_{w}" for f in ("households", "population", "buildings") for w in ("before", "after")} | {
    "households", "population", "buildings"}
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()
Table = Literal["buildings", "units", "migration", "new_communities", "retired"]


def _finished(svc, plan_id: str, field: str) -> Path:
    try:
        return finished_dir(svc, plan_id)
    except (NotFound, Conflict) as exc:
        raise type(exc)(f"{field}: {exc.detail}", field=field) from None


def change_list(svc, plan_id: str, against: str) -> Path:
    """The directory of the change list from plan ``against`` to plan ``plan_id`` (made the first time)."""
    new_dir, old_dir = _finished(svc, plan_id, "plan_id"), _finished(svc, against, "against")
    if against == plan_id:
        raise InvalidParameter(f"against was the plan itself ({plan_id!r}); give the id of another done plan to "
                               "compare it with", field="against")
    target = svc.layout.plan_root(plan_id) / "diffs" / against
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault((plan_id, against), threading.Lock())
    with lock:  # one computation per pair; the others wait for it and read what it wrote
        if not (target / "changes.json").is_file():
            from gridplan.outputs.reader import read_plan
            from gridplan.planning.diff import diff

            changes = diff(read_plan(old_dir), read_plan(new_dir))
            tmp = target.parent / f".tmp-{new_id()}"
            try:
                changes.write(tmp)
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)  # whole or not at all
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if not (new_dir / "report.json").is_file():  # deleted meanwhile: leave nothing under its id
                shutil.rmtree(svc.layout.plan_root(plan_id), ignore_errors=True)
                raise NotFound(f"plan {plan_id!r} was deleted while its change list was made", field="plan_id")
    with _LOCKS_LOCK:
        _LOCKS.pop((plan_id, against), None)
    return target


def _records(path: Path) -> list[dict]:
    """A change-list CSV as JSON records: codes and names as text, counts as integers, empty cells as null."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    rows = df.to_dict("records")
    for row in rows:
        for k, v in row.items():
            if v == "":
                row[k] = None
            elif k in _NUMBERS:
                x = float(v)
                row[k] = int(x) if math.isfinite(x) and x == int(x) else x
    return rows


def _format(fmt: str | None, accept: str | None) -> str:
    if fmt is not None:
        return fmt
    accept = (accept or "").lower()
    return "csv" if "text/csv" in accept else "geojson" if GEOJSON in accept else "json"


@router.get("/plans/{plan_id}/diff", response_model=m.PlanDiff, tags=["results"], responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}, GEOJSON: {"schema": {"type": "object"}}},
          "description": "the change list: JSON (summary and tables), one table as CSV, or the changed units as GeoJSON"},
    **error_responses(404, 409, 422)},
    summary="the change list from another done plan (against) to this one, as `gridplan diff` writes it")
def get_diff(
    svc: Svc, plan_id: PlanId,
    against: Annotated[str, Query(description="the id of the plan to compare with (the old one; this plan is the new "
                                              "one); both must be done", max_length=64)],
    format: Annotated[Literal["json", "csv", "geojson"] | None, Query(
        description="json: the summary and every table; csv: the table named by `table`; geojson: the units that are "
                    "new, changed, recoded or retired (EPSG:4326). Default: by the Accept header (text/csv, "
                    "application/geo+json), else json")] = None,
    table: Annotated[Table, Query(description="with format=csv: buildings (changes.csv: per building, old → new "
                                              "codes), units (changes_units.csv), migration, new_communities "
                                              "(with their 四至) or retired")] = "buildings",
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    d = change_list(svc, plan_id, against)
    fmt = _format(format, accept)
    if fmt == "csv":
        return FileResponse(d / TABLES[table], media_type="text/csv; charset=utf-8",
                            filename=f"plan-{plan_id}-diff-{against}-{table}.csv")
    if fmt == "geojson":
        return FileResponse(d / "changed_units.geojson", media_type=GEOJSON)
    base = f"/v1/plans/{plan_id}/diff?against={against}"
    body = m.PlanDiff(plan_id=plan_id, against=against,
                      summary=json.loads((d / "changes.json").read_text(encoding="utf-8")),
                      **{t: _records(d / name) for t, name in TABLES.items()},
                      links={"self": base, **{t: f"{base}&format=csv&table={t}" for t in TABLES},
                             "changed_units": f"{base}&format=geojson"})
    return JSONResponse(body.model_dump(mode="json"))
