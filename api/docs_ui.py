"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, with every file they need served here.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline (or behind a firewall) they stay blank.
These pages load the copies ``fastapi-offline`` ships (pinned in the requirements) from ``/docs/assets/``,
and nothing from any other host: the pages say so to the browser too (``Content-Security-Policy``).

- Every URL in the pages is relative (``openapi.json``, ``docs/assets/…``), so they work unchanged under a
  reverse proxy's path prefix.
- An asset's URL holds a digest of the assets (``/docs/assets/<digest>/swagger-ui.css``): it never changes
  meaning, so it is cached for a year (``immutable``); an upgrade changes the digest. A gzip copy is sent to
  clients that accept it (text only: the PNG is compressed already). The pages themselves are ``no-cache`` (revalidated, so they name the new digest).
- ReDoc's bundle names one file on another host (Redocly's logo): that URL is replaced by an empty one.
- Swagger UI is started by a script of ours (``swagger-init.js``), not an inline one, so the policy can
  forbid inline scripts; its online validator (a request to validator.swagger.io) is off.

Examples
--------
>>> sorted(ASSETS)
['favicon.png', 'redoc.standalone.js', 'swagger-init.js', 'swagger-ui-bundle.js', 'swagger-ui.css']
>>> ASSETS["swagger-ui.css"]
'text/css; charset=utf-8'
>>> "http" in swagger_page("docs/assets/x/") or "http" in redoc_page("docs/assets/x/")
False
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from .errors import NotFound

__all__ = ["ASSETS", "POLICY", "swagger_page", "redoc_page", "install"]

STATIC = Path(fastapi_offline.__file__).parent / "static"
#: the files the pages load: name -> media type
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
    "swagger-init.js": "text/javascript; charset=utf-8",
}
#: what the pages may load: only this service's own files (Swagger UI and ReDoc set inline styles; ReDoc
#: runs a worker from a blob: URL; the favicon and Swagger UI's icons are data: URLs)
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
          "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'")
ASSET_CACHE = "public, max-age=31536000, immutable"
#: Swagger UI's options: FastAPI's defaults, without the online validator
SWAGGER_OPTIONS = {"url": "openapi.json", "dom_id": "#swagger-ui", "layout": "BaseLayout", "deepLinking": True,
                   "showExtensions": True, "showCommonExtensions": True, "validatorUrl": None}
_INIT = ("window.ui = SwaggerUIBundle(Object.assign({OPTIONS}, "
         "{presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]}));\n")
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}favicon.png">
{head}</head>
<body>
{body}
</body>
</html>
"""


#: ReDoc's sidebar shows Redocly's logo from their CDN (and hides it when it fails to load): no request, no logo
REDOC_LOGO = (b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', b'src:"data:,"')


def _read(name: str) -> bytes:
    if name == "swagger-init.js":
        return _INIT.replace("{OPTIONS}", json.dumps(SWAGGER_OPTIONS, sort_keys=True)).encode()
    raw = (STATIC / name).read_bytes()
    if name == "redoc.standalone.js":
        cdn, none = REDOC_LOGO
        if raw.count(cdn) != 1:
            raise RuntimeError("ReDoc's bundle (fastapi-offline) changed: check what it loads from other hosts")
        raw = raw.replace(cdn, none)
    return raw


@functools.cache
def _contents() -> dict[str, tuple[bytes, bytes | None]]:
    """Each asset as it is and, when text, gzipped (read once; about 2.8 MB, the text 0.7 MB gzipped)."""
    return {name: (raw, gzip.compress(raw, compresslevel=6, mtime=0) if ASSETS[name].startswith("text/") else None)
            for name in ASSETS for raw in [_read(name)]}


@functools.cache
def digest() -> str:
    """What the assets' URLs hold: the first 16 hex digits of the SHA-256 of all of them."""
    h = hashlib.sha256()
    for name, (raw, _) in sorted(_contents().items()):
        h.update(name.encode() + b"\0" + raw)
    return h.hexdigest()[:16]


def swagger_page(assets: str, title: str = "gridplan") -> str:
    """The ``/docs`` page, loading its files from the relative URL ``assets``."""
    return _PAGE.format(
        title=f"{title} – API (Swagger UI)", assets=assets,
        head=f'<link rel="stylesheet" type="text/css" href="{assets}swagger-ui.css">\n',
        body=f'<div id="swagger-ui"></div>\n<script src="{assets}swagger-ui-bundle.js"></script>\n'
             f'<script src="{assets}swagger-init.js"></script>',
    )


def redoc_page(assets: str, title: str = "gridplan") -> str:
    """The ``/redoc`` page, loading its files from the relative URL ``assets``."""
    return _PAGE.format(
        title=f"{title} – API (ReDoc)", assets=assets, head="",
        body=f'<redoc spec-url="openapi.json"></redoc>\n<script src="{assets}redoc.standalone.js"></script>',
    )


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Cache-Control": "no-cache", "Content-Security-Policy": POLICY,
                                       "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and ``/docs/assets/{digest}/{name}`` to ``app`` (built with ``docs_url=None,
    redoc_url=None``). None of them is in the OpenAPI document, and none needs a token (like ``/openapi.json``)."""
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _page(swagger_page(f"docs/assets/{digest()}/", title))

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _page(redoc_page(f"docs/assets/{digest()}/", title))

    @app.api_route("/docs/assets/{version}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    def docs_asset(request: Request, version: str = PathParam(max_length=64),
                   name: str = PathParam(max_length=64)) -> Response:
        if name not in ASSETS:
            raise NotFound(f"no documentation file {name!r}; the pages are at /docs and /redoc", field="name")
        if version != digest():  # an older page's URL: the files have changed since
            raise NotFound(f"documentation files {version!r} are gone (the service was upgraded); reload /docs",
                           field="version")
        raw, packed = _contents()[name]
        zipped = packed is not None and "gzip" in request.headers.get("accept-encoding", "").lower()
        headers = {"Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding",
                   "ETag": f'"{digest()}-{name}{"-gz" if zipped else ""}"'}
        if headers["ETag"] in request.headers.get("if-none-match", "").replace(" ", "").split(","):
            return Response(status_code=304, headers=headers)
        if zipped:
            headers["Content-Encoding"] = "gzip"
        return Response(packed if zipped else raw, media_type=ASSETS[name], headers=headers)
