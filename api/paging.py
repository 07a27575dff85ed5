"""Keyset paging for listings: newest first, stable while records are added, with an opaque cursor.

A listing orders its records by a timestamp, newest first, then by id (both descending), and a page ends with
the cursor of its last record: the next page is the records strictly after it in that order. Records added
meanwhile are newer, so they never shift a page nor show up twice; a deleted record is simply not there.
The cursor is opaque to clients (URL-safe base64 of the last key); a cursor that is not one is a 422 naming
``cursor``.

Any table with a timestamp and an id column can be paged (datasets, plans, an audit log):

Examples
--------
>>> import datetime as dt
>>> from sqlalchemy import select
>>> from api.db import DatasetRecord, create_schema, make_engine, session_factory
>>> engine = make_engine("sqlite://"); create_schema(engine)
>>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
>>> with session_factory(engine)() as s:
...     s.add_all([DatasetRecord(id=f"d{i}", created_at=t0 + dt.timedelta(minutes=i % 3), files={}, options={},
...                              summary={}) for i in range(5)])
...     s.commit()
...     first = keyset_page(s, select(DatasetRecord), DatasetRecord.created_at, DatasetRecord.id, limit=3)
...     rest = keyset_page(s, select(DatasetRecord), DatasetRecord.created_at, DatasetRecord.id, limit=3,
...                        cursor=first.next_cursor)
>>> [r.id for r in first.items], [r.id for r in rest.items], rest.next_cursor
(['d2', 'd4', 'd1'], ['d3', 'd0'], None)
>>> decode_cursor(first.next_cursor)
(datetime.datetime(2026, 1, 1, 0, 1, tzinfo=datetime.timezone.utc), 'd1')
>>> next_link("/v1/datasets", "limit=3&created_after=2026-01-01", "abc")
'/v1/datasets?limit=3&created_after=2026-01-01&cursor=abc'
>>> link_header("/v1/datasets?cursor=abc")
'</v1/datasets?cursor=abc>; rel="next"'
>>> decode_cursor("not a cursor")
Traceback (most recent call last):
...
api.errors.InvalidParameter: cursor was 'not a cursor', which is not a cursor of this listing; send the cursor of a page's `next` link unchanged, or leave cursor out for the first page
"""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Query, Request, Response
from pydantic import BeforeValidator
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from .errors import InvalidParameter

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Limit", "Cursor", "CreatedAfter", "CreatedBefore", "Page", "keyset_page",
           "encode_cursor", "decode_cursor", "next_link", "link_header", "next_of", "created_between"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_CURSOR_MAX = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"records per page, 1 to {MAX_LIMIT}")]
Cursor = Annotated[str | None, Query(
    max_length=_CURSOR_MAX, pattern=r"^[A-Za-z0-9_-]+$",
    description="where the page starts: the cursor of the previous page's `next` link (leave out for the first page)")]
_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?")


def _iso_text(value):
    """An instant as ISO 8601 text only (pydantic would also read a number as seconds since 1970)."""
    if isinstance(value, str) and not _ISO_INSTANT.fullmatch(value):
        raise ValueError("expected an ISO 8601 instant such as 2026-03-01T08:00:00Z, or a date such as 2026-03-01")
    return value


CreatedAfter = Annotated[_dt.datetime | None, BeforeValidator(_iso_text), Query(
    description="only records created after this instant (ISO 8601, e.g. 2026-03-01T00:00:00Z; without a zone: UTC)")]
CreatedBefore = Annotated[_dt.datetime | None, BeforeValidator(_iso_text), Query(
    description="only records created before this instant (ISO 8601; without a zone: UTC)")]


@dataclass(frozen=True)
class Page:
    """The records of one page, and the cursor of the next one (None on the last page)."""

    items: list[Any]
    next_cursor: str | None


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value.replace(tzinfo=_dt.timezone.utc) if value.tzinfo is None else value.astimezone(_dt.timezone.utc)


def encode_cursor(at: _dt.datetime, key: str | int) -> str:
    """The opaque cursor of the record with timestamp ``at`` and id ``key``."""
    raw = json.dumps([_utc(at).isoformat(), key], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(token: str, field: str = "cursor") -> tuple[_dt.datetime, str | int]:
    """The (timestamp, id) of a cursor :func:`encode_cursor` made; else :class:`InvalidParameter` naming ``field``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        at, key = json.loads(raw.decode("utf-8"))
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise ValueError("bad id")
        return _utc(_dt.datetime.fromisoformat(at)), key
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        shown = token if len(token) <= 40 else token[:40] + "…"
        raise InvalidParameter(
            f"{field} was {shown!r}, which is not a cursor of this listing; send the cursor of a page's `next` link "
            f"unchanged, or leave {field} out for the first page", field=field) from None


def created_between(stmt: Select, column, after: _dt.datetime | None, before: _dt.datetime | None) -> Select:
    """``stmt`` restricted to ``after < column < before`` (either bound optional; naive instants are UTC).

    An empty interval is a 422 naming ``created_before``."""
    if after is not None and before is not None and _utc(after) >= _utc(before):
        raise InvalidParameter(f"created_before ({before.isoformat()}) is not after created_after "
                               f"({after.isoformat()}); give created_before later than created_after",
                               field="created_before")
    if after is not None:
        stmt = stmt.where(column > _utc(after))
    if before is not None:
        stmt = stmt.where(column < _utc(before))
    return stmt


def keyset_page(s: Session, stmt: Select, at_column, key_column, *, limit: int = DEFAULT_LIMIT,
                cursor: str | None = None) -> Page:
    """One page of ``stmt`` (a ``select`` of one mapped class), newest ``at_column`` first, then ``key_column``
    descending, starting after ``cursor``."""
    if cursor is not None:
        at, key = decode_cursor(cursor)
        stmt = stmt.where(or_(at_column < at, and_(at_column == at, key_column < key)))
    rows = list(s.scalars(stmt.order_by(at_column.desc(), key_column.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows and more else None
    return Page(rows, encode_cursor(getattr(last, at_column.key), getattr(last, key_column.key)) if last else None)


def next_link(path: str, query: str, cursor: str | None) -> str | None:
    """``path?query`` with its ``cursor`` replaced by ``cursor`` (the other parameters kept, in order); None
    without a cursor."""
    if cursor is None:
        return None
    params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "cursor"]
    return f"{path}?{urlencode([*params, ('cursor', cursor)])}"


def link_header(next_url: str | None) -> str | None:
    """The ``Link`` header (RFC 8288) of a page whose next page is at ``next_url``."""
    return f'<{next_url}>; rel="next"' if next_url else None


def next_of(page: Page, request: Request, response: Response) -> str | None:
    """The link to the page after ``page`` of the listing ``request`` asked for (set as ``response``'s ``Link``
    header too); None on the last page."""
    url = next_link(request.url.path, request.url.query, page.next_cursor)
    if url:
        response.headers["Link"] = link_header(url)
    return url
