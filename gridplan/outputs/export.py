"""Write a :class:`~gridplan.model.Plan` to a plan directory, all at once or not at all.

The plan directory is a contract (API clients, ``checkplan.py`` and later re-plans read it):

========================  =====================================================================
``communities.geojson``   one Polygon per community, EPSG:4326 (RFC 7946: no ``crs`` member,
``grids.geojson``         exterior rings counter-clockwise), properties ``code``, ``parent_code``,
``micro_grids.geojson``   ``households``, ``population``, ``buildings``, ``area_m2``, ``perimeter_m``,
                          ``in_range``, ``name`` (the given name, else as the code tables name it:
                          ``第3社区``, ``第3社区第2网格``, …) and any other columns; codes are JSON strings
``buildings.csv``         UTF-8 roster, one row per building or building part: the id field,
                          ``households``, ``community_code``, ``grid_code``, ``micro_code``, ``part``, ...
``plan.gpkg``             layers ``communities``, ``grids``, ``micro_grids``, ``buildings`` in the
                          plan's CRS (the input's)
``posts.csv``             the post roster (:func:`gridplan.outputs.posts.posts`): one row per grid worker,
                          building head, entrance head and floor head, with its unit codes and empty
                          name/phone columns; UTF-8 with a byte-order mark, headers ``'岗位 post'``
``report.json``           :attr:`Plan.report` (UTF-8, indented)
``input_buildings.gpkg``  the buildings as planned: id field, ``households``, entrances, storeys, compound and
                          the input's ``name``, ``address``, ``building`` and ``compound_name`` where given
``input_barriers.gpkg``   the barrier lines as used; an empty LineString layer with a ``tier``
                          column when there were none, so ``checkplan.py --barriers`` still runs
``map.html``              the review map (:func:`gridplan.outputs.maps.plan_map`), unless ``map_html=False``
========================  =====================================================================

The directory and everything in it take the modes the user's umask gives new files (:func:`share_as_umask`:
0755 directories and 0644 files under umask 022), although it is written in a private temporary directory.

GeoJSON coordinates are snapped to :data:`GEOJSON_DECIMALS` decimal places of a degree (about 0.1 mm)
before writing, so what is read back is exactly what was checked: valid polygons that share edges
with their siblings (a coarser grid, e.g. RFC 7946's suggested 6 places, moves a vertex lying on a
neighbour's edge by up to ~10 cm, which along a 1 km edge is a sibling overlap of tens of m²).
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .gdal_layers import write_layer
from ..errors import PlanWriteError, first_ids
from ..model import LAYER_NAMES, UNIT_COLUMNS, Plan, register_writer
from .posts import posts
from .tables import unit_names, write_csv

__all__ = ["write_plan", "to_geojson_layer", "temp_dir_beside", "swap_dir", "share_as_umask", "file_mode", "PLAN_FILES", "GEOJSON_DECIMALS",
           "ROSTER_COLUMNS", "UMASK"]

logger = logging.getLogger(__name__)

GEOJSON_DECIMALS = 9
"""Decimal places of a degree kept in the GeoJSON layers (1e-9° ≈ 0.1 mm)."""

ROSTER_COLUMNS = ("households", "community_code", "grid_code", "micro_code", "part")
"""Columns of ``buildings.csv`` after the id field, in this order (other columns follow)."""

PLAN_FILES = (
    "communities.geojson",
    "grids.geojson",
    "micro_grids.geojson",
    "buildings.csv",
    "posts.csv",
    "plan.gpkg",
    "report.json",
    "input_buildings.gpkg",
    "input_barriers.gpkg",
    "map.html",
    "changes.csv", "changes_units.csv", "migration.csv", "new_communities.csv", "retired.csv", "changed_units.geojson", "changes.json",
)
"""Every file :func:`write_plan` may write; a previous plan directory holding anything else is kept."""



def _read_umask() -> int:
    mask = os.umask(0o077)  # the umask can only be read by setting it: set a strict one for the instant
    os.umask(mask)
    return mask


UMASK = _read_umask()
"""The process's umask, read once when gridplan is imported: the modes of what gridplan writes follow it."""


def file_mode() -> int:
    """The mode of a new file under :data:`UMASK` (0644 under umask 022), for what is not made by ``open``: zip members."""
    return 0o666 & ~UMASK

_CODE_COLUMNS = ("code", "parent_code", "community_code", "grid_code", "micro_code")
_SIDECARS = ("-wal", "-shm", "-journal")  # SQLite files GDAL may leave beside a .gpkg
_OS_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}


def write_plan(plan: Plan, directory: str | PathLike, *, map_html: bool = True) -> Path:
    """Write ``plan`` to the plan directory ``directory`` and return its absolute path.

    Everything is written into a temporary sibling directory that is renamed into place only when
    complete. An existing plan directory (one holding ``report.json`` and only plan files) is replaced;
    any other non-empty directory, or a plan directory holding files gridplan did not write, is left
    untouched and :class:`~gridplan.errors.PlanWriteError` is raised.

    Parameters
    ----------
    plan
        The plan to write.
    directory
        The plan directory; created with its parents when missing.
    map_html
        Also write ``map.html`` (needs no network; tiles load when the map is opened).

    Returns
    -------
    Path
        The absolute path of the written directory.

    Raises
    ------
    PlanWriteError
        The plan lacks a column of the contract, the target is not a plan directory, or writing
        failed; nothing was left half-written and no existing file was changed.
    """
    target = Path(directory).expanduser().absolute()
    _check_plan(plan)
    _check_target(target)
    tmp = temp_dir_beside(target)
    try:
        _write_layers(plan, tmp)
        _write_roster(plan, tmp)
        _write_posts(plan, tmp)
        _write_gpkg(plan, tmp)
        _write_report(plan, tmp)
        _write_inputs(plan, tmp)
        if map_html:
            _write_map(plan, tmp)
        _move_into_place(tmp, target)
    except PlanWriteError:
        raise
    except Exception as exc:
        raise PlanWriteError(f"could not write the plan to {str(target)!r}: {type(exc).__name__}: {exc}; nothing was written") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(
        "wrote plan to %s: %d communities, %d grids, %d micro-grids, %d roster rows",
        target, len(plan.communities), len(plan.grids), len(plan.micro_grids), len(plan.buildings),
    )
    return target


register_writer(write_plan)  # Plan.write calls it: the model does not import the writers


def to_geojson_layer(gdf: gpd.GeoDataFrame, *, decimals: int = GEOJSON_DECIMALS) -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 with RFC 7946 ring orientation, snapped to ``decimals`` places.

    Coordinates are snapped to a grid of ``10**-decimals`` degrees with output kept valid
    (:func:`shapely.set_precision`), so writing them with that many decimals changes nothing.
    A geometry that snapping would empty or change in type (a sliver thinner than the grid) is kept
    unsnapped. Exterior rings are made counter-clockwise and holes clockwise.

    Parameters
    ----------
    gdf
        Any GeoDataFrame with a CRS.
    decimals
        Decimal places of a degree to keep.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in EPSG:4326.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> cw = shapely.Polygon([(660000, 3540000), (660000, 3541000), (661000, 3541000), (661000, 3540000)])
    >>> out = to_geojson_layer(gpd.GeoDataFrame({"code": ["010101001001"]}, geometry=[cw], crs=32650))
    >>> out.crs.to_epsg(), bool(out.geometry.iloc[0].exterior.is_ccw)
    (4326, True)
    """
    if gdf.crs is None:
        raise PlanWriteError("a layer has no CRS, so it cannot be written as GeoJSON; set the CRS of the input data")
    out = gdf.to_crs(4326)
    geoms = np.asarray(out.geometry.array, dtype=object)
    try:
        snapped = shapely.set_precision(geoms, 10.0**-decimals)
    except shapely.errors.GEOSException:  # one odd polygon: snap the others, keep it as it is
        snapped = np.array([_snap_one(g, 10.0**-decimals) for g in geoms], dtype=object)
    lost = shapely.is_empty(snapped) | (shapely.get_type_id(snapped) != shapely.get_type_id(geoms))
    snapped = np.where(lost, geoms, snapped)
    return out.set_geometry(gpd.GeoSeries(shapely.orient_polygons(snapped), index=out.index, crs=4326))


def _snap_one(geom, grid: float):
    try:
        return shapely.set_precision(geom, grid)
    except shapely.errors.GEOSException:
        return geom


# ---- checks -------------------------------------------------------------------------------------


def _check_plan(plan: Plan) -> None:
    """Raise once, listing every column of the contract the plan lacks."""
    problems = []
    if plan.crs is None:
        problems.append("the plan's layers have no CRS; set the CRS of the input buildings")
    for attr in LAYER_NAMES.values():
        missing = [c for c in UNIT_COLUMNS if c not in getattr(plan, attr).columns]
        if missing:
            problems.append(f"plan.{attr} lacks columns {missing}")
    missing = [c for c in (plan.id_field, *ROSTER_COLUMNS) if c not in plan.buildings.columns]
    if missing:
        problems.append(f"plan.buildings lacks columns {missing}")
    missing = [c for c in (plan.id_field, "households") if c not in plan.input_buildings.columns]
    if missing:
        problems.append(f"plan.input_buildings lacks columns {missing}")
    if problems:
        raise PlanWriteError("cannot write this plan: " + "; ".join(problems))


def _foreign_entries(directory: Path) -> list[str]:
    """Entries of a plan directory that gridplan did not write."""
    known = set(PLAN_FILES) | _OS_LITTER
    known |= {f + s for f in PLAN_FILES if f.endswith(".gpkg") for s in _SIDECARS}
    return sorted(p.name for p in directory.iterdir() if p.name not in known)


def _check_target(target: Path) -> None:
    """Raise unless ``target`` is missing, empty, or a previous plan directory holding only plan files."""
    if not target.exists():
        return
    if not target.is_dir():
        raise PlanWriteError(f"{str(target)!r} exists and is not a directory; choose another --out")
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return
    if "report.json" not in entries:
        raise PlanWriteError(
            f"{str(target)!r} is not empty and is not a gridplan plan directory (no report.json; it holds "
            f"{first_ids(entries)}); choose another --out: a new or empty directory, or a previous plan"
        )
    foreign = _foreign_entries(target)
    if foreign:
        raise PlanWriteError(
            f"{str(target)!r} is a previous plan but also holds files gridplan did not write: {first_ids(foreign)}; "
            "move them elsewhere or choose another --out (gridplan never deletes files it did not write)"
        )


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename the complete ``tmp`` to ``target``, replacing a previous plan directory."""
    _check_target(target)  # again: the directory may have changed while we wrote
    swap_dir(tmp, target)


def temp_dir_beside(target: Path) -> Path:
    """A new hidden directory beside ``target`` (same file system, so the finished one can be renamed into place)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.writing-", dir=target.parent))
    except OSError as exc:
        raise PlanWriteError(f"could not create a directory beside {str(target)!r}: {exc}; choose another --out") from exc


def share_as_umask(root: Path) -> None:
    """Give ``root`` and the directories and files under it the modes new ones take under :data:`UMASK`.

    ``tempfile.mkdtemp`` makes its directory 0700 whatever the umask; a plan, a delivery or a set of sheets is
    written in one, so without this the user's colleagues (and the web server) could not read it.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "a.csv").write_text("x") and None
    >>> share_as_umask(d)
    >>> oct(d.stat().st_mode & 0o777) == oct(0o777 & ~UMASK), oct((d / "a.csv").stat().st_mode & 0o777) == oct(0o666 & ~UMASK)
    (True, True)
    """
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o777 & ~UMASK)
        for name in files:
            os.chmod(os.path.join(folder, name), file_mode())


def swap_dir(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; what ``target`` held is set aside first, put back if the rename fails, else deleted.

    ``tmp`` takes the umask's modes first (:func:`share_as_umask`), so ``target`` never appears private.
    """
    share_as_umask(tmp)
    if not target.exists():
        os.rename(tmp, target)
        return
    if not any(target.iterdir()):
        target.rmdir()
        os.rename(tmp, target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ---- writers (one per file, so a test can make one fail) ------------------------------------------


def _as_text(s: pd.Series) -> pd.Series:
    """Codes and ids as text, keeping missing values missing."""
    return s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v)).astype(object)


def _attributes(gdf: pd.DataFrame, first: tuple[str, ...]) -> list[str]:
    """Non-geometry columns, ``first`` in order, then the rest as they come."""
    rest = [c for c in gdf.columns if c not in first and not isinstance(gdf[c].dtype, gpd.array.GeometryDtype)]
    return [*first, *rest]


def _texted(gdf: pd.DataFrame, id_field: str | None = None) -> pd.DataFrame:
    out = gdf.copy()
    for col in (*_CODE_COLUMNS, id_field):
        if col is not None and col in out.columns:
            out[col] = _as_text(out[col])
    return out


def _write_layers(plan: Plan, directory: Path) -> None:
    names = unit_names(plan)  # the names of the code tables and posts: the given one, else 第N网格 …
    for level, name in LAYER_NAMES.items():
        gdf = getattr(plan, name).copy()
        gdf["name"] = names[level]  # set, never added twice: kept communities may have a `name` column already
        layer = to_geojson_layer(_texted(gdf)[[*_attributes(gdf, (*UNIT_COLUMNS, "name")), gdf.geometry.name]])
        pyogrio.write_dataframe(
            layer, directory / f"{name}.geojson", layer=name, driver="GeoJSON",
            layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": GEOJSON_DECIMALS},
        )


def _write_roster(plan: Plan, directory: Path) -> None:
    cols = _attributes(plan.buildings, (plan.id_field, *ROSTER_COLUMNS))
    roster = pd.DataFrame(_texted(plan.buildings, plan.id_field)[cols])
    roster.to_csv(directory / "buildings.csv", index=False, encoding="utf-8")


def _write_posts(plan: Plan, directory: Path) -> None:
    write_csv(posts(plan), directory / "posts.csv")


def _write_gpkg(plan: Plan, directory: Path) -> None:
    path = directory / "plan.gpkg"
    for name in (*LAYER_NAMES.values(), "buildings"):  # start_date as a date field, in_range as a boolean
        write_layer(_texted(getattr(plan, name), plan.id_field), path, layer=name, driver="GPKG")


def _write_report(plan: Plan, directory: Path) -> None:
    text = json.dumps(_jsonable(plan.report), ensure_ascii=False, indent=2, allow_nan=False)
    (directory / "report.json").write_text(text + "\n", encoding="utf-8")


def _write_inputs(plan: Plan, directory: Path) -> None:
    pyogrio.write_dataframe(plan.input_buildings, directory / "input_buildings.gpkg", layer="input_buildings", driver="GPKG")
    barriers = plan.input_barriers
    if barriers is None or len(barriers) == 0:
        # An empty layer still needs a CRS, a line type and the tier column for checkplan.py --barriers.
        cols = {"tier": pd.Series([], dtype="int64")}
        if barriers is not None:
            cols.update({c: barriers[c] for c in barriers.columns if c != barriers.geometry.name})
        barriers = gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=plan.crs))
        if barriers.crs is None:
            barriers = barriers.set_crs(plan.crs)
        pyogrio.write_dataframe(barriers, directory / "input_barriers.gpkg", layer="input_barriers", driver="GPKG", geometry_type="LineString")
    else:
        pyogrio.write_dataframe(barriers, directory / "input_barriers.gpkg", layer="input_barriers", driver="GPKG")


def _write_map(plan: Plan, directory: Path) -> None:
    # the offline review map (Leaflet inlined, no basemap): it opens on an intranet with no internet
    from .review_map import review_map

    (directory / "map.html").write_text(review_map(plan), encoding="utf-8")


def _jsonable(obj: object) -> object:
    """``obj`` made of plain JSON types: numpy scalars and arrays, dates, paths, dataclasses, NaN → null.

    Examples
    --------
    >>> _jsonable({"n": np.int64(3), "cv": np.float64("nan"), 1: (np.bool_(True), date(2025, 1, 1))})
    {'n': 3, 'cv': None, '1': [True, '2025-01-01']}
    """
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else list(obj)
        return [_jsonable(v) for v in items]
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (datetime, date, pd.Timestamp)):
        return obj.isoformat()
    if isinstance(obj, PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)
