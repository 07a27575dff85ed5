"""Response models of OGC API – Features at ``/ogc`` (Part 1 Core with GeoJSON, Part 2 CRS by reference).

The shapes follow the standard's OpenAPI schemas (landingPage, confClasses, collections, collection,
featureCollectionGeoJSON, featureGeoJSON, exception); every answer of :mod:`api.routers.ogc` validates
against one of them.
"""
from __future__ import annotations

import datetime as _dt
from typing import Literal

from pydantic import BaseModel, Field

from . import models as m

__all__ = ["Link", "LandingPage", "Conformance", "SpatialExtent", "Extent", "Collection", "Collections",
           "OgcFeature", "OgcFeatureCollection", "OgcException"]


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str] = Field(description="the conformance classes the API implements")


class SpatialExtent(BaseModel):
    bbox: list[list[float]] = Field(description="one box, W,S,E,N in degrees (CRS84: lon/lat)")
    crs: str


class Extent(BaseModel):
    spatial: SpatialExtent


class Collection(BaseModel):
    id: str = Field(description="'{plan_id}-{layer}', layer: communities, grids or micro_grids")
    title: str
    description: str
    links: list[Link]
    extent: Extent | None = None
    itemType: Literal["feature"] = "feature"
    crs: list[str] = Field(description="the CRSs `crs` and `bbox-crs` take (URIs)")
    storageCrs: str


class Collections(BaseModel):
    links: list[Link]
    collections: list[Collection]


class OgcFeature(m.Feature):
    """A unit as a GeoJSON feature; ``id`` is its code. With ``crs`` = EPSG:4490 or EPSG:4326 the coordinates are
    latitude, longitude (the axis order of those CRSs); with CRS84 (the default) longitude, latitude."""

    id: str = Field(pattern=m.CODE_PATTERN)
    links: list[Link] = Field(default_factory=list)


class OgcFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[OgcFeature]
    links: list[Link]
    timeStamp: _dt.datetime
    numberMatched: int = Field(ge=0, description="units matching `bbox` in the whole collection")
    numberReturned: int = Field(ge=0, description="units on this page")


class OgcException(m.ErrorBody):
    """An error: the standard's exception (``code``, ``description``) and the service's ErrorBody in one."""

    code: str = Field(description="InvalidParameterValue, NotFound, ...")
    description: str
