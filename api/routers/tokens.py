"""Tokens (admins only): create (the secret is answered once), list, revoke. ``gridplan token`` does the same."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path as PathParam, Response

from .. import models as m
from ..auth import issue_token, list_tokens, require, revoke_token
from ..common import Svc, record_action
from ..errors import InvalidParameter, NotFound
from ..openapi import error_responses, operation_id

router = APIRouter(prefix="/v1", generate_unique_id_function=operation_id, dependencies=[Depends(require("admin"))])
TokenId = Annotated[str, PathParam(description="a token id (from GET /v1/tokens)", max_length=64)]


def token_out(rec) -> m.Token:
    return m.Token(id=rec.id, org=rec.org, role=rec.role, label=rec.label, created_at=rec.created_at,
                   revoked_at=rec.revoked_at, last_used=rec.last_used)


@router.post("/tokens", status_code=201, response_model=m.TokenCreated, tags=["accounts"],
             responses=error_responses(422), summary="create a token of an organisation with a role (admin)")
def create_token(svc: Svc, request: m.TokenRequest) -> m.TokenCreated:
    try:
        rec, secret = issue_token(svc.sessions, request.org, request.role, request.label)
    except ValueError as exc:
        raise InvalidParameter(str(exc), field="org") from None
    record_action("create_token", rec.id, {"org": rec.org, "role": rec.role})
    return m.TokenCreated(**token_out(rec).model_dump(), token=secret)


@router.get("/tokens", response_model=m.TokenList, tags=["accounts"],
            summary="every token (without its secret), oldest first (admin)")
def get_tokens(svc: Svc) -> m.TokenList:
    return m.TokenList(tokens=[token_out(r) for r in list_tokens(svc.sessions)])


@router.delete("/tokens/{token_id}", status_code=204, tags=["accounts"], responses=error_responses(404),
               summary="revoke a token: from now on it is answered 401 (admin)")
def delete_token(svc: Svc, token_id: TokenId) -> Response:
    rec = revoke_token(svc.sessions, token_id)
    if rec is None:
        raise NotFound(f"no token {token_id!r}; GET /v1/tokens lists them", field="token_id")
    record_action("revoke_token", token_id, {"org": rec.org})
    return Response(status_code=204)
