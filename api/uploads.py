"""Safe uploads: a size limit while streaming, the file type told by content, zip checks, inspection.

An upload is copied to the data directory under a name the service chooses (never the client's), its
type is sniffed from its first bytes (:func:`sniff`; past a long XML prolog of comments, up to
:data:`gridplan.inputs.formats.PROLOG_BYTES`), zips are checked for path traversal and
decompression bombs (:func:`check_zip`, on top of :func:`gridplan.inputs.io.read_layer`'s own checks), and the
layers are read, validated and inspected with :func:`gridplan.inspect.inspect_inputs` (what ``gridplan
inspect`` says), whose summary is returned.

Examples
--------
>>> sniff(b'{"type": "FeatureCollection", "features": []}')
'geojson'
>>> sniff(b"PK\\x03\\x04...")
'zip'
>>> sniff(b"%PDF-1.7") is None
True
>>> sniff(b"\\x1f\\x8b\\x08"), sniff(b'<?xml version="1.0"?><!-- ' + b"x" * 20_000 + b' --><osm version="0.6">')
('osm.gz', 'osm')
"""
from __future__ import annotations

import logging
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import geopandas as gpd

from gridplan.errors import InputError, first_ids
from gridplan.inputs.formats import sniff_bytes, sniff_stream
from gridplan.inputs.io import unsafe_members, read_layer
from gridplan.planning.inspect import inspect_inputs
from gridplan.inputs.validate import prepare

from .errors import PayloadTooLarge, UnsupportedType
from .storage import scrub

__all__ = ["ROLES", "FORMATS", "sniff", "sniff_file", "save_upload", "check_zip", "load_layers", "inspect_dataset", "read_and_inspect", "StoredFile"]

logger = logging.getLogger(__name__)

ROLES = ("buildings", "barriers", "communities")
#: format (as sniffed) -> suffix of the stored file
FORMATS = {
    "gpkg": ".gpkg", "geojson": ".geojson", "zip": ".zip", "osm": ".osm", "osm.pbf": ".osm.pbf",
    "osm.bz2": ".osm.bz2", "osm.gz": ".osm.gz", "fgb": ".fgb",
}
#: what the library's sniff calls a format, when an upload's format is called otherwise (None: not an upload);
#: a compressed file is taken as OSM XML, which :func:`gridplan.inputs.io.read_layer` checks once it is inflated
_AS_UPLOAD = {"bz2": "osm.bz2", "gzip": "osm.gz", "shp": None}
_MAX_ZIP_MEMBERS = 1000
_MAX_RATIO = 200  # a member that inflates more than this (and past 1 MiB) is a bomb, not a shapefile
_CHUNK = 1 << 20
#: at most this many of the buildings above a micro-grid are listed (largest first); all are counted
_MAX_OVERSIZED_LISTED = 20


@dataclass(frozen=True)
class StoredFile:
    """One uploaded file as stored: the client's name (for messages), the sniffed format, the size."""

    role: str
    filename: str
    format: str
    bytes: int
    stored: str  # file name inside the dataset directory

    def as_dict(self) -> dict:
        return {"filename": self.filename, "format": self.format, "bytes": self.bytes, "stored": self.stored}


def _as_upload(kind: str | None) -> str | None:
    return _AS_UPLOAD.get(kind, kind) if kind is not None else None


def sniff(head: bytes) -> str | None:
    """The format of an upload from its first bytes (one of :data:`FORMATS`), or None when not one we read
    (:func:`gridplan.inputs.formats.sniff_bytes`; a bare .shp is not an upload: zip it with its .shx/.dbf/.prj)."""
    return _as_upload(sniff_bytes(head))


def sniff_file(path: Path) -> str | None:
    """:func:`sniff` of a stored upload, reading past a long XML prolog (at most
    :data:`~gridplan.inputs.formats.PROLOG_BYTES`, :func:`gridplan.inputs.formats.sniff_stream`)."""
    with open(path, "rb") as f:
        return _as_upload(sniff_stream(f))


def _clean_name(name: str | None, role: str) -> str:
    """The client's file name, reduced to a safe base name for messages (never used as a path)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]", "_", base)[:100].strip()
    return base or f"{role} upload"


def save_upload(role: str, filename: str | None, src: BinaryIO, directory: Path, limit: int) -> StoredFile:
    """Copy ``src`` into ``directory`` as ``<role><suffix>``, refusing it past ``limit`` bytes or of unknown type."""
    shown = _clean_name(filename, role)
    tmp = directory / f"{role}.part"
    written = 0
    with open(tmp, "wb") as dst:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise PayloadTooLarge(
                    f"{role}: {shown} is larger than the upload limit of {limit:,} bytes; upload a smaller file "
                    "(clip it to the area to plan) or raise GRIDPLAN_MAX_UPLOAD_BYTES", field=role)
            dst.write(chunk)
    if written == 0:
        raise InputError(f"{role}: {shown} is empty (0 bytes); upload the file itself")
    fmt = sniff_file(tmp)
    if fmt is None:
        raise UnsupportedType(
            f"{role}: the content of {shown} is not a format gridplan reads; upload a GeoPackage, GeoJSON, "
            "zipped shapefile, FlatGeobuf or OpenStreetMap file (.osm, .osm.pbf, .osm.bz2, .osm.gz)", field=role)
    stored = f"{role}{FORMATS[fmt]}"
    tmp.rename(directory / stored)
    return StoredFile(role, shown, fmt, written, stored)


def check_zip(path: Path, shown: str, limit: int) -> None:
    """Refuse zips with unsafe member paths, too many members, or members that inflate like a bomb.

    :func:`gridplan.inputs.io.read_layer` checks paths and the declared total again, and counts the bytes it
    actually inflates; this check adds the per-member compression ratio and the member count.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise InputError(f"{shown}: not a readable zip ({exc}); re-create the archive") from None
    if len(infos) > _MAX_ZIP_MEMBERS:
        raise InputError(f"{shown}: the zip holds {len(infos):,} members, more than {_MAX_ZIP_MEMBERS}; zip only the layer to plan")
    unsafe = unsafe_members(infos)
    if unsafe:
        raise InputError(f"{shown}: the zip holds absolute or '..' paths {first_ids(unsafe)}; re-create it with relative paths only")
    bombs = [i.filename for i in infos if i.file_size > _CHUNK and i.file_size > _MAX_RATIO * max(i.compress_size, 1)]
    total = sum(i.file_size for i in infos)
    if bombs or total > limit:
        raise InputError(f"{shown}: the zip would inflate to {total:,} bytes"
                         + (f" (members {first_ids(bombs)} more than {_MAX_RATIO}× their packed size)" if bombs else "")
                         + f"; the limit is {limit:,} bytes: upload the layer unzipped or as a GeoPackage")


def load_layers(directory: Path, files: Mapping[str, Mapping], max_uncompressed: int) -> dict[str, gpd.GeoDataFrame | None]:
    """Read the stored layers of a dataset; an OSM buildings file also gives the barriers when none were uploaded."""
    out: dict[str, gpd.GeoDataFrame | None] = {role: None for role in ROLES}
    problems: list[str] = []
    for role, meta in files.items():
        path = directory / meta["stored"]
        if meta["format"] == "zip":
            try:
                check_zip(path, meta["filename"], max_uncompressed)
            except InputError as exc:
                problems.extend(exc.problems)
                continue
        try:
            out[role] = read_layer(path, role=role, max_uncompressed=max_uncompressed)
        except InputError as exc:
            problems.extend(scrub(p, directory, {str(path): meta["filename"], str(path.resolve()): meta["filename"]})
                            for p in exc.problems)
    bmeta = files.get("buildings")
    if out["barriers"] is None and "barriers" not in files and bmeta and bmeta["format"].startswith("osm") and not problems:
        try:
            out["barriers"] = read_layer(directory / bmeta["stored"], role="barriers", max_uncompressed=max_uncompressed)
        except InputError:
            logger.info("OSM buildings file %s has no barrier features", bmeta["filename"])
    if problems:
        raise InputError(problems)
    return out


def read_and_inspect(directory: Path, files: Mapping[str, Mapping], options: Mapping, max_uncompressed: int,
                     feasibility_max_buildings: int = 0, *,
                     check: Callable[[Mapping[str, gpd.GeoDataFrame | None]], None] | None = None) -> dict:
    """Read the stored layers, pass them to ``check`` (which raises to refuse them), return their inspection.

    The service runs this in a child process (:mod:`api.parsing`), never in the server.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layers = load_layers(directory, files, max_uncompressed)
        if check is not None:
            check(layers)
        summary = inspect_dataset(layers, options, feasibility_max_buildings=feasibility_max_buildings)
    for w in caught:  # the library's own warnings are in the summary; anything else goes to the log
        logger.info("while reading an upload: %s: %s", w.category.__name__, w.message)
    return summary


def inspect_dataset(layers: Mapping[str, gpd.GeoDataFrame | None], options: Mapping, *,
                    feasibility_max_buildings: int = 0) -> dict:
    """Validate the layers and summarise them with :func:`gridplan.inspect.inspect_inputs` (what a planner checks
    first, what ``gridplan inspect`` prints).

    The fenced-in pieces need the plan's cells and graph (about 1.6 s for 1,500 buildings): they are looked for
    only when the buildings layer has at most ``feasibility_max_buildings`` features (0: never).
    """
    n = 0 if layers["buildings"] is None else len(layers["buildings"])
    feasibility = 0 < n <= feasibility_max_buildings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # prepare() first: it raises InputError with every problem before any inspection work, and gives the
        # CRS, extent and communities the inspection does not carry (a second prepare costs ~0.15 s at 60k households)
        prep = prepare(layers["buildings"], layers["barriers"], layers["communities"], **options)
        ins = inspect_inputs(layers["buildings"], layers["barriers"], layers["communities"], feasibility=feasibility,
                             **options)
    b = prep.buildings
    bounds = b.to_crs(4326).total_bounds
    crs = prep.input_crs
    epsg = crs.to_epsg()
    return {
        "buildings": ins.buildings,
        "households": ins.households,
        "household_source": {str(k): int(v) for k, v in sorted(ins.buildings_by_source.items())},
        "barriers": int(len(prep.barriers)),
        "barriers_by_tier": {str(t): int(ins.barriers_by_tier.get(t, 0)) for t in (1, 2, 3)},
        "communities": None if prep.communities is None else int(len(prep.communities)),
        "crs": f"EPSG:{epsg}" if epsg else crs.name,
        "crs_name": crs.name,
        "bbox": [round(float(v), 7) for v in bounds],
        "notes": list(ins.notes),
        "warnings": sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)}),
        "buildings_by_type": {str(k): int(v) for k, v in ins.buildings_by_type.items()},
        "households_by_source": {str(k): int(v) for k, v in ins.households_by_source.items()},
        "compounds": ins.compounds,
        "buildings_in_compounds": ins.buildings_in_compounds,
        "work_crs": ins.work_crs,
        "ranges": dict(ins.ranges),
        "feasibility_checked": feasibility,
        "fenced_pieces": list(ins.fenced_pieces) if feasibility else None,
        "oversized_building_count": len(ins.oversized_buildings),
        "oversized_buildings": list(ins.oversized_buildings[:_MAX_OVERSIZED_LISTED]),
        "attributes": dict(ins.attributes),
    }


def discard(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
