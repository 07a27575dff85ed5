"""Undo the offsets of Chinese web maps: GCJ-02 (AutoNavi, Tencent) and BD-09 (Baidu) to WGS84.

Coordinates picked from such maps are shifted by 50–500 m; gridplan never delivers them (DOMAIN.md §6),
so they are converted on ingest. GCJ-02 has a published forward formula (WGS84 → GCJ-02) but no closed
inverse: :func:`gcj02_to_wgs84` inverts it by fixed-point iteration, to well under 0.5 m. Points outside
China are left unchanged, as the web maps themselves do.

Examples
--------
>>> lon, lat = gcj02_to_wgs84(118.7851, 32.0393)   # a point in Nanjing, as read off AutoNavi
>>> round(float(lon), 4), round(float(lat), 4)
(118.7799, 32.0413)
"""
from __future__ import annotations

import logging
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely

from ..config import check_choice
from ..errors import InputError

__all__ = ["wgs84_to_gcj02", "gcj02_to_wgs84", "bd09_to_gcj02", "bd09_to_wgs84", "convert_gdf", "SYSTEMS"]

logger = logging.getLogger(__name__)

SYSTEMS: tuple[str, ...] = ("gcj02", "bd09")
_A = 6378245.0  # Krasovsky 1940 semi-major axis used by the GCJ-02 formula
_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0


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
            f"{system} coordinates are longitude/latitude degrees, so declare the layer geographic "
            f"(gdf.set_crs(4326, allow_override=True)) or drop the {system} conversion"
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
