"""Models of accounts, public links and the audit log (re-exported by :mod:`api.models`)."""
from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["Role", "ORG_PATTERN", "TokenRequest", "Token", "TokenCreated", "TokenList", "LinkRequest", "Link", "LinkCreated",
           "LinkList", "AuditEntry", "AuditLog"]

Role = Literal["viewer", "planner", "admin"]
#: an organisation's name: 1 to 64 characters, no control characters
ORG_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]{1,64}$"


class TokenRequest(BaseModel):
    org: str = Field(min_length=1, max_length=64, pattern=ORG_PATTERN,
                     description="the organisation (created when new), e.g. 'xuanwu' or '玄武区'")
    role: Role = Field(description="viewer (read), planner (also upload, plan, edit, export, delete in its "
                                   "organisation), admin (everything, every organisation, tokens, links, audit)")
    label: str | None = Field(None, max_length=200, description="what the token is for, e.g. whose laptop")


class Token(BaseModel):
    id: str
    org: str
    role: Role
    label: str | None = None
    created_at: _dt.datetime
    revoked_at: _dt.datetime | None = None
    last_used: _dt.datetime | None = Field(None, description="when it was last used (to within 5 minutes)")


class TokenCreated(Token):
    token: str = Field(description="the secret: send it as `Authorization: Bearer TOKEN`; it is shown only now")


class TokenList(BaseModel):
    tokens: list[Token]


class LinkRequest(BaseModel):
    label: str | None = Field(None, max_length=200, description="what the link is for, e.g. 'door codes, block 3'")


class Link(BaseModel):
    id: str
    plan_id: str
    org: str | None = None
    label: str | None = None
    created_at: _dt.datetime
    revoked_at: _dt.datetime | None = Field(None, description="set when revoked, or when its plan was deleted")


class LinkCreated(Link):
    key: str = Field(description="the secret part of the public URLs; it is shown only now")
    links: dict[str, str] = Field(description="building: the look-up URL (put a building id in place of "
                                              "{building_id}); map: the review map")


class LinkList(BaseModel):
    links: list[Link]


class AuditEntry(BaseModel):
    id: int
    at: _dt.datetime
    org: str | None = Field(description="the organisation of the caller (None: accounts off)")
    token_id: str | None = Field(description="the token it came with (None: accounts off)")
    role: Role
    action: str = Field(description="upload, plan, edit, export, delete, create_token, revoke_token, create_link, "
                                    "revoke_link")
    target: str = Field(description="the id of the dataset, plan, token or link")
    detail: dict[str, Any] | None = None


class AuditLog(BaseModel):
    entries: list[AuditEntry] = Field(description="newest first")
    next: str | None = Field(None, description="the next (older) page, when there may be one")
