"""Request and response models of the service (pydantic); every response body validates against one."""
from __future__ import annotations

import datetime as _dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, with_config
from typing_extensions import Required, TypedDict

from gridplan.config import SizeRange
from gridplan.errors import for_api
from gridplan.inputs.coords import parse_input_crs

from .account_models import *  # noqa: F401,F403  (tokens, links, audit)

__all__ = [
    "ErrorBody", "FieldError", "Health", "Inspection", "FencedPiece", "OversizedBuilding", "UploadedFile", "Dataset", "PlanRequest", "PlanParameters",
    "Progress", "StageProgress", "PlanDiff", "ChangedUnits", "LevelFigures", "Figures", "Plan", "PlanAccepted", "FeatureCollection", "BuildingLookup", "UnitRef",
    "LEVEL_PATHS", "PlanStatus", "ExportFormat", "UnitProperties", "BBOX_PATTERN", "CODE_PATTERN",
    "INPUT_CRS_PATTERN", "InputCrs", "KnownInputCrs", "ReadOptions", "DatasetList", "PlanList",
]

PlanStatus = Literal["queued", "running", "done", "failed"]
Estimate = Literal["auto", "missing", "all", "never"]
#: ``input_crs``: auto, gcj02 or bd09, or the code of the CRS the coordinates are in (``EPSG:4547``, ``4547``)
INPUT_CRS_PATTERN = r"^(auto|gcj02|bd09|[A-Za-z]+:[0-9]+|[0-9]+)$"
InputCrs = Annotated[str, StringConstraints(pattern=INPUT_CRS_PATTERN, max_length=32)]


def _known_crs(value: str) -> str:
    """``value`` when :func:`gridplan.inputs.coords.parse_input_crs` takes it (a code pyproj knows, of a horizontal
    CRS); else a ValueError with the library's message, naming the field.

    >>> _known_crs("EPSG:4547"), _known_crs("auto")
    ('EPSG:4547', 'auto')
    >>> _known_crs("EPSG:0")
    Traceback (most recent call last):
    ...
    ValueError: input_crs was 'EPSG:0'; expected 'auto', 'gcj02', 'bd09' or a CRS code such as 'EPSG:32650' (EPSG:0 is not a CRS pyproj knows)
    """
    try:
        parse_input_crs(value)
    except ValueError as exc:  # OptionError
        raise ValueError(for_api(str(exc))) from None
    return value


#: ``input_crs`` as a request gives it: the pattern, and a code pyproj knows (a form field checks both)
KnownInputCrs = Annotated[InputCrs, AfterValidator(_known_crs)]
LevelPath = Literal["communities", "grids", "micro_grids"]
#: GET /export: what to download (the files of ``gridplan export``, or ``zip``: the plan directory)
ExportFormat = Literal["gpkg", "fgb", "shp", "csv", "zip"]
ExportLevel = Literal["communities", "grids", "micro_grids", "buildings"]
ExportTable = Literal["codes", "roster", "validation", "posts"]
ExportEncoding = Literal["utf-8", "gbk"]
#: ``crs`` of an export: an EPSG code, with or without the prefix (``4490``, ``4326``, ``EPSG:4549``); checked by
#: :func:`gridplan.outputs.deliver.parse_crs`, whose message says what to send
ExportCrs = Annotated[str, StringConstraints(max_length=32)]
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]+)?)"
_LAT = r"-?(?:90(?:\.0+)?|[1-8]?[0-9](?:\.[0-9]+)?)"
#: W,S,E,N in degrees: four decimal numbers, longitudes within ±180 and latitudes within ±90
BBOX_PATTERN = rf"^{_LON},{_LAT},{_LON},{_LAT}$"
#: a unit code: 12 digits (community), 15 (grid) or 18 (micro-grid)
CODE_PATTERN = r"^[0-9]{12}(?:[0-9]{3}){0,2}$"
_SIZE_PATTERN = r"^[0-9]+(?:\.[0-9]+)?:[0-9]+(?:\.[0-9]+)?(?::[0-9]+(?:\.[0-9]+)?)?$"
LEVEL_PATHS: dict[str, str] = {"communities": "community", "grids": "grid", "micro_grids": "micro"}


class FieldError(BaseModel):
    field: str = Field(description="the offending field: a form field, a parameter, or 'input' for the data")
    message: str


class ErrorBody(BaseModel):
    """Every error response."""

    detail: str = Field(description="what is wrong and how to fix it")
    errors: list[FieldError] = Field(default_factory=list, description="one entry per offending field")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: see `problems` (e.g. the disk is nearly full)")
    version: str
    database: Literal["sqlite", "postgresql", "other"]
    workers: int
    plans_queued: int
    plans_running: int
    disk_free_bytes: int = Field(0, description="free bytes on the data directory's disk")
    problems: list[str] = Field(default_factory=list, description="what makes the status degraded, and the fix")


class UploadedFile(BaseModel):
    filename: str = Field(description="the client's file name (for reference only)")
    format: Literal["gpkg", "geojson", "zip", "osm", "osm.pbf", "osm.bz2", "osm.gz", "fgb"] = Field(
        description="the format told from the content (osm.bz2, osm.gz: compressed OSM XML)")
    bytes: int


class FencedPiece(BaseModel):
    """A piece of land fenced in by tier-1 lines (motorway, railway, river, water), or by the edge of its
    community or of the data, whose households no count of units fits at some level: communities (when none
    were uploaded), grids or micro-grids. Pieces with no households (non-residential buildings only) are
    listed too: the plan then holds a unit with 0 households, and its ``report.json`` lists the same pieces
    (``gridplan.planning.pieces.fenced_pieces`` decides both)."""

    households: int = Field(description="households on it; 0 for a piece of non-residential buildings")
    buildings: int
    near: str = Field(description="a point inside it, 'lon,lat' ('' when its buildings' cells have no area)")
    fenced_by: list[str] = Field(description="names (or kinds) of the hard barriers around it; empty when only "
                                             "the edge of its community or of the data fences it")
    reasons: list[str] = Field(description="per level, why no count fits, e.g. 'grid: 550 households; 1 grid > 500, "
                                           "2 grids < 300', 'micro: 20 households; 1 micro-grid < 30' or "
                                           "'grid: no households'")


class OversizedBuilding(BaseModel):
    """A building with more households than a micro-grid may hold."""

    building_id: str
    households: int
    source: str = Field(description="where its household count came from")
    outcome: str = Field(description="what planning does with it")


class Inspection(BaseModel):
    """What gridplan found in the upload once read and validated: what `gridplan inspect` says.

    The fields after ``warnings`` were added later; datasets uploaded before have their defaults.
    """

    buildings: int
    households: int = Field(description="total, after estimating missing counts")
    household_source: dict[str, int] = Field(description="buildings per source of the count: field, estimate, flats…")
    barriers: int
    barriers_by_tier: dict[str, int] = Field(description="barrier features per tier: '1' hard, '2' strong, '3' soft")
    communities: int | None = Field(description="community polygons given, or null")
    crs: str = Field(description="the CRS of the buildings, e.g. EPSG:4326")
    crs_name: str
    bbox: list[float] = Field(min_length=4, max_length=4, description="the buildings' extent, lon/lat: W, S, E, N")
    notes: list[str] = Field(description="what was estimated, converted or repaired")
    warnings: list[str]
    buildings_by_type: dict[str, int] = Field(
        default_factory=dict, description="buildings per type (OSM `building` column; '(no type column)' without one)")
    households_by_source: dict[str, int] = Field(default_factory=dict, description="households per source of the count")
    compounds: int | None = Field(None, description="distinct compounds (gated residential areas)")
    buildings_in_compounds: int | None = None
    work_crs: str | None = Field(None, description="the projected CRS areas and lengths are measured in")
    ranges: dict[str, str] = Field(
        default_factory=dict, description="the default household ranges (community, grid, micro) the checks below use")
    feasibility_checked: bool = Field(
        False, description="whether the fenced-in pieces were looked for (skipped for uploads of more than "
                           "`feasibility_max_buildings` buildings: it builds the plan's cells)")
    fenced_pieces: list[FencedPiece] | None = Field(
        None, description="pieces fenced in by tier-1 lines that no count of communities (when none were "
                          "uploaded), grids or micro-grids fits at the default ranges, 0-household pieces "
                          "included, most households first: what `gridplan inspect` and the plan's report.json "
                          "list; null when not checked")
    oversized_building_count: int = Field(0, description="buildings above the micro-grid maximum")
    oversized_buildings: list[OversizedBuilding] = Field(
        default_factory=list, description="the largest of them (at most 20)")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="the descriptive columns plans of it carry (name, address, building, "
                                          "compound_name) -> the uploaded column each is taken from")


class ReadOptions(BaseModel):
    """How the dataset's layers are read (the form fields of the upload; the plans of it read them so too).

    ``accept_large`` was added later: datasets uploaded before have false.
    """

    id_field: str
    households_field: str
    units_field: str
    levels_field: str
    compound_field: str
    estimate: Estimate
    input_crs: InputCrs
    fix_geometry: bool
    accept_large: bool = False


class Dataset(BaseModel):
    id: str
    created_at: _dt.datetime
    files: dict[str, UploadedFile] = Field(description="per role: buildings, barriers, communities")
    options: ReadOptions
    summary: Inspection


def _size(value: str | None, name: str) -> str | None:
    if value is not None:
        SizeRange.parse(value, name=name)  # raises OptionError (a ValueError) naming the field
    return value


class PlanParameters(BaseModel):
    """How to plan: the ranges, the seed, the codes, and whether to keep the given communities."""

    model_config = ConfigDict(extra="forbid")

    community_size: str | None = Field(
        None, max_length=64, pattern=_SIZE_PATTERN,
        description="households (persons with balance='population') per community, MIN:MAX[:TARGET] with 0 < MIN <= "
                    "TARGET <= MAX; default 1000:3000:2000 households, or × persons_per_household rounded to tens")
    grid_size: str | None = Field(
        None, max_length=64, pattern=_SIZE_PATTERN,
        description="households (persons with balance='population') per grid, MIN:MAX[:TARGET] with 0 < MIN <= "
                    "TARGET <= MAX; default 300:500:400 households, or × persons_per_household rounded to tens "
                    "(790:1310:1050 for 2.62)")
    micro_size: str | None = Field(
        None, max_length=64, pattern=_SIZE_PATTERN,
        description="households (persons with balance='population') per micro-grid, MIN:MAX[:TARGET] with 0 < MIN "
                    "<= TARGET <= MAX; default 30:100:50 households, or × persons_per_household rounded to tens")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="the same data and seed give the same plan")
    street_code: str = Field("000000000", pattern=r"^[0-9]{9}$", description="9 digits: 6 county + 3 street office")
    persons_per_household: float = Field(2.62, gt=0, le=100)
    balance: Literal["households", "population"] = Field(
        "households", description="what the size ranges count: households, or persons (the buildings' population "
                                  "column, else households × persons_per_household)")
    keep_communities: bool | None = Field(
        None, description="keep the dataset's community polygons and plan grids inside them; "
                          "default: true when the dataset has communities")
    start_date: _dt.date | None = Field(None, description="start date of every unit (default: today)")
    redistrict: Literal["none", "oversized", "all"] = Field(
        "none", description="re-district the dataset's communities: 'oversized' splits those above community_size, "
                            "'all' re-splits every one; the plan then has a change list (GET .../changes). "
                            "community_count alone means 'oversized'")
    community_count: int | None = Field(
        None, ge=1, le=100_000, description="with redistrict: the number of communities wanted in total (e.g. 35); "
                                            "an infeasible count fails the plan with the feasible ones")
    replan_of: str | None = Field(
        None, max_length=64,
        description="re-plan this previous plan (done, an id from POST /v1/plans) for the buildings of `dataset_id` "
                    "as they are now, moving as few households as possible: units that did not change keep their "
                    "codes and polygons, and the plan has a change list against it (GET .../changes). The previous "
                    "plan's barriers, communities and sizes are used (the dataset's barriers and communities are "
                    "not); only `lock`, `seed` (default: the previous plan's) and `start_date` may be given with it")
    lock: list[Annotated[str, Field(pattern=CODE_PATTERN)]] = Field(
        [], max_length=10_000, description="with replan_of: codes of units (any level) of the previous plan to keep "
                                           "exactly as they are; the re-plan fails if one of them must change")

    @field_validator("community_size")
    @classmethod
    def _community(cls, v: str | None) -> str | None:
        return _size(v, "community_size")

    @field_validator("grid_size")
    @classmethod
    def _grid(cls, v: str | None) -> str | None:
        return _size(v, "grid_size")

    @field_validator("micro_size")
    @classmethod
    def _micro(cls, v: str | None) -> str | None:
        return _size(v, "micro_size")


class PlanRequest(PlanParameters):
    dataset_id: str = Field(description="the id POST /v1/datasets returned", max_length=64)


class StageProgress(BaseModel):
    name: str
    status: Literal["done", "running", "pending"]
    weight: float = Field(ge=0, le=1, description="the stage's share of the work (of the time, as measured)")


class Progress(BaseModel):
    """Where a running plan is: its stage, the steps done of that stage, and the share of the whole work done."""

    stage: str = Field(description="a plan: reading, cells, communities, grids, micro-grids, assembling or writing; "
                                   "a re-plan (replan_of): reading, cells, rebalancing or writing")
    steps: int = Field(description="steps done in this stage")
    total: int | None = Field(None, description="the stage's number of steps (blocks for cells, communities for grids, "
                                                "grids for micro-grids); null when the stage is not counted")
    fraction: float = Field(ge=0, le=1, description="share of the work done: the weights of the stages done plus the "
                                                    "running stage's weight × steps / total; it never decreases. A "
                                                    "done plan has no progress (its work is all done)")
    stages: list[StageProgress] = Field([], description="every stage of this plan in order, done, running or pending")


class PlanDiff(BaseModel):
    """The change list from plan ``against`` (old) to plan ``plan_id`` (new): what ``gridplan diff`` writes."""

    plan_id: str
    against: str
    summary: dict[str, Any] = Field(description="changes.json: households moved between communities, grids and "
                                                "micro-grids, added and removed, units per level by status")
    buildings: list[dict[str, Any]] = Field(description="changes.csv: per building its status (unchanged, added, "
                                                        "removed, moved community/grid/micro-grid, recoded), "
                                                        "households and codes before and after")
    units: list[dict[str, Any]] = Field(description="changes_units.csv: per unit of every level, kept, changed, "
                                                    "recoded, new or retired, with households before and after")
    migration: list[dict[str, Any]] = Field(description="migration.csv: households and buildings from each old "
                                                        "community to each new one")
    new_communities: list[dict[str, Any]] = Field(description="new_communities.csv: each new community with its 四至")
    retired: list[dict[str, Any]] = Field(description="retired.csv: the register of retired codes and what replaced them")
    links: dict[str, str] = Field(description="each table as CSV, the changed units as GeoJSON")


class LevelFigures(BaseModel):
    model_config = ConfigDict(extra="allow")

    count: int
    range: str
    hh_min: float | None = None
    hh_max: float | None = None
    hh_mean: float | None = None
    share_in_range: float | None = None


class Figures(BaseModel):
    """The headline figures of report.json (the whole report is in the plan directory export)."""

    buildings: int
    households: int
    levels: dict[str, LevelFigures] = Field(description="per level: community, grid, micro")
    crossings: int = Field(description="tier-2 crossings reported")
    infeasible: int = Field(description="infeasible pieces reported")
    out_of_range: int = Field(description="units out of range")
    failed_rules: list[dict[str, Any]] = Field([], description="validation rules still failed: rule, level, count, codes (first 10), detail")
    changes: dict[str, Any] | None = Field(
        None, description="re-districting plans: the change list's summary (changes.json): households moved, units "
                          "new, changed and retired")


class Plan(BaseModel):
    id: str
    dataset_id: str
    status: PlanStatus
    progress: Progress | None = Field(description="while running")
    reason: str | None = Field(description="why it failed")
    parameters: PlanParameters
    figures: Figures | None = Field(description="once done")
    warnings: list[str]
    created_at: _dt.datetime
    started_at: _dt.datetime | None
    finished_at: _dt.datetime | None
    links: dict[str, str]


class PlanAccepted(Plan):
    """The plan as queued (202)."""


Position = Annotated[list[float], Field(min_length=2, max_length=3)]
Ring = Annotated[list[Position], Field(min_length=4)]


class Polygon(TypedDict):
    type: Literal["Polygon"]
    coordinates: list[Ring]


class MultiPolygon(TypedDict):
    type: Literal["MultiPolygon"]
    coordinates: list[list[Ring]]


@with_config(ConfigDict(extra="allow"))
class UnitProperties(TypedDict, total=False):
    """What a unit's feature says about it (plans may add more columns of the uploaded communities)."""

    code: Required[Annotated[str, Field(pattern=CODE_PATTERN)]]
    parent_code: str
    name: str  # the given name of a kept community, else as the code tables name it (第3网格); older plans lack it
    households: Required[int]
    population: int
    buildings: int
    area_m2: float
    perimeter_m: float
    in_range: bool
    start_date: str


class Feature(BaseModel):
    type: Literal["Feature"]
    geometry: Annotated[Polygon | MultiPolygon, Field(discriminator="type")]
    properties: UnitProperties


class FeatureCollection(BaseModel):
    """The units of one level as GeoJSON (RFC 7946), longitude/latitude in degrees (EPSG:4326)."""

    type: Literal["FeatureCollection"]
    features: list[Feature]


class ChangedUnitProperties(BaseModel):
    level: Literal["community", "grid", "micro"]
    code: str
    status: Literal["changed", "recoded", "new", "retired"]
    households_before: int | None = None
    households_after: int | None = None


class ChangedUnit(BaseModel):
    type: Literal["Feature"]
    geometry: Annotated[Polygon | MultiPolygon, Field(discriminator="type")]
    properties: ChangedUnitProperties


class ChangedUnits(BaseModel):
    """The units a change list names (changed_units.geojson): new, changed and recoded with their polygon now,
    retired with their polygon before; EPSG:4326."""

    type: Literal["FeatureCollection"]
    features: list[ChangedUnit]


class UnitRef(BaseModel):
    code: str
    households: int | None = None


class BuildingPart(BaseModel):
    part: int = Field(description="0 for a whole building, 1.. for parts divided by entrance/floor")
    households: int
    micro_grid: UnitRef


class BuildingLookup(BaseModel):
    """Which community, grid and micro-grid(s) a building belongs to."""

    building_id: str
    households: int
    community: UnitRef
    grid: UnitRef
    micro_grids: list[UnitRef]
    parts: list[BuildingPart]


class DatasetList(BaseModel):
    """One page of datasets, newest first (GET /v1/datasets)."""

    items: list[Dataset]
    next: str | None = Field(description="the next page (also in the `Link` header); null on the last page")


class PlanList(BaseModel):
    """One page of plans, newest first (GET /v1/plans)."""

    items: list[Plan]
    next: str | None = Field(description="the next page (also in the `Link` header); null on the last page")
