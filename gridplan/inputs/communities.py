"""Checks of the community layer (part of :func:`gridplan.inputs.validate.prepare`): codes, overlaps, coverage.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> c = gpd.GeoDataFrame({"code": ["320102001001", "12"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)])
>>> problems = []
>>> community_codes(c, problems).tolist(), problems[0][:45]
(['320102001001', '12'], "communities: 1 codes are not 12 digits ['12']")
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import first_ids

__all__ = ["community_codes", "check_communities", "OVERLAP_TOLERANCE_M2"]

#: Overlap (m²) between two communities tolerated as drawing noise.
OVERLAP_TOLERANCE_M2 = 1.0


def community_codes(c: gpd.GeoDataFrame, problems: list[str]) -> pd.Series:
    """The communities' ``code`` column as text (None where empty); bad or repeated codes go to ``problems``."""
    if "code" not in c.columns:
        return pd.Series(None, index=c.index, dtype=object)
    raw = c["code"]
    if pd.api.types.is_float_dtype(raw) and (raw.dropna() % 1 == 0).all() and (raw.dropna().abs() < 2**53).all():
        raw = raw.astype("Int64")  # whole numbers that a float holds exactly
    codes = raw.astype(object).where(raw.isna(), raw.astype(str).str.strip())
    codes = codes.where(codes.notna(), None)
    given = codes.notna()
    bad = given & ~codes.astype(str).str.fullmatch(r"\d{12}")
    if bad.any():
        problems.append(f"communities: {int(bad.sum())} codes are not 12 digits {first_ids(codes[bad])}; give "
                        "the 12-digit statistical code (6 county + 3 street + 3 community), e.g. '320102001001'")
    dup = given & codes.duplicated(keep=False)
    if dup.any():
        problems.append(f"communities: codes used more than once {first_ids(pd.unique(codes[dup]))}; "
                        "give each community its own code")
    return codes


def check_communities(c: gpd.GeoDataFrame, b: gpd.GeoDataFrame, labels: pd.Series, ids: pd.Series,
                      problems: list[str]) -> None:
    """Overlapping communities and buildings outside every community (both in metres) go to ``problems``."""
    geoms = c.geometry.reset_index(drop=True)
    left, right = c.sindex.query(geoms, predicate="intersects")
    pairs = [(i, j) for i, j in zip(left, right) if i < j]
    overlapping = [(labels.iloc[i], labels.iloc[j]) for i, j in pairs
                   if geoms.iloc[i].intersection(geoms.iloc[j]).area > OVERLAP_TOLERANCE_M2]
    if overlapping:
        problems.append(f"communities: {len(overlapping)} pairs overlap {first_ids(overlapping)}; communities "
                        "must not overlap: fix the boundaries so each area belongs to one community")
    points = b.geometry.representative_point().reset_index(drop=True)
    inside = np.unique(c.sindex.query(points, predicate="within")[0])
    outside = np.setdiff1d(np.arange(len(points)), inside)
    if len(outside):
        hint = " (none is inside any: check the CRS of the communities)" if len(inside) == 0 else ""
        problems.append(f"communities: {len(outside)} buildings lie outside every community"
                        f"{hint} {first_ids(ids.iloc[outside])}; extend the communities to cover them "
                        "or drop those buildings")
