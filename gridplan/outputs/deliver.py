"""Deliverables for GIS staff: zipped shapefiles, GeoPackage, FlatGeobuf and CSV tables (DOMAIN.md §5–6).

:func:`export_plan` writes, for the formats asked:

=========  ====================================================================================
``shp``    ``communities.shp.zip``, ``grids.shp.zip``, ``micro_grids.shp.zip``, ``buildings.shp.zip``:
           each ``.shp .shx .dbf .prj .cpg`` (``UTF-8``, or ``936`` for GBK) and ``fields.csv``;
           ``shapefile_fields.csv`` maps every DBF field name (≤ 10 ASCII characters) to its full
           name and its Chinese name
``gpkg``   ``gridplan.gpkg``: layers communities, grids, micro_grids, buildings
``fgb``    ``communities.fgb``, ``grids.fgb``, ``micro_grids.fgb``, ``buildings.fgb``
``csv``    ``community_codes.csv``, ``grid_codes.csv``, ``micro_grid_codes.csv`` (code tables with
           四至), ``buildings.csv`` (the roster), ``posts.csv`` (the post roster: 网格员, 楼栋长, 单元长,
           楼层长), ``validation.csv`` (every rule, pass/warn/fail per unit); UTF-8 with a byte-order
           mark, so spreadsheet programs read the Chinese text
=========  ====================================================================================

Unit layers carry the code table's columns; the buildings layer the roster's. Codes and ids are
always text; ``in_range`` is a true/false field (GDAL's boolean subtype; a DBF logical ``L`` field in the shapefiles);
``start_date`` / ``end_date`` are date fields in the GeoPackage and the shapefiles (DBF ``D``; FlatGeobuf has
only date-times); DBF integer fields are as wide as their widest value (:func:`narrow_dbf_integers`), text fields
keep GDAL's 80 characters so that names and the empty grid-worker columns can be filled in. Geometry is in the delivery CRS (CGCS2000, EPSG:4490, by default). The directory also
gets ``manifest.json``; it is written beside its place and moved in when complete, and an existing
directory is replaced only when it is empty or an earlier delivery.
"""
from __future__ import annotations

import io
import json
import shutil
import stat
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal, get_args

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import shapely

from ..errors import OptionError, PlanWriteError, first_ids, plural
from .export import file_mode, swap_dir, temp_dir_beside
from .gdal_layers import DATE_COLUMNS, write_layer
from ..model import LAYER_NAMES, Plan
from .rules import validation_report
from .posts import posts
from .tables import FIELDS, ascii_field_names, code_table, roster, unit_names, write_csv

__all__ = ["export_plan", "Delivery", "Format", "FORMATS", "parse_crs", "parse_encoding", "parse_formats",
           "write_csv", "replace_dir"]

Format = Literal["shp", "gpkg", "fgb", "csv"]
FORMATS: tuple[Format, ...] = get_args(Format)
_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "cp936": "gbk", "936": "gbk", "gb2312": "gbk"}
_CPG = {"utf-8": "UTF-8", "gbk": "936"}
_GDAL_ENCODING = {"utf-8": "UTF-8", "gbk": "CP936"}
_CSV_NAMES = {"community": "community_codes.csv", "grid": "grid_codes.csv", "micro": "micro_grid_codes.csv"}


@dataclass(frozen=True)
class Delivery:
    """What :func:`export_plan` wrote: the directory, its files (relative names), the CRS and encoding."""

    path: Path
    files: tuple[str, ...]
    crs: str
    encoding: str


def parse_formats(value: str | Iterable[str]) -> tuple[Format, ...]:
    """Formats from ``'shp,csv'``, ``['shp', 'gpkg']`` or ``'all'``, in :data:`FORMATS` order.

    >>> parse_formats("csv,shp")
    ('shp', 'csv')
    """
    items = [value] if isinstance(value, str) else list(value)
    parts = [p.strip().lower() for item in items for p in str(item).split(",") if p.strip()]
    if not parts or "all" in parts:
        return FORMATS
    bad = [p for p in parts if p not in FORMATS]
    if bad:
        listed = ", ".join(repr(f) for f in FORMATS)
        raise OptionError(f"`format` was {bad[0]!r}; expected one of {listed} (or several, comma-separated, or 'all')")
    return tuple(f for f in FORMATS if f in parts)


def parse_crs(value: str | int) -> pyproj.CRS:
    """The delivery CRS from ``4490``, ``'4326'``, ``'EPSG:4549'`` (an EPSG code, with or without the prefix).

    >>> parse_crs("4490").name
    'China Geodetic Coordinate System 2000'
    """
    text = str(value).strip()
    code = text[5:] if text.upper().startswith("EPSG:") else text
    hint = "give an EPSG code: 4490 (CGCS2000, the default), 4326 (WGS84) or EPSG:xxxx, e.g. EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E)"
    if not (code.isascii() and code.isdigit()):
        raise OptionError(f"`crs` was {text!r}; {hint}")
    try:
        crs = pyproj.CRS.from_epsg(int(code))
    except pyproj.exceptions.CRSError:
        raise OptionError(f"`crs` was {text!r}, which is not a known EPSG code; {hint}") from None
    if crs.is_vertical or not (crs.is_geographic or crs.is_projected):
        raise OptionError(f"`crs` was {text!r} ({crs.name}), which is not a horizontal CRS; {hint}")
    return crs


def parse_encoding(value: str) -> str:
    """``'utf-8'`` or ``'gbk'`` from the usual spellings (UTF8, cp936, 936, GB2312 → GBK).

    >>> parse_encoding("CP936")
    'gbk'
    """
    enc = _ENCODINGS.get(str(value).strip().lower())
    if enc is None:
        raise OptionError(f"`encoding` was {value!r}; expected 'utf-8' (the default) or 'gbk' (code page 936, for older desktop GIS)")
    return enc


def export_plan(
    plan: Plan, out: str | PathLike, *, formats: str | Iterable[str] = FORMATS, crs: str | int = 4490,
    encoding: str = "utf-8",
) -> Delivery:
    """Write the deliverables of ``plan`` into the directory ``out``.

    Parameters
    ----------
    plan
        The plan (e.g. :func:`gridplan.outputs.reader.read_plan` of a plan directory).
    out
        The delivery directory: new, empty, or an earlier delivery (which is replaced).
    formats
        Any of ``'shp'``, ``'gpkg'``, ``'fgb'``, ``'csv'`` (a list, or comma-separated, or ``'all'``).
    crs
        The CRS of the geometry: ``4490`` (CGCS2000), ``4326`` (WGS84) or any ``EPSG:xxxx``.
    encoding
        Of the shapefiles' DBF text: ``'utf-8'`` or ``'gbk'`` (code page 936). CSVs are always UTF-8.

    Returns
    -------
    Delivery

    Raises
    ------
    OptionError
        An unknown format, CRS or encoding, or text GBK cannot encode (all listed).
    PlanWriteError
        ``out`` holds files that are not an earlier delivery, or writing failed (nothing is left half-written).
    """
    fmts = parse_formats(formats)
    target_crs = parse_crs(crs)
    enc = parse_encoding(encoding)
    names = unit_names(plan)
    tables = {lv: code_table(plan, lv, names=names) for lv in LAYER_NAMES}
    people = roster(plan)
    if "shp" in fmts and enc == "gbk":
        _check_gbk([*tables.values(), people], given=encoding)
    layers = {LAYER_NAMES[lv]: _with_geometry(t, plan.layer(lv), "code", target_crs) for lv, t in tables.items()}
    layers["buildings"] = gpd.GeoDataFrame(
        people, geometry=plan.buildings.geometry.to_crs(target_crs).to_numpy(), crs=target_crs)
    epsg = f"EPSG:{target_crs.to_epsg()}"

    def build(tmp: Path) -> list[str]:
        files: list[str] = []
        if "shp" in fmts:
            files += _write_shapefiles(layers, tmp, enc)
        if "gpkg" in fmts:
            for name, layer in layers.items():
                write_layer(layer, tmp / "gridplan.gpkg", layer=name, driver="GPKG")
            files.append("gridplan.gpkg")
        if "fgb" in fmts:
            for name, layer in layers.items():
                write_layer(layer, tmp / f"{name}.fgb", driver="FlatGeobuf")
                files.append(f"{name}.fgb")
        if "csv" in fmts:
            for lv, table in tables.items():
                write_csv(table, tmp / _CSV_NAMES[lv])
                files.append(_CSV_NAMES[lv])
            write_csv(people, tmp / "buildings.csv")
            write_csv(posts(plan), tmp / "posts.csv")
            write_csv(validation_report(plan), tmp / "validation.csv")
            files += ["buildings.csv", "posts.csv", "validation.csv"]
        return files

    path, files = replace_dir(out, "delivery", build, extra={"crs": epsg, "encoding": enc, "formats": list(fmts)})
    return Delivery(path=path, files=tuple(files), crs=epsg, encoding=enc)


def _with_geometry(table: pd.DataFrame, units: gpd.GeoDataFrame, key: str, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    geom = dict(zip(units[key].astype(str), units.to_crs(crs).geometry))
    return gpd.GeoDataFrame(table, geometry=[geom[c] for c in table[key]], crs=crs)


def _check_gbk(frames: list[pd.DataFrame], given: str = "gbk") -> None:
    bad: list[str] = []
    for df in frames:
        for col in df.columns:
            if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
                for v in df[col].dropna().unique():
                    try:
                        str(v).encode("gbk")
                    except UnicodeEncodeError:
                        bad.append(str(v))
    if bad:
        raise OptionError(
            f"`encoding` was {given!r} (written as GBK), but {plural(len(bad), 'text value')} "
            f"{'has' if len(bad) == 1 else 'have'} characters GBK cannot encode: {first_ids(bad)}; deliver with "
            "`encoding='utf-8'`, or rename them"
        )


def _field_rows(layer: str, mapping: dict[str, str]) -> list[dict]:
    return [{"layer": layer, "field": f, "full_name": k, "name_zh": FIELDS.get(k, ("", k))[1]} for k, f in mapping.items()]


def narrow_dbf_integers(path: Path) -> None:
    """Narrow the integer fields (``N``, no decimals) of the DBF ``path`` to their widest value.

    GDAL gives every integer field 9 or 18 digits (``OFTInteger64``: 18); its ``RESIZE=YES`` would narrow them but
    also cut every text field to its longest value, leaving the empty grid-worker name and phone fields one
    character wide, too narrow to fill in. The records are rewritten with the values right-aligned, as dBASE has them.

    Examples
    --------
    >>> import tempfile
    >>> g = gpd.GeoDataFrame({"hh": [420, 3000], "worker": ["", ""]}, geometry=[shapely.Point(0, 0)] * 2, crs=4326)
    >>> path = Path(tempfile.mkdtemp()) / "a.shp"
    >>> write_layer(g, path, driver="ESRI Shapefile")
    >>> narrow_dbf_integers(path.with_suffix(".dbf"))
    >>> dbf = path.with_suffix(".dbf").read_bytes()  # the first field's descriptor: type, then width
    >>> pyogrio.read_dataframe(path)["hh"].tolist(), dbf[43:44], dbf[48]
    ([420, 3000], b'N', 4)
    """
    data = path.read_bytes()
    count, head, size = (int.from_bytes(data[a:b], "little") for a, b in ((4, 8), (8, 10), (10, 12)))
    fields, off, start = [], 32, 1  # (descriptor offset, start in the record, width, whether an integer field)
    while off < head - 1 and data[off] != 0x0D:
        width = data[off + 16]
        fields.append((off, start, width, data[off + 11:off + 12] == b"N" and data[off + 17] == 0))
        start, off = start + width, off + 32
    records = [data[head + i * size:head + (i + 1) * size] for i in range(count)]
    widths = {f[0]: max([len(r[f[1]:f[1] + f[2]].strip()) for r in records] + [1]) for f in fields if f[3]}
    if all(widths[f[0]] == f[2] for f in fields if f[3]):
        return
    header = bytearray(data[:head])
    for f in fields:
        if f[3]:
            header[f[0] + 16] = widths[f[0]]
    out = [bytes(r[:1]) + b"".join(r[f[1]:f[1] + f[2]].strip().rjust(widths[f[0]]) if f[3] else r[f[1]:f[1] + f[2]]
                                   for f in fields) for r in records]
    header[10:12] = (1 + sum(widths.get(f[0], f[2]) for f in fields)).to_bytes(2, "little")
    path.write_bytes(bytes(header) + b"".join(out) + data[head + count * size:])


def _zip_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Add ``data`` as ``name``, a regular file of the umask's mode (0644 under umask 022) when unzipped."""
    member = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    member.compress_type = zipfile.ZIP_DEFLATED
    member.external_attr = (stat.S_IFREG | file_mode()) << 16
    zf.writestr(member, data)


def _write_shapefiles(layers: dict[str, gpd.GeoDataFrame], tmp: Path, enc: str) -> list[str]:
    files, aliases = [], []
    work = tmp / ".shp"
    work.mkdir()
    for name, layer in layers.items():
        cols = [c for c in layer.columns if c != layer.geometry.name]
        mapping = ascii_field_names(cols)
        gdf = layer.rename(columns=mapping)
        dates = tuple(mapping[c] for c in DATE_COLUMNS if c in mapping)
        write_layer(gdf, work / f"{name}.shp", driver="ESRI Shapefile", encoding=_GDAL_ENCODING[enc], dates=dates)
        narrow_dbf_integers(work / f"{name}.dbf")
        (work / f"{name}.cpg").write_text(_CPG[enc], encoding="ascii")  # '936' is what desktop GIS recognise for GBK
        rows = _field_rows(name, mapping)
        aliases += rows
        buf = io.StringIO()
        pd.DataFrame(rows).to_csv(buf, index=False)
        with zipfile.ZipFile(tmp / f"{name}.shp.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for ext in ("shp", "shx", "dbf", "prj", "cpg"):
                _zip_member(zf, f"{name}.{ext}", (work / f"{name}.{ext}").read_bytes())
            _zip_member(zf, "fields.csv", ("\ufeff" + buf.getvalue()).encode("utf-8"))
        files.append(f"{name}.shp.zip")
    shutil.rmtree(work)
    pd.DataFrame(aliases).to_csv(tmp / "shapefile_fields.csv", index=False, encoding="utf-8-sig")
    return [*files, "shapefile_fields.csv"]


# ---- an output directory written all at once ------------------------------------------------------

_MANIFEST = "manifest.json"
_LITTER = {".DS_Store", "Thumbs.db", "desktop.ini"}


def _check_out(target: Path, kind: str) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise PlanWriteError(f"--out {str(target)!r} exists and is not a directory; choose another --out")
    entries = sorted(p.name for p in target.iterdir() if p.name not in _LITTER)
    if not entries:
        return
    manifest = target / _MANIFEST
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if meta.get("kind") != kind:
        raise PlanWriteError(
            f"--out {str(target)!r} is not empty and is not an earlier gridplan {kind} (no {_MANIFEST} of one; it holds "
            f"{first_ids(entries)}); choose another --out: a new or empty directory, or an earlier {kind}"
        )
    foreign = sorted(set(entries) - set(meta.get("files", [])) - {_MANIFEST})
    if foreign:
        raise PlanWriteError(
            f"--out {str(target)!r} is an earlier {kind} but also holds files gridplan did not write: {first_ids(foreign)}; "
            "move them elsewhere or choose another --out (gridplan never deletes files it did not write)"
        )


def replace_dir(out: str | PathLike, kind: str, build: Callable[[Path], list[str]], *, extra: dict | None = None) -> tuple[Path, list[str]]:
    """Write a directory of ``kind`` with ``build(tmp) -> files`` beside ``out``, then move it into place.

    ``out`` may be missing, empty, or an earlier directory of the same kind holding only its own files
    (per its ``manifest.json``); anything else raises :class:`PlanWriteError` and is left untouched.
    """
    from .._version import __version__

    target = Path(out).expanduser().absolute()
    _check_out(target, kind)
    tmp = temp_dir_beside(target)
    try:
        files = sorted(build(tmp))
        meta = {"generator": f"gridplan {__version__}", "kind": kind, **(extra or {}), "files": files}
        (tmp / _MANIFEST).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _check_out(target, kind)
        swap_dir(tmp, target)
    except (PlanWriteError, OptionError):
        raise
    except Exception as exc:
        raise PlanWriteError(f"could not write to {str(target)!r}: {type(exc).__name__}: {exc}; nothing was written") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target, files
