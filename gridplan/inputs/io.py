"""Read the input layers: any vector file GDAL reads, zipped shapefiles and OpenStreetMap extracts.

The file type is told by content (magic bytes, then a GDAL driver probe), never by name. OSM files
(XML, PBF, or XML compressed with bzip2) are read with GDAL's OSM driver, which tolerates clipped
extracts whose ways reference missing nodes.

Examples
--------
>>> import geopandas as gpd, tempfile, os
>>> from shapely.geometry import box
>>> path = os.path.join(tempfile.mkdtemp(), "b.geojson")
>>> gpd.GeoDataFrame({"building_id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=4326).to_file(path)
>>> read_layer(path)[["building_id"]]
  building_id
0           a
"""
from __future__ import annotations

import bz2
import gzip
import logging
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import closing as contextlib_closing, contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import InputError, first_ids
from .formats import DRIVER_OF, FORMATS, PROLOG_BYTES, any_format_allowed, sniff, sniff_stream, xml_prolog_end
from .shape import ORIGIN_ATTR, OSM_ORIGIN

__all__ = ["read_layer", "read_osm", "OsmData", "MAX_UNCOMPRESSED_BYTES", "parse_other_tags", "drop_duplicate_buildings",
           "incomplete_ways", "sniff_kind", "unsafe_members", "check_geopackage"]

logger = logging.getLogger(__name__)

#: Largest size a zip or bzip2 input may decompress to; override per call or with the
#: ``GRIDPLAN_MAX_UNCOMPRESSED_BYTES`` environment variable. [proposal]
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
#: Zip members read as layers: the allow-listed formats only (see :mod:`gridplan.inputs.formats`)
_VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".osm", ".pbf")
_FORMAT_NAMES = "GeoPackage, GeoJSON, Shapefile (or zipped shapefile), FlatGeobuf or OSM (.osm, .osm.pbf, .osm.bz2)"
_WATER = {("natural", "water"), ("waterway", "riverbank"), ("landuse", "reservoir"), ("landuse", "basin")}
_TAG_RE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class OsmData:
    """Buildings, barrier features and compound outlines read from one OSM extract, in EPSG:4326.

    ``compounds`` holds the raw outlines that may enclose a gated compound (小区): ``landuse=residential``
    polygons and closed ``barrier=wall|fence`` rings (see :mod:`gridplan.compounds`). ``clipped`` lists the
    buildings left out because the extract's edge cut them (see :func:`incomplete_ways`, and closed ways cut down
    to one or two nodes, which have no outline); ``unbuilt`` the other features left out for that reason.
    """

    buildings: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame | None = None
    clipped: tuple[str, ...] = ()
    #: ids of other features (roads, water, land use) with no geometry left: ways the edge cut to 1-2 nodes
    unbuilt: tuple[str, ...] = ()


def parse_other_tags(text: object) -> dict[str, str]:
    """Parse GDAL's ``other_tags`` (HSTORE text) into a dict.

    Examples
    --------
    >>> parse_other_tags('"building:levels"=>"6","name:en"=>"A \\\\"B\\\\""')
    {'building:levels': '6', 'name:en': 'A "B"'}
    >>> parse_other_tags(None)
    {}
    """
    if not isinstance(text, str):
        return {}
    return {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _TAG_RE.findall(text)}


@contextmanager
def _gdal_messages(source: object) -> Iterator[None]:
    """Log GDAL's warnings (e.g. a GeoPackage with another extension) instead of raising them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        logger.info("GDAL on %s: %s", source, w.message)


def _limit(max_uncompressed: int | None) -> int:
    if max_uncompressed is not None:
        return int(max_uncompressed)
    return int(os.environ.get("GRIDPLAN_MAX_UNCOMPRESSED_BYTES", MAX_UNCOMPRESSED_BYTES))


def sniff_kind(path: Path) -> str:
    """'zip', 'bz2', 'gzip', 'osm' (XML or PBF), 'dir', a format of :data:`gridplan.inputs.formats.FORMATS`, or
    'unknown' (content that is none of them)."""
    if path.is_dir():
        return "dir"
    with open(path, "rb") as f:
        kind = sniff_stream(f)
    return {"osm.pbf": "osm", None: "unknown"}.get(kind, kind)


def _unsupported(what: str, shown: object, detail: str = "") -> InputError:
    return InputError(
        f"{what} {shown}: unsupported file type{detail}; gridplan reads {_FORMAT_NAMES} files, told by their "
        "content. Convert it to a GeoPackage (e.g. ogr2ogr -f GPKG out.gpkg IN), or, for a file of your own in "
        "another format GDAL reads (such as a VRT), pass --allow-any-format (allow_any_format=True)"
    )


def unsafe_members(infos: list[zipfile.ZipInfo]) -> list[str]:
    """The members of a zip with an absolute path, a drive letter or a '..' part."""
    return [i.filename for i in infos
            if i.filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", i.filename)
            or ".." in PurePosixPath(i.filename.replace("\\", "/")).parts]


def _decompress(path: Path, kind: str, tmp: Path, limit: int, what: str) -> Path:
    out = tmp / (path.name.rsplit(".", 1)[0] or "input")
    opener = bz2.open if kind == "bz2" else gzip.open
    written = 0
    try:
        with opener(path, "rb") as src, open(out, "wb") as dst:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise InputError(
                        f"{what} {path}: decompresses to more than {limit:,} bytes; decompress it yourself, "
                        "or raise the limit (max_uncompressed= or GRIDPLAN_MAX_UNCOMPRESSED_BYTES)"
                    )
                dst.write(chunk)
    except InputError:
        out.unlink(missing_ok=True)
        raise
    except (OSError, EOFError, ValueError) as exc:  # a corrupt or truncated stream
        out.unlink(missing_ok=True)
        raise InputError(f"{what} {path}: a {kind} file that cannot be decompressed ({exc}); check the download "
                         "or compress the file again") from None
    return out


def _zip_member(path: Path, layer: str | None, limit: int, what: str) -> tuple[str, bool]:
    """The member of a zip to read, and whether ``layer`` named it (so is used up)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise InputError(f"{what} {path}: not a readable zip ({exc}); re-create the archive") from exc
    unsafe = unsafe_members(infos)
    if unsafe:
        raise InputError(f"{what} {path}: the zip holds absolute or '..' paths {first_ids(unsafe)}; "
                         "re-create it with relative paths only")
    total = sum(i.file_size for i in infos)
    if total > limit:
        raise InputError(f"{what} {path}: the zip would decompress to {total:,} bytes, more than the limit of "
                         f"{limit:,}; unzip it yourself, or raise the limit (max_uncompressed= or "
                         "GRIDPLAN_MAX_UNCOMPRESSED_BYTES)")
    candidates = [i.filename for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                  and not PurePosixPath(i.filename).name.startswith(".")
                  and i.filename.lower().endswith(_VECTOR_SUFFIXES)]
    if layer is not None:
        named = [c for c in candidates if c == layer or PurePosixPath(c).stem == layer or PurePosixPath(c).name == layer]
        if named:
            return named[0], True
    if not candidates:
        raise InputError(f"{what} {path}: the zip holds no vector file (looked for {', '.join(_VECTOR_SUFFIXES)}); "
                         "zip the .shp with its .shx/.dbf/.prj, or a .gpkg/.geojson")
    if len(candidates) > 1:
        raise InputError(f"{what} {path}: the zip holds {len(candidates)} layers {first_ids(candidates)}; "
                         "pick one with layer=<name> (or --layer)")
    return candidates[0], False


def _member_format(path: Path, member: str, what: str) -> str:
    """The format of a zip member by its content (a shapefile is checked by its .shp)."""
    with zipfile.ZipFile(path) as zf, zf.open(member) as f:
        kind = sniff_stream(f)
    if kind not in DRIVER_OF:
        raise _unsupported(what, f"{path} (member {member})")
    return kind


def _extract(path: Path, member: str, tmp: Path, limit: int, what: str) -> Path:
    out = tmp / PurePosixPath(member).name
    written = 0
    with zipfile.ZipFile(path) as zf, zf.open(member) as src, open(out, "wb") as dst:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise InputError(f"{what} {path}: {member} decompresses to more than {limit:,} bytes; "
                                 "raise the limit (max_uncompressed= or GRIDPLAN_MAX_UNCOMPRESSED_BYTES)")
            dst.write(chunk)
    return out


def _gdal_error(what: str, shown: object, exc: Exception) -> InputError:
    return InputError(f"{what} {shown}: the file cannot be read ({exc}); check that it is complete (download or "
                      f"export it again); gridplan reads {_FORMAT_NAMES} files")


def check_geopackage(path: str | PathLike, *, what: str = "file", shown: object = None) -> None:
    """Refuse a GeoPackage that holds SQL views or virtual tables other than R-tree indexes.

    A view is a query that runs when a layer is read (a recursive one burns CPU for minutes), and a virtual
    table can be backed by any module SQLite or GDAL registers (``VirtualOGR`` reads other files): neither
    belongs in a file of footprints. Checked with Python's ``sqlite3`` on the file as it is, read-only, before
    GDAL opens it. Names are compared as SQLite does, without regard to case.
    """
    import sqlite3

    path = Path(path)
    shown = path if shown is None else shown
    try:
        with contextlib_closing(sqlite3.connect(f"file:{path.as_posix()}?mode=ro&immutable=1", uri=True)) as con:
            rows = con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        raise _gdal_error(what, shown, exc) from None
    views = [name for kind, name, _ in rows if kind == "view"]
    virtual = [name for kind, name, sql in rows if kind == "table" and sql
               and re.match(r"\s*CREATE\s+VIRTUAL\s+TABLE", sql, re.IGNORECASE)
               and not re.search(r"\bUSING\s+rtree\b", sql, re.IGNORECASE)]
    if views or virtual:
        raise InputError(f"{what} {shown}: holds SQL views or virtual tables {first_ids(views + virtual)}, which "
                         "gridplan does not read from files it is given (they run queries or open other files when "
                         "read); save the layers as plain tables (e.g. ogr2ogr -f GPKG out.gpkg IN)")


def _read_gdal(source: str, layer: str | None, what: str, shown: Path, expect: str | None = None) -> gpd.GeoDataFrame:
    """One layer through GDAL; ``expect`` is the driver the content says (None: any driver, a trusted file)."""
    try:
        with _gdal_messages(shown):
            layers = pyogrio.list_layers(source)
    except Exception as exc:  # noqa: BLE001 - GDAL raises several types for an unreadable file
        raise InputError(
            f"{what} {shown}: not a vector file gridplan can read ({exc}); give a {_FORMAT_NAMES} file"
        ) from exc
    names = [str(n) for n in layers[:, 0]]
    if layer is None and len(names) > 1:
        raise InputError(f"{what} {shown}: holds {len(names)} layers {first_ids(names)}; pick one with "
                         "layer=<name> (or --layer)")
    if layer is not None and layer not in names:
        raise InputError(f"{what} {shown}: has no layer {layer!r}; its layers are {first_ids(names)}")
    try:
        with _gdal_messages(shown):
            if expect is not None:
                driver = pyogrio.read_info(source, layer=layer or names[0])["driver"]
                if driver != expect:
                    raise _unsupported(what, shown, f" (its content looks like {FORMATS[_format_of(expect)]} "
                                                    f"but GDAL reads it as {driver}: give it the usual extension)")
            gdf = pyogrio.read_dataframe(source, layer=layer or names[0])
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL raises several types for a broken file
        raise _gdal_error(what, shown, exc) from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError(f"{what} {shown}: layer {layer or names[0]!r} has no geometry; give a layer with "
                         "polygons or lines")
    return gdf


def _format_of(driver: str) -> str:
    return next(k for k, v in DRIVER_OF.items() if v == driver)


def _osm_layer(path: Path, layer: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """One layer of GDAL's OSM driver with its tags parsed, and the features left out because they have no
    geometry: a closed way the extract's edge cut to one or two nodes is not a ring (GEOS refuses it)."""
    try:
        with _gdal_messages(path.name):
            try:
                gdf = pyogrio.read_dataframe(path, layer=layer, on_invalid="ignore")
            except Exception as exc:  # noqa: BLE001
                if "OSM_USE_CUSTOM_INDEXING" not in str(exc):
                    raise
                # node ids out of order (some exporters write them so): GDAL reads them with its plain index
                pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": "NO"})
                try:
                    gdf = pyogrio.read_dataframe(path, layer=layer, on_invalid="ignore")
                finally:
                    pyogrio.set_gdal_config_options({"OSM_USE_CUSTOM_INDEXING": None})
    except Exception as exc:  # noqa: BLE001 - GDAL raises several types for a broken file
        raise _gdal_error("OSM file", path.name, exc) from exc
    tags = gdf["other_tags"].map(parse_other_tags) if "other_tags" in gdf.columns else pd.Series(
        [{}] * len(gdf), index=gdf.index)
    gdf["_tags"] = tags
    broken = gdf.geometry.isna() | gdf.geometry.is_empty
    return gdf[~broken].reset_index(drop=True), gdf[broken].reset_index(drop=True)


def _tag(gdf: gpd.GeoDataFrame, key: str) -> pd.Series:
    from_tags = gdf["_tags"].map(lambda t: t.get(key))
    if key in gdf.columns:
        return gdf[key].where(gdf[key].notna(), from_tags).astype(object)
    return from_tags.astype(object)


def _osm_ids(gdf: gpd.GeoDataFrame) -> pd.Series:
    rel = gdf["osm_id"] if "osm_id" in gdf.columns else pd.Series(None, index=gdf.index)
    way = gdf["osm_way_id"] if "osm_way_id" in gdf.columns else pd.Series(None, index=gdf.index)
    return pd.Series(np.where(rel.notna(), "r" + rel.astype(str), "w" + way.astype(str)), index=gdf.index)


def _osm_buildings(path: Path, polygons: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    mp = _osm_layer(path, "multipolygons")[0] if polygons is None else polygons
    mp = mp[mp["building"].notna()]
    out = gpd.GeoDataFrame(
        {
            "building_id": _osm_ids(mp).to_numpy(),
            "building": mp["building"].astype(str).to_numpy(),
            "levels": pd.to_numeric(_tag(mp, "building:levels"), errors="coerce").astype(float).to_numpy(),
            "flats": pd.to_numeric(_tag(mp, "building:flats"), errors="coerce").astype(float).to_numpy(),
            "name": mp["name"].where(mp["name"].notna(), None).to_numpy(),
        },
        geometry=gpd.GeoSeries(mp.geometry.to_numpy(), crs=mp.crs),
    )
    out.attrs[ORIGIN_ATTR] = OSM_ORIGIN  # its levels are mappers' tags: validate treats bad ones as unknown
    return drop_duplicate_buildings(out)


def drop_duplicate_buildings(buildings: gpd.GeoDataFrame, *, overlap: float = 0.95) -> gpd.GeoDataFrame:
    """Drop way buildings (``w…``) that repeat a multipolygon relation building (``r…``).

    Old-style tagging puts ``building=*`` both on a relation and on its outer way; a reader then returns
    the footprint twice (once with its holes, once without). A way whose footprint and the relation's
    cover each other by at least ``overlap`` is the same building: the relation (holes kept) stays, once.
    A building standing inside a relation's courtyard (hole) is a building of its own and stays.
    """
    ids = buildings["building_id"].astype(str)
    rel, way = buildings[ids.str.startswith("r")], buildings[ids.str.startswith("w")]
    if rel.empty or way.empty:
        return buildings
    work = buildings.estimate_utm_crs() if buildings.crs is not None and buildings.crs.is_geographic else None
    rg = rel.geometry.to_crs(work) if work is not None else rel.geometry
    wg = way.geometry.to_crs(work) if work is not None else way.geometry
    # outlines are compared before they are repaired (a self-touching ring makes GEOS fail): compare repaired copies
    rg, wg = rg.make_valid(), wg.make_valid()
    i, j = wg.sindex.query(rg, predicate="intersects")
    drop = []
    for a, b in zip(i, j):
        r_geom, w_geom = rg.iloc[a], wg.iloc[b]
        shared = r_geom.intersection(w_geom).area
        # against the relation's outer shell too: the way has no hole
        shell = shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(shapely.get_parts(r_geom))
                                   if p.geom_type == "Polygon"])
        if shared >= overlap * r_geom.area and shell.intersection(w_geom).area >= overlap * max(shell.area, w_geom.area):
            drop.append(way.index[b])
    if drop:
        logger.info("dropped %d way buildings that repeat a multipolygon relation %s", len(drop),
                    first_ids(buildings.loc[drop, "building_id"]))
    return buildings.drop(index=drop).reset_index(drop=True)


def _osm_compounds(lines: gpd.GeoDataFrame, mp: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``landuse=residential`` polygons and closed ``barrier=wall|fence`` rings, as polygons."""
    landuse = _tag(mp, "landuse")
    residential = landuse.eq("residential").fillna(False) & mp["building"].isna()
    walled_area = _tag(mp, "barrier").isin(["wall", "fence"]).fillna(False) & mp["building"].isna() & ~residential
    wall = _tag(lines, "barrier").isin(["wall", "fence"]).fillna(False) & lines.geometry.is_closed.fillna(False)
    ring_polys = [shapely.Polygon(g.coords) if g.geom_type == "LineString" and len(g.coords) >= 4 else None
                  for g in lines.geometry[wall]]
    parts = [
        pd.DataFrame({"osm_id": _osm_ids(mp)[residential], "kind": "landuse=residential",
                      "name": mp["name"][residential].astype(object), "geometry": mp.geometry[residential]}),
        pd.DataFrame({"osm_id": _osm_ids(mp)[walled_area], "kind": "barrier=" + _tag(mp, "barrier")[walled_area],
                      "name": mp["name"][walled_area].astype(object), "geometry": mp.geometry[walled_area]}),
        pd.DataFrame({"osm_id": "w" + lines["osm_id"][wall].astype(str), "kind": "barrier=" + _tag(lines, "barrier")[wall],
                      "name": lines["name"][wall].astype(object), "geometry": ring_polys}),
    ]
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=mp.crs)
    out = out[out.geometry.notna() & ~out.geometry.is_empty & out.geometry.is_valid
              & (shapely.area(np.asarray(out.geometry.values)) > 0)]
    return out.reset_index(drop=True)


def _osm_barriers(path: Path, polygons: gpd.GeoDataFrame | None = None,
                  lines: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    keys = ["highway", "railway", "waterway", "natural", "barrier", "landuse"]
    lines = _osm_layer(path, "lines")[0] if lines is None else lines
    mp = _osm_layer(path, "multipolygons")[0] if polygons is None else polygons
    parts = []
    for gdf, prefix in ((lines, "w"), (mp, None)):
        cols = {k: _tag(gdf, k) for k in keys}
        if prefix is None:
            water = pd.Series(False, index=gdf.index)
            for key, value in _WATER:
                water |= cols[key].eq(value).fillna(False)
            keep = water & gdf["building"].isna()
            ids = _osm_ids(gdf)
        else:
            keep = pd.concat([cols[k].notna() for k in ("highway", "railway", "waterway", "barrier")], axis=1).any(axis=1)
            ids = prefix + gdf["osm_id"].astype(str)
        frame = pd.DataFrame({"osm_id": ids, **cols, "name": gdf["name"].astype(object),
                              "tunnel": _tag(gdf, "tunnel"), "layer": _tag(gdf, "layer")})[keep]
        parts.append(gpd.GeoDataFrame(frame, geometry=gdf.geometry[keep], crs=gdf.crs))
    out = pd.concat(parts, ignore_index=True)
    out["layer"] = pd.to_numeric(out["layer"], errors="coerce")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=lines.crs)


def incomplete_ways(path: str | PathLike) -> set[str]:
    """Ids (``"w<id>"``, ``"r<id>"``) of ways that reference nodes missing from an OSM XML file, and of
    relations with such a way (or a missing way) as a member.

    A clipped extract cuts ways at its edge; GDAL then builds a way from the nodes it has, which turns a
    clipped building into a wrong, smaller polygon. PBF files are not scanned (GDAL's geometry is used).
    """
    import xml.etree.ElementTree as ET

    nodes: set[int] = set()
    way_refs: dict[int, list[int]] = {}
    members: dict[int, list[int]] = {}
    for _, elem in ET.iterparse(str(path), events=("end",)):
        tag = elem.tag
        if tag == "node":
            nodes.add(int(elem.get("id")))
        elif tag == "way":
            way_refs[int(elem.get("id"))] = [int(nd.get("ref")) for nd in elem.iter("nd")]
        elif tag == "relation":
            members[int(elem.get("id"))] = [int(m.get("ref")) for m in elem.iter("member") if m.get("type") == "way"]
        else:
            continue
        elem.clear()
    bad = {w for w, refs in way_refs.items() if any(r not in nodes for r in refs)}
    out = {f"w{w}" for w in bad}
    out |= {f"r{r}" for r, ws in members.items() if any(w in bad or w not in way_refs for w in ws)}
    return out


_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?\s*(<\?xml\s[^?]*\?>)?\s*")


def plain_prolog(source: Path, tmp: Path, *, limit: int, what: str = "OSM file", shown: object = None) -> Path:
    """The OSM XML file ``source``, or a copy of it in ``tmp`` without the comments and processing instructions
    before ``<osm`` (its XML declaration kept): GDAL's OSM driver looks for ``<osm`` in the first kilobyte only,
    so a long comment written by an export wizard makes the file unreadable to it.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.osm").write_bytes(b'<?xml version="1.0"?>\\n<!-- ' + b"x" * 2000 + b' -->\\n<osm version="0.6"></osm>')
    >>> plain_prolog(d / "a.osm", d / "out", limit=10_000).read_bytes()
    b'<?xml version="1.0"?>\\n<osm version="0.6"></osm>'
    """
    with open(source, "rb") as f:
        head = f.read(PROLOG_BYTES)
    start = xml_prolog_end(head)
    declared = _DECLARATION.fullmatch(head[:start]) if start is not None else None
    if start is None or declared is not None:
        return source  # nothing to strip (or not XML: the reader says so)
    size = source.stat().st_size - start
    if size > limit:
        raise InputError(f"{what} {shown or source.name}: {size:,} bytes, more than the limit of {limit:,} for a "
                         "copy without its leading comments; remove the comment before <osm yourself, or raise "
                         "the limit (max_uncompressed= or GRIDPLAN_MAX_UNCOMPRESSED_BYTES)")
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / f"plain-{source.name}"
    decl = re.match(rb"(?:\xef\xbb\xbf)?\s*(<\?xml\s[^?]*\?>)", head)  # the declaration comes first, or not at all
    with open(source, "rb") as src, open(out, "wb") as dst:
        if decl is not None:
            dst.write(decl.group(1) + b"\n")
        src.seek(start)
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    logger.info("%s: removed a prolog of %d bytes (comments, processing instructions) before <osm", shown or source.name,
                start)
    return out


def _osm_source(path: Path, kind: str, tmp: Path, limit: int, what: str) -> Path:
    if kind in ("bz2", "gzip"):
        path = _decompress(path, kind, tmp, limit, what)
        if sniff_kind(path) != "osm":
            raise InputError(f"{what} {path.name}: a compressed file that is not OSM XML; decompress it and "
                             "give the file inside")
    return plain_prolog(path, tmp, limit=limit, what=what, shown=path.name)


def _osm_data(source: Path, shown: str) -> OsmData:
    """Buildings, barriers and compound outlines of an uncompressed OSM file."""
    polygons, broken_polygons = _osm_layer(source, "multipolygons")
    lines, broken_lines = _osm_layer(source, "lines")
    buildings = _osm_buildings(source, polygons)
    # features with no geometry left (closed ways cut to 1-2 nodes): buildings count as clipped, others are listed
    unbuilt_b = broken_polygons["building"].notna() if len(broken_polygons) else pd.Series(dtype=bool)
    clipped_ids = list(_osm_ids(broken_polygons)[unbuilt_b]) if len(broken_polygons) else []
    unbuilt = ([] if not len(broken_polygons) else list(_osm_ids(broken_polygons)[~unbuilt_b])) + (
        list("w" + broken_lines["osm_id"].astype(str)) if len(broken_lines) else [])
    if sniff(source) != "osm.pbf":  # OSM XML: look for ways the extract's edge cut
        clipped = buildings["building_id"].isin(incomplete_ways(source))
        if clipped.any():
            clipped_ids += list(buildings["building_id"][clipped])
            buildings = buildings[~clipped].reset_index(drop=True)
    if clipped_ids:
        logger.info("%s: left out %d buildings clipped by the extract's edge (ways with nodes outside "
                    "the file) %s", shown, len(clipped_ids), first_ids(clipped_ids))
    return OsmData(buildings, _osm_barriers(source, polygons, lines), _osm_compounds(lines, polygons),
                   tuple(dict.fromkeys(clipped_ids)), tuple(dict.fromkeys(unbuilt)))


def read_osm(path: str | PathLike, *, max_uncompressed: int | None = None) -> OsmData:
    """Read buildings and barrier features from an OSM extract (.osm, .osm.pbf, .osm.bz2).

    Parameters
    ----------
    path
        The extract; its type is told by content.
    max_uncompressed
        Largest size a bzip2 file may decompress to (default :data:`MAX_UNCOMPRESSED_BYTES`).

    Returns
    -------
    OsmData
        ``buildings``: building_id (``"w<way id>"``/``"r<relation id>"``), building, levels,
        flats, name, geometry; multipolygon relations keep their holes, and a way repeating a
        relation is dropped (:func:`drop_duplicate_buildings`). ``barriers``: osm_id, highway, railway,
        waterway, natural, barrier, landuse, name, tunnel, layer, geometry (lines, and water polygons).
        ``compounds``: osm_id, kind, name, geometry (see :class:`OsmData`). GDAL's OSM driver accepts
        clipped extracts (ways referencing nodes outside the file); in OSM XML the buildings so cut are
        left out and listed in ``clipped`` (:func:`incomplete_ways`), and every whole building is kept.
    """
    path = Path(path)
    what = "OSM file"
    if not path.is_file():
        raise InputError(f"{what} {path}: no such file; check the path")
    kind = sniff_kind(path)
    if kind not in ("osm", "bz2", "gzip"):
        raise InputError(f"{what} {path}: not an OSM extract (XML or PBF); give an .osm, .osm.pbf, .osm.bz2 or "
                         ".osm.gz file")
    with tempfile.TemporaryDirectory(prefix="gridplan-osm-") as tmp:
        source = _osm_source(path, kind, Path(tmp), _limit(max_uncompressed), what)
        data = _osm_data(source, path.name)
    logger.info("read %s: %d buildings, %d barrier features, %d compound outlines", path.name, len(data.buildings),
                len(data.barriers), len(data.compounds))
    return data


def read_layer(path: str | PathLike, *, layer: str | None = None, role: str = "buildings",
               max_uncompressed: int | None = None, allow_any_format: bool | None = None) -> gpd.GeoDataFrame:
    """Read one layer of a vector file, a zipped shapefile or an OSM extract.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, Shapefile (or a folder of them), zip (.zip/.shp.zip), FlatGeobuf or OSM (.osm,
        .osm.pbf, .osm.bz2, .osm.gz). The type is told by content, not by name, and must be one of these
        (:data:`gridplan.inputs.formats.FORMATS`); GDAL must read it with that format's driver.
    layer
        The layer (or zip member) to read; needed when there is more than one.
    role
        ``"buildings"`` or ``"barriers"``: for OSM, which features to return (see :func:`read_osm`);
        otherwise used only in messages.
    max_uncompressed
        Largest size a zip or bzip2 file may decompress to (default :data:`MAX_UNCOMPRESSED_BYTES`).
    allow_any_format
        Open any format GDAL reads, a VRT included (which can read other files and URLs): only for files of
        your own. Default: :func:`gridplan.inputs.formats.any_format_allowed` (False unless the CLI's
        ``--allow-any-format`` said so).

    Returns
    -------
    geopandas.GeoDataFrame
        The features, in the file's CRS.

    Raises
    ------
    InputError
        Missing file, unsupported or broken file, empty layer, unsafe or ambiguous zip, or a zip bomb.
    """
    path = Path(path)
    what = f"{role} file"
    if not path.exists():
        raise InputError(f"{what} {path}: no such file; check the path")
    trusted = any_format_allowed() if allow_any_format is None else bool(allow_any_format)
    limit = _limit(max_uncompressed)
    kind = sniff_kind(path)
    expect = DRIVER_OF.get(kind)
    with tempfile.TemporaryDirectory(prefix="gridplan-read-") as tmpdir:
        tmp = Path(tmpdir)
        source: str | Path = path
        if kind == "zip":
            member, used = _zip_member(path, layer, limit, what)
            layer = None if used else layer
            member_kind = _member_format(path, member, what) if not trusted else None
            if member.lower().endswith((".osm", ".pbf")) or member_kind in ("osm", "osm.pbf"):
                source, kind = _extract(path, member, tmp, limit, what), "osm"
            elif member_kind == "gpkg" or member.lower().endswith(".gpkg"):  # checked as a file, then read as one
                source, expect = _extract(path, member, tmp, limit, what), None if trusted else "GPKG"
                if not trusted:
                    check_geopackage(source, what=what, shown=f"{path} (member {member})")
            else:
                source, expect = f"/vsizip/{path.resolve().as_posix()}/{member}", DRIVER_OF.get(member_kind)
        elif kind in ("bz2", "gzip"):
            source = _decompress(path, kind, tmp, limit, what)
            kind = sniff_kind(Path(source))
            if kind not in ("osm",) and not trusted:
                raise _unsupported(what, path, f" (a {kind if kind != 'unknown' else 'compressed'} file that is not "
                                               "OpenStreetMap XML inside)")
            expect = DRIVER_OF.get(kind)
        elif kind == "dir":
            expect = "ESRI Shapefile"  # a folder of shapefiles
        elif kind == "gpkg":
            check_geopackage(path, what=what)
        elif kind == "unknown" and not trusted:
            raise _unsupported(what, path)
        if kind == "osm":
            if role not in ("buildings", "barriers"):
                raise InputError(f"{what} {path}: an OSM extract is read for role 'buildings' or 'barriers', "
                                 f"not {role!r}; convert it to a GeoPackage first")
            data = _osm_data(plain_prolog(Path(source), tmp, limit=limit, what=what, shown=path.name), path.name)
            gdf = data.buildings if role == "buildings" else data.barriers
        else:
            gdf = _read_gdal(str(source), layer, what, path, expect=None if trusted else expect)
    if len(gdf) == 0:
        hint = "buildings (building=*)" if role == "buildings" else "roads, railways or rivers"
        raise InputError(f"{what} {path}: the layer is empty; give a file with {hint} in it"
                         + (f" (layer {layer!r})" if layer else ""))
    logger.info("read %s %s: %d features", role, path.name, len(gdf))
    return gdf
