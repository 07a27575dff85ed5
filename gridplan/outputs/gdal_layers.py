"""Layers written with GDAL's own field types: dates as dates, booleans as booleans (pyogrio's writer makes
dates text or date-times, since pandas has no date type). Used for ``plan.gpkg`` and every delivery.
"""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely

__all__ = ["DATE_COLUMNS", "write_layer"]

#: columns written as date fields when every value is an ISO date (YYYY-MM-DD) or empty
DATE_COLUMNS = ("start_date", "end_date")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_dates(col: pd.Series) -> np.ndarray | None:
    """``col`` as ``datetime64[D]`` (NaT where empty) when every value is an ISO date or empty, else ``None``."""
    text = col.astype(object).where(col.notna(), "").astype(str).str.strip()
    given = text != ""
    if not text[given].map(lambda v: bool(_ISO_DATE.fullmatch(v))).all():
        return None
    try:
        return np.array([np.datetime64(v, "D") if v else np.datetime64("NaT", "D") for v in text])
    except ValueError:  # 2026-02-30
        return None


def _field_values(col: pd.Series, *, as_date: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """A column as GDAL takes it: values of one numpy type, and where they are missing (``None``: nowhere)."""
    missing = col.isna().to_numpy()
    mask = missing if missing.any() else None
    day = _iso_dates(col) if as_date else None
    if day is not None:
        return day, None
    if pd.api.types.is_bool_dtype(col):
        return col.fillna(False).to_numpy(dtype=bool), mask
    if pd.api.types.is_integer_dtype(col):
        return col.to_numpy(dtype=np.int64, na_value=0), mask
    if pd.api.types.is_float_dtype(col) or pd.api.types.is_datetime64_dtype(col):
        return col.to_numpy(), None  # NaN and NaT are nulls
    return np.array([None if pd.isna(v) else str(v) for v in col], dtype=object), None  # text, anything else as text


def write_layer(gdf: gpd.GeoDataFrame, path: Path, *, driver: str, layer: str | None = None, encoding: str | None = None,
                dates: tuple[str, ...] = DATE_COLUMNS, layer_options: dict | None = None) -> None:
    """Write ``gdf`` with GDAL (as ``layer`` of ``path``), the columns ``dates`` as date fields when they hold ISO dates.

    pyogrio's :func:`~pyogrio.write_dataframe` writes dates as text or date-times (pandas has no date type), so
    this hands the columns to :func:`pyogrio.raw.write` itself: ``datetime64[D]`` becomes a date field (``OFTDate``),
    booleans true/false fields (``OFSTBoolean``), numbers and text as they are, missing values as nulls.

    Examples
    --------
    >>> import tempfile
    >>> g = gpd.GeoDataFrame({"start_date": ["2026-01-01"], "in_range": [True], "hh": [420]},
    ...                      geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    >>> path = Path(tempfile.mkdtemp()) / "a.gpkg"
    >>> write_layer(g, path, driver="GPKG")
    >>> info = pyogrio.read_info(path)
    >>> list(zip(info["fields"], info["ogr_types"], info["ogr_subtypes"]))
    [('start_date', 'OFTDate', 'OFSTNone'), ('in_range', 'OFTInteger', 'OFSTBoolean'), ('hh', 'OFTInteger64', 'OFSTNone')]
    """
    fields = [c for c in gdf.columns if c != gdf.geometry.name]
    data, masks = zip(*(_field_values(gdf[c], as_date=c in dates) for c in fields)) if fields else ((), ())
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    kinds = tuple(sorted({shapely.get_type_id(g) for g in geoms if g is not None}))
    geometry_type = {(3,): "Polygon", (6,): "MultiPolygon", (3, 6): "MultiPolygon"}.get(kinds, "Unknown")
    epsg = gdf.crs.to_epsg() if gdf.crs is not None else None
    crs = f"EPSG:{epsg}" if epsg else (gdf.crs.to_wkt("WKT1_GDAL") if gdf.crs is not None else None)
    pyogrio.raw.write(path, shapely.to_wkb(geoms), list(data), fields, field_mask=list(masks), layer=layer, driver=driver,
                      geometry_type=geometry_type, crs=crs, encoding=encoding, promote_to_multi=kinds == (3, 6),
                      layer_options=layer_options)
