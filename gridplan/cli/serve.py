"""``gridplan serve``: run the web service (``api/``) with uvicorn.

Settings come from ``GRIDPLAN_*`` environment variables (see ``docs/service.md``): ``GRIDPLAN_DATA_DIR``
(default ``./data``), ``GRIDPLAN_DATABASE_URL``, ``GRIDPLAN_MAX_UPLOAD_BYTES``, ``GRIDPLAN_WORKERS``,
``GRIDPLAN_AUTH`` (``off`` only with a loopback ``--host``), ``GRIDPLAN_ALLOWED_HOSTS``, ``GRIDPLAN_CORS_ORIGINS``.

Examples
--------
>>> from typer.testing import CliRunner
>>> from gridplan.cli import app
>>> result = CliRunner().invoke(app, ["serve", "--help"])
>>> result.exit_code, "--port" in result.output
(0, True)
"""
from __future__ import annotations

import logging
from typing import Annotated

import typer

from .base import app

__all__: list[str] = []


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on (127.0.0.1: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on", min=1, max=65535)] = 8000,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Run the gridplan web service (OpenAPI docs at /docs); settings from GRIDPLAN_* variables."""
    import uvicorn

    from api.app import ConfigurationError, check_settings, create_app
    from api.settings import Settings

    logging.getLogger("api").setLevel(log_level.upper())
    settings = Settings(bind_host=host)
    try:
        check_settings(settings)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    if settings.auth == "off":
        typer.echo("warning: GRIDPLAN_AUTH=off: every request is an admin (this machine only)", err=True)
    typer.echo(f"gridplan service on http://{host}:{port} (data in {settings.data_dir}, {settings.workers} workers)", err=True)
    proxies = settings.trusted_proxies.strip()  # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: not here
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, proxy_headers=bool(proxies),
                forwarded_allow_ips=proxies or None)
