"""Which files gridplan opens, and how: an allow-list of formats told by content, and a GDAL restricted to it.

GDAL picks a driver by what a file holds, not by its name, and some drivers read *other* files or URLs that a
file names (a VRT's ``<SrcDataSource>``, a GML schema, WFS, ``/vsicurl/``). So a file from outside is opened
only when its content is one of :data:`FORMATS`, and in the service every process first calls
:func:`restrict_gdal`, which removes every other vector driver from GDAL and closes its network handlers, so no
content can reach them.

Examples
--------
>>> sniff_bytes(b'{"type": "FeatureCollection", "features": []}')
'geojson'
>>> sniff_bytes(b"SQLite format 3\\x00" + bytes(52) + b"GPKG")
'gpkg'
>>> sniff_bytes(b"<OGRVRTDataSource><!-- <osm version='0.6'> -->") is None
True
>>> sniff_bytes(b"%PDF-1.7") is None
True
>>> sniff_bytes(b'<?xml version="1.0"?><!-- exported by a wizard --><?pi x?>\\n<osm version="0.6">')
'osm'
>>> xml_prolog_end(b'<?xml version="1.0"?>\\n<!-- a comment -->\\n<osm>')
41
"""
from __future__ import annotations

import contextvars
import ctypes
import logging
import os
import re
import threading
from os import PathLike
from pathlib import Path

__all__ = ["FORMATS", "ALLOWED_DRIVERS", "sniff_bytes", "sniff", "sniff_stream", "xml_prolog_end", "PROLOG_BYTES",
           "restrict_gdal", "gdal_restricted", "allow_any_format", "any_format_allowed"]

logger = logging.getLogger(__name__)

#: The formats gridplan reads, as :func:`sniff` names them, and what each is.
FORMATS = {
    "gpkg": "GeoPackage",
    "geojson": "GeoJSON",
    "shp": "ESRI Shapefile (.shp with its .shx/.dbf/.prj)",
    "fgb": "FlatGeobuf",
    "osm": "OpenStreetMap XML",
    "osm.pbf": "OpenStreetMap PBF",
    "zip": "zip (of one of the formats above)",
    "bz2": "bzip2 (of OpenStreetMap XML)",
    "gzip": "gzip (of OpenStreetMap XML)",
}
#: The only GDAL drivers gridplan opens files with (the writers of the deliverables are among them).
ALLOWED_DRIVERS = ("GPKG", "GeoJSON", "ESRI Shapefile", "FlatGeobuf", "OSM", "CSV", "XLSX", "ODS")
#: The driver each sniffed format must be opened with.
DRIVER_OF = {"gpkg": "GPKG", "geojson": "GeoJSON", "shp": "ESRI Shapefile", "fgb": "FlatGeobuf", "osm": "OSM",
             "osm.pbf": "OSM"}
HEAD_BYTES = 4096
#: How far :func:`sniff` reads into an XML file whose prolog (comments, processing instructions) is longer than
#: :data:`HEAD_BYTES`, looking for its root element; a prolog longer than this is not recognised. [proposal]
PROLOG_BYTES = 256 * 1024
# Tags of formats that read other files or URLs: never in a file we take as GeoJSON or OSM
_FOREIGN = re.compile(rb"<\s*(OGRVRTDataSource|VRTDataset|GDALWMS|WFS_GetCapabilities|OGRWFSDataSource|xi:include)"
                      rb"|<!ENTITY|<!DOCTYPE", re.IGNORECASE)
_SHP_MAGIC = b"\x00\x00\x27\x0a"
_BOM = b"\xef\xbb\xbf"
_SPACE = b" \t\r\n"


def xml_prolog_end(head: bytes) -> int | None:
    """Offset of the first element of an XML text past its prolog: a byte-order mark, the XML declaration,
    processing instructions, comments and white space. None when the prolog does not end inside ``head``.

    Export wizards write a long comment before ``<osm``; GDAL's OSM driver looks for ``<osm`` in the first
    kilobyte only, so :func:`gridplan.inputs.io.read_osm` strips such a prolog. A DOCTYPE is not part of the
    prolog here: :func:`sniff_bytes` refuses it.

    Examples
    --------
    >>> xml_prolog_end(b"<osm/>"), xml_prolog_end(b"  <!-- unfinished"), xml_prolog_end(b"<!-- a --> ")
    (0, None, None)
    """
    i = len(_BOM) if head.startswith(_BOM) else 0
    n = len(head)
    while i < n:
        if head[i] in _SPACE:
            i += 1
        elif head.startswith(b"<?", i) or head.startswith(b"<!--", i):
            end = head.find(b"?>" if head[i + 1] == ord("?") else b"-->", i + 2)
            if end < 0:
                return None
            i = end + (2 if head[i + 1] == ord("?") else 3)
        else:
            return i
    return None


def sniff_bytes(head: bytes) -> str | None:
    """The format (a key of :data:`FORMATS`) of a file from its first bytes, or None when it is none of them.

    A file that also holds markup of a format that opens other files (a VRT, a WFS, XML entities) is None
    whatever it starts with.
    """
    if _FOREIGN.search(head):
        return None
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg" if head[68:72] in (b"GPKG", b"GP10", b"GP11") else None
    if head.startswith(b"fgb\x03"):
        return "fgb"
    if head.startswith(_SHP_MAGIC) and len(head) >= 100:
        return "shp"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head[4:15] == b"\n\x09OSMHeader":  # a BlobHeader: its length, then field 1 'OSMHeader'
        return "osm.pbf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return "geojson"
    start = xml_prolog_end(head)
    if start is not None and re.match(rb"<osm[\s>/]", head[start : start + 5]):  # the root element is <osm>
        return "osm"
    return None


def sniff_stream(f) -> str | None:
    """:func:`sniff_bytes` of a binary file object read from its start: :data:`HEAD_BYTES`, or, for an XML file
    whose prolog runs past them, up to :data:`PROLOG_BYTES` (until its first element)."""
    head = f.read(HEAD_BYTES)
    while (len(head) < PROLOG_BYTES and head.lstrip(_BOM + _SPACE).startswith(b"<")
           and xml_prolog_end(head) is None and not _FOREIGN.search(head)):
        more = f.read(min(len(head), PROLOG_BYTES - len(head)))
        if not more:
            break
        head += more
    return sniff_bytes(head)


def sniff(path: str | PathLike) -> str | None:
    """:func:`sniff_stream` of a file (None for a directory or an unreadable file)."""
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        return sniff_stream(f)


_ANY_FORMAT: contextvars.ContextVar[bool] = contextvars.ContextVar("gridplan_allow_any_format", default=False)


def allow_any_format(allowed: bool = True) -> contextvars.Token:
    """Let :func:`gridplan.inputs.io.read_layer` open any format GDAL reads (a VRT too) in this context: the CLI's
    ``--allow-any-format``, for a user's own files. Returns the token to undo it with ``reset``.

    Examples
    --------
    >>> token = allow_any_format()
    >>> any_format_allowed()
    True
    >>> _ANY_FORMAT.reset(token); any_format_allowed()
    False
    """
    return _ANY_FORMAT.set(bool(allowed))


def any_format_allowed() -> bool:
    """Whether :func:`allow_any_format` is in force here (default False: the allow-list of :data:`FORMATS`)."""
    return _ANY_FORMAT.get()


# ---- the process-wide restriction ---------------------------------------------------------------------------

_LOCK = threading.Lock()
_RESTRICTED: list[str] | None = None
#: GDAL settings that close every way out of the process: no HTTP(S)/FTP fetch through /vsicurl/ and its kin
#: (no extension is allowed), no cloud buckets, no sibling-file listing, no Python in VRTs.
_CONFIG = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".gridplan-no-network",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "HTTPS_PROXY": "127.0.0.1:9",
    "AWS_NO_SIGN_REQUEST": "NO",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}


def _libgdal() -> ctypes.CDLL | None:
    """The GDAL library pyogrio has loaded in this process (found in the process's memory map)."""
    import pyogrio  # noqa: F401 - loads GDAL

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split()[-1] for line in f if "libgdal" in line and "/" in line}
    except OSError:  # pragma: no cover - not Linux
        return None
    for path in sorted(paths):
        try:
            return ctypes.CDLL(path)
        except OSError:  # pragma: no cover
            continue
    return None  # pragma: no cover


def restrict_gdal(allowed: tuple[str, ...] = ALLOWED_DRIVERS) -> list[str]:
    """Remove every GDAL vector driver but ``allowed`` from this process, and close GDAL's network access.

    Idempotent; returns the drivers removed (by the first call). Called first in every process of the service
    and by the CLI (unless ``--allow-any-format``); a library user who opens files from outside calls it too.
    Raster-only drivers are never used by gridplan's reads (they open vector data only) and are left alone.

    Examples
    --------
    >>> import pyogrio
    >>> removed = restrict_gdal()
    >>> "OGR_VRT" in pyogrio.list_drivers(), "GeoJSON" in pyogrio.list_drivers()
    (False, True)
    """
    global _RESTRICTED
    with _LOCK:
        if _RESTRICTED is not None:
            return list(_RESTRICTED)
        import pyogrio

        pyogrio.set_gdal_config_options(dict(_CONFIG))
        lib = _libgdal()
        removed: list[str] = []
        if lib is None:  # pragma: no cover - a GDAL we cannot reach: refuse to pretend
            raise RuntimeError("cannot restrict GDAL's drivers in this process (libgdal not found); "
                               "set GDAL_SKIP in the environment instead")
        lib.GDALGetDriverByName.restype = ctypes.c_void_p
        lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
        lib.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
        lib.GDALDeregisterDriver.restype = None
        for name in sorted(pyogrio.list_drivers()):
            if name in allowed:
                continue
            handle = lib.GDALGetDriverByName(name.encode())
            if handle:
                lib.GDALDeregisterDriver(handle)
                removed.append(name)
        left = sorted(set(pyogrio.list_drivers()) - set(allowed))
        if left:  # pragma: no cover - GDAL refused: never go on half-restricted
            raise RuntimeError(f"GDAL kept drivers {left} after restricting it; refusing to open untrusted files")
        os.environ.update(_CONFIG)  # for any GDAL a child process loads
        _RESTRICTED = removed
        logger.info("GDAL restricted to %s: %d other vector drivers removed, network access closed",
                    ", ".join(allowed), len(removed))
        return list(removed)


def gdal_restricted() -> bool:
    """Whether :func:`restrict_gdal` has run in this process."""
    return _RESTRICTED is not None
