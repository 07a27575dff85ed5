"""Undo the offsets of Chinese web maps: GCJ-02 (AutoNavi, Tencent) and BD-09 (Baidu) to WGS84.

Coordinates picked from such maps are shifted by 50–500 m; gridplan never delivers them (DOMAIN.md §6),
so they are converted on ingest. GCJ-02 has a published forward formula (WGS84 → GCJ-02) but no closed
inverse: :func:`gcj02_to_wgs84` inverts it by fixed-point iteration, to well under 0.5 m. Points outside
China are left unchanged, as the web maps themselves do.

A layer's CRS can also be declared (:func:`parse_input_crs`: ``input_crs='EPSG:32650'``) where the file has
none or a wrong one; :func:`crs_advice` tells degrees from metres by the coordinates and names the CRS to declare.

Examples
--------
>>> lon, lat = gcj02_to_wgs84(118.7851, 32.0393)   # a point in Nanjing, as read off AutoNavi
>>> round(float(lon), 4), round(float(lat), 4)
(118.7799, 32.0413)
>>> parse_input_crs("epsg:32650").name, parse_input_crs("gcj02")
('WGS 84 / UTM zone 50N', 'gcj02')
>>> print(crs_advice((39_500_120.0, 3_545_000.0, 39_500_900.0, 3_546_000.0)))
the coordinates look like metres of CGCS2000 / 3-degree Gauss-Kruger zone 39 (x 39,500,120 to 39,500,900, a zone number in front): declare it with `input_crs='EPSG:4527'`
"""
from __future__ import annotations

import logging
import re
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ..config import check_choice
from ..errors import Findings, InputError, OptionError, first_ids, plural

__all__ = ["wgs84_to_gcj02", "gcj02_to_wgs84", "bd09_to_gcj02", "bd09_to_wgs84", "convert_gdf", "SYSTEMS",
           "parse_input_crs", "crs_advice", "looks_like_degrees", "check_crs", "declare_crs"]

logger = logging.getLogger(__name__)

SYSTEMS: tuple[str, ...] = ("gcj02", "bd09")
_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0
_OFFSET_NAME = re.compile(r"gcj|bd[-_ ]?09|baidu|mars", re.IGNORECASE)
_CODE = re.compile(r"^\s*(?:([A-Za-z][A-Za-z0-9_]*):)?(\d+)\s*$")


def parse_input_crs(value: object) -> str | pyproj.CRS:
    """``'auto'``, ``'gcj02'``, ``'bd09'``, or the CRS a code declares: ``'EPSG:32650'`` (any ``AUTHORITY:CODE``
    pyproj knows, or a bare EPSG number).

    Only codes are taken, never WKT or PROJ strings (which can name grid files to fetch).

    Examples
    --------
    >>> parse_input_crs(4547).name
    'CGCS2000 / 3-degree Gauss-Kruger CM 114E'
    >>> parse_input_crs("UTM50")
    Traceback (most recent call last):
    ...
    gridplan.errors.OptionError: `input_crs` was 'UTM50'; expected 'auto', 'gcj02', 'bd09' or a CRS code such as 'EPSG:32650'
    """
    if isinstance(value, pyproj.CRS):
        return value
    text = str(value).strip()
    if text.lower() in ("auto", *SYSTEMS):
        return text.lower()
    match = _CODE.match(text)
    hint = f"`input_crs` was {value!r}; expected 'auto', 'gcj02', 'bd09' or a CRS code such as 'EPSG:32650'"
    if not match or isinstance(value, bool):
        raise OptionError(hint)
    try:
        crs = pyproj.CRS.from_user_input(f"{(match.group(1) or 'EPSG').upper()}:{match.group(2)}")
    except pyproj.exceptions.CRSError:
        raise OptionError(f"{hint} ({text} is not a CRS pyproj knows)") from None
    if not (crs.is_geographic or crs.is_projected):
        raise OptionError(f"`input_crs` was {value!r} ({crs.name}), not a horizontal CRS; give the CRS of the "
                          "coordinates, e.g. 'EPSG:4326' or 'EPSG:32650'")
    return crs


def looks_like_degrees(bounds: tuple[float, float, float, float]) -> bool:
    """Whether coordinates with these bounds (minx, miny, maxx, maxy) can be longitude/latitude degrees."""
    minx, miny, maxx, maxy = bounds
    return -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def crs_advice(bounds: tuple[float, float, float, float]) -> str:
    """What the coordinates look like (degrees, or metres of which zone) and the ``input_crs`` to declare.

    Easting 13–23 or 25–45 million is CGCS2000 Gauss-Krüger with its 6° or 3° zone number in front (EPSG:4491–4501,
    4513–4533); 100–900 km is a transverse Mercator zone without it (UTM, whose zone the numbers do not tell).

    Examples
    --------
    >>> print(crs_advice((118.78, 32.04, 118.79, 32.05)))
    the coordinates look like longitude/latitude degrees: declare them with `input_crs='EPSG:4326'` (WGS 84; 'EPSG:4490' for CGCS2000), or `input_crs='gcj02'` / 'bd09' for points picked from Chinese web maps
    >>> print(crs_advice((667_000.0, 3_546_000.0, 668_000.0, 3_547_000.0)))
    the coordinates look like metres of a transverse Mercator zone (x 667,000 to 668,000; y 3,546,000: about 32° north): declare the CRS they are in, e.g. `input_crs='EPSG:32650'` (WGS 84 / UTM zone 50N, 114°E to 120°E) or the CGCS2000 Gauss-Krüger zone they were exported in
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if looks_like_degrees((minx, miny, maxx, maxy)):
        return ("the coordinates look like longitude/latitude degrees: declare them with `input_crs='EPSG:4326'` "
                "(WGS 84; 'EPSG:4490' for CGCS2000), or `input_crs='gcj02'` / 'bd09' for points picked from Chinese "
                "web maps")
    xs = f"x {minx:,.0f} to {maxx:,.0f}"
    zone = int(minx // 1_000_000)
    if zone == int(maxx // 1_000_000) and (13 <= zone <= 23 or 25 <= zone <= 45):
        code = 4478 + zone if zone <= 23 else 4488 + zone
        name = pyproj.CRS.from_epsg(code).name
        return (f"the coordinates look like metres of {name} ({xs}, a zone number in front): declare it with "
                f"`input_crs='EPSG:{code}'`")
    if 100_000 <= minx and maxx <= 900_000 and 0 <= miny and maxy <= 10_000_000:
        return (f"the coordinates look like metres of a transverse Mercator zone ({xs}; y {miny:,.0f}: about "
                f"{miny / 110_900:.0f}° north): declare the CRS they are in, e.g. `input_crs='EPSG:32650'` (WGS 84 / "
                "UTM zone 50N, 114°E to 120°E) or the CGCS2000 Gauss-Krüger zone they were exported in")
    return (f"the coordinates look like metres of a projected CRS ({xs}; y {miny:,.0f} to {maxy:,.0f}): declare the "
            "CRS they are in, e.g. `input_crs='EPSG:4547'` (CGCS2000 / 3-degree Gauss-Kruger CM 114E)")


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(rad) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon: np.typing.ArrayLike, lat: np.typing.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Apply the GCJ-02 offset (the published forward formula).

    Parameters
    ----------
    lon, lat
        WGS84 degrees, scalars or arrays.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 longitude and latitude.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: np.typing.ArrayLike, lat: np.typing.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Remove the GCJ-02 offset by iterating the forward formula (error < 0.5 m, typically < 1 mm).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees, scalars or arrays.

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 longitude and latitude.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84([7.42, 118.7851], [43.73, 32.0393])
    >>> float(lon[0]), float(lat[0])   # outside China: unchanged
    (7.42, 43.73)
    """
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.nanmax(np.abs(np.concatenate([np.ravel(elon), np.ravel(elat)])), initial=0.0) < 1e-10:
            break
    return wlon, wlat


def bd09_to_gcj02(lon: np.typing.ArrayLike, lat: np.typing.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Remove Baidu's extra BD-09 offset, giving GCJ-02 (closed form)."""
    x, y = np.asarray(lon, dtype=float) - 0.0065, np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_wgs84(lon: np.typing.ArrayLike, lat: np.typing.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 degrees to WGS84 (via GCJ-02).

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(118.7916, 32.0451)
    >>> round(float(lon), 3), round(float(lat), 3)
    (118.78, 32.041)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def check_crs(gdf: gpd.GeoDataFrame, name: str, system: str | None, ids: pd.Series, out: Findings) -> None:
    """Add to ``out`` the problems with a layer's CRS; ``system`` is 'gcj02'/'bd09' when offset degrees are to
    be converted. No CRS, an offset web-map CRS, or coordinates that do not fit the CRS each name the
    ``input_crs`` to declare (:func:`crs_advice`)."""
    crs, bounds = gdf.crs, tuple(gdf.total_bounds)
    if crs is None and system is None:
        out.problems.append(f"{name}: no CRS, so gridplan cannot tell degrees from metres; {crs_advice(bounds)}")
        return
    if system is None and _OFFSET_NAME.search(crs.name or ""):
        out.problems.append(f"{name}: the CRS {crs.name!r} is an offset web-map system (GCJ-02/BD-09); pass "
                            "`input_crs='gcj02'` or 'bd09' so it is converted to WGS84 on ingest")
        return
    if system is not None and crs is not None and not crs.is_geographic:
        out.problems.append(f"{name}: `input_crs={system!r}` asks for a {system} conversion but the CRS is "
                            f"{crs.name!r}, a projected CRS; leave `input_crs` out, or give the layer in degrees")
        return
    if crs is None or crs.is_geographic:
        b = gdf.geometry.bounds
        bad = ((b["minx"] < -180) | (b["maxx"] > 180) | (b["miny"] < -90) | (b["maxy"] > 90))
        if bad.any():
            out.problems.append(
                f"{name}: {'no CRS' if crs is None else f'the CRS is {crs.name!r}'} (degrees) but "
                f"{plural(int(bad.sum()), 'feature')} {'lies' if int(bad.sum()) == 1 else 'lie'} outside "
                f"longitude/latitude range, e.g. x={b.loc[bad, 'minx'].iloc[0]:,.1f}, y={b.loc[bad, 'miny'].iloc[0]:,.1f} "
                f"({first_ids(ids[bad])}); {crs_advice(bounds)}")
    elif looks_like_degrees(bounds) and max(bounds[2] - bounds[0], bounds[3] - bounds[1]) < 10:
        out.problems.append(f"{name}: the CRS is {crs.name!r} (metres) but the features span less than 10 m, at "
                            f"x={bounds[0]:g}, y={bounds[1]:g}; {crs_advice(bounds)}")


def declare_crs(gdf: gpd.GeoDataFrame | None, name: str, crs: pyproj.CRS, override: bool,
                out: Findings) -> gpd.GeoDataFrame | None:
    """The layer in the declared CRS: with ``override`` whatever it had (the buildings), else where it has none."""
    if gdf is None or (gdf.crs is not None and not override) or (gdf.crs is not None and gdf.crs.equals(crs)):
        return gdf
    was = "no CRS" if gdf.crs is None else f"the CRS {gdf.crs.name!r}"
    out.notes.append(f"{name}: {was} replaced by the declared {crs.name} ({crs.to_string()})")
    return gdf.set_crs(crs, allow_override=True)


def convert_gdf(gdf: gpd.GeoDataFrame, system: Literal["gcj02", "bd09"]) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` with GCJ-02 or BD-09 coordinates converted to WGS84 (EPSG:4326).

    ``gdf`` must hold longitude/latitude degrees: no CRS, or a geographic CRS (whatever it is named,
    the numbers are taken as offset degrees). The input is not changed.

    Parameters
    ----------
    gdf
        Features in offset coordinates.
    system
        ``"gcj02"`` (AutoNavi/Gaode, Tencent) or ``"bd09"`` (Baidu).

    Returns
    -------
    geopandas.GeoDataFrame
        The same rows, geometry in EPSG:4326.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame(geometry=[Point(118.7851, 32.0393)], crs=4326)
    >>> out = convert_gdf(g, "gcj02")
    >>> out.crs.to_epsg(), round(float(out.geometry.x.iloc[0]), 4)
    (4326, 118.7799)
    """
    check_choice("system", system, SYSTEMS)
    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise InputError(
            f"cannot convert from {system}: the layer's CRS is {gdf.crs.name!r}, a projected CRS; "
            f"{system} coordinates are longitude/latitude degrees, so give the layer in degrees (a geographic CRS "
            f"such as EPSG:4326) or drop the {system} conversion"
        )
    func = gcj02_to_wgs84 if system == "gcj02" else bd09_to_wgs84

    def _xy(coords: np.ndarray) -> np.ndarray:
        lon, lat = func(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out[gdf.geometry.name] = shapely.transform(np.asarray(gdf.geometry.values), _xy)
    out = out.set_crs(4326, allow_override=True)
    logger.info("converted %d features from %s to WGS84", len(out), system)
    return out
