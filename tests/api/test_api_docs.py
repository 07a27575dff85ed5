"""The documentation pages work offline: ``/docs`` (Swagger UI) and ``/redoc`` in headless Chromium, against a
real server, with every other host unresolvable, render every operation of ``/openapi.json``, log nothing
(a request the pages' Content-Security-Policy blocks would be a console message) and request nothing from
another host; their files are served with the right types and caching, without a token.

The browser tests skip when Chromium is absent (Debian: ``apt-get install chromium``).
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess

import httpx
import pytest
from servicekit import check, start_server, wait_healthy
from test_api_server import stop_server

from api.docs_ui import ASSET_CACHE, ASSETS, POLICY

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is absent: apt-get install chromium")
# as tests/test_browser.py, but the server's own address resolves
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--window-size=1200,900"]
BROWSER_OWN = re.compile(r"^https?://([a-z0-9-]+\.)*(google\.com|googleapis\.com|gstatic\.com|gvt1\.com)(/|:|$)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    proc, base = start_server(tmp)
    try:
        wait_healthy(proc, base)
        yield base
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def operations(server) -> dict[str, str]:
    """operationId -> summary, for every operation of the served OpenAPI document (read without a token)."""
    doc = httpx.get(f"{server}/openapi.json", timeout=30).raise_for_status().json()
    ops = {op["operationId"]: op["summary"] for item in doc["paths"].values() for op in item.values()}
    assert "create_plan" in ops and len(ops) >= 10
    return ops


def load(server: str, page: str, tmp) -> dict:
    """``page`` loaded in Chromium: the DOM once drawn, the log, and every URL requested."""
    net = tmp / f"{page}.net.json"
    run = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / page}", f"--log-net-log={net}", "--dump-dom",
                          f"{server}/{page}"], capture_output=True, text=True, timeout=120)
    urls = set(re.findall(r'"url":"([^"]+)"', net.read_text(encoding="utf-8", errors="replace")))
    return {"dom": html.unescape(run.stdout), "log": run.stderr, "urls": urls}


@pytest.fixture(scope="module", params=["docs", "redoc"])
def loaded(request, server, tmp_path_factory):
    return load(server, request.param, tmp_path_factory.mktemp(request.param))


@needs_chromium
def test_page_renders_every_operation(loaded, operations):
    dom = loaded["dom"]
    assert operations["create_plan"] in dom, loaded["log"][-3000:]
    missing = [op for op, summary in operations.items() if summary not in dom]
    assert missing == []


@needs_chromium
def test_page_logs_nothing_and_asks_no_other_host(loaded, server):
    console = [line for line in loaded["log"].splitlines() if ":CONSOLE" in line]
    assert console == []  # no script error, no load the Content-Security-Policy refused
    elsewhere = sorted(u for u in loaded["urls"] if u.startswith("http") and not u.startswith(server + "/")
                       and not BROWSER_OWN.match(u))
    assert elsewhere == []
    assert any(u.startswith(f"{server}/docs/assets/") for u in loaded["urls"])
    assert f"{server}/openapi.json" in loaded["urls"]


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_pages_name_only_relative_urls(server, page):
    resp = httpx.get(f"{server}/{page}", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["content-security-policy"] == POLICY and "script-src 'self';" in POLICY
    assert resp.headers["cache-control"] == "no-cache"
    refs = re.findall(r'(?:src|href|spec-url)="([^"]+)"', resp.text)
    assert refs and all(not re.match(r"^([a-z]+:)?//|^/", r) for r in refs), refs  # behind a path prefix too
    assert "<script>" not in resp.text  # no inline script: the policy forbids them


def asset_urls(server: str) -> dict[str, str]:
    pages = httpx.get(f"{server}/docs", timeout=30).text + httpx.get(f"{server}/redoc", timeout=30).text
    found = {u.rsplit("/", 1)[1]: f"{server}/{u}" for u in re.findall(r'"(docs/assets/[^"]+)"', pages)}
    assert set(found) == set(ASSETS)
    return found


def test_assets_have_their_types_and_are_cached(server):
    for name, url in asset_urls(server).items():
        plain = httpx.get(url, headers={"Accept-Encoding": "identity"}, timeout=30)
        assert plain.status_code == 200 and plain.headers["content-type"] == ASSETS[name]
        assert plain.headers["cache-control"] == ASSET_CACHE and plain.headers["x-content-type-options"] == "nosniff"
        assert "content-encoding" not in plain.headers and len(plain.content) > 100
        packed = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)  # httpx inflates it
        assert packed.content == plain.content
        if name.endswith((".js", ".css")):
            assert packed.headers["content-encoding"] == "gzip"
            assert int(packed.headers["content-length"]) < len(plain.content) / (3 if len(plain.content) > 10_000 else 1)
        else:  # a PNG is compressed already
            assert "content-encoding" not in packed.headers
        again = httpx.get(url, headers={"Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]}, timeout=30)
        assert again.status_code == 304 and again.content == b""
        assert httpx.head(url, timeout=30).status_code == 200


def test_the_bundle_is_swagger_ui_and_redoc_names_no_cdn(server):
    urls = asset_urls(server)
    bundle = httpx.get(urls["swagger-ui-bundle.js"], timeout=30).text
    assert "SwaggerUIBundle" in bundle
    assert "cdn.redoc.ly" not in httpx.get(urls["redoc.standalone.js"], timeout=30).text
    init = httpx.get(urls["swagger-init.js"], timeout=30).text
    assert '"validatorUrl": null' in init and '"url": "openapi.json"' in init


def test_unknown_or_stale_assets_are_404(server):
    url = asset_urls(server)["swagger-ui.css"]
    version = url.rsplit("/", 2)[1]
    for bad, field in ((url.replace(version, "0" * 16), "version"), (url.replace("swagger-ui.css", "app.py"), "name")):
        body = check(httpx.get(bad, timeout=30), 404)
        assert [e.field for e in body.errors] == [field] and "/docs" in body.detail
    for bad in (url.replace("swagger-ui.css", "..%2F..%2F..%2Fapi%2Fapp.py"), url.replace("swagger-ui.css", "../app.py")):
        resp = httpx.get(bad, timeout=30)
        assert resp.status_code == 404 and "create_app" not in resp.text


def test_not_in_the_openapi_document(operations, server):
    doc = httpx.get(f"{server}/openapi.json", timeout=30).json()
    assert not [p for p in doc["paths"] if p.startswith(("/docs", "/redoc"))]
