"""``gridplan token create|list|revoke``: the service's access tokens (see ``docs/service.md``, accounts).

They act on the service's database: ``GRIDPLAN_DATA_DIR`` (default ``./data``) or ``GRIDPLAN_DATABASE_URL``, as
``gridplan serve`` reads them; a running server sees a new or revoked token at its next request. The service
(``api``) is imported only when a command runs.

Examples
--------
>>> from typer.testing import CliRunner
>>> from gridplan.cli import app
>>> result = CliRunner().invoke(app, ["token", "create", "--help"])
>>> result.exit_code, "--role" in result.output
(0, True)
"""
from __future__ import annotations

import enum
from typing import Annotated

import typer

from .base import app

__all__ = ["Role"]

token_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke the service's access tokens.")
app.add_typer(token_app, name="token")


class Role(str, enum.Enum):
    """The roles of a token (as :data:`api.db.ROLES`)."""

    viewer = "viewer"
    planner = "planner"
    admin = "admin"


def _sessions():
    from api.db import create_schema, make_engine, session_factory
    from api.settings import Settings

    settings = Settings()
    url = settings.database_url_or_default()
    if url.startswith("sqlite:///"):
        settings.data_dir.expanduser().mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    create_schema(engine)
    return session_factory(engine)


@token_app.command("create")
def create_cmd(
    org: Annotated[str, typer.Option(help="the organisation (a street office, a district); created when new")],
    role: Annotated[Role, typer.Option(help="viewer: reads; planner: also uploads, plans, exports, deletes in its "
                                            "organisation; admin: everything, every organisation")],
    label: Annotated[str | None, typer.Option(help="what the token is for, e.g. whose laptop")] = None,
) -> None:
    """Create a token and print it alone on one line (stdout); it is stored hashed, so it is shown only now."""
    from api.audit import write
    from api.auth import check_org_name, issue_token

    try:
        check_org_name(org)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--org") from None
    sessions = _sessions()
    rec, secret = issue_token(sessions, org, role.value, label)
    write(sessions, org=None, token_id=None, role="admin", action="create_token", target=rec.id,
          detail={"org": rec.org, "role": rec.role, "by": "gridplan token create"})
    typer.echo(f"token {rec.id}: {rec.role} of {rec.org!r}; keep it safe, it is not shown again", err=True)
    typer.echo(secret)


@token_app.command("list")
def list_cmd() -> None:
    """List the tokens (id, organisation, role, created, last used, revoked, label); never their secrets."""
    from api.auth import list_tokens

    def when(t) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "-"

    rows = list_tokens(_sessions())
    typer.echo("id\torg\trole\tcreated\tlast_used\trevoked\tlabel")
    for r in rows:
        typer.echo("\t".join((r.id, r.org, r.role, when(r.created_at), when(r.last_used), when(r.revoked_at),
                              r.label or "")))


@token_app.command("revoke")
def revoke_cmd(token_id: Annotated[str, typer.Argument(help="the token's id, as `gridplan token list` shows it")]) -> None:
    """Revoke a token: from its next request on, the service answers it 401."""
    from api.audit import write
    from api.auth import revoke_token

    sessions = _sessions()
    rec = revoke_token(sessions, token_id)
    if rec is None:
        typer.echo(f"error: no token {token_id!r}; `gridplan token list` shows their ids", err=True)
        raise typer.Exit(code=2)
    write(sessions, org=None, token_id=None, role="admin", action="revoke_token", target=rec.id,
          detail={"org": rec.org, "by": "gridplan token revoke"})
    typer.echo(f"token {rec.id} ({rec.role} of {rec.org!r}) revoked", err=True)
