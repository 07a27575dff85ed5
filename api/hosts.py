"""Host and Origin checks, and CORS for configured origins only.

A request whose ``Host`` is not one the service answers to (localhost, 127.0.0.1, [::1], the address it binds
and ``GRIDPLAN_ALLOWED_HOSTS``) is refused with 400: this defeats DNS rebinding, where a web page's own name is
pointed at a planner's local service. A request with an ``Origin`` other than the service's own (the Host it was
sent to) or one of ``GRIDPLAN_CORS_ORIGINS`` is refused with 403: a web page elsewhere cannot post an upload to
it. Only the configured origins get CORS headers (Starlette's CORSMiddleware).

Examples
--------
>>> host_name("[::1]:8000"), host_name("Example.org:443"), host_name("127.0.0.1")
('::1', 'example.org', '127.0.0.1')
>>> allowed_hosts("10.0.0.5", "gis.example.org, *.district.gov.cn") >= {"localhost", "10.0.0.5", "gis.example.org"}
True
>>> host_allowed("a.district.gov.cn", {"*.district.gov.cn"}), host_allowed("evil.cn", {"localhost"})
(True, False)
>>> origin_netloc("https://gis.example.org"), origin_netloc("http://localhost:80"), origin_netloc("null")
('gis.example.org', 'localhost', None)
"""
from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostOriginCheck", "host_name", "allowed_hosts", "host_allowed", "origin_netloc", "is_loopback",
           "add_cors", "send_error"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name in a Host header, without its port, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def allowed_hosts(bind_host: str | None, extra: str) -> set[str]:
    """The Host names the service answers to."""
    names = {*LOOPBACK_NAMES, *(host_name(h) if h != "*" else "*" for h in _split(extra))}
    if bind_host and bind_host not in ("0.0.0.0", "::"):  # a wildcard address is no name a client sends
        names.add(bind_host.strip("[]").lower())
    return names


def host_allowed(name: str, allowed: set[str]) -> bool:
    """Whether ``name`` is in ``allowed`` (``*`` is any, ``*.example.org`` any name under example.org)."""
    if "*" in allowed or name in allowed:
        return True
    return any(a.startswith("*.") and name.endswith(a[1:]) for a in allowed)


def origin_netloc(origin: str) -> str | None:
    """``host[:port]`` of an Origin header, default ports left out; None for ``null`` or a malformed one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return host if port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"


def _own_netloc(host_header: str) -> str:
    host = host_header.strip().lower()
    for port in (":80", ":443"):
        if host.endswith(port):
            return host[: -len(port)]
    return host


class HostOriginCheck:
    """ASGI middleware: 400 for a Host not allowed, 403 for a foreign Origin; an :class:`~api.models.ErrorBody`."""

    def __init__(self, app: ASGIApp, *, hosts: set[str], origins: list[str]):
        self.app = app
        self.hosts = hosts
        self.origins = {o.rstrip("/").lower() for o in origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        host = headers.get("host", "")
        if not host_allowed(host_name(host), self.hosts):
            return await send_error(send, 400, f"this service does not answer to the host name {host_name(host)[:100]!r}; "
                                            "use its configured address (its operator can add names with "
                                            "GRIDPLAN_ALLOWED_HOSTS)", "Host")
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() not in self.origins:
            if origin_netloc(origin) != _own_netloc(host):
                return await send_error(send, 403, f"requests from web pages of {origin[:100]!r} are refused; only the "
                                                "service's own pages and the origins in GRIDPLAN_CORS_ORIGINS may "
                                                "call it from a browser", "Origin")
        await self.app(scope, receive, send)


async def send_error(send: Send, status: int, detail: str, field: str | None = None,
                     headers: dict[str, str] | None = None) -> None:
    """Answer an :class:`~api.models.ErrorBody` from an ASGI middleware (before the app has seen the request)."""
    errors = [{"field": field, "message": detail}] if field else []
    body = json.dumps({"detail": detail, "errors": errors}, ensure_ascii=False).encode()
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


def add_cors(app, origins: list[str]) -> None:
    """CORS headers for ``origins`` only (nothing when there are none)."""
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "HEAD", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["Location", "Link", "Retry-After", "Content-Disposition"], max_age=600)
